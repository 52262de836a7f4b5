"""Streaming sniffing and measuring of uploaded design files (STL, 3MF, STEP).

Uploads are inspected as their chunks arrive and are never stored in plaintext, so everything
here is push-style with bounded memory: a ``DesignInspector`` is fed chunks of any size and, at
the end, says what the file is, how big its mesh is, and whether the mesh is closed (watertight
and consistently wound), without which it states no volume::

    inspector = DesignInspector(upload.name)
    for chunk in upload.chunks():
        inspector.feed(chunk)
    inspection = inspector.finish()  # raises DesignFormatError with a message for the user

Only a 3MF's meshes are held in memory (its build can refer to any object from anywhere in the
model), as compact numpy arrays, and an STL's corners, for checking that it is closed.

Hostile files are refused while they stream in, not after: a 3MF by the compression ratio of
each entry, the total it inflates to and the number of mesh elements it holds, and every file by
the processor time its inspection takes. The defaults below are sized, by the measurements in
their comments, so that the largest legitimate file passes.
"""

from __future__ import annotations

from typing import Final

from ._common import CpuBudget, DesignFormatError, FileKind, Geometry, Inspection, Parser
from ._stl import AsciiStlParser, BinaryStlParser, looks_like_ascii_stl
from ._threemf import ThreeMfParser

__all__ = ["DesignFormatError", "DesignInspector", "FileKind", "Geometry", "Inspection"]

# Enough to tell ASCII from binary STL, and to find a STEP signature after leading whitespace.
_SNIFF_SIZE: Final = 1024
_ZIP_SIGNATURE: Final = b"PK\x03\x04"
_STEP_SIGNATURE: Final = b"ISO-10303-21;"
_UTF8_BOM: Final = b"\xef\xbb\xbf"
_FAMILIES: Final = {".stl": "STL", ".3mf": "3MF", ".step": "STEP", ".stp": "STEP"}

# Default limits; config/settings/base.py repeats them, for the environment to override.
#
# What a 3MF may inflate to. Parsing costs about 2.2 us of CPU per mesh element (a <vertex> or a
# <triangle>) through expat and the Python callbacks (cube_gears.3mf: 2.1 us, 25 MB/s of XML),
# so 1 GiB of model XML took 41 s of CPU here (an 18M-element grid mesh) and 480 MB of RSS
# (620 MB when measuring still copied the vertices twice); terser XML takes longer. The largest
# binary STL the 200 MB upload limit lets through holds 4M triangles; the same mesh in a 3MF is
# about 6M elements, some 330 MB of XML as exporters write it (53-59 bytes an element in the
# 3MF consortium's samples). 512 MiB keeps room above that and halves the time and memory.
MAX_UNCOMPRESSED_BYTES: Final = 512 << 20
# How many vertices and triangles a 3MF's meshes may hold in all. A vertex takes 24 bytes once
# parsed, a triangle 12, and measuring copies one object's vertices once more, so the worst case,
# all vertices, peaks at 579 MB of RSS here (11.99M vertices, one triangle). A realistic mesh
# just under 512 MiB of XML is 9-11M elements (10.8M in a 505 MiB file written tersely, 49 bytes
# an element), which this lets through.
MAX_MESH_ELEMENTS: Final = 12_000_000
# Processor time (the inspecting thread's) one file may take. The largest legitimate 3MF, at
# both limits above (that 505 MiB, 10.8M-element file), took 23-25 s of CPU here (2 shared
# cores), some 28 s scaled to the element limit, and a 190 MB ASCII STL 2.7 s; 60 s leaves
# twice that for a slower or busier server and is well under gunicorn's 300 s request timeout.
# It stops what the other limits let through but is slow for its size, such as hundreds of MiB
# of tiny elements (about 0.5 us each).
MAX_CPU_SECONDS: Final = 60.0
# The largest STL whose closure (watertight, consistently wound; see _closure.py) is checked;
# larger ones are measured, and their volume stated as not checked. Measuring an STL streams in
# constant memory (bench/upload.py: under 64 MiB of growth, whatever the size), but checking it
# keeps its corners and sorts them, linear in the facets. Closed tori (binary STL) measured
# here, beyond measuring them (0.02-0.1 s and 10 MB of RSS): 500,000 facets 0.3 s and 32 MB
# more; 1,000,000 facets 0.56 s and 74 MB more; 4,194,304 facets (the largest binary STL the
# 200 MiB upload limit lets through) 3.3 s and 351 MB more; an ASCII STL of 819,200 facets
# (191 MiB) 0.3 s and 65 MB more than its 4.2 s. 500,000 facets (a 24 MB binary STL, some
# 125 MB of ASCII) keeps an upload within bench/upload.py's 64 MiB.
# A 3MF's meshes are held in memory anyway (bounded by MAX_MESH_ELEMENTS), and checking them
# adds about 19 bytes a triangle (4,194,304: 1.6 s and 79 MB more than its 14 s and 169 MB), so
# every 3MF object is checked.
MAX_STL_CHECKED_TRIANGLES: Final = 500_000


