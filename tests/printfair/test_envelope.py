"""Tests for the encrypted design-file format (printfair.envelope)."""

from __future__ import annotations

import itertools
import os
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from printfair import envelope
from printfair.envelope import (
    HEADER_SIZE,
    TAG_SIZE,
    WRAPPED_KEY_SIZE,
    EnvelopeError,
    SegmentDecryptor,
    StreamDecryptor,
    StreamEncryptor,
    StreamHeader,
    ciphertext_size,
    decrypt_chunks,
    new_data_key,
    unwrap_data_key,
    wrap_data_key,
)

SEG = 64
SEALED = SEG + TAG_SIZE
KEY = bytes(range(32))
FILE_ID = bytes.fromhex("00112233445566778899aabbccddeeff")


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    """Split ``data`` at the given offsets (clamped, sorted) into consecutive pieces."""
    bounds = sorted({0, len(data), *(min(c, len(data)) for c in cuts)})
    return [data[a:b] for a, b in itertools.pairwise(bounds)]


def encrypt(
    plaintext: bytes,
    *,
    key: bytes = KEY,
    file_id: bytes = FILE_ID,
    segment_size: int = SEG,
    cuts: list[int] | None = None,
) -> bytes:
    encryptor = StreamEncryptor(key, file_id, segment_size=segment_size)
    out = [encryptor.update(piece) for piece in split(plaintext, cuts or [])]
    out.append(encryptor.finalize())
    return b"".join(out)


def decrypt(
    ciphertext: bytes,
    *,
    key: bytes = KEY,
    file_id: bytes = FILE_ID,
    cuts: list[int] | None = None,
) -> bytes:
    return b"".join(decrypt_chunks(split(ciphertext, cuts or []), key, file_id))


def segments(ciphertext: bytes) -> tuple[bytes, list[bytes]]:
    """Return the header and the sealed segments of a ciphertext made with segment size SEG."""
    body = ciphertext[HEADER_SIZE:]
    return ciphertext[:HEADER_SIZE], [body[i : i + SEALED] for i in range(0, len(body), SEALED)]


def flip(data: bytes, index: int) -> bytes:
    return data[:index] + bytes([data[index] ^ 0x01]) + data[index + 1 :]


def boundary_sizes() -> st.SearchStrategy[int]:
    near_boundary = st.builds(
        lambda k, d: max(0, k * SEG + d), st.integers(0, 6), st.sampled_from([-1, 0, 1])
    )
    return st.one_of(near_boundary, st.integers(0, 10 * SEG))


@settings(max_examples=200)
@given(
    size=boundary_sizes(),
    enc_cuts=st.lists(st.integers(0, 12 * SEG), max_size=8),
    dec_cuts=st.lists(st.integers(0, 14 * SEALED), max_size=8),
    data=st.data(),
)
def test_round_trip_with_random_chunking(
    size: int, enc_cuts: list[int], dec_cuts: list[int], data: st.DataObject
) -> None:
    plaintext = data.draw(st.binary(min_size=size, max_size=size))
    ciphertext = encrypt(plaintext, cuts=enc_cuts)
    assert len(ciphertext) == ciphertext_size(size, SEG)
    assert decrypt(ciphertext, cuts=dec_cuts) == plaintext


@settings(max_examples=50)
@given(size=st.integers(0, 3 * 4096 + 1), chunk=st.integers(1, 10_000))
def test_round_trip_fixed_chunks_other_segment_size(size: int, chunk: int) -> None:
    plaintext = os.urandom(size)
    ciphertext = encrypt(plaintext, segment_size=4096, cuts=list(range(0, size, chunk)))
    assert len(ciphertext) == ciphertext_size(size, 4096)
    assert decrypt(ciphertext, cuts=list(range(0, len(ciphertext), chunk))) == plaintext


