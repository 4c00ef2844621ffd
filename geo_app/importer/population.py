"""Importing population: a raster of people per cell (any CRS) or a table of township populations.

* A GeoTIFF (checked by its bytes, GTiff driver only) of people per cell, WorldPop- or
  census-grid-style, is read over the service area and put on the 250 m lattice of the travel-time
  surfaces in EPSG:32651 with ``Resampling.sum`` (area-weighted, so the total is conserved; the
  import checks it and refuses otherwise). It becomes ``DATA_DIR/population.tif`` (float64).
* A CSV of townships (``code`` or a name, ``population``, ``year``, ``source``) is matched to the
  official codes with :func:`~geo_app.importer.matching.match_towns` and becomes
  ``DATA_DIR/population.csv``.

Either replaces the other (the previous file is backed up; ``geo-app data undo population``).
"""

from __future__ import annotations

import io
import math
import re
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
from affine import Affine

from .. import crs as crs_mod
from ..errors import UnsupportedMediaType, ValidationError
from ..population import POPULATION_CSV, POPULATION_TIF, TABLE_COLUMNS
from ..raster import is_tiff, open_geotiff, write_geotiff
from ..validate import SERVICE_BBOX
from .files import FilePlan
from .matching import _pick_field, match_towns

CELL_M = 250.0
MAX_TABLE_BYTES = 5 * 1024 * 1024
POP_FIELDS = ("population", "Population", "POPULATION", "pop", "POP", "人口", "常住人口", "户籍人口", "人口数")
YEAR_FIELDS = ("year", "Year", "YEAR", "年份", "年度")
SOURCE_FIELDS = ("source", "Source", "SOURCE", "来源", "数据来源")


def prepare_population(path: Path, *, towns: gpd.GeoDataFrame, boundary: gpd.GeoDataFrame, name: str | None = None,
                       year: str | None = None, source: str | None = None, name_field: str | None = None,
                       code_field: str | None = None, force: bool = False) -> FilePlan:
    """Check and convert a population raster or township table; report what would be written.

    Parameters
    ----------
    path
        A GeoTIFF (people per cell) or a CSV (one row per township).
    towns, boundary
        The townships (codes, names, boundaries where loaded) and the county boundary.
    name
        The file's original name (uploads).
    year, source
        The year and source of the figures: required for a raster, defaults for a table's missing columns.
    name_field, code_field
        A table's name / code columns (default: the importer's usual names).
    force
        Import a table despite names that match no township (those rows are left out).

    Returns
    -------
    FilePlan
    """
    name = name or Path(path).name
    if is_tiff(path):
        return _prepare_raster(Path(path), name, boundary, year=year, source=source)
    return _prepare_table(Path(path), name, towns, year=year, source=source, name_field=name_field,
                          code_field=code_field, force=force)


def _year(value: Any, what: str) -> str:
    text = str(value if value is not None else "").strip()
    if not re.fullmatch(r"(19|20)\d\d", text):
        raise ValidationError(f"{what}: give the year of the population figures (four digits, e.g. 2020); "
                              f"got {text[:20]!r}", field="year")
    return text


def _service_window(src: Any) -> Any:
    """The raster's window over the service area (in its own CRS), or None when they do not meet."""
    from rasterio.warp import transform_bounds
    from rasterio.windows import Window, from_bounds

    box = transform_bounds(crs_mod.WGS84, src.crs, *SERVICE_BBOX, densify_pts=21)
    b = src.bounds
    inter = (max(box[0], b.left), max(box[1], b.bottom), min(box[2], b.right), min(box[3], b.top))
    if inter[0] >= inter[2] or inter[1] >= inter[3]:
        return None
    w = from_bounds(*inter, transform=src.transform)
    c0, r0 = math.floor(w.col_off + 1e-9), math.floor(w.row_off + 1e-9)
    c1, r1 = math.ceil(w.col_off + w.width - 1e-9), math.ceil(w.row_off + w.height - 1e-9)
    return Window(c0, r0, c1 - c0, r1 - r0).intersection(Window(0, 0, src.width, src.height))


#: Source rows reprojected at a time: GDAL's warper loses part of the sum when it splits a destination
#: much larger than its source into chunks, so each strip goes into a window cut to its own footprint.
STRIP_ROWS = 512


