"""Staging a file for GDAL: identify it by its bytes, copy what was checked under fixed names.

Each ``stage_*`` function copies the parts it accepts into the import's temporary folder
(``upload.shp``, ``upload.gdb/a00000001.gdbtable``...), checks every copied part by its bytes
(:mod:`.sniff`) and returns :class:`Staged` layers: a GDAL path inside the temporary folder,
the one driver that must read it, and what the importer found out itself (a GeoJSON's
``crs``, a DBF's header and ``.cpg``). No name from the user or from an archive becomes a path.
"""

from __future__ import annotations

import posixpath
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import GeometryError, PayloadTooLarge, UnsupportedMediaType
from . import geojson, sniff
from .archive import SafeZip, display_name

#: Largest total size of the parts staged from one file or zip (zip-bomb guard).
MAX_UNZIPPED = 200 * 1024 * 1024
SHAPEFILE_PARTS = (".shp", ".shx", ".dbf", ".prj", ".cpg")
KIND_NAMES = {"geojson": "GeoJSON", "gpkg": "GeoPackage", "shp": "a Shapefile",
              "zip": "a zipped Shapefile or FileGDB", "gdb": "a FileGDB folder"}
#: What a top-level file's name claims it is.
_CLAIMS = {".shp": "shp", ".geojson": "geojson", ".json": "geojson", ".gpkg": "gpkg", ".zip": "zip"}
_FORMATS = {"zip": "zip", "gpkg": "gpkg", "shape": "shp", "json": "geojson"}
#: Files of a FileGDB folder (tables, their indexes and the two catalog files).
GDB_FILE = re.compile(r"^(a[0-9a-f]{8}(\.[A-Za-z0-9_]+)?\.(gdbtable|gdbtablx|gdbindexes|freelist|atx|spx|horizon)"
                      r"|gdb|timestamps)$", re.IGNORECASE)


@dataclass
class Staged:
    """One layer ready for GDAL."""

    name: str
    target: str
    driver: str
    gdal_layer: str | None = None
    declared_crs: str | None = None
    encoding: str | None = None
    encoding_reason: str | None = None
    dbf: Any = None  # (path, DbfHeader, cpg text or None) for a Shapefile
    warnings: list[str] = field(default_factory=list)


def scrub(exc: Exception, tmp: Path) -> str:
    """A GDAL message without the temporary folder's path (messages never name a server path)."""
    return str(exc).replace(f"{tmp}/", "").replace(str(tmp), "")[:160]


def _head(path: Path, n: int = sniff.HEAD) -> bytes:
    with open(path, "rb") as fh:
        return fh.read(n)


def _copy(src: Path, dest: Path, budget: list[int], member: str) -> None:
    """Copy a regular file under a fixed name, counting it against the byte budget."""
    size = src.stat().st_size
    if size > budget[0]:
        raise PayloadTooLarge(f"{member}: larger than {MAX_UNZIPPED} bytes in all", field="file")
    budget[0] -= size
    shutil.copyfile(src, dest)


