"""Import the bureau's own layers: read, convert to WGS84, detect, match, validate, write.

Pure functions (no Flask). The pipeline is::

    src = read_source(path)                       # Shapefile / zipped Shapefile / GPKG / GeoJSON
    plan = prepare_import(src, layer, registry)   # convert, match names, validate -> report
    apply_import(plan, data_dir, registry)        # backup, atomic write, history, README record

Drawn features go through :func:`prepare_feature` and :func:`apply_import` too, and
:func:`undo` reverts the last import or edit of a layer from ``DATA_DIR/history/LAYER.jsonl``.
Nothing is written unless :func:`apply_import` (or :func:`undo`) is called, and they write
the layer atomically, so a failed request changes nothing on disk. Callers hold
:func:`write_lock` from reading the current layer to writing the new one, so a web save, a
second server process and ``geo-app data import`` never overwrite each other's changes.
"""

from __future__ import annotations

import fcntl
import json
import math
import os
import re
import shutil
import tempfile
import time
import unicodedata
import uuid
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.validation import explain_validity

from . import crs as crs_mod
from .errors import GeometryError, NotFound, StorageUnavailable, UnsupportedMediaType, ValidationError
from .validate import SERVICE_BBOX

#: Geometry quality given to imported or drawn features.
IMPORTED = "surveyed (imported)"
DRAWN = "drawn on /data"
#: Layers whose features are a fixed list (the plan's parks and hubs): imports and drawings
#: fill in the geometry of the listed feature with the same name instead of adding one.
LISTED = ("parks", "logistics")
#: Largest uncompressed size of a zipped Shapefile (zip-bomb guard).
MAX_UNZIPPED = 200 * 1024 * 1024
SHAPEFILE_PARTS = (".shp", ".shx", ".dbf", ".prj", ".cpg")
KIND_NAMES = {"geojson": "GeoJSON", "gpkg": "GeoPackage", "shp": "a Shapefile", "zip": "a zipped Shapefile"}
NAME_FIELDS = ("name_zh", "name", "NAME", "Name", "名称", "乡镇", "乡镇名称", "XZQMC", "xzqmc", "MC")
CODE_FIELDS = ("code", "CODE", "Code", "XZQDM", "xzqdm", "代码", "区划代码", "adcode")


# --------------------------------------------------------------------------------------
# reading
# --------------------------------------------------------------------------------------
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


# --------------------------------------------------------------------------------------
# detection and conversion
# --------------------------------------------------------------------------------------
def _vertices(gdf: gpd.GeoDataFrame, limit: int = 20_000) -> np.ndarray:
    """All vertices of the frame's geometries, evenly subsampled to ``limit``."""
    xy = shapely.get_coordinates(gdf.geometry.values)
    if len(xy) > limit:
        xy = xy[np.linspace(0, len(xy) - 1, limit).astype(int)]
    return xy


