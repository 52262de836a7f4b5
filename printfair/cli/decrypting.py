"""Decrypting a design as its ciphertext arrives: a thread of its own decrypts, hashes and
writes the plaintext, so that this work overlaps the network (printfair/cli/download.py feeds it
chunk by chunk) in bounded memory."""

from __future__ import annotations

import contextlib
import hashlib
import os
import queue
import sys
import threading
from collections.abc import Callable
from typing import IO, Final

from printfair.envelope import StreamDecryptor

__all__ = ["PIPELINE_DEPTH", "WRITE_BEHIND_BYTES", "DecryptingSink"]

# Chunks in flight between the network and the decrypting thread: bounds the memory held.
PIPELINE_DEPTH: Final = 4
# Plaintext is sent on its way to disk in steps of this size (see DecryptingSink._write).
WRITE_BEHIND_BYTES: Final = 8 << 20


def _dontneed(fd: int, offset: int, length: int) -> None:
    os.posix_fadvise(fd, offset, length, os.POSIX_FADV_DONTNEED)


# Linux starts writing back dirty pages it is told are not needed (without waiting for them).
_ADVISE: Callable[[int, int, int], None] | None = (
    _dontneed if hasattr(os, "posix_fadvise") and sys.platform.startswith("linux") else None
)


class DecryptingSink:
    """Decrypts, hashes and writes the plaintext in a thread of its own, fed through a short
    queue, so that this work overlaps the network and the ciphertext writes (socket reads, file
    writes and SHA-256 release the GIL). The queue's bound is the memory it may hold."""

    def __init__(self, decryptor: StreamDecryptor, plaintext: IO[bytes]) -> None:
        self.digest = hashlib.sha256()
        self._decryptor = decryptor
        self._plaintext = plaintext
        self._size = self._flushed = 0
        self._queue: queue.Queue[bytes | memoryview | None] = queue.Queue(PIPELINE_DEPTH)
        self._error: BaseException | None = None
        self._abandoned = threading.Event()
        self._thread = threading.Thread(target=self._run, name="printfair-decrypt", daemon=True)
        self._thread.start()

    def put(self, ciphertext: bytes | memoryview) -> None:
        """Queue a chunk; raises the worker's error (an EnvelopeError, say) once it has one."""
        self._send(ciphertext)

    def finish(self) -> int:
        """All the ciphertext was given: verify the final segment, flush and fsync the
        plaintext; returns its size."""
        self._send(None)
        self._thread.join()
        self._raise_failure()
        return self._size

    def stop(self) -> None:
        """Make sure the worker has ended (after a failure here, without finalizing)."""
        if not self._thread.is_alive():
            return
        self._abandoned.set()
        with contextlib.suppress(queue.Empty):
            while True:
                self._queue.get_nowait()
        with contextlib.suppress(queue.Full):
            self._queue.put_nowait(None)
        self._thread.join()

    def _send(self, item: bytes | memoryview | None) -> None:
        while True:
            self._raise_failure()
            try:
                self._queue.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def _raise_failure(self) -> None:
        if self._error is not None:
            raise self._error

    def _run(self) -> None:
        try:
            while (chunk := self._queue.get()) is not None:
                if self._abandoned.is_set():
                    return
                self._write(self._decryptor.update(chunk))
            if self._abandoned.is_set():
                return
            self._write(self._decryptor.finalize())
            self._plaintext.flush()
            os.fsync(self._plaintext.fileno())
        except BaseException as exc:  # handed to the main thread by put() / finish()
            self._error = exc

    def _write(self, clear: bytes) -> None:
        if clear:
            self.digest.update(clear)
            self._plaintext.write(clear)
            self._size += len(clear)
            if self._size - self._flushed >= WRITE_BEHIND_BYTES and _ADVISE is not None:
                # Start writing the plaintext to disk now, so that the fsync before the rename
                # has little left to wait for (and the page cache is not filled with it).
                self._plaintext.flush()
                _ADVISE(self._plaintext.fileno(), self._flushed, self._size - self._flushed)
                self._flushed = self._size
