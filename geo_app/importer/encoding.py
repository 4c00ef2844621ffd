"""Which text encoding a file is in: ``--encoding``, a Shapefile's ``.cpg``, its DBF LDID byte, or the text.

The bureau's Shapefiles often come from Chinese Windows software that wrote GBK text with no
``.cpg`` and LDID 0. When neither says anything and the text is not valid UTF-8, the importer
tries GB18030 (a superset of GBK and GB2312) and says so in the report, with the reason.
"""

from __future__ import annotations

import codecs
import re
from pathlib import Path

from ..errors import UnsupportedMediaType, ValidationError
from .sniff import DbfHeader

#: LDID (DBF byte 29) -> code page, as ArcGIS and GDAL read it; 0x57 (ANSI: the writer's own
#: Windows code page) and 0x00 say nothing.
LDID = {0x01: "CP437", 0x02: "CP850", 0x03: "CP1252", 0x08: "CP865", 0x09: "CP437", 0x0A: "CP850",
        0x13: "CP932", 0x1F: "CP852", 0x22: "CP852", 0x26: "CP866", 0x4D: "CP936", 0x4E: "CP949",
        0x4F: "CP950", 0x50: "CP874", 0x58: "CP1252", 0x59: "CP1252", 0x64: "CP852", 0x65: "CP866",
        0x78: "CP950", 0x79: "CP949", 0x7A: "CP936", 0x7B: "CP932", 0x7C: "CP874", 0xC8: "CP1250",
        0xC9: "CP1251", 0xCA: "CP1254", 0xCB: "CP1253", 0xCC: "CP1257"}
_SILENT_LDID = {0x00: "0x00 (unset)", 0x57: "0x57 (ANSI: the writing system's code page, unknown)"}
#: ``.cpg`` spellings -> codec name.
_CPG_ALIASES = {"65001": "UTF-8", "UTF8": "UTF-8", "936": "CP936", "GBK": "CP936", "GB2312": "GB18030",
                "CP936": "CP936", "GB18030": "GB18030", "950": "CP950", "BIG5": "CP950", "1252": "CP1252",
                "ANSI 1252": "CP1252", "UTF-8": "UTF-8", "ISO-8859-1": "ISO-8859-1", "88591": "ISO-8859-1"}
#: Bytes of DBF records sampled to judge the text.
SAMPLE = 8 * 1024 * 1024
_NAME = re.compile(r"^[A-Za-z0-9_\-]{1,40}$")


def parse_encoding(value: str | None) -> str | None:
    """Check an ``--encoding`` value (a codec Python knows, e.g. ``GBK``, ``GB18030``, ``UTF-8``).

    Raises
    ------
    ValidationError
        For an unknown or malformed name (400, field ``encoding``).
    """
    if value is None or not str(value).strip():
        return None
    v = str(value).strip()
    try:
        if not _NAME.match(v):
            raise LookupError(v)
        return canonical(v)
    except LookupError:
        raise ValidationError(f"encoding: unknown encoding {v[:40]!r} (e.g. UTF-8, GBK, GB18030)",
                              field="encoding") from None


def canonical(name: str) -> str:
    """The name GDAL's iconv and Python both know for a codec (``latin-1`` -> ``ISO-8859-1``, ``gbk`` -> ``GBK``).

    Raises
    ------
    LookupError
        When Python does not know the codec.
    """
    n = codecs.lookup(name).name.upper().replace("_", "-")
    return "ISO-" + n[3:] if n.startswith("ISO8859-") else n


def _decodes(data: bytes, enc: str) -> bool:
    """True when ``data`` decodes in ``enc``, allowing one character cut at the very end."""
    try:
        data.decode(enc)
    except UnicodeDecodeError as exc:
        return exc.end == len(data) and exc.reason in ("unexpected end of data", "incomplete multibyte sequence")
    return True


