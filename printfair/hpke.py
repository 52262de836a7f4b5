"""Releasing a design file's data key to the winning print shop: the one implementation.

When a job is funded, the server unwraps the file's data key (see ``printfair.envelope``) and
wraps it again to the winning shop's registered HPKE public key; the shop's CLI unwraps it with
the shop's private key and decrypts the file locally. The wrap is RFC 9180 HPKE, base mode,
single shot, with the suite:

- KEM ``x25519``: DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-256-GCM;
- KEM ``mlkem768-x25519``: the ML-KEM-768 + X25519 hybrid KEM of ``cryptography``
  (``hpke.KEM.MLKEM768_X25519``), HKDF-SHA256, AES-256-GCM.

The KEM names are those a shop registers (``printfair.keys.HpkeKem``). A hybrid public key is
ML-KEM-768's encapsulation key (1,184 bytes) followed by the X25519 public key (32 bytes).

The HPKE ``info`` binds the wrapped key to one job, one shop and one file, so it opens only for
them (all integers big-endian)::

    info = b"printfair/release-key"   label, 21 bytes
        || version                    uint8, = 1
        || len(kem) || kem            uint8, then the KEM name in ASCII (e.g. b"x25519")
        || job_id                     uint64
        || shop_id                    uint64
        || len(file_id) || file_id    uint16, then the file id (the design file's UUID bytes)

Every field has a fixed width or a length prefix, so no two different inputs give the same
``info``. The wrapped key is::

    wrapped = version (1 byte, = 1) || enc || ct

where ``enc || ct`` is exactly what RFC 9180's single-shot ``Seal`` returns with an empty
associated data: ``enc`` is the KEM encapsulation (32 bytes for ``x25519``, 1,120 for
``mlkem768-x25519``) and ``ct`` the 32-byte data key sealed with AES-256-GCM (48 bytes). So a
wrapped key is 81 bytes for ``x25519`` and 1,169 bytes for ``mlkem768-x25519``, and any RFC 9180
implementation given ``release_info(...)`` can open it.

Base mode does not authenticate the sender: anyone who knows a shop's public key can wrap a key
for it. The shop trusts a wrapped key because it fetched it from the platform; and a key that is
not the file's data key cannot decrypt the file, since every segment is authenticated.
"""

from __future__ import annotations

import struct
from typing import Final, TypeAlias

from cryptography.exceptions import InvalidTag, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hpke
from cryptography.hazmat.primitives.asymmetric import mlkem, x25519

from printfair.envelope import KEY_SIZE
from printfair.keys import HPKE_PUBLIC_KEY_SIZES, HpkeKem

__all__ = [
    "FORMAT_VERSION",
    "PRIVATE_KEY_SIZES",
    "HpkePrivateKey",
    "ReleaseKeyError",
    "generate_private_key",
    "generate_private_key_bytes",
    "private_key_from_bytes",
    "release_info",
    "unwrap_for_shop",
    "wrap_for_shop",
    "wrapped_size",
]

FORMAT_VERSION: Final = 1
_INFO_LABEL: Final = b"printfair/release-key"
_MLKEM768_PUBLIC_KEY_SIZE: Final = 1184
_MLKEM768_SEED_SIZE: Final = 64
_X25519_PRIVATE_KEY_SIZE: Final = 32
_AEAD_TAG_SIZE: Final = 16
_MAX_ID: Final = 1 << 64
_MAX_FILE_ID_SIZE: Final = (1 << 16) - 1

_HPKE_KEMS: Final = {
    HpkeKem.X25519: hpke.KEM.X25519,
    HpkeKem.MLKEM768_X25519: hpke.KEM.MLKEM768_X25519,
}

#: A shop's HPKE private key, as the CLI holds it in memory (``KeyFile.unlock_hpke``).
HpkePrivateKey: TypeAlias = x25519.X25519PrivateKey | hpke.MLKEM768X25519PrivateKey
_HpkePublicKey: TypeAlias = x25519.X25519PublicKey | hpke.MLKEM768X25519PublicKey


class ReleaseKeyError(ValueError):
    """A data key cannot be wrapped for, or unwrapped by, a shop; the message says why."""


