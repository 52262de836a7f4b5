"""A 3MF model part (``.model``) parsed as it streams in: its unit, the extensions it requires,
its objects' meshes and components, and its build items, checked against the 3MF Core
Specification (1.3) and its Production Extension (1.2) where that bears on what is measured."""

from __future__ import annotations

import re
from array import array
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from ._common import DesignFormatError, FloatArray
from ._threemf_package import SEP, XmlEntry, part_key

__all__ = ["SOLID_TYPES", "MeshAllowance", "ModelObject", "ModelPart", "Reference"]

_CORE: Final = "http://schemas.microsoft.com/3dmanufacturing/core/2015/02"
_PRODUCTION: Final = "http://schemas.microsoft.com/3dmanufacturing/production/2015/06"
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
_MODEL: Final = f"{_CORE}{SEP}model"
_OBJECT: Final = f"{_CORE}{SEP}object"
_PATH_ATTRIBUTE: Final = f"{_PRODUCTION}{SEP}path"

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
SOLID_TYPES: Final = frozenset({"model", "solidsupport"})
_OBJECT_TYPES: Final = SOLID_TYPES | {"support", "surface", "other"}
# ST_ResourceID: a positive integer below 2**31.
_MAX_RESOURCE_ID: Final = 2**31 - 1
# ST_Number, as ST_Matrix3D repeats it twelve times.
_NUMBER: Final = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]+)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")

_IDENTITY: Final = np.eye(4)

IndexArray = npt.NDArray[np.intc]


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
class Reference:
    """A component or a build item: an object, placed by a transform, maybe in another part."""

    object_id: int
    part: str | None
    transform: FloatArray


@dataclass(frozen=True)
class ModelObject:
    type: str
    vertices: FloatArray
    triangles: IndexArray
    components: tuple[Reference, ...]


class MeshAllowance:
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


class ModelPart(XmlEntry):
    """A ``.model`` part: collects its objects' meshes and components, and its build items.

    Vertices and triangle indices go into compact typed arrays as they stream past, so memory
    is bounded by the mesh itself, never by the XML text, and the mesh by the allowance.
    """

    def __init__(self, package_name: str, part_name: str, allowance: MeshAllowance) -> None:
        super().__init__(package_name, part_name)
        self._allowance = allowance
        self.mm_per_unit = 1.0
        # Why this part cannot be used, if it requires extensions not understood here; raised
        # only if the build uses the part.
        self.refusal: DesignFormatError | None = None
        self.objects: dict[int, ModelObject] = {}
        self.build: list[Reference] = []
        self._resource_ids: set[int] = set()
        self._namespaces: dict[str, str] = {}
        self._object_id: int | None = None
        self._object_type = "model"
        self._vertices = array("d")
        self._triangles = array("i")
        self._components: list[Reference] = []
        self._handlers: dict[str, Callable[[dict[str, str]], None]] = {
            f"{_CORE}{SEP}vertex": self._vertex,
            f"{_CORE}{SEP}triangle": self._triangle,
            f"{_CORE}{SEP}component": self._component,
            f"{_CORE}{SEP}item": self._item,
            f"{_CORE}{SEP}basematerials": self._basematerials,
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
        self.objects[object_id] = ModelObject(
            self._object_type, vertices, triangles, tuple(self._components)
        )
        self._allowance.held += len(vertices) + len(triangles)
        self._object_id = None
        self._object_type = "model"
        self._vertices = array("d")
        self._triangles = array("i")
        self._components = []


def _reference(attributes: dict[str, str]) -> Reference:
    path = attributes.get(_PATH_ATTRIBUTE)
    return Reference(
        object_id=_resource_id(attributes["objectid"]),
        part=None if path is None else part_key(path),
        transform=_parse_transform(attributes.get("transform")),
    )


def _local(name: str) -> str:
    return name.rpartition(SEP)[2]
