"""How a print shop proves its keys to the platform.

A shop registers an Ethereum address (its bids are signed with that key) and an HPKE public key
(designs are released to it). It signs, with the Ethereum key, a message naming the shop, both
keys and a one-time challenge from the server (EIP-191 `personal_sign`), so the platform knows
the shop controls the address and that the HPKE key is the one the shop meant: nobody on the
way can swap in a key of their own.

The shop's CLI imports this module on every run: eth_account (and its eth_keys, eth_abi,
pydantic) is imported only by the functions that sign or recover, and addresses are checksummed
here rather than with eth_utils, which would pull in pydantic for one hash.
"""

from __future__ import annotations

import base64
import re
from enum import StrEnum
from typing import Final


class KeyProofError(ValueError):
    """A key or its proof is not acceptable; the message says why."""


class HpkeKem(StrEnum):
    """The HPKE key-encapsulation mechanisms a shop may register (RFC 9180 and its hybrid)."""

    X25519 = "x25519"
    MLKEM768_X25519 = "mlkem768-x25519"


_ADDRESS: Final = re.compile(r"(?:0[xX])?([0-9a-fA-F]{40})")

#: Public key sizes: X25519 is 32 bytes; the hybrid is ML-KEM-768's 1,184 plus X25519's 32.
HPKE_PUBLIC_KEY_SIZES = {HpkeKem.X25519: 32, HpkeKem.MLKEM768_X25519: 1184 + 32}


def check_hpke_public_key(kem: str, public_key: bytes) -> HpkeKem:
    try:
        known = HpkeKem(kem)
    except ValueError:
        known_kems = ", ".join(HpkeKem)
        raise KeyProofError(f"Unknown HPKE key type {kem!r}: use one of {known_kems}.") from None
    size = HPKE_PUBLIC_KEY_SIZES[known]
    if len(public_key) != size:
        raise KeyProofError(f"An {known} public key is {size} bytes, not {len(public_key)}.")
    return known


def checksum(address: str) -> str:
    """The address in its checksummed form (EIP-55); an error for anything that is not an
    address. Like ``eth_utils.to_checksum_address`` it takes 40 hex digits in any case, with or
    without ``0x``, and does not require a mixed-case address to carry a valid checksum."""
    match = _ADDRESS.fullmatch(address) if isinstance(address, str) else None
    if match is None:
        raise KeyProofError(f"{address!r} is not an Ethereum address.")
    from eth_hash.auto import keccak

    hex_address = match.group(1).lower()
    digest = keccak(hex_address.encode("ascii")).hex()
    return "0x" + "".join(
        char.upper() if int(nibble, 16) > 7 else char
        for char, nibble in zip(hex_address, digest, strict=False)
    )


def registration_message(
    *, shop_id: int, address: str, hpke_kem: str, hpke_public_key: bytes, challenge: str
) -> str:
    """The exact text a shop signs to register its keys."""
    address = checksum(address)
    check_hpke_public_key(hpke_kem, hpke_public_key)
    return "\n".join(
        [
            "PrintFair key registration",
            f"Shop: {shop_id}",
            f"Address: {address}",
            f"HPKE key ({hpke_kem}): {base64.b64encode(hpke_public_key).decode()}",
            f"Challenge: {challenge}",
        ]
    )


def sign_registration(private_key: bytes | str, message: str) -> bytes:
    from eth_account import Account  # heavy: see the module's docstring
    from eth_account.messages import encode_defunct

    signed = Account.sign_message(encode_defunct(text=message), private_key=private_key)
    return bytes(signed.signature)


def registration_signer(message: str, signature: bytes) -> str:
    """The address whose key signed `message`."""
    from eth_account import Account  # heavy: see the module's docstring
    from eth_account.messages import encode_defunct

    try:
        return str(Account.recover_message(encode_defunct(text=message), signature=signature))
    except Exception as exc:  # eth_keys raises several types for malformed signatures
        raise KeyProofError("The signature is not a valid Ethereum signature.") from exc
