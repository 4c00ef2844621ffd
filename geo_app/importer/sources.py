"""Reading a file to import: GeoJSON, GeoPackage, Shapefile or zipped Shapefile, with explicit drivers only."""

from __future__ import annotations

import json
import re
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd

from ..errors import GeometryError, UnsupportedMediaType, ValidationError

#: Largest uncompressed size of a zipped Shapefile (zip-bomb guard).
MAX_UNZIPPED = 200 * 1024 * 1024
SHAPEFILE_PARTS = (".shp", ".shx", ".dbf", ".prj", ".cpg")
KIND_NAMES = {"geojson": "GeoJSON", "gpkg": "GeoPackage", "shp": "a Shapefile", "zip": "a zipped Shapefile"}


@dataclass
class Source:
    """A file as read, before any conversion."""

    frame: gpd.GeoDataFrame
    declared_crs: str | None
    driver: str
    name: str


def _sniff(path: Path) -> str:
    """Return the format of a file from its first bytes: geojson, gpkg, shp or zip."""
    with open(path, "rb") as fh:
        head = fh.read(100)
    if head.startswith(b"PK\x03\x04"):
        return "zip"
    if head.startswith(b"SQLite format 3\x00") and head[68:72] in (b"GPKG", b"GP10", b"GP11"):
        return "gpkg"
    if head[:4] == b"\x00\x00\x27\x0a":
        return "shp"
    if head.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] == b"{":
        return "geojson"
    raise UnsupportedMediaType(
        f"{path.name}: not GeoJSON, GeoPackage, a Shapefile or a zipped Shapefile", field="file")


