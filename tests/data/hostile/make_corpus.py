"""Regenerate the hostile design files in this folder: ``python tests/data/hostile/make_corpus.py``.

Standard library only, and deterministic (fixed timestamps, seeded randomness; the compressed
bytes are zlib's at level 9, so another zlib build may write other but equivalent bytes). Every
archive is written byte by byte by ``raw_zip`` so that its headers can say whatever the attack
needs. README.md says what each file is and how ``DesignInspector`` must refuse it; the test
``tests/printfair/test_geometry.py::test_hostile_corpus_is_refused_quickly`` checks that, and
imports the builders below for its own, larger, bombs.
"""

from __future__ import annotations

import random
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

HERE = Path(__file__).resolve().parent

_LOCAL = struct.Struct("<4s5H3I2H")
_CENTRAL = struct.Struct("<4s6H3I5H2I")
_END = struct.Struct("<4s4H2IH")
_DOS_DATE_1980 = 0x21
DEFLATED = 8
FLAG_DATA_DESCRIPTOR = 0x08
MIB = 1 << 20

CORE = "http://schemas.microsoft.com/3dmanufacturing/core/2015/02"
CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" '
    'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="model" '
    'ContentType="application/vnd.ms-package.3dmanufacturing-3dmodel+xml"/>'
    "</Types>"
)
ROOT_RELS = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Target="/3D/3dmodel.model" Id="rel0" '
    'Type="http://schemas.microsoft.com/3dmanufacturing/2013/01/3dmodel"/>'
    "</Relationships>"
)
MODEL_HEAD = (
    f'<?xml version="1.0" encoding="UTF-8"?><model unit="millimeter" xmlns="{CORE}">'
    '<resources><object id="1" type="model"><mesh><vertices>'
)
MODEL_TAIL = '</triangles></mesh></object></resources><build><item objectid="1"/></build></model>'


def cube_model(size: float = 10.0) -> str:
    """A valid model part: a closed cube with one corner at the origin."""
    corners = [
        (x, y, z) for z in (0, size) for x, y in ((0, 0), (size, 0), (size, size), (0, size))
    ]
    faces = [(3, 2, 1), (1, 0, 3), (4, 5, 6), (6, 7, 4), (0, 1, 5), (5, 4, 0)]
    faces += [(1, 2, 6), (6, 5, 1), (2, 3, 7), (7, 6, 2), (3, 0, 4), (4, 7, 3)]
    vertices = "".join(f'<vertex x="{x}" y="{y}" z="{z}"/>' for x, y, z in corners)
    triangles = "".join(f'<triangle v1="{a}" v2="{b}" v3="{c}"/>' for a, b, c in faces)
    return f"{MODEL_HEAD}{vertices}</vertices><triangles>{triangles}{MODEL_TAIL}"


@dataclass(frozen=True)
class RawEntry:
    """One archive entry, its header fields written as given, true or not."""

    name: str
    data: bytes  # as it lies in the archive: raw DEFLATE for method 8, the content for method 0
    crc: int
    size: int
    method: int = DEFLATED
    compressed_size: int | None = None  # what the headers say; by default len(data)
    flags: int = 0
    extra: bytes = b""  # of the local header
    descriptor: bytes = b""  # written after the data
    # (CRC, compressed size, size) in the central directory, when the local header has others.
    directory_says: tuple[int, int, int] | None = None


def _local_header(
    name: bytes, said: tuple[int, int, int], flags: int = 0, method: int = DEFLATED, extra: int = 0
) -> bytes:
    """A local header saying (CRC, compressed size, size), followed by ``extra`` bytes."""
    fields = (flags, method, 0, _DOS_DATE_1980, *said, len(name), extra)
    return _LOCAL.pack(b"PK\x03\x04", 45, *fields) + name


def _directory_header(
    name: bytes, offset: int, said: tuple[int, int, int], flags: int = 0, method: int = DEFLATED
) -> bytes:
    fields = (flags, method, 0, _DOS_DATE_1980, *said, len(name))
    return _CENTRAL.pack(b"PK\x01\x02", 45, 45, *fields, 0, 0, 0, 0, 0, offset) + name


def _end_record(entries: int, directory: int, offset: int) -> bytes:
    return _END.pack(b"PK\x05\x06", 0, 0, entries, entries, directory, offset, 0)


def raw_zip(entries: list[RawEntry]) -> bytes:
    """A ZIP archive of the entries, with a central directory that repeats their headers."""
    archive = bytearray()
    directory = bytearray()
    for entry in entries:
        offset = len(archive)
        name = entry.name.encode()
        compressed_size = (
            len(entry.data) if entry.compressed_size is None else entry.compressed_size
        )
        said = (entry.crc, compressed_size, entry.size)
        archive += _local_header(name, said, entry.flags, entry.method, len(entry.extra))
        archive += entry.extra + entry.data + entry.descriptor
        directory += _directory_header(
            name, offset, entry.directory_says or said, entry.flags, entry.method
        )
    return bytes(archive + directory + _end_record(len(entries), len(directory), len(archive)))


