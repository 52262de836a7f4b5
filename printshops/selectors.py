from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from django.http import Http404

from ledger.chain import chain_config
from ledger.contracts import TEST_STABLECOIN
from ledger.models import Deployment
from marketplace.models import User
from marketplace.services import SETTLEMENT_DECIMALS
from printshops.models import ApiKey


def api_key_list_for_user(*, user: User) -> QuerySet[ApiKey]:
    organization = user.organization
    if organization is None or not organization.is_print_shop:
        return ApiKey.objects.none()
    return ApiKey.objects.filter(organization=organization).select_related("created_by")


def api_key_get_for_user(*, user: User, key_id: int) -> ApiKey:
    key = api_key_list_for_user(user=user).filter(pk=key_id).first()
    if key is None:
        raise Http404("No such API key.")
    return key


def chain_info() -> dict[str, Any]:
    """What a client needs to sign for and check against the chain: the chain id, the deployed
    contracts' addresses and the settlement token."""
    chain_id = chain_config().chain_id
    contracts = dict(
        Deployment.objects.filter(chain_id=chain_id).values_list("name", "address").order_by("name")
    )
    return {
        "chain_id": chain_id,
        "contracts": contracts,
        "settlement_token": {
            "address": settings.CHAIN_SETTLEMENT_TOKEN or contracts.get(TEST_STABLECOIN),
            "decimals": SETTLEMENT_DECIMALS,
        },
    }
