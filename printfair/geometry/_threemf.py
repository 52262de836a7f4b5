"""3MF: stream the package's model parts through an XML parser, then measure the build.

A 3MF file is a ZIP (OPC) package. Its root model part, the one target of the package's
StartPart relationship (in ``/_rels/.rels``; by convention ``/3D/3dmodel.model``), lists
resources (objects that hold a triangle mesh, or components: other objects placed with a
transform) and a build: the objects to print, each placed with a transform. With the production
extension, components and build items may refer to objects in other model parts through
``p:path``.

What the 3MF Core Specification (1.3) and its Production Extension (1.2) require of a file is
checked where it bears on what is measured, and such a file is refused rather than measured by
guesswork: the root part found through the StartPart relationship only, and exactly one;
extensions a model part requires that are not understood here; objects used before they are
defined, twice, or not at all; build items placing objects of type "other"; components with
``p:path`` outside the root part; triangles whose vertex indices are out of range or not
distinct; units and transforms not written as the schema says. A mesh that is not closed
(the specification's "manifold edges" and "consistent triangle orientation") is measured and
flagged, not refused: slicers repair such meshes, and the customer should hear what is wrong
with theirs rather than have it refused.
"""

from __future__ import annotations

import re
from array import array
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final
from xml.parsers import expat

import numpy as np
import numpy.typing as npt

from ._closure import NOT_CHECKED, Closure, check_edges
from ._common import (
    CpuBudget,
    DesignFormatError,
    FileKind,
    FloatArray,
    Inspection,
    MeshTotals,
    six_signed_volume,
)
from ._zipstream import EntrySink, ZipStreamReader

_CORE: Final = "http://schemas.microsoft.com/3dmanufacturing/core/2015/02"
_PRODUCTION: Final = "http://schemas.microsoft.com/3dmanufacturing/production/2015/06"
_RELATIONSHIPS: Final = "http://schemas.openxmlformats.org/package/2006/relationships"
_MODEL_RELATIONSHIP: Final = "http://schemas.microsoft.com/3dmanufacturing/2013/01/3dmodel"
# Extensions a model part may require (core 3.4, "requiredextensions"): those that are read
# here (production: p:path) or that change no shape, so that what is measured is the same with
# or without them (materials and properties: colours, textures and materials of facets; triangle
# sets: named groups of facets). Others (beam lattices, slices, boolean operations,
# displacement, volumetric data, secure content...) add or replace geometry, or hide it.
_UNDERSTOOD_EXTENSIONS: Final = frozenset(
    {
        _CORE,
        _PRODUCTION,
        "http://schemas.microsoft.com/3dmanufacturing/material/2015/02",
        "http://schemas.microsoft.com/3dmanufacturing/trianglesets/2021/07",
    }
)
# expat reports namespaced names as "<namespace><separator><local name>".
_SEP: Final = " "
_MODEL: Final = f"{_CORE}{_SEP}model"
_OBJECT: Final = f"{_CORE}{_SEP}object"
_PATH_ATTRIBUTE: Final = f"{_PRODUCTION}{_SEP}path"
_RELS_PART: Final = "/_rels/.rels"

_MM_PER_UNIT: Final = {
    "micron": 0.001,
    "millimeter": 1.0,
    "centimeter": 10.0,
    "inch": 25.4,
    "foot": 304.8,
    "meter": 1000.0,
}
# Object types (core 4, ST_ObjectType). Model and solid support objects are filled solids;
# support and surface objects are not filled (a support's thickness is the printer's choice,
# a surface bounds nothing), so they count in the bounding box and the triangles but not in the
# volume, and need not be closed; objects of type "other" are not to be printed at all.
_SOLID_TYPES: Final = frozenset({"model", "solidsupport"})
_OBJECT_TYPES: Final = _SOLID_TYPES | {"support", "surface", "other"}
# ST_ResourceID: a positive integer below 2**31.
_MAX_RESOURCE_ID: Final = 2**31 - 1
# ST_Number, as ST_Matrix3D repeats it twelve times.
_NUMBER: Final = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]+)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")

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
    words = text.split()
    if len(words) != 12:
        raise ValueError(f"a transform has 12 numbers, not {len(words)}")
    for word in words:
        if not _NUMBER.fullmatch(word):
            raise ValueError(f"“{word[:20]}” in a transform is not a decimal number")
    matrix = np.eye(4)
    # "m00 m01 m02 m10 m11 m12 m20 m21 m22 m30 m31 m32": the first three columns of the matrix,
    # row by row; the last row is the translation (core 3.3).
    matrix[:, :3] = np.array([float(word) for word in words]).reshape(4, 3)
    return matrix