def deflated(name: str, content: str | bytes) -> RawEntry:
    """An honest DEFLATE entry (``dataclasses.replace`` makes it lie)."""
    data = content.encode() if isinstance(content, str) else content
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    raw = compressor.compress(data) + compressor.flush()
    return RawEntry(name, raw, zlib.crc32(data), len(data))


def _repeated_mib(fill: bytes, mib: int, crc: int = 0) -> tuple[bytes, int]:
    """Raw DEFLATE of ``mib`` MiB of one byte, ending the stream, and the CRC continued over it.

    After a full flush DEFLATE starts afresh, so one compressed MiB is repeated rather than the
    whole content compressed: a 1.5 GiB bomb takes a second to make, not a minute.
    """
    content = fill * MIB
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = compressor.compress(content) + compressor.flush(zlib.Z_FULL_FLUSH)
    for _ in range(mib):
        crc = zlib.crc32(content, crc)
    return block * mib + compressor.flush(), crc


def deflate_bomb(name: str, mib: int, head: bytes = b"", fill: bytes = b" ") -> RawEntry:
    """An entry of ``head`` then ``mib`` MiB of ``fill``, about 1000 times its compressed size."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    start = compressor.compress(head) + compressor.flush(zlib.Z_FULL_FLUSH)
    rest, crc = _repeated_mib(fill, mib, zlib.crc32(head))
    return RawEntry(name, start + rest, crc, len(head) + mib * MIB)


def streamed(entry: RawEntry) -> RawEntry:
    """The entry as a streaming writer puts it: flag bit 3, and the local header's CRC and sizes
    0; the data descriptor after the data, and the central directory, have the real ones."""
    descriptor = struct.pack("<4s3I", b"PK\x07\x08", entry.crc, len(entry.data), entry.size)
    return replace(
        entry,
        crc=0,
        size=0,
        compressed_size=0,
        flags=FLAG_DATA_DESCRIPTOR,
        descriptor=descriptor,
        directory_says=(entry.crc, len(entry.data), entry.size),
    )


def package(*entries: RawEntry) -> list[RawEntry]:
    """The parts every 3MF starts with, then ``entries``."""
    return [
        deflated("[Content_Types].xml", CONTENT_TYPES),
        deflated("_rels/.rels", ROOT_RELS),
        *entries,
    ]


def _quote(header: bytes) -> bytes:
    """A non-final stored DEFLATE block header, so that the bytes after it are output as is."""
    return b"\x00" + struct.pack("<HH", len(header), len(header) ^ 0xFFFF)


def quoted_overlap_bomb(files: int, kernel_mib: int) -> bytes:
    """David Fifield's non-recursive zip bomb ("A better zip bomb", WOOT 2019), quoted form.

    The central directory lists ``files`` entries whose data overlap: each entry's DEFLATE
    stream starts with a stored block quoting the next entry's local header, and all end in the
    same kernel, ``kernel_mib`` MiB of "a". A reader that follows the central directory inflates
    the kernel once per entry; a streaming reader sees one entry, which holds all the others.
    """
    kernel, _ = _repeated_mib(b"a", kernel_mib)
    names = [f"3D/{index:02d}.model".encode() for index in range(files)]
    # From the last entry back: an entry's content is the local headers after it, quoted, then
    # the kernel's content; its CRC covers both.
    headers: list[bytes] = []
    said: list[tuple[int, int, int]] = []
    quoted = b""
    compressed_size, size = len(kernel), kernel_mib * MIB
    for name in reversed(names):
        _, crc = _repeated_mib(b"a", kernel_mib, zlib.crc32(quoted))
        said.insert(0, (crc, compressed_size, size))
        header = _local_header(name, said[0])
        headers.insert(0, header)
        quoted = header + quoted
        compressed_size += len(_quote(header)) + len(header)
        size += len(header)
    archive = bytearray()
    directory = bytearray()
    for index, name in enumerate(names):
        directory += _directory_header(name, len(archive), said[index])
        archive += headers[index]
        if index + 1 < files:
            archive += _quote(headers[index + 1])
    archive += kernel
    return bytes(archive + directory + _end_record(files, len(directory), len(archive)))


def binary_stl(triangles: list[tuple[float, ...]], declared: int) -> bytes:
    header = b"binary STL whose triangle count lies".ljust(80, b"\0")
    records = b"".join(struct.pack("<12fH", 0, 0, 0, *corners, 0) for corners in triangles)
    return header + struct.pack("<I", declared) + records


TETRA: list[tuple[float, ...]] = [
    (0, 0, 0, 0, 30, 0, 30, 0, 0),
    (0, 0, 0, 30, 0, 0, 0, 0, 30),
    (0, 0, 0, 0, 0, 30, 0, 30, 0),
    (30, 0, 0, 0, 30, 0, 0, 0, 30),
]


def _many_entries_over_budget() -> bytes:
    rng = random.Random(7)
    parts = []
    for index in range(12):
        # 200 KiB each, about 39:1: over the ratio check's grace, under its limit.
        text = bytearray()
        while len(text) < 200 << 10:
            text += rng.randbytes(6).hex().encode() + b" " * 400 + b"\n"
        parts.append(deflated(f"Metadata/notes_{index:02d}.txt", bytes(text[: 200 << 10])))
    return raw_zip(package(deflated("3D/3dmodel.model", cube_model()), *parts))


def _header_lies_about_size() -> bytes:
    model = deflated("3D/3dmodel.model", cube_model())  # about 1.2 KB
    return raw_zip(package(replace(model, size=100)))


def _zip64_declares_exabytes() -> bytes:
    model = deflated("3D/3dmodel.model", cube_model())
    # Sizes of 0xFFFFFFFF in the local header send the reader to its ZIP64 field.
    zip64 = struct.pack("<HHQQ", 1, 16, 1 << 62, len(model.data))
    lying = replace(model, extra=zip64, size=0xFFFFFFFF, compressed_size=0xFFFFFFFF)
    return raw_zip(package(lying))


def _descriptor_zero_bomb() -> bytes:
    return raw_zip(package(streamed(deflate_bomb("3D/3dmodel.model", 150, MODEL_HEAD.encode()))))


def _truncated() -> bytes:
    whole = raw_zip(package(deflated("3D/3dmodel.model", cube_model())))
    return whole[: len(whole) // 2]


ASCII_ABSURD = """solid absurd
  facet normal 0 0 0
    outer loop
      vertex 1e999 0 0
      vertex nan 1 0
      vertex 0 0 1
    endloop
  endfacet
