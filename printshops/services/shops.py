"""Writes for print shops: profile, verification, keys and API keys."""

from __future__ import annotations

import secrets
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from config.errors import DomainError
from ledger.chain import operator_account
from ledger.contracts import treasury_address
from ledger.services.outbox import chaintx_enqueue
from marketplace.catalog import Certification, Material, Process
from marketplace.models import User
from marketplace.services import audit_record
from printfair.keys import KeyProofError, checksum, registration_message, registration_signer
from printshops.authentication import new_token
from printshops.models import ApiKey, KeyChallenge, PrintShopProfile


def require_shop(actor: User) -> PrintShopProfile:
    organization = actor.organization
    if organization is None or not organization.is_print_shop:
        raise DomainError("Only print shops have this.", code="not_print_shop", status=403)
    return organization.shop_profile


@dataclass(frozen=True, kw_only=True)
class ShopCapabilities:
    description: str
    website: str
    country: str
    city: str
    processes: list[str]
    materials: list[str]
    certifications: list[str]
    build_x_mm: int
    build_y_mm: int
    build_z_mm: int
    # Public pages name the shop only if it chose so (PrintShopProfile.name_public).
    name_public: bool = False


@transaction.atomic
def shop_profile_update(*, actor: User, capabilities: ShopCapabilities) -> PrintShopProfile:
    profile = require_shop(actor)
    errors: dict[str, list[str]] = {}
    for name, known in (
        ("processes", Process.values),
        ("materials", Material.values),
        ("certifications", Certification.values),
    ):
        unknown = set(getattr(capabilities, name)) - set(known)
        if unknown:
            errors[name] = [f"Unknown {name}: {', '.join(sorted(unknown))}."]
    if errors:
        raise DomainError("The profile has invalid fields.", code="validation_error", fields=errors)
    for name, value in asdict(capabilities).items():
        setattr(profile, name, value)
    profile.save()
    audit_record(actor=actor, verb="shop.profile_updated", target=profile)
    return profile


@transaction.atomic
def shop_verify(*, actor: User, profile: PrintShopProfile) -> PrintShopProfile:
    """An operator vouches for a shop; only verified shops see open jobs and bid. A shop with a
    registered address is verified on chain too, through the outbox."""
    profile = PrintShopProfile.objects.select_for_update().get(pk=profile.pk)
    if profile.verified_at is None:
        profile.verified_at = timezone.now()
        profile.verified_by = actor
        profile.save(update_fields=["verified_at", "verified_by", "updated_at"])
        event = audit_record(actor=actor, verb="shop.verified", target=profile)
        _shop_verification_on_chain(profile, verified=True, cause=event.pk)
    return profile


@transaction.atomic
def shop_unverify(*, actor: User, profile: PrintShopProfile) -> PrintShopProfile:
    profile = PrintShopProfile.objects.select_for_update().get(pk=profile.pk)
    if profile.verified_at is not None:
        profile.verified_at = None
        profile.verified_by = None
        profile.save(update_fields=["verified_at", "verified_by", "updated_at"])
        event = audit_record(actor=actor, verb="shop.unverified", target=profile)
        _shop_verification_on_chain(profile, verified=False, cause=event.pk)
    return profile


def _shop_verification_on_chain(
    profile: PrintShopProfile, *, verified: bool, cause: int, address: str | None = None
) -> None:
    """Mirror the shop's verification in the AuctionHouse's registry (one change per audit
    event, so that verifying, withdrawing and verifying again are three transactions)."""
    address = address or profile.eth_address
    if address:
        chaintx_enqueue(
            idempotency_key=f"shop.verification:{cause}:{address}",
            contract="AuctionHouse",
            function="setShopVerified",
            args=[address, verified],
        )


KEY_CHALLENGE_LIFETIME = timedelta(minutes=10)


