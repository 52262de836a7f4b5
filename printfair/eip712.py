"""Sealed bids: the one definition of a bid's commitment and of its EIP-712 typed data.

A shop bids on a job in two steps (DESIGN.md section 3, steps 4 and 5). First it publishes only a
*commitment* to its bid::

    commitment = keccak256(abi.encode(uint256 jobId, address shop, uint256 price,
                                      uint32 leadTimeDays, bytes32 salt))

and after bidding closes it reveals ``(price, leadTimeDays, salt)``, which the AuctionHouse
contract checks against the commitment. The random 32-byte salt keeps the commitment from being
opened by trying likely prices; the job id and the shop inside it keep a commitment from being
copied to another job or claimed by another shop.

The commitment is signed by the shop's own Ethereum key as EIP-712 typed data, so the platform
can relay it to the contract but cannot forge or alter it::

    domain    = EIP712Domain(string name, string version, uint256 chainId,
                             address verifyingContract)
              = ("PrintFair AuctionHouse", "1", <chain id>, <AuctionHouse address>)
    SealedBid(uint256 jobId, address shop, bytes32 commitment, uint64 version)

The domain binds a signature to one chain and one AuctionHouse deployment. ``version`` strictly
increases with each new bid of a shop on a job; the contract refuses a version that is not newer
than the last one it accepted (none yet counts as 0, so versions start at 1), so an old signed
bid cannot be replayed over a newer one.

Inputs are held to what the contract accepts, so that a bid it would refuse fails here, early:
prices are positive and at most ``MAX_PRICE`` (the contract keeps prices in 128 bits and refuses
larger reveals, although the commitment encodes them as ``uint256``), lead times fit a
``uint32``, versions are positive ``uint64``, commitments are not zero, addresses are checksum
addresses other than the zero address.

Signatures are made and checked by ``printfair.signatures`` (65 bytes, low ``s``, the form
``eth_signTypedData_v4``, ethers and OpenZeppelin's ``ECDSA.recover`` agree on). Only such
signatures of an externally owned account are checked here; a shop that is a contract wallet
(ERC-1271, which the contract's ``SignatureChecker`` also accepts) needs an on-chain check.

The domain, the field checks and signing under the domain are ``printfair.auction_domain``'s,
shared with payees' relayed withdrawals (``printfair.withdrawals``).

Digests are hashed here from the fields directly (EIP-712's ``hashStruct`` of a fixed type, the
domain separator computed once per chain and contract), not by ``eth_account``'s general
encoder from the dict that ``sealed_bid_typed_data`` returns: checking a bid spent most of its
time in that encoder (bench/bids.py). The two are held together by tests: for generated fields,
the digest here equals ``eth_account``'s digest of the typed data a wallet is handed, and ethers
signs that typed data into signatures that verify here (tests/printfair/test_eip712.py).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Final

from eth_abi.abi import encode as abi_encode
from eth_hash.auto import keccak
from eth_utils.address import to_checksum_address

from printfair.auction_domain import (
    DOMAIN_FIELDS,
    DOMAIN_NAME,
    DOMAIN_VERSION,
    BidError,
    address_word,
    check_address,
    check_bytes,
    check_domain,
    check_uint,
    domain_separator,
    recover_signer,
    recover_signer_address,
    signing_account,
    typed_digest,
    word,
)
from printfair.signatures import SIGNATURE_SIZE, sign_digest

__all__ = [
    "BIDS_PER_REQUEST",
    "COMMITMENT_TYPES",
    "DOMAIN_NAME",
    "DOMAIN_VERSION",
    "MAX_PRICE",
    "SALT_SIZE",
    "SEALED_BID_TYPE",
    "SIGNATURE_SIZE",
    "Bid",
    "BidError",
    "domain_separator",
    "new_salt",
    "recover_sealed_bid_signer",
    "sealed_bid_digest",
    "sealed_bid_typed_data",
    "sign_sealed_bid",
    "verify_sealed_bid_signature",
]

# The encoded type whose keccak-256 is the contract's SEALED_BID_TYPEHASH.
SEALED_BID_TYPE: Final = "SealedBid(uint256 jobId,address shop,bytes32 commitment,uint64 version)"
# The ABI types of (jobId, shop, price, leadTimeDays, salt) in the commitment.
COMMITMENT_TYPES: Final = ("uint256", "address", "uint256", "uint32", "bytes32")
# The contract stores prices as uint128 and refuses to reveal a larger one.
MAX_PRICE: Final = (1 << 128) - 1
SALT_SIZE: Final = 32
COMMITMENT_SIZE: Final = 32
#: The most sealed bids one request to POST /api/v1/bids/ may carry (one per job).
BIDS_PER_REQUEST: Final = 100

_PRIMARY_TYPE: Final = "SealedBid"
_TYPES: Final = {
    "EIP712Domain": DOMAIN_FIELDS,
    _PRIMARY_TYPE: [
        {"name": "jobId", "type": "uint256"},
        {"name": "shop", "type": "address"},
        {"name": "commitment", "type": "bytes32"},
        {"name": "version", "type": "uint64"},
    ],
}
_SEALED_BID_TYPE_HASH: Final = keccak(SEALED_BID_TYPE.encode())


def new_salt() -> bytes:
    """Return a fresh random 32-byte salt for a commitment (never reuse one)."""
    return os.urandom(SALT_SIZE)


@dataclass(frozen=True, slots=True)
class Bid:
    """A shop's bid on a job, the preimage of its commitment.

    ``price`` is in base units of the settlement token (6 decimals), ``shop`` a checksum address.
    Raises ``BidError`` if a field is out of range.
    The salt must be kept until the reveal: without it the bid cannot be opened.
    """

    job_id: int
    shop: str
    price: int
    lead_time_days: int
    salt: bytes

    def __post_init__(self) -> None:
        check_uint(self.job_id, 256, "job id")
        check_address(self.shop, "shop")
        if not isinstance(self.price, int) or isinstance(self.price, bool):
            raise BidError(f"price must be an int, got {type(self.price).__name__}")
        if not 0 < self.price <= MAX_PRICE:
            raise BidError(f"price must be between 1 and {MAX_PRICE} base units, got {self.price}")
        check_uint(self.lead_time_days, 32, "lead time in days")
        check_bytes(self.salt, SALT_SIZE, "salt")

    def commitment(self) -> bytes:
        """Return the 32-byte commitment the contract checks the reveal against."""
        values = (self.job_id, self.shop, self.price, self.lead_time_days, self.salt)
        return keccak(abi_encode(COMMITMENT_TYPES, values))


def sealed_bid_typed_data(
    *, chain_id: int, contract: str, job_id: int, shop: str, commitment: bytes, version: int
) -> dict[str, Any]:
    """Return the full EIP-712 structure of a sealed bid, as ``eth_signTypedData_v4`` takes it.

    The dict has ``types`` (``EIP712Domain`` included), ``primaryType``, ``domain`` and
    ``message``; it is JSON-serialisable, with integers as ``int``, addresses as checksum strings
    and the commitment as a 0x-prefixed hex string. ``contract`` is the AuctionHouse address.
    Raises ``BidError`` if a field is out of range (``version`` starts at 1) or the commitment is
    zero.
    """
    _check_sealed_bid(
        chain_id=chain_id,
        contract=contract,
        job_id=job_id,
        shop=shop,
        commitment=commitment,
        version=version,
    )
    return {
        "types": {name: [dict(field) for field in fields] for name, fields in _TYPES.items()},
        "primaryType": _PRIMARY_TYPE,
        "domain": {
            "name": DOMAIN_NAME,
            "version": DOMAIN_VERSION,
            "chainId": chain_id,
            "verifyingContract": contract,
        },
        "message": {
            "jobId": job_id,
            "shop": shop,
            "commitment": "0x" + commitment.hex(),
            "version": version,
        },
    }


def sealed_bid_digest(
    *, chain_id: int, contract: str, job_id: int, shop: str, commitment: bytes, version: int
) -> bytes:
    """Return the 32-byte EIP-712 digest of a sealed bid, the hash that is actually signed.

    It is ``keccak256("\\x19\\x01" || domainSeparator || hashStruct(SealedBid))``, the value of
    OpenZeppelin's ``_hashTypedDataV4`` in the contract. Raises ``BidError`` as
    ``sealed_bid_typed_data`` does.
    """
    _check_sealed_bid(
        chain_id=chain_id,
        contract=contract,
        job_id=job_id,
        shop=shop,
        commitment=commitment,
        version=version,
    )
    struct_hash = keccak(
        _SEALED_BID_TYPE_HASH + word(job_id) + address_word(shop) + commitment + word(version)
    )
    return typed_digest(chain_id=chain_id, contract=contract, struct_hash=struct_hash)


def sign_sealed_bid(
    private_key: bytes | str,
    *,
    chain_id: int,
    contract: str,
    job_id: int,
    commitment: bytes,
    version: int,
    shop: str | None = None,
) -> bytes:
    """Sign a sealed bid with the shop's key; return the 65-byte signature ``r || s || v``.

    ``shop`` defaults to the key's address; if given, it must be that address, since a bid
    signed by anyone but its shop is refused. Raises ``BidError`` for an invalid key or field.
    """
    account = signing_account(private_key)
    if shop is None:
        shop = account.address
    elif shop != account.address:
        raise BidError(f"the key is of {account.address}, not of the shop {shop}")
    digest = sealed_bid_digest(
        chain_id=chain_id,
        contract=contract,
        job_id=job_id,
        shop=shop,
        commitment=commitment,
        version=version,
    )
    return sign_digest(account, digest)


def recover_sealed_bid_signer(
    signature: bytes,
    *,
    chain_id: int,
    contract: str,
    job_id: int,
    shop: str,
    commitment: bytes,
    version: int,
) -> str:
    """Return the checksum address that made ``signature`` over this sealed bid.

    Any field that differs from the signed one (another job, shop, commitment, version, chain or
    contract) yields a different address, so compare the result with ``shop``, or use
    ``verify_sealed_bid_signature``. Raises ``BidError`` for a malformed signature: not 65 bytes,
    ``v`` not 27 or 28, ``s`` in the upper half of the curve order (the contract refuses those),
    or no recoverable key.
    """
    digest = sealed_bid_digest(
        chain_id=chain_id,
        contract=contract,
        job_id=job_id,
        shop=shop,
        commitment=commitment,
        version=version,
    )
    return recover_signer(signature, digest)


def verify_sealed_bid_signature(
    signature: bytes,
    *,
    chain_id: int,
    contract: str,
    job_id: int,
    shop: str,
    commitment: bytes,
    version: int,
) -> None:
    """Check that ``shop`` signed this sealed bid; raise ``BidError`` if not."""
    digest = sealed_bid_digest(
        chain_id=chain_id,
        contract=contract,
        job_id=job_id,
        shop=shop,
        commitment=commitment,
        version=version,
    )
    signer = recover_signer_address(signature, digest)
    # Compared as 20 bytes: the checksum spelling costs another hash, needed only to say who.
    if signer != bytes.fromhex(shop[2:]):
        raise BidError(
            f"the sealed bid is signed by {to_checksum_address(signer)}, not by the shop {shop}"
        )


def _check_sealed_bid(
    *, chain_id: int, contract: str, job_id: int, shop: str, commitment: bytes, version: int
) -> None:
    check_domain(chain_id, contract)
    check_uint(job_id, 256, "job id")
    check_address(shop, "shop")
    check_bytes(commitment, COMMITMENT_SIZE, "commitment")
    if not any(commitment):
        # The contract reads a zero commitment as "no bid" and refuses to store one.
        raise BidError("commitment must not be zero")
    check_uint(version, 64, "version")
    if version == 0:
        raise BidError("version must be positive: the contract only takes versions above 0")