endsolid absurd
"""

CORPUS: dict[str, Callable[[], bytes]] = {
    "model_deflate_bomb.3mf": lambda: raw_zip(
        package(deflate_bomb("3D/3dmodel.model", 150, MODEL_HEAD.encode()))
    ),
    "thumbnail_bomb.3mf": lambda: raw_zip(
        package(
            deflated("3D/3dmodel.model", cube_model()),
            deflate_bomb("Metadata/thumbnail.png", 150, fill=b"\0"),
        )
    ),
    "many_entries_over_budget.3mf": _many_entries_over_budget,
    "truncated.3mf": _truncated,
    "header_lies_about_size.3mf": _header_lies_about_size,
    "zip64_declares_exabytes.3mf": _zip64_declares_exabytes,
    "descriptor_zero_bomb.3mf": _descriptor_zero_bomb,
    "quoted_overlap_bomb.3mf": lambda: quoted_overlap_bomb(3, 150),
    "zip_not_3mf.3mf": lambda: raw_zip([deflated("readme.txt", "Not a 3D model.\n" * 200)]),
    "count_lies_binary.stl": lambda: binary_stl(TETRA, declared=0xFFFFFFFF),
    "absurd_numbers_ascii.stl": lambda: ASCII_ABSURD.encode(),
    "zip_named_stl.stl": lambda: raw_zip(package(deflated("3D/3dmodel.model", cube_model()))),
}


# Whole request bodies for every endpoint that takes JSON (json/), in the shapes that broke or
# could break a parser: nesting deeper than any bound, unclosed, not UTF-8, not JSON at all.
JSON_CORPUS: dict[str, Callable[[], bytes]] = {
    "deep_arrays.json": lambda: b"[" * 100_000 + b"]" * 100_000,
    "deep_objects.json": lambda: b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
    "unclosed_arrays.json": lambda: b"[" * 200_000,
    "deep_in_a_field.json": lambda: b'{"records": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    "long_integer.json": lambda: b'{"price": 1' + b"0" * 100_000 + b"}",
    "number_overflow.json": lambda: b'{"price": 1e999999, "deadline": -1e999999}',
    "nan.json": lambda: b'{"price": NaN, "version": Infinity}',
    "not_utf8.json": lambda: b'{"challenge": "\xff\xfe", "address": "\xc3\x28"}',
    "lone_surrogate.json": lambda: b'{"part_serial": "\\ud800", "machine": "\\udfff"}',
    "nul_bytes.json": lambda: b'{"part_serial": "P\\u0000-1", "machine": "M\\u00001"}',
    "not_an_object.json": lambda: b'"just a string"',
    "trailing_garbage.json": lambda: b'{"machine": "M1"} {"machine": "M2"}',
    "duplicate_keys.json": lambda: (
        b'{"machine": "M1", "machine": ' + b'"x", "machine": ' * 10_000 + b'"M2"}'
    ),
    "wide_object.json": lambda: b"{" + b",".join(b'"k%d": 1' % n for n in range(50_000)) + b"}",
    "empty.json": lambda: b"",
}


def main() -> None:
    (HERE / "json").mkdir(exist_ok=True)
    for name, make in JSON_CORPUS.items():
        data = make()
        assert len(data) < 1_100_000, name
        (HERE / "json" / name).write_bytes(data)
    for name, make in CORPUS.items():
        data = make()
        assert len(data) < 200_000, name
        (HERE / name).write_bytes(data)
        print(f"{name}: {len(data)} bytes")


if __name__ == "__main__":
    main()