def test_byte_at_a_time() -> None:
    plaintext = os.urandom(3 * SEG)
    ciphertext = encrypt(plaintext, cuts=list(range(len(plaintext))))
    assert decrypt(ciphertext, cuts=list(range(len(ciphertext)))) == plaintext


def test_default_segment_size_round_trip() -> None:
    plaintext = os.urandom(envelope.SEGMENT_SIZE * 2 + 5)
    encryptor = StreamEncryptor(KEY, FILE_ID)
    ciphertext = encryptor.update(plaintext) + encryptor.finalize()
    assert len(ciphertext) == ciphertext_size(len(plaintext))
    assert decrypt(ciphertext, cuts=[1000, 2_000_000]) == plaintext


def test_header_layout() -> None:
    ciphertext = encrypt(b"hello")
    magic, version, segment_size = struct.unpack(">3sBI", ciphertext[:8])
    assert (magic, version, segment_size) == (b"PFE", 1, SEG)
    assert HEADER_SIZE == 15


def test_nonce_prefix_is_random_per_file() -> None:
    assert encrypt(b"same")[8:HEADER_SIZE] != encrypt(b"same")[8:HEADER_SIZE]


def test_empty_plaintext_is_one_empty_final_segment() -> None:
    ciphertext = encrypt(b"")
    assert len(ciphertext) == HEADER_SIZE + TAG_SIZE == ciphertext_size(0, SEG)
    assert decrypt(ciphertext) == b""


def test_exact_multiple_ends_with_full_final_segment() -> None:
    plaintext = os.urandom(2 * SEG)
    _, sealed = segments(encrypt(plaintext))
    assert [len(s) for s in sealed] == [SEALED, SEALED]


def test_update_holds_back_a_full_segment_until_more_data() -> None:
    encryptor = StreamEncryptor(KEY, FILE_ID, segment_size=SEG)
    assert len(encryptor.update(b"x" * SEG)) == HEADER_SIZE
    assert len(encryptor.update(b"x")) == SEALED
    assert len(encryptor.finalize()) == 1 + TAG_SIZE


def test_ciphertext_size() -> None:
    assert ciphertext_size(0, SEG) == HEADER_SIZE + TAG_SIZE
    assert ciphertext_size(SEG, SEG) == HEADER_SIZE + SEALED
    assert ciphertext_size(SEG + 1, SEG) == HEADER_SIZE + SEALED + 1 + TAG_SIZE
    with pytest.raises(EnvelopeError):
        ciphertext_size(-1)


def test_update_after_finalize_raises() -> None:
    encryptor = StreamEncryptor(KEY, FILE_ID, segment_size=SEG)
    encryptor.finalize()
    with pytest.raises(EnvelopeError, match="after finalize"):
        encryptor.update(b"more")
    with pytest.raises(EnvelopeError):
        encryptor.finalize()


def test_decryptor_refuses_use_after_finalize() -> None:
    decryptor = StreamDecryptor(KEY, FILE_ID)
    decryptor.update(encrypt(b"abc"))
    assert decryptor.finalize() == b"abc"
    with pytest.raises(EnvelopeError):
        decryptor.update(b"")


def test_encryptor_accepts_memoryview_and_bytearray() -> None:
    encryptor = StreamEncryptor(KEY, FILE_ID, segment_size=SEG)
    ciphertext = encryptor.update(memoryview(b"a" * 100)) + encryptor.update(bytearray(b"b" * 100))
    ciphertext += encryptor.finalize()
    assert decrypt(ciphertext) == b"a" * 100 + b"b" * 100


# --- tampering: each must raise, never return wrong plaintext --------------------------------

PLAINTEXT_3 = bytes(range(256))[: 2 * SEG + 10]  # two full segments and a short final one


def assert_rejected(ciphertext: bytes, *, key: bytes = KEY, file_id: bytes = FILE_ID) -> None:
    with pytest.raises(EnvelopeError):
        decrypt(ciphertext, key=key, file_id=file_id)


