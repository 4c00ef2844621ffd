"""Importing a DEM: GeoTIFF tiles in any CRS, mosaicked and reprojected into one GeoTIFF in the data folder.

Each tile is checked by its bytes and opened with the GTiff driver only
(:func:`geo_app.raster.open_geotiff`). Tiles that share a CRS are mosaicked in that CRS with
:func:`rasterio.merge.merge` (on the first tile's pixel grid, clipped to the county plus
:data:`PAD_M`), then every mosaic is reprojected (bilinear) onto one grid in EPSG:32651 at the
tiles' own resolution; where mosaics overlap the first tile given wins. The result is written as a
tiled, compressed float32 GeoTIFF (``DATA_DIR/dem.tif``, nodata NaN) whose tags say its source and
resolution. Nothing is written until :func:`~geo_app.importer.files.apply_file_plan`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
from affine import Affine

from .. import crs as crs_mod
from ..errors import ValidationError
from ..raster import DEM_FILE, open_geotiff, slope_grid, write_geotiff
from .files import FilePlan
from .plan import _now

#: Metres kept around the county's bounding box.
PAD_M = 5000.0
#: At most this many cells in the imported DEM (about 8 m cells over the county and its margin).
MAX_CELLS = 200_000_000


def _tile_info(path: Path, name: str) -> dict[str, Any]:
    """Check one tile (bytes, driver, CRS) and describe it."""
    from rasterio.warp import transform_bounds

    with open_geotiff(path, name) as src:
        if src.crs is None:
            raise ValidationError(f"{name}: the GeoTIFF has no CRS; a DEM tile must say its CRS", field="file")
        if src.transform.b or src.transform.d:
            raise ValidationError(f"{name}: rotated grids are not supported", field="file")
        wgs = transform_bounds(src.crs, crs_mod.WGS84, *src.bounds, densify_pts=21)
        return {"name": name, "path": path, "crs": src.crs.to_string(), "crs_wkt": src.crs.to_wkt(),
                "width": src.width, "height": src.height, "bands": src.count, "dtype": src.dtypes[0],
                "nodata": None if src.nodata is None or math.isnan(src.nodata) else src.nodata,
                "res": [abs(src.transform.a), abs(src.transform.e)], "bounds": list(src.bounds),
                "bounds_wgs84": [round(v, 6) for v in wgs]}


def _snap(bounds: Sequence[float], origin: tuple[float, float], res: tuple[float, float]) -> tuple[float, ...]:
    """Bounds snapped outward to a pixel grid with the given origin and resolution."""
    (ox, oy), (dx, dy) = origin, res
    return (ox + math.floor((bounds[0] - ox) / dx) * dx, oy + math.floor((bounds[1] - oy) / dy) * dy,
            ox + math.ceil((bounds[2] - ox) / dx) * dx, oy + math.ceil((bounds[3] - oy) / dy) * dy)


def _mosaic(infos: list[dict[str, Any]], clip_m: Sequence[float]) -> tuple[np.ndarray, Affine, Any] | None:
    """Mosaic tiles of one CRS over the clip box (in that CRS); None when they do not reach it."""
    from rasterio.merge import merge
    from rasterio.warp import transform_bounds

    first = infos[0]
    cb = transform_bounds(crs_mod.METRIC_CRS, first["crs_wkt"], *clip_m, densify_pts=21)
    ub = [min(i["bounds"][0] for i in infos), min(i["bounds"][1] for i in infos),
          max(i["bounds"][2] for i in infos), max(i["bounds"][3] for i in infos)]
    ib = (max(cb[0], ub[0]), max(cb[1], ub[1]), min(cb[2], ub[2]), min(cb[3], ub[3]))
    if ib[0] >= ib[2] or ib[1] >= ib[3]:
        return None
    res = (min(i["res"][0] for i in infos), min(i["res"][1] for i in infos))
    ib = _snap(ib, (first["bounds"][0], first["bounds"][3]), res)
    with ExitStack() as stack:
        datasets = [stack.enter_context(open_geotiff(i["path"], i["name"])) for i in infos]
        arr, transform = merge(datasets, bounds=ib, res=res, nodata=np.nan, dtype="float32", indexes=[1])
        return arr[0], transform, datasets[0].crs


def _target(mosaics: list[tuple[np.ndarray, Affine, Any]], clip_m: Sequence[float]) -> tuple[Affine, int, int]:
    """The output grid in EPSG:32651: the first mosaic's resolution, aligned to multiples of it."""
    from rasterio.warp import calculate_default_transform, transform_bounds

    arr, tr, crs = mosaics[0]
    h, w = arr.shape
    bounds = (tr.c, tr.f + h * tr.e, tr.c + w * tr.a, tr.f)
    suggested, _, _ = calculate_default_transform(crs, crs_mod.METRIC_CRS, w, h, *bounds)
    res = max(1.0, float(round(abs(suggested.a))))
    boxes = []
    for a, t, c in mosaics:
        hh, ww = a.shape
        boxes.append(transform_bounds(c, crs_mod.METRIC_CRS, t.c, t.f + hh * t.e, t.c + ww * t.a, t.f,
                                      densify_pts=21))
    x0, y0 = max(clip_m[0], min(b[0] for b in boxes)), max(clip_m[1], min(b[1] for b in boxes))
    x1, y1 = min(clip_m[2], max(b[2] for b in boxes)), min(clip_m[3], max(b[3] for b in boxes))
    x0, y0, x1, y1 = _snap((x0, y0, x1, y1), (0.0, 0.0), (res, res))
    width, height = int(round((x1 - x0) / res)), int(round((y1 - y0) / res))
    if width * height > MAX_CELLS:
        raise ValidationError(f"the DEM would have {width * height:,} cells at {res:g} m (limit {MAX_CELLS:,}); "
                              "give coarser tiles", field="file")
    return Affine(res, 0.0, x0, 0.0, -res, y1), width, height


