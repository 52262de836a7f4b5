"""A push reader for ZIP archives that sees the bytes once, front to back.

A ZIP's table of contents (the central directory) is at its end, but uploads are inspected as
they stream in and are never stored in plaintext, so this reader walks the local file headers
instead: header, compressed data, optional data descriptor, next header, until the central
directory starts; of that, only the closing end record is checked, to catch truncation.

Entries are decompressed incrementally with a bound on every output step, and every step is
checked before its output goes anywhere: against the entry's compression ratio (a zip bomb is
refused after about ``_RATIO_GRACE`` bytes of output), against the size its local header
declares, against the archive's total ``max_uncompressed``, and against the file's CPU budget.
The central directory is never followed, so entries that overlap there (a "quoted" zip bomb)
are read once, as the single entry that holds them, and nested archives are never opened.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable
from enum import Enum, auto
from typing import Protocol

from ._common import CpuBudget, DesignFormatError

_LOCAL_HEADER = struct.Struct("<4sHHHHHIIIHH")
_LOCAL_SIGNATURE = b"PK\x03\x04"
# Any of these ends the sequence of entries: central directory header, end of central
# directory (an archive with no entries), ZIP64 end of central directory.
_END_SIGNATURES = (b"PK\x01\x02", b"PK\x05\x06", b"PK\x06\x06")
_END_RECORD_SIGNATURE = b"PK\x05\x06"
_END_RECORD_SIZE = 22
# The end of central directory record, with its comment of at most 65535 bytes, closes every
# archive; finding it whole at the very end shows the upload was not cut short.
_MAX_END_RECORD_SIZE = _END_RECORD_SIZE + 0xFFFF
_DESCRIPTOR_SIGNATURE = struct.pack("<I", 0x08074B50)
_ZIP64_EXTRA_ID = 0x0001
_FLAG_ENCRYPTED = 0x0001
_FLAG_DATA_DESCRIPTOR = 0x0008
_FLAG_UTF8 = 0x0800
_STORED = 0
_DEFLATED = 8
_SIZE_IN_ZIP64_EXTRA = 0xFFFFFFFF
# Upper bound on the output of one decompression step, so memory stays bounded even when a few
# compressed bytes expand enormously.
_MAX_STEP_OUTPUT = 1 << 20
# The zip-bomb test of Apache POI's ZipSecureFile (MIN_INFLATE_RATIO 0.01, GRACE_ENTRY_SIZE
# 100 KiB), which has guarded Office documents, also OPC packages, for years: once an entry has
# produced more than the grace amount, its output may be at most this many times the compressed
# bytes consumed so far. Real 3MF entries expand 1.3 to 8.6 times (the consortium's samples;
# mesh XML, PNG thumbnails); DEFLATE's maximum is about 1032, which bombs use. The grace lets
# small, very regular entries ([Content_Types].xml, an empty model) through whatever their
# ratio. The ratio is cumulative, so compressible data after incompressible padding is caught
# late, but at most at this many times the entry's compressed size, and the total budget holds.
_MAX_RATIO = 100
_RATIO_GRACE = 100 << 10
# Real packages have a few dozen entries (a project file with one model part per object, a
# few hundred). Each entry costs fixed work, and each model part some memory until the build is
# measured, however few bytes it has, so their number is bounded apart from their bytes.
_MAX_ENTRIES = 10_000


class EntrySink(Protocol):
    """Receives the uncompressed bytes of one archive entry."""

    def write(self, data: bytes) -> None: ...

    def close(self) -> None: ...


class _State(Enum):
    HEADER = auto()
    DATA = auto()
    DESCRIPTOR = auto()
    CENTRAL_DIRECTORY = auto()


class _Entry:
    """What is known about the entry being read, and what has been read of it so far."""

    def __init__(
        self,
        name: str,
        method: int,
        flags: int,
        crc: int,
        compressed_size: int,
        size: int,
        zip64: bool,
        sink: EntrySink | None,
    ) -> None:
        self.name = name
        self.has_descriptor = bool(flags & _FLAG_DATA_DESCRIPTOR)
        # With a data descriptor the header's sizes are placeholders (usually 0); without one
        # they must hold, so they bound the entry while it is read.
        self.sizes_declared = not self.has_descriptor
        self.crc = crc
        self.compressed_size = compressed_size
        self.size = size
        self.zip64 = zip64
        self.sink = sink
        self.inflater = zlib.decompressobj(-15) if method == _DEFLATED else None
        self.actual_crc = 0
        self.actual_compressed = 0
        self.actual_size = 0


class ZipStreamReader:
    """Walks a ZIP archive as it streams in, handing each entry's content to a sink.

    ``open_entry(name)`` is called at each entry and returns a sink for its content, or None to
    have the content checked (CRC, sizes, ratio) and discarded.
    """

    def __init__(
        self,
        name: str,
        open_entry: Callable[[str], EntrySink | None],
        max_uncompressed: int,
        budget: CpuBudget,
    ) -> None:
        self._name = name
        self._open_entry = open_entry
        self._max_uncompressed = max_uncompressed
        self._budget = budget
        self._uncompressed = 0
        self._entries = 0
        self._buffer = bytearray()
        self._offset = 0  # archive offset of the start of the buffer, for error messages
        self._state = _State.HEADER
        self._entry: _Entry | None = None

    def feed(self, chunk: bytes | memoryview) -> None:
        self._buffer += chunk
        if self._state is _State.CENTRAL_DIRECTORY:
            self._keep_tail()
            return
        while self._step():
            pass

    def finish(self) -> None:
        if self._state is not _State.CENTRAL_DIRECTORY or not _ends_with_end_record(self._buffer):
            where = f" inside “{self._entry.name}”" if self._entry else ""
            raise self._error(f"the archive ends unexpectedly{where} (truncated?)")

    def _keep_tail(self) -> None:
        # The central directory repeats what the local headers said; only its end is checked.
        excess = len(self._buffer) - _MAX_END_RECORD_SIZE
        if excess > 0:
            del self._buffer[:excess]

    def _error(self, detail: str) -> DesignFormatError:
        return DesignFormatError(f"“{self._name}” is not a valid 3MF file: {detail}.")

    def _too_large(self) -> DesignFormatError:
        return DesignFormatError(
            f"This 3MF expands to more than {_format_size(self._max_uncompressed)}; refusing it."
        )

    def _consume(self, size: int) -> bytes:
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        self._offset += size
        return data

    def _step(self) -> bool:
        """Advance as far as the buffered bytes allow; return True if there may be more to do."""
        if self._state is _State.HEADER:
            return self._read_header()
        if self._state is _State.DATA:
            return self._read_data()
        if self._state is _State.DESCRIPTOR:
            return self._read_descriptor()
        return False

    def _read_header(self) -> bool:
        if len(self._buffer) < 4:
            return False
        signature = bytes(self._buffer[:4])
        if signature in _END_SIGNATURES:
            self._state = _State.CENTRAL_DIRECTORY
            self._keep_tail()
            return False
        if signature != _LOCAL_SIGNATURE:
            raise self._error(f"unexpected data at offset {self._offset} of the ZIP archive")
        if self._entries == _MAX_ENTRIES:
            raise DesignFormatError(f"This 3MF has more than {_MAX_ENTRIES:,} parts; refusing it.")
        if len(self._buffer) < _LOCAL_HEADER.size:
            return False
        fields = _LOCAL_HEADER.unpack_from(self._buffer)
        _, _, flags, method, _, _, crc, compressed_size, size, name_length, extra_length = fields
        if len(self._buffer) < _LOCAL_HEADER.size + name_length + extra_length:
            return False
        self._consume(_LOCAL_HEADER.size)
        raw_name = self._consume(name_length)
        extra = self._consume(extra_length)
        name = raw_name.decode("utf-8" if flags & _FLAG_UTF8 else "cp437", "replace")
        if flags & _FLAG_ENCRYPTED:
            raise self._error(f"“{name}” is encrypted")
        if method not in (_STORED, _DEFLATED):
            raise self._error(f"“{name}” uses unsupported compression method {method}")
        if method == _STORED and flags & _FLAG_DATA_DESCRIPTOR:
            # Without a size in the header, the end of stored data can't be found in one pass.
            raise self._error(f"“{name}” is stored uncompressed without its size in the header")
        zip64 = _zip64_extra(extra)
        # A local header's ZIP64 field holds both sizes; the header's own say 0xFFFFFFFF.
        if zip64 is not None and len(zip64) >= 16:
            zip64_size, zip64_compressed_size = struct.unpack_from("<QQ", zip64)
            if size == _SIZE_IN_ZIP64_EXTRA:
                size = zip64_size
            if compressed_size == _SIZE_IN_ZIP64_EXTRA:
                compressed_size = zip64_compressed_size
        # An entry that says it is bigger than what is left of the budget is refused before any
        # work; one that lies about it is refused once it outgrows what it said (_emit).
        declared = compressed_size if method == _STORED else size
        if (
            not flags & _FLAG_DATA_DESCRIPTOR
            and declared > self._max_uncompressed - self._uncompressed
        ):
            raise self._too_large()
        self._entries += 1
        self._entry = _Entry(
            name,
            method,
            flags,
            crc,
            compressed_size,
            size,
            zip64 is not None,
            self._open_entry(name),
        )
        self._state = _State.DATA
        return True

    def _read_data(self) -> bool:
        entry = self._entry
        if entry is None:
            return False
        if entry.inflater is None:
            remaining = entry.compressed_size - entry.actual_compressed
            data = self._consume(min(len(self._buffer), remaining))
            entry.actual_compressed += len(data)
            self._emit(entry, data)
            finished = entry.actual_compressed == entry.compressed_size
        elif self._buffer:
            finished = self._inflate(entry, entry.inflater)
        else:
            return False
        if not finished:
            return False
        if entry.has_descriptor:
            self._state = _State.DESCRIPTOR
        else:
            self._check_entry(entry, entry.crc, entry.compressed_size, entry.size)
        return True

    def _inflate(self, entry: _Entry, inflater: zlib._Decompress) -> bool:
        pending = self._consume(len(self._buffer))
        try:
            while True:
                output = inflater.decompress(pending, _MAX_STEP_OUTPUT)
                # Counted step by step, for the ratio check. After the end of the stream the
                # input left over is unused_data (unconsumed_tail may still repeat it), and it
                # belongs to what follows the entry.
                left = inflater.unused_data if inflater.eof else inflater.unconsumed_tail
                entry.actual_compressed += len(pending) - len(left)
                self._emit(entry, output)
                pending = inflater.unconsumed_tail
                # A full step may leave input unprocessed, or output still pending inside zlib.
                if inflater.eof or not (pending or len(output) == _MAX_STEP_OUTPUT):
                    break
        except zlib.error as exc:
            raise self._error(f"“{entry.name}” is corrupt ({exc})") from None
        unused = inflater.unused_data
        self._buffer = bytearray(unused)
        self._offset -= len(unused)
        return inflater.eof

    def _emit(self, entry: _Entry, data: bytes) -> None:
        """Check one step's output against every limit, then hand it on."""
        self._uncompressed += len(data)
        if self._uncompressed > self._max_uncompressed:
            raise self._too_large()
        entry.actual_size += len(data)
        if entry.actual_size > _RATIO_GRACE and entry.actual_size > _MAX_RATIO * max(
            entry.actual_compressed, 1
        ):
            raise DesignFormatError(
                f"This 3MF's part “{entry.name}” expands more than {_MAX_RATIO} times, far "
                "beyond any real 3MF (a zip bomb?); refusing it."
            )
        if entry.sizes_declared and (
            entry.actual_size > entry.size or entry.actual_compressed > entry.compressed_size
        ):
            raise self._error(f"“{entry.name}” is corrupt (larger than its header says)")
        self._budget.check()
        entry.actual_crc = zlib.crc32(data, entry.actual_crc)
        if entry.sink is not None and data:
            entry.sink.write(data)

    def _read_descriptor(self) -> bool:
        entry = self._entry
        if entry is None:
            return False
        sizes = struct.Struct("<QQ" if entry.zip64 else "<II")
        # Optional signature, CRC-32, compressed size, size. Waiting for the longest form is safe:
        # a descriptor is always followed by at least the central directory.
        if len(self._buffer) < 8 + sizes.size:
            return False
        # Whether the optional signature is there is told by where the CRC is.
        if self._buffer[:4] == _DESCRIPTOR_SIGNATURE and self._buffer[4:8] == struct.pack(
            "<I", entry.actual_crc
        ):
            self._consume(4)
        (crc,) = struct.unpack("<I", self._consume(4))
        compressed_size, size = sizes.unpack(self._consume(sizes.size))
        self._check_entry(entry, crc, compressed_size, size)
        return True

    def _check_entry(self, entry: _Entry, crc: int, compressed_size: int, size: int) -> None:
        if entry.actual_crc != crc or entry.actual_size != size:
            raise self._error(f"“{entry.name}” is corrupt (checksum or size mismatch)")
        if entry.actual_compressed != compressed_size:
            raise self._error(f"“{entry.name}” is corrupt (compressed size mismatch)")
        if entry.sink is not None:
            entry.sink.close()
        self._entry = None
        self._state = _State.HEADER


def _ends_with_end_record(tail: bytearray) -> bool:
    position = tail.rfind(_END_RECORD_SIGNATURE)
    while position >= 0:
        if position + _END_RECORD_SIZE <= len(tail):
            (comment_size,) = struct.unpack_from("<H", tail, position + 20)
            if position + _END_RECORD_SIZE + comment_size == len(tail):
                return True
        position = tail.rfind(_END_RECORD_SIGNATURE, 0, position)
    return False


def _zip64_extra(extra: bytes) -> bytes | None:
    """Return the payload of the ZIP64 field among a local header's extra fields, if any."""
    pos = 0
    while pos + 4 <= len(extra):
        field_id, field_size = struct.unpack_from("<HH", extra, pos)
        if field_id == _ZIP64_EXTRA_ID:
            return extra[pos + 4 : pos + 4 + field_size]
        pos += 4 + field_size
    return None


def _format_size(size: int) -> str:
    for unit, factor in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if size >= factor:
            return f"{size / factor:g} {unit}"
    return f"{size} bytes"