def stage(path: Path, name: str, kinds: tuple[str, ...], tmp: Path, *, encoding: str | None) -> list[Staged]:
    """Identify ``path`` by its bytes and stage its layers in ``tmp``.

    Parameters
    ----------
    path
        A file, or a ``.gdb`` folder (when ``gdb`` is in ``kinds``).
    name
        Display name (the uploaded or given file name).
    kinds
        Accepted formats (keys of :data:`KIND_NAMES`).
    tmp
        The import's temporary folder.
    encoding
        ``--encoding`` (used for GeoJSON text here; for Shapefiles by the caller).

    Returns
    -------
    list of Staged
    """
    if path.is_dir():
        if "gdb" not in kinds:
            raise UnsupportedMediaType(f"{name}: folders are not accepted here; send a zip", field="file")
        return stage_gdb_dir(path, name, tmp)
    if not path.is_file() or path.stat().st_size == 0:
        raise GeometryError(f"{name}: empty file", field="file")
    head = _head(path)
    fmt = _FORMATS.get(sniff.identify(head))
    claimed = _CLAIMS.get(Path(name).suffix.lower())
    if fmt is None and claimed:
        raise UnsupportedMediaType(f"{name}: claims to be {KIND_NAMES[claimed]} but is {sniff.describe(head)}; "
                                   "refused", field="file")
    if fmt is None:
        raise UnsupportedMediaType(f"{name}: not GeoJSON, GeoPackage, a Shapefile, a zipped Shapefile or a FileGDB: "
                                   f"it is {sniff.describe(head)}", field="file")
    if claimed and claimed != fmt:
        raise UnsupportedMediaType(f"{name}: claims to be {KIND_NAMES[claimed]} but is {sniff.describe(head)}; "
                                   "refused", field="file")
    if fmt not in kinds:
        raise UnsupportedMediaType(f"{name}: {fmt} files are not accepted here; send "
                                   + ", ".join(KIND_NAMES[k] for k in kinds), field="file")
    if fmt == "geojson":
        return [stage_geojson(path, name, tmp, encoding=encoding)]
    if fmt == "gpkg":
        return stage_gpkg(path, name, tmp)
    if fmt == "shp":
        return [stage_shp_file(path, name, tmp)]
    return stage_zip(path, name, tmp)


def stage_geojson(path: Path, name: str, tmp: Path, *, encoding: str | None) -> Staged:
    """Parse a GeoJSON file here (depth limit, ``crs`` member) and stage its sanitised copy."""
    if path.stat().st_size > MAX_UNZIPPED:
        raise PayloadTooLarge(f"{name}: larger than {MAX_UNZIPPED} bytes", field="file")
    obj, enc, reason = geojson.load(path.read_bytes(), name, encoding=encoding)
    declared = geojson.declared_crs(obj, name)
    dest = tmp / "upload.geojson"
    geojson.sanitise(obj, name, dest)
    return Staged(name=Path(name).stem, target=f"GeoJSON:{dest}", driver="GeoJSON", declared_crs=declared,
                  encoding=enc, encoding_reason=reason)


def stage_gpkg(path: Path, name: str, tmp: Path) -> list[Staged]:
    """Stage a GeoPackage (its header already identified): one :class:`Staged` per layer with geometry."""
    import pyogrio

    dest = tmp / "upload.gpkg"
    _copy(path, dest, [MAX_UNZIPPED], name)
    try:
        rows = pyogrio.list_layers(f"GPKG:{dest}")
    except Exception as exc:  # a damaged database of any kind
        raise UnsupportedMediaType(f"{name}: cannot read as GPKG: {scrub(exc, tmp)}", field="file") from None
    layers = [str(r[0]) for r in rows if r[1] is not None]
    if not layers:
        raise GeometryError(f"{name}: the GeoPackage has no vector layer with geometry", field="file")
    why = "GeoPackage text is UTF-8 by definition"
    return [Staged(name=n, target=f"GPKG:{dest}", driver="GPKG", gdal_layer=n, encoding="UTF-8",
                   encoding_reason=why) for n in layers]


