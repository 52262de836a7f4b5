"""The encrypted design-file format: the one implementation of it.

Designs are stored only as ciphertext. Each file is encrypted under its own random 256-bit
*data key* with the STREAM construction (Hoang, Reyhanitabar, Rogaway, Vizár, "Online
Authenticated-Encryption and its Nonce-Reuse Misuse-Resistance", as used by age and by Google
Tink's streaming AEAD) over AES-256-GCM, so that files of any size can be encrypted and
decrypted in bounded memory while every segment is authenticated before it is released.

Layout of an encrypted file::

    header   = b"PFE" || version (1 byte, = 1) || segment size (uint32 BE) || nonce prefix (7 bytes)
    segments = seal(segment 0) || seal(segment 1) || ... || seal(final segment)

Every plaintext segment is ``segment_size`` bytes except the final one, which holds the rest
(possibly a full segment, possibly nothing: the empty file is one empty final segment). Segment
``i`` is sealed with AES-256-GCM under the nonce ``prefix || uint32_be(i) || last`` where ``last``
is 1 for the final segment and 0 otherwise, and with the associated data ``header || file_id``.
The counter in the nonce pins each segment to its position, the last-segment flag makes
truncation at a segment boundary detectable, and the associated data authenticates the header
and binds the ciphertext to the file it belongs to.

A reader that knows the file's length knows where each sealed segment starts and which is the
final one, so it can open segments one by one from any position (``SegmentDecryptor``: a
download that resumes at a segment); ``StreamDecryptor`` is for a stream of unknown length.

The data key itself is stored wrapped (AES-256-GCM) under a key-encryption key (KEK); the wrap
binds the KEK version and the file id, so a wrapped key cannot be moved to another file.
"""

from __future__ import annotations

import mmap
import os
import struct
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Final, TypeVar

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

__all__ = [
    "HEADER_SIZE",
    "KEY_SIZE",
    "MAX_SEGMENT_SIZE",
    "SEGMENT_SIZE",
    "TAG_SIZE",
    "WRAPPED_KEY_SIZE",
    "EnvelopeError",
    "SegmentDecryptor",
    "StreamDecryptor",
    "StreamEncryptor",
    "StreamHeader",
    "ciphertext_size",
    "decrypt_chunks",
    "new_data_key",
    "unwrap_data_key",
    "wrap_data_key",
]

MAGIC: Final = b"PFE"
VERSION: Final = 1
KEY_SIZE: Final = 32
TAG_SIZE: Final = 16
NONCE_PREFIX_SIZE: Final = 7
SEGMENT_SIZE: Final = 1 << 20
# The decryptor must buffer a whole segment before it can authenticate it, and it learns the
# segment size from a header that is itself only authenticated by the first segment's tag, so
# an upper bound keeps a forged header from making it buffer without limit.
MAX_SEGMENT_SIZE: Final = 1 << 24

_HEADER = struct.Struct(">3sBI7s")
HEADER_SIZE: Final = _HEADER.size
# The segment counter is a uint32 in the nonce; reusing a counter value would reuse a nonce.
MAX_SEGMENT_COUNT = 1 << 32

_WRAP_LABEL: Final = b"printfair/data-key/v1"
_WRAP_NONCE_SIZE: Final = 12
WRAPPED_KEY_SIZE: Final = _WRAP_NONCE_SIZE + KEY_SIZE + TAG_SIZE

_T = TypeVar("_T")


class EnvelopeError(ValueError):
    """Any failure to encrypt, decrypt, wrap or unwrap: bad input, tampering, wrong key."""


def new_data_key() -> bytes:
    """Return a fresh random 256-bit data key (one per file, never reused)."""
    return os.urandom(KEY_SIZE)


