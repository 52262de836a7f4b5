"""3MF: stream the package's model parts through an XML parser, then measure the build.

A 3MF file is a ZIP (OPC) package. Its root model part, named by the package relationships
(``/_rels/.rels``) and by convention ``/3D/3dmodel.model``, lists resources (objects that hold a
triangle mesh, or components: other objects placed with a transform) and a build: the objects
to print, each placed with a transform. With the production extension, components and build
items may refer to objects in other model parts through ``p:path``.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final
from xml.parsers import expat

import numpy as np
import numpy.typing as npt

from ._common import (
    CpuBudget,
    DesignFormatError,
    FileKind,
    FloatArray,
    Geometry,
    Inspection,
    MeshTotals,
)
from ._zipstream import EntrySink, ZipStreamReader

_CORE: Final = "http://schemas.microsoft.com/3dmanufacturing/core/2015/02"
_PRODUCTION: Final = "http://schemas.microsoft.com/3dmanufacturing/production/2015/06"
_RELATIONSHIPS: Final = "http://schemas.openxmlformats.org/package/2006/relationships"
_MODEL_RELATIONSHIP: Final = "http://schemas.microsoft.com/3dmanufacturing/2013/01/3dmodel"
# expat reports namespaced names as "<namespace><separator><local name>".
_SEP: Final = " "
_MODEL: Final = f"{_CORE}{_SEP}model"
_OBJECT: Final = f"{_CORE}{_SEP}object"
_PATH_ATTRIBUTE: Final = f"{_PRODUCTION}{_SEP}path"
_DEFAULT_ROOT_PART: Final = "/3d/3dmodel.model"
_RELS_PART: Final = "/_rels/.rels"

_MM_PER_UNIT: Final = {
    "micron": 0.001,
    "millimeter": 1.0,
    "centimeter": 10.0,
    "inch": 25.4,
    "foot": 304.8,
    "meter": 1000.0,
}

# Components let a small file describe a huge build (an object made of ten copies of an object
# made of ten copies of...), so the build walk is bounded independently of the file size.
_MAX_NESTING: Final = 64
_MAX_INSTANCES: Final = 100_000
_MAX_BUILD_TRIANGLES: Final = 100_000_000
_TRIANGLE_BATCH: Final = 1 << 18

_IDENTITY: Final = np.eye(4)

IndexArray = npt.NDArray[np.intc]


def part_key(name: str) -> str:
    """Normalise a part name or reference for lookups: OPC part names are case-insensitive."""
    return "/" + name.lstrip("/").lower()


def _parse_transform(text: str | None) -> FloatArray:
    """Parse a 3MF transform into a 4x4 matrix acting on row vectors: ``[x y z 1] @ M``."""
    if text is None:
        return _IDENTITY
    values = [float(value) for value in text.split()]
    if len(values) != 12:
        raise ValueError(f"a transform has 12 numbers, not {len(values)}")
    matrix = np.eye(4)
    # The 12 numbers are the first three columns of the matrix, row by row; the last row is
    # the translation.
    matrix[:, :3] = np.array(values).reshape(4, 3)
    return matrix


@dataclass(frozen=True)
class _Reference:
    """A component or a build item: an object, placed by a transform, maybe in another part."""

    object_id: int
    part: str | None
    transform: FloatArray


@dataclass(frozen=True)
class _Object:
    vertices: FloatArray
    triangles: IndexArray
    components: tuple[_Reference, ...]


class _XmlEntry:
    """Base for archive entries parsed as XML, pushed through expat as they decompress."""

    def __init__(self, package_name: str, part_name: str) -> None:
        self._package_name = package_name
        self._part_name = part_name
        self._parser = expat.ParserCreate(namespace_separator=_SEP)
        # Package XML never needs a DTD, and refusing one rules out entity expansion attacks.
        self._parser.StartDoctypeDeclHandler = self._reject_doctype

    def write(self, data: bytes) -> None:
        self._parse(data, final=False)

    def close(self) -> None:
        self._parse(b"", final=True)
        # Parts are kept until the build is measured, and an expat parser holds about 12 KB of
        # buffers: a package of many small parts must not cost that many times over.
        del self._parser

    def _parse(self, data: bytes, *, final: bool) -> None:
        try:
            self._parser.Parse(data, final)
        except expat.ExpatError as exc:
            raise self._error(f"XML error: {expat.ErrorString(exc.code)}", exc.lineno) from None

    def _error(self, detail: str, line: int | None = None) -> DesignFormatError:
        if line is None:
            line = self._parser.CurrentLineNumber
        return DesignFormatError(
            f"“{self._package_name}” is not a valid 3MF file: {detail} "
            f"(in {self._part_name}, line {line})."
        )

    def _reject_doctype(self, *_: object) -> None:
        raise self._error("a document type declaration is not allowed")


class _RootRelationships(_XmlEntry):
    """``/_rels/.rels``: names the root model part."""

    def __init__(self, package_name: str, part_name: str) -> None:
        super().__init__(package_name, part_name)
        self.root_model: str | None = None
        self._parser.StartElementHandler = self._start

    def _start(self, name: str, attributes: dict[str, str]) -> None:
        if (
            self.root_model is None
            and name == f"{_RELATIONSHIPS}{_SEP}Relationship"
            and attributes.get("Type") == _MODEL_RELATIONSHIP
            and "Target" in attributes
        ):
            self.root_model = attributes["Target"]


class _MeshAllowance:
    """How many mesh elements (vertices and triangles) a package's model parts may hold in all.

    A vertex takes 24 bytes and a triangle 12 once parsed, and measuring the build copies the
    vertices of one object at a time, so this bounds the memory a package's meshes take
    independently of how tersely its XML is written.
    """

    def __init__(self, package_name: str, limit: int) -> None:
        self.package_name = package_name
        self.limit = limit
        self.held = 0

    def check(self, pending: int) -> None:
        if self.held + pending > self.limit:
            raise DesignFormatError(
                f"The meshes in “{self.package_name}” have more than {self.limit:,} vertices and "
                "triangles in all; refusing it."
            )


class _ModelPart(_XmlEntry):
    """A ``.model`` part: collects its objects' meshes and components, and its build items.

    Vertices and triangle indices go into compact typed arrays as they stream past, so memory
    is bounded by the mesh itself, never by the XML text, and the mesh by the allowance.
    """

    def __init__(self, package_name: str, part_name: str, allowance: _MeshAllowance) -> None:
        super().__init__(package_name, part_name)
        self._allowance = allowance
        self.mm_per_unit = 1.0
        self.objects: dict[int, _Object] = {}
        self.build: list[_Reference] = []
        self._object_id: int | None = None
        self._vertices = array("d")
        self._triangles = array("i")
        self._components: list[_Reference] = []
        self._handlers: dict[str, Callable[[dict[str, str]], None]] = {
            f"{_CORE}{_SEP}vertex": self._vertex,
            f"{_CORE}{_SEP}triangle": self._triangle,
            f"{_CORE}{_SEP}component": self._component,
            f"{_CORE}{_SEP}item": self._item,
            _OBJECT: self._object,
        }
        self._parser.StartElementHandler = self._start_root
        self._parser.EndElementHandler = self._end

    def _parse(self, data: bytes, *, final: bool) -> None:
        super()._parse(data, final=final)
        # Checked per piece of XML (at most 1 MiB, so tens of thousands of elements) rather
        # than per element, which would slow the hottest callbacks.
        self._allowance.check((len(self._vertices) + len(self._triangles)) // 3)

    def _start_root(self, name: str, attributes: dict[str, str]) -> None:
        if name != _MODEL:
            raise self._error("the root element is not a 3MF <model>")
        unit = attributes.get("unit", "millimeter")
        if unit not in _MM_PER_UNIT:
            raise self._error(f"unknown unit “{unit}”")
        self.mm_per_unit = _MM_PER_UNIT[unit]
        self._parser.StartElementHandler = self._start

    def _start(self, name: str, attributes: dict[str, str]) -> None:
        handler = self._handlers.get(name)
        if handler is None:
            return
        try:
            handler(attributes)
        except DesignFormatError:
            raise
        except KeyError as exc:
            raise self._error(f"<{_local(name)}> lacks the attribute {exc}") from None
        except (ValueError, OverflowError) as exc:
            raise self._error(f"invalid <{_local(name)}>: {exc}") from None

    def _end(self, name: str) -> None:
        if name == _OBJECT:
            self._end_object()

    def _current_object(self) -> int:
        if self._object_id is None:
            raise self._error("mesh data outside an <object>")
        return self._object_id

    def _object(self, attributes: dict[str, str]) -> None:
        object_id = int(attributes["id"])
        if object_id in self.objects:
            raise self._error(f"object id {object_id} is used twice")
        self._object_id = object_id

    def _vertex(self, attributes: dict[str, str]) -> None:
        self._current_object()
        self._vertices.extend(
            (float(attributes["x"]), float(attributes["y"]), float(attributes["z"]))
        )

    def _triangle(self, attributes: dict[str, str]) -> None:
        self._current_object()
        self._triangles.extend(
            (int(attributes["v1"]), int(attributes["v2"]), int(attributes["v3"]))
        )

    def _component(self, attributes: dict[str, str]) -> None:
        self._current_object()
        self._components.append(_reference(attributes))

    def _item(self, attributes: dict[str, str]) -> None:
        self.build.append(_reference(attributes))

    def _end_object(self) -> None:
        object_id = self._current_object()
        vertices = np.frombuffer(self._vertices, np.float64).reshape(-1, 3)
        triangles = np.frombuffer(self._triangles, np.intc).reshape(-1, 3)
        if triangles.size and (triangles.min() < 0 or triangles.max() >= len(vertices)):
            raise self._error(
                f"a triangle of object {object_id} refers to a vertex it does not have"
            )
        self.objects[object_id] = _Object(vertices, triangles, tuple(self._components))
        self._allowance.held += len(vertices) + len(triangles)
        self._object_id = None
        self._vertices = array("d")
        self._triangles = array("i")
        self._components = []


def _reference(attributes: dict[str, str]) -> _Reference:
    path = attributes.get(_PATH_ATTRIBUTE)
    return _Reference(
        object_id=int(attributes["objectid"]),
        part=None if path is None else part_key(path),
        transform=_parse_transform(attributes.get("transform")),
    )


def _local(name: str) -> str:
    return name.rpartition(_SEP)[2]


class _BuildMeasurer:
    """Walks the build, placing every mesh instance, and accumulates the geometry."""

    def __init__(self, package_name: str, parts: dict[str, _ModelPart], budget: CpuBudget) -> None:
        self._package_name = package_name
        self._parts = parts
        self._budget = budget
        self._totals = MeshTotals()
        self._six_volume = 0.0
        self._instances = 0

    def measure(self, root: str) -> Geometry:
        for item in self._parts[root].build:
            self._place(item.part or root, item.object_id, item.transform, ())
        if not self._totals.triangle_count:
            raise DesignFormatError(
                f"“{self._package_name}” has nothing to print: its build contains no mesh."
            )
        return self._totals.geometry(
            self._six_volume, self._package_name, self._parts[root].mm_per_unit
        )

    def _error(self, detail: str) -> DesignFormatError:
        return DesignFormatError(f"“{self._package_name}” is not a valid 3MF file: {detail}.")

    def _place(
        self,
        part: str,
        object_id: int,
        transform: FloatArray,
        ancestors: tuple[tuple[str, int], ...],
    ) -> None:
        key = (part, object_id)
        if key in ancestors:
            raise self._error(f"object {object_id} contains itself through its components")
        if len(ancestors) >= _MAX_NESTING:
            raise self._error(f"components are nested more than {_MAX_NESTING} deep")
        self._instances += 1
        if self._instances > _MAX_INSTANCES:
            raise self._error(f"the build places more than {_MAX_INSTANCES} objects")
        model = self._parts.get(part)
        if model is None:
            raise self._error(f"it refers to the missing model part {part}")
        obj = model.objects.get(object_id)
        if obj is None:
            raise self._error(f"it refers to object {object_id}, which {part} does not define")
        if len(obj.triangles):
            if self._totals.triangle_count + len(obj.triangles) > _MAX_BUILD_TRIANGLES:
                raise self._error(f"the build has more than {_MAX_BUILD_TRIANGLES} triangles")
            # Each instance counts with its own absolute volume, so a mirrored instance (whose
            # transform flips the winding and thus the sign) adds, not subtracts.
            self._six_volume += abs(self._add_mesh(obj, transform))
        for component in obj.components:
            self._place(
                component.part or part,
                component.object_id,
                component.transform @ transform,
                (*ancestors, key),
            )

    def _add_mesh(self, obj: _Object, transform: FloatArray) -> float:
        # The placed vertices come out axis-major, so that gathering by triangle index gives
        # MeshTotals its layout directly; computing them so takes one copy of the vertices,
        # where placing and then transposing took two.
        with np.errstate(over="ignore", invalid="ignore"):
            by_axis = transform[:3, :3].T @ obj.vertices.T
            by_axis += transform[3, :3, np.newaxis]
        six_volume = 0.0
        for start in range(0, len(obj.triangles), _TRIANGLE_BATCH):
            corners = by_axis[:, obj.triangles[start : start + _TRIANGLE_BATCH].T]
            six_volume += self._totals.add(corners)
            # Per batch of every mesh placed; placing objects without a mesh is cheap, and
            # _MAX_INSTANCES bounds it.
            self._budget.check()
        return six_volume


class ThreeMfParser:
    """Inspects a 3MF package as it streams in."""

    def __init__(
        self, name: str, *, max_uncompressed: int, max_mesh_elements: int, budget: CpuBudget
    ) -> None:
        self._name = name
        self._zip = ZipStreamReader(name, self._open_entry, max_uncompressed, budget)
        self._budget = budget
        self._allowance = _MeshAllowance(name, max_mesh_elements)
        self._parts: dict[str, _ModelPart] = {}
        self._relationships: _RootRelationships | None = None

    def feed(self, chunk: bytes | memoryview) -> None:
        self._zip.feed(chunk)

    def finish(self) -> Inspection:
        self._zip.finish()
        target = self._relationships.root_model if self._relationships else None
        root = _DEFAULT_ROOT_PART if target is None else part_key(target)
        if root not in self._parts:
            raise DesignFormatError(
                f"“{self._name}” is not a valid 3MF file: it has no 3D model part ({root})."
            )
        geometry = _BuildMeasurer(self._name, self._parts, self._budget).measure(root)
        return Inspection(FileKind.THREE_MF, geometry)

    def _open_entry(self, entry_name: str) -> EntrySink | None:
        key = part_key(entry_name)
        if key == _RELS_PART:
            self._relationships = _RootRelationships(self._name, entry_name)
            return self._relationships
        if key.endswith(".model"):
            part = _ModelPart(self._name, entry_name, self._allowance)
            self._parts[key] = part
            return part
        return None
