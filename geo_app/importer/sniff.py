"""What a file is, from its own bytes: magic numbers and header structure, never its name.

:func:`identify` names the format of any byte string (for messages and top-level files);
the ``check_*`` functions verify that a file which claims to be a Shapefile part or a
FileGDB table really is one, and refuse it (415, naming the member) otherwise.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass, field

from ..errors import UnsupportedMediaType

#: Bytes read to identify a file (a DBF header can be longer: see :data:`DBF_HEAD`).
HEAD = 4096
#: Largest DBF header (the header length is a 16-bit field).
DBF_HEAD = 65536
#: Largest .prj and .cpg accepted (a WKT is a few hundred bytes; a code page name a few).
MAX_PRJ = 16384
MAX_CPG = 64

DESCRIPTIONS = {
    "zip": "a zip archive", "gpkg": "a GeoPackage", "sqlite": "an SQLite database (not a GeoPackage)",
    "shape": "a Shapefile geometry or index file", "json": "JSON", "vrt": "a GDAL VRT (XML)",
    "kml": "KML (XML)", "gml": "GML (XML)", "xml": "XML", "html": "HTML", "gzip": "a gzip file",
    "pdf": "a PDF", "text": "plain text (CSV or similar)", "binary": "unrecognised binary data",
    "empty": "an empty file",
}
_SHAPE_TYPES = {0, 1, 3, 5, 8, 11, 13, 15, 18, 21, 23, 25, 28, 31}
_DBF_VERSIONS = {0x02, 0x03, 0x04, 0x05, 0x30, 0x31, 0x32, 0x43, 0x63, 0x83, 0x8B, 0x8E, 0xCB, 0xF5, 0xFB}
_WKT = re.compile(rb"^\s*(PROJCS|GEOGCS|GEOCCS|COMPD_CS|LOCAL_CS|VERT_CS|PROJCRS|GEOGCRS|GEODCRS|BOUNDCRS|"
                  rb"COMPOUNDCRS|PROJECTEDCRS|GEODETICCRS|ENGCRS|VERTCRS)\s*\[", re.IGNORECASE)
_CPG = re.compile(r"^[A-Za-z0-9_.\- ]{1,40}$")


def identify(head: bytes) -> str:
    """Name the format of a byte string from its first bytes.

    Parameters
    ----------
    head
        The first :data:`HEAD` bytes (or all of a shorter file).

    Returns
    -------
    str
        A key of :data:`DESCRIPTIONS`.
    """
    if not head:
        return "empty"
    if head[:4] in (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08"):
        return "zip"
    if head.startswith(b"SQLite format 3\x00"):
        return "gpkg" if head[68:72] in (b"GPKG", b"GP10", b"GP11") else "sqlite"
    if len(head) >= 32 and struct.unpack(">i", head[:4])[0] == 9994 and struct.unpack("<i", head[28:32])[0] == 1000:
        return "shape"
    if head[:2] == b"\x1f\x8b":
        return "gzip"
    if head[:5] == b"%PDF-":
        return "pdf"
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if text[:1] in (b"{", b"["):
        return "json"
    if text[:1] == b"<":
        return _xml_kind(text)
    return "text" if _is_text(head) else "binary"


def _xml_kind(text: bytes) -> str:
    low = text[:HEAD].lower()
    if b"<ogrvrtdatasource" in low or b"<vrtdataset" in low:
        return "vrt"
    if b"<kml" in low:
        return "kml"
    if b"<gml:" in low or b"opengis.net/gml" in low:
        return "gml"
    if b"<html" in low or b"<!doctype html" in low:
        return "html"
    return "xml"


def _is_text(data: bytes) -> bool:
    try:
        s = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(data) - 3:  # not just a character cut at the end of the sample
            return False
        s = data[:exc.start].decode("utf-8")
    return all(c.isprintable() or c in "\r\n\t" for c in s)


def describe(head: bytes) -> str:
    """A phrase naming what the bytes are (``a GDAL VRT (XML)``...)."""
    return DESCRIPTIONS[identify(head)]


def _refuse(member: str, claimed: str, head: bytes, detail: str = "") -> UnsupportedMediaType:
    what = describe(head)
    why = f" ({detail})" if detail else ""
    return UnsupportedMediaType(f"{member}: claims to be {claimed} but is {what}{why}; refused", field="file")


def check_shape(member: str, head: bytes, size: int, *, index: bool) -> int:
    """Check a .shp (or, with ``index``, a .shx) header; return its shape type.

    File code 9994 big-endian, version 1000 little-endian, the declared file length equal to
    the real one and a known shape type; an index also holds whole 8-byte records.
    """
    claimed = "a Shapefile index (.shx)" if index else "a Shapefile (.shp)"
    if len(head) < 100 or struct.unpack(">i", head[:4])[0] != 9994:
        raise _refuse(member, claimed, head, "no file code 9994")
    if struct.unpack("<i", head[28:32])[0] != 1000:
        raise _refuse(member, claimed, head, "version is not 1000")
    declared = struct.unpack(">i", head[24:28])[0] * 2
    if declared != size:
        raise UnsupportedMediaType(f"{member}: the header declares {declared} bytes but the file has {size}; "
                                   "refused", field="file")
    shape_type = struct.unpack("<i", head[32:36])[0]
    if shape_type not in _SHAPE_TYPES:
        raise UnsupportedMediaType(f"{member}: unknown shape type {shape_type}; refused", field="file")
    if index and (size - 100) % 8:
        raise UnsupportedMediaType(f"{member}: not whole 8-byte index records; refused", field="file")
    return shape_type


@dataclass
class DbfHeader:
    """The parts of a dBase header the importer uses."""

    version: int
    records: int
    header_len: int
    record_len: int
    ldid: int
    fields: list[tuple[str, int, int]] = field(default_factory=list)  # (type, offset in record, length)


def check_dbf(member: str, head: bytes, size: int) -> DbfHeader:
    """Check a dBase (.dbf) header: version byte, field descriptors, header and record lengths.

    Parameters
    ----------
    member
        Display name.
    head
        The first :data:`DBF_HEAD` bytes (or the whole file).
    size
        The file's real size.

    Returns
    -------
    DbfHeader
    """
    claimed = "a dBase table (.dbf)"
    if len(head) < 33 or head[0] not in _DBF_VERSIONS:
        raise _refuse(member, claimed, head, "no dBase version byte")
    records, header_len, record_len = struct.unpack("<IHH", head[4:12])
    fields, pos, offset = [], 32, 1
    while pos < min(header_len, len(head)) and head[pos] != 0x0D:
        if pos + 32 > len(head):
            break
        ftype, flen = chr(head[pos + 11]), head[pos + 16]
        fields.append((ftype, offset, flen))
        offset += flen
        pos += 32
    ok = (pos < len(head) and head[pos] == 0x0D and pos + 1 <= header_len <= pos + 1 + 263
          and offset == record_len and size >= header_len + records * record_len)
    if not ok:
        raise _refuse(member, claimed, head, "header, field and record lengths do not agree")
    return DbfHeader(version=head[0], records=records, header_len=header_len, record_len=record_len,
                     ldid=head[29], fields=fields)


def check_prj(member: str, data: bytes) -> str:
    """Check a .prj: short plain text holding a WKT coordinate reference system; return the text."""
    if len(data) > MAX_PRJ:
        raise UnsupportedMediaType(f"{member}: {len(data)} bytes is too long for a .prj; refused", field="file")
    if not _WKT.match(data) or not _is_text(data) or b"\x00" in data:
        raise _refuse(member, "a projection file (.prj, WKT text)", data[:HEAD])
    return data.decode("utf-8").strip()


def check_cpg(member: str, data: bytes) -> str:
    """Check a .cpg: a short plain-text code page name; return it."""
    text = data.decode("ascii", errors="replace").strip()
    if len(data) > MAX_CPG or not _CPG.match(text):
        raise _refuse(member, "a code page file (.cpg, one short name)", data[:HEAD])
    return text


def check_gdbtable(member: str, head: bytes, size: int) -> None:
    """Check a FileGDB ``.gdbtable`` (version 3 or 4; version 3 declares the file size at byte 24)."""
    if len(head) < 40 or struct.unpack("<i", head[:4])[0] not in (3, 4):
        raise _refuse(member, "a FileGDB table (.gdbtable)", head, "no FileGDB table magic")
    if struct.unpack("<i", head[:4])[0] == 3 and struct.unpack("<q", head[24:32])[0] != size:
        raise UnsupportedMediaType(f"{member}: the FileGDB table header does not match the file size; refused",
                                   field="file")


def check_gdbtablx(member: str, head: bytes) -> None:
    """Check a FileGDB ``.gdbtablx`` (row offsets: version 3 or 4, offsets of 4, 5 or 6 bytes)."""
    if len(head) < 16 or struct.unpack("<i", head[:4])[0] not in (3, 4) or \
            struct.unpack("<i", head[12:16])[0] not in (4, 5, 6):
        raise _refuse(member, "a FileGDB table index (.gdbtablx)", head, "no FileGDB index magic")
