"""Grids, destinations, output columns and summary units of a batch run, and their loaders."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from affine import Affine
from shapely.geometry.base import BaseGeometry

from ...network.roads import METRIC_CRS

THRESHOLDS = (60, 90, 120)


@dataclass(frozen=True)
class Destination:
    """One destination point.

    Attributes
    ----------
    key
        Short ASCII key used in column names (``adcode`` for the shipped places).
    name
        Display name (e.g. ``长春市``).
    lonlat
        WGS84 (lon, lat).
    """

    key: str
    name: str
    lonlat: tuple[float, float]


@dataclass(frozen=True)
class Column:
    """One output column: a destination, a mode and a scenario."""

    destination: Destination
    mode: str
    scenario: str

    @property
    def name(self) -> str:
        """Column name in the output, e.g. ``min_220100_car_base``."""
        return f"min_{self.destination.key}_{self.mode}_{self.scenario}"


@dataclass(frozen=True)
class Unit:
    """A summary unit (county or township); ``geometry`` in EPSG:32651 or None (no boundary)."""

    level: str
    code: str
    name_zh: str
    geometry: BaseGeometry | None


@dataclass(frozen=True)
class Grid:
    """The extent's cells on the global lattice: columns ``gx0..gx0+width``, rows ``gy0..gy0+height``.

    Row 0 is the northern row (``gy = gy0 + height - 1``), as in a raster and in
    :class:`~geo_app.analysis.surface.Surface`.
    """

    cell_m: float
    gx0: int
    gy0: int
    width: int
    height: int

    @classmethod
    def covering(cls, bounds: tuple[float, float, float, float], cell_m: float) -> Grid:
        """The lattice grid covering metric ``bounds`` (snapped outward, like the surface)."""
        x0, y0, x1, y1 = bounds
        cell = float(cell_m)
        gx0, gy0 = math.floor(x0 / cell), math.floor(y0 / cell)
        return cls(cell, gx0, gy0, max(1, math.ceil(x1 / cell) - gx0), max(1, math.ceil(y1 / cell) - gy0))

    @property
    def transform(self) -> Affine:
        """Affine transform of the whole grid (EPSG:32651)."""
        c = self.cell_m
        return Affine(c, 0.0, self.gx0 * c, 0.0, -c, (self.gy0 + self.height) * c)

    def bands(self, chunk_cells: int) -> list[tuple[int, int]]:
        """Row ranges ``[r0, r1)`` of about ``chunk_cells`` grid cells each."""
        rows = max(1, int(chunk_cells) // self.width)
        return [(r, min(r + rows, self.height)) for r in range(0, self.height, rows)]


def _label_raster(units: Sequence[Unit], transform: Affine, shape: tuple[int, int]) -> np.ndarray:
    """Unit index + 1 of every cell (0: none), by cell centre.

    Each geometry is first clipped to the window (GEOS), so a chunk never walks the vertices of a
    whole metropolitan multipolygon.
    """
    import shapely
    from rasterio.features import rasterize

    h, w = shape
    x0, y1 = transform @ (0, 0)
    x1, y0 = transform @ (w, h)
    pad = abs(transform.a)
    shapes = []
    for i, u in enumerate(units):
        if u.geometry is None:
            continue
        gx0, gy0, gx1, gy1 = u.geometry.bounds
        if gx1 < x0 or gx0 > x1 or gy1 < y0 or gy0 > y1:
            continue
        part = shapely.clip_by_rect(u.geometry, x0 - pad, y0 - pad, x1 + pad, y1 + pad)
        if not part.is_empty:
            shapes.append((part, i + 1))
    if not shapes:
        return np.zeros(shape, dtype=np.int32)
    return rasterize(shapes, out_shape=shape, transform=transform, fill=0, dtype="int32")


# --- loaders -----------------------------------------------------------------------------------
def _metric_union(frame: Any) -> BaseGeometry:
    """Union of a GeoDataFrame's geometries in EPSG:32651 (WGS84 assumed when it has no CRS)."""
    if frame.crs is None:
        frame = frame.set_crs("EPSG:4326")
    return frame.to_crs(METRIC_CRS).geometry.union_all()