def _lattice_window(bounds: tuple[float, ...], cell: float) -> tuple[int, int, int, int]:
    """``(gx0, gy1, width, height)`` of the lattice cells covering ``bounds`` with one cell to spare."""
    gx0, gy0 = math.floor(bounds[0] / cell) - 1, math.floor(bounds[1] / cell) - 1
    gx1, gy1 = math.ceil(bounds[2] / cell) + 1, math.ceil(bounds[3] / cell) + 1
    return gx0, gy1, gx1 - gx0, gy1 - gy0


def to_lattice(values: np.ndarray, transform: Affine, crs: Any, cell: float = CELL_M) -> tuple[np.ndarray, Affine]:
    """Resample people per cell onto the EPSG:32651 lattice of ``cell`` with ``Resampling.sum``.

    The source is warped in strips of :data:`STRIP_ROWS` rows, each into the lattice window that
    covers its footprint, and the strips are added up; the destination covers the whole footprint,
    so every person lands in it. The result is trimmed to the cells that hold people.

    Returns
    -------
    tuple
        ``(float64 people per cell, transform)``.
    """
    from rasterio.enums import Resampling
    from rasterio.warp import reproject, transform_bounds

    h, w = values.shape

    def footprint(r0: int, r1: int) -> tuple[float, ...]:
        top, bottom = transform.f + r0 * transform.e, transform.f + r1 * transform.e
        return transform_bounds(crs, crs_mod.METRIC_CRS, transform.c, min(top, bottom),
                                transform.c + w * transform.a, max(top, bottom), densify_pts=101)

    gx0, gy1, gw, gh = _lattice_window(footprint(0, h), cell)
    out = np.zeros((gh, gw), dtype="float64")
    for r0 in range(0, h, STRIP_ROWS):
        r1 = min(r0 + STRIP_ROWS, h)
        sx0, sy1, sw, sh = _lattice_window(footprint(r0, r1), cell)
        part = np.zeros((sh, sw), dtype="float64")
        reproject(np.ascontiguousarray(values[r0:r1], dtype="float64"), part, src_crs=crs,
                  src_transform=transform @ Affine.translation(0, r0), dst_crs=crs_mod.METRIC_CRS,
                  dst_transform=Affine(cell, 0.0, sx0 * cell, 0.0, -cell, sy1 * cell), resampling=Resampling.sum,
                  warp_mem_limit=256)
        out[gy1 - sy1:gy1 - sy1 + sh, sx0 - gx0:sx0 - gx0 + sw] += part
    rows, cols = np.flatnonzero(out.any(axis=1)), np.flatnonzero(out.any(axis=0))
    dst_t = Affine(cell, 0.0, gx0 * cell, 0.0, -cell, gy1 * cell)
    if not len(rows):
        return out[:0, :0], dst_t
    r0, r1, c0, c1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    return out[r0:r1, c0:c1], dst_t @ Affine.translation(int(c0), int(r0))


def _read_raster(path: Path, name: str) -> dict[str, Any]:
    """Check a population raster and read its part over the service area (nodata = 0 people)."""
    with open_geotiff(path, name) as src:
        if src.crs is None:
            raise ValidationError(f"{name}: the GeoTIFF has no CRS", field="file")
        win = _service_window(src)
        if win is None:
            raise ValidationError(f"{name}: the raster does not overlap the service area", field="file")
        data = src.read(1, window=win, masked=True).astype("float64")
        full = win.width == src.width and win.height == src.height
        return {"values": np.ma.filled(data, 0.0), "transform": src.window_transform(win), "crs": src.crs,
                "info": {"crs": src.crs.to_string(), "width": src.width, "height": src.height,
                         "res": [abs(src.transform.a), abs(src.transform.e)], "dtype": src.dtypes[0],
                         "nodata": None if src.nodata is None or math.isnan(src.nodata) else src.nodata,
                         "clipped_to_service_area": not full}}


