"""Tests for streaming sniffing and measuring of design files (printfair.geometry).

Reference values come from elsewhere: numpy-stl for STL, and for 3MF a deliberately plain
reference below (zipfile, a full ElementTree DOM, transforms applied point by point, volumes
from determinants) or analytic values; volumes far from the origin from exact rational
arithmetic. trimesh is not installed, so nothing is compared with it.
"""

from __future__ import annotations

import importlib.util
import io
import itertools
import math
import re
import struct
import sys
import time
import tracemalloc
import xml.etree.ElementTree as ET
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, replace
from fractions import Fraction
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stl import mesh

from printfair.geometry import (
    DesignFormatError,
    DesignInspector,
    FileKind,
    Geometry,
    Inspection,
)
from printfair.geometry import _stl as stl_parsers
from printfair.geometry import _threemf as threemf
from printfair.geometry import _zipstream as zipstream
from printfair.geometry._common import CpuBudget

TESTDATA = Path(__file__).resolve().parents[1] / "data" / "samples"
GEOMETRY_DATA = Path(__file__).resolve().parents[1] / "data" / "geometry"
STL_FILES = sorted(p.name for p in (TESTDATA / "stl").glob("*.stl"))
THREE_MF_FILES = sorted(p.name for p in (TESTDATA / "3mf").glob("*.3mf"))
CHUNK_SIZES = [1, 7, 50, 4096, None]


def pieces(data: bytes, chunk_size: int | None) -> Iterator[bytes]:
    if chunk_size is None:
        yield data
        return
    for i in range(0, len(data), chunk_size):
        yield data[i : i + chunk_size]


def inspect(name: str, data: bytes, chunk_size: int | None = 4096, **kwargs: int) -> Inspection:
    inspector = DesignInspector(name, **kwargs)
    for piece in pieces(data, chunk_size):
        inspector.feed(piece)
    return inspector.finish()


def inspect_cuts(name: str, data: bytes, cuts: list[int]) -> Inspection:
    inspector = DesignInspector(name)
    bounds = sorted({0, len(data), *(min(c, len(data)) for c in cuts)})
    for start, end in itertools.pairwise(bounds):
        inspector.feed(memoryview(data)[start:end])
    return inspector.finish()


def assert_geometry(
    geometry: Geometry | None,
    count: int,
    lo: tuple[float, ...] | np.ndarray,
    hi: tuple[float, ...] | np.ndarray,
    volume_cm3: float | None,
    rel: float = 1e-6,
) -> None:
    assert geometry is not None
    assert geometry.triangle_count == count
    assert geometry.bbox_min == pytest.approx(tuple(lo), rel=rel, abs=1e-9)
    assert geometry.bbox_max == pytest.approx(tuple(hi), rel=rel, abs=1e-9)
    if volume_cm3 is None:
        assert geometry.volume_cm3 is None
    else:
        assert geometry.volume_cm3 == pytest.approx(volume_cm3, rel=rel, abs=1e-12)


# --- STL -------------------------------------------------------------------------------------


@cache  # once per file, not per chunk size (rear_case_binary.stl: 0.4 s each)
def numpy_stl_reference(path: Path) -> tuple[int, np.ndarray, np.ndarray, float]:
    reference = mesh.Mesh.from_file(str(path))
    volume_mm3, _, _ = reference.get_mass_properties()
    return len(reference), reference.min_, reference.max_, float(volume_mm3) / 1000


@pytest.mark.parametrize("chunk_size", CHUNK_SIZES)
@pytest.mark.parametrize("filename", STL_FILES)
def test_stl_matches_numpy_stl(filename: str, chunk_size: int | None) -> None:
    path = TESTDATA / "stl" / filename
    result = inspect(filename, path.read_bytes(), chunk_size)
    expected_kind = FileKind.STL_ASCII if "ascii" in filename else FileKind.STL_BINARY
    assert result.kind is expected_kind
    assert_geometry(result.geometry, *numpy_stl_reference(path))


@settings(max_examples=30)
@given(
    filename=st.sampled_from(STL_FILES),
    cuts=st.lists(st.integers(0, 60_000), max_size=20),
)
def test_stl_random_chunking(filename: str, cuts: list[int]) -> None:
    data = (TESTDATA / "stl" / filename).read_bytes()
    assert inspect_cuts(filename, data, cuts) == inspect(filename, data, None)


@pytest.mark.parametrize("shape", ["cube", "halfdonut"])
def test_ascii_and_binary_give_the_same_geometry(shape: str) -> None:
    ascii_geometry = inspect("a.stl", (TESTDATA / "stl" / f"{shape}_ascii.stl").read_bytes())
    binary_geometry = inspect("b.stl", (TESTDATA / "stl" / f"{shape}_binary.stl").read_bytes())
    assert ascii_geometry.geometry is not None and binary_geometry.geometry is not None
    assert ascii_geometry.geometry.triangle_count == binary_geometry.geometry.triangle_count
    assert ascii_geometry.geometry.bbox_min == binary_geometry.geometry.bbox_min
    assert ascii_geometry.geometry.bbox_max == binary_geometry.geometry.bbox_max
    assert ascii_geometry.geometry.volume_cm3 == pytest.approx(
        binary_geometry.geometry.volume_cm3, rel=1e-12
    )


def test_cube_analytic() -> None:
    geometry = inspect("cube.stl", (TESTDATA / "stl" / "cube_binary.stl").read_bytes()).geometry
    assert_geometry(geometry, 12, (0, 0, 0), (2, 2, 2), 8 / 1000)
    assert geometry is not None
    assert geometry.size_mm == (2.0, 2.0, 2.0)


def binary_stl(triangles: np.ndarray, header: bytes = b"", count: int | None = None) -> bytes:
    records = np.zeros(
        len(triangles),
        np.dtype([("normal", "<f4", (3,)), ("corners", "<f4", (3, 3)), ("attr", "<u2")]),
    )
    records["corners"] = triangles
    declared = len(triangles) if count is None else count
    return header.ljust(80, b"\0")[:80] + struct.pack("<I", declared) + records.tobytes()


# A closed, outward-oriented tetrahedron with corners at the origin and on the three axes.
TETRA = (
    np.array(
        [
            [[0, 0, 0], [0, 1, 0], [1, 0, 0]],
            [[0, 0, 0], [1, 0, 0], [0, 0, 1]],
            [[0, 0, 0], [0, 0, 1], [0, 1, 0]],
            [[1, 0, 0], [0, 1, 0], [0, 0, 1]],
        ],
        dtype=np.float64,
    )
    * 30.0
)


def test_binary_stl_whose_header_starts_with_solid_is_binary() -> None:
    for header in (
        b"solid tetra",
        b"solid facet vertex endloop endfacet endsolid " + b" " * 34,
        b"  SOLID " + b"x" * 72,
    ):
        result = inspect("t.stl", binary_stl(TETRA, header), None)
        assert result.kind is FileKind.STL_BINARY
        assert_geometry(result.geometry, 4, (0, 0, 0), (30, 30, 30), 30**3 / 6 / 1000)


def test_real_binary_files_starting_with_solid_are_binary() -> None:
    for filename in ("cube_binary.stl", "halfdonut_binary.stl", "rear_case_binary.stl"):
        data = (TESTDATA / "stl" / filename).read_bytes()
        assert data.lstrip().startswith(b"solid")
        assert inspect(filename, data).kind is FileKind.STL_BINARY


def test_truncated_binary_stl() -> None:
    data = binary_stl(TETRA)
    for cut in (84, 84 + 49, len(data) - 1):
        with pytest.raises(DesignFormatError, match="declares 4 triangles, which take 284 bytes"):
            inspect("t.stl", data[:cut])
    with pytest.raises(DesignFormatError, match="too short"):
        inspect("t.stl", data[:40])


def test_binary_stl_longer_than_declared() -> None:
    data = binary_stl(TETRA, count=3)
    with pytest.raises(DesignFormatError, match=r"declares 3 triangles.*longer"):
        inspect("t.stl", data, 1)


def test_binary_stl_short_trailing_garbage_is_ignored() -> None:
    # halfdonut_binary.stl really ends with one stray newline after its last record.
    data = binary_stl(TETRA) + b"\n"
    assert_geometry(inspect("t.stl", data).geometry, 4, (0, 0, 0), (30, 30, 30), 4.5)


@pytest.mark.parametrize(
    "chunks",
    [
        [1 << 20],  # the upload's chunks: records cut at every chunk's end
        [(1 << 20) + 7],
        [100, 3 << 20, 49, (1 << 20) + 1, 5000, 2 << 20],  # small ones between big ones
        [None],  # the file whole
    ],
)
def test_a_binary_stl_read_in_upload_sized_chunks_measures_as_whole(
    chunks: list[int | None],
) -> None:
    """Chunks of a batch or more are read where they are (the records they cut at their ends
    made whole aside): the same count, bounds, volume and closure as any other reading."""
    rng = np.random.default_rng(18)
    offsets = rng.integers(-10_000, 10_000, (30_000, 1, 3)) * 40.0  # apart: none overlaps
    tetras = (TETRA[np.newaxis] + offsets[:, np.newaxis]).reshape(-1, 3, 3)
    data = binary_stl(tetras)
    assert len(data) > 5 << 20
    inspector = DesignInspector("tetras.stl")
    start, sizes = 0, itertools.cycle(chunks)
    while start < len(data):
        size = next(sizes) or len(data)
        inspector.feed(data[start : start + size])
        start += size
    geometry = inspector.finish().geometry
    assert_geometry(
        geometry,
        4 * 30_000,
        tetras.reshape(-1, 3).min(axis=0),
        tetras.reshape(-1, 3).max(axis=0),
        30_000 * 4.5,
        rel=1e-9,
    )
    assert geometry is not None and geometry.watertight and geometry.consistently_wound