def check_shapefile(folder: Path, members: dict[str, str], label: str) -> Staged:
    """Check the parts staged as ``folder/upload.*`` by their bytes; ``members`` maps ext -> display name."""
    for ext in (".shx", ".dbf"):
        if ext not in members:
            raise UnsupportedMediaType(f"{members['.shp']}: the Shapefile lacks {ext}", field="file")
    parts = {ext: folder / f"upload{ext}" for ext in members}
    sniff.check_shape(members[".shp"], _head(parts[".shp"], 100), parts[".shp"].stat().st_size, index=False)
    shx_size = parts[".shx"].stat().st_size
    sniff.check_shape(members[".shx"], _head(parts[".shx"], 100), shx_size, index=True)
    header = sniff.check_dbf(members[".dbf"], _head(parts[".dbf"], sniff.DBF_HEAD), parts[".dbf"].stat().st_size)
    if (shx_size - 100) // 8 != header.records:
        raise UnsupportedMediaType(f"{members['.shx']}: indexes {(shx_size - 100) // 8} shapes but "
                                   f"{members['.dbf']} holds {header.records} records; refused", field="file")
    if ".prj" in members:
        sniff.check_prj(members[".prj"], parts[".prj"].read_bytes()[:sniff.MAX_PRJ + 1])
    cpg = sniff.check_cpg(members[".cpg"], parts[".cpg"].read_bytes()[:sniff.MAX_CPG + 1]) \
        if ".cpg" in members else None
    return Staged(name=label, target=str(parts[".shp"]), driver="ESRI Shapefile", dbf=(parts[".dbf"], header, cpg))


def stage_shp_file(path: Path, name: str, tmp: Path) -> Staged:
    """Stage a Shapefile given by its ``.shp``: its sibling parts are found by name and checked too."""
    siblings = {p.suffix.lower(): p for p in path.parent.glob(f"{glob_escape(path.stem)}.*")
                if p.suffix.lower() in SHAPEFILE_PARTS}
    siblings[".shp"] = path
    budget = [MAX_UNZIPPED]
    members = {}
    for ext, src in siblings.items():
        member = f"{path.stem}{ext}"
        if ext != ".shp" and (src.is_symlink() or not src.is_file()):
            raise UnsupportedMediaType(f"{member}: a link or not a regular file; refused", field="file")
        _copy(src, tmp / f"upload{ext}", budget, member)
        members[ext] = member
    return check_shapefile(tmp, members, Path(name).stem)


def glob_escape(text: str) -> str:
    """Escape glob metacharacters in a file stem."""
    return re.sub(r"([*?\[])", r"[\1]", text)


def stage_gdb_dir(path: Path, name: str, tmp: Path) -> list[Staged]:
    """Stage a ``.gdb`` folder: its table files are copied (no links, no sub-folders) and checked."""
    dest = tmp / "upload.gdb"
    dest.mkdir()
    budget = [MAX_UNZIPPED]
    for entry in sorted(path.iterdir()):
        if entry.is_symlink():
            raise UnsupportedMediaType(f"{name}/{entry.name[:80]}: a symbolic link in the FileGDB; refused",
                                       field="file")
        if entry.is_file() and GDB_FILE.match(entry.name):
            _copy(entry, dest / entry.name.lower(), budget, f"{name}/{entry.name}")
    return check_gdb(dest, name)


def check_gdb(dest: Path, name: str) -> list[Staged]:
    """Check a staged FileGDB's tables by their magic numbers; one :class:`Staged` per layer with geometry."""
    import pyogrio

    if not (dest / "a00000001.gdbtable").is_file():
        raise UnsupportedMediaType(f"{name}: not a FileGDB (no a00000001.gdbtable catalog)", field="file")
    for f in sorted(dest.iterdir()):
        member = f"{name}/{f.name}"
        if f.suffix == ".gdbtable":
            sniff.check_gdbtable(member, _head(f, 64), f.stat().st_size)
        elif f.suffix == ".gdbtablx":
            sniff.check_gdbtablx(member, _head(f, 64))
    try:
        rows = pyogrio.list_layers(str(dest))
    except Exception as exc:  # a damaged geodatabase of any kind
        raise UnsupportedMediaType(f"{name}: cannot read as OpenFileGDB: {scrub(exc, dest.parent)}",
                                   field="file") from None
    layers = [str(r[0]) for r in rows if r[1] is not None]
    if not layers:
        raise GeometryError(f"{name}: the FileGDB has no vector layer with geometry", field="file")
    why = "FileGDB text is Unicode by definition"
    return [Staged(name=n, target=str(dest), driver="OpenFileGDB", gdal_layer=n, encoding="UTF-8",
                   encoding_reason=why) for n in layers]


