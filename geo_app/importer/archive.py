"""Reading zip members safely: checked names, no links, and a byte budget instead of trusting sizes.

A member is read by this module's own inflater from its local header: the local header must
agree with the central directory (name, method and, unless a data descriptor follows, sizes
and CRC), the output is capped while it is decompressed, and the real size and CRC must be
the declared ones. A lying size, a header mismatch, a symlink, an absolute or ``..`` name or
an encrypted member is refused (415, naming the member); nothing is ever extracted under a
name taken from the archive.
"""

from __future__ import annotations

import posixpath
import stat
import struct
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from ..errors import UnsupportedMediaType

#: Most members a zip may list.
MAX_MEMBERS = 10_000
_CHUNK = 1 << 16
_LOCAL = struct.Struct("<4sHHHHHIIIHH")


def _bad(name: str, what: str) -> UnsupportedMediaType:
    return UnsupportedMediaType(f"{name}: {what}; refused", field="file")


class SafeZip:
    """An open zip whose member list has been checked.

    Parameters
    ----------
    path
        The zip file (a copy the importer controls).
    name
        Display name of the archive.
    """

    def __init__(self, path: Path, name: str) -> None:
        self.name = name
        try:
            self._zf = zipfile.ZipFile(path)
            infos = self._zf.infolist()
        except Exception as exc:  # BadZipFile, LargeZipFile, struct errors... of a crafted archive
            raise _bad(name, f"not a valid zip file ({type(exc).__name__})") from None
        self._fh: BinaryIO = open(path, "rb")  # noqa: SIM115 - closed by close()
        try:
            self.members = self._check_list(infos)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Close the archive."""
        self._fh.close()
        self._zf.close()

    def __enter__(self) -> SafeZip:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _check_list(self, infos: list[zipfile.ZipInfo]) -> list[zipfile.ZipInfo]:
        """Refuse links, unsafe names, encryption and duplicates; return the file members."""
        if len(infos) > MAX_MEMBERS:
            raise _bad(self.name, f"more than {MAX_MEMBERS} members")
        seen: set[str] = set()
        out = []
        for info in infos:
            member = f"{self.name}: {info.filename[:120]}"
            mode = info.external_attr >> 16
            if stat.S_ISLNK(mode):
                raise _bad(member, "a symbolic link inside the zip")
            if not safe_name(info.filename):
                raise _bad(member, "an absolute, '..' or otherwise unsafe member name")
            if info.flag_bits & 0x1:
                raise _bad(member, "an encrypted member")
            key = info.filename.lower()
            if key in seen:
                raise _bad(member, "a duplicate member name")
            seen.add(key)
            if not info.is_dir():
                out.append(info)
        return out

    def head(self, info: zipfile.ZipInfo, n: int) -> bytes:
        """The first ``n`` bytes of a member (no size or CRC check: for identifying it)."""
        out = bytearray()
        for chunk in self._stream(info, cap=n, verify=False):
            out += chunk
            if len(out) >= n:
                break
        return bytes(out[:n])

    def read(self, info: zipfile.ZipInfo, cap: int) -> bytes:
        """A whole member, refused when it inflates past ``cap`` or past its declared size."""
        return b"".join(self._stream(info, cap=cap, verify=True))

    def extract(self, info: zipfile.ZipInfo, dest: Path, cap: int) -> int:
        """Write a member to ``dest`` (a name the importer chose); return the bytes written."""
        total = 0
        with open(dest, "wb") as out:
            for chunk in self._stream(info, cap=cap, verify=True):
                total += len(chunk)
                out.write(chunk)
        return total

    def _stream(self, info: zipfile.ZipInfo, *, cap: int, verify: bool) -> Iterator[bytes]:
        """Inflate a member from its local header, yielding chunks; check sizes and CRC when ``verify``."""
        member = f"{self.name}: {info.filename[:120]}"
        method = self._local_header(info, member)
        raw = self._raw(info, member)
        chunks = raw if method == zipfile.ZIP_STORED else _inflate(raw, member)
        total, crc = 0, 0
        for chunk in chunks:
            total += len(chunk)
            if total > info.file_size and verify:
                raise _bad(member, f"declares {info.file_size} bytes but holds more")
            if total > cap:
                if not verify:
                    yield chunk
                    return
                raise _bad(member, f"larger than the {cap}-byte budget once unzipped")
            crc = zlib.crc32(chunk, crc)
            yield chunk
        if verify and (total != info.file_size or crc != info.CRC):
            raise _bad(member, "its size or CRC does not match the zip's directory")

    def _local_header(self, info: zipfile.ZipInfo, member: str) -> int:
        """Read and check the local header against the central directory; return the method."""
        self._fh.seek(info.header_offset)
        fixed = self._fh.read(_LOCAL.size)
        if len(fixed) != _LOCAL.size:
            raise _bad(member, "the local header is missing")
        sig, _, flags, method, _, _, crc, csize, usize, nlen, elen = _LOCAL.unpack(fixed)
        raw_name = self._fh.read(nlen)
        enc = "utf-8" if flags & 0x800 else "cp437"
        if sig != b"PK\x03\x04" or raw_name.decode(enc, errors="replace") != info.orig_filename:
            raise _bad(member, "the local header and the central directory disagree (name)")
        if method != info.compress_type:
            raise _bad(member, "the local header and the central directory disagree (compression)")
        if method not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise _bad(member, f"compression method {method} is not supported (use deflate)")
        sizes_here = not flags & 0x8 and 0xFFFFFFFF not in (csize, usize)
        if sizes_here and (csize, usize, crc) != (info.compress_size, info.file_size, info.CRC):
            raise _bad(member, "the local header and the central directory disagree (size or CRC)")
        self._fh.seek(elen, 1)
        return method

    def _raw(self, info: zipfile.ZipInfo, member: str) -> Iterator[bytes]:
        left = info.compress_size
        while left > 0:
            chunk = self._fh.read(min(left, _CHUNK))
            if not chunk:
                raise _bad(member, "the archive ends inside this member")
            left -= len(chunk)
            yield chunk


def _inflate(raw: Iterator[bytes], member: str) -> Iterator[bytes]:
    """Raw-deflate a stream in bounded steps (never more than 64 KiB of output at once)."""
    d = zlib.decompressobj(-15)
    try:
        for chunk in raw:
            data = chunk
            while data and not d.eof:
                out = d.decompress(data, _CHUNK)
                data = d.unconsumed_tail
                if out:
                    yield out
        tail = d.flush()
    except zlib.error:
        raise _bad(member, "corrupt compressed data") from None
    if tail:
        yield tail
    if not d.eof:
        raise _bad(member, "the compressed data end early")


def display_name(info: zipfile.ZipInfo) -> str:
    """A member's name as its writer meant it: names without the UTF-8 flag are often GBK (Chinese Windows)."""
    if info.flag_bits & 0x800 or info.filename.isascii():
        return info.filename
    raw = info.filename.encode("cp437", errors="replace")
    for enc in ("utf-8", "gb18030"):
        try:
            return raw.decode(enc)
        except UnicodeDecodeError:
            continue
    return info.filename


def safe_name(name: str) -> bool:
    """True for a relative member name without ``..``, backslashes, drive letters or control characters."""
    if not name or name.startswith(("/", "\\")) or "\\" in name or "\x00" in name:
        return False
    if len(name) > 1 and name[1] == ":":
        return False
    if any(ord(c) < 32 for c in name):
        return False
    parts = posixpath.normpath(name).split("/")
    return ".." not in name.split("/") and parts[0] != ".." and not posixpath.isabs(name)
