"""Isochrone polygons from a travel-time surface (``rasterio.features.shapes``).

Each contour is the union of the cells whose time is ≤ its minutes, so contours are nested
by construction and unreachable (NaN) land is excluded. With an imported population each
contour also counts the people in its cells (:mod:`.population`). Nothing here imports Flask.
"""

from __future__ import annotations

import warnings
from typing import Any

import geopandas as gpd
import numpy as np
import shapely
from affine import Affine
from rasterio.errors import NotGeoreferencedWarning
from rasterio.features import shapes
from shapely.geometry import shape

from . import budget
from .population import Population, county_people, people_grid, share, unit_key
from .surface import Surface

# rasterio.features.shapes silences this warning for its in-memory dataset with
# ``warnings.catch_warnings``, which is not thread-safe: under a threaded server the warning
# leaks into the logs. Ignore it for good (it never concerns our arrays, which carry a transform).
warnings.filterwarnings("ignore", category=NotGeoreferencedWarning, module=r"rasterio\.")


def _contour(surface: Surface, minutes: float) -> shapely.Geometry | None:
    """Union of cells ≤ ``minutes`` as one (Multi)Polygon in EPSG:32651, or None when empty."""
    with np.errstate(invalid="ignore"):
        return _cells_polygon(surface, surface.minutes <= minutes)


def low_confidence_area(surface: Surface, minutes: float) -> shapely.Geometry | None:
    """The low-confidence cells within ``minutes`` as one (Multi)Polygon in WGS84, or None when there are none.

    For maps: these cells are drawn hatched (their time rests mostly on the off-network assumption).
    """
    with np.errstate(invalid="ignore"):
        geom = _cells_polygon(surface, surface.low_confidence & (surface.minutes <= minutes))
    if geom is None:
        return None
    wgs = gpd.GeoSeries([geom], crs=surface.crs).to_crs("EPSG:4326").iloc[0]
    return shapely.orient_polygons(wgs, exterior_cw=False)


def _cells_polygon(surface: Surface, inside: np.ndarray) -> shapely.Geometry | None:
    """Union of the ``inside`` cells as one (Multi)Polygon in EPSG:32651, or None when empty."""
    rows = np.flatnonzero(inside.any(axis=1))
    if not len(rows):
        return None
    cols = np.flatnonzero(inside.any(axis=0))
    r0, c0 = int(rows[0]), int(cols[0])
    # Polygonise only the window holding the cells (the transform is shifted by whole cells, so
    # vertices land on the same lattice coordinates as on the full grid).
    window = inside[r0:int(rows[-1]) + 1, c0:int(cols[-1]) + 1]
    transform = surface.transform @ Affine.translation(c0, r0)
    polys = [shape(geom) for geom, val in shapes(window.view(np.uint8), mask=window, transform=transform)
             if val == 1]
    # Vertices at every cell corner along straight runs, so nested contours share vertices and stay
    # nested after reprojection to WGS84.
    return shapely.segmentize(shapely.union_all(polys), surface.cell_m * 1.001)


def isochrones(surface: Surface, minutes: list[int], *, population: Population | None = None,
               county: Any | None = None, towns: gpd.GeoDataFrame | None = None) -> gpd.GeoDataFrame:
    """Contour polygons at the given minutes.

    Parameters
    ----------
    surface
        A travel-time surface.
    minutes
        Contour values, increasing.
    population
        Optional imported population (without one the columns are those below): adds
        ``population_within`` (people in the contour's cells, as far as the data reaches),
        ``county_population_within`` and ``share_county_population_within`` (of the county's
        people, when ``county`` is given).
        A township table needs ``towns`` with boundaries; without them the columns are None.
    county
        The county polygon in WGS84 (for the county figures).
    towns
        Township units (``code``, ``name_zh``, geometry), for a township table.

    Returns
    -------
    geopandas.GeoDataFrame
        EPSG:4326, one row per requested contour (``len(minutes)`` rows, always), columns
        ``minutes``, ``mode``, ``direction``, ``area_km2``, ``share_low_confidence`` (of the contour's
        cells, those whose time is low confidence; None when it has none), ``geometry``. Polygons follow
        the right-hand rule (exterior counter-clockwise). A contour with no reachable cell has
        ``area_km2 = 0`` and ``geometry = None``.
    """
    budget.require(budget.contour_seconds(surface.minutes.size, len(minutes)), "contours")
    geoms = [_contour(surface, m) for m in minutes]
    areas = [0.0 if g is None else round(float(g.area) / 1e6, 3) for g in geoms]
    low = _low_shares(surface, minutes)
    people = _contour_people(surface, minutes, population, county, towns)
    metric = gpd.GeoSeries(geoms, crs=surface.crs)
    wgs = metric.to_crs("EPSG:4326")
    oriented = [None if g is None or g.is_empty else shapely.orient_polygons(g, exterior_cw=False)
                for g in wgs]
    return gpd.GeoDataFrame(
        {"minutes": [int(m) for m in minutes], "mode": surface.mode, "direction": surface.direction,
         "area_km2": areas, "share_low_confidence": low, **people},
        geometry=gpd.GeoSeries(oriented, crs="EPSG:4326"), crs="EPSG:4326",
    )


def _low_shares(surface: Surface, minutes: list[int]) -> list[float | None]:
    """Per contour, the share of its cells whose time is low confidence (None for an empty contour)."""
    out: list[float | None] = []
    for m in minutes:
        with np.errstate(invalid="ignore"):
            inside = surface.minutes <= m
        n = int(inside.sum())
        out.append(None if n == 0 else round(float((inside & surface.low_confidence).sum()) / n, 4))
    return out


def _contour_people(surface: Surface, minutes: list[int], population: Population | None, county: Any | None,
                    towns: gpd.GeoDataFrame | None) -> dict[str, list[float | None]]:
    """People within each contour, in the county's part of it, and their share of the county's people."""
    if population is None:
        return {}
    empty: list[float | None] = [None] * len(minutes)
    out = {"population_within": empty, "county_population_within": empty, "share_county_population_within": empty}
    keys = geoms = None
    if towns is not None:
        keys = [unit_key(c, z) for c, z in zip(towns["code"], towns["name_zh"], strict=True)]
        frame = towns if towns.crs is not None else towns.set_crs("EPSG:4326")
        geoms = list(frame.geometry.to_crs(surface.crs))
    people = people_grid(population, surface.transform, surface.minutes.shape, keys=keys, geoms=geoms)
    if people is None:
        return out
    with np.errstate(invalid="ignore"):
        inside = [surface.minutes <= m for m in minutes]
    out["population_within"] = [float(people[c].sum()) for c in inside]
    if county is not None:
        from rasterio.features import rasterize

        geom = gpd.GeoSeries([county], crs="EPSG:4326").to_crs(surface.crs).iloc[0]
        mask = rasterize([(geom, 1)], out_shape=people.shape, transform=surface.transform, fill=0,
                         dtype="uint8").astype(bool)
        total = population.total if population.kind == "table" else county_people(population, geom)
        within = [float(people[c & mask].sum()) for c in inside]
        out["county_population_within"] = within
        out["share_county_population_within"] = [share(w, total) for w in within] if total else empty
    return out
