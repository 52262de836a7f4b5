"""Relayed withdrawals: a payee withdraws without gas. ``Withdrawal(address account, uint256
nonce, uint256 deadline)``, signed under the AuctionHouse's domain (`printfair.auction_domain`),
authorises anyone to relay ``withdrawFor``, which sends the account's whole balance to the
account itself; the nonce makes each signature good once."""

from __future__ import annotations

from typing import Any, Final

from eth_hash.auto import keccak

from printfair.auction_domain import (
    DOMAIN_FIELDS,
    DOMAIN_NAME,
    DOMAIN_VERSION,
    address_word,
    check_address,
    check_uint,
    recover_signer,
    signing_account,
    typed_digest,
    word,
)
from printfair.signatures import sign_digest

__all__ = ["recover_withdrawal_signer", "sign_withdrawal", "withdrawal_typed_data"]

_FIELDS: Final = (
    {"name": "account", "type": "address"},
    {"name": "nonce", "type": "uint256"},
    {"name": "deadline", "type": "uint256"},
)
_TYPE_HASH: Final = keccak(b"Withdrawal(address account,uint256 nonce,uint256 deadline)")


def withdrawal_typed_data(
    *, chain_id: int, contract: str, account: str, nonce: int, deadline: int
) -> dict[str, Any]:
    """Return the EIP-712 structure of an account's authorisation to relay a withdrawal of its
    whole AuctionHouse balance to itself (``withdrawFor``). ``nonce`` is the account's next
    nonce on the contract (``nonces(account)``), ``deadline`` a Unix time after which the
    signature is void. Raises ``BidError`` for an out-of-range field."""
    check_uint(chain_id, 256, "chain id")
    check_address(contract, "contract")
    check_address(account, "account")
    check_uint(nonce, 256, "nonce")
    check_uint(deadline, 256, "deadline")
    return {
        "types": {
            "EIP712Domain": [dict(field) for field in DOMAIN_FIELDS],
            "Withdrawal": [dict(field) for field in _FIELDS],
        },
        "primaryType": "Withdrawal",
        "domain": {
            "name": DOMAIN_NAME,
            "version": DOMAIN_VERSION,
            "chainId": chain_id,
            "verifyingContract": contract,
        },
        "message": {"account": account, "nonce": nonce, "deadline": deadline},
    }


def sign_withdrawal(
    private_key: bytes | str, *, chain_id: int, contract: str, nonce: int, deadline: int
) -> bytes:
    """Sign a relayed withdrawal to the key's own address; return the 65-byte signature."""
    account = signing_account(private_key)
    digest = _digest(
        chain_id=chain_id,
        contract=contract,
        account=account.address,
        nonce=nonce,
        deadline=deadline,
    )
    return sign_digest(account, digest)


def recover_withdrawal_signer(
    signature: bytes, *, chain_id: int, contract: str, account: str, nonce: int, deadline: int
) -> str:
    """Return the address that signed this withdrawal (compare it with ``account``)."""
    digest = _digest(
        chain_id=chain_id, contract=contract, account=account, nonce=nonce, deadline=deadline
    )
    return recover_signer(signature, digest)


def _digest(*, chain_id: int, contract: str, account: str, nonce: int, deadline: int) -> bytes:
    # The checks of the typed data a wallet is handed, then its EIP-712 digest.
    withdrawal_typed_data(
        chain_id=chain_id, contract=contract, account=account, nonce=nonce, deadline=deadline
    )
    struct_hash = keccak(_TYPE_HASH + address_word(account) + word(nonce) + word(deadline))
    return typed_digest(chain_id=chain_id, contract=contract, struct_hash=struct_hash)