def test_truncation_at_segment_boundary() -> None:
    header, sealed = segments(encrypt(PLAINTEXT_3))
    assert_rejected(header + sealed[0])
    assert_rejected(header + sealed[0] + sealed[1])


def test_truncation_mid_segment() -> None:
    ciphertext = encrypt(PLAINTEXT_3)
    for cut in (HEADER_SIZE - 1, HEADER_SIZE, HEADER_SIZE + 5, len(ciphertext) - 1):
        assert_rejected(ciphertext[:cut])


def test_dropped_final_segment() -> None:
    header, sealed = segments(encrypt(os.urandom(3 * SEG)))
    assert len(sealed) == 3
    with pytest.raises(EnvelopeError, match="final segment"):
        decrypt(header + sealed[0] + sealed[1])


def test_reordered_segments() -> None:
    header, sealed = segments(encrypt(os.urandom(3 * SEG)))
    assert_rejected(header + sealed[1] + sealed[0] + sealed[2])


def test_duplicated_segment() -> None:
    header, sealed = segments(encrypt(PLAINTEXT_3))
    assert_rejected(header + sealed[0] + sealed[0] + sealed[1] + sealed[2])


def test_trailing_data() -> None:
    ciphertext = encrypt(PLAINTEXT_3)
    assert_rejected(ciphertext + b"\x00")
    assert_rejected(ciphertext + os.urandom(SEALED))
    exact = encrypt(os.urandom(2 * SEG))
    assert_rejected(exact + exact[-SEALED:])


def test_flipped_bit_in_header() -> None:
    ciphertext = encrypt(PLAINTEXT_3)
    for index in (4, 8, HEADER_SIZE - 1):  # segment size, nonce prefix
        assert_rejected(flip(ciphertext, index))


def test_flipped_bit_in_body() -> None:
    ciphertext = encrypt(PLAINTEXT_3)
    assert_rejected(flip(ciphertext, HEADER_SIZE))
    assert_rejected(flip(ciphertext, HEADER_SIZE + SEALED + 3))


def test_flipped_bit_in_tag() -> None:
    ciphertext = encrypt(PLAINTEXT_3)
    assert_rejected(flip(ciphertext, HEADER_SIZE + SEALED - 1))
    assert_rejected(flip(ciphertext, len(ciphertext) - 1))


def test_wrong_key() -> None:
    assert_rejected(encrypt(PLAINTEXT_3), key=new_data_key())


def test_wrong_file_id() -> None:
    assert_rejected(encrypt(PLAINTEXT_3), file_id=os.urandom(16))


def test_bad_magic() -> None:
    ciphertext = encrypt(b"data")
    with pytest.raises(EnvelopeError, match="bad magic"):
        decrypt(b"XYZ" + ciphertext[3:])


def test_unsupported_version() -> None:
    ciphertext = encrypt(b"data")
    with pytest.raises(EnvelopeError, match=r"unsupported .* version 2"):
        decrypt(ciphertext[:3] + b"\x02" + ciphertext[4:])


def test_forged_huge_segment_size_is_refused_before_buffering() -> None:
    ciphertext = encrypt(b"data")
    forged = ciphertext[:4] + struct.pack(">I", 0xFFFFFFFF) + ciphertext[8:]
    with pytest.raises(EnvelopeError, match="segment size"):
        StreamDecryptor(KEY, FILE_ID).update(forged[:HEADER_SIZE])


def test_too_large_counter(monkeypatch: pytest.MonkeyPatch) -> None:
    ciphertext = encrypt(os.urandom(3 * SEG + 1))
    monkeypatch.setattr(envelope, "MAX_SEGMENT_COUNT", 3)
    with pytest.raises(EnvelopeError, match="counter"):
        decrypt(ciphertext)
    with pytest.raises(EnvelopeError, match="counter"):
        encrypt(os.urandom(3 * SEG + 1))
    fits = os.urandom(3 * SEG)  # exactly three segments: counters 0, 1, 2
    assert decrypt(encrypt(fits)) == fits