def _resource_id(text: str) -> int:
    value = int(text)
    if not 1 <= value <= _MAX_RESOURCE_ID:
        raise ValueError(f"{value} is not a resource id (1 to {_MAX_RESOURCE_ID})")
    return value


@dataclass(frozen=True)
class _Reference:
    """A component or a build item: an object, placed by a transform, maybe in another part."""

    object_id: int
    part: str | None
    transform: FloatArray


@dataclass(frozen=True)
class _Object:
    type: str
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
        self.root_models: list[str] = []
        self._parser.StartElementHandler = self._start

    def _start(self, name: str, attributes: dict[str, str]) -> None:
        if (
            name == f"{_RELATIONSHIPS}{_SEP}Relationship"
            and attributes.get("Type") == _MODEL_RELATIONSHIP
            and "Target" in attributes
        ):
            self.root_models.append(attributes["Target"])


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
        # Why this part cannot be used, if it requires extensions not understood here; raised
        # only if the build uses the part.
        self.refusal: DesignFormatError | None = None
        self.objects: dict[int, _Object] = {}
        self.build: list[_Reference] = []
        self._resource_ids: set[int] = set()
        self._namespaces: dict[str, str] = {}
        self._object_id: int | None = None
        self._object_type = "model"
        self._vertices = array("d")
        self._triangles = array("i")
        self._components: list[_Reference] = []
        self._handlers: dict[str, Callable[[dict[str, str]], None]] = {
            f"{_CORE}{_SEP}vertex": self._vertex,
            f"{_CORE}{_SEP}triangle": self._triangle,
            f"{_CORE}{_SEP}component": self._component,
            f"{_CORE}{_SEP}item": self._item,
            f"{_CORE}{_SEP}basematerials": self._basematerials,
            _OBJECT: self._object,
        }
        self._parser.StartNamespaceDeclHandler = self._declare
        self._parser.StartElementHandler = self._start_root
        self._parser.EndElementHandler = self._end

    def _parse(self, data: bytes, *, final: bool) -> None:
        super()._parse(data, final=final)
        # Checked per piece of XML (at most 1 MiB, so tens of thousands of elements) rather
        # than per element, which would slow the hottest callbacks.
        self._allowance.check((len(self._vertices) + len(self._triangles)) // 3)

    def _declare(self, prefix: str | None, uri: str) -> None:
        # Only the <model> element's declarations are needed, for requiredextensions; they are
        # reported before it starts, and the handler is dropped once it has.
        self._namespaces[prefix or ""] = uri

    def _start_root(self, name: str, attributes: dict[str, str]) -> None:
        if name != _MODEL:
            raise self._error("the root element is not a 3MF <model>")
        unit = attributes.get("unit", "millimeter")
        if unit not in _MM_PER_UNIT:
            raise self._error(f"unknown unit “{unit}”")
        self.mm_per_unit = _MM_PER_UNIT[unit]
        self.refusal = self._check_required(attributes.get("requiredextensions", ""))
        self._parser.StartNamespaceDeclHandler = None
        self._parser.StartElementHandler = self._start

    def _check_required(self, prefixes: str) -> DesignFormatError | None:
        for prefix in prefixes.split():
            namespace = self._namespaces.get(prefix)
            if namespace is None:
                return self._error(
                    f"it requires an extension by the prefix “{prefix[:40]}”, which it does not "
                    "declare"
                )
            if namespace not in _UNDERSTOOD_EXTENSIONS:
                return DesignFormatError(
                    f"“{self._package_name}” requires the 3MF extension {namespace[:200]}, which "
                    "PrintFair does not support: it cannot be measured. Export it without "
                    "that extension, or as STL."
                )
        return None

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

    def _define(self, resource_id: int) -> None:
        # Objects and property groups share one id space (core 3.4.2).
        if resource_id in self._resource_ids:
            raise self._error(f"resource id {resource_id} is used twice")
        self._resource_ids.add(resource_id)

    def _basematerials(self, attributes: dict[str, str]) -> None:
        self._define(_resource_id(attributes["id"]))

    def _object(self, attributes: dict[str, str]) -> None:
        object_id = _resource_id(attributes["id"])
        object_type = attributes.get("type", "model")
        if object_type not in _OBJECT_TYPES:
            raise self._error(f"object {object_id} has the unknown type “{object_type[:40]}”")
        self._define(object_id)
        self._object_id = object_id
        self._object_type = object_type

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
        object_id = self._current_object()
        component = _reference(attributes)
        # Objects are defined before they are used (core 4.2.1), which also rules out an object
        # containing itself; an object in another part is looked up when the build is measured.
        if component.part is None and component.object_id not in self.objects:
            raise self._error(
                f"a component of object {object_id} refers to object {component.object_id}, "
                "which is not defined before it"
            )
        self._components.append(component)

    def _item(self, attributes: dict[str, str]) -> None:
        self.build.append(_reference(attributes))

    def _end_object(self) -> None:
        object_id = self._current_object()
        vertices = np.frombuffer(self._vertices, np.float64).reshape(-1, 3)
        triangles = np.frombuffer(self._triangles, np.intc).reshape(-1, 3)
        if triangles.size:
            if triangles.min() < 0 or triangles.max() >= len(vertices):
                raise self._error(
                    f"a triangle of object {object_id} refers to a vertex it does not have"
                )
            # "The indices v1, v2 and v3 MUST be distinct" (core 4.1.4.1).
            repeated = (
                (triangles[:, 0] == triangles[:, 1])
                | (triangles[:, 1] == triangles[:, 2])
                | (triangles[:, 2] == triangles[:, 0])
            )
            if repeated.any():
                index = int(np.argmax(repeated))
                raise self._error(
                    f"triangle {index} of object {object_id} repeats a vertex "
                    f"({', '.join(str(v) for v in triangles[index])})"
                )
        self.objects[object_id] = _Object(
            self._object_type, vertices, triangles, tuple(self._components)
        )
        self._allowance.held += len(vertices) + len(triangles)
        self._object_id = None
        self._object_type = "model"
        self._vertices = array("d")
        self._triangles = array("i")
        self._components = []


def _reference(attributes: dict[str, str]) -> _Reference:
    path = attributes.get(_PATH_ATTRIBUTE)
    return _Reference(
        object_id=_resource_id(attributes["objectid"]),
        part=None if path is None else part_key(path),
        transform=_parse_transform(attributes.get("transform")),
    )


def _local(name: str) -> str:
    return name.rpartition(_SEP)[2]


@dataclass(frozen=True)
class _Solid:
    """What a solid object's own mesh contributes, wherever it is placed."""

    six_volume: float
    closure: Closure


class _BuildMeasurer:
    """Walks the build, placing every mesh instance, and accumulates the geometry."""

    def __init__(
        self,
        package_name: str,
        parts: dict[str, _ModelPart],
        budget: CpuBudget,
    ) -> None:
        self._package_name = package_name
        self._parts = parts
        self._budget = budget
        self._root = ""
        self._totals = MeshTotals()
        self._six_volume = 0.0
        self._closure: Closure | None = None
        self._solids: dict[tuple[str, int], _Solid] = {}
        self._instances = 0

    def measure(self, root: str) -> Inspection:
        self._root = root
        model = self._parts[root]
        if model.refusal is not None:
            raise model.refusal
        for item in model.build:
            self._place(item.part or root, item.object_id, item.transform, ())
        if not self._totals.triangle_count:
            raise DesignFormatError(
                f"“{self._package_name}” has nothing to print: its build contains no mesh."
            )
        # A build of only supports and surfaces bounds no solid: no volume, nothing to check.
        geometry = self._totals.geometry(
            self._package_name,
            six_volume=None if self._closure is None else self._six_volume,
            closure=NOT_CHECKED if self._closure is None else self._closure,
            scale_to_mm=model.mm_per_unit,
        )
        return Inspection(FileKind.THREE_MF, geometry)

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
        if model.refusal is not None:
            raise model.refusal
        obj = model.objects.get(object_id)
        if obj is None:
            raise self._error(f"it refers to object {object_id}, which {part} does not define")
        if obj.type == "other":
            # Items must not place objects of type "other", directly or through components
            # (core 3.4.3.1 and 4.1).
            raise self._error(f"its build includes object {object_id}, whose type is “other”")
        if len(obj.triangles):
            if self._totals.triangle_count + len(obj.triangles) > _MAX_BUILD_TRIANGLES:
                raise self._error(f"the build has more than {_MAX_BUILD_TRIANGLES} triangles")
            self._add_bounds(obj, transform)
            if obj.type in _SOLID_TYPES:
                solid = self._solid(key, obj)
                # An instance's volume is its object's times the transform's scaling, and a
                # mirroring transform (negative determinant) must not make it negative (core
                # 3.3), nor may an inside-out object.
                scale = abs(float(np.linalg.det(transform[:3, :3])))
                self._six_volume += abs(solid.six_volume) * scale
                self._closure = (
                    solid.closure if self._closure is None else self._closure & solid.closure
                )
        for component in obj.components:
            if component.part is not None and part != self._root:
                # Production extension 2.1: only the root part's components may use p:path.
                raise self._error(
                    f"object {object_id} in {part} has a component in another model part; "
                    "only the root model part's components may refer to other parts"
                )
            self._place(
                component.part or part,
                component.object_id,
                component.transform @ transform,
                (*ancestors, key),
            )

    def _solid(self, key: tuple[str, int], obj: _Object) -> _Solid:
        """The object's volume, in its own coordinates, and closure; once per object."""
        solid = self._solids.get(key)
        if solid is not None:
            return solid
        # Relative to one of its own vertices, so that an object far from the origin loses no
        # precision (see six_signed_volume).
        origin = obj.vertices[obj.triangles[0, 0]]
        by_axis = obj.vertices.T
        six_volume = 0.0
        for start in range(0, len(obj.triangles), _TRIANGLE_BATCH):
            corners = by_axis[:, obj.triangles[start : start + _TRIANGLE_BATCH].T]
            six_volume += six_signed_volume(corners, origin)
            self._budget.check()
        closure = check_edges(obj.triangles, len(obj.vertices))
        self._budget.check()
        solid = self._solids[key] = _Solid(six_volume, closure)
        return solid

    def _add_bounds(self, obj: _Object, transform: FloatArray) -> None:
        # The placed vertices come out axis-major, so that gathering by triangle index gives
        # MeshTotals its layout directly; computing them so takes one copy of the vertices,
        # where placing and then transposing took two.
        with np.errstate(over="ignore", invalid="ignore"):
            by_axis = transform[:3, :3].T @ obj.vertices.T
            by_axis += transform[3, :3, np.newaxis]
        for start in range(0, len(obj.triangles), _TRIANGLE_BATCH):
            self._totals.add_bounds(by_axis[:, obj.triangles[start : start + _TRIANGLE_BATCH].T])
            # Per batch of every mesh placed; placing objects without a mesh is cheap, and
            # _MAX_INSTANCES bounds it.
            self._budget.check()


class ThreeMfParser:
    """Inspects a 3MF package as it streams in."""

    def __init__(
        self,
        name: str,
        *,
        max_uncompressed: int,
        max_mesh_elements: int,
        budget: CpuBudget,
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
        root = self._root_part()
        measurer = _BuildMeasurer(self._name, self._parts, self._budget)
        return measurer.measure(root)

    def _root_part(self) -> str:
        """The one model part the package's StartPart relationship names (core 2.1.1); not
        a part found by its conventional name, which only the relationship makes the root."""
        targets = self._relationships.root_models if self._relationships else []
        if not targets:
            raise self._error(
                "it has no 3D model part (its package relationships, /_rels/.rels, name none)"
            )
        if len(targets) > 1:
            raise self._error(
                f"its package relationships name {len(targets)} 3D model parts, not one"
            )
        root = part_key(targets[0])
        if root not in self._parts:
            raise self._error(f"it has no 3D model part ({root})")
        return root

    def _error(self, detail: str) -> DesignFormatError:
        return DesignFormatError(f"“{self._name}” is not a valid 3MF file: {detail}.")

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