def test_binary_stl_without_triangles() -> None:
    with pytest.raises(DesignFormatError, match="contains no triangles"):
        inspect("t.stl", binary_stl(TETRA[:0]))


def test_binary_stl_with_nan_coordinates() -> None:
    broken = TETRA.copy()
    broken[1, 2, 0] = np.nan
    with pytest.raises(DesignFormatError, match="not numbers"):
        inspect("t.stl", binary_stl(broken))


def ascii_stl(triangles: np.ndarray, name: str = "t", newline: str = "\n") -> str:
    lines = [f"solid {name}"]
    for triangle in triangles:
        lines += ["  facet normal 0 0 0", "    outer loop"]
        lines += [f"      vertex {float(x)!r} {float(y)!r} {float(z)!r}" for x, y, z in triangle]
        lines += ["    endloop", "  endfacet"]
    lines.append(f"endsolid {name}")
    return newline.join(lines) + newline


def test_ascii_stl_variants() -> None:
    text = ascii_stl(TETRA, "part one", "\r\n") + ascii_stl(TETRA + 100, "second solid")
    for data in (text.encode(), text.upper().encode(), text.encode().replace(b"\n", b" \n\t")):
        for chunk_size in (1, 3, 64, None):
            result = inspect("t.STL", data, chunk_size)
            assert result.kind is FileKind.STL_ASCII
            assert_geometry(result.geometry, 8, (0, 0, 0), (130, 130, 130), 9.0)


def test_ascii_stl_without_final_newline_and_with_utf8_name() -> None:
    data = ascii_stl(TETRA, "pièce").rstrip().encode()
    assert_geometry(inspect("t.stl", data).geometry, 4, (0, 0, 0), (30, 30, 30), 4.5)


def test_ascii_stl_bad_keyword_reports_line() -> None:
    text = ascii_stl(TETRA).replace("endloop", "endlop", 3)
    with pytest.raises(DesignFormatError, match="expected “endloop” but found “endlop” on line 7"):
        inspect("t.stl", text.encode())


def test_ascii_stl_bad_number_reports_line() -> None:
    text = ascii_stl(TETRA).split("\n")
    text[10] = "      vertex 1 2 x3"
    with pytest.raises(DesignFormatError, match="expected a number but found “x3” on line 11"):
        inspect("t.stl", "\n".join(text).encode(), 7)


def test_ascii_stl_incomplete_facet() -> None:
    text = ascii_stl(TETRA).replace("    endloop\n  endfacet\nendsolid", "endsolid")
    with pytest.raises(DesignFormatError, match="incomplete facet"):
        inspect("t.stl", text.encode())


def test_ascii_stl_missing_endsolid() -> None:
    text = ascii_stl(TETRA).replace("endsolid t\n", "")
    with pytest.raises(DesignFormatError, match="endsolid"):
        inspect("t.stl", text.encode())


def test_ascii_stl_junk_after_endsolid() -> None:
    with pytest.raises(DesignFormatError, match="expected “solid” on line 31"):
        inspect("t.stl", (ascii_stl(TETRA) + "garbage\n").encode())


def test_ascii_stl_large_batches_cross_line_breaks() -> None:
    many = np.concatenate([TETRA + i for i in range(4000)])  # about 1.2 MB of text
    data = ascii_stl(many).encode()
    assert len(data) > 1 << 20
    result = inspect("t.stl", data, 100_000)
    assert_geometry(result.geometry, 16000, (0, 0, 0), (4029, 4029, 4029), 4000 * 4.5)


# --- kind detection and errors common to all formats ----------------------------------------


def test_empty_file() -> None:
    for name in ("a.stl", "a.3mf", "a.step"):
        with pytest.raises(DesignFormatError) as error:
            DesignInspector(name).finish()
        assert str(error.value) == "The file is empty."


@pytest.mark.parametrize("name", ["model.obj", "model.stl.zip", "STL"])
def test_unsupported_extension(name: str) -> None:
    with pytest.raises(DesignFormatError, match="upload STL, 3MF or STEP"):
        DesignInspector(name)


def test_unsupported_extension_message() -> None:
    with pytest.raises(DesignFormatError) as error:
        DesignInspector("part.obj")
    assert str(error.value) == "Unsupported file type “.obj”: upload STL, 3MF or STEP."


def test_3mf_renamed_stl() -> None:
    data = (TESTDATA / "3mf" / "box.3mf").read_bytes()
    with pytest.raises(DesignFormatError, match=r"“part.stl” is not an STL file.*ZIP"):
        inspect("part.stl", data)


def test_stl_renamed_3mf() -> None:
    for filename in ("cube_ascii.stl", "cube_binary.stl"):
        data = (TESTDATA / "stl" / filename).read_bytes()
        with pytest.raises(DesignFormatError, match=r"“part.3mf” is not a 3MF file"):
            inspect("part.3mf", data)


def test_random_bytes_as_step() -> None:
    data = np.random.default_rng(7).bytes(5000)
    with pytest.raises(DesignFormatError, match="is not a STEP file"):
        inspect("part.step", data)


STEP_TEXT = b"ISO-10303-21;\nHEADER;\nFILE_DESCRIPTION(('part'),'2;1');\nENDSEC;\nDATA;\n"


def test_step_is_sniffed_not_measured() -> None:
    for data in (STEP_TEXT, b"\xef\xbb\xbf \r\n" + STEP_TEXT * 100):
        for name in ("part.step", "PART.STP"):
            assert inspect(name, data, 5) == Inspection(FileKind.STEP, None)


def test_step_renamed_stl() -> None:
    with pytest.raises(DesignFormatError, match=r"not an STL file.*STEP"):
        inspect("part.stl", STEP_TEXT)


def test_error_is_sticky_and_finish_is_final() -> None:
    inspector = DesignInspector("t.stl")
    data = binary_stl(np.concatenate([TETRA] * 10), count=1)  # long enough to be sniffed
    with pytest.raises(DesignFormatError) as first:
        inspector.feed(data)
    with pytest.raises(DesignFormatError) as second:
        inspector.feed(b"more")
    assert second.value is first.value
    done = DesignInspector("t.stl")
    done.feed(binary_stl(TETRA))
    done.finish()
    with pytest.raises(RuntimeError):
        done.feed(b"")


# --- 3MF: an independent reference -----------------------------------------------------------

CORE = "http://schemas.microsoft.com/3dmanufacturing/core/2015/02"
PROD = "http://schemas.microsoft.com/3dmanufacturing/production/2015/06"
UNIT_MM = {
    "micron": 0.001,
    "millimeter": 1,
    "centimeter": 10,
    "inch": 25.4,
    "foot": 304.8,
    "meter": 1000,
}


def apply_transform(transform: str | None, points: np.ndarray) -> np.ndarray:
    """Apply a 3MF transform as the spec writes it out: x' = m00 x + m10 y + m20 z + m30, ..."""
    if transform is None:
        return points
    m = [float(v) for v in transform.split()]
    x, y, z = points[:, 0], points[:, 1], points[:, 2]
    return np.stack(
        [
            m[0] * x + m[3] * y + m[6] * z + m[9],
            m[1] * x + m[4] * y + m[7] * z + m[10],
            m[2] * x + m[5] * y + m[8] * z + m[11],
        ],
        axis=1,
    )


def reference_3mf(data: bytes) -> tuple[int, np.ndarray, np.ndarray, float]:
    package = zipfile.ZipFile(io.BytesIO(data))
    # The test's own packages and the shared samples are trusted input.
    rels = ET.fromstring(package.read("_rels/.rels"))  # noqa: S314
    root = next(r.get("Target") for r in rels if str(r.get("Type")).endswith("/3dmodel"))
    assert root is not None
    documents = {
        "/" + name.lower(): ET.fromstring(package.read(name))  # noqa: S314
        for name in package.namelist()
        if name.endswith(".model")
    }
    root_key = "/" + root.lstrip("/").lower()
    unit = UNIT_MM[documents[root_key].get("unit", "millimeter")]
    count = 0
    points: list[np.ndarray] = []
    volume = 0.0

    def find_object(part: str, object_id: str) -> ET.Element:
        for obj in documents[part].iter(f"{{{CORE}}}object"):
            if obj.get("id") == object_id:
                return obj
        raise KeyError(object_id)

    def place(part: str, object_id: str, transforms: list[str | None]) -> None:
        nonlocal count, volume
        obj = find_object(part, object_id)
        vertices = np.array(
            [[float(v.get(a, "nan")) for a in "xyz"] for v in obj.iter(f"{{{CORE}}}vertex")]
        ).reshape(-1, 3)
        triangles = np.array(
            [
                [int(t.get(a, "-1")) for a in ("v1", "v2", "v3")]
                for t in obj.iter(f"{{{CORE}}}triangle")
            ],
            dtype=int,
        ).reshape(-1, 3)
        if len(triangles):
            for transform in transforms:  # innermost first
                vertices = apply_transform(transform, vertices)
            corners = vertices[triangles]
            count += len(triangles)
            points.append(corners.reshape(-1, 3))
            volume += abs(np.linalg.det(corners).sum() / 6)
        for component in obj.iter(f"{{{CORE}}}component"):
            path = component.get(f"{{{PROD}}}path")
            place(
                part if path is None else path.lower(),
                str(component.get("objectid")),
                [component.get("transform"), *transforms],
            )

    build = documents[root_key].find(f"{{{CORE}}}build")
    assert build is not None
    for item in build:
        path = item.get(f"{{{PROD}}}path")
        place(
            root_key if path is None else path.lower(),
            str(item.get("objectid")),
            [item.get("transform")],
        )
    everything = np.concatenate(points) * unit
    return count, everything.min(axis=0), everything.max(axis=0), volume * unit**3 / 1000