def ciphertext_size(plaintext_size: int, segment_size: int = SEGMENT_SIZE) -> int:
    """Return the exact size of the encryption of ``plaintext_size`` bytes."""
    _check_segment_size(segment_size)
    if plaintext_size < 0:
        raise EnvelopeError(f"plaintext size must not be negative, got {plaintext_size}")
    # Ceiling division, but the empty plaintext still has one (empty) final segment.
    segments = max(1, -(-plaintext_size // segment_size))
    return HEADER_SIZE + plaintext_size + segments * TAG_SIZE


def _check_key(key: bytes, what: str) -> None:
    if len(key) != KEY_SIZE:
        raise EnvelopeError(f"{what} must be {KEY_SIZE} bytes (AES-256), got {len(key)} bytes")


def _check_file_id(file_id: bytes) -> None:
    # An empty id would silently bind the ciphertext to nothing; that is always a caller bug.
    if not file_id:
        raise EnvelopeError("file id must not be empty")


def _check_segment_size(segment_size: int) -> None:
    if not 1 <= segment_size <= MAX_SEGMENT_SIZE:
        raise EnvelopeError(
            f"segment size must be between 1 and {MAX_SEGMENT_SIZE} bytes, got {segment_size}"
        )


def _nonce(prefix: bytes, counter: int, last: bool) -> bytes:
    if counter >= MAX_SEGMENT_COUNT:
        raise EnvelopeError("too many segments: the segment counter would overflow")
    return prefix + counter.to_bytes(4, "big") + (b"\x01" if last else b"\x00")


class StreamEncryptor:
    """Push-style encryptor: feed plaintext in chunks of any size, collect ciphertext.

    ``update()`` returns the ciphertext that is complete so far (the header comes with the first
    output); ``finalize()`` returns the rest. Memory stays below two segments whatever the input.
    """

    def __init__(
        self, data_key: bytes, file_id: bytes, *, segment_size: int = SEGMENT_SIZE
    ) -> None:
        _check_key(data_key, "data key")
        _check_file_id(file_id)
        _check_segment_size(segment_size)
        self._aead = AESGCM(data_key)
        self._segment_size = segment_size
        self._prefix = os.urandom(NONCE_PREFIX_SIZE)
        header = _HEADER.pack(MAGIC, VERSION, segment_size, self._prefix)
        self._associated_data = header + file_id
        self._pending_header: bytes | None = header
        self._buffer = bytearray()
        self._counter = 0
        self._finished = False

    def update(self, data: bytes | bytearray | memoryview) -> bytes:
        """Add plaintext; return every segment that is now known not to be the final one."""
        if self._finished:
            raise EnvelopeError("update() called after finalize()")
        self._buffer += data
        size = self._segment_size
        # A segment that is exactly full might still be the final one, and the final one must
        # carry the last-segment flag, so seal only while more data is known to follow it.
        sealable = (len(self._buffer) - 1) // size if self._buffer else 0
        out = [self._take_header()]
        if sealable:
            with memoryview(self._buffer) as view:
                for i in range(sealable):
                    out.append(self._seal(view[i * size : (i + 1) * size], last=False))
            del self._buffer[: sealable * size]
        return b"".join(out)

    def finalize(self) -> bytes:
        """Seal the final segment (possibly empty) and return the remaining ciphertext."""
        if self._finished:
            raise EnvelopeError("finalize() called twice")
        self._finished = True
        out = self._take_header() + self._seal(self._buffer, last=True)
        self._buffer = bytearray()
        return out

    def _take_header(self) -> bytes:
        header, self._pending_header = self._pending_header, None
        return header or b""

    def _seal(self, segment: bytes | bytearray | memoryview, *, last: bool) -> bytes:
        nonce = _nonce(self._prefix, self._counter, last)
        self._counter += 1
        return self._aead.encrypt(nonce, segment, self._associated_data)


@dataclass(frozen=True)
class StreamHeader:
    """An encrypted file's header, parsed: the segment size and nonce prefix, and where each
    sealed segment starts. It is authenticated only when a segment's tag verifies (every
    segment's associated data holds it)."""

    raw: bytes
    segment_size: int
    nonce_prefix: bytes

    @classmethod
    def parse(cls, data: bytes | bytearray | memoryview) -> StreamHeader:
        raw = bytes(data)
        if len(raw) != HEADER_SIZE:
            raise EnvelopeError("encrypted file is truncated: incomplete header")
        magic, version, segment_size, prefix = _HEADER.unpack(raw)
        if magic != MAGIC:
            raise EnvelopeError("not a PrintFair encrypted file (bad magic)")
        if version != VERSION:
            raise EnvelopeError(f"unsupported encrypted file version {version}")
        _check_segment_size(segment_size)
        return cls(raw, segment_size, prefix)

    @property
    def sealed_size(self) -> int:
        return self.segment_size + TAG_SIZE

    def segment_offset(self, index: int) -> int:
        """Where sealed segment ``index`` starts in the encrypted file."""
        return HEADER_SIZE + index * self.sealed_size

    def final_segment(self, ciphertext_size: int) -> int:
        """The index of the final segment of an encrypted file of ``ciphertext_size`` bytes."""
        return max(0, (ciphertext_size - HEADER_SIZE - 1) // self.sealed_size)


class SegmentDecryptor:
    """Opens one encrypted file's sealed segments one at a time, by index, for a reader that
    knows which segment is the final one (it knows the file's length).

    Each tag binds the segment to its index, the final flag, the header and the file id, so a
    reader given a wrong length, position or header gets an ``EnvelopeError``, never plaintext.
    """

    def __init__(self, data_key: bytes, file_id: bytes, header: StreamHeader) -> None:
        _check_key(data_key, "data key")
        _check_file_id(file_id)
        self.header = header
        self._aead = AESGCM(data_key)
        self._associated_data = header.raw + file_id

    def open(self, index: int, sealed: bytes | bytearray | memoryview, *, last: bool) -> bytes:
        """The plaintext of sealed segment ``index``."""
        return self._verified(
            index, last, lambda nonce: self._aead.decrypt(nonce, sealed, self._associated_data)
        )

    def open_into(
        self,
        index: int,
        sealed: bytes | bytearray | memoryview,
        out: bytearray | mmap.mmap,
        *,
        last: bool,
    ) -> int:
        """Decrypt sealed segment ``index`` into the start of ``out`` (at least a segment long);
        returns the plaintext's length. On failure that part of ``out`` is zeroed: the
        unverified plaintext is not left in the caller's buffer."""
        size = len(sealed) - TAG_SIZE
        if size < 0:
            raise EnvelopeError("encrypted file is truncated: a segment shorter than its tag")
        with memoryview(out) as whole, whole[:size] as view:
            try:
                self._verified(
                    index,
                    last,
                    lambda nonce: self._aead.decrypt_into(
                        nonce, sealed, self._associated_data, view
                    ),
                )
            except EnvelopeError:
                view[:] = bytes(size)
                raise
        return size

    def _verified(self, index: int, last: bool, decrypt: Callable[[bytes], _T]) -> _T:
        try:
            return decrypt(_nonce(self.header.nonce_prefix, index, last))
        except InvalidTag:
            position = "final segment" if last else f"segment {index}"
            raise EnvelopeError(
                f"{position} failed authentication: wrong key or file id, or the file was "
                "truncated, reordered or tampered with"
            ) from None


class StreamDecryptor:
    """Push-style decryptor: feed ciphertext in chunks of any size, collect verified plaintext.

    ``update()`` returns only plaintext whose segment tag has verified; because a full segment may
    turn out to be the final one, the last complete segment is held back until more data arrives
    or ``finalize()`` is called. ``finalize()`` verifies the final segment and so detects
    truncation. After any error the decryptor refuses further use.
    """

    def __init__(self, data_key: bytes, file_id: bytes) -> None:
        _check_key(data_key, "data key")
        _check_file_id(file_id)
        self._data_key = data_key
        self._file_id = file_id
        self._buffer = bytearray()
        # Set once the header has been parsed.
        self._segments: SegmentDecryptor | None = None
        self._counter = 0
        self._closed = False

    def update(self, data: bytes | bytearray | memoryview) -> bytes:
        """Add ciphertext; return the plaintext of every segment verified so far."""
        self._check_open()
        try:
            return self._update(data)
        except EnvelopeError:
            self._closed = True
            raise

    def finalize(self) -> bytes:
        """Verify the final segment and return its plaintext; raise if the file is incomplete."""
        self._check_open()
        self._closed = True
        if self._segments is None:
            raise EnvelopeError("encrypted file is truncated: incomplete header")
        if len(self._buffer) < TAG_SIZE:
            raise EnvelopeError("encrypted file is truncated: the final segment is missing")
        plaintext = self._open(self._segments, self._buffer, last=True)
        self._buffer = bytearray()
        return plaintext

    def _check_open(self) -> None:
        if self._closed:
            raise EnvelopeError("decryptor already finalized or failed")

    def _update(self, data: bytes | bytearray | memoryview) -> bytes:
        self._buffer += data
        if self._segments is None:
            if len(self._buffer) < HEADER_SIZE:
                return b""
            header = StreamHeader.parse(self._buffer[:HEADER_SIZE])
            del self._buffer[:HEADER_SIZE]
            self._segments = SegmentDecryptor(self._data_key, self._file_id, header)
        segments = self._segments
        size = segments.header.sealed_size
        # Hold back a segment until at least one more byte follows: only then is it known
        # not to be the final segment.
        openable = (len(self._buffer) - 1) // size if self._buffer else 0
        if not openable:
            return b""
        with memoryview(self._buffer) as view:
            out = [
                self._open(segments, view[i * size : (i + 1) * size], last=False)
                for i in range(openable)
            ]
        del self._buffer[: openable * size]
        return b"".join(out)

    def _open(
        self, segments: SegmentDecryptor, sealed: bytearray | memoryview, *, last: bool
    ) -> bytes:
        plaintext = segments.open(self._counter, sealed, last=last)
        self._counter += 1
        return plaintext


def decrypt_chunks(
    chunks: Iterable[bytes | bytearray | memoryview], data_key: bytes, file_id: bytes
) -> Iterator[bytes]:
    """Decrypt a stream of ciphertext chunks lazily, yielding verified plaintext.

    Plaintext already yielded is authentic, but a truncated or tampered file only raises
    ``EnvelopeError`` when the bad segment is reached, so a consumer that streams the output to a
    client must treat an exception mid-stream as a failed transfer.
    """
    decryptor = StreamDecryptor(data_key, file_id)
    for chunk in chunks:
        plaintext = decryptor.update(chunk)
        if plaintext:
            yield plaintext
    plaintext = decryptor.finalize()
    if plaintext:
        yield plaintext


def _wrap_associated_data(file_id: bytes, kek_version: int) -> bytes:
    _check_file_id(file_id)
    if not 0 <= kek_version < 1 << 32:
        raise EnvelopeError(f"KEK version must fit in 32 bits, got {kek_version}")
    # The label and the version have fixed lengths, so the file id needs no length prefix.
    return _WRAP_LABEL + kek_version.to_bytes(4, "big") + file_id


def wrap_data_key(kek: bytes, data_key: bytes, *, file_id: bytes, kek_version: int) -> bytes:
    """Encrypt a data key under a key-encryption key; returns nonce || ciphertext || tag."""
    _check_key(kek, "key-encryption key")
    _check_key(data_key, "data key")
    nonce = os.urandom(_WRAP_NONCE_SIZE)
    associated_data = _wrap_associated_data(file_id, kek_version)
    return nonce + AESGCM(kek).encrypt(nonce, data_key, associated_data)


def unwrap_data_key(kek: bytes, wrapped: bytes, *, file_id: bytes, kek_version: int) -> bytes:
    """Recover a data key wrapped by ``wrap_data_key`` for the same file id and KEK version."""
    _check_key(kek, "key-encryption key")
    if len(wrapped) != WRAPPED_KEY_SIZE:
        raise EnvelopeError(
            f"wrapped data key must be {WRAPPED_KEY_SIZE} bytes, got {len(wrapped)} bytes"
        )
    associated_data = _wrap_associated_data(file_id, kek_version)
    nonce, sealed = wrapped[:_WRAP_NONCE_SIZE], wrapped[_WRAP_NONCE_SIZE:]
    try:
        return AESGCM(kek).decrypt(nonce, sealed, associated_data)
    except InvalidTag:
        raise EnvelopeError(
            "cannot unwrap the data key: wrong key-encryption key, file id or KEK version, "
            "or the wrapped key was tampered with"
        ) from None
