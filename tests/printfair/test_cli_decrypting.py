"""The CLI's decrypting sink (printfair/cli/decrypting.py): the partial plaintext file of a design,
written from verified segments on the receiving thread and hashed on a thread of its own; the
download through it is tested end to end in test_cli_design.py."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

import pytest

from printfair.cli.decrypting import PIPELINE_DEPTH, DecryptingSink
from printfair.envelope import (
    HEADER_SIZE,
    TAG_SIZE,
    EnvelopeError,
    SegmentDecryptor,
    StreamEncryptor,
    StreamHeader,
)

SEG = 4096
KEY = bytes(range(32))
FILE_ID = bytes.fromhex("00112233445566778899aabbccddeeff")


def encrypted(plaintext: bytes) -> tuple[SegmentDecryptor, list[bytes]]:
    """A decryptor for ``plaintext`` encrypted in segments of SEG bytes, and its sealed
    segments."""
    encryptor = StreamEncryptor(KEY, FILE_ID, segment_size=SEG)
    ciphertext = encryptor.update(plaintext) + encryptor.finalize()
    header = StreamHeader.parse(ciphertext[:HEADER_SIZE])
    body, sealed = ciphertext[HEADER_SIZE:], SEG + TAG_SIZE
    return SegmentDecryptor(KEY, FILE_ID, header), [
        body[i : i + sealed] for i in range(0, len(body), sealed)
    ]


def test_a_resumed_part_is_hashed_again_with_the_rest(tmp_path: Path) -> None:
    # given: the first 3 segments of plaintext left by an earlier run, and a stray half segment
    plaintext = os.urandom(10 * SEG + 123)
    segments, sealed = encrypted(plaintext)
    part = tmp_path / ".part.stl.part"
    part.write_bytes(plaintext[: 3 * SEG + SEG // 2])
    # when: the rest goes through a sink that starts at segment 3
    sink = DecryptingSink(segments, part, first_segment=3)
    try:
        for index in range(3, len(sealed)):
            sink.put(sealed[index], last=index == len(sealed) - 1)
        size = sink.finish()
    finally:
        sink.close()
    # then: the whole file, its hash of every byte in it, the stray bytes gone
    assert size == len(plaintext) and part.read_bytes() == plaintext
    assert sink.digest.hexdigest() == hashlib.sha256(plaintext).hexdigest()
    assert stat.S_IMODE(part.stat().st_mode) == 0o600


def test_a_stream_without_its_final_segment_is_refused(tmp_path: Path) -> None:
    segments, sealed = encrypted(os.urandom(2 * PIPELINE_DEPTH * SEG))
    sink = DecryptingSink(segments, tmp_path / ".part", first_segment=0)
    try:
        for piece in sealed[:-1]:  # more segments than the pool has buffers
            sink.put(piece, last=False)
        with pytest.raises(EnvelopeError, match="the final segment is missing"):
            sink.finish()
    finally:
        sink.close()
