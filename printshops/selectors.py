from __future__ import annotations

from django.db.models import QuerySet
from django.http import Http404

from marketplace.models import User
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