def test_no_plaintext_released_from_a_failing_segment() -> None:
    plaintext = b"A" * SEG + b"B" * SEG + b"C" * 10
    ciphertext = flip(encrypt(plaintext), HEADER_SIZE + SEALED + 7)  # inside segment 2 of 3
    decryptor = StreamDecryptor(KEY, FILE_ID)
    released = b""
    with pytest.raises(EnvelopeError, match="segment 1"):
        for i in range(len(ciphertext)):
            released += decryptor.update(ciphertext[i : i + 1])
    assert released == b"A" * SEG
    with pytest.raises(EnvelopeError):
        decryptor.finalize()


@settings(max_examples=100)
@given(size=boundary_sizes(), start=st.integers(0, 12))
def test_segments_open_one_by_one_from_any_position(size: int, start: int) -> None:
    # given: a reader that knows the file's length, resuming at segment `start`
    plaintext = os.urandom(size)
    ciphertext = encrypt(plaintext)
    header = StreamHeader.parse(ciphertext[:HEADER_SIZE])
    final = header.final_segment(len(ciphertext))
    assert header.segment_offset(final + 1) >= len(ciphertext) > header.segment_offset(final)
    start = min(start, final)
    opener = SegmentDecryptor(KEY, FILE_ID, header)
    out = bytearray(SEG)
    # when: each segment from there is opened into the same buffer
    opened = b""
    for index in range(start, final + 1):
        offset = header.segment_offset(index)
        sealed = ciphertext[offset : offset + SEALED]
        size_out = opener.open_into(index, sealed, out, last=index == final)
        opened += out[:size_out]
    # then: the plaintext from that segment on
    assert opened == plaintext[start * SEG :]


def test_a_segment_opened_at_another_position_or_as_final_releases_nothing() -> None:
    plaintext = b"A" * SEG + b"B" * SEG + b"C" * 10
    ciphertext = encrypt(plaintext)
    header = StreamHeader.parse(ciphertext[:HEADER_SIZE])
    opener = SegmentDecryptor(KEY, FILE_ID, header)
    second = ciphertext[header.segment_offset(1) : header.segment_offset(2)]
    out = bytearray(SEG)
    assert opener.open(1, second, last=False) == b"B" * SEG
    # a segment moved (a resume at the wrong offset), or passed off as the final one (the file
    # cut at a segment boundary): the tag fails, and the caller's buffer holds nothing of it
    for index, last in ((2, False), (1, True)):
        with pytest.raises(EnvelopeError, match="failed authentication"):
            opener.open_into(index, second, out, last=last)
        assert out == bytes(SEG)
    # a header altered (as saved for a resume): every segment fails
    forged = StreamHeader.parse(flip(ciphertext[:HEADER_SIZE], HEADER_SIZE - 1))
    with pytest.raises(EnvelopeError, match="segment 1 failed"):
        SegmentDecryptor(KEY, FILE_ID, forged).open(1, second, last=False)
    # less than a tag: truncated
    with pytest.raises(EnvelopeError, match="truncated"):
        opener.open_into(2, ciphertext[-5:], out, last=True)


def test_stream_header_is_checked_as_it_is_parsed() -> None:
    header = encrypt(b"data")[:HEADER_SIZE]
    with pytest.raises(EnvelopeError, match="incomplete header"):
        StreamHeader.parse(header[:-1])
    with pytest.raises(EnvelopeError, match="bad magic"):
        StreamHeader.parse(b"XYZ" + header[3:])
    with pytest.raises(EnvelopeError, match="segment size"):
        StreamHeader.parse(header[:4] + struct.pack(">I", 0) + header[8:])