def _geojson_crs(path: Path) -> str | None:
    """Parse a GeoJSON file (refusing non-JSON) and return its legacy ``crs`` member, if any."""
    try:
        obj = json.loads(path.read_text(encoding="utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UnsupportedMediaType(f"{path.name}: not valid GeoJSON ({exc})", field="file") from None
    if not isinstance(obj, dict) or obj.get("type") not in ("FeatureCollection", "Feature"):
        raise UnsupportedMediaType(f"{path.name}: GeoJSON must be a FeatureCollection or a Feature",
                                   field="file")
    member = obj.get("crs")
    if isinstance(member, dict):
        name = str(member.get("properties", {}).get("name", ""))
        m = re.search(r"EPSG:+(\d+)", name)
        if m:
            return f"EPSG:{m.group(1)}"
        if "CRS84" in name:
            return "EPSG:4326"
    return None


def _open(target: str, expected: str, name: str) -> gpd.GeoDataFrame:
    """Read a dataset with pyogrio and check that GDAL used the expected driver."""
    import pyogrio

    try:
        info = pyogrio.read_info(target)
        if info["driver"] != expected:
            raise UnsupportedMediaType(f"{name}: read as {info['driver']}, expected {expected}", field="file")
        return pyogrio.read_dataframe(target, use_arrow=False)
    except UnsupportedMediaType:
        raise
    except Exception as exc:  # GDAL errors of every kind name the file
        raise UnsupportedMediaType(f"{name}: cannot read as {expected}: {exc}", field="file") from None


def _gpkg_layer(path: Path) -> str:
    import pyogrio

    layers = [str(row[0]) for row in pyogrio.list_layers(str(path)) if row[1] is not None]
    if not layers:
        raise GeometryError(f"{path.name}: the GeoPackage has no vector layer with geometry", field="file")
    if len(layers) > 1:
        raise ValidationError(f"{path.name}: the GeoPackage has {len(layers)} layers ({', '.join(layers[:8])}); "
                              "keep one", field="file")
    return layers[0]


def _unzip_shapefile(path: Path, workdir: Path) -> Path:
    """Extract the one Shapefile of a zip (only its parts) into ``workdir``; refuse anything else."""
    try:
        zf = zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        raise UnsupportedMediaType(f"{path.name}: not a valid zip file", field="file") from None
    with zf:
        infos = [i for i in zf.infolist() if not i.is_dir() and not i.filename.startswith("__MACOSX/")]
        shps = [i for i in infos if i.filename.lower().endswith(".shp")]
        if len(shps) != 1:
            found = ", ".join(i.filename for i in infos[:6]) or "nothing"
            raise UnsupportedMediaType(
                f"{path.name}: a zip must hold exactly one Shapefile (.shp with .shx, .dbf, .prj); found {found}",
                field="file")
        stem = shps[0].filename[:-4]
        parts = {i.filename[len(stem):].lower(): i for i in infos
                 if i.filename[:len(stem)] == stem and i.filename[len(stem):].lower() in SHAPEFILE_PARTS}
        missing = [p for p in (".shx", ".dbf") if p not in parts]
        if missing:
            raise UnsupportedMediaType(f"{path.name}: the Shapefile lacks {', '.join(missing)}", field="file")
        if sum(i.file_size for i in parts.values()) > MAX_UNZIPPED:
            raise UnsupportedMediaType(f"{path.name}: the Shapefile is larger than {MAX_UNZIPPED} bytes unzipped",
                                       field="file")
        for ext, info in parts.items():  # fixed member names: no path from the archive is used
            with zf.open(info) as src, open(workdir / f"upload{ext}", "wb") as dst:
                shutil.copyfileobj(src, dst)
    return workdir / "upload.shp"


def read_source(path: Path | str, *, name: str | None = None,
                kinds: tuple[str, ...] = ("geojson", "gpkg", "shp", "zip")) -> Source:
    """Read a Shapefile, zipped Shapefile, GeoPackage or GeoJSON file (never a VRT).

    The format is decided from the file's content, the matching GDAL driver is named
    explicitly (``GeoJSON:``/``GPKG:`` prefixes) or checked after opening.

    Parameters
    ----------
    path
        The file.
    name
        Display name (e.g. the uploaded file name); the file name by default.
    kinds
        Accepted formats among ``geojson``, ``gpkg``, ``shp`` and ``zip`` (a zipped Shapefile).

    Returns
    -------
    Source
        The raw frame (coordinates as in the file) and its declared CRS (None when the
        file declares none; GeoJSON without a ``crs`` member counts as undeclared).
    """
    path = Path(path)
    name = name or path.name
    if not path.exists() or path.stat().st_size == 0:
        raise GeometryError(f"{name}: empty file", field="file")
    kind = _sniff(path)
    if kind not in kinds:
        raise UnsupportedMediaType(f"{name}: {kind} files are not accepted here; send "
                                   + ", ".join(KIND_NAMES[k] for k in kinds), field="file")
    with tempfile.TemporaryDirectory(prefix="geo-app-import-") as tmp:
        if kind == "zip":
            path, kind = _unzip_shapefile(path, Path(tmp)), "shp"
        if kind == "geojson":
            declared = _geojson_crs(path)
            gdf, driver = _open(f"GeoJSON:{path}", "GeoJSON", name), "GeoJSON"
        elif kind == "gpkg":
            layer = _gpkg_layer(path)
            gdf, driver = _open(f"GPKG:{path}:{layer}", "GPKG", name), "GPKG"
            declared = _crs_string(gdf.crs)
        else:
            gdf, driver = _open(str(path), "ESRI Shapefile", name), "ESRI Shapefile"
            declared = _crs_string(gdf.crs)
    if len(gdf) == 0:
        raise GeometryError(f"{name}: the file has no features", field="file")
    return Source(frame=gdf, declared_crs=declared, driver=driver, name=name)


def _crs_string(crs: Any) -> str | None:
    """Return ``EPSG:NNNN`` (or WKT) for a pyproj CRS; None when absent."""
    if crs is None:
        return None
    epsg = crs.to_epsg(min_confidence=70)
    return f"EPSG:{epsg}" if epsg else crs.to_wkt()
