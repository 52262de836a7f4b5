"""Tests for releasing a data key to the winning shop (printfair.hpke)."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hpke as cryptography_hpke
from cryptography.hazmat.primitives.asymmetric import x25519

from printfair.cli.keyfile import create_keyfile
from printfair.envelope import new_data_key
from printfair.hpke import (
    FORMAT_VERSION,
    PRIVATE_KEY_SIZES,
    HpkePrivateKey,
    ReleaseKeyError,
    generate_private_key,
    generate_private_key_bytes,
    private_key_from_bytes,
    release_info,
    unwrap_for_shop,
    wrap_for_shop,
    wrapped_size,
)
from printfair.keys import HPKE_PUBLIC_KEY_SIZES, HpkeKem

KEMS = [HpkeKem.X25519.value, HpkeKem.MLKEM768_X25519.value]
JOB_ID = 12
SHOP_ID = 7
FILE_ID = bytes.fromhex("00112233445566778899aabbccddeeff")
NOT_FOR_THIS = "not wrapped for shop"


@pytest.fixture(scope="module", params=KEMS)
def kem(request: pytest.FixtureRequest) -> str:
    value: str = request.param
    return value


@pytest.fixture(scope="module")
def shop_key(kem: str) -> tuple[HpkePrivateKey, bytes]:
    return generate_private_key(kem)


def wrap(
    data_key: bytes,
    kem: str,
    public_key: bytes,
    *,
    job_id: int = JOB_ID,
    shop_id: int = SHOP_ID,
    file_id: bytes = FILE_ID,
) -> bytes:
    return wrap_for_shop(
        data_key, kem=kem, public_key=public_key, job_id=job_id, shop_id=shop_id, file_id=file_id
    )


def unwrap(
    wrapped: bytes,
    kem: str,
    private_key: HpkePrivateKey,
    *,
    job_id: int = JOB_ID,
    shop_id: int = SHOP_ID,
    file_id: bytes = FILE_ID,
) -> bytes:
    return unwrap_for_shop(
        wrapped, kem=kem, private_key=private_key, job_id=job_id, shop_id=shop_id, file_id=file_id
    )


# --- round trip and format ---------------------------------------------------------------------


def test_round_trip(kem: str, shop_key: tuple[HpkePrivateKey, bytes]) -> None:
    private_key, public_key = shop_key
    data_key = new_data_key()

    wrapped = wrap(data_key, kem, public_key)

    assert unwrap(wrapped, kem, private_key) == data_key


def test_generated_public_key_has_the_registered_size(kem: str) -> None:
    _, public_key = generate_private_key(kem)
    assert len(public_key) == HPKE_PUBLIC_KEY_SIZES[HpkeKem(kem)]


@pytest.mark.parametrize(("kem_name", "size"), [("x25519", 81), ("mlkem768-x25519", 1169)])
def test_wrapped_key_is_version_byte_then_fixed_size(kem_name: str, size: int) -> None:
    _, public_key = generate_private_key(kem_name)

    wrapped = wrap(new_data_key(), kem_name, public_key)

    assert wrapped_size(kem_name) == size
    assert len(wrapped) == size
    assert wrapped[0] == FORMAT_VERSION == 1


def test_each_wrap_is_a_fresh_encapsulation(
    kem: str, shop_key: tuple[HpkePrivateKey, bytes]
) -> None:
    private_key, public_key = shop_key
    data_key = new_data_key()
    enc_size = wrapped_size(kem) - 1 - 48

    first = wrap(data_key, kem, public_key)
    second = wrap(data_key, kem, public_key)

    assert first != second
    assert first[1 : 1 + enc_size] != second[1 : 1 + enc_size]
    assert unwrap(first, kem, private_key) == unwrap(second, kem, private_key) == data_key


def test_private_key_bytes_round_trip(kem: str) -> None:
    # given a key kept as bytes (cryptography serialises no hybrid private key)
    kept = generate_private_key_bytes(kem)
    assert len(kept) == PRIVATE_KEY_SIZES[HpkeKem(kem)]

    # when it is loaded, twice
    private_key, public_key = private_key_from_bytes(kem, kept)
    _, again = private_key_from_bytes(kem, kept)

    # then it is the same key pair, and it opens what is wrapped to its public key
    assert again == public_key and len(public_key) == HPKE_PUBLIC_KEY_SIZES[HpkeKem(kem)]
    data_key = new_data_key()
    assert unwrap(wrap(data_key, kem, public_key), kem, private_key) == data_key
    with pytest.raises(ReleaseKeyError, match="private key is"):
        private_key_from_bytes(kem, kept[:-1])


def test_opens_with_the_key_the_cli_keeps(kem: str, tmp_path: Path) -> None:
    # given the shop's keys as `printfair keys init --kem KEM` stores them
    keys = create_keyfile(
        tmp_path / "keys.json", "correct horse", force=False, light=True, kem=HpkeKem(kem)
    )
    data_key = new_data_key()

    # when the server wraps to the registered public key
    wrapped = wrap(data_key, keys.hpke_kem, keys.hpke_public_key)

    # then the key unlocked from the keys file opens it
    assert unwrap(wrapped, keys.hpke_kem, keys.unlock_hpke("correct horse")) == data_key


# --- info layout -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kem_name", "expected"),
    [
        (
            "x25519",
            b"printfair/release-key"
            b"\x01"
            b"\x06x25519"
            b"\x00\x00\x00\x00\x00\x00\x00\x0c"
            b"\x00\x00\x00\x00\x00\x00\x00\x07"
            b"\x00\x10\x00\x11\x22\x33\x44\x55\x66\x77\x88\x99\xaa\xbb\xcc\xdd\xee\xff",
        ),
        (
            "mlkem768-x25519",
            b"printfair/release-key"
            b"\x01"
            b"\x0fmlkem768-x25519"
            b"\x00\x00\x00\x00\x00\x00\x00\x0c"
            b"\x00\x00\x00\x00\x00\x00\x00\x07"
            b"\x00\x10\x00\x11\x22\x33\x44\x55\x66\x77\x88\x99\xaa\xbb\xcc\xdd\xee\xff",
        ),
    ],
    ids=["x25519", "mlkem768-x25519"],
)
def test_info_layout_is_pinned(kem_name: str, expected: bytes) -> None:
    # A change here changes what every released key is bound to: old wrapped keys stop opening.
    info = release_info(kem=kem_name, job_id=JOB_ID, shop_id=SHOP_ID, file_id=FILE_ID)
    assert info == expected


def test_info_uses_the_full_width_of_the_ids() -> None:
    info = release_info(kem="x25519", job_id=2**64 - 1, shop_id=0, file_id=b"\x00")
    assert info.endswith(b"\xff" * 8 + b"\x00" * 8 + b"\x00\x01\x00")


# --- only the matching shop, job and file opens ------------------------------------------------


def test_only_the_matching_shop_job_and_file_opens(kem: str) -> None:
    # given 3 shops, 2 jobs and 2 files, and a data key wrapped for every combination
    shops = {shop_id: generate_private_key(kem) for shop_id in (101, 102, 103)}
    jobs = (1, 2)
    files = (bytes.fromhex("aa" * 16), bytes.fromhex("bb" * 16))
    data_keys = {}
    wrapped_keys = {}
    for shop_id, job_id, file_id in itertools.product(shops, jobs, files):
        data_key = new_data_key()
        data_keys[shop_id, job_id, file_id] = data_key
        wrapped_keys[shop_id, job_id, file_id] = wrap(
            data_key, kem, shops[shop_id][1], job_id=job_id, shop_id=shop_id, file_id=file_id
        )

    # when every wrapped key is tried with every shop's private key, claimed shop, job and file
    opened = []
    for target, wrapped in wrapped_keys.items():
        for key_owner, shop_id, job_id, file_id in itertools.product(shops, shops, jobs, files):
            try:
                data_key = unwrap(
                    wrapped,
                    kem,
                    shops[key_owner][0],
                    job_id=job_id,
                    shop_id=shop_id,
                    file_id=file_id,
                )
            except ReleaseKeyError as exc:
                assert NOT_FOR_THIS in str(exc)
            else:
                opened.append((target, (key_owner, shop_id, job_id, file_id)))
                assert data_key == data_keys[target]

    # then each opens exactly once: with its own shop's key, for its own shop, job and file
    assert sorted(opened) == sorted((target, (target[0], *target)) for target in wrapped_keys)


# --- tampering and malformed wrapped keys ------------------------------------------------------


def test_tampering_with_any_byte_fails(kem: str, shop_key: tuple[HpkePrivateKey, bytes]) -> None:
    private_key, public_key = shop_key
    wrapped = wrap(new_data_key(), kem, public_key)

    for position, flip in itertools.product(range(len(wrapped)), (0x01, 0x80)):
        tampered = bytearray(wrapped)
        tampered[position] ^= flip
        with pytest.raises(ReleaseKeyError) as raised:
            unwrap(bytes(tampered), kem, private_key)
        expected = "format version" if position == 0 else NOT_FOR_THIS
        assert expected in str(raised.value), position


def test_truncated_or_extended_wrapped_key_fails(
    kem: str, shop_key: tuple[HpkePrivateKey, bytes]
) -> None:
    private_key, public_key = shop_key
    wrapped = wrap(new_data_key(), kem, public_key)

    for bad in (wrapped[:-1], wrapped[:1], wrapped + b"\x00"):
        with pytest.raises(ReleaseKeyError, match="truncated, or was wrapped for another type"):
            unwrap(bad, kem, private_key)
    with pytest.raises(ReleaseKeyError, match="empty"):
        unwrap(b"", kem, private_key)


@pytest.mark.parametrize("version", [0, 2, 255])
def test_unknown_format_version_is_refused(
    version: int, kem: str, shop_key: tuple[HpkePrivateKey, bytes]
) -> None:
    private_key, public_key = shop_key
    wrapped = wrap(new_data_key(), kem, public_key)

    with pytest.raises(ReleaseKeyError, match=f"format version {version}; .* reads version 1"):
        unwrap(bytes([version]) + wrapped[1:], kem, private_key)


# --- key types ---------------------------------------------------------------------------------


@pytest.mark.parametrize("bad_kem", ["X25519", "p256", "mlkem768", ""])
def test_unknown_kem_is_refused(bad_kem: str) -> None:
    private_key, public_key = generate_private_key("x25519")
    wrapped = wrap(new_data_key(), "x25519", public_key)

    with pytest.raises(ReleaseKeyError, match="unknown HPKE key type"):
        wrap(new_data_key(), bad_kem, public_key)
    with pytest.raises(ReleaseKeyError, match="unknown HPKE key type"):
        unwrap(wrapped, bad_kem, private_key)
    with pytest.raises(ReleaseKeyError, match="unknown HPKE key type"):
        generate_private_key(bad_kem)


def test_wrapped_key_does_not_open_as_the_other_kem() -> None:
    classic_private, classic_public = generate_private_key("x25519")
    hybrid_private, hybrid_public = generate_private_key("mlkem768-x25519")
    for_classic = wrap(new_data_key(), "x25519", classic_public)
    for_hybrid = wrap(new_data_key(), "mlkem768-x25519", hybrid_public)

    with pytest.raises(ReleaseKeyError, match="wrapped for another type of key"):
        unwrap(for_classic, "mlkem768-x25519", hybrid_private)
    with pytest.raises(ReleaseKeyError, match="wrapped for another type of key"):
        unwrap(for_hybrid, "x25519", classic_private)


def test_private_key_of_the_wrong_type_is_refused() -> None:
    classic_private, classic_public = generate_private_key("x25519")
    hybrid_private, _ = generate_private_key("mlkem768-x25519")
    wrapped = wrap(new_data_key(), "x25519", classic_public)

    with pytest.raises(ReleaseKeyError, match="an x25519 key is needed"):
        unwrap(wrapped, "x25519", hybrid_private)
    with pytest.raises(ReleaseKeyError, match="an mlkem768-x25519 key is needed"):
        unwrap(wrapped, "mlkem768-x25519", classic_private)


# --- malformed inputs --------------------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 31, 33, 1216])
def test_x25519_public_key_of_wrong_size_is_refused(size: int) -> None:
    with pytest.raises(ReleaseKeyError, match=f"an x25519 public key is 32 bytes, got {size}"):
        wrap(new_data_key(), "x25519", b"\x09" * size)


@pytest.mark.parametrize("size", [0, 32, 1184, 1215, 1217])
def test_hybrid_public_key_of_wrong_size_is_refused(size: int) -> None:
    with pytest.raises(ReleaseKeyError, match=f"is 1216 bytes, got {size}"):
        wrap(new_data_key(), "mlkem768-x25519", b"\x09" * size)


def test_low_order_x25519_public_key_is_refused() -> None:
    # The all-zero point would make the shared secret all zeros (RFC 9180, section 7.1.4).
    with pytest.raises(ReleaseKeyError, match="not a usable X25519 key"):
        wrap(new_data_key(), "x25519", bytes(32))

    _, hybrid_public = generate_private_key("mlkem768-x25519")
    with pytest.raises(ReleaseKeyError, match="its X25519 part is not a usable X25519 key"):
        wrap(new_data_key(), "mlkem768-x25519", hybrid_public[:1184] + bytes(32))


def test_hybrid_public_key_with_invalid_mlkem_part_is_refused() -> None:
    _, hybrid_public = generate_private_key("mlkem768-x25519")
    # Every coefficient 0xfff is above the ML-KEM modulus q = 3329: not a canonical key.
    with pytest.raises(ReleaseKeyError, match="its ML-KEM-768 part is not a valid key"):
        wrap(new_data_key(), "mlkem768-x25519", b"\xff" * 1184 + hybrid_public[1184:])


@pytest.mark.parametrize("size", [0, 16, 31, 33, 64])
def test_data_key_must_be_32_bytes(
    size: int, kem: str, shop_key: tuple[HpkePrivateKey, bytes]
) -> None:
    _, public_key = shop_key
    with pytest.raises(ReleaseKeyError, match=f"a data key is 32 bytes, got {size} bytes"):
        wrap(b"\x01" * size, kem, public_key)


@pytest.mark.parametrize(
    ("job_id", "shop_id", "file_id", "message"),
    [
        (-1, SHOP_ID, FILE_ID, "job id must fit"),
        (2**64, SHOP_ID, FILE_ID, "job id must fit"),
        (JOB_ID, -1, FILE_ID, "shop id must fit"),
        (JOB_ID, 2**64, FILE_ID, "shop id must fit"),
        (JOB_ID, SHOP_ID, b"", "file id must be 1 to 65535 bytes, got 0"),
        (JOB_ID, SHOP_ID, b"\x00" * 65536, "file id must be 1 to 65535 bytes, got 65536"),
    ],
)
def test_ids_out_of_range_are_refused(
    job_id: int, shop_id: int, file_id: bytes, message: str
) -> None:
    private_key, public_key = generate_private_key("x25519")
    wrapped = wrap(new_data_key(), "x25519", public_key)

    with pytest.raises(ReleaseKeyError, match=message):
        wrap(new_data_key(), "x25519", public_key, job_id=job_id, shop_id=shop_id, file_id=file_id)
    with pytest.raises(ReleaseKeyError, match=message):
        unwrap(wrapped, "x25519", private_key, job_id=job_id, shop_id=shop_id, file_id=file_id)


# --- against RFC 9180 and another implementation -----------------------------------------------


def test_rfc9180_a_1_1_vector() -> None:
    """RFC 9180 appendix A.1.1: DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-128-GCM, base mode.

    The RFC has no appendix vector for our AEAD (AES-256-GCM) with this KEM, and every RFC
    vector uses a non-empty AAD, which ``Suite.decrypt`` does not take; so this checks the
    installed library's KEM and key schedule through its private AAD entry point, and the
    AES-256-GCM suite is checked against an independent implementation below.
    """
    from cryptography.hazmat.bindings._rust import openssl as rust_openssl

    decrypt_with_aad = getattr(rust_openssl.hpke, "_decrypt_with_aad", None)
    if decrypt_with_aad is None:
        pytest.skip("cryptography no longer exposes HPKE decryption with AAD")
    suite = cryptography_hpke.Suite(
        cryptography_hpke.KEM.X25519,
        cryptography_hpke.KDF.HKDF_SHA256,
        cryptography_hpke.AEAD.AES_128_GCM,
    )
    sk_rm = x25519.X25519PrivateKey.from_private_bytes(
        bytes.fromhex("4612c550263fc8ad58375df3f557aac531d26850903e55a9f23f21d8534e8ac8")
    )
    enc = bytes.fromhex("37fda3567bdbd628e88668c3c8d7e97d1d1253b6d4ea6d44c150f741f1bf4431")
    ct = bytes.fromhex(
        "f938558b5d72f1a23810b4be2ab4f84331acc02fc97babc53a52ae8218a355a96d8770ac83d07bea87e13c512a"
    )
    info = bytes.fromhex("4f6465206f6e2061204772656369616e2055726e")  # "Ode on a Grecian Urn"

    plaintext = decrypt_with_aad(suite, enc + ct, sk_rm, info=info, aad=b"Count-0")

    assert plaintext == b"Beauty is truth, truth beauty"
    with pytest.raises(InvalidTag):
        decrypt_with_aad(suite, enc + ct, sk_rm, info=info, aad=b"Count-1")


def test_interoperates_with_pycryptodome_hpke() -> None:
    """The wrapped key minus its version byte is plain RFC 9180: another implementation
    (pycryptodome, installed with eth-account) opens ours and we open its."""
    pycryptodome_hpke = pytest.importorskip("Crypto.Protocol.HPKE")
    pycryptodome_dh = pytest.importorskip("Crypto.Protocol.DH")
    private_key, public_key = generate_private_key("x25519")
    assert isinstance(private_key, x25519.X25519PrivateKey)
    info = release_info(kem="x25519", job_id=JOB_ID, shop_id=SHOP_ID, file_id=FILE_ID)
    data_key = new_data_key()

    # ours -> theirs
    wrapped = wrap(data_key, "x25519", public_key)
    receiver = pycryptodome_hpke.new(
        receiver_key=pycryptodome_dh.import_x25519_private_key(private_key.private_bytes_raw()),
        aead_id=pycryptodome_hpke.AEAD.AES256_GCM,
        enc=wrapped[1:33],
        info=info,
    )
    assert receiver.unseal(wrapped[33:]) == data_key

    # theirs -> ours
    sender = pycryptodome_hpke.new(
        receiver_key=pycryptodome_dh.import_x25519_public_key(public_key),
        aead_id=pycryptodome_hpke.AEAD.AES256_GCM,
        info=info,
    )
    sealed = sender.seal(data_key)
    assert unwrap(bytes([FORMAT_VERSION]) + sender.enc + sealed, "x25519", private_key) == data_key