def test_decrypt_chunks_streams_before_the_end() -> None:
    plaintext = os.urandom(3 * SEG)
    ciphertext = encrypt(plaintext)
    chunks = iter(split(ciphertext, list(range(0, len(ciphertext), 10))))
    first = next(decrypt_chunks(chunks, KEY, FILE_ID))
    assert first == plaintext[:SEG]


@pytest.mark.parametrize("bad_key", [b"", b"k" * 16, b"k" * 33])
def test_key_length_validated(bad_key: bytes) -> None:
    with pytest.raises(EnvelopeError, match="32 bytes"):
        StreamEncryptor(bad_key, FILE_ID)
    with pytest.raises(EnvelopeError, match="32 bytes"):
        StreamDecryptor(bad_key, FILE_ID)
    with pytest.raises(EnvelopeError, match="32 bytes"):
        wrap_data_key(bad_key, KEY, file_id=FILE_ID, kek_version=1)
    with pytest.raises(EnvelopeError, match="32 bytes"):
        wrap_data_key(KEY, bad_key, file_id=FILE_ID, kek_version=1)


def test_empty_file_id_and_bad_segment_size_rejected() -> None:
    with pytest.raises(EnvelopeError, match="file id"):
        StreamEncryptor(KEY, b"")
    with pytest.raises(EnvelopeError, match="segment size"):
        StreamEncryptor(KEY, FILE_ID, segment_size=0)


# --- key envelope ----------------------------------------------------------------------------

KEK = bytes(range(100, 132))


def test_new_data_key_is_random_32_bytes() -> None:
    assert len(new_data_key()) == 32
    assert new_data_key() != new_data_key()


def test_wrap_round_trip() -> None:
    data_key = new_data_key()
    wrapped = wrap_data_key(KEK, data_key, file_id=FILE_ID, kek_version=3)
    assert len(wrapped) == WRAPPED_KEY_SIZE == 60
    assert unwrap_data_key(KEK, wrapped, file_id=FILE_ID, kek_version=3) == data_key
    assert wrap_data_key(KEK, data_key, file_id=FILE_ID, kek_version=3) != wrapped


def test_unwrap_wrong_kek() -> None:
    wrapped = wrap_data_key(KEK, new_data_key(), file_id=FILE_ID, kek_version=1)
    with pytest.raises(EnvelopeError, match="cannot unwrap"):
        unwrap_data_key(new_data_key(), wrapped, file_id=FILE_ID, kek_version=1)


def test_unwrap_wrong_file_id() -> None:
    wrapped = wrap_data_key(KEK, new_data_key(), file_id=FILE_ID, kek_version=1)
    with pytest.raises(EnvelopeError, match="cannot unwrap"):
        unwrap_data_key(KEK, wrapped, file_id=os.urandom(16), kek_version=1)


def test_unwrap_wrong_version() -> None:
    wrapped = wrap_data_key(KEK, new_data_key(), file_id=FILE_ID, kek_version=1)
    with pytest.raises(EnvelopeError, match="cannot unwrap"):
        unwrap_data_key(KEK, wrapped, file_id=FILE_ID, kek_version=2)


def test_unwrap_tampered() -> None:
    wrapped = wrap_data_key(KEK, new_data_key(), file_id=FILE_ID, kek_version=1)
    for index in (0, 20, len(wrapped) - 1):
        with pytest.raises(EnvelopeError, match="cannot unwrap"):
            unwrap_data_key(KEK, flip(wrapped, index), file_id=FILE_ID, kek_version=1)
    with pytest.raises(EnvelopeError, match="60 bytes"):
        unwrap_data_key(KEK, wrapped[:-1], file_id=FILE_ID, kek_version=1)


def test_wrap_version_range() -> None:
    with pytest.raises(EnvelopeError, match="KEK version"):
        wrap_data_key(KEK, KEY, file_id=FILE_ID, kek_version=-1)
    with pytest.raises(EnvelopeError, match="KEK version"):
        wrap_data_key(KEK, KEY, file_id=FILE_ID, kek_version=1 << 32)
