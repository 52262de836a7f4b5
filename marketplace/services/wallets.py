"""Customer wallets: custodial keys kept wrapped under the key-encryption key."""

from __future__ import annotations

from typing import cast

from django.conf import settings
from eth_account import Account
from eth_account.signers.local import LocalAccount

from config.errors import DomainError
from marketplace.models import (
    CustomerWallet,
    Organization,
)
from marketplace.uploads import kek_for_version
from printfair.envelope import unwrap_data_key, wrap_data_key


def wallet_binding(organization: Organization) -> bytes:
    # Bound into the key wrapping, so a wrapped key cannot be moved to another organisation.
    return f"printfair/customer-wallet/{organization.pk}".encode()


def customer_wallet_for(*, organization: Organization) -> CustomerWallet:
    """The organisation's wallet; a custodial one is made on first use."""
    wallet = CustomerWallet.objects.filter(organization=organization).first()
    if wallet is not None:
        return wallet
    account = Account.create()
    version = settings.PRINTFAIR_KEK_CURRENT
    wrapped = wrap_data_key(
        kek_for_version(version),
        bytes(account.key),
        file_id=wallet_binding(organization),
        kek_version=version,
    )
    # INSERT ... ON CONFLICT DO NOTHING: two first uses at once (two pages loaded together)
    # both read no wallet; one row stands and both get it, with no IntegrityError.
    CustomerWallet.objects.bulk_create(
        [
            CustomerWallet(
                organization=organization,
                address=account.address,
                wrapped_key=wrapped,
                kek_version=version,
            )
        ],
        ignore_conflicts=True,
    )
    return CustomerWallet.objects.get(organization=organization)


def customer_wallet_account(*, wallet: CustomerWallet) -> LocalAccount:
    """The custodial wallet's key, unwrapped for signing (the caller must not keep it)."""
    if wallet.wrapped_key is None or wallet.kek_version is None:
        raise DomainError("This organisation pays from its own address.", code="not_custodial")
    key = unwrap_data_key(
        kek_for_version(wallet.kek_version),
        bytes(wallet.wrapped_key),
        file_id=wallet_binding(wallet.organization),
        kek_version=wallet.kek_version,
    )
    return cast(LocalAccount, Account.from_key(key))