@pytest.mark.parametrize("chunk_size", [7, 64, 4096, None])
@pytest.mark.parametrize("filename", THREE_MF_FILES)
def test_3mf_matches_reference(filename: str, chunk_size: int | None) -> None:
    data = (TESTDATA / "3mf" / filename).read_bytes()
    result = inspect(filename, data, chunk_size)
    assert result.kind is FileKind.THREE_MF
    assert_geometry(result.geometry, *reference_3mf(data), rel=1e-9)


@settings(max_examples=30)
@given(filename=st.sampled_from(THREE_MF_FILES), cuts=st.lists(st.integers(0, 40_000)))
def test_3mf_random_chunking(filename: str, cuts: list[int]) -> None:
    data = (TESTDATA / "3mf" / filename).read_bytes()
    assert inspect_cuts(filename, data, cuts) == inspect(filename, data, None)


def test_3mf_one_byte_chunks() -> None:
    data = (TESTDATA / "3mf" / "box_prod.3mf").read_bytes()
    assert inspect("box.3mf", data, 1) == inspect("box.3mf", data, None)


def test_3mf_box_analytic() -> None:
    data = (TESTDATA / "3mf" / "box.3mf").read_bytes()
    geometry = inspect("box.3mf", data).geometry
    assert_geometry(geometry, 12, (0, 0, 0), (10, 20, 30), 6.0, rel=1e-12)
    assert geometry is not None
    assert geometry.size_mm == (10, 20, 30)
    prod = inspect("box.3mf", (TESTDATA / "3mf" / "box_prod.3mf").read_bytes()).geometry
    assert_geometry(prod, 12, (35, 33, 16.92), (45, 53, 46.92), 6.0, rel=1e-12)


def test_3mf_multiple_items_and_analytic_bounds() -> None:
    several = inspect("c.3mf", (TESTDATA / "3mf" / "multiple_cylinders.3mf").read_bytes())
    # Six copies of an 88-triangle cylinder of diameter 20 mm and height 20 mm, on a 3 x 2 grid.
    assert_geometry(
        several.geometry, 6 * 88, (0, 0.002, 0), (62, 20.7964 + 19.7984, 20), 37.1885572536
    )
    sphere = inspect("s.3mf", (TESTDATA / "3mf" / "sphere.3mf").read_bytes()).geometry
    assert sphere is not None
    # A tessellated sphere of radius 10 mm, moved by (10, 10, 10).
    assert sphere.triangle_count == 2880
    assert sphere.bbox_min == pytest.approx((0, 0, 0), abs=1e-6)
    assert sphere.bbox_max == pytest.approx((20, 20, 20), abs=1e-6)
    assert sphere.volume_cm3 == pytest.approx(4 / 3 * math.pi, rel=0.01)


# --- 3MF: synthetic packages ------------------------------------------------------------------

HOSTILE = Path(__file__).resolve().parents[1] / "data" / "hostile"


def _load_corpus_builders() -> ModuleType:
    """The corpus generator, a script beside the files it writes, holds the archive builders."""
    spec = importlib.util.spec_from_file_location("hostile_corpus", HOSTILE / "make_corpus.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while being defined
    spec.loader.exec_module(module)
    return module


corpus = _load_corpus_builders()

# The package parts every 3MF has, as the corpus generator writes them.
CONTENT_TYPES: str = corpus.CONTENT_TYPES


def root_rels(target: str) -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        f'<Relationship Target="{target}" Id="rel0" '
        'Type="http://schemas.microsoft.com/3dmanufacturing/2013/01/3dmodel"/>'
        "</Relationships>"
    )


def cube_object(object_id: int, size: float = 10.0) -> str:
    """A closed, outward-oriented cube with one corner at the origin (triangles from box.3mf)."""
    corners = [
        (x, y, z) for z in (0, size) for x, y in ((0, 0), (size, 0), (size, size), (0, size))
    ]
    vertices = "".join(f'<vertex x="{x}" y="{y}" z="{z}"/>' for x, y, z in corners)
    faces = [(3, 2, 1), (1, 0, 3), (4, 5, 6), (6, 7, 4), (0, 1, 5), (5, 4, 0)]
    faces += [(1, 2, 6), (6, 5, 1), (2, 3, 7), (7, 6, 2), (3, 0, 4), (4, 7, 3)]
    triangles = "".join(f'<triangle v1="{a}" v2="{b}" v3="{c}"/>' for a, b, c in faces)
    return (
        f'<object id="{object_id}" type="model"><mesh><vertices>{vertices}</vertices>'
        f"<triangles>{triangles}</triangles></mesh></object>"
    )


def model(resources: str, build: str, unit: str = "millimeter") -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<model unit="{unit}" xml:lang="en-US" xmlns="{CORE}" xmlns:p="{PROD}">'
        f"<resources>{resources}</resources><build>{build}</build></model>"
    )


class NonSeekable(io.RawIOBase):
    """A write-only stream that can't seek, so zipfile writes data descriptors (flag bit 3)."""

    def __init__(self) -> None:
        self.data = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, b: bytes) -> int:  # type: ignore[override]
        self.data += b
        return len(b)


def make_3mf(
    parts: dict[str, str],
    *,
    root: str = "/3D/3dmodel.model",
    streamed: bool = False,
    compression: int = zipfile.ZIP_DEFLATED,
) -> bytes:
    files = {"[Content_Types].xml": CONTENT_TYPES, "_rels/.rels": root_rels(root), **parts}
    target: io.BytesIO | NonSeekable = NonSeekable() if streamed else io.BytesIO()
    with zipfile.ZipFile(target, "w", compression) as package:
        for name, text in files.items():
            package.writestr(name, text)
    return bytes(target.data) if isinstance(target, NonSeekable) else target.getvalue()


def check_3mf(
    data: bytes, count: int, lo: tuple[float, ...], hi: tuple[float, ...], volume: float
) -> None:
    """Check the analytic values against the inspector and the reference, in two chunkings."""
    expected = (count, lo, hi, volume)
    assert_geometry(inspect("m.3mf", data, None).geometry, *expected, rel=1e-9)
    assert_geometry(inspect("m.3mf", data, 5).geometry, *expected, rel=1e-9)
    ref_count, ref_lo, ref_hi, ref_volume = reference_3mf(data)
    assert ref_count == count
    assert ref_lo == pytest.approx(lo, abs=1e-9)
    assert ref_hi == pytest.approx(hi, abs=1e-9)
    assert ref_volume == pytest.approx(volume, rel=1e-9)


def test_3mf_components_with_transforms() -> None:
    resources = cube_object(1) + (
        '<object id="2" type="model"><components>'
        '<component objectid="1" transform="1 0 0 0 1 0 0 0 1 20 0 0"/>'
        '<component objectid="1" transform="2 0 0 0 2 0 0 0 2 0 0 0"/>'
        "</components></object>"
    )
    data = make_3mf(
        {
            "3D/3dmodel.model": model(
                resources, '<item objectid="2" transform="1 0 0 0 1 0 0 0 1 0 0 5"/>'
            )
        }
    )
    check_3mf(data, 24, (0, 0, 5), (30, 20, 25), 1.0 + 8.0)


def test_3mf_nested_components_rotation_and_mirror() -> None:
    resources = cube_object(1) + (
        # Rotated 90 degrees about z: (x, y) -> (-y, x) with row vectors.
        '<object id="2"><components><component objectid="1" transform="0 1 0 -1 0 0 0 0 1 0 0 0"/>'
        "</components></object>"
        # Mirrored in x, which flips the triangles' winding: the volume must still count.
        '<object id="3"><components><component objectid="2" transform="-1 0 0 0 1 0 0 0 1 0 0 0"/>'
        '<component objectid="1"/></components></object>'
    )
    data = make_3mf(
        {"3D/3dmodel.model": model(resources, '<item objectid="3"/><item objectid="2"/>')}
    )
    check_3mf(data, 36, (-10, 0, 0), (10, 10, 10), 3.0)


@pytest.mark.parametrize(("unit", "mm"), list(UNIT_MM.items()))
def test_3mf_units(unit: str, mm: float) -> None:
    data = make_3mf({"3D/3dmodel.model": model(cube_object(1, 1.0), '<item objectid="1"/>', unit)})
    check_3mf(data, 12, (0, 0, 0), (mm, mm, mm), mm**3 / 1000)


def test_3mf_production_paths_to_other_parts() -> None:
    other = model(cube_object(7), "")
    resources = (
        '<object id="1"><components>'
        '<component objectid="7" p:path="/3D/Objects/other.model" '
        'transform="1 0 0 0 1 0 0 0 1 0 0 10"/>'
        "</components></object>"
    )
    build = '<item objectid="1"/><item objectid="7" p:path="/3D/Objects/other.model"/>'
    data = make_3mf({"3D/Objects/other.model": other, "3D/3dmodel.model": model(resources, build)})
    check_3mf(data, 24, (0, 0, 0), (10, 10, 20), 2.0)