def decode_text(data: bytes, name: str, *, given: str | None, what: str) -> tuple[str, str, str]:
    """Decode a text file (GeoJSON): ``given``, else UTF-8, else GB18030.

    Returns
    -------
    tuple
        ``(text, encoding, reason)``.
    """
    if given:
        try:
            return data.decode(given).lstrip("\ufeff"), given, "given with --encoding"
        except UnicodeDecodeError as exc:
            raise UnsupportedMediaType(f"{name}: not {given} text at byte {exc.start}", field="encoding") from None
    try:
        return data.decode("utf-8-sig"), "UTF-8", what
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030"), "GB18030", "not valid UTF-8; decodes as GB18030 (a superset of GBK/GB2312)"
    except UnicodeDecodeError:
        raise UnsupportedMediaType(f"{name}: the text is neither UTF-8 nor GB18030; give --encoding",
                                   field="encoding") from None


def text_sample(dbf: Path, header: DbfHeader) -> bytes:
    """The bytes of the DBF's character fields (up to :data:`SAMPLE` bytes of records), joined by NULs."""
    char = [(off, n) for kind, off, n in header.fields if kind in "CM"]
    if not char:
        return b""
    n = min(header.records, max(1, SAMPLE // max(header.record_len, 1)))
    with open(dbf, "rb") as fh:
        fh.seek(header.header_len)
        block = fh.read(n * header.record_len)
    parts = []
    for i in range(0, len(block) - header.record_len + 1, header.record_len):
        rec = block[i:i + header.record_len]
        parts += [rec[off:off + ln].rstrip(b" \x00") for off, ln in char]
    return b"\x00".join(p for p in parts if p)


def _fields_decode(sample: bytes, enc: str) -> bool:
    return all(_decodes(part, enc) for part in sample.split(b"\x00"))


def dbf_encoding(header: DbfHeader, sample: bytes, *, cpg: str | None, given: str | None) -> tuple[str, str, list[str]]:
    """Choose a Shapefile's encoding: ``--encoding``, ``.cpg``, LDID, then the text itself.

    Parameters
    ----------
    header
        The checked DBF header.
    sample
        From :func:`text_sample`.
    cpg
        The ``.cpg`` text, if there is one.
    given
        ``--encoding`` (normalised by :func:`parse_encoding`).

    Returns
    -------
    tuple
        ``(encoding, reason, warnings)``; the encoding is a codec name pyogrio accepts.
    """
    warnings: list[str] = []
    if given:
        enc, reason = given, "given with --encoding"
    elif cpg:
        reason = f"from the .cpg file ({cpg!r})"
        try:
            enc = canonical(_CPG_ALIASES.get(cpg.upper().replace("CP ", "CP"), cpg))
        except LookupError:
            raise UnsupportedMediaType(f".cpg names an unknown code page {cpg!r}; give --encoding",
                                       field="encoding") from None
    elif header.ldid in LDID:
        enc, reason = LDID[header.ldid], f"from the DBF language driver byte (LDID 0x{header.ldid:02X})"
    else:
        ldid = _SILENT_LDID.get(header.ldid, f"0x{header.ldid:02X} (unknown)")
        return _guess(sample, ldid)
    if sample and not _fields_decode(sample, enc):
        warnings.append(f"the text is not valid {enc} ({reason}); names may be garbled: check them, "
                        "or give --encoding")
    return enc, reason, warnings


def _guess(sample: bytes, ldid: str) -> tuple[str, str, list[str]]:
    """No .cpg and a silent LDID: UTF-8 when the text is valid UTF-8, else GB18030, else refuse."""
    if _fields_decode(sample, "utf-8"):
        what = "ASCII" if sample.isascii() else "valid UTF-8"
        return "UTF-8", f"no .cpg and LDID {ldid}; the text is {what}", []
    if _fields_decode(sample, "gb18030"):
        return ("GB18030", f"no .cpg and LDID {ldid}; the text is not valid UTF-8 but decodes as GB18030 "
                "(a superset of GBK/GB2312)", [])
    raise UnsupportedMediaType(f"no .cpg, LDID {ldid}, and the text is neither UTF-8 nor GB18030; "
                               "give --encoding", field="encoding")
