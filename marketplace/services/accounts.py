"""Writes for accounts and organisations (STYLE.md rules 1 and 2)."""

from __future__ import annotations

from django.db import transaction

from config.errors import DomainError
from marketplace.models import (
    Membership,
    Organization,
    User,
)
from marketplace.services.common import audit_record


@transaction.atomic
def user_sign_up(
    *, email: str, password: str, name: str, organization_name: str, kind: str
) -> User:
    """A new user with a new organisation that they own."""
    email = email.strip().lower()
    if User.objects.filter(email__iexact=email).exists():
        raise DomainError(
            "An account with this email address already exists.",
            code="email_taken",
            fields={"email": ["An account with this email address already exists."]},
        )
    if kind not in Organization.Kind.values:
        raise DomainError(
            "Unknown organisation kind.", fields={"kind": ["Choose customer or print shop."]}
        )
    user = User.objects.create_user(email=email, password=password, name=name.strip())
    organization = Organization.objects.create(name=organization_name.strip(), kind=kind)
    Membership.objects.create(user=user, organization=organization, role=Membership.Role.OWNER)
    if organization.is_print_shop:
        # Imported here: printshops depends on marketplace, not the other way round at import time.
        from printshops.models import PrintShopProfile

        PrintShopProfile.objects.create(organization=organization)
    audit_record(actor=user, verb="user.signed_up", target=user, organization=organization.pk)
    return user