def mosaic_dem(infos: list[dict[str, Any]], clip_m: Sequence[float]) -> tuple[np.ndarray, Affine, list[str]]:
    """Mosaic and reproject the tiles onto one EPSG:32651 grid over ``clip_m``.

    Returns
    -------
    tuple
        ``(elevation float32 (H, W) with NaN nodata, transform, names of tiles that miss the box)``.
    """
    from rasterio.enums import Resampling
    from rasterio.warp import reproject

    groups: dict[str, list[dict[str, Any]]] = {}
    for info in infos:
        groups.setdefault(info["crs_wkt"], []).append(info)
    mosaics, missed = [], []
    for members in groups.values():
        m = _mosaic(members, clip_m)
        if m is None:
            missed += [i["name"] for i in members]
        else:
            mosaics.append(m)
    if not mosaics:
        return np.empty((0, 0), dtype="float32"), Affine.identity(), missed
    transform, width, height = _target(mosaics, clip_m)
    out = np.full((height, width), np.nan, dtype="float32")
    for arr, tr, crs in mosaics:
        part = np.full_like(out, np.nan)
        reproject(arr, part, src_transform=tr, src_crs=crs, src_nodata=np.nan, dst_transform=transform,
                  dst_crs=crs_mod.METRIC_CRS, dst_nodata=np.nan, resampling=Resampling.bilinear)
        fill = np.isnan(out)
        out[fill] = part[fill]
    return out, transform, missed


def _county_mask(boundary: gpd.GeoDataFrame, transform: Affine, shape: tuple[int, int]) -> tuple[np.ndarray, float]:
    """Cells whose centre lies in the county, and the county's area in m²."""
    from rasterio.features import rasterize

    county = boundary.to_crs(crs_mod.METRIC_CRS).geometry.union_all()
    mask = rasterize([(county, 1)], out_shape=shape, transform=transform, fill=0, dtype="uint8").astype(bool)
    return mask, float(county.area)


def _figures(z: np.ndarray, transform: Affine, boundary: gpd.GeoDataFrame) -> dict[str, Any]:
    """Extent, resolution, county coverage, nodata share, elevation range and median slope of a DEM grid."""
    from rasterio.crs import CRS
    from rasterio.warp import transform_bounds

    h, w = z.shape
    bounds = (transform.c, transform.f + h * transform.e, transform.c + w * transform.a, transform.f)
    county, county_m2 = _county_mask(boundary, transform, z.shape)
    valid = np.isfinite(z)
    inside = z[county & valid]
    slope = slope_grid(z, transform, CRS.from_string(crs_mod.METRIC_CRS)) if inside.size else np.empty(0)
    slope_in = slope[county & np.isfinite(slope)] if inside.size else slope
    return {"crs": crs_mod.METRIC_CRS, "resolution_m": float(transform.a), "width": w, "height": h,
            "extent_m": [round(v, 1) for v in bounds],
            "extent_wgs84": [round(v, 6) for v in transform_bounds(crs_mod.METRIC_CRS, crs_mod.WGS84, *bounds)],
            "county_share_covered": round(min(1.0, float((county & valid).sum()) * transform.a ** 2 / county_m2), 4),
            "nodata_share": round(1.0 - float(valid.sum()) / max(z.size, 1), 4),
            "elevation_m": {"min": round(float(inside.min()), 1), "max": round(float(inside.max()), 1)}
            if inside.size else None,
            "slope_pct_median": round(float(np.median(slope_in)) * 100, 2) if slope_in.size else None}


