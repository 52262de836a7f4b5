"""Types shared by the design-file parsers, and the running mesh totals they all feed."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

import numpy as np
import numpy.typing as npt

from ._closure import Closure, CornerArray

FloatArray = npt.NDArray[np.float64]


class FileKind(StrEnum):
    """What a design file turned out to be, from its extension and its content."""

    STL_ASCII = "stl_ascii"
    STL_BINARY = "stl_binary"
    THREE_MF = "3mf"
    STEP = "step"


class DesignFormatError(ValueError):
    """The upload is not a valid design file. The message is shown to the user verbatim."""


@dataclass(frozen=True)
class Geometry:
    """Size and volume of the printable mesh, in millimetres, and whether it encloses a solid.

    ``watertight``: every edge of the mesh is shared by exactly two facets. ``consistently_wound``:
    every edge shared by two facets is traversed in opposite directions by them, so that all
    facets face the same side of the surface. Both are None when not checked: an STL with more
    facets than the inspector checks, or a 3MF whose build holds no solid object (only supports
    and surfaces). The volume is that of the solid the mesh encloses; it is None when the mesh
    does not enclose one (either check failed, or nothing in a 3MF build is solid), since the
    signed volume of an open or inconsistently wound surface depends on where the origin is.
    """

    triangle_count: int
    bbox_min: tuple[float, float, float]
    bbox_max: tuple[float, float, float]
    volume_cm3: float | None
    watertight: bool | None
    consistently_wound: bool | None

    @property
    def size_mm(self) -> tuple[float, float, float]:
        """Extent of the bounding box along x, y and z."""
        lo, hi = self.bbox_min, self.bbox_max
        return (hi[0] - lo[0], hi[1] - lo[1], hi[2] - lo[2])


@dataclass(frozen=True)
class Inspection:
    """The result of inspecting an upload; ``geometry`` is None for STEP files."""

    kind: FileKind
    geometry: Geometry | None


class Parser(Protocol):
    """A push parser for one file format: chunks in, an ``Inspection`` out."""

    def feed(self, chunk: bytes | memoryview) -> None: ...

    def finish(self) -> Inspection: ...


class CpuBudget:
    """The processor time that inspecting one file may take, summed over the calls doing it.

    Measured with the calling thread's CPU clock: an upload's wall time is mostly spent waiting
    for the network, and the process's clock would also count other requests' threads (and the
    upload's own hashing and writing thread). The parsers call ``check()`` between bounded
    steps, so a single large call is stopped part way, not only at its end.
    """

    def __init__(self, name: str, seconds: float) -> None:
        self._name = name
        self._seconds = seconds
        self._spent = 0.0
        self._since: float | None = None

    @contextmanager
    def running(self) -> Iterator[None]:
        """Count the time spent inside the ``with`` block, then check the total."""
        self._since = time.thread_time()
        try:
            yield
            self.check()
        finally:
            self._spent += time.thread_time() - self._since
            self._since = None

    def check(self) -> None:
        spent = self._spent
        if self._since is not None:
            spent += time.thread_time() - self._since
        if spent > self._seconds:
            raise DesignFormatError(
                f"“{self._name}” takes more than {self._seconds:g} seconds of processing to "
                "inspect; refusing it."
            )


def six_signed_volume(corners: CornerArray, origin: FloatArray) -> float:
    """Six times the signed volume that a batch of triangles sweeps down to the plane through
    ``origin`` along z: the sum over the triangles of the z cross product of two of their edges
    (twice their area projected on that plane, signed by their winding) times the sum of their
    corners' heights above it (three times the height of their centroid).

    Summed over a closed, consistently wound mesh this is the volume it encloses (the divergence
    theorem, with the field (0, 0, z)) wherever the origin is; summed over any other surface it
    depends on it. The edges need no origin; heights measured from one on the mesh keep the
    products as small as the mesh (from the coordinate origin, a part placed 10 m away would
    lose six digits to cancellation). Over a closed mesh it equals the sum of ``p . (q x r)`` over
    the corners taken relative to the origin, in 11 elementwise passes over the batch instead of
    23 (a 256 MiB STL's: 21 ms instead of 32). ``corners`` has shape (3 axes, 3 corners, n), as
    for ``MeshTotals.add``; float32 corners are widened to float64 before any arithmetic, which
    is exact.
    """
    n = corners.shape[2]
    if not n:
        return 0.0
    (px, qx, rx), (py, qy, ry), (pz, qz, rz) = corners
    f64 = np.float64
    # Elementwise products and a sum, not np.dot: a dot product of this length goes to BLAS,
    # whose thread pool stalls when the cores are busy (8.5 s of a 10.8 s upload, issue 18).
    cross, term, heights = np.empty(n), np.empty(n), np.empty(n)
    with np.errstate(invalid="ignore", over="ignore"):
        np.subtract(qx, px, out=cross, dtype=f64)
        np.subtract(ry, py, out=term, dtype=f64)
        cross *= term
        np.subtract(rx, px, out=heights, dtype=f64)
        np.subtract(qy, py, out=term, dtype=f64)
        heights *= term
        cross -= heights
        np.add(pz, qz, out=heights, dtype=f64)
        heights += rz
        heights -= 3 * origin[2]
        cross *= heights
        return float(cross.sum())


class MeshTotals:
    """Running triangle count and bounding box over batches of triangles, and optionally their
    signed volume relative to the first corner seen.

    Callers pass triangles as an array of shape (3 axes, 3 corners, n): axis-major so that each
    coordinate row is contiguous, which makes the reductions here an order of magnitude faster
    than reducing over the short axis of an (n, 3) array.
    """

    def __init__(self) -> None:
        self.triangle_count = 0
        self._lo = np.full(3, np.inf)
        self._hi = np.full(3, -np.inf)
        self._origin: FloatArray | None = None

    def add_bounds(self, corners: CornerArray) -> None:
        """Add a batch of triangles to the count and the bounding box."""
        n = corners.shape[2]
        if not n:
            return
        flat = corners.reshape(3, 3 * n)
        # NaN and infinity propagate into the bounding box, which check() refuses at the end.
        with np.errstate(invalid="ignore", over="ignore"):
            self._lo = np.minimum(self._lo, flat.min(axis=1))
            self._hi = np.maximum(self._hi, flat.max(axis=1))
        self.triangle_count += n

    def add(self, corners: CornerArray) -> float:
        """Add a batch of triangles; return six times their signed volume relative to the
        first corner of the first batch (see ``six_signed_volume``)."""
        if not corners.shape[2]:
            return 0.0
        self.add_bounds(corners)
        if self._origin is None:
            self._origin = corners[:, 0, 0].astype(np.float64)
        return six_signed_volume(corners, self._origin)

    def check(self, name: str) -> None:
        """Refuse a mesh without triangles, or with coordinates that are not finite numbers."""
        if not self.triangle_count:
            raise DesignFormatError(f"“{name}” contains no triangles.")
        if not (np.isfinite(self._lo).all() and np.isfinite(self._hi).all()):
            raise _not_numbers(name)

    def geometry(
        self,
        name: str,
        *,
        six_volume: float | None,
        closure: Closure,
        scale_to_mm: float = 1.0,
    ) -> Geometry:
        """Summarise the totals. ``six_volume`` is the caller's sum of six times the signed
        volumes, None if the mesh has no solid parts; it is stated only if ``closure`` does
        not say that the mesh fails to bound a solid."""
        self.check(name)
        lo = [float(c) * scale_to_mm for c in self._lo]
        hi = [float(c) * scale_to_mm for c in self._hi]
        volume_cm3: float | None = None
        if six_volume is not None and closure.closed is not False:
            volume_cm3 = abs(six_volume) / 6 * scale_to_mm**3 / 1000
            if not math.isfinite(volume_cm3):
                raise _not_numbers(name)
        if not all(math.isfinite(c) for c in (*lo, *hi)):
            raise _not_numbers(name)
        return Geometry(
            triangle_count=self.triangle_count,
            bbox_min=(lo[0], lo[1], lo[2]),
            bbox_max=(hi[0], hi[1], hi[2]),
            volume_cm3=volume_cm3,
            watertight=closure.watertight,
            consistently_wound=closure.consistently_wound,
        )


def _not_numbers(name: str) -> DesignFormatError:
    return DesignFormatError(
        f"“{name}” has vertex coordinates that are not numbers or are too large."
    )
