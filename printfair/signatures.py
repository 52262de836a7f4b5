"""Signing an EIP-712 digest and recovering its signer, the one way every signed message of
PrintFair does it (sealed bids and withdrawals in `printfair.eip712`, machine events in
`printfair.machine_events`).

Signatures are 65 bytes ``r || s || v`` with ``v`` in {27, 28} and a low ``s`` (EIP-2), the form
``eth_signTypedData_v4``, ethers and OpenZeppelin's ``ECDSA.recover`` agree on."""

from __future__ import annotations

from typing import Final

from eth_account.signers.local import LocalAccount
from eth_keys.datatypes import PrivateKey, Signature
from eth_keys.exceptions import BadSignature
from eth_utils.address import to_checksum_address

SIGNATURE_SIZE: Final = 65
# The order of the secp256k1 group. Signatures with s > n/2 are refused as OpenZeppelin's ECDSA
# refuses them (EIP-2): each signature has such a twin, and accepting it here would let a message
# through that the contract then rejects.
_SECP256K1_N: Final = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
_HALF_N: Final = _SECP256K1_N // 2


class SignatureError(ValueError):
    """A signature that is malformed or from which no key can be recovered."""


def sign_digest(account: LocalAccount, digest: bytes) -> bytes:
    """A 65-byte ``r || s || v`` signature of an EIP-712 digest, ``v`` in {27, 28}, low ``s``."""
    signature = PrivateKey(bytes(account.key)).sign_msg_hash(digest)
    r, s, v = int(signature.r), int(signature.s), int(signature.v)
    if s > _HALF_N:
        # Secp256k1 backends already return low s; normalise anyway, the contract insists on it.
        s, v = _SECP256K1_N - s, 1 - v
    return r.to_bytes(32, "big") + s.to_bytes(32, "big") + bytes([27 + v])


def recover_digest(signature: bytes, digest: bytes) -> str:
    """The checksum address whose key made `signature` (65 bytes) over `digest`."""
    return to_checksum_address(recover_digest_address(signature, digest))


def recover_digest_address(signature: bytes, digest: bytes) -> bytes:
    """The 20-byte address whose key made `signature` (65 bytes) over `digest`: compared with a
    known address, this spares the checksum spelling's hash."""
    r = int.from_bytes(signature[:32], "big")
    s = int.from_bytes(signature[32:64], "big")
    v = signature[64]
    if v not in (27, 28):
        raise SignatureError(f"signature v must be 27 or 28, got {v}")
    if not 0 < r < _SECP256K1_N or not 0 < s <= _HALF_N:
        raise SignatureError("signature r or s is out of range (s must be in the lower half order)")
    try:
        public_key = Signature(vrs=(v - 27, r, s)).recover_public_key_from_msg_hash(digest)
    except BadSignature as exc:
        raise SignatureError(f"no key can be recovered from the signature: {exc}") from None
    return public_key.to_canonical_address()
