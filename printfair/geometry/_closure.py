"""Whether a mesh's facets join up into the surface of a solid.

Two checks on the mesh's edges, as the 3MF core specification describes a mesh that bounds a
solid (section 4.1, "manifold edges" and "consistent triangle orientation"): every edge is
shared by exactly two facets (*watertight*), and those two facets traverse it in opposite
directions (*consistently wound*), so that all facets face the same side of the surface. Only
then is the signed volume the volume of a solid, the same wherever the origin is; of any other
mesh a slicer prints whatever its repairs make of it, so no volume is stated.

Edges are compared by their end points: in a 3MF by vertex index, as the specification defines
them; in an STL, which has no shared vertices, by the exact bits of the float32 coordinates
(-0.0 counted as 0.0). Both checks sort all edges once, keyed by their two vertex numbers and
their direction; numbering an STL's vertices first sorts all its corners. An STL's corners are
kept until its end for that, 36 bytes a facet, and with the sort order, the numbers and the
keys the check peaks at 65-85 bytes a facet, so STLs above a bound are not checked
(``MAX_STL_CHECKED_TRIANGLES`` in ``printfair.geometry`` has the measurements). A 3MF's edges
cost about 19 bytes a triangle on top of the mesh it holds anyway.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

# Corners as a parser hands them over: float64, or a binary STL's own float32.
CornerArray = npt.NDArray[np.float64] | npt.NDArray[np.float32]
IndexArray = npt.NDArray[np.intc]
BitsArray = npt.NDArray[np.uint32]


def _both(first: bool | None, second: bool | None) -> bool | None:
    if first is False or second is False:
        return False
    if first is None or second is None:
        return None
    return True


@dataclass(frozen=True)
class Closure:
    """The two checks' results; None where a mesh was not checked."""

    watertight: bool | None
    consistently_wound: bool | None

    @property
    def closed(self) -> bool | None:
        """True if the mesh bounds a solid, False if it does not, None if that is not known."""
        return _both(self.watertight, self.consistently_wound)

    def __and__(self, other: Closure) -> Closure:
        """Both meshes': a check fails if it failed for either, and is unknown if it is for
        either and failed for neither."""
        return Closure(
            _both(self.watertight, other.watertight),
            _both(self.consistently_wound, other.consistently_wound),
        )


NOT_CHECKED: Final = Closure(None, None)


def check_edges(triangles: npt.NDArray[np.integer], vertex_count: int) -> Closure:
    """Check a mesh given as vertex numbers, shape (n, 3), each below ``vertex_count``.

    Facets with a repeated vertex (slivers some STL exporters write) are left out: they bound
    nothing, and with them an edge they lie on would have four facets instead of two.
    """
    proper = (
        (triangles[:, 0] != triangles[:, 1])
        & (triangles[:, 1] != triangles[:, 2])
        & (triangles[:, 2] != triangles[:, 0])
    )
    if not proper.all():
        triangles = triangles[proper]
    n = len(triangles)
    if not n:
        return Closure(False, True)
    # Each edge as (smaller vertex * vertex_count + larger vertex) * 2 + (1 if it runs from the
    # larger to the smaller): below 2**63 for the 2**31 vertices a mesh may have.
    keys = np.empty(3 * n, np.int64)
    end_point = np.empty(n, triangles.dtype)
    for corner in range(3):
        start, end = triangles[:, corner], triangles[:, (corner + 1) % 3]
        key = keys[corner * n : (corner + 1) * n]
        np.minimum(start, end, out=end_point)
        key[:] = end_point
        key *= vertex_count
        np.maximum(start, end, out=end_point)
        key += end_point
        key *= 2
        key += start > end
    del end_point
    keys.sort()
    backwards = np.empty(len(keys), bool)
    np.bitwise_and(keys, 1, out=backwards, casting="unsafe")
    keys >>= 1
    # Sorted, every edge of a watertight mesh is a pair at an even position; its forwards
    # traversal sorts first, so its two facets wind it oppositely if the pair's bits differ.
    if len(keys) % 2 == 0:
        first, second = keys[0::2], keys[1::2]
        if np.array_equal(first, second) and not np.any(second[:-1] == first[1:]):
            return Closure(True, bool(np.all(backwards[0::2] != backwards[1::2])))
    change = np.empty(len(keys), bool)
    change[0] = True
    np.not_equal(keys[1:], keys[:-1], out=change[1:])
    starts = np.flatnonzero(change)
    del change
    sizes = np.diff(starts, append=len(keys))
    shared_by_two = starts[sizes == 2]
    return Closure(
        bool(np.all(sizes == 2)),
        bool(np.all(backwards[shared_by_two] != backwards[shared_by_two + 1])),
    )


