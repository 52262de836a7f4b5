"""Customer wallets: the address an organisation pays escrow from.

Custodial by default (its key kept wrapped under the key-encryption key, made on the first
action that needs one: a page that only reads never makes it), or the customer's own address,
proved by a signature. What the chain says a wallet holds is read before the transaction that
acts on it (marketplace/selectors.py): no row lock is held while the node is asked.
"""

from __future__ import annotations

from typing import cast

from django.conf import settings
from django.db import transaction
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount
from eth_utils.address import is_address, to_checksum_address

from config.errors import DomainError
from ledger.contracts import AUCTION_HOUSE, SETTLEMENT_TOKEN
from ledger.models import ChainTx
from ledger.services.outbox import chaintx_enqueue
from marketplace.models import CustomerWallet, Organization, User
from marketplace.money import SETTLEMENT_DECIMALS
from marketplace.selectors import (
    customer_wallet_get,
    faucet_key,
    paying_address_changeable,
    pending_withdrawal,
    token_balance,
)
from marketplace.services.accounts import require_customer
from marketplace.services.audit import audit_record
from marketplace.uploads import kek_for_version
from printfair.envelope import unwrap_data_key, wrap_data_key

#: What the faucet of a local chain gives.
FAUCET_AMOUNT = 10_000 * 10**SETTLEMENT_DECIMALS

IN_FLIGHT = (
    ChainTx.Status.PENDING,
    ChainTx.Status.SIGNED,
    ChainTx.Status.BROADCAST,
    ChainTx.Status.INCLUDED,
)


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


def customer_wallet_custodial(*, organization: Organization) -> CustomerWallet:
    """The organisation's custodial wallet (made on first use), which the platform signs with;
    refused when the organisation pays from its own address."""
    wallet = customer_wallet_for(organization=organization)
    if not wallet.is_custodial:
        raise DomainError(
            f"Your organisation pays from its own address {wallet.address}: make this call "
            "from that wallet (the page shows which).",
            code="own_wallet",
            status=409,
        )
    return wallet


def customer_wallet_signer(address: str) -> LocalAccount | None:
    """The signer lookup of custodial wallets (ledger/signers.py)."""
    wallet = CustomerWallet.objects.filter(address=address, wrapped_key__isnull=False).first()
    return customer_wallet_account(wallet=wallet) if wallet is not None else None


# --- refunds, test dollars ------------------------------------------------------------------------


def customer_withdraw(*, actor: User) -> ChainTx:
    """Move refunds held for the customer on the AuctionHouse to its wallet."""
    organization = require_customer(actor)
    pending = pending_withdrawal(customer_wallet_custodial(organization=organization).address)
    return _customer_withdraw(actor=actor, pending=pending)


@transaction.atomic
def _customer_withdraw(*, actor: User, pending: int) -> ChainTx:
    organization = require_customer(actor)
    wallet = customer_wallet_custodial(organization=organization)
    if pending == 0:
        raise DomainError(
            "Nothing is waiting to be withdrawn.", code="nothing_to_withdraw", status=409
        )
    chain_tx = chaintx_enqueue(
        idempotency_key=_withdraw_key(f"wallet.withdraw:{wallet.address}"),
        contract=AUCTION_HOUSE,
        function="withdraw",
        args=[],
        sender=wallet.address,
    )
    audit_record(actor=actor, verb="wallet.withdraw_requested", target=wallet, chain_tx=chain_tx.pk)
    return chain_tx


def _withdraw_key(base: str) -> str:
    """One withdrawal in flight at a time; a new one once the last has settled."""
    tries = ChainTx.objects.filter(idempotency_key__startswith=base + "#")
    in_flight = tries.filter(status__in=IN_FLIGHT).order_by("-id").first()
    if in_flight is not None:
        return in_flight.idempotency_key
    return f"{base}#{tries.count() + 1}"


@transaction.atomic
def wallet_faucet(*, actor: User) -> ChainTx:
    """Local chains only: mint test dollars to the organisation's wallet, as a real deposit
    would. (A custodial wallet's gas comes from the operator when it first needs some: the
    sender tops it up.)"""
    if not settings.PRINTFAIR_FAUCET:
        raise DomainError("There is no faucet on this chain.", code="no_faucet", status=404)
    organization = require_customer(actor)
    wallet = customer_wallet_for(organization=organization)
    chain_tx = chaintx_enqueue(
        idempotency_key=_withdraw_key(faucet_key(wallet.address)),
        contract=SETTLEMENT_TOKEN,
        function="mint",
        args=[wallet.address, FAUCET_AMOUNT],
    )
    audit_record(actor=actor, verb="wallet.faucet", target=wallet, chain_tx=chain_tx.pk)
    return chain_tx


# --- the customer's own address ----------------------------------------------------------------


def own_wallet_message(*, organization: Organization, address: str) -> str:
    """What a customer signs (EIP-191 personal_sign) to pay from its own address."""
    return (
        f"PrintFair: organisation {organization.pk} ({organization.name}) pays escrow from "
        f"{address}."
    )


def customer_wallet_register_own(*, actor: User, address: str, signature: str) -> CustomerWallet:
    """Pay from the customer's own address instead of the custodial wallet, proved by a
    signature of `own_wallet_message`. Only before the first auction (those name the paying
    address on chain) and while the custodial wallet holds nothing (read from the chain before
    the transaction, which then checks the wallet is still the one read)."""
    organization = require_customer(actor)
    if not is_address(address):
        message = "Enter an Ethereum address (0x and 40 hex digits)."
        raise DomainError(message, fields={"address": [message]})
    address = to_checksum_address(address)
    _require_own_wallet_allowed(organization, address)
    message_text = own_wallet_message(organization=organization, address=address)
    try:
        signer = Account.recover_message(
            encode_defunct(text=message_text), signature=bytes.fromhex(signature.removeprefix("0x"))
        )
    except (ValueError, TypeError):
        signer = None
    if signer != address:
        message = "The signature is not this address's signature of the message shown."
        raise DomainError(message, code="invalid_signature", fields={"signature": [message]})
    current = customer_wallet_get(organization=organization)
    held = token_balance(current.address) if current is not None and current.is_custodial else 0
    return _wallet_register_own(
        actor=actor, address=address, read=current.address if current else None, held=held
    )


def _require_own_wallet_allowed(organization: Organization, address: str) -> None:
    if not paying_address_changeable(organization=organization):
        raise DomainError(
            "Auctions already name your current address as the payer: the paying address can "
            "only change before the first job is published.",
            code="wallet_in_use",
            status=409,
        )
    if CustomerWallet.objects.filter(address=address).exclude(organization=organization).exists():
        message = "This address already belongs to another organisation."
        raise DomainError(message, fields={"address": [message]})


@transaction.atomic
def _wallet_register_own(
    *, actor: User, address: str, read: str | None, held: int
) -> CustomerWallet:
    organization = require_customer(actor)
    _require_own_wallet_allowed(organization, address)
    wallet = CustomerWallet.objects.select_for_update().filter(organization=organization).first()
    if (wallet.address if wallet else None) != read:
        raise DomainError(
            "The organisation's wallet changed meanwhile: look at it again and retry.",
            code="wallet_changed",
            status=409,
        )
    if held > 0:
        raise DomainError(
            f"The custodial wallet {read} still holds funds: spend or move them first.",
            code="wallet_in_use",
            status=409,
        )
    wallet, _ = CustomerWallet.objects.update_or_create(
        organization=organization,
        defaults={"address": address, "wrapped_key": None, "kek_version": None},
    )
    audit_record(actor=actor, verb="wallet.own_address_registered", target=wallet, address=address)
    return wallet