def _gk_suggestion(xy: np.ndarray) -> str | None:
    """Suggest a CGCS2000 3-degree Gauss–Krüger EPSG code from zone-prefixed eastings."""
    zones = np.unique((xy[:, 0] // 1_000_000).astype(int))
    in_zone = np.all((xy[:, 0] % 1_000_000 > 250_000) & (xy[:, 0] % 1_000_000 < 750_000))
    if len(zones) == 1 and 25 <= zones[0] <= 45 and in_zone and np.all((xy[:, 1] > 0) & (xy[:, 1] < 6_500_000)):
        return f"EPSG:{4513 + zones[0] - 25}"
    return None


def _to_wgs84_xy(xy: np.ndarray, datum: str) -> tuple[np.ndarray, np.ndarray]:
    if datum == "wgs84":
        return xy[:, 0], xy[:, 1]
    return crs_mod.TO_WGS84[datum](xy[:, 0], xy[:, 1])


def _fit(xy: np.ndarray, datum: str, line_m: Any, county_m: Any) -> dict[str, Any]:
    """Score one datum hypothesis: vertices on the county line and inside the county."""
    from pyproj import Transformer

    lon, lat = _to_wgs84_xy(xy, datum)
    x, y = Transformer.from_crs(crs_mod.WGS84, crs_mod.METRIC_CRS, always_xy=True).transform(lon, lat)
    pts = shapely.points(x, y)
    dist = shapely.distance(pts, line_m)
    inside = shapely.contains_xy(county_m.buffer(200), x, y)
    return {"datum": datum, "on_boundary": float(np.mean(dist < 30.0)), "on_boundary_n": int(np.sum(dist < 30.0)),
            "median_boundary_m": float(np.median(dist)), "inside": float(np.mean(inside))}


def detect_datum(gdf: gpd.GeoDataFrame, boundary: gpd.GeoDataFrame) -> dict[str, Any]:
    """Tell which datum a file without a CRS is in by lining it up with the county.

    Each hypothesis (WGS84, GCJ-02, BD-09) converts the vertices to WGS84 and counts
    those lying within 30 m of the shipped county boundary (township layers share the
    county's outline) and those inside the county.

    Parameters
    ----------
    gdf
        Raw frame (coordinates as read).
    boundary
        The county boundary in WGS84.

    Returns
    -------
    dict
        ``kind`` (``degrees`` or ``projected``), ``best`` (``wgs84``, ``gcj02``, ``bd09``
        or None when ambiguous), ``candidates`` (scores), ``reason`` and, for projected
        values, ``suggest`` (a Gauss–Krüger EPSG code or None).
    """
    xy = _vertices(gdf)
    if len(xy) == 0:
        raise GeometryError("no coordinates to detect the datum from", field="file")
    if np.nanmax(np.abs(xy[:, 0])) > 180 or np.nanmax(np.abs(xy[:, 1])) > 90:
        sug = _gk_suggestion(xy)
        hint = f"; the eastings look like {sug} ({_crs_name(sug)})" if sug else ""
        return {"kind": "projected", "best": None, "candidates": [], "suggest": sug,
                "reason": f"coordinates are not degrees (x up to {np.nanmax(np.abs(xy[:, 0])):,.0f}): "
                          f"a projected CRS{hint}"}
    county_m = boundary.to_crs(crs_mod.METRIC_CRS).geometry.union_all()
    line_m = county_m.boundary
    cands = [_fit(xy, d, line_m, county_m) for d in ("wgs84", "gcj02", "bd09")]
    ranked = sorted(cands, key=lambda c: (c["on_boundary"], c["inside"]), reverse=True)
    top, second = ranked[0], ranked[1]
    if top["on_boundary_n"] >= 5 and top["on_boundary"] >= 3 * max(second["on_boundary"], 0.005):
        reason = (f"{top['on_boundary']:.0%} of vertices lie within 30 m of the county boundary as {top['datum']}, "
                  f"{second['on_boundary']:.0%} as {second['datum']}")
        return {"kind": "degrees", "best": top["datum"], "candidates": cands, "suggest": None, "reason": reason}
    reason = ("the data do not line up with the county boundary, so WGS84, GCJ-02 and BD-09 (300–700 m apart) "
              "cannot be told apart")
    return {"kind": "degrees", "best": None, "candidates": cands, "suggest": None, "reason": reason}


def _crs_name(code: str | None) -> str:
    from pyproj import CRS

    return CRS.from_user_input(code).name if code else ""


def resolve_crs(src: Source, given: str | None, boundary: gpd.GeoDataFrame) -> tuple[str, dict[str, Any]]:
    """Decide the datum/CRS to convert from; refuse to guess silently.

    Parameters
    ----------
    src
        The read file.
    given
        ``--crs`` (normalised by :func:`geo_app.crs.parse_crs`) or None.
    boundary
        County boundary (WGS84).

    Returns
    -------
    tuple
        ``(used, info)``: ``used`` is ``gcj02``, ``bd09`` or ``EPSG:NNNN``; ``info`` goes
        into the report (declared, given, used, detection, warnings).
    """
    detection = detect_datum(src.frame, boundary)
    info: dict[str, Any] = {"declared": src.declared_crs, "given": given, "detection": detection, "warnings": []}
    if given is not None:
        used = given
        if src.declared_crs and src.declared_crs != given:
            info["warnings"].append(f"--crs {given} overrides the file's declared CRS {src.declared_crs}")
    elif src.declared_crs is not None:
        used = src.declared_crs
    elif detection["best"] is not None:
        used = "EPSG:4326" if detection["best"] == "wgs84" else detection["best"]
        info["warnings"].append(f"the file has no CRS; detected {detection['best']}: {detection['reason']}")
    else:
        sug = detection.get("suggest")
        hint = f" (e.g. --crs {sug})" if sug else " --crs wgs84|gcj02|bd09|EPSG:NNNN"
        raise GeometryError(f"{src.name}: the file has no CRS and {detection['reason']}; "
                            f"refusing to guess: give{hint}", field="crs")
    _check_geographic_shift(used, detection, info)
    info["used"] = used
    return used, info


def _check_geographic_shift(used: str, detection: dict[str, Any], info: dict[str, Any]) -> None:
    """Warn when a geographic CRS is used but the data line up with a shifted datum."""
    best = detection.get("best")
    if used in ("EPSG:4326", "EPSG:4490") and best in crs_mod.SHIFTED:
        info["warnings"].append(f"the data line up with the county as {best}, not {used}; if they were copied "
                                f"from a Chinese web map, re-run with --crs {best}")


def to_wgs84(gdf: gpd.GeoDataFrame, used: str) -> gpd.GeoDataFrame:
    """Convert a raw frame to EPSG:4326.

    Parameters
    ----------
    gdf
        Raw frame.
    used
        ``gcj02``, ``bd09`` or a CRS string PROJ knows.

    Returns
    -------
    geopandas.GeoDataFrame
        A new frame in EPSG:4326.
    """
    out = gdf.copy()
    if used in crs_mod.SHIFTED:
        func = crs_mod.TO_WGS84[used]
        out = out.set_crs(None, allow_override=True)
        out["geometry"] = [crs_mod.shift_geometry(g, func) for g in out.geometry]
        return out.set_crs(crs_mod.WGS84, allow_override=True)
    out = out.set_crs(used, allow_override=True)
    try:
        return out.to_crs(crs_mod.WGS84)
    except Exception as exc:
        raise GeometryError(f"cannot convert from {used} to WGS84: {exc}", field="crs") from None


# --------------------------------------------------------------------------------------
# names and township matching
# --------------------------------------------------------------------------------------
#: Traditional -> simplified for the characters of the 25 township names (and the
#: words of their suffixes and of the high-tech zone's full name).
_T2S = str.maketrans("華紅龍頭進營頂嶺灣興雙爐鄉滿鮮樂區鎮開發術產業辦處楊縣門黃東員鳳豐廣義",
                     "华红龙头进营顶岭湾兴双炉乡满鲜乐区镇开发术产业办处杨县门黄东员凤丰广义")
_PREFIXES = ("吉林省", "通化市", "梅河口市")
_SUFFIXES = ("满族朝鲜族乡", "朝鲜族满族乡", "朝鲜族乡", "满族乡", "民族乡", "街道办事处", "街道", "办事处", "镇", "乡")
_ALIASES = {"梅河口高新技术产业开发区": "梅河口高新区", "高新技术产业开发区": "梅河口高新区", "高新区": "梅河口高新区"}


def name_key(name: Any) -> str:
    """Normalise a township (or feature) name for matching.

    NFKC, no whitespace, traditional -> simplified, without the 吉林省/通化市/梅河口市 prefix
    and without one 镇/乡/街道/满族朝鲜族乡… suffix.

    Parameters
    ----------
    name
        The raw name.

    Returns
    -------
    str
        The key; empty for a missing name.
    """
    if name is None or (isinstance(name, float) and math.isnan(name)):
        return ""
    s = re.sub(r"\s+", "", unicodedata.normalize("NFKC", str(name))).translate(_T2S)
    for p in _PREFIXES:
        if s.startswith(p) and len(s) > len(p):
            s = s[len(p):]
    s = _ALIASES.get(s, s)
    for suf in _SUFFIXES:
        if s.endswith(suf) and len(s) > len(suf):
            return s[: -len(suf)]
    return s


def code_key(value: Any) -> str:
    """Normalise a statistical code: digits only, 12-digit codes cut to 9."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    s = re.sub(r"\D", "", str(value).split(".")[0])
    return s[:9] if len(s) == 12 and s.endswith("000") else s


def _pick_field(gdf: gpd.GeoDataFrame, given: str | None, candidates: tuple[str, ...], what: str) -> str | None:
    """Return the column to read names (or codes) from: the given one or the first candidate present."""
    if given:
        if given not in gdf.columns:
            raise ValidationError(f"{what} field {given!r} is not in the file; columns: "
                                  f"{', '.join(c for c in gdf.columns if c != 'geometry')}", field=f"{what}_field")
        return given
    return next((c for c in candidates if c in gdf.columns), None)


def match_towns(gdf: gpd.GeoDataFrame, towns: gpd.GeoDataFrame, *, name_field: str | None,
                code_field: str | None) -> tuple[list[int | None], dict[str, Any]]:
    """Match each imported feature to a township of the 2023 official list.

    Parameters
    ----------
    gdf
        Imported features.
    towns
        The reference list (``code``, ``name_zh``...; the current ``towns`` layer).
    name_field, code_field
        Columns to use; picked from common names when None.

    Returns
    -------
    tuple
        ``(positions, summary)``: the row position in ``towns`` of each feature (None when
        unmatched) and ``{name_field, code_field, matched, unmatched, duplicates, missing}``.
    """
    nf = _pick_field(gdf, name_field, NAME_FIELDS, "name")
    cf = _pick_field(gdf, code_field, CODE_FIELDS, "code")
    if nf is None and cf is None:
        raise ValidationError("no name or code column found; give --name-field", field="name_field")
    by_code = {code_key(c): i for i, c in enumerate(towns["code"]) if code_key(c)}
    by_name = {name_key(n): i for i, n in enumerate(towns["name_zh"])}
    pos: list[int | None] = []
    matched, unmatched = [], []
    for _, row in gdf.iterrows():
        raw = row[nf] if nf else None
        hit = by_code.get(code_key(row[cf])) if cf else None
        if hit is None:
            hit = by_name.get(name_key(raw))
        pos.append(hit)
        label = str(raw if raw is not None else row[cf])
        if hit is None:
            unmatched.append(label)
        else:
            matched.append({"source": label, "code": _clean(towns.iloc[hit]["code"]),
                            "name_zh": towns.iloc[hit]["name_zh"]})
    counts = pd.Series([p for p in pos if p is not None]).value_counts()
    dups = [towns.iloc[int(i)]["name_zh"] for i, n in counts.items() if n > 1]
    missing = [towns.iloc[i]["name_zh"] for i in range(len(towns)) if i not in set(pos)]
    return pos, {"name_field": nf, "code_field": cf, "matched": matched, "unmatched": unmatched,
                 "duplicates": dups, "missing": missing}


def _clean(value: Any) -> Any:
    """A JSON-safe scalar: NaN -> None, numpy scalars -> Python."""
    if value is None:
        return None
    if isinstance(value, float | np.floating) and not math.isfinite(float(value)):
        return None
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return value


# --------------------------------------------------------------------------------------
# validation
# --------------------------------------------------------------------------------------
def _metric(geoms: Any) -> gpd.GeoSeries:
    return gpd.GeoSeries(list(geoms), crs=crs_mod.WGS84).to_crs(crs_mod.METRIC_CRS)


def check_geometries(gdf: gpd.GeoDataFrame, labels: list[str], kind: str) -> tuple[list[Any], dict[str, Any]]:
    """Check and repair each geometry.

    Parameters
    ----------
    gdf
        Features in WGS84.
    labels
        A display name for each feature.
    kind
        The layer's geometry kind (``polygon``, ``point``, ``line``).

    Returns
    -------
    tuple
        ``(geoms, findings)``: repaired geometries (``make_valid`` where needed) and
        ``{invalid: [{index, name, reason, fixed}], empty: [...], wrong_type: [...], outside_area: [...]}``.
    """
    allowed = {"polygon": ("Polygon", "MultiPolygon"), "point": ("Point", "MultiPoint"),
               "line": ("LineString", "MultiLineString")}.get(kind)
    out: list[Any] = []
    found: dict[str, list[Any]] = {"invalid": [], "empty": [], "wrong_type": [], "outside_area": []}
    for i, (geom, label) in enumerate(zip(gdf.geometry, labels, strict=True)):
        if geom is None or geom.is_empty:
            found["empty"].append({"index": i, "name": label})
            out.append(None)
            continue
        if allowed and geom.geom_type not in allowed:
            found["wrong_type"].append({"index": i, "name": label, "type": geom.geom_type})
        if not geom.is_valid:
            geom, fixed = _repair(geom, allowed, found["invalid"], i, label)
        x0, y0, x1, y1 = geom.bounds
        lo0, la0, lo1, la1 = SERVICE_BBOX
        if x1 < lo0 or x0 > lo1 or y1 < la0 or y0 > la1 or not all(map(math.isfinite, (x0, y0, x1, y1))):
            found["outside_area"].append({"index": i, "name": label})
        out.append(geom)
    return out, found


def _repair(geom: Any, allowed: tuple[str, ...] | None, sink: list[dict[str, Any]], i: int, label: str
            ) -> tuple[Any, bool]:
    """``make_valid`` one geometry, keeping the allowed parts; record the finding."""
    reason = explain_validity(geom)
    fixed_geom = shapely.make_valid(geom)
    if allowed and fixed_geom.geom_type == "GeometryCollection":
        parts = [g for g in fixed_geom.geoms if g.geom_type in allowed or g.geom_type[5:] in allowed]
        fixed_geom = shapely.union_all(parts) if parts else shapely.Polygon()
    fixed = fixed_geom.is_valid and not fixed_geom.is_empty and (not allowed or fixed_geom.geom_type in allowed)
    sink.append({"index": i, "name": label, "reason": reason, "fixed": bool(fixed)})
    return (fixed_geom if fixed else geom), fixed


def overlaps(geoms_m: gpd.GeoSeries, labels: list[str], *, min_km2: float = 1e-4) -> dict[str, Any]:
    """Pairwise overlaps between polygons (metric CRS), in km².

    Parameters
    ----------
    geoms_m
        Polygons in a metric CRS (None allowed).
    labels
        Names for each row.
    min_km2
        Smallest overlap reported (default 100 m²).

    Returns
    -------
    dict
        ``total_km2`` and ``pairs`` ``[{a, b, km2}]`` (largest first).
    """
    arr = np.array([g if g is not None else shapely.Polygon() for g in geoms_m], dtype=object)
    tree = shapely.STRtree(arr)
    left, right = tree.query(arr, predicate="intersects")
    pairs = []
    for i, j in zip(left, right, strict=True):
        if i < j:
            km2 = shapely.intersection(arr[i], arr[j]).area / 1e6
            if km2 >= min_km2:
                pairs.append({"a": labels[i], "b": labels[j], "km2": round(km2, 4)})
    pairs.sort(key=lambda p: -p["km2"])
    return {"total_km2": round(sum(p["km2"] for p in pairs), 4), "pairs": pairs}


def coverage(geoms_m: gpd.GeoSeries, county_m: Any) -> dict[str, Any]:
    """Coverage of the county by the polygons: covered share, gaps and area outside.

    Returns
    -------
    dict
        ``county_km2``, ``covered_km2``, ``share_covered``, ``gaps_km2``, ``gaps_pct``,
        ``outside_km2``.
    """
    valid = [g for g in geoms_m if g is not None and not g.is_empty]
    union = shapely.union_all(valid) if valid else shapely.Polygon()
    county_km2 = county_m.area / 1e6
    covered = union.intersection(county_m).area / 1e6
    gaps = county_m.difference(union).area / 1e6
    return {"county_km2": round(county_km2, 3), "covered_km2": round(covered, 3),
            "share_covered": round(covered / county_km2, 4), "gaps_km2": round(gaps, 3),
            "gaps_pct": round(100 * gaps / county_km2, 2),
            "outside_km2": round(union.difference(county_m).area / 1e6, 3)}


# --------------------------------------------------------------------------------------
# the import plan
# --------------------------------------------------------------------------------------
@dataclass
class ImportPlan:
    """What an import would write, and the validation report."""

    layer: str
    frame: gpd.GeoDataFrame
    report: dict[str, Any]
    action: str = "import"
    note: str = ""
    source: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when nothing blocks the write."""
        return not self.report["errors"]


def importable(registry: Any) -> list[str]:
    """Names of the layers whose data file is a GeoJSON in the data folder."""
    out = []
    for spec in registry:
        if spec.use_in_place or spec.geometry == "none":
            continue
        path = registry.path(spec.name)
        if path.suffix == ".geojson" and path.parent == Path(registry.data_dir):
            out.append(spec.name)
    return out


def _spec(registry: Any, layer: str) -> Any:
    if layer not in importable(registry):
        raise NotFound(f"layer {layer[:60]!r} cannot be imported; importable: {', '.join(importable(registry))}",
                       field="layer")
    return registry.spec(layer)


def read_layer_file(path: Path) -> gpd.GeoDataFrame:
    """Read a layer's current GeoJSON (not the registry's cache), in WGS84."""
    gdf = gpd.read_file(path, engine="pyogrio")
    return gdf.set_crs(crs_mod.WGS84, allow_override=True)


def prepare_import(src: Source, layer: str, registry: Any, *, crs: str | None = None,
                   name_field: str | None = None, code_field: str | None = None, force: bool = False
                   ) -> ImportPlan:
    """Convert, match and validate an imported file; build the layer it would write.

    Parameters
    ----------
    src
        From :func:`read_source`.
    layer
        Target layer (see :func:`importable`).
    registry
        A :class:`~geo_app.layers.LayerRegistry` (its ``towns``, ``boundary`` and the target layer are read).
    crs
        ``--crs`` (any form :func:`geo_app.crs.parse_crs` accepts) or None.
    name_field, code_field
        Columns holding the names / official codes.
    force
        Import despite unmatched township names or geometries that ``make_valid`` repaired.

    Returns
    -------
    ImportPlan
        ``plan.ok`` is False when the report lists blocking errors.
    """
    spec = _spec(registry, layer)
    boundary = registry.frame("boundary")
    used, crs_info = resolve_crs(src, crs_mod.parse_crs(crs), boundary)
    gdf = to_wgs84(src.frame, used)
    current = read_layer_file(registry.path(layer))
    nf = _pick_field(gdf, name_field, NAME_FIELDS, "name")
    labels = [str(v) for v in gdf[nf]] if nf else [f"#{i + 1}" for i in range(len(gdf))]
    geoms, found = check_geometries(gdf, labels, spec.geometry)
    gdf = gdf.set_geometry(gpd.GeoSeries(geoms, crs=crs_mod.WGS84))
    report = _base_report(layer, src, crs_info, found)
    if layer == "towns":
        frame = _build_towns(gdf, current, report, name_field=name_field, code_field=code_field, source=src.name)
    elif layer in LISTED:
        frame = _build_listed(gdf, current, report, nf, source=src.name)
    else:
        frame = _build_plain(gdf, nf, source=src.name)
    _measure(frame, boundary, spec.geometry, layer, report)
    _blocking(report, force=force)
    return ImportPlan(layer=layer, frame=frame, report=report, source=src.name,
                      extra={"crs_used": used})


def _base_report(layer: str, src: Source, crs_info: dict[str, Any], found: dict[str, Any]) -> dict[str, Any]:
    types = src.frame.geometry.geom_type.fillna("None").value_counts().to_dict()
    return {"layer": layer, "source": src.name, "driver": src.driver, "features": len(src.frame),
            "geometry_types": {str(k): int(v) for k, v in types.items()}, "crs": crs_info,
            **found, "errors": [], "warnings": list(crs_info["warnings"])}


def _town_props(ref: dict[str, Any], source: str, stamp: str) -> dict[str, Any]:
    props = {k: _clean(v) for k, v in ref.items() if k != "geometry"}
    props.update({"geometry_quality": IMPORTED,
                  "boundary_note_zh": f"边界由 geo-app data import 于 {stamp} 从 {source} 导入",
                  "boundary_note_en": f"boundary imported from {source} by geo-app data import on {stamp}"})
    return props


def _build_towns(gdf: gpd.GeoDataFrame, current: gpd.GeoDataFrame, report: dict[str, Any], *,
                 name_field: str | None, code_field: str | None, source: str) -> gpd.GeoDataFrame:
    """The new towns layer: every official unit, with the imported geometry where matched."""
    pos, summary = match_towns(gdf, current, name_field=name_field, code_field=code_field)
    report["matching"] = summary
    stamp = _now().strftime("%Y-%m-%d")
    geoms: dict[int, list[Any]] = {}
    for p, g in zip(pos, gdf.geometry, strict=True):
        if p is not None and g is not None:
            geoms.setdefault(p, []).append(g)
    rows, out_geoms = [], []
    for i, ref in enumerate(current.to_dict("records")):
        if i in geoms:
            rows.append(_town_props(ref, source, stamp))
            out_geoms.append(shapely.union_all(geoms[i]) if len(geoms[i]) > 1 else geoms[i][0])
        else:
            rows.append({k: _clean(v) for k, v in ref.items() if k != "geometry"})
            out_geoms.append(ref["geometry"])
    nf = summary["name_field"]
    for p, (_, row) in zip(pos, gdf.iterrows(), strict=True):
        if p is None:  # kept only with --force; flagged
            name = str(row[nf]) if nf else None
            rows.append({"code": None, "name_zh": name, "name_en": None, "kind": None, "in_plan": False,
                         "geometry_quality": IMPORTED + ", name not in the official list"})
            out_geoms.append(row.geometry)
    if summary["duplicates"]:
        report["warnings"].append("several features matched " + ", ".join(summary["duplicates"]) +
                                  "; their parts were merged")
    return gpd.GeoDataFrame(rows, geometry=gpd.GeoSeries(out_geoms, crs=crs_mod.WGS84))


def _build_listed(gdf: gpd.GeoDataFrame, current: gpd.GeoDataFrame, report: dict[str, Any], nf: str | None, *,
                  source: str) -> gpd.GeoDataFrame:
    """Fill in the geometry of listed features (parks, hubs) by name; add the others."""
    if nf is None:
        raise ValidationError("no name column found; give --name-field", field="name_field")
    rows = [{k: _clean(v) for k, v in r.items() if k != "geometry"} for r in current.to_dict("records")]
    geoms = list(current.geometry)
    index = {name_key(r.get("name_zh")): i for i, r in enumerate(rows)}
    matched, new = [], []
    for _, row in gdf.iterrows():
        key = name_key(row[nf])
        if key in index:
            i = index[key]
            rows[i]["geometry_quality"] = IMPORTED
            geoms[i] = row.geometry
            matched.append(rows[i]["name_zh"])
        else:
            props = {c: _clean(row[c]) for c in current.columns if c in gdf.columns and c != "geometry"}
            props.update({"name_zh": str(row[nf]), "geometry_quality": IMPORTED, "source": source})
            rows.append(props)
            geoms.append(row.geometry)
            new.append(str(row[nf]))
    report["matching"] = {"name_field": nf, "matched": matched, "unmatched": [], "new": new,
                          "missing": [r["name_zh"] for r, g in zip(rows, geoms, strict=True) if g is None]}
    if new:
        report["warnings"].append(f"{len(new)} names are not in the plan's list and were added: " + ", ".join(new))
    return gpd.GeoDataFrame(rows, geometry=gpd.GeoSeries(geoms, crs=crs_mod.WGS84))


def _build_plain(gdf: gpd.GeoDataFrame, nf: str | None, *, source: str) -> gpd.GeoDataFrame:
    """Replace the layer with the imported features (``name_zh`` and ``geometry_quality`` added)."""
    out = gdf.copy()
    if nf and "name_zh" not in out.columns:
        out["name_zh"] = out[nf].astype(str)
    if "geometry_quality" not in out.columns:
        out["geometry_quality"] = IMPORTED
    out["source"] = source
    return out


def _measure(frame: gpd.GeoDataFrame, boundary: gpd.GeoDataFrame, kind: str, layer: str,
             report: dict[str, Any]) -> None:
    """Add overlaps (towns), coverage (polygons) and features outside the county to the report."""
    has = [g is not None and not g.is_empty for g in frame.geometry]
    labels = [str(v) for v in frame.get("name_zh", pd.Series(range(len(frame))))]
    county_m = boundary.to_crs(crs_mod.METRIC_CRS).geometry.union_all()
    geoms_m = _metric([g if h else None for g, h in zip(frame.geometry, has, strict=True)])
    report["with_geometry"] = int(sum(has))
    near = county_m.buffer(5000)
    report["outside_county"] = [labels[i] for i, g in enumerate(geoms_m) if g is not None and not g.intersects(near)]
    if kind == "polygon":
        report["coverage"] = coverage(geoms_m, county_m)
        if layer == "towns":
            report["overlaps"] = overlaps(geoms_m, labels)


def _blocking(report: dict[str, Any], *, force: bool) -> None:
    """Turn findings into blocking errors (or warnings with ``force``)."""
    errs, warns = report["errors"], report["warnings"]
    if report["empty"]:
        errs.append(f"{len(report['empty'])} features have no geometry: "
                    + ", ".join(e["name"] for e in report["empty"][:10]))
    if report["wrong_type"]:
        errs.append("wrong geometry type for this layer: "
                    + ", ".join(f"{e['name']} ({e['type']})" for e in report["wrong_type"][:10]))
    for e in report["invalid"]:
        msg = f"invalid geometry {e['name']}: {e['reason']}"
        if not e["fixed"]:
            errs.append(msg + " (make_valid could not repair it)")
        elif force:
            warns.append(msg + " (repaired by make_valid)")
        else:
            errs.append(msg + " (make_valid can repair it: re-run with --force to accept the repair)")
    if report["outside_area"]:
        errs.append("features outside the service area (wrong CRS?): "
                    + ", ".join(e["name"] for e in report["outside_area"][:10]))
    elif report.get("outside_county"):
        (warns if force else errs).append(
            "features more than 5 km outside Meihekou (wrong CRS?): " + ", ".join(report["outside_county"][:10]))
    unmatched = report.get("matching", {}).get("unmatched", [])
    if unmatched:
        msg = f"{len(unmatched)} names do not match the 2023 official township list: " + ", ".join(unmatched)
        (warns if force else errs).append(msg + ("" if force else " (fix the names or use --force)"))


# --------------------------------------------------------------------------------------
# drawing
# --------------------------------------------------------------------------------------
def prepare_feature(layer: str, geom: Any, props: dict[str, Any], registry: Any, *, sectors: list[str],
                    note: str = "") -> ImportPlan:
    """Put a drawn feature into a layer: fill a listed feature of the same name, else add one.

    Parameters
    ----------
    layer
        Target layer.
    geom
        Validated shapely geometry in WGS84 (see :func:`geo_app.validate.geometry`).
    props
        ``name`` (required), ``sectors`` (parks: list of designated sectors), ``name_en``.
    registry
        The layer registry.
    sectors
        The plan's sector list (``review_rules.toml``), to check ``sectors``.
    note
        Author note for the history.

    Returns
    -------
    ImportPlan
    """
    spec = _spec(registry, layer)
    name = str(props.get("name") or "").strip()
    if not name or len(name) > 120:
        raise ValidationError("name: give a name of 1–120 characters", field="name")
    secs = _sectors(props.get("sectors"), sectors) if layer == "parks" else []
    current = read_layer_file(registry.path(layer))
    rows = [{k: _clean(v) for k, v in r.items() if k != "geometry"} for r in current.to_dict("records")]
    geoms = list(current.geometry)
    keys = [name_key(r.get("name_zh")) for r in rows]
    report: dict[str, Any] = {"layer": layer, "source": "drawn", "features": 1, "errors": [], "warnings": [],
                              "invalid": [], "empty": [], "wrong_type": [], "outside_area": [], "crs": {}}
    if name_key(name) in keys:
        i = keys.index(name_key(name))
        report["filled"] = rows[i].get("name_zh")
        if geoms[i] is not None and not geoms[i].is_empty:
            report["warnings"].append(f"replaced the existing geometry of {rows[i].get('name_zh')}")
    else:
        if layer == "towns":
            raise ValidationError(f"name: {name!r} is not one of the official townships", field="name")
        rows.append({"name_zh": name, "name_en": str(props.get("name_en") or "") or None})
        geoms.append(None)
        i = len(rows) - 1
    rows[i]["geometry_quality"] = DRAWN
    if secs:
        rows[i]["sectors"] = ";".join(secs)
    geoms[i] = geom
    _, found = check_geometries(gpd.GeoDataFrame(geometry=[geom], crs=crs_mod.WGS84), [name], spec.geometry)
    report.update(found)
    frame = gpd.GeoDataFrame(rows, geometry=gpd.GeoSeries(geoms, crs=crs_mod.WGS84))
    _measure(frame, registry.frame("boundary"), spec.geometry, layer, report)
    _blocking(report, force=False)
    return ImportPlan(layer=layer, frame=frame, report=report, action="draw", note=note, source=f"drawn: {name}")


def _sectors(value: Any, known: list[str]) -> list[str]:
    """Check a park's designated sectors against the plan's list."""
    if value in (None, "", []):
        return []
    items = value.split(";") if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(s, str) for s in items):
        raise ValidationError("sectors must be a list of sector names", field="sectors")
    bad = [s for s in items if s not in known]
    if bad:
        raise ValidationError(f"sectors: unknown {', '.join(b[:20] for b in bad)}; known: {', '.join(known)}",
                              field="sectors")
    return list(dict.fromkeys(items))


# --------------------------------------------------------------------------------------
# writing, backups, history, README, undo
# --------------------------------------------------------------------------------------
def _now() -> datetime:
    return datetime.now(UTC)


def _stamp() -> str:
    return _now().strftime("%Y%m%dT%H%M%S%fZ")


def _geometry_json(geom: Any) -> Any:
    if geom is None or geom.is_empty:
        return None
    if geom.geom_type in ("Polygon", "MultiPolygon"):
        geom = shapely.orient_polygons(geom)  # RFC 7946 right-hand rule
    rounded = shapely.transform(geom, lambda c: np.round(c, 7))
    return shapely.geometry.mapping(rounded if rounded.is_valid else geom)


def to_geojson(frame: gpd.GeoDataFrame) -> str:
    """Serialise a WGS84 frame as RFC 7946 GeoJSON (null geometries kept, no ``crs``)."""
    feats = []
    for row in frame.to_dict("records"):
        geom = row.pop("geometry", None)
        props = {k: _clean(v) for k, v in row.items()}
        feats.append({"type": "Feature", "properties": props, "geometry": _geometry_json(geom)})
    return json.dumps({"type": "FeatureCollection", "features": feats}, ensure_ascii=False, allow_nan=False)


#: Name of the lock file in the data folder (git-ignored; empty; only its flock matters).
LOCK_FILE = ".write.lock"


@contextmanager
def write_lock(data_dir: Path, *, timeout_s: float = 30.0) -> Iterator[None]:
    """Hold the data folder's write lock, across threads and processes.

    An exclusive ``flock`` on ``DATA_DIR/.write.lock``. Each call opens the file anew, so two
    threads of one process exclude each other as two processes do; the kernel drops the lock
    when the holder exits, even on SIGKILL, so a crash never leaves the folder locked.

    Parameters
    ----------
    data_dir
        The data folder.
    timeout_s
        How long to wait for another writer before giving up.

    Raises
    ------
    StorageUnavailable
        When the lock is still held after ``timeout_s`` (HTTP 503); nothing has been written.
    """
    path = Path(data_dir) / LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise StorageUnavailable(
                        f"the data folder is being written by another process or request (lock {path}, "
                        f"waited {timeout_s:g} s); nothing was written, try again", field="data") from None
                time.sleep(0.02)
        yield
    finally:
        os.close(fd)  # closing the only descriptor of this open releases the lock


def _atomic_write(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def backup(path: Path) -> Path | None:
    """Copy ``data/X.geojson`` to ``data/X.bak.<UTC stamp>.geojson`` (git-ignored); None when absent."""
    if not path.exists():
        return None
    dest = path.with_name(f"{path.stem}.bak.{_stamp()}{path.suffix}")
    shutil.copy2(path, dest)
    return dest


def history_path(data_dir: Path, layer: str) -> Path:
    """``DATA_DIR/history/LAYER.jsonl``."""
    return Path(data_dir) / "history" / f"{layer}.jsonl"


def read_history(data_dir: Path, layer: str) -> list[dict[str, Any]]:
    """Return a layer's history entries, oldest first."""
    path = history_path(data_dir, layer)
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _append_history(data_dir: Path, entry: dict[str, Any]) -> None:
    path = history_path(data_dir, entry["layer"])
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(entry, ensure_ascii=False) + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def record_readme(data_dir: Path, line: str) -> None:
    """Append ``line`` at the end of the ``## Imports`` section of ``DATA_DIR/README.md``."""
    path = Path(data_dir) / "README.md"
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    try:
        start = next(i for i, t in enumerate(lines) if t.strip() == "## Imports")
    except StopIteration:
        lines += ["", "## Imports", ""]
        start = len(lines) - 2
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    while end > start + 1 and not lines[end - 1].strip():
        end -= 1
    if not lines[end - 1].startswith("- "):
        lines.insert(end, "")
        end += 1
    lines.insert(end, line)
    _atomic_write(path, "\n".join(lines) + "\n")


def _summary_line(plan: ImportPlan, entry: dict[str, Any]) -> str:
    r = plan.report
    crs_used = plan.extra.get("crs_used", "")
    cov = r.get("coverage")
    cov_s = f"; covers {cov['share_covered']:.1%} of the county" if cov else ""
    bak = f"; previous file kept as `{entry['backup']}`" if entry.get("backup") else ""
    note = f"; note: {plan.note}" if plan.note else ""
    return (f"- {entry['time'][:16].replace('T', ' ')} UTC — `{plan.layer}` ← `{plan.source}` "
            f"({r.get('driver', '')}, {crs_used} → WGS84): {r['features']} features, "
            f"{r.get('with_geometry', 0)} with geometry, geometry_quality \"{IMPORTED}\"{cov_s}{bak}{note}")


def apply_import(plan: ImportPlan, data_dir: Path, registry: Any, *, author: str = "") -> dict[str, Any]:
    """Write the plan's layer (backup first), add a history entry and, for imports, a README line.

    Parameters
    ----------
    plan
        A plan with ``plan.ok``.
    data_dir
        The data folder.
    registry
        The layer registry (for the layer's path).
    author
        Who did it (free text, recorded in the history).

    Returns
    -------
    dict
        The history entry.
    """
    if not plan.ok:
        raise GeometryError("the import has blocking errors: " + "; ".join(plan.report["errors"]), field="file")
    path = registry.path(plan.layer)
    text = to_geojson(plan.frame)
    bak = backup(path)
    _atomic_write(path, text)
    entry = {"id": uuid.uuid4().hex[:12], "time": _now().isoformat(timespec="seconds"), "layer": plan.layer,
             "action": plan.action, "author": author, "note": plan.note, "source": plan.source,
             "backup": bak.name if bak else None, "features": len(plan.frame),
             "with_geometry": plan.report.get("with_geometry"), "crs": plan.extra.get("crs_used"),
             "warnings": plan.report.get("warnings", [])}
    _append_history(data_dir, entry)
    if plan.action == "import":
        record_readme(data_dir, _summary_line(plan, entry))
    return entry


def undo(data_dir: Path, layer: str, registry: Any, *, author: str = "", note: str = "") -> dict[str, Any]:
    """Revert the last import or edit of a layer that is not yet undone.

    The current file is itself kept as a backup, then the change's backup is restored.

    Parameters
    ----------
    data_dir
        The data folder.
    layer
        Layer name.
    registry
        The layer registry.
    author, note
        Recorded in the history.

    Returns
    -------
    dict
        The ``undo`` history entry (``reverts`` names the change's id).
    """
    _spec(registry, layer)
    entries = read_history(data_dir, layer)
    undone = {e.get("reverts") for e in entries if e["action"] == "undo"}
    todo = [e for e in entries if e["action"] in ("import", "draw") and e["id"] not in undone]
    if not todo:
        raise NotFound(f"nothing to undo for layer {layer}: no import or edit in {history_path(data_dir, layer)}",
                       field="layer")
    target = todo[-1]
    src = Path(data_dir) / str(target.get("backup"))
    if not target.get("backup") or not src.exists():
        raise NotFound(f"the backup of change {target['id']} ({target.get('backup')}) is missing", field="layer")
    path = registry.path(layer)
    bak = backup(path)
    _atomic_write(path, src.read_text(encoding="utf-8"))
    entry = {"id": uuid.uuid4().hex[:12], "time": _now().isoformat(timespec="seconds"), "layer": layer,
             "action": "undo", "reverts": target["id"], "restored": src.name, "author": author, "note": note,
             "backup": bak.name if bak else None}
    _append_history(data_dir, entry)
    if target["action"] == "import":
        record_readme(data_dir, f"- {entry['time'][:16].replace('T', ' ')} UTC — `{layer}`: import of "
                                f"`{target.get('source')}` undone (restored `{src.name}`)")
    return entry


# --------------------------------------------------------------------------------------
# report
# --------------------------------------------------------------------------------------
def save_report(report: dict[str, Any], directory: Path) -> Path:
    """Save a report as JSON in ``directory`` (e.g. the instance folder); return its path."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{report['layer']}-{_stamp()}.json"
    path.write_text(json.dumps(report, ensure_ascii=False, indent=1, default=str), encoding="utf-8")
    return path


def format_report(report: dict[str, Any]) -> str:
    """Render the validation report as plain text."""
    r = report
    crs = r.get("crs", {})
    out = [f"Import report: layer {r['layer']} <- {r['source']} ({r.get('driver', '')})",
           f"  features: {r['features']}  with geometry after import: {r.get('with_geometry', '?')}",
           f"  CRS: declared {crs.get('declared')}, given {crs.get('given')}, used {crs.get('used')}"]
    det = crs.get("detection") or {}
    if det:
        out.append(f"  detection: best fit {det.get('best') or det.get('kind')} — {det.get('reason')}")
    for e in r.get("invalid", []):
        out.append(f"  invalid: {e['name']}: {e['reason']} -> make_valid {'fixed it' if e['fixed'] else 'FAILED'}")
    m = r.get("matching") or {}
    if m:
        unmatched = ", ".join(m.get("unmatched", [])) or "-"
        out.append(f"  names: {len(m.get('matched', []))} matched, unmatched: {unmatched}")
    ov = r.get("overlaps")
    if ov is not None:
        top = "; ".join(f"{p['a']}/{p['b']} {p['km2']} km²" for p in ov["pairs"][:5])
        out.append(f"  overlaps between townships: {ov['total_km2']} km²" + (f" ({top})" if top else ""))
    cov = r.get("coverage")
    if cov:
        out.append(f"  gaps vs county: {cov['gaps_km2']} km² ({cov['gaps_pct']}% of {cov['county_km2']} km²); "
                   f"share of county covered: {cov['share_covered']:.1%}; outside the county: {cov['outside_km2']} km²")
    out += [f"  warning: {w}" for w in r.get("warnings", [])]
    out += [f"  ERROR: {e}" for e in r.get("errors", [])]
    out.append("  result: " + ("OK" if not r.get("errors") else "BLOCKED (nothing written)"))
    return "\n".join(out)
