"""The CLI's decrypting sink (printfair/cli/decrypting.py): the partial plaintext file of a design,
decrypted from verified segments on the receiving thread, hashed and written on threads of their
own (with O_DIRECT where the file system takes it); the download through it is tested end to end
in test_cli_design.py."""

from __future__ import annotations

import errno
import fcntl
import hashlib
import mmap
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from printfair.cli import decrypting
from printfair.cli.decrypting import PIPELINE_DEPTH, DecryptingSink, PlaintextFile
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


@pytest.fixture(params=["direct", "cached"])
def writes(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Each sink test with the plaintext written as on Linux (O_DIRECT where the file system
    takes it) and as where there is no O_DIRECT (through the page cache)."""
    if request.param == "cached":
        monkeypatch.setattr(decrypting, "_DIRECT", 0)
    return str(request.param)


def put_all(sink: DecryptingSink, sealed: list[bytes], start: int = 0) -> None:
    for index in range(start, len(sealed)):
        sink.put(sealed[index], last=index == len(sealed) - 1)


def test_a_resumed_part_is_hashed_again_with_the_rest(tmp_path: Path, writes: str) -> None:
    # given: the first 3 segments of plaintext left by an earlier run, and a stray half segment
    plaintext = os.urandom(10 * SEG + 123)
    segments, sealed = encrypted(plaintext)
    part = tmp_path / ".part.stl.part"
    part.write_bytes(plaintext[: 3 * SEG + SEG // 2])
    # when: the rest goes through a sink that starts at segment 3
    sink = DecryptingSink(segments, part, first_segment=3)
    try:
        put_all(sink, sealed, start=3)
        size = sink.finish()
    finally:
        sink.close()
    # then: the whole file, its hash of every byte in it, the stray bytes gone
    assert size == len(plaintext) and part.read_bytes() == plaintext
    assert sink.digest.hexdigest() == hashlib.sha256(plaintext).hexdigest()
    assert stat.S_IMODE(part.stat().st_mode) == 0o600


def test_a_stream_without_its_final_segment_is_refused(tmp_path: Path, writes: str) -> None:
    segments, sealed = encrypted(os.urandom(2 * PIPELINE_DEPTH * SEG))
    sink = DecryptingSink(segments, tmp_path / ".part", first_segment=0)
    try:
        for piece in sealed[:-1]:  # more segments than the pool has buffers
            sink.put(piece, last=False)
        with pytest.raises(EnvelopeError, match="the final segment is missing"):
            sink.finish()
    finally:
        sink.close()


def test_a_download_stopped_part_way_keeps_every_verified_segment(
    tmp_path: Path, writes: str
) -> None:
    plaintext = os.urandom(3 * PIPELINE_DEPTH * SEG)
    segments, sealed = encrypted(plaintext)
    part = tmp_path / ".part"
    sink = DecryptingSink(segments, part, first_segment=0)
    for piece in sealed[:-5]:
        sink.put(piece, last=False)
    sink.close()  # the transfer broke: what was verified is written before the file closes
    assert part.read_bytes() == plaintext[: (len(sealed) - 5) * SEG]


def test_a_disk_that_fails_stops_the_download_with_its_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full(self: PlaintextFile, pieces: Any) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(PlaintextFile, "write", full)
    segments, sealed = encrypted(os.urandom(4 * PIPELINE_DEPTH * SEG))
    sink = DecryptingSink(segments, tmp_path / ".part", first_segment=0)
    try:
        with pytest.raises(OSError, match="No space left") as refused:
            put_all(sink, sealed)
            sink.finish()
    finally:
        sink.close()
    assert refused.value.errno == errno.ENOSPC


@pytest.fixture
def direct_file(tmp_path: Path) -> Iterator[PlaintextFile]:
    plaintext = PlaintextFile(tmp_path / ".part", keep=0)
    if not plaintext.direct:
        plaintext.close()
        pytest.skip("no O_DIRECT here (not Linux, or a file system that refuses it)")
    yield plaintext
    plaintext.close()


def test_whole_blocks_bypass_the_page_cache_and_a_short_end_does_not(
    tmp_path: Path, direct_file: PlaintextFile
) -> None:
    blocks = [aligned(os.urandom(SEG)) for _ in range(3)]
    direct_file.write(blocks[:2])
    assert fcntl.fcntl(direct_file.fd, fcntl.F_GETFL) & os.O_DIRECT
    tail = aligned(os.urandom(123))
    direct_file.write([blocks[2], tail])  # a short piece: the rest is written through the cache
    direct_file.sync()
    assert not direct_file.direct
    assert not fcntl.fcntl(direct_file.fd, fcntl.F_GETFL) & os.O_DIRECT
    assert (tmp_path / ".part").read_bytes() == b"".join(bytes(piece) for piece in [*blocks, tail])


def test_a_device_that_refuses_a_direct_write_gets_it_through_the_cache(
    tmp_path: Path, direct_file: PlaintextFile, monkeypatch: pytest.MonkeyPatch
) -> None:
    block = aligned(os.urandom(SEG))
    direct_file.write([block])
    write = os.write

    def refused(fd: int, data: Any) -> int:  # a device with logical blocks larger than a page
        if fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_DIRECT:
            raise OSError(errno.EINVAL, "Invalid argument")
        return write(fd, data)

    monkeypatch.setattr(os, "write", refused)
    direct_file.write([block])
    assert not direct_file.direct
    assert (tmp_path / ".part").read_bytes() == bytes(block) * 2


def test_a_file_system_that_refuses_o_direct_is_written_through_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened = os.open

    def no_direct(path: Any, flags: int, mode: int = 0o777) -> int:
        if flags & getattr(os, "O_DIRECT", 0):
            raise OSError(errno.EINVAL, "Invalid argument")
        return opened(path, flags, mode)

    monkeypatch.setattr(os, "open", no_direct)
    plaintext = os.urandom(5 * SEG + 7)
    segments, sealed = encrypted(plaintext)
    sink = DecryptingSink(segments, tmp_path / ".part", first_segment=0)
    try:
        put_all(sink, sealed)
        assert sink.finish() == len(plaintext)
    finally:
        sink.close()
    assert (tmp_path / ".part").read_bytes() == plaintext


def aligned(data: bytes) -> memoryview:
    """``data`` in page-aligned memory, as the sink's buffers are (mmap)."""

    buffer = mmap.mmap(-1, max(len(data), 1))
    buffer[: len(data)] = data
    return memoryview(buffer)[: len(data)]