def _prepare_raster(path: Path, name: str, boundary: gpd.GeoDataFrame, *, year: str | None,
                    source: str | None) -> FilePlan:
    raw = _read_raster(path, name)
    values = np.where(np.isfinite(raw["values"]), raw["values"], 0.0)
    report: dict[str, Any] = {"layer": "population", "kind": "raster", "input": {"name": name, **raw["info"]},
                              "errors": [], "warnings": []}
    source = (source or "").strip()[:200] or name
    report["source"] = source
    try:
        report["year"] = _year(year, "--year")
    except ValidationError as exc:
        report["errors"].append(exc.message)
    if (values < 0).any():
        report["errors"].append(f"{int((values < 0).sum())} cells hold negative people (is nodata set?)")
    source_total = float(values.sum())
    grid, transform = to_lattice(values, raw["transform"], raw["crs"])
    total = float(grid.sum())
    report.update(source_total=source_total, total=total, cell_m=CELL_M, crs=crs_mod.METRIC_CRS,
                  county_population=_county_people(grid, transform, boundary))
    if source_total <= 0:
        report["errors"].append("the raster holds no people over the service area")
    elif abs(total - source_total) > 1e-9 * source_total + 1e-6:
        report["errors"].append(f"resampling did not conserve the total ({total!r} vs {source_total!r})")
    if raw["info"]["clipped_to_service_area"]:
        report["warnings"].append("the raster extends beyond the service area: only the part inside it is imported")
    report["lines"] = _raster_lines(report)
    tags = {"KIND": "raster", "YEAR": str(report.get("year", "")), "SOURCE": source, "SOURCE_FILE": name,
            "SOURCE_CRS": raw["info"]["crs"], "TOTAL": repr(total), "SOURCE_TOTAL": repr(source_total),
            "CELL_M": f"{CELL_M:g}", "UNITS": "people per cell"}

    def write(dest: Path) -> None:
        write_geotiff(grid, transform, crs_mod.METRIC_CRS, dest, nodata=None, tags=tags, tiled=True)

    summary = (f"population raster ({report.get('year', '?')}, {source}): {total:,.0f} people on the 250 m grid, "
               f"{report['county_population']:,.0f} in the county")
    return FilePlan("population", report, {POPULATION_TIF: write}, source=name, summary=summary)


def _county_people(grid: np.ndarray, transform: Affine, boundary: gpd.GeoDataFrame) -> float:
    """People in the cells whose centre lies in the county (as the reach table counts them)."""
    from rasterio.features import rasterize

    if grid.size == 0:
        return 0.0
    county = boundary.to_crs(crs_mod.METRIC_CRS).geometry.union_all()
    mask = rasterize([(county, 1)], out_shape=grid.shape, transform=transform, fill=0, dtype="uint8").astype(bool)
    return float(grid[mask].sum())


def _raster_lines(r: dict[str, Any]) -> list[str]:
    i = r["input"]
    return [f"population raster: {i['name']} ({i['crs']}, {i['width']}×{i['height']} cells of "
            f"{i['res'][0]:.6g}×{i['res'][1]:.6g}, {i['dtype']}, nodata {i['nodata']})",
            f"year: {r.get('year', '—')}; source: {r['source']}",
            f"people in the file (service area): {r['source_total']:,.1f}; on the 250 m grid: {r['total']:,.1f} "
            f"(Resampling.sum); in the county: {r['county_population']:,.1f}"]


def read_table_file(path: Path, name: str) -> pd.DataFrame:
    """Read a CSV (UTF-8, UTF-8 with BOM or GB18030) into strings; refuse binary or large files."""
    raw = Path(path).read_bytes()
    if len(raw) > MAX_TABLE_BYTES:
        raise ValidationError(f"{name}: a township table is at most {MAX_TABLE_BYTES // 1048576} MB", field="file")
    if b"\x00" in raw[:8192]:
        raise UnsupportedMediaType(f"{name}: neither a GeoTIFF nor a CSV text file", field="file")
    for enc in ("utf-8-sig", "gb18030"):
        try:
            text = raw.decode(enc)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise UnsupportedMediaType(f"{name}: the CSV is neither UTF-8 nor GB18030 text", field="file")
    try:
        df = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise UnsupportedMediaType(f"{name}: not a readable CSV ({str(exc)[:120]})", field="file") from exc
    return df.rename(columns=lambda c: str(c).strip())


def _number(value: Any) -> float | None:
    """A non-negative finite number from text ("12,345" allowed); None otherwise."""
    text = re.sub(r"[,\s，]", "", str(value))
    try:
        x = float(text)
    except ValueError:
        return None
    return x if math.isfinite(x) and x >= 0 else None


def _column(df: pd.DataFrame, candidates: tuple[str, ...], what: str) -> str | None:
    return _pick_field(df, None, candidates, what)