def load_extent(extent: str | Path, data_dir: Path) -> BaseGeometry:
    """The extent polygon in EPSG:32651.

    Parameters
    ----------
    extent
        ``metro`` (union of ``data/metro_counties.geojson``), ``county`` (``data/boundary.geojson``)
        or a polygon file any GDAL driver reads.
    data_dir
        The project data folder.
    """
    import geopandas as gpd

    from ...errors import ValidationError

    name = str(extent)
    path = {"metro": Path(data_dir) / "metro_counties.geojson",
            "county": Path(data_dir) / "boundary.geojson"}.get(name, Path(name))
    if not path.is_file():
        raise ValidationError(f"extent must be metro, county or a polygon file; {name!r} is none", field="extent")
    geom = _metric_union(gpd.read_file(path))
    if geom.is_empty or geom.geom_type not in ("Polygon", "MultiPolygon"):
        raise ValidationError(f"extent {name!r} holds no polygon", field="extent")
    return geom


def load_destinations(to: str | Path, data_dir: Path) -> list[Destination]:
    """Destinations by name.

    Parameters
    ----------
    to
        ``seats``: every place of ``data/places.geojson`` (36 county seats + 5 prefecture
        cities = 41); ``changchun``: the place whose ``destination`` is ``changchun``; or a
        point file (key from ``key``/``id``/``code``/``adcode``, name from ``name_zh``/``name``).
    data_dir
        The project data folder.
    """
    import geopandas as gpd

    from ...errors import ValidationError

    name = str(to)
    if name in ("seats", "changchun"):
        frame = gpd.read_file(Path(data_dir) / "places.geojson")
        if name == "changchun":
            frame = frame[frame["destination"] == "changchun"]
    elif Path(name).is_file():
        frame = gpd.read_file(name)
    else:
        raise ValidationError(f"--to must be seats, changchun or a point file; {name!r} is none", field="to")
    if frame.crs is not None:
        frame = frame.to_crs("EPSG:4326")
    key_col = next((c for c in ("key", "id", "code", "adcode") if c in frame.columns), None)
    name_col = next((c for c in ("name_zh", "name", "name_en") if c in frame.columns), None)
    out: list[Destination] = []
    for i, (row, geom) in enumerate(zip(frame.to_dict("records"), frame.geometry, strict=True)):
        if geom is None or geom.is_empty:
            continue
        pt = geom if geom.geom_type == "Point" else geom.representative_point()
        key = _slug(row.get(key_col) if key_col else None) or f"d{i}"
        out.append(Destination(key, str(row.get(name_col) if name_col else key), (float(pt.x), float(pt.y))))
    if not out:
        raise ValidationError(f"no destination point in {name!r}", field="to")
    keys = [d.key for d in out]
    if len(set(keys)) != len(keys):
        out = [dataclasses.replace(d, key=f"{d.key}_{i}") for i, d in enumerate(out)]
    return out


def _slug(value: Any) -> str:
    """A column-name-safe key ('' for None/NaN)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    text = str(value).strip()
    if text.endswith(".0") and text[:-2].isdigit():
        text = text[:-2]
    return "".join(ch if ch.isascii() and (ch.isalnum() or ch in "-_") else "_" for ch in text)


def load_units(data_dir: Path) -> tuple[list[Unit], list[Unit]]:
    """Counties (``metro_counties.geojson``) and townships (``towns.geojson``) for the summaries.

    Townships without a boundary are kept (summarised as ``no boundary``).
    """
    import geopandas as gpd

    def units(path: Path, level: str, code_col: str) -> list[Unit]:
        if not path.is_file():
            return []
        frame = gpd.read_file(path)
        if frame.crs is None:
            frame = frame.set_crs("EPSG:4326")
        geoms = list(frame.geometry.to_crs(METRIC_CRS))
        out = []
        for row, g in zip(frame.to_dict("records"), geoms, strict=True):
            ok = g is not None and not g.is_empty and g.geom_type in ("Polygon", "MultiPolygon")
            out.append(Unit(level, _slug(row.get(code_col)) or "", str(row.get("name_zh") or ""), g if ok else None))
        return out

    return (units(Path(data_dir) / "metro_counties.geojson", "county", "adcode"),
            units(Path(data_dir) / "towns.geojson", "township", "code"))