def _kem(kem: str) -> HpkeKem:
    try:
        return HpkeKem(kem)
    except ValueError:
        known = ", ".join(HpkeKem)
        raise ReleaseKeyError(f"unknown HPKE key type {kem!r}: use one of {known}") from None


def _suite(kem: HpkeKem) -> hpke.Suite:
    return hpke.Suite(_HPKE_KEMS[kem], hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_256_GCM)


def _check_data_key(data_key: bytes) -> None:
    if len(data_key) != KEY_SIZE:
        raise ReleaseKeyError(f"a data key is {KEY_SIZE} bytes, got {len(data_key)} bytes")


def wrapped_size(kem: str) -> int:
    """The exact size of a data key wrapped for a key of type ``kem``."""
    return 1 + _HPKE_KEMS[_kem(kem)].enc_length() + KEY_SIZE + _AEAD_TAG_SIZE


def release_info(*, kem: str, job_id: int, shop_id: int, file_id: bytes) -> bytes:
    """The HPKE ``info`` that binds a wrapped data key to one job, shop and file."""
    name = _kem(kem).value.encode("ascii")
    for what, value in (("job id", job_id), ("shop id", shop_id)):
        if not 0 <= value < _MAX_ID:
            raise ReleaseKeyError(f"{what} must fit in an unsigned 64-bit integer, got {value}")
    # An empty id would bind the key to no file at all: always a caller bug.
    if not 0 < len(file_id) <= _MAX_FILE_ID_SIZE:
        raise ReleaseKeyError(
            f"file id must be 1 to {_MAX_FILE_ID_SIZE} bytes, got {len(file_id)} bytes"
        )
    return b"".join(
        [
            _INFO_LABEL,
            struct.pack(">BB", FORMAT_VERSION, len(name)),
            name,
            struct.pack(">QQH", job_id, shop_id, len(file_id)),
            file_id,
        ]
    )


def _public_key(kem: HpkeKem, public_key: bytes) -> _HpkePublicKey:
    size = HPKE_PUBLIC_KEY_SIZES[kem]
    if len(public_key) != size:
        raise ReleaseKeyError(f"an {kem} public key is {size} bytes, got {len(public_key)} bytes")
    if kem is HpkeKem.X25519:
        return x25519.X25519PublicKey.from_public_bytes(public_key)
    mlkem_part = public_key[:_MLKEM768_PUBLIC_KEY_SIZE]
    x25519_part = public_key[_MLKEM768_PUBLIC_KEY_SIZE:]
    try:
        mlkem_key = mlkem.MLKEM768PublicKey.from_public_bytes(mlkem_part)
    except ValueError:
        # The length is right, so the encoding is not canonical (FIPS 203 modulus check).
        raise ReleaseKeyError(
            f"the {kem} public key is malformed: its ML-KEM-768 part is not a valid key"
        ) from None
    except UnsupportedAlgorithm:
        raise ReleaseKeyError(f"this build of cryptography cannot use {kem} keys") from None
    return hpke.MLKEM768X25519PublicKey(
        mlkem_key, x25519.X25519PublicKey.from_public_bytes(x25519_part)
    )


def wrap_for_shop(
    data_key: bytes, *, kem: str, public_key: bytes, job_id: int, shop_id: int, file_id: bytes
) -> bytes:
    """Wrap ``data_key`` to a shop's registered HPKE public key, for one job and file.

    Every call encapsulates afresh, so the same inputs give a different result each time.
    """
    _check_data_key(data_key)
    known = _kem(kem)
    info = release_info(kem=known, job_id=job_id, shop_id=shop_id, file_id=file_id)
    recipient = _public_key(known, public_key)
    try:
        sealed = _suite(known).encrypt(data_key, recipient, info=info)
    except ValueError:
        # X25519 with a low-order point gives an all-zero shared secret, which RFC 9180
        # (section 7.1.4) requires to be refused.
        part = "it is" if known is HpkeKem.X25519 else "its X25519 part is"
        raise ReleaseKeyError(
            f"the {known} public key is malformed: {part} not a usable X25519 key"
        ) from None
    return bytes([FORMAT_VERSION]) + sealed


