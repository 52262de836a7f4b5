"""Decrypting a design as its ciphertext arrives, into its partial plaintext file, in bounded
memory: printfair/cli/download.py hands over each sealed segment as it is received.

Each segment goes through three threads, in a pool of page-aligned buffers: the receiving thread
decrypts it (AES-GCM) into a buffer; a thread of its own hashes the plaintext (SHA-256, the
slowest step: about a seventh of AES-GCM's speed) while a third writes it to the file, and the
buffer goes back to the pool once both are done with it. Each thread's work releases the GIL.
When a download resumes, the hashing thread first hashes the plaintext already in the file,
while the rest arrives.

Where the file system takes it (Linux's ``O_DIRECT``), the plaintext goes from the buffers to
the disk without the page cache: writing through the cache cost more CPU (a copy, pages to find
and to reclaim, their writeback started) on the cores the receiving and the hashing threads
need, and took much more where the page cache was already full (bench/design_get.py). Elsewhere,
and for a final segment shorter than a block, the writes are buffered and sent on their way to
disk as they go.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import mmap
import os
import queue
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from printfair.cli.errors import CliError
from printfair.envelope import EnvelopeError, SegmentDecryptor

__all__ = ["PIPELINE_DEPTH", "WRITE_BEHIND_BYTES", "DecryptingSink", "PlaintextFile"]

# Plaintext buffers (a segment each) in the pipeline: the memory it holds.
PIPELINE_DEPTH: Final = 8
# Segments of plaintext waiting to be written are written together, up to this many.
WRITE_BATCH: Final = 4
# Buffered plaintext is sent on its way to disk in steps of this size (PlaintextFile.write).
WRITE_BEHIND_BYTES: Final = 8 << 20
# Direct writes are of whole blocks, at offsets that are multiples of this (a page: no device's
# logical block is larger), from page-aligned memory (mmap).
DIRECT_ALIGNMENT: Final = mmap.PAGESIZE
# How long the receiving thread waits for a buffer before it looks for the other threads' failure.
_POLL_SECONDS: Final = 0.1
_DIRECT: Final = getattr(os, "O_DIRECT", 0)
_WRITEV: Final = hasattr(os, "writev")


def _dontneed(fd: int, offset: int, length: int) -> None:
    os.posix_fadvise(fd, offset, length, os.POSIX_FADV_DONTNEED)


# Linux starts writing back dirty pages it is told are not needed (without waiting for them).
_ADVISE: Callable[[int, int, int], None] | None = (
    _dontneed if hasattr(os, "posix_fadvise") and sys.platform.startswith("linux") else None
)


class PlaintextFile:
    """The partial plaintext file, readable by its owner only, open for writing after its first
    ``keep`` bytes (created, or emptied, when ``keep`` is 0).

    Whole blocks at aligned offsets are written with ``O_DIRECT`` where the file system takes
    it; anything else (no ``O_DIRECT``, a file system that refuses it, a short final segment)
    is written through the page cache, which is told as it goes that the pages are not needed
    (so that the fsync before the rename has little left to wait for)."""

    def __init__(self, path: Path, *, keep: int, direct: bool = True) -> None:
        flags = os.O_WRONLY | os.O_CREAT | getattr(os, "O_BINARY", 0) | (0 if keep else os.O_TRUNC)
        self._direct = bool(direct and _DIRECT) and keep % DIRECT_ALIGNMENT == 0
        self.fd = self._open(path, flags)
        try:
            if hasattr(os, "fchmod"):
                os.fchmod(self.fd, 0o600)  # O_CREAT's mode does not apply to an existing file
            os.ftruncate(self.fd, keep)
            os.lseek(self.fd, keep, os.SEEK_SET)
        except BaseException:
            os.close(self.fd)
            raise
        self._size = self._flushed = keep

    def _open(self, path: Path, flags: int) -> int:
        if self._direct:
            try:
                return os.open(path, flags | _DIRECT, 0o600)
            except OSError as exc:
                if exc.errno != errno.EINVAL:  # the file system does not take O_DIRECT
                    raise
                self._direct = False
        return os.open(path, flags, 0o600)

    def write(self, pieces: Sequence[memoryview]) -> None:
        """Append ``pieces``, in one system call where there is ``writev`` (page-aligned
        buffers, for a direct write)."""
        if self._direct and any(len(piece) % DIRECT_ALIGNMENT for piece in pieces):
            self._buffered()
        try:
            self._write_all(pieces)
        except OSError as exc:
            if not self._direct or exc.errno != errno.EINVAL:
                raise
            self._buffered()  # the device wants a larger alignment: write through the cache
            self._write_all(pieces)
        self._size += sum(len(piece) for piece in pieces)
        if not self._direct and self._size - self._flushed >= WRITE_BEHIND_BYTES:
            if _ADVISE is not None:
                _ADVISE(self.fd, self._flushed, self._size - self._flushed)
            self._flushed = self._size

    def _write_all(self, pieces: Sequence[memoryview]) -> None:
        done = os.writev(self.fd, pieces) if _WRITEV and len(pieces) > 1 else 0
        for piece in pieces:  # what a short writev left, or each piece without writev
            if done >= len(piece):
                done -= len(piece)
                continue
            while done < len(piece):
                with piece[done:] as rest:
                    done += os.write(self.fd, rest)
            done = 0

    @property
    def direct(self) -> bool:
        """Whether the next whole blocks go to the disk without the page cache."""
        return self._direct

    def _buffered(self) -> None:
        if self._direct:
            os.lseek(self.fd, self._size, os.SEEK_SET)  # where the last whole write ended
            import fcntl

            fcntl.fcntl(self.fd, fcntl.F_SETFL, fcntl.fcntl(self.fd, fcntl.F_GETFL) & ~_DIRECT)
            self._direct = False
            self._flushed = self._size  # what was written directly is on its way already

    def sync(self) -> None:
        os.fsync(self.fd)

    def close(self) -> None:
        os.close(self.fd)


@dataclass(eq=False)
class _Plaintext:
    """A segment's plaintext: the first ``size`` bytes of ``buffer``, and how many threads
    have yet to be done with it."""

    buffer: mmap.mmap
    size: int
    users: int = 2

    def view(self) -> memoryview:
        return memoryview(self.buffer)[: self.size]


class DecryptingSink:
    """The partial plaintext file of one design, written from verified segments only.

    ``put`` decrypts the next sealed segment into a buffer and hands it to both the hashing and
    the writing thread, the buffer going back to the pool when both are done with it;
    ``finish`` waits for them and flushes the file to disk; ``close`` ends the threads and
    closes the file whatever happened (what was verified is written first, for a resume). A
    sink that starts at segment ``first_segment`` keeps that many segments of plaintext already
    in the file and hashes them first.
    """

    def __init__(self, segments: SegmentDecryptor, path: Path, *, first_segment: int) -> None:
        self.digest = hashlib.sha256()
        self.segments = segments
        self._segment_size = segments.header.segment_size
        self._index = first_segment
        self._final = False
        self._path = path
        self._resumed = self._size = first_segment * self._segment_size
        self._plaintext = PlaintextFile(path, keep=self._resumed)
        self._buffers = 0
        self._free: queue.SimpleQueue[mmap.mmap] = queue.SimpleQueue()
        # A buffer's plaintext is hashed and written at once; the one to finish frees it.
        self._hashing: queue.SimpleQueue[_Plaintext | None] = queue.SimpleQueue()
        self._writing: queue.SimpleQueue[_Plaintext | None] = queue.SimpleQueue()
        self._handing_back = threading.Lock()
        self._error: BaseException | None = None
        self._abandoned = threading.Event()
        self._threads = [
            threading.Thread(target=self._hash, name="printfair-sha256", daemon=True),
            threading.Thread(target=self._write, name="printfair-write", daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def put(self, sealed: bytes | memoryview, *, last: bool) -> None:
        """Decrypt the next segment (``last``: the final one) and pass its plaintext on; raises
        EnvelopeError if its tag does not verify, or the other threads' error."""
        buffer = self._buffer()
        try:
            size = self.segments.open_into(self._index, sealed, buffer, last=last)
        except BaseException:
            self._free.put(buffer)
            raise
        self._index += 1
        self._final = last
        self._size += size
        plaintext = _Plaintext(buffer, size)
        self._hashing.put(plaintext)
        self._writing.put(plaintext)

    def finish(self) -> int:
        """The final segment was put: the file on disk (fsync), its hash complete; returns the
        plaintext's size."""
        if not self._final:
            raise EnvelopeError("encrypted file is truncated: the final segment is missing")
        self._join()
        self._raise_failure()
        self._plaintext.sync()
        return self._size

    def close(self) -> None:
        """End the threads (the segments verified are written, unhashed after a failure) and
        close the file."""
        self._abandoned.set()
        self._join()
        self._plaintext.close()

    def _join(self) -> None:
        for thread, work in zip(self._threads, (self._hashing, self._writing), strict=True):
            if thread.is_alive():
                work.put(None)
                thread.join()

    def _buffer(self) -> mmap.mmap:
        """A free plaintext buffer: a new one (page-aligned) while the pool is not full, else
        the next one the other threads give back."""
        if self._buffers < PIPELINE_DEPTH and self._free.empty():
            self._buffers += 1
            return mmap.mmap(-1, self._segment_size)
        while True:
            self._raise_failure()
            with contextlib.suppress(queue.Empty):
                return self._free.get(timeout=_POLL_SECONDS)

    def _done(self, plaintext: _Plaintext) -> None:
        """One thread is done with ``plaintext``: its buffer is free once both are."""
        with self._handing_back:
            plaintext.users -= 1
            if plaintext.users:
                return
        self._free.put(plaintext.buffer)

    def _raise_failure(self) -> None:
        if self._error is not None:
            raise self._error

    def _fail(self, exc: BaseException) -> None:
        """Handed to the receiving thread by put() and finish()."""
        if self._error is None:
            self._error = exc

    def _hash(self) -> None:
        try:
            self._hash_resumed()
            while (plaintext := self._hashing.get()) is not None:
                if not self._abandoned.is_set():
                    with plaintext.view() as clear:
                        self.digest.update(clear)
                self._done(plaintext)
        except BaseException as exc:
            self._fail(exc)

    def _write(self) -> None:
        """Write the plaintext in order, the segments waiting taken together (up to
        WRITE_BATCH): larger writes, fewer of them, when the disk is the slower."""
        try:
            while (plaintext := self._writing.get()) is not None:
                batch = [plaintext]
                while len(batch) < WRITE_BATCH:
                    try:
                        plaintext = self._writing.get_nowait()
                    except queue.Empty:
                        break
                    if plaintext is None:
                        break
                    batch.append(plaintext)
                with contextlib.ExitStack() as views:
                    self._plaintext.write([views.enter_context(each.view()) for each in batch])
                for each in batch:
                    self._done(each)
                if plaintext is None:
                    return
        except BaseException as exc:
            self._fail(exc)

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
