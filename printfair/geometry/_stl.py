"""Push parsers for binary and ASCII STL."""

from __future__ import annotations

import itertools
import re
import struct

import numpy as np

from ._closure import StlCorners
from ._common import DesignFormatError, FileKind, Inspection, MeshTotals

# A binary STL is an 80-byte free-form header, a little-endian uint32 triangle count, and one
# 50-byte record per triangle: normal (3 float32), three vertices (3 x 3 float32), attribute.
_BINARY_HEADER_SIZE = 84
_RECORD = np.dtype([("normal", "<f4", (3,)), ("corners", "<f4", (3, 3)), ("attribute", "<u2")])
_RECORD_SIZE = _RECORD.itemsize
# Small upload chunks are gathered into batches of about this size so that the fixed cost of each
# numpy call is paid per batch, not per chunk.
_BATCH_BYTES = 1 << 20

# Bytes that may appear in an ASCII STL: printable ASCII, whitespace, and bytes >= 0x80 (some
# exporters write UTF-8 solid names).
_TEXT_BYTES = bytes([9, 10, 11, 12, 13, *range(0x20, 0x7F), *range(0x80, 0x100)])


def looks_like_ascii_stl(head: bytes) -> bool:
    """Decide ASCII vs binary STL from the first bytes of the file (up to about 1 KiB).

    Many binary STLs also start with "solid" (their 80-byte header is free-form), so "solid" alone
    proves nothing; a binary file is betrayed by control bytes, at the latest in the triangle
    count (whose high byte is zero for any file under 800 MB) or the float records after it.
    """
    if head.lstrip()[:5].lower() != b"solid":
        return False
    if head.translate(None, _TEXT_BYTES):
        return False
    lowered = head.lower()
    return b"facet" in lowered or b"endsolid" in lowered