def unwrap_for_shop(
    wrapped: bytes,
    *,
    kem: str,
    private_key: HpkePrivateKey,
    job_id: int,
    shop_id: int,
    file_id: bytes,
) -> bytes:
    """Recover a data key that ``wrap_for_shop`` wrapped for this shop, job and file."""
    known = _kem(kem)
    info = release_info(kem=known, job_id=job_id, shop_id=shop_id, file_id=file_id)
    expected_type = (
        x25519.X25519PrivateKey if known is HpkeKem.X25519 else hpke.MLKEM768X25519PrivateKey
    )
    if not isinstance(private_key, expected_type):
        raise ReleaseKeyError(
            f"an {known} key is needed to unwrap this data key, not {type(private_key).__name__}"
        )
    if not wrapped:
        raise ReleaseKeyError("the wrapped data key is empty")
    if wrapped[0] != FORMAT_VERSION:
        raise ReleaseKeyError(
            f"the wrapped data key has format version {wrapped[0]}; "
            f"this version of PrintFair reads version {FORMAT_VERSION}"
        )
    size = wrapped_size(known)
    if len(wrapped) != size:
        raise ReleaseKeyError(
            f"a data key wrapped for an {known} key is {size} bytes, got {len(wrapped)} bytes: "
            "it is truncated, or was wrapped for another type of key"
        )
    try:
        data_key = _suite(known).decrypt(wrapped[1:], private_key, info=info)
    except (InvalidTag, ValueError):
        raise ReleaseKeyError(
            f"cannot unwrap the data key: it was not wrapped for shop {shop_id}, job {job_id} "
            "and this file with this key, or it was altered"
        ) from None
    _check_data_key(data_key)
    return data_key


#: The size of a private key's bytes (``generate_private_key_bytes``) for each KEM.
PRIVATE_KEY_SIZES: Final = {
    HpkeKem.X25519: _X25519_PRIVATE_KEY_SIZE,
    HpkeKem.MLKEM768_X25519: _MLKEM768_SEED_SIZE + _X25519_PRIVATE_KEY_SIZE,
}


def generate_private_key(kem: str) -> tuple[HpkePrivateKey, bytes]:
    """A new HPKE key pair of type ``kem``: the private key and the public key's bytes."""
    return private_key_from_bytes(kem, generate_private_key_bytes(kem))


def generate_private_key_bytes(kem: str) -> bytes:
    """A new HPKE private key of type ``kem``, as bytes to keep (``private_key_from_bytes``).

    ``cryptography`` serialises neither the hybrid private key nor gives its parts back, so a
    key to keep is made and kept as its parts: for ``x25519`` the raw X25519 private key (32
    bytes); for ``mlkem768-x25519`` the ML-KEM-768 seed (FIPS 203's ``d || z``, 64 bytes) then
    the raw X25519 private key (32 bytes).
    """
    known = _kem(kem)
    x25519_part = x25519.X25519PrivateKey.generate().private_bytes_raw()
    if known is HpkeKem.X25519:
        return x25519_part
    return mlkem.MLKEM768PrivateKey.generate().private_bytes_raw() + x25519_part


def private_key_from_bytes(kem: str, private_bytes: bytes) -> tuple[HpkePrivateKey, bytes]:
    """The private key that ``generate_private_key_bytes`` gave as ``private_bytes``, and its
    public key's bytes in the layout ``wrap_for_shop`` reads."""
    known = _kem(kem)
    size = PRIVATE_KEY_SIZES[known]
    if len(private_bytes) != size:
        raise ReleaseKeyError(
            f"an {known} private key is {size} bytes, got {len(private_bytes)} bytes"
        )
    x25519_key = x25519.X25519PrivateKey.from_private_bytes(
        private_bytes[-_X25519_PRIVATE_KEY_SIZE:]
    )
    x25519_public = x25519_key.public_key().public_bytes_raw()
    if known is HpkeKem.X25519:
        return x25519_key, x25519_public
    try:
        mlkem_key = mlkem.MLKEM768PrivateKey.from_seed_bytes(private_bytes[:_MLKEM768_SEED_SIZE])
    except UnsupportedAlgorithm:
        raise ReleaseKeyError(f"this build of cryptography cannot use {known} keys") from None
    public_key = mlkem_key.public_key().public_bytes_raw() + x25519_public
    return hpke.MLKEM768X25519PrivateKey(mlkem_key, x25519_key), public_key
