"""Who signs for which address. The operator's key comes from the settings (ledger/chain.py);
an app that holds other keys registers a lookup for them from its `AppConfig.ready()` (the
marketplace's custodial customer wallets, marketplace/handlers.py):

    @signer_lookup
    def customer_wallet_signer(address: str) -> LocalAccount | None: ...

The sender signs a ChainTx with the account its `sender` names, so a key never leaves the app that
keeps it, and each wallet gets its own nonces under its own row lock.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from eth_account.signers.local import LocalAccount

from ledger.chain import arbiter_account, operator_account

SignerLookup = Callable[[str], LocalAccount | None]

_lookups: list[SignerLookup] = []


def signer_lookup(lookup: SignerLookup) -> SignerLookup:
    """Registers `lookup`: given a checksum address, the account that signs for it, or None."""
    if lookup not in _lookups:
        _lookups.append(lookup)
    return lookup


def account_for(address: str) -> LocalAccount | None:
    """The account that signs for `address`: the operator's, or one an app keeps; None if no key
    for it is kept here."""
    operator = operator_account()
    if address == operator.address:
        return operator
    if settings.CHAIN_ARBITER_KEY and address == arbiter_account().address:
        return arbiter_account()
    for lookup in _lookups:
        account = lookup(address)
        if account is not None:
            return account
    return None