def test_3mf_root_part_named_by_relationships() -> None:
    data = make_3mf(
        {
            "3D/3dmodel.model": model(cube_object(1, 1), '<item objectid="1"/>'),
            "3D/Main.model": model(cube_object(1, 2), '<item objectid="1"/>'),
        },
        root="/3D/Main.model",
    )
    check_3mf(data, 12, (0, 0, 0), (2, 2, 2), 0.008)


def test_3mf_with_data_descriptors() -> None:
    data = make_3mf(
        {"3D/3dmodel.model": model(cube_object(1), '<item objectid="1"/>')}, streamed=True
    )
    flags = [info.flag_bits for info in zipfile.ZipFile(io.BytesIO(data)).infolist()]
    assert all(flag & 0x08 for flag in flags)
    check_3mf(data, 12, (0, 0, 0), (10, 10, 10), 1.0)


def test_3mf_with_zip64_data_descriptors() -> None:
    stream = NonSeekable()
    with zipfile.ZipFile(stream, "w", zipfile.ZIP_DEFLATED) as package:
        package.writestr("_rels/.rels", root_rels("/3D/3dmodel.model"))
        with package.open("3D/3dmodel.model", "w", force_zip64=True) as entry:
            entry.write(model(cube_object(1), '<item objectid="1"/>').encode())
    data = bytes(stream.data)
    assert b"\x01\x00\x10\x00" in data  # the ZIP64 extra field header
    check_3mf(data, 12, (0, 0, 0), (10, 10, 10), 1.0)


def test_3mf_stored_entries() -> None:
    parts = {"3D/3dmodel.model": model(cube_object(1), '<item objectid="1"/>')}
    data = make_3mf(parts, compression=zipfile.ZIP_STORED)
    check_3mf(data, 12, (0, 0, 0), (10, 10, 10), 1.0)
    streamed = make_3mf(parts, compression=zipfile.ZIP_STORED, streamed=True)
    with pytest.raises(DesignFormatError, match="stored uncompressed without its size"):
        inspect("m.3mf", streamed)


def test_3mf_zip_bomb() -> None:
    padding = "<!--" + " " * (64 << 20) + "-->"
    xml = model(cube_object(1), '<item objectid="1"/>').replace(
        "<resources>", padding + "<resources>"
    )
    data = make_3mf({"3D/3dmodel.model": xml})
    assert len(data) < 200_000
    inspector = DesignInspector("bomb.3mf", max_uncompressed_bytes=1 << 20)
    with pytest.raises(DesignFormatError) as error:
        for piece in pieces(data, 4096):
            inspector.feed(piece)  # raises before the end of the data
    assert str(error.value) == "This 3MF expands to more than 1 MiB; refusing it."