def stage_zip(path: Path, name: str, tmp: Path) -> list[Staged]:
    """Stage a zip of Shapefiles (one layer per ``.shp``) or of one FileGDB folder."""
    with SafeZip(path, name) as z:
        infos = [i for i in z.members if not i.filename.startswith("__MACOSX/")]
        if sum(i.file_size for i in infos) > MAX_UNZIPPED * 4:
            raise UnsupportedMediaType(f"{name}: the zip declares more than {MAX_UNZIPPED * 4} bytes unzipped",
                                       field="file")
        for info in infos:  # every member by its bytes: no VRT (or other indirection) anywhere
            head = z.head(info, sniff.HEAD)
            if sniff.identify(head) == "vrt" or info.filename.lower().endswith(".vrt"):
                raise UnsupportedMediaType(f"{name}: {info.filename[:120]} is {sniff.describe(head)}: VRT and other "
                                           "indirections are refused", field="file")
        gdbs = {posixpath.dirname(i.filename) for i in infos if posixpath.dirname(i.filename).lower().endswith(".gdb")}
        sets = _shapefile_sets([i for i in infos if posixpath.dirname(i.filename) not in gdbs])
        if gdbs and sets:
            raise UnsupportedMediaType(f"{name}: the zip holds both a FileGDB and Shapefiles; send one", field="file")
        if len(gdbs) > 1:
            raise UnsupportedMediaType(f"{name}: the zip holds {len(gdbs)} FileGDB folders; send one", field="file")
        if gdbs:
            return _unzip_gdb(z, [i for i in infos if posixpath.dirname(i.filename) in gdbs], name, tmp)
        if not sets:
            found = ", ".join(i.filename[:60] for i in infos[:6]) or "nothing"
            raise UnsupportedMediaType(f"{name}: a zip must hold exactly one Shapefile (.shp with .shx, .dbf, .prj) "
                                       f"per layer, or one FileGDB folder; found {found}", field="file")
        return _unzip_shapefiles(z, sets, name, tmp)


def _shapefile_sets(infos: list[Any]) -> dict[str, dict[str, Any]]:
    """Group members by path without extension: ``{stem: {ext: info}}`` for the groups with a ``.shp``."""
    groups: dict[str, dict[str, Any]] = {}
    for info in infos:
        stem, ext = posixpath.splitext(info.filename)
        if ext.lower() in SHAPEFILE_PARTS:
            groups.setdefault(stem.lower(), {})[ext.lower()] = info
    return {stem: parts for stem, parts in sorted(groups.items()) if ".shp" in parts}


def _unzip_shapefiles(z: SafeZip, sets: dict[str, dict[str, Any]], name: str, tmp: Path) -> list[Staged]:
    budget = MAX_UNZIPPED
    out, labels = [], set()
    for n, parts in enumerate(sets.values()):
        folder = tmp / f"s{n}"
        folder.mkdir()
        members = {}
        for ext, info in parts.items():
            budget -= z.extract(info, folder / f"upload{ext}", cap=budget)
            members[ext] = f"{name}: {info.filename[:120]}"
        label = posixpath.splitext(posixpath.basename(display_name(parts[".shp"])))[0]
        if label in labels:
            raise UnsupportedMediaType(f"{name}: two Shapefiles are named {label}; rename one", field="file")
        labels.add(label)
        out.append(check_shapefile(folder, members, label))
    return out


def _unzip_gdb(z: SafeZip, infos: list[Any], name: str, tmp: Path) -> list[Staged]:
    dest = tmp / "upload.gdb"
    dest.mkdir()
    budget = MAX_UNZIPPED
    for info in infos:
        base = posixpath.basename(info.filename)
        if GDB_FILE.match(base):
            budget -= z.extract(info, dest / base.lower(), cap=budget)
    return check_gdb(dest, name)
