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
    """Size and volume of the printable mesh, in millimetres."""

    triangle_count: int
    bbox_min: tuple[float, float, float]
    bbox_max: tuple[float, float, float]
    volume_cm3: float

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


class MeshTotals:
    """Running triangle count, bounding box and signed volume over batches of triangles.

    Callers pass triangles as an array of shape (3 axes, 3 corners, n): axis-major so that each
    coordinate row is contiguous, which makes the reductions here an order of magnitude faster
    than reducing over the short axis of an (n, 3) array.
    """

    def __init__(self) -> None:
        self.triangle_count = 0
        self._lo = np.full(3, np.inf)
        self._hi = np.full(3, -np.inf)

    def add(self, corners: FloatArray) -> float:
        """Add a batch of triangles; return six times their signed volume.

        The signed volume of a closed mesh is the sum over its triangles of the signed volumes of
        the tetrahedra they form with the origin, ``p . (q x r) / 6``.
        """
        n = corners.shape[2]
        if not n:
            return 0.0
        flat = corners.reshape(3, 3 * n)
        # NaN and infinity propagate into the bounding box, which geometry() checks at the end.
        with np.errstate(invalid="ignore", over="ignore"):
            self._lo = np.minimum(self._lo, flat.min(axis=1))
            self._hi = np.maximum(self._hi, flat.max(axis=1))
            (px, qx, rx), (py, qy, ry), (pz, qz, rz) = corners
            six_volume = float(
                np.dot(px, qy * rz - qz * ry)
                + np.dot(py, qz * rx - qx * rz)
                + np.dot(pz, qx * ry - qy * rx)
            )
        self.triangle_count += n
        return six_volume

    def geometry(self, six_volume: float, name: str, scale_to_mm: float = 1.0) -> Geometry:
        """Summarise the totals; ``six_volume`` is the caller's sum of what ``add`` returned."""
        if not self.triangle_count:
            raise DesignFormatError(f"“{name}” contains no triangles.")
        lo = [float(c) * scale_to_mm for c in self._lo]
        hi = [float(c) * scale_to_mm for c in self._hi]
        volume_mm3 = abs(six_volume) / 6 * scale_to_mm**3
        if not all(math.isfinite(c) for c in (*lo, *hi, volume_mm3)):
            raise DesignFormatError(
                f"“{name}” has vertex coordinates that are not numbers or are too large."
            )
        return Geometry(
            triangle_count=self.triangle_count,
            bbox_min=(lo[0], lo[1], lo[2]),
            bbox_max=(hi[0], hi[1], hi[2]),
            volume_cm3=volume_mm3 / 1000,
        )