@transaction.atomic
def shop_key_challenge_create(*, actor: User) -> KeyChallenge:
    profile = require_shop(actor)
    return KeyChallenge.objects.create(
        organization=profile.organization,
        challenge=secrets.token_hex(16),
        expires_at=timezone.now() + KEY_CHALLENGE_LIFETIME,
    )


@transaction.atomic
def shop_keys_register(
    *,
    actor: User,
    challenge: str,
    address: str,
    signature: bytes,
    hpke_kem: str,
    hpke_public_key: bytes,
) -> PrintShopProfile:
    """Register the shop's Ethereum address and HPKE public key, proved by the address's
    signature over both keys and a fresh challenge (printfair/keys.py)."""
    profile = PrintShopProfile.objects.select_for_update().get(pk=require_shop(actor).pk)
    used = KeyChallenge.objects.filter(
        organization=profile.organization,
        challenge=challenge,
        used_at__isnull=True,
        expires_at__gt=timezone.now(),
    ).update(used_at=timezone.now())
    if not used:
        raise DomainError(
            "Unknown, used or expired challenge: ask for a new one.", code="bad_challenge"
        )
    try:
        message = registration_message(
            shop_id=profile.organization_id,
            address=address,
            hpke_kem=hpke_kem,
            hpke_public_key=hpke_public_key,
            challenge=challenge,
        )
        signer = registration_signer(message, signature)
    except KeyProofError as exc:
        raise DomainError(str(exc), code="bad_key") from None
    if signer != checksum(address):
        raise DomainError(
            "The signature was not made by the key of this address.", code="bad_signature"
        )
    operator = operator_account().address
    if signer in {checksum(operator), checksum(treasury_address(operator))}:
        # The AuctionHouse refuses to verify it too: the operator relays, arbitrates and is
        # paid the fees, so as a shop it could win, deliver to and judge its own order.
        raise DomainError(
            "This address is PrintFair's operator or treasury, which can never be a print shop.",
            code="privileged_address",
            status=409,
        )
    if PrintShopProfile.objects.filter(eth_address=signer).exclude(pk=profile.pk).exists():
        raise DomainError("Another shop registered this address.", code="address_taken", status=409)
    previous = profile.eth_address
    profile.eth_address = signer
    profile.hpke_kem = hpke_kem
    profile.hpke_public_key = hpke_public_key
    profile.keys_registered_at = timezone.now()
    profile.save()
    event = audit_record(actor=actor, verb="shop.keys_registered", target=profile, address=signer)
    if previous != signer and profile.is_verified:
        _shop_verification_on_chain(profile, verified=True, cause=event.pk)
        if previous:
            _shop_verification_on_chain(profile, verified=False, cause=event.pk, address=previous)
    return profile


@transaction.atomic
def api_key_create(
    *, actor: User, name: str, expires_at: datetime | None, scopes: list[str] | None = None
) -> tuple[ApiKey, str]:
    """A new API key for the actor's shop. Returns the key and its token, which is never stored
    and so can be shown only now."""
    profile = require_shop(actor)
    if expires_at is not None and expires_at <= timezone.now():
        raise DomainError(
            "The expiry must be in the future.",
            fields={"expires_at": ["The expiry must be in the future."]},
        )
    token, prefix, secret_hash = new_token()
    key = ApiKey.objects.create(
        organization=profile.organization,
        name=name.strip() or "API key",
        prefix=prefix,
        secret_hash=secret_hash,
        scopes=scopes if scopes is not None else list(ApiKey.Scope.values),
        expires_at=expires_at,
        created_by=actor,
    )
    audit_record(actor=actor, verb="api_key.created", target=key)
    return key, token


@transaction.atomic
def api_key_revoke(*, actor: User, api_key: ApiKey) -> ApiKey:
    revoked = ApiKey.objects.filter(pk=api_key.pk, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )
    if revoked:
        audit_record(actor=actor, verb="api_key.revoked", target=api_key)
    api_key.refresh_from_db()
    return api_key