def test_3mf_truncated() -> None:
    data = (TESTDATA / "3mf" / "box.3mf").read_bytes()
    for cut in (10, 100, len(data) // 2, len(data) - 30):
        with pytest.raises(DesignFormatError, match="not a valid 3MF file"):
            inspect("box.3mf", data[:cut])


def test_3mf_corrupt_data() -> None:
    data = bytearray((TESTDATA / "3mf" / "cube_gears.3mf").read_bytes())
    data[len(data) // 2] ^= 0xFF
    with pytest.raises(DesignFormatError, match="not a valid 3MF file"):
        inspect("gears.3mf", bytes(data))


def test_3mf_checksum_mismatch() -> None:
    parts = {"3D/3dmodel.model": model(cube_object(1), '<item objectid="1"/>')}
    data = make_3mf(parts, compression=zipfile.ZIP_STORED)
    # Still well-formed XML, but no longer what the CRC-32 in the header covers.
    tampered = data.replace(b'x="10.0"', b'x="11.0"', 1)
    with pytest.raises(DesignFormatError, match="corrupt"):
        inspect("m.3mf", tampered)


def test_3mf_not_a_zip() -> None:
    with pytest.raises(DesignFormatError, match="not a ZIP archive"):
        inspect("m.3mf", b"<?xml version='1.0'?><model/>")


def test_3mf_without_model_part() -> None:
    data = make_3mf({"3D/readme.txt": "hello"})
    with pytest.raises(DesignFormatError, match="no 3D model part"):
        inspect("m.3mf", data)


def test_3mf_without_mesh_in_build() -> None:
    for build in ("", '<item objectid="2"/>'):
        data = make_3mf(
            {
                "3D/3dmodel.model": model(
                    cube_object(1) + '<object id="2"><mesh><vertices/><triangles/></mesh></object>',
                    build,
                )
            }
        )
        with pytest.raises(DesignFormatError, match="nothing to print"):
            inspect("m.3mf", data)


@pytest.mark.parametrize(
    ("xml", "message"),
    [
        (model(cube_object(1), '<item objectid="1">'), "XML error"),
        (model(cube_object(1), '<item objectid="9"/>'), "object 9"),
        (model(cube_object(1), '<item objectid="1" transform="1 0 0"/>'), "12 numbers"),
        (model(cube_object(1), '<item objectid="1"/>', "furlong"), "unknown unit"),
        (model(cube_object(1), "<item/>"), "lacks the attribute 'objectid'"),
        (
            model(cube_object(1).replace('x="10.0"', 'x="ten"', 1), '<item objectid="1"/>'),
            "invalid <vertex>",
        ),
        (
            model(cube_object(1).replace('v3="7"', 'v3="8"'), '<item objectid="1"/>'),
            "refers to a vertex",
        ),
        (model(cube_object(1) + cube_object(1), '<item objectid="1"/>'), "used twice"),
        ('<?xml version="1.0"?><!DOCTYPE model [<!ENTITY a "b">]><model/>', "document type"),
        (f'<other xmlns="{CORE}"/>', "not a 3MF <model>"),
    ],
)
def test_3mf_invalid_model(xml: str, message: str) -> None:
    data = make_3mf({"3D/3dmodel.model": xml})
    with pytest.raises(DesignFormatError, match=message):
        inspect("m.3mf", data)


def test_3mf_component_cycle() -> None:
    # Within a part, objects are defined before they are used, which rules cycles out...
    resources = (
        '<object id="1"><components><component objectid="2"/></components></object>'
        '<object id="2"><components><component objectid="1"/></components></object>'
    )
    data = make_3mf({"3D/3dmodel.model": model(resources, '<item objectid="1"/>')})
    with pytest.raises(DesignFormatError, match="refers to object 2, which is not defined before"):
        inspect("m.3mf", data)
    # ...but the root part's components may name a part by p:path, even their own.
    resources = (
        '<object id="1"><components>'
        '<component objectid="1" p:path="/3D/3dmodel.model"/></components></object>'
    )
    data = make_3mf({"3D/3dmodel.model": model(resources, '<item objectid="1"/>')})
    with pytest.raises(DesignFormatError, match="contains itself"):
        inspect("m.3mf", data)


def test_3mf_component_fan_out_is_bounded() -> None:
    # Twelve levels of ten copies each would place 10**12 cubes.
    resources = cube_object(1) + "".join(
        f'<object id="{level}"><components>'
        + f'<component objectid="{level - 1}"/>' * 10
        + "</components></object>"
        for level in range(2, 14)
    )
    data = make_3mf({"3D/3dmodel.model": model(resources, '<item objectid="13"/>')})
    with pytest.raises(DesignFormatError, match="places more than 100000 objects"):
        inspect("m.3mf", data)


def test_3mf_build_triangle_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(threemf, "_MAX_BUILD_TRIANGLES", 20)
    data = make_3mf({"3D/3dmodel.model": model(cube_object(1), '<item objectid="1"/>' * 2)})
    with pytest.raises(DesignFormatError, match="more than 20 triangles"):
        inspect("m.3mf", data)


# --- closed meshes: watertight, consistently wound, and only then a volume --------------------


def stl_triangles(path: Path) -> np.ndarray:
    """The facets' corners as the file holds them, float32, shape (n, 3, 3)."""
    return np.array(mesh.Mesh.from_file(str(path)).vectors, dtype=np.float32)


def exact_volume_mm3(triangles: np.ndarray) -> Fraction:
    """Signed volume of float32 corners in exact rational arithmetic: with nothing rounded,
    it is the same for a closed mesh wherever the mesh is."""
    values = [v.as_integer_ratio() for v in triangles.astype(np.float64).ravel().tolist()]
    denominator = max(d for _, d in values)  # powers of two, so a multiple of all of them
    corners = iter([n * (denominator // d) for n, d in values])
    total = 0
    for px, py, pz, qx, qy, qz, rx, ry, rz in zip(*[corners] * 9, strict=True):
        total += px * (qy * rz - qz * ry) + py * (qz * rx - qx * rz) + pz * (qx * ry - qy * rx)
    return Fraction(total, 6 * denominator**3)


def closure(geometry: Geometry | None) -> tuple[bool | None, bool | None]:
    assert geometry is not None
    return geometry.watertight, geometry.consistently_wound


CUBE = stl_triangles(TESTDATA / "stl" / "cube_binary.stl")
# triamid.stl with the five facets that are wound against the other five turned over.
TRIAMID_REWOUND_FACETS = [0, 2, 3, 6, 8]


@pytest.mark.parametrize("filename", STL_FILES)
def test_sample_stl_meshes_are_closed(filename: str) -> None:
    geometry = inspect(filename, (TESTDATA / "stl" / filename).read_bytes()).geometry
    assert closure(geometry) == (True, True)


@pytest.mark.parametrize("filename", THREE_MF_FILES)
def test_sample_3mf_meshes_are_closed(filename: str) -> None:
    geometry = inspect(filename, (TESTDATA / "3mf" / filename).read_bytes()).geometry
    assert closure(geometry) == (True, True)


@pytest.mark.parametrize("filename", [*STL_FILES, "triamid_rewound"])
def test_stl_volume_does_not_depend_on_where_the_mesh_is(filename: str) -> None:
    # given a sample mesh, and the same mesh 10 m away along every axis
    if filename == "triamid_rewound":
        triangles = stl_triangles(GEOMETRY_DATA / "triamid.stl")
        triangles[TRIAMID_REWOUND_FACETS] = triangles[TRIAMID_REWOUND_FACETS, ::-1]
    else:
        triangles = stl_triangles(TESTDATA / "stl" / filename)
    moved = (triangles.astype(np.float64) + 1e4).astype(np.float32)
    # when both are measured
    here = inspect("here.stl", binary_stl(triangles)).geometry
    there = inspect("there.stl", binary_stl(moved)).geometry
    # then each volume is its mesh's exact one (measured from the origin, as it was, the
    # half donut 10 m away was off by 3e-8 of its volume, and triamid as it is, 0.005333 cm³
    # at the origin, became 66.67 cm³)...
    assert here is not None and there is not None
    assert here.volume_cm3 == pytest.approx(float(exact_volume_mm3(triangles)) / 1000, rel=1e-12)
    assert there.volume_cm3 == pytest.approx(float(exact_volume_mm3(moved)) / 1000, rel=1e-12)
    # ...and they differ only by what rounding the corners to float32 there does to the mesh
    assert there.volume_cm3 == pytest.approx(here.volume_cm3, rel=1e-3)
    assert closure(there) == (True, True)


@pytest.mark.parametrize("filename", THREE_MF_FILES)
def test_3mf_volume_does_not_depend_on_where_the_mesh_is(filename: str) -> None:
    data = (TESTDATA / "3mf" / filename).read_bytes()
    here = inspect(filename, data).geometry
    there = inspect(filename, move_vertices(data, 1e4)).geometry
    assert here is not None and there is not None and here.volume_cm3 is not None
    assert there.volume_cm3 == pytest.approx(here.volume_cm3, rel=1e-12)
    assert there.bbox_min != here.bbox_min


def move_vertices(data: bytes, offset: float) -> bytes:
    """The package with every vertex of every model part moved by ``offset`` along each axis."""

    def move(vertex: re.Match[str]) -> str:
        return re.sub(
            r'\b([xyz])="([^"]*)"',
            lambda value: f'{value[1]}="{float(value[2]) + offset!r}"',
            vertex[0],
        )

    source = zipfile.ZipFile(io.BytesIO(data))
    target = io.BytesIO()
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as package:
        for info in source.infolist():
            content = source.read(info)
            if info.filename.endswith(".model"):
                content = re.sub(r"<vertex\s[^>]*>", move, content.decode()).encode()
            package.writestr(info.filename, content)
    return target.getvalue()


def test_an_inconsistently_wound_mesh_is_flagged_and_gets_no_volume() -> None:
    # given numpy-stl's triamid.stl: closed, but five of its facets face inwards
    path = GEOMETRY_DATA / "triamid.stl"
    triangles = stl_triangles(path)
    # when it is measured
    geometry = inspect("triamid.stl", path.read_bytes()).geometry
    # then it says why it states no volume, rather than 0.005333 cm³ (origin-based, as this
    # used to) or numpy-stl's 0.002667: a signed sum that depends on where the origin is
    assert closure(geometry) == (True, False)
    assert geometry is not None and geometry.volume_cm3 is None
    assert exact_volume_mm3(triangles) != exact_volume_mm3(triangles + np.float32(1))
    # and once rewound it is the frustum (bases 8 and 2 mm², 2 mm high: 28/3 mm³) and the
    # tetrahedron (4/3 mm³) it looks like, as numpy-stl agrees
    triangles[TRIAMID_REWOUND_FACETS] = triangles[TRIAMID_REWOUND_FACETS, ::-1]
    rewound = inspect("triamid.stl", binary_stl(triangles)).geometry
    assert closure(rewound) == (True, True)
    assert rewound is not None and rewound.volume_cm3 == pytest.approx(32 / 3 / 1000, rel=1e-12)
    reference = mesh.Mesh(np.zeros(len(triangles), dtype=mesh.Mesh.dtype))
    reference.vectors[:] = triangles
    assert float(reference.get_mass_properties()[0]) / 1000 == pytest.approx(32 / 3 / 1000)


def stl_variants(triangles: np.ndarray) -> list[tuple[str, bytes]]:
    return [("b.stl", binary_stl(triangles)), ("a.stl", ascii_stl(triangles).encode())]


def test_a_cube_with_a_facet_missing_is_not_watertight() -> None:
    for name, data in stl_variants(CUBE[1:]):
        geometry = inspect(name, data, 7).geometry
        assert closure(geometry) == (False, True)
        assert geometry is not None and geometry.volume_cm3 is None
    missing = cube_object(1).replace('<triangle v1="3" v2="2" v3="1"/>', "")
    geometry = inspect("m.3mf", make_3mf({MODEL_PART: model(missing, ITEM_1)})).geometry
    assert closure(geometry) == (False, True)
    assert geometry is not None and geometry.volume_cm3 is None


def test_a_cube_with_a_facet_turned_over_is_not_consistently_wound() -> None:
    flipped = CUBE.copy()
    flipped[3] = flipped[3, ::-1]
    for name, data in stl_variants(flipped):
        geometry = inspect(name, data, 7).geometry
        assert closure(geometry) == (True, False)
        assert geometry is not None and geometry.volume_cm3 is None
    turned = cube_object(1).replace('v1="3" v2="2" v3="1"', 'v1="1" v2="2" v3="3"')
    geometry = inspect("m.3mf", make_3mf({MODEL_PART: model(turned, ITEM_1)})).geometry
    assert closure(geometry) == (True, False)
    assert geometry is not None and geometry.volume_cm3 is None


def test_a_cube_with_an_extra_facet_on_an_edge_is_not_watertight() -> None:
    # Two facets along the bottom front edge, in opposite directions: four on that edge.
    extra = np.array([[[0, 0, 0], [2, 0, 0], [1, 1, 1]], [[2, 0, 0], [0, 0, 0], [1, 1, 1]]])
    geometry = inspect("t.stl", binary_stl(np.concatenate([CUBE, extra]))).geometry
    assert closure(geometry) == (False, True)


def test_stl_edges_are_matched_by_coordinates_minus_zero_included() -> None:
    # given the cube with one corner written as -0.0, and a sliver facet with a repeated corner
    signed = CUBE.copy()
    assert tuple(signed[1, 0]) == (0, 0, 0)
    signed[1, 0] = (-0.0, 0, -0.0)
    sliver = np.array([[[0, 0, 0], [0, 0, 0], [2, 0, 0]]])
    for name, data in stl_variants(np.concatenate([signed, sliver])):
        assert b"-0.0" in data or name == "b.stl"
        # then the mesh is still closed: -0.0 is 0.0, and the sliver bounds nothing
        geometry = inspect(name, data).geometry
        assert closure(geometry) == (True, True)
        assert_geometry(geometry, 13, (0, 0, 0), (2, 2, 2), 8 / 1000)


def test_3mf_edges_are_matched_by_vertex_index() -> None:
    # The cube with its first vertex written twice and one triangle using the copy: the same
    # point, but the specification defines edges by index, so the cube is open there.
    duplicated = (
        cube_object(1)
        .replace("</vertices>", '<vertex x="0" y="0" z="0"/></vertices>')
        .replace('v1="1" v2="0" v3="3"', 'v1="1" v2="8" v3="3"')
    )
    geometry = inspect("m.3mf", make_3mf({MODEL_PART: model(duplicated, ITEM_1)})).geometry
    assert closure(geometry) == (False, True)


def test_stls_above_the_bound_are_measured_without_being_checked() -> None:
    # An STL too large to check gets its volume stated, and the flags say it was not checked.
    for name, data in stl_variants(CUBE):
        unchecked = inspect(name, data, max_stl_checked_triangles=11).geometry
        assert closure(unchecked) == (None, None)
        assert_geometry(unchecked, 12, (0, 0, 0), (2, 2, 2), 8 / 1000)
        checked = inspect(name, data, max_stl_checked_triangles=12).geometry
        assert closure(checked) == (True, True)
    # A 3MF holds its meshes anyway, and is always checked.
    cube_3mf = make_3mf({MODEL_PART: model(cube_object(1, 2.0), ITEM_1)})
    geometry = inspect("c.3mf", cube_3mf, max_stl_checked_triangles=0).geometry
    assert closure(geometry) == (True, True)
    # An open mesh's volume too: it is the bound that says nothing is known.
    for name, data in stl_variants(CUBE[1:]):
        geometry = inspect(name, data, max_stl_checked_triangles=10).geometry
        assert closure(geometry) == (None, None)
        assert geometry is not None and geometry.volume_cm3 is not None


def test_a_binary_stl_declaring_more_facets_than_are_checked_keeps_none() -> None:
    # The count in the header decides, before any facet: a file that declares 4294967295 is
    # not given a buffer for them (it is refused at its end for being too short).
    for limit, kept in ((3, False), (4, True)):
        parser = stl_parsers.BinaryStlParser("t.stl", max_checked_triangles=limit)
        parser.feed(binary_stl(TETRA)[:84])
        assert (parser._corners._buffer is not None) is kept
        parser.feed(binary_stl(TETRA)[84:])
        geometry = parser.finish().geometry
        assert closure(geometry) == ((True, True) if kept else (None, None))


def test_3mf_support_and_surface_objects_are_not_solids() -> None:
    # given a cube, and an open surface (one triangle) and a support (a cube) beside it
    surface = (
        '<object id="2" type="surface"><mesh><vertices><vertex x="0" y="0" z="0"/>'
        '<vertex x="30" y="0" z="0"/><vertex x="0" y="30" z="0"/></vertices><triangles>'
        '<triangle v1="0" v2="1" v3="2"/></triangles></mesh></object>'
    )
    support = cube_object(3).replace('type="model"', 'type="support"')
    solid_support = cube_object(4).replace('type="model"', 'type="solidsupport"')
    resources = cube_object(1) + surface + support + solid_support
    build = '<item objectid="1"/><item objectid="2"/><item objectid="3"/>'
    # when measured, then they count in the triangles and the box, but not in the volume, and
    # need not be closed
    geometry = inspect("m.3mf", make_3mf({MODEL_PART: model(resources, build)})).geometry
    assert_geometry(geometry, 25, (0, 0, 0), (30, 30, 10), 1.0)
    assert closure(geometry) == (True, True)
    # a solid support is a solid
    build += '<item objectid="4" transform="1 0 0 0 1 0 0 0 1 0 0 10"/>'
    geometry = inspect("m.3mf", make_3mf({MODEL_PART: model(resources, build)})).geometry
    assert_geometry(geometry, 37, (0, 0, 0), (30, 30, 20), 2.0)
    # and a build of surfaces alone has no volume to state, nor a solid to check
    surfaces = make_3mf({MODEL_PART: model(surface, '<item objectid="2"/>')})
    geometry = inspect("m.3mf", surfaces).geometry
    assert_geometry(geometry, 1, (0, 0, 0), (30, 30, 0), None)
    assert closure(geometry) == (None, None)


# --- 3MF: what the core specification requires of a file ---------------------------------------

MODEL_PART = "3D/3dmodel.model"
ITEM_1 = '<item objectid="1"/>'
BEAM_LATTICE = "http://schemas.microsoft.com/3dmanufacturing/beamlattice/2017/02"
MATERIALS = "http://schemas.microsoft.com/3dmanufacturing/material/2015/02"


def relationships(*targets: str) -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        + "".join(
            f'<Relationship Target="{target}" Id="rel{index}" '
            'Type="http://schemas.microsoft.com/3dmanufacturing/2013/01/3dmodel"/>'
            for index, target in enumerate(targets)
        )
        + "</Relationships>"
    )


def requiring(xml: str, prefixes: str, declarations: str = "") -> str:
    return xml.replace("<model ", f'<model requiredextensions="{prefixes}" {declarations} ', 1)


def test_3mf_root_part_is_found_through_the_relationship_only() -> None:
    cube_model = model(cube_object(1), ITEM_1)
    # No relationships: the part at the conventional name is not the root by its name alone.
    package = io.BytesIO()
    with zipfile.ZipFile(package, "w") as archive:
        archive.writestr("[Content_Types].xml", CONTENT_TYPES)
        archive.writestr(MODEL_PART, cube_model)
    with pytest.raises(DesignFormatError, match=r"no 3D model part \(its package relationships"):
        inspect("m.3mf", package.getvalue())
    # A relationship to a part that is not there.
    data = make_3mf({MODEL_PART: cube_model}, root="/3D/Main.model")
    with pytest.raises(DesignFormatError, match=r"no 3D model part \(/3d/main.model\)"):
        inspect("m.3mf", data)
    # Two roots, even to the same part.
    for targets in (("/3D/3dmodel.model", "/3D/other.model"), ("/3D/3dmodel.model",) * 2):
        parts = {MODEL_PART: cube_model, "3D/other.model": cube_model}
        data = make_3mf({**parts, "_rels/.rels": relationships(*targets)})
        with pytest.raises(DesignFormatError, match="name 2 3D model parts, not one"):
            inspect("m.3mf", data)
    # A target relative to the package root is the same part.
    data = make_3mf({MODEL_PART: cube_model, "_rels/.rels": relationships("3D/3dmodel.model")})
    assert inspect("m.3mf", data).geometry is not None


@pytest.mark.parametrize(
    ("prefixes", "declarations"),
    [
        ("p", ""),  # production, declared by model()
        ("m p", f'xmlns:m="{MATERIALS}"'),
        ("t", 'xmlns:t="http://schemas.microsoft.com/3dmanufacturing/trianglesets/2021/07"'),
    ],
)
def test_3mf_required_extensions_that_change_no_shape_are_accepted(
    prefixes: str, declarations: str
) -> None:
    xml = requiring(model(cube_object(1), ITEM_1), prefixes, declarations)
    check_3mf(make_3mf({MODEL_PART: xml}), 12, (0, 0, 0), (10, 10, 10), 1.0)


def test_3mf_required_extensions_not_supported_are_refused() -> None:
    lattice = requiring(model(cube_object(1), ITEM_1), "p b", f'xmlns:b="{BEAM_LATTICE}"')
    with pytest.raises(DesignFormatError) as error:
        inspect("m.3mf", make_3mf({MODEL_PART: lattice}))
    assert str(error.value) == (
        f"“m.3mf” requires the 3MF extension {BEAM_LATTICE}, which PrintFair does not support: "
        "it cannot be measured. Export it without that extension, or as STL."
    )
    undeclared = requiring(model(cube_object(1), ITEM_1), "q")
    with pytest.raises(DesignFormatError, match="the prefix “q”, which it does not declare"):
        inspect("m.3mf", make_3mf({MODEL_PART: undeclared}))
    # Another part's requirements count where the build uses that part, and only there.
    other = requiring(model(cube_object(7), ""), "b", f'xmlns:b="{BEAM_LATTICE}"')
    for build, refused in ((ITEM_1, False), ('<item objectid="7" p:path="/3D/o.model"/>', True)):
        data = make_3mf({"3D/o.model": other, MODEL_PART: model(cube_object(1), build)})
        if refused:
            with pytest.raises(DesignFormatError, match="beamlattice"):
                inspect("m.3mf", data)
        else:
            assert inspect("m.3mf", data).geometry is not None


def test_3mf_objects_of_type_other_are_not_printed() -> None:
    other = cube_object(1).replace('type="model"', 'type="other"')
    holder = '<object id="2"><components><component objectid="1"/></components></object>'
    for build in (ITEM_1, '<item objectid="2"/>'):
        data = make_3mf({MODEL_PART: model(other + holder, build)})
        with pytest.raises(DesignFormatError, match="object 1, whose type is “other”"):
            inspect("m.3mf", data)
    # Defined but not in the build, it is no matter.
    data = make_3mf({MODEL_PART: model(other + cube_object(3), '<item objectid="3"/>')})
    assert inspect("m.3mf", data).geometry is not None


def test_3mf_components_only_in_the_root_part_may_refer_to_other_parts() -> None:
    leaf = model(cube_object(8), "")
    middle = model(
        '<object id="7"><components><component objectid="8" p:path="/3D/leaf.model"/>'
        "</components></object>",
        "",
    )
    root = model(
        '<object id="1"><components><component objectid="7" p:path="/3D/middle.model"/>'
        "</components></object>",
        ITEM_1,
    )
    data = make_3mf({"3D/leaf.model": leaf, "3D/middle.model": middle, MODEL_PART: root})
    with pytest.raises(DesignFormatError, match="only the root model part's components may"):
        inspect("m.3mf", data)


@pytest.mark.parametrize(
    ("resources", "build", "message"),
    [
        # Objects are defined before components use them.
        (
            '<object id="2"><components><component objectid="1"/></components></object>'
            + cube_object(1),
            '<item objectid="2"/>',
            "refers to object 1, which is not defined before it",
        ),
        (
            '<object id="2"><components><component objectid="2"/></components></object>',
            '<item objectid="2"/>',
            "refers to object 2, which is not defined before it",
        ),
        (cube_object(1), '<item objectid="2"/>', "object 2, which /3d/3dmodel.model does not"),
        # Resource ids: positive, below 2**31, and one id space for objects and materials.
        (cube_object(0), '<item objectid="0"/>', "0 is not a resource id"),
        (cube_object(2**31), ITEM_1, "2147483648 is not a resource id"),
        (
            '<basematerials id="1"><base name="PLA" displaycolor="#FFFFFF"/></basematerials>'
            + cube_object(1),
            ITEM_1,
            "resource id 1 is used twice",
        ),
        (cube_object(1).replace('"model"', '"widget"'), ITEM_1, "unknown type “widget”"),
        # Triangles: three distinct vertices of their own object.
        (
            cube_object(1).replace('v1="3" v2="2" v3="1"', 'v1="2" v2="2" v3="1"'),
            ITEM_1,
            r"triangle 0 of object 1 repeats a vertex \(2, 2, 1\)",
        ),
        (
            cube_object(1).replace('v1="3" v2="2" v3="1"', 'v1="-1" v2="2" v3="1"'),
            ITEM_1,
            "refers to a vertex it does not have",
        ),
        # Transforms: twelve decimal numbers as the schema writes them.
        (cube_object(1), '<item objectid="1" transform="1 0 0 0 1 0 0 0 1 nan 0 0"/>', "“nan”"),
        (cube_object(1), '<item objectid="1" transform="1 0 0 0 1 0 0 0 1 0x1 0 0"/>', "“0x1”"),
        (cube_object(1), '<item objectid="1" transform="1 0 0 0 1 0 0 0 1 1,5 0 0"/>', "“1,5”"),
    ],
)
def test_3mf_references_and_values_the_specification_forbids(
    resources: str, build: str, message: str
) -> None:
    with pytest.raises(DesignFormatError, match=message):
        inspect("m.3mf", make_3mf({MODEL_PART: model(resources, build)}))


def test_3mf_transform_numbers_in_every_form_the_schema_allows() -> None:
    transform = "+1.0 0 0 0 1E0 0 0 0 .1e+1 -.5e1 0.0 +2.5e-0"
    data = make_3mf(
        {MODEL_PART: model(cube_object(1), f'<item objectid="1" transform="  {transform} "/>')}
    )
    check_3mf(data, 12, (-5, 0, 2.5), (5, 10, 12.5), 1.0)


# --- hostile input: zip bombs, lying headers, processor time and memory ----------------------

CUBE_3MF_MODEL: str = corpus.cube_model()
RATIO_REFUSAL = "This 3MF's part “{}” expands more than 100 times, far beyond any real 3MF"
# An upload reaches the inspector in chunks; smaller than the server's 1 MiB, to show how
# little of a file is read before it is refused.
UPLOAD_PIECE = 64 << 10


@dataclass(frozen=True)
class Refused:
    message: str
    fed: int  # bytes fed until the refusal, counting the chunk refused
    cpu_seconds: float
    wall_seconds: float


def refuse(name: str, data: bytes, chunk_size: int | None = UPLOAD_PIECE, **limits: Any) -> Refused:
    inspector = DesignInspector(name, **limits)
    fed = 0
    wall, cpu = time.perf_counter(), time.thread_time()
    with pytest.raises(DesignFormatError) as error:
        for piece in pieces(data, chunk_size):
            fed += len(piece)
            inspector.feed(piece)
        inspector.finish()
    return Refused(str(error.value), fed, time.thread_time() - cpu, time.perf_counter() - wall)


class CountingSink:
    def __init__(self) -> None:
        self.received = 0

    def write(self, data: bytes) -> None:
        self.received += len(data)

    def close(self) -> None:
        pass


@pytest.mark.parametrize(
    ("header", "refusal"),
    [
        # The local header says 1.5 GiB: refused before inflating anything.
        ("honest", "This 3MF expands to more than 512 MiB; refusing it."),
        # The local header says 0 and a data descriptor follows: only the ratio can tell.
        ("streamed", RATIO_REFUSAL.format("3D/3dmodel.model") + " (a zip bomb?); refusing it."),
    ],
)
def test_a_deflate_bomb_in_the_model_is_refused_after_a_small_part(
    header: str, refusal: str
) -> None:
    # given the issue's file: 1.5 MB whose model entry inflates to 1.5 GiB, about 1000:1
    bomb = corpus.deflate_bomb("3D/3dmodel.model", 1536, corpus.MODEL_HEAD.encode())
    data = corpus.raw_zip(corpus.package(bomb if header == "honest" else corpus.streamed(bomb)))
    assert len(data) < 1_700_000 and bomb.size > 1000 * len(bomb.data)
    # when it streams in
    tracemalloc.start()
    refused = refuse("bomb.3mf", data)
    _, peak_memory = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    # then the first chunk is enough, in milliseconds and a few MiB
    assert refused.message == refusal
    assert refused.fed == UPLOAD_PIECE
    assert refused.wall_seconds < 0.5
    assert peak_memory < 8 << 20


@pytest.mark.parametrize("chunk_size", [512, None])
def test_a_deflate_bomb_reaches_the_xml_parser_only_up_to_the_ratio_grace(
    chunk_size: int | None,
) -> None:
    bomb = corpus.deflate_bomb("3D/3dmodel.model", 256, corpus.MODEL_HEAD.encode())
    data = corpus.raw_zip(corpus.package(corpus.streamed(bomb)))
    sink = CountingSink()
    reader = zipstream.ZipStreamReader(
        "bomb.3mf",
        lambda name: sink if name.endswith(".model") else None,
        1 << 30,
        CpuBudget("bomb.3mf", 60),
    )
    with pytest.raises(DesignFormatError, match="expands more than 100 times"):
        for piece in pieces(data, chunk_size):
            reader.feed(piece)
    # Whatever the chunking, each step is checked before its output goes on, and a refused
    # step holds at most 1 MiB.
    assert sink.received <= zipstream._RATIO_GRACE


def test_a_deflate_bomb_in_a_thumbnail_is_refused_though_its_content_is_discarded() -> None:
    # 400 MiB, within the inflated budget, so that only the ratio stops it
    model = corpus.deflated("3D/3dmodel.model", CUBE_3MF_MODEL)
    thumbnail = corpus.deflate_bomb("Metadata/thumbnail.png", 400, fill=b"\0")
    refused = refuse("thumb.3mf", corpus.raw_zip(corpus.package(model, thumbnail)))
    assert refused.message.startswith(RATIO_REFUSAL.format("Metadata/thumbnail.png"))
    assert refused.fed == UPLOAD_PIECE
    assert refused.wall_seconds < 0.5


def test_a_stored_entry_passes_the_ratio_check_as_it_holds_what_it_says() -> None:
    # given a 2 MiB thumbnail of zero bytes, stored (method 0): its ratio is 1 by definition
    content = b"\0" * (2 << 20)
    stored = corpus.RawEntry(
        "Metadata/thumbnail.png", content, zlib.crc32(content), len(content), method=0
    )
    model = corpus.deflated("3D/3dmodel.model", CUBE_3MF_MODEL)
    data = corpus.raw_zip(corpus.package(model, stored))
    assert_geometry(inspect("m.3mf", data).geometry, 12, (0, 0, 0), (10, 10, 10), 1.0)
    # but the same content deflated, about 1000:1, is a bomb
    deflated = corpus.raw_zip(
        corpus.package(model, corpus.deflated("Metadata/thumbnail.png", content))
    )
    assert refuse("m.3mf", deflated).message.startswith(
        RATIO_REFUSAL.format("Metadata/thumbnail.png")
    )


def test_many_entries_under_the_ratio_cannot_add_up_past_the_inflated_budget() -> None:
    data = (HOSTILE / "many_entries_over_budget.3mf").read_bytes()
    notes = [i for i in zipfile.ZipFile(io.BytesIO(data)).infolist() if "notes" in i.filename]
    assert len(notes) == 12
    assert all(20 < i.file_size / i.compress_size < 100 for i in notes)
    assert all(i.file_size > 100 << 10 for i in notes)  # each past the ratio check's grace
    # It is a valid 3MF within the default limits...
    assert inspect("notes.3mf", data).geometry is not None
    # ...and refused part way through once its entries add up past the budget.
    refused = refuse("notes.3mf", data, 4096, max_uncompressed_bytes=1 << 20)
    assert refused.message == "This 3MF expands to more than 1 MiB; refusing it."
    assert refused.fed < len(data) * 0.6


def test_thousands_of_parts_are_refused() -> None:
    empty = corpus.RawEntry("", b"", 0, 0, method=0)
    parts = [replace(empty, name=f"Metadata/{index}.txt") for index in range(10_001)]
    data = corpus.raw_zip(corpus.package(*parts))
    refused = refuse("parts.3mf", data)
    assert refused.message == "This 3MF has more than 10,000 parts; refusing it."
    assert refused.fed < len(data)


def test_a_very_regular_real_mesh_is_well_within_the_ratio() -> None:
    # A flat plate on an integer grid: about as compressible as real mesh XML gets (12:1).
    n = 150
    vertices = "".join(f'<vertex x="{i}" y="{j}" z="0"/>' for i in range(n) for j in range(n))
    triangles = "".join(
        f'<triangle v1="{a}" v2="{a + n}" v3="{a + 1}"/><triangle v1="{a + 1}" v2="{a + n}" '
        f'v3="{a + n + 1}"/>'
        for a in (i * n + j for i in range(n - 1) for j in range(n - 1))
    )
    xml = f"{corpus.MODEL_HEAD}{vertices}</vertices><triangles>{triangles}{corpus.MODEL_TAIL}"
    entry = corpus.deflated("3D/3dmodel.model", xml)
    assert 8 < entry.size / len(entry.data) < 30
    geometry = inspect("plate.3mf", corpus.raw_zip(corpus.package(entry))).geometry
    assert geometry is not None and geometry.triangle_count == 2 * (n - 1) ** 2


def slow_3mf() -> bytes:
    """A valid 3MF whose model is mostly 800,000 tiny unknown elements, a callback each."""
    noise = "".join(f"<n{i % 9973}/>" for i in range(800_000))
    xml = CUBE_3MF_MODEL.replace("<resources>", "<resources>" + noise)
    data: bytes = corpus.raw_zip(corpus.package(corpus.deflated("3D/3dmodel.model", xml)))
    return data


@pytest.mark.parametrize("chunk_size", [UPLOAD_PIECE, None])
def test_a_3mf_slow_for_its_size_runs_out_of_processor_time(chunk_size: int | None) -> None:
    # given a file within the ratio and the inflated budget (6 MB of XML, 3.6:1)
    data = slow_3mf()
    started = time.thread_time()
    assert inspect("slow.3mf", data, None).geometry is not None
    full = time.thread_time() - started
    # when it may take only 20 ms of processing
    refused = refuse("slow.3mf", data, chunk_size, max_cpu_seconds=0.02)
    # then it is stopped part way, whether fed in many calls or in one
    assert refused.message == (
        "“slow.3mf” takes more than 0.02 seconds of processing to inspect; refusing it."
    )
    assert refused.cpu_seconds < full / 2
    if chunk_size is not None:
        assert refused.fed < len(data) / 2


def test_the_processor_time_budget_does_not_count_waiting_for_the_network() -> None:
    data = (TESTDATA / "3mf" / "box_prod.3mf").read_bytes()
    inspector = DesignInspector("box.3mf", max_cpu_seconds=0.05)
    for piece in pieces(data, 1024):
        time.sleep(0.01)  # ten of these, 0.1 s in all, twice the budget
        inspector.feed(piece)
    assert inspector.finish().geometry is not None


def test_the_processor_time_budget_covers_stl_too() -> None:
    data = (TESTDATA / "stl" / "rear_case_binary.stl").read_bytes()
    refused = refuse("case.stl", data, None, max_cpu_seconds=0)
    assert refused.message.startswith("“case.stl” takes more than 0 seconds of processing")


def test_a_mesh_with_too_many_elements_is_refused() -> None:
    # A cube is 8 vertices and 12 triangles.
    data = make_3mf({"3D/3dmodel.model": model(cube_object(1), '<item objectid="1"/>')})
    assert inspect("m.3mf", data, max_mesh_elements=20).geometry is not None
    refused = refuse("m.3mf", data, max_mesh_elements=19)
    assert refused.message == (
        "The meshes in “m.3mf” have more than 19 vertices and triangles in all; refusing it."
    )
    # The allowance is for the whole package, not for each model part.
    other = model(cube_object(7), "")
    build = '<item objectid="1"/><item objectid="7" p:path="/3D/Objects/other.model"/>'
    two_parts = make_3mf(
        {"3D/Objects/other.model": other, "3D/3dmodel.model": model(cube_object(1), build)}
    )
    assert inspect("m.3mf", two_parts, max_mesh_elements=40).geometry is not None
    assert "more than 39 vertices" in refuse("m.3mf", two_parts, max_mesh_elements=39).message


def test_a_huge_mesh_is_refused_while_it_is_parsed() -> None:
    rng = np.random.default_rng(11)
    vertices = "".join(
        f'<vertex x="{x:.4f}" y="{y:.4f}" z="{z:.4f}"/>' for x, y, z in rng.random((100_000, 3))
    )
    xml = model(
        f'<object id="1"><mesh><vertices>{vertices}</vertices><triangles>'
        '<triangle v1="0" v2="1" v3="2"/></triangles></mesh></object>',
        '<item objectid="1"/>',
    )
    data = make_3mf({"3D/3dmodel.model": xml})
    refused = refuse("big.3mf", data, 4096, max_mesh_elements=1000)
    assert "more than 1,000 vertices and triangles" in refused.message
    assert refused.fed < len(data) / 10


def model_entry_with_padding(size: int) -> bytes:
    """A valid model of ``size`` bytes of XML and more (a cube after a hex comment), about 2:1."""
    comment = "<!--" + np.random.default_rng(3).bytes(size // 2).hex() + "-->"
    return CUBE_3MF_MODEL.replace("<resources>", comment + "<resources>").encode()


def test_a_zip64_header_that_understates_the_size_is_refused_once_outgrown() -> None:
    honest = corpus.deflated("3D/3dmodel.model", model_entry_with_padding(2 << 20))
    # 0xFFFFFFFF in the header sends the reader to the ZIP64 field, which says 1000 bytes.
    zip64 = struct.pack("<HHQQ", 1, 16, 1000, len(honest.data))
    lying = replace(honest, extra=zip64, size=0xFFFFFFFF, compressed_size=0xFFFFFFFF)
    data = corpus.raw_zip(corpus.package(lying))
    refused = refuse("lie.3mf", data)
    assert refused.message.endswith("“3D/3dmodel.model” is corrupt (larger than its header says).")
    assert refused.fed == UPLOAD_PIECE


def test_a_zip64_header_that_declares_a_huge_size_is_refused_before_inflating() -> None:
    data = (HOSTILE / "zip64_declares_exabytes.3mf").read_bytes()
    name = b"3D/3dmodel.model"
    end_of_header = data.index(name) + len(name) + 20  # the ZIP64 extra field
    sink = CountingSink()
    reader = zipstream.ZipStreamReader(
        "huge.3mf",
        lambda name: sink if name == "3D/3dmodel.model" else None,
        512 << 20,
        CpuBudget("huge.3mf", 60),
    )
    reader.feed(data[: end_of_header - 1])
    with pytest.raises(DesignFormatError) as error:
        reader.feed(data[end_of_header - 1 : end_of_header])
    assert str(error.value) == "This 3MF expands to more than 512 MiB; refusing it."
    assert sink.received == 0


def test_a_bomb_behind_a_data_descriptor_header_saying_zero_is_refused_by_its_ratio() -> None:
    data = (HOSTILE / "descriptor_zero_bomb.3mf").read_bytes()
    refused = refuse("streamed.3mf", data)
    assert refused.message.startswith(RATIO_REFUSAL.format("3D/3dmodel.model"))
    assert refused.fed == UPLOAD_PIECE


def test_a_header_saying_zero_without_a_data_descriptor_is_held_to_it() -> None:
    honest = corpus.deflated("3D/3dmodel.model", model_entry_with_padding(2 << 20))
    lying = replace(honest, crc=0, size=0, compressed_size=0)
    refused = refuse("zero.3mf", corpus.raw_zip(corpus.package(lying)))
    assert refused.message.endswith("“3D/3dmodel.model” is corrupt (larger than its header says).")
    assert refused.fed == UPLOAD_PIECE


def test_a_quoted_overlapping_bomb_is_read_as_one_entry_and_refused() -> None:
    # given five entries that all end in the same 64 MiB kernel (a 320 MiB bomb in 66 KB)
    data = corpus.quoted_overlap_bomb(5, 64)
    listed = zipfile.ZipFile(io.BytesIO(data)).infolist()
    assert len(listed) == 5 and sum(i.file_size for i in listed) > 5 * (64 << 20)
    assert len(data) < 70_000
    # then the first entry, which holds them all, is refused by its ratio
    refused = refuse("quoted.3mf", data)
    assert refused.message.startswith(RATIO_REFUSAL.format("3D/00.model"))
    assert refused.wall_seconds < 0.5


def test_a_nested_zip_bomb_is_never_opened() -> None:
    inner = corpus.raw_zip([corpus.deflate_bomb("inner.bin", 1024, fill=b"\0")])
    nested = corpus.RawEntry("Metadata/inner.zip", inner, zlib.crc32(inner), len(inner), method=0)
    model_part = corpus.deflated("3D/3dmodel.model", CUBE_3MF_MODEL)
    started = time.perf_counter()
    result = inspect("nested.3mf", corpus.raw_zip(corpus.package(model_part, nested)))
    assert time.perf_counter() - started < 0.5
    assert_geometry(result.geometry, 12, (0, 0, 0), (10, 10, 10), 1.0)


# What each corpus file must be refused with; README.md says why. Files added to the corpus
# without an entry here are still checked for a quick refusal.
HOSTILE_REFUSALS = {
    "model_deflate_bomb.3mf": RATIO_REFUSAL.format("3D/3dmodel.model"),
    "thumbnail_bomb.3mf": RATIO_REFUSAL.format("Metadata/thumbnail.png"),
    "many_entries_over_budget.3mf": "This 3MF expands to more than 1 MiB; refusing it.",
    "truncated.3mf": "the archive ends unexpectedly inside “3D/3dmodel.model” (truncated?)",
    "header_lies_about_size.3mf": "“3D/3dmodel.model” is corrupt (larger than its header says)",
    "zip64_declares_exabytes.3mf": "This 3MF expands to more than 512 MiB; refusing it.",
    "descriptor_zero_bomb.3mf": RATIO_REFUSAL.format("3D/3dmodel.model"),
    "quoted_overlap_bomb.3mf": RATIO_REFUSAL.format("3D/00.model"),
    "zip_not_3mf.3mf": "it has no 3D model part",
    "count_lies_binary.stl": "its header declares 4294967295 triangles",
    "absurd_numbers_ascii.stl": "has vertex coordinates that are not numbers or are too large",
    "zip_named_stl.stl": "is not an STL file. It looks like a ZIP archive",
}
HOSTILE_LIMITS: dict[str, dict[str, int]] = {
    # A file under 200 KB cannot reach the default total without breaking the ratio limit.
    "many_entries_over_budget.3mf": {"max_uncompressed_bytes": 1 << 20},
}
HOSTILE_FILES = sorted(
    p.name for p in HOSTILE.iterdir() if p.suffix.lower() in {".3mf", ".stl", ".step", ".stp"}
)


def test_the_hostile_corpus_is_all_here() -> None:
    assert set(HOSTILE_REFUSALS) <= set(HOSTILE_FILES)
    assert all((HOSTILE / name).stat().st_size < 200_000 for name in HOSTILE_FILES)


@pytest.mark.parametrize("filename", HOSTILE_FILES)
def test_hostile_corpus_is_refused_quickly(filename: str) -> None:
    data = (HOSTILE / filename).read_bytes()
    refused = refuse(filename, data, 1 << 20, **HOSTILE_LIMITS.get(filename, {}))
    assert HOSTILE_REFUSALS.get(filename, "") in refused.message
    assert refused.wall_seconds < 2
