"""The package side of a 3MF file: its ZIP entries that are XML, pushed through expat as they
decompress (no document type declarations, so no entity expansion), and the package
relationships (``/_rels/.rels``) whose StartPart relationship names the root model part."""

from __future__ import annotations

from typing import Final
from xml.parsers import expat

from ._common import DesignFormatError

__all__ = ["RELS_PART", "SEP", "RootRelationships", "XmlEntry", "part_key"]

_RELATIONSHIPS: Final = "http://schemas.openxmlformats.org/package/2006/relationships"
_MODEL_RELATIONSHIP: Final = "http://schemas.microsoft.com/3dmanufacturing/2013/01/3dmodel"
# expat reports namespaced names as "<namespace><separator><local name>".
SEP: Final = " "
RELS_PART: Final = "/_rels/.rels"


def part_key(name: str) -> str:
    """Normalise a part name or reference for lookups: OPC part names are case-insensitive."""
    return "/" + name.lstrip("/").lower()


class XmlEntry:
    """Base for archive entries parsed as XML, pushed through expat as they decompress."""

    def __init__(self, package_name: str, part_name: str) -> None:
        self._package_name = package_name
        self._part_name = part_name
        self._parser = expat.ParserCreate(namespace_separator=SEP)
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


class RootRelationships(XmlEntry):
    """``/_rels/.rels``: names the root model part."""

    def __init__(self, package_name: str, part_name: str) -> None:
        super().__init__(package_name, part_name)
        self.root_models: list[str] = []
        self._parser.StartElementHandler = self._start

    def _start(self, name: str, attributes: dict[str, str]) -> None:
        if (
            name == f"{_RELATIONSHIPS}{SEP}Relationship"
            and attributes.get("Type") == _MODEL_RELATIONSHIP
            and "Target" in attributes
        ):
            self.root_models.append(attributes["Target"])
