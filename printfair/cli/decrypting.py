"""Decrypting a design as its ciphertext arrives, into its partial plaintext file, in bounded
memory: printfair/cli/download.py hands over each sealed segment as it is received.

The work is split over two threads, each with a share that releases the GIL: the receiving
thread decrypts each segment (AES-GCM) into a buffer of a small pool and writes it to the file;
a thread of its own hashes the plaintext (SHA-256, the slowest step: about a quarter of
AES-GCM's speed) and gives the buffer back. When a download resumes, that thread first hashes
the plaintext already in the file, while the rest arrives.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import queue
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import IO, Final

from printfair.cli.errors import CliError
from printfair.envelope import EnvelopeError, SegmentDecryptor

__all__ = ["PIPELINE_DEPTH", "WRITE_BEHIND_BYTES", "DecryptingSink"]

# Plaintext buffers (a segment each) between the two threads: the memory the pipeline holds.
PIPELINE_DEPTH: Final = 4
# Plaintext is sent on its way to disk in steps of this size (see DecryptingSink._write_behind).
WRITE_BEHIND_BYTES: Final = 8 << 20
# How long the receiving thread waits for a buffer before it looks for the hasher's failure.
_POLL_SECONDS: Final = 0.1


def _dontneed(fd: int, offset: int, length: int) -> None:
    os.posix_fadvise(fd, offset, length, os.POSIX_FADV_DONTNEED)


# Linux starts writing back dirty pages it is told are not needed (without waiting for them).
_ADVISE: Callable[[int, int, int], None] | None = (
    _dontneed if hasattr(os, "posix_fadvise") and sys.platform.startswith("linux") else None
)


def _private_file(path: Path, *, keep: int) -> IO[bytes]:
    """``path`` opened for writing after its first ``keep`` bytes (created, or emptied, when
    ``keep`` is 0), readable by its owner only."""
    flags = os.O_WRONLY | os.O_CREAT | getattr(os, "O_BINARY", 0)
    fd = os.open(path, flags | (0 if keep else os.O_TRUNC), 0o600)
    try:
        if hasattr(os, "fchmod"):
            os.fchmod(fd, 0o600)  # O_CREAT's mode does not apply to a file that was already there
        os.ftruncate(fd, keep)
        os.lseek(fd, keep, os.SEEK_SET)
    except BaseException:
        os.close(fd)
        raise
    return os.fdopen(fd, "wb")


class DecryptingSink:
    """The partial plaintext file of one design, written from verified segments only.

    ``put`` decrypts the next sealed segment, writes its plaintext and queues it for the hashing
    thread; ``finish`` flushes the file to disk and waits for the hash; ``close`` ends the
    thread and closes the file whatever happened. A sink that starts at segment ``first_segment``
    keeps that many segments of plaintext already in the file and hashes them first.
    """

    def __init__(self, segments: SegmentDecryptor, path: Path, *, first_segment: int) -> None:
        self.digest = hashlib.sha256()
        self.segments = segments
        self._segment_size = segments.header.segment_size
        self._index = first_segment
        self._final = False
        self._path = path
        self._resumed = self._size = self._flushed = first_segment * self._segment_size
        self._plaintext = _private_file(path, keep=self._resumed)
        self._buffers = 0
        self._free: queue.SimpleQueue[bytearray] = queue.SimpleQueue()
        self._hashing: queue.SimpleQueue[tuple[bytearray, int] | None] = queue.SimpleQueue()
        self._error: BaseException | None = None
        self._abandoned = threading.Event()
        self._thread = threading.Thread(target=self._run, name="printfair-sha256", daemon=True)
        self._thread.start()

    def put(self, sealed: bytes | memoryview, *, last: bool) -> None:
        """Decrypt the next segment (``last``: the final one) and write its plaintext; raises
        EnvelopeError if its tag does not verify, or the hashing thread's error."""
        buffer = self._buffer()
        try:
            size = self.segments.open_into(self._index, sealed, buffer, last=last)
            with memoryview(buffer) as view, view[:size] as clear:
                self._plaintext.write(clear)
        except BaseException:
            self._free.put(buffer)
            raise
        self._index += 1
        self._final = last
        self._size += size
        self._hashing.put((buffer, size))
        self._write_behind()

    def finish(self) -> int:
        """The final segment was put: the file on disk (fsync), its hash complete; returns the
        plaintext's size."""
        if not self._final:
            raise EnvelopeError("encrypted file is truncated: the final segment is missing")
        self._hashing.put(None)
        self._plaintext.flush()
        os.fsync(self._plaintext.fileno())
        self._thread.join()
        self._raise_failure()
        return self._size

    def close(self) -> None:
        """End the hashing thread (at once, after a failure) and close the file."""
        if self._thread.is_alive():
            self._abandoned.set()
            self._hashing.put(None)
            self._thread.join()
        self._plaintext.close()

    def _buffer(self) -> bytearray:
        """A free plaintext buffer: a new one while the pool is not full, else the next one the
        hashing thread gives back."""
        if self._buffers < PIPELINE_DEPTH and self._free.empty():
            self._buffers += 1
            return bytearray(self._segment_size)
        while True:
            self._raise_failure()
            with contextlib.suppress(queue.Empty):
                return self._free.get(timeout=_POLL_SECONDS)

    def _raise_failure(self) -> None:
        if self._error is not None:
            raise self._error

    def _write_behind(self) -> None:
        if self._size - self._flushed >= WRITE_BEHIND_BYTES and _ADVISE is not None:
            # Start writing the plaintext to disk now, so that the fsync before the rename has
            # little left to wait for (and the page cache is not filled with it).
            self._plaintext.flush()
            _ADVISE(self._plaintext.fileno(), self._flushed, self._size - self._flushed)
            self._flushed = self._size

    def _run(self) -> None:
        try:
            self._hash_resumed()
            while (item := self._hashing.get()) is not None and not self._abandoned.is_set():
                buffer, size = item
                with memoryview(buffer) as view, view[:size] as clear:
                    self.digest.update(clear)
                self._free.put(buffer)
        except BaseException as exc:  # handed to the receiving thread by put() / finish()
            self._error = exc

    def _hash_resumed(self) -> None:
        """The plaintext an earlier run left, hashed again from the file: only what is hashed
        in this run is taken for the check before the rename."""
        left = self._resumed
        if not left:
            return
        buffer = bytearray(self._segment_size)
        with self._path.open("rb") as handle, memoryview(buffer) as view:
            while left and not self._abandoned.is_set():
                read = handle.readinto(view[: min(left, len(view))])
                if not read:
                    raise CliError(f"{self._path} shrank while it was read")
                self.digest.update(view[:read])
                left -= read
