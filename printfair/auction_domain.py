"""The AuctionHouse's EIP-712 domain, and what its signed messages share: the checks their fields
get, their ABI words, and signing and recovering under the domain. Sealed bids
(`printfair.eip712`) and relayed withdrawals (`printfair.withdrawals`) are its two messages::

    domain = EIP712Domain(string name, string version, uint256 chainId, address verifyingContract)
           = ("PrintFair AuctionHouse", "1", <chain id>, <AuctionHouse address>)

Fields are held to what the contract accepts, so that a message it would refuse fails here,
early: integers fit their ABI type, addresses are checksum addresses other than the zero address.
Signatures are made and checked by ``printfair.signatures``.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Final

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_hash.auto import keccak
from eth_utils.address import is_checksum_address, to_checksum_address

from printfair.signatures import (
    SIGNATURE_SIZE,
    SignatureError,
    recover_digest_address,
)

DOMAIN_NAME: Final = "PrintFair AuctionHouse"
DOMAIN_VERSION: Final = "1"
#: The domain's fields, as EIP-712 typed data lists them under "EIP712Domain".
DOMAIN_FIELDS: Final = (
    {"name": "name", "type": "string"},
    {"name": "version", "type": "string"},
    {"name": "chainId", "type": "uint256"},
    {"name": "verifyingContract", "type": "address"},
)
_DOMAIN_TYPE_HASH: Final = keccak(
    b"EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
)
_ZERO_ADDRESS: Final = "0x" + "00" * 20


class BidError(ValueError):
    """Any invalid bid, typed-data field, key or signature."""


def domain_separator(*, chain_id: int, contract: str) -> bytes:
    """Return the 32-byte EIP-712 domain separator of the AuctionHouse at ``contract``."""
    check_domain(chain_id, contract)
    return _domain_separator(chain_id, contract)


def typed_digest(*, chain_id: int, contract: str, struct_hash: bytes) -> bytes:
    """``keccak256("\\x19\\x01" || domainSeparator || structHash)``: what is signed, the value of
    OpenZeppelin's ``_hashTypedDataV4``. The domain must have been checked (``check_domain``)."""
    return keccak(b"\x19\x01" + _domain_separator(chain_id, contract) + struct_hash)


@lru_cache(maxsize=64)
def _domain_separator(chain_id: int, contract: str) -> bytes:
    """hashStruct(EIP712Domain) of a checked chain id and AuctionHouse address, once each."""
    return keccak(
        _DOMAIN_TYPE_HASH
        + keccak(DOMAIN_NAME.encode())
        + keccak(DOMAIN_VERSION.encode())
        + word(chain_id)
        + address_word(contract)
    )


def word(value: int) -> bytes:
    """A checked unsigned integer as its 32-byte ABI word."""
    return value.to_bytes(32, "big")


def address_word(address: str) -> bytes:
    """A checked 0x-prefixed address as its 32-byte ABI word."""
    return bytes(12) + bytes.fromhex(address[2:])


def signing_account(private_key: bytes | str) -> LocalAccount:
    """The account of ``private_key``; BidError if it is not a key."""
    try:
        account: LocalAccount = Account.from_key(private_key)
    except (ValueError, TypeError) as exc:
        raise BidError(f"invalid private key: {exc}") from None
    return account


def recover_signer(signature: bytes, digest: bytes) -> str:
    """The checksum address that made ``signature`` over ``digest``; BidError if malformed."""
    return to_checksum_address(recover_signer_address(signature, digest))


def recover_signer_address(signature: bytes, digest: bytes) -> bytes:
    """``recover_signer`` as 20 bytes: compared with a known address, this spares the checksum
    spelling's hash."""
    check_bytes(signature, SIGNATURE_SIZE, "signature")
    try:
        return recover_digest_address(signature, digest)
    except SignatureError as exc:
        raise BidError(str(exc)) from None


def check_domain(chain_id: int, contract: str) -> None:
    check_uint(chain_id, 256, "chain id")
    if chain_id == 0:
        raise BidError("chain id must be positive")
    check_address(contract, "contract")


def check_uint(value: int, bits: int, what: str) -> None:
    # bool is an int subclass, and True as a job id is always a caller bug.
    if not isinstance(value, int) or isinstance(value, bool):
        raise BidError(f"{what} must be an int, got {type(value).__name__}")
    if not 0 <= value < 1 << bits:
        raise BidError(f"{what} must fit a uint{bits}, got {value}")


@lru_cache(maxsize=4096)
def _is_checksum_address(value: str) -> bool:
    # Each bid checks its shop's and its contract's spelling: a hash each, remembered here.
    return is_checksum_address(value)


def check_address(value: str, what: str) -> None:
    # type(), not isinstance(): a str subclass could hash and compare unlike the cached value;
    # and only strings of an address's length are remembered.
    if type(value) is not str or len(value) != 42 or not _is_checksum_address(value):
        raise BidError(f"{what} must be a checksum address, got {value!r}")
    # The zero address is what a failed ecrecover returns; it is never a shop or a contract.
    if value == _ZERO_ADDRESS:
        raise BidError(f"{what} must not be the zero address")


def check_bytes(value: bytes, size: int, what: str) -> None:
    if not isinstance(value, bytes):
        raise BidError(f"{what} must be bytes, got {type(value).__name__}")
    if len(value) != size:
        raise BidError(f"{what} must be {size} bytes, got {len(value)} bytes")