class BinaryStlParser:
    """Accumulates a binary STL's geometry record batch by record batch.

    The file size must match the triangle count in the header, except that fewer than one
    record's worth of trailing bytes is ignored: some tools append a stray newline, and such a
    tail cannot hide a triangle.
    """

    def __init__(self, name: str, *, max_checked_triangles: int) -> None:
        self._name = name
        self._buffer = bytearray()
        # Records that two chunks cut between them, made whole (see _feed_batch).
        self._cut = bytearray()
        self._declared: int | None = None
        self._received = 0
        self._totals = MeshTotals()
        self._six_volume = 0.0
        self._max_checked = max_checked_triangles
        # Replaced once the header says how many facets to expect.
        self._corners = StlCorners(max_checked_triangles)

    def feed(self, chunk: bytes | memoryview) -> None:
        self._received += len(chunk)
        if self._declared is None:
            self._buffer += chunk
            if len(self._buffer) < _BINARY_HEADER_SIZE:
                return
            (self._declared,) = struct.unpack_from("<I", self._buffer, 80)
            del self._buffer[:_BINARY_HEADER_SIZE]
            self._corners = StlCorners(self._max_checked, expected=self._declared)
            chunk = b""
        if self._received >= self._expected_size(self._declared) + _RECORD_SIZE:
            raise self._size_error(self._declared)
        if len(chunk) >= _BATCH_BYTES:
            self._feed_batch(memoryview(chunk))
            return
        self._buffer += chunk
        if len(self._buffer) >= _BATCH_BYTES:
            self._consume()

    def _feed_batch(self, chunk: memoryview) -> None:
        """A chunk of a batch or more is read where it is, not copied: the record that the last
        chunk cut is completed from its start and set aside (``_cut``, added a batch at a time),
        and the record this one cuts at its end is kept for the next."""
        if self._buffer:
            self._consume()  # whole records first, so that the buffer holds a cut one at most
            need = -len(self._buffer) % _RECORD_SIZE
            self._cut += self._buffer
            self._cut += chunk[:need]
            self._buffer.clear()
            chunk = chunk[need:]
            if len(self._cut) >= _BATCH_BYTES:
                self._six_volume += self._add_records(self._cut, len(self._cut) // _RECORD_SIZE)
                self._cut.clear()
        count = len(chunk) // _RECORD_SIZE
        self._six_volume += self._add_records(chunk, count)
        self._buffer += chunk[count * _RECORD_SIZE :]

    def finish(self) -> Inspection:
        if self._declared is None:
            raise DesignFormatError(
                f"“{self._name}” is not an STL file: it is too short to be a binary STL "
                f"({self._received} bytes)."
            )
        if self._received < self._expected_size(self._declared):
            raise self._size_error(self._declared)
        self._consume()
        if self._cut:
            self._six_volume += self._add_records(self._cut, len(self._cut) // _RECORD_SIZE)
            self._cut.clear()
        # A mesh that is refused anyway is not worth the closure check's sort.
        self._totals.check(self._name)
        geometry = self._totals.geometry(
            self._name, six_volume=self._six_volume, closure=self._corners.closure()
        )
        return Inspection(FileKind.STL_BINARY, geometry)

    @staticmethod
    def _expected_size(count: int) -> int:
        return _BINARY_HEADER_SIZE + _RECORD_SIZE * count

    def _size_error(self, count: int) -> DesignFormatError:
        expected = self._expected_size(count)
        if self._received > expected:
            actual = f"is longer ({self._received} bytes or more)"
        else:
            actual = f"has only {self._received} bytes (truncated?)"
        return DesignFormatError(
            f"“{self._name}” is not a valid binary STL file: its header declares {count} "
            f"triangles, which take {expected} bytes, but the file {actual}."
        )

    def _consume(self) -> None:
        count = len(self._buffer) // _RECORD_SIZE
        if count:
            self._six_volume += self._add_records(self._buffer, count)
            del self._buffer[: count * _RECORD_SIZE]

    def _add_records(self, data: bytearray | memoryview, count: int) -> float:
        # The array borrows `data`'s memory; it must be gone before a bytearray is resized,
        # which returning from this function guarantees.
        records = np.frombuffer(data, _RECORD, count)
        # Gathered out of the 50-byte records once, as the file's float32: the bounds are exact
        # in it, and the volume's sums are taken in float64 (MeshTotals.add).
        corners = np.empty((3, 3, count), np.float32)
        np.copyto(corners, records["corners"].transpose(2, 1, 0))
        self._corners.add(corners)
        return self._totals.add(corners)


# One facet is exactly 21 tokens:
#   facet normal nx ny nz outer loop vertex x y z vertex x y z vertex x y z endloop endfacet
_FACET_TOKENS = 21
_KEYWORDS = (
    (0, b"facet"),
    (1, b"normal"),
    (5, b"outer"),
    (6, b"loop"),
    (7, b"vertex"),
    (11, b"vertex"),
    (15, b"vertex"),
    (19, b"endloop"),
    (20, b"endfacet"),
)
# Only the vertices are parsed: slicers recompute normals from the winding order, and parsing the
# normals too would cost a third more time.
_VERTEX_COLUMNS = (8, 9, 10, 12, 13, 14, 16, 17, 18)
_SOLID_LINE = re.compile(rb"solid(?:[ \t\f\v][^\r\n]*)?(?:\r\n|\r|\n|\Z)")
_LINE_END = re.compile(rb"\r\n|\r|\n")
_NON_SPACE = re.compile(rb"\S")
_TOKEN = re.compile(rb"\S+")


class AsciiStlParser:
    """Accumulates an ASCII STL's geometry, a batch of whole lines at a time.

    Each batch is split into whitespace-separated tokens; because facets have a fixed shape, the
    keywords and coordinates sit at fixed offsets, so a whole batch is checked with list slicing
    and converted with one numpy call instead of walking a state machine token by token.
    """

    def __init__(self, name: str, *, max_checked_triangles: int) -> None:
        self._name = name
        self._text = bytearray()
        # Line number of the start of the current batch, for error messages.
        self._line = 1
        self._in_solid = False
        # Tokens of a facet that continues in the next batch.
        self._carry: list[bytes] = []
        self._totals = MeshTotals()
        self._six_volume = 0.0
        self._corners = StlCorners(max_checked_triangles)

    def feed(self, chunk: bytes | memoryview) -> None:
        self._text += chunk
        if len(self._text) < _BATCH_BYTES:
            return
        # Batches end at a line break so that no token, and no "solid" line, is cut in two.
        cut = max(self._text.rfind(b"\n"), self._text.rfind(b"\r")) + 1
        if not cut:
            raise self._error(f"line {self._line} is longer than {_BATCH_BYTES} bytes")
        batch = bytes(self._text[:cut])
        del self._text[:cut]
        self._process(batch)

    def finish(self) -> Inspection:
        batch = bytes(self._text)
        self._text = bytearray()
        self._process(batch)
        if self._in_solid:
            raise self._error("the file ends before “endsolid” (truncated?)")
        self._totals.check(self._name)
        geometry = self._totals.geometry(
            self._name, six_volume=self._six_volume, closure=self._corners.closure()
        )
        return Inspection(FileKind.STL_ASCII, geometry)

    def _error(self, detail: str) -> DesignFormatError:
        return DesignFormatError(f"“{self._name}” is not a valid ASCII STL file: {detail}.")

    def _process(self, text: bytes) -> None:
        text = text.lower()
        pos = 0
        while True:
            if not self._in_solid:
                content = _NON_SPACE.search(text, pos)
                if content is None:
                    break
                solid = _SOLID_LINE.match(text, content.start())
                if solid is None:
                    line = self._line + text.count(b"\n", 0, content.start())
                    raise self._error(f"expected “solid” on line {line}")
                pos = solid.end()
                self._in_solid = True
            end = text.find(b"endsolid", pos)
            self._add_facets(text, pos, len(text) if end < 0 else end, closing=end >= 0)
            if end < 0:
                break
            line_end = _LINE_END.search(text, end)
            pos = len(text) if line_end is None else line_end.end()
            self._in_solid = False
        self._line += text.count(b"\n")

    def _add_facets(self, text: bytes, start: int, end: int, *, closing: bool) -> None:
        carried = len(self._carry)
        tokens = self._carry + text[start:end].split()
        count = len(tokens) // _FACET_TOKENS
        facets = tokens[: count * _FACET_TOKENS]
        self._carry = tokens[count * _FACET_TOKENS :]
        misplaced = _first_misplaced_keyword(facets)
        if misplaced is not None:
            index, keyword = misplaced
            found = _quote(tokens[index])
            line = self._line_of(text, start, carried, index)
            raise self._error(f"expected “{keyword.decode()}” but found {found} on line {line}")
        if closing and self._carry:
            line = self._line_of(text, start, carried, len(facets))
            raise self._error(f"incomplete facet before “endsolid” on line {line}")
        if not count:
            return
        columns = (facets[column::_FACET_TOKENS] for column in _VERTEX_COLUMNS)
        try:
            values = np.fromiter(
                map(float, itertools.chain.from_iterable(columns)), np.float64, 9 * count
            )
        except ValueError:
            index = _first_non_number(facets)
            line = self._line_of(text, start, carried, index)
            raise self._error(
                f"expected a number but found {_quote(tokens[index])} on line {line}"
            ) from None
        # STL coordinates are single precision by definition; rounding the text to float32
        # makes an ASCII export and a binary export of the same mesh measure identically.
        rounded = values.astype(np.float32).astype(np.float64)
        # values holds x, y, z of corner 0, then of corner 1, then of corner 2, each for all facets.
        corners = np.ascontiguousarray(rounded.reshape(3, 3, count).transpose(1, 0, 2))
        self._corners.add(corners)
        self._six_volume += self._totals.add(corners)

    def _line_of(self, text: bytes, start: int, carried: int, index: int) -> int:
        """Line number of token ``index`` of a region whose first ``carried`` tokens came from
        the previous batch (those are reported at the start of this batch)."""
        if index < carried:
            return self._line
        token = next(itertools.islice(_TOKEN.finditer(text, start), index - carried, None))
        return self._line + text.count(b"\n", 0, token.start())


def _first_misplaced_keyword(facets: list[bytes]) -> tuple[int, bytes] | None:
    """Index and expected value of the first keyword token that is not what it should be."""
    first: tuple[int, bytes] | None = None
    for column, keyword in _KEYWORDS:
        found = facets[column::_FACET_TOKENS]
        if found.count(keyword) != len(found):
            row = next(i for i, token in enumerate(found) if token != keyword)
            candidate = (row * _FACET_TOKENS + column, keyword)
            first = candidate if first is None else min(first, candidate)
    return first


def _first_non_number(facets: list[bytes]) -> int:
    vertex_columns = set(_VERTEX_COLUMNS)
    return next(
        index
        for index, token in enumerate(facets)
        if index % _FACET_TOKENS in vertex_columns and not _is_number(token)
    )


def _is_number(token: bytes) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


def _quote(token: bytes) -> str:
    return "“" + token[:40].decode("ascii", "replace") + "”"
