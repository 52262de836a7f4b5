from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from django.http import Http404

from config.errors import DomainError
from ledger.chain import chain_config
from ledger.contracts import TEST_STABLECOIN
from ledger.models import Deployment
from marketplace.models import User
from marketplace.services import SETTLEMENT_DECIMALS
from printshops.models import ApiKey, DesignRelease, PrintTicket


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
        "rpc_url": settings.CHAIN_PUBLIC_RPC_URL,
        "contracts": contracts,
        "settlement_token": {
            "address": settings.CHAIN_SETTLEMENT_TOKEN or contracts.get(TEST_STABLECOIN),
            "decimals": SETTLEMENT_DECIMALS,
        },
    }


def releases_for_shop(*, user: User, job_id: int | None = None) -> QuerySet[DesignRelease]:
    """The designs released to the user's shop, newest licence first."""
    organization = user.organization
    if organization is None or not organization.is_print_shop:
        return DesignRelease.objects.none()
    releases = DesignRelease.objects.filter(licence__organization=organization)
    if job_id is not None:
        releases = releases.filter(licence__order__job_id=job_id)
    return releases.select_related("design_file", "licence__order__job").order_by(
        "-licence__created_at", "design_file__original_name"
    )


def release_for_download(*, user: User, file_id: uuid.UUID) -> DesignRelease:
    """A release the user's shop may download now: another shop's is not found; a revoked one or
    one whose licence closed is refused, saying why."""
    release = releases_for_shop(user=user).filter(design_file_id=file_id).first()
    if release is None:
        raise Http404("No design released to your shop has this id.")
    if release.revoked_at is not None:
        raise DomainError(
            "This release was revoked: the order's funding did not stand.",
            code="release_revoked",
            status=403,
        )
    if release.licence.closed_at is not None:
        raise DomainError(
            "The licence for this job is closed (the order is settled): the design is no "
            "longer available.",
            code="licence_closed",
            status=403,
        )
    return release


def tickets_for_shop(*, user: User, job_id: int) -> QuerySet[PrintTicket]:
    organization = user.organization
    if organization is None:
        return PrintTicket.objects.none()
    return PrintTicket.objects.filter(
        licence__organization=organization, licence__order__job_id=job_id
    ).select_related("licence")