def prepare_dem(paths: Sequence[Path], boundary: gpd.GeoDataFrame, *, names: Sequence[str] | None = None,
                source: str | None = None) -> FilePlan:
    """Check, mosaic and reproject DEM tiles; report what ``dem.tif`` would be (nothing is written).

    Parameters
    ----------
    paths
        One or more GeoTIFF tiles (any CRS).
    boundary
        The county boundary (the DEM is clipped to its box plus :data:`PAD_M` and its coverage reported).
    names
        The tiles' original names (uploads), default the file names.
    source
        Who made the tiles (e.g. ``SRTM 1 arc-second, USGS``); default the tile names.

    Returns
    -------
    FilePlan
        ``plan.ok`` is False when the tiles do not cover any of the county.

    Raises
    ------
    UnsupportedMediaType, ValidationError
        When a file is not a readable GeoTIFF with a CRS.
    """
    if not paths:
        raise ValidationError("give at least one GeoTIFF tile", field="file")
    names = list(names or [Path(p).name for p in paths])
    infos = [_tile_info(Path(p), n) for p, n in zip(paths, names, strict=True)]
    x0, y0, x1, y1 = boundary.to_crs(crs_mod.METRIC_CRS).total_bounds
    z, transform, missed = mosaic_dem(infos, (x0 - PAD_M, y0 - PAD_M, x1 + PAD_M, y1 + PAD_M))
    report: dict[str, Any] = {"layer": "dem", "inputs": [{k: v for k, v in i.items() if k not in ("path", "crs_wkt")}
                                                         for i in infos], "errors": [], "warnings": []}
    source = (source or "").strip()[:200] or ", ".join(names)
    report["source"] = source
    if missed:
        report["warnings"].append("tiles that do not reach the county (left out): " + ", ".join(missed))
    if any(i["bands"] > 1 for i in infos):
        report["warnings"].append("tiles with several bands: band 1 is used as the elevation")
    if z.size == 0:
        report["errors"].append("no tile covers any of Meihekou county (check the tiles' CRS)")
        report["lines"] = _lines(report)
        return FilePlan("dem", report, source=source)
    report.update(_figures(z, transform, boundary))
    _judge(report)
    report["lines"] = _lines(report)
    tags = {"SOURCE": source, "SOURCE_FILES": ", ".join(names),
            "SOURCE_CRS": "; ".join(sorted({i["crs"] for i in infos})), "RESOLUTION_M": f"{transform.a:g}",
            "IMPORTED": _now().strftime("%Y-%m-%d"), "UNITS": "metres"}

    def write(path: Path) -> None:
        write_geotiff(z, transform, crs_mod.METRIC_CRS, path, nodata=np.nan, tags=tags, tiled=True)

    summary = (f"DEM {transform.a:g} m ({report['width']}×{report['height']} cells, EPSG:32651), covers "
               f"{report['county_share_covered']:.1%} of the county, nodata {report['nodata_share']:.1%}")
    return FilePlan("dem", report, {DEM_FILE: write}, source=source, summary=summary)


def _judge(report: dict[str, Any]) -> None:
    """Blocking errors and warnings from the figures."""
    share = report["county_share_covered"]
    if share == 0:
        report["errors"].append("the tiles hold no elevation inside Meihekou county (all nodata there)")
    elif share < 0.99:
        report["warnings"].append(f"{1 - share:.1%} of the county has no elevation: siting reviews there say "
                                  "'no data'")


def _lines(report: dict[str, Any]) -> list[str]:
    """The text report."""
    out = [f"DEM import: {len(report['inputs'])} tile(s); source: {report['source']}"]
    for i in report["inputs"]:
        out.append(f"  {i['name']}: {i['crs']}, {i['width']}×{i['height']} cells of {i['res'][0]:.6g}×"
                   f"{i['res'][1]:.6g}, {i['dtype']}, bounds (WGS84) {i['bounds_wgs84']}")
    if "resolution_m" in report:
        e = report["elevation_m"] or {}
        out += [f"output: {report['crs']}, resolution {report['resolution_m']:g} m, "
                f"{report['width']}×{report['height']} cells, extent (WGS84) {report['extent_wgs84']}",
                f"share of the county covered: {report['county_share_covered']:.1%}; "
                f"nodata share: {report['nodata_share']:.1%}",
                f"elevation in the county: {e.get('min')}–{e.get('max')} m; median slope "
                f"{report['slope_pct_median']} %"]
    return out