def _is_step(head: bytes) -> bool:
    return head.removeprefix(_UTF8_BOM).lstrip().startswith(_STEP_SIGNATURE)


def _content_hint(head: bytes) -> str:
    """Say what the content looks like instead, for the error message, if it is recognisable."""
    if head.startswith(_ZIP_SIGNATURE):
        return " It looks like a ZIP archive (a 3MF file?)."
    if _is_step(head):
        return " It looks like a STEP file."
    if looks_like_ascii_stl(head):
        return " It looks like an STL file."
    return ""


class _StepParser:
    """STEP files are accepted on their header alone: measuring B-rep geometry is out of scope."""

    def feed(self, chunk: bytes | memoryview) -> None:
        pass

    def finish(self) -> Inspection:
        return Inspection(FileKind.STEP, None)


class DesignInspector:
    """Identifies and measures one uploaded design file, fed chunk by chunk.

    The kind comes from the file name's extension and must be confirmed by the content. Errors
    are raised as ``DesignFormatError`` from ``feed()`` as soon as they are certain, or from
    ``finish()``; once one has been raised, every later call raises it again.
    """

    def __init__(
        self,
        filename: str,
        *,
        max_uncompressed_bytes: int = MAX_UNCOMPRESSED_BYTES,
        max_mesh_elements: int = MAX_MESH_ELEMENTS,
        max_cpu_seconds: float = MAX_CPU_SECONDS,
        max_stl_checked_triangles: int = MAX_STL_CHECKED_TRIANGLES,
    ) -> None:
        self._name = filename
        self._max_uncompressed = max_uncompressed_bytes
        self._max_mesh_elements = max_mesh_elements
        self._max_stl_checked = max_stl_checked_triangles
        self._budget = CpuBudget(filename, max_cpu_seconds)
        _, dot, extension = filename.rpartition(".")
        family = _FAMILIES.get(f".{extension.lower()}") if dot else None
        if family is None:
            what = f"“.{extension}”" if dot else f"“{filename}” (no extension)"
            raise DesignFormatError(f"Unsupported file type {what}: upload STL, 3MF or STEP.")
        self._family = family
        self._head = bytearray()
        self._parser: Parser | None = None
        self._error: DesignFormatError | None = None
        self._finished = False

    def feed(self, chunk: bytes | memoryview) -> None:
        """Inspect the next chunk of the file."""
        self._check_usable()
        try:
            with self._budget.running():
                if self._parser is not None:
                    self._parser.feed(chunk)
                    return
                self._head += chunk
                if len(self._head) >= _SNIFF_SIZE:
                    self._start()
        except DesignFormatError as exc:
            self._error = exc
            raise

    def finish(self) -> Inspection:
        """Complete the inspection once the whole file has been fed."""
        self._check_usable()
        self._finished = True
        try:
            with self._budget.running():
                parser = self._parser
                if parser is None:
                    if not self._head:
                        raise DesignFormatError("The file is empty.")
                    parser = self._start()
                return parser.finish()
        except DesignFormatError as exc:
            self._error = exc
            raise

    def _check_usable(self) -> None:
        if self._error is not None:
            raise self._error
        if self._finished:
            raise RuntimeError("DesignInspector used after finish()")

    def _start(self) -> Parser:
        """Choose the parser from the extension and the first bytes, then replay them into it."""
        head = bytes(self._head)
        self._head = bytearray()
        parser = self._choose(head[:_SNIFF_SIZE])
        parser.feed(head)
        self._parser = parser
        return parser

    def _choose(self, head: bytes) -> Parser:
        name = self._name
        if self._family == "STL":
            if head.startswith(_ZIP_SIGNATURE) or _is_step(head):
                raise DesignFormatError(f"“{name}” is not an STL file.{_content_hint(head)}")
            if looks_like_ascii_stl(head):
                return AsciiStlParser(name, max_checked_triangles=self._max_stl_checked)
            return BinaryStlParser(name, max_checked_triangles=self._max_stl_checked)
        if self._family == "3MF":
            if not head.startswith(_ZIP_SIGNATURE):
                raise DesignFormatError(
                    f"“{name}” is not a 3MF file: it is not a ZIP archive.{_content_hint(head)}"
                )
            return ThreeMfParser(
                name,
                max_uncompressed=self._max_uncompressed,
                max_mesh_elements=self._max_mesh_elements,
                budget=self._budget,
            )
        if not _is_step(head):
            raise DesignFormatError(
                f"“{name}” is not a STEP file: it does not start with “ISO-10303-21;”."
                f"{_content_hint(head)}"
            )
        return _StepParser()