def _table_rows(df: pd.DataFrame, pos: list[int | None], towns: gpd.GeoDataFrame, report: dict[str, Any], *,
                year: str | None, source: str | None) -> list[dict[str, Any]]:
    """One output row per matched township row; bad numbers, years or sources become errors."""
    pf = _column(df, POP_FIELDS, "population")
    yf, sf = _column(df, YEAR_FIELDS, "year"), _column(df, SOURCE_FIELDS, "source")
    if pf is None:
        report["errors"].append("no population column (population, pop, 人口, 常住人口…)")
        return []
    rows = []
    for i, p in enumerate(pos):
        if p is None:
            continue
        town = towns.iloc[p]
        label = str(town["name_zh"])
        value = _number(df[pf].iloc[i])
        y = str(df[yf].iloc[i]).strip() if yf and str(df[yf].iloc[i]).strip() else (year or "")
        s = str(df[sf].iloc[i]).strip() if sf and str(df[sf].iloc[i]).strip() else (source or "").strip()
        if value is None:
            report["errors"].append(f"{label}: population {str(df[pf].iloc[i])[:20]!r} is not a number ≥ 0")
        if not re.fullmatch(r"(19|20)\d\d", y):
            report["errors"].append(f"{label}: year {y[:20]!r} is not a year (a year column or --year)")
        if not s:
            report["errors"].append(f"{label}: no source (a source column or --source)")
        code = town["code"]
        rows.append({"code": None if code is None or (isinstance(code, float) and math.isnan(code)) else str(code),
                     "name_zh": label, "population": value, "year": y, "source": s[:200]})
    return rows


def _prepare_table(path: Path, name: str, towns: gpd.GeoDataFrame, *, year: str | None, source: str | None,
                   name_field: str | None, code_field: str | None, force: bool) -> FilePlan:
    df = read_table_file(path, name)
    report: dict[str, Any] = {"layer": "population", "kind": "table", "source": name, "rows": len(df),
                              "errors": [], "warnings": []}
    pos, matching = match_towns(df, towns, name_field=name_field, code_field=code_field)
    report["matching"] = matching
    rows = _table_rows(df, pos, towns, report, year=year, source=source)
    if matching["unmatched"]:
        msg = f"{len(matching['unmatched'])} rows match no township: " + ", ".join(matching["unmatched"][:10])
        (report["warnings"] if force else report["errors"]).append(msg + (" (left out)" if force else
                                                                           " (fix them or use --force)"))
    if matching["duplicates"]:
        report["errors"].append("several rows for " + ", ".join(matching["duplicates"]))
    if matching["missing"]:
        report["warnings"].append(f"{len(matching['missing'])} townships have no population in the table: "
                                  + ", ".join(matching["missing"]) + " (county figures cover only the others)")
    frame = pd.DataFrame(rows, columns=list(TABLE_COLUMNS))
    total = float(frame["population"].fillna(0).sum())
    geoms = [towns.geometry.iloc[p] for p in {p for p in pos if p is not None}]
    with_boundary = sum(1 for g in geoms if g is not None and not g.is_empty)
    report.update(total=total, townships=len(rows), with_boundary=with_boundary,
                  years=sorted(set(frame["year"])), sources=sorted(set(frame["source"])))
    if not rows:
        report["errors"].append("no row of the table matches a township")
    report["lines"] = _table_lines(report)

    def write(dest: Path) -> None:
        dest.write_text(frame.to_csv(index=False), encoding="utf-8")

    summary = (f"township population table ({', '.join(report['years'])}; {', '.join(report['sources'])}): "
               f"{len(rows)} townships, {total:,.0f} people")
    return FilePlan("population", report, {POPULATION_CSV: write}, source=name, summary=summary)


def _table_lines(r: dict[str, Any]) -> list[str]:
    m = r["matching"]
    basis = (f"{r['with_boundary']} of them have a boundary: their people are spread over the polygon by area; "
             "the others are reported per township only" if r["with_boundary"] else
             "township boundaries are not loaded: the figures are reported per township only (no people "
             "within the minutes until `geo-app data import towns`)")
    return [f"population table: {r['source']}, {r['rows']} rows; name column {m['name_field']}, code column "
            f"{m['code_field']}",
            f"townships matched: {r['townships']}; unmatched: {', '.join(m['unmatched']) or '-'}",
            f"year: {', '.join(r['years']) or '—'}; source: {', '.join(r['sources']) or '—'}",
            f"total: {r['total']:,.0f} people; {basis}"]
