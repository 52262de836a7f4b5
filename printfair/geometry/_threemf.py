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

The package's entries are read in _threemf_package.py, its model parts parsed in
_threemf_model.py; here the build is measured.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np

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
from ._threemf_model import SOLID_TYPES, MeshAllowance, ModelObject, ModelPart
from ._threemf_package import RELS_PART, RootRelationships, part_key
from ._zipstream import EntrySink, ZipStreamReader

# Components let a small file describe a huge build (an object made of ten copies of an object
# made of ten copies of...), so the build walk is bounded independently of the file size.
_MAX_NESTING: Final = 64
_MAX_INSTANCES: Final = 100_000
_MAX_BUILD_TRIANGLES: Final = 100_000_000
_TRIANGLE_BATCH: Final = 1 << 18


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
        parts: dict[str, ModelPart],
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
            if obj.type in SOLID_TYPES:
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

    def _solid(self, key: tuple[str, int], obj: ModelObject) -> _Solid:
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

    def _add_bounds(self, obj: ModelObject, transform: FloatArray) -> None:
        # The placed vertices come out axis-major, so that gathering by triangle index gives
        # MeshTotals its layout directly; computing them so takes one copy of the vertices,
        # where placing and then transposing took two.
        with np.errstate(over="ignore", invalid="ignore"):
            # einsum's own loop, not matmul: a product this size goes to BLAS, whose thread
            # pool stalls when the cores are busy (see six_signed_volume).
            by_axis = np.einsum("ji,nj->in", transform[:3, :3], obj.vertices)
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
        self._allowance = MeshAllowance(name, max_mesh_elements)
        self._parts: dict[str, ModelPart] = {}
        self._relationships: RootRelationships | None = None

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
        if key == RELS_PART:
            self._relationships = RootRelationships(self._name, entry_name)
            return self._relationships
        if key.endswith(".model"):
            part = ModelPart(self._name, entry_name, self._allowance)
            self._parts[key] = part
            return part
        return None