class StlCorners:
    """The corners of a streamed STL's facets, kept for the closure check at its end.

    Kept as the bit patterns of their float32 coordinates (exactly what the file holds: the
    ASCII parser rounds to float32 too), axis-major, 36 bytes a facet. Past ``limit`` facets
    nothing more is kept and the mesh is not checked. A binary STL declares its facet count up
    front, so its corners go into one buffer of that size (allocated, not touched: the pages
    are only mapped as they are written), never a copy; an ASCII STL's are gathered in batches
    and joined at the end (its facets take 250 bytes of text each, so there are few).
    """

    def __init__(self, limit: int, expected: int | None = None) -> None:
        self._limit = limit
        self._count = 0
        self._skipped = expected is not None and expected > limit
        self._buffer: BitsArray | None = None
        if expected is not None and not self._skipped:
            self._buffer = np.empty((3, 3 * expected), np.uint32)
        self._batches: list[BitsArray] = []

    def add(self, corners: CornerArray) -> None:
        """Keep a batch of facets, laid out as for ``MeshTotals.add``: (3 axes, 3 corners, n)."""
        if self._skipped:
            return
        n = corners.shape[2]
        end = self._count + n
        capacity = self._buffer.shape[1] // 3 if self._buffer is not None else self._limit
        if end > min(capacity, self._limit):
            self._skip()
            return
        # Corner j of facet i goes to column 3 i + j. Adding 0.0 makes -0.0 into 0.0, so that
        # the two zeros are one coordinate; the values are float32 already, so nothing rounds.
        rows = np.empty((3, n, 3), np.float32)
        rows[:] = corners.transpose(0, 2, 1)
        rows += np.float32(0)
        bits = rows.reshape(3, 3 * n).view(np.uint32)
        if self._buffer is not None:
            self._buffer[:, 3 * self._count : 3 * end] = bits
        else:
            self._batches.append(bits)
        self._count = end

    def _skip(self) -> None:
        self._skipped = True
        self._buffer = None
        self._batches = []

    def closure(self) -> Closure:
        """Check the facets kept, letting go of each array as soon as it has been used."""
        if self._skipped:
            return NOT_CHECKED
        if self._buffer is not None:
            coordinates = self._buffer[:, : 3 * self._count]
        else:
            coordinates = np.concatenate([np.empty((3, 0), np.uint32), *self._batches], axis=1)
        self._buffer = None
        self._batches = []
        if not coordinates.shape[1]:
            return Closure(False, True)
        # Number the distinct points: sort the corners by their coordinates, and a point is
        # new where any coordinate differs from the previous corner's.
        m = coordinates.shape[1]
        order = np.lexsort(coordinates)
        new_point = np.zeros(m, bool)
        new_point[0] = True
        row = np.empty(m, np.uint32)
        for axis in range(3):
            np.take(coordinates[axis], order, out=row)
            new_point[1:] |= row[1:] != row[:-1]
        del coordinates, row
        numbers = np.cumsum(new_point, dtype=np.intc)
        del new_point
        numbers -= 1
        count = int(numbers[-1]) + 1
        ids = np.empty(m, np.intc)
        ids[order] = numbers
        del order, numbers
        return check_edges(ids.reshape(-1, 3), count)
