"""Reach to a destination (default: Changchun) over the county, with a per-township table.

Every township unit is listed, also those without a boundary ("no boundary"); a county row
(from the boundary layer) is always added. Output never holds NaN or inf: missing is None.
With an imported population (:mod:`geo_app.population`) every row also counts its people and
those within the minutes (:mod:`.population`); each row says the figures' year and source.
Nothing here imports Flask.
"""

from __future__ import annotations

import hashlib
import math
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
from rasterio.features import rasterize

from ..network.cache import GraphCache
from .population import Population, people_grid, people_within, share, unit_key
from .surface import Surface, sample, travel_time_surface

POPULATION_COLUMNS = ("population", "population_within", "share_population_within", "population_year",
                      "population_source")
COLUMNS = ("level", "code", "name_zh", "name_en", "has_boundary", "share_area_within", "min", "median", "max",
           "share_beyond_limit", "share_low_confidence", "seat_minutes", "status", *POPULATION_COLUMNS)
SURFACE_MAX_MINUTES = 240


#: Rasterised unit masks by (geometry, grid): the county and township shapes of a reach table repeat
#: on every request over the same lattice grid. Bounded in entries and bytes (read-only arrays).
_MASKS = GraphCache(max_bytes=32 * 2**20, max_entries=256)


def _mask(surface: Surface, geom: Any) -> np.ndarray:
    """The cells whose centre lies in ``geom`` (all touched cells for tiny shapes); read-only, cached."""
    shape = surface.minutes.shape
    key = ("mask", hashlib.sha1(geom.wkb, usedforsecurity=False).hexdigest(), tuple(surface.transform)[:6], shape)

    def compute() -> tuple[np.ndarray, int]:
        mask = np.zeros(shape, dtype=bool)
        for touched in (False, True):
            mask = rasterize([(geom, 1)], out_shape=shape, transform=surface.transform, fill=0,
                             all_touched=touched, dtype="uint8").astype(bool)
            if mask.any():
                break
        mask.setflags(write=False)
        return mask, mask.nbytes

    return _MASKS.get_or_compute(key, compute)


def _num(x: float | None, nd: int = 1) -> float | None:
    """Round a finite number; None for None/NaN/inf."""
    if x is None or not math.isfinite(float(x)):
        return None
    return round(float(x), nd)


def _stats(values: np.ndarray, minutes: float, low: np.ndarray | None = None) -> dict[str, Any]:
    """Share of cells within ``minutes`` and min/median/max over all of the unit's cells.

    Cells beyond the surface's limit (NaN) count as slower than any reachable cell: they stay in
    the median, ``max`` is None when there are any, and ``share_beyond_limit`` says how many.
    ``share_low_confidence`` is the share of the unit's cells whose time is low confidence (``low``,
    :attr:`Surface.low_confidence`); cells beyond the limit are not counted in it.
    """
    empty = {"share_area_within": None, "min": None, "median": None, "max": None, "share_beyond_limit": None,
             "share_low_confidence": None}
    if values.size == 0:
        return empty
    finite = np.isfinite(values)
    slow = np.where(finite, values, np.inf)
    beyond = 1.0 - float(finite.sum()) / values.size
    return {"share_area_within": round(float((slow <= minutes).sum()) / values.size, 4),
            "min": _num(slow.min()), "median": _num(np.median(slow)),
            "max": _num(slow.max()) if beyond == 0 else None, "share_beyond_limit": round(beyond, 4),
            "share_low_confidence": None if low is None else round(float(low.sum()) / values.size, 4)}


def _seat(surface: Surface, points: dict[str, tuple[float, float]], code: str | None) -> float | None:
    """Minutes at the unit's point, when there is one."""
    pt = points.get(code) if code else None
    return None if pt is None else _num(sample(surface, *pt))


def _points_by_code(town_points: gpd.GeoDataFrame | None) -> dict[str, tuple[float, float]]:
    """Map code -> (lon, lat) from a point layer."""
    if town_points is None or len(town_points) == 0:
        return {}
    pts = town_points.to_crs("EPSG:4326") if town_points.crs else town_points
    return {str(c): (g.x, g.y) for c, g in zip(pts["code"], pts.geometry, strict=True)
            if g is not None and not g.is_empty}


def reach_inputs(layers: Any) -> dict[str, Any]:
    """The layers a reach table reads, from a layer registry or a name → GeoDataFrame mapping.

    Returns
    -------
    dict
        ``towns``, ``boundary``, ``town_points``, ``county_seat`` (Meihekou's centre) and
        ``population`` (the data folder's imported population, or None), ready to pass to
        :func:`reach_table` as keywords.
    """
    from ..population import load_population
    from .routing import resolve_place

    get = layers.frame if hasattr(layers, "frame") else layers.__getitem__
    population = (load_population(layers.data_dir) if hasattr(layers, "data_dir")
                  else layers.get("population") if hasattr(layers, "get") else None)
    return {"towns": get("towns"), "boundary": get("boundary"), "town_points": get("town_points"),
            "county_seat": resolve_place("meihekou", get("places")), "population": population}


def reach_table(graph: Any, towns: gpd.GeoDataFrame, boundary: gpd.GeoDataFrame, *,
                to_lonlat: tuple[float, float], mode: str = "best", minutes: float = 120, cell_m: float = 250,
                town_points: gpd.GeoDataFrame | None = None, county_seat: tuple[float, float] | None = None,
                population: Population | None = None) -> tuple[Surface, pd.DataFrame]:
    """Travel time to ``to_lonlat`` over the county and a per-township table.

    Parameters
    ----------
    graph
        :class:`~geo_app.network.graph.TravelGraph`.
    towns
        Township units (``code``, ``name_zh``, ``name_en``; geometry may be null).
    boundary
        County boundary (one polygon; ``adcode`` 220581).
    to_lonlat
        Destination (e.g. Changchun), WGS84.
    mode
        ``car``, ``rail`` or ``best``.
    minutes
        Threshold for ``share_area_within``.
    cell_m
        Cell size in metres.
    town_points
        Optional unit points keyed by ``code`` (``seat_minutes``).
    county_seat
        Optional county centre for the county row's ``seat_minutes``.
    population
        Optional imported population: ``population`` and ``population_within`` (people within
        ``minutes``) per row. A raster counts the people of the unit's cells; a township table
        gives each township's own figure, spread over its polygon by area for the share within
        (none without a boundary).

    Returns
    -------
    tuple
        ``(surface, table)``; the surface is direction ``to`` over the county (cells up to 240 min);
        the table has one row per unit, then the county row, columns :data:`COLUMNS`.
    """
    bnd = boundary.to_crs("EPSG:4326")
    x0, y0, x1, y1 = bnd.total_bounds
    pad = 0.02
    surface = travel_time_surface(graph, to_lonlat, mode=mode, direction="to", cell_m=cell_m,
                                  bounds=(x0 - pad, y0 - pad, x1 + pad, y1 + pad),
                                  max_minutes=max(SURFACE_MAX_MINUTES, minutes))
    points = _points_by_code(town_points)
    records, geoms = towns.to_dict("records"), _metric(towns)
    raster = population if population is not None and population.kind == "raster" else None
    people = people_grid(raster, surface.transform, surface.minutes.shape)
    rows = [_unit_row(surface, row, geom, minutes, points, population, people)
            for row, geom in zip(records, geoms, strict=True)]
    rows.append(_county_row(surface, bnd, minutes, county_seat, population, people, rows))
    table = pd.DataFrame(rows, columns=list(COLUMNS)).astype(object)
    return surface, table.where(pd.notna(table), None)


def _metric(frame: gpd.GeoDataFrame) -> list[Any]:
    """Geometries in EPSG:32651 (None stays None)."""
    if frame.crs is None:
        frame = frame.set_crs("EPSG:4326")
    return list(frame.geometry.to_crs("EPSG:32651"))


def _unit_row(surface: Surface, row: dict[str, Any], geom: Any, minutes: float,
              points: dict[str, tuple[float, float]], population: Population | None,
              people: np.ndarray | None) -> dict[str, Any]:
    """One township row."""
    raw = row.get("code")
    code = None if raw is None or (isinstance(raw, float) and math.isnan(raw)) else str(raw)
    has = geom is not None and not geom.is_empty
    base = {"level": "township", "code": code, "name_zh": row.get("name_zh"), "name_en": row.get("name_en"),
            "has_boundary": has, "seat_minutes": _seat(surface, points, code)}
    pop_key = unit_key(code, row.get("name_zh"))
    if not has:
        return {**base, "share_area_within": None, "min": None, "median": None, "max": None,
                "share_beyond_limit": None, "share_low_confidence": None, "status": "no boundary",
                **_people(population, None, None, pop_key)}
    mask = _mask(surface, geom)
    if population is not None and population.kind == "table":
        counted = _spread_share(population, pop_key, surface.minutes[mask], minutes)
    else:
        counted = people_within(people, surface.minutes, minutes, mask)
    return {**base, **_stats(surface.minutes[mask], minutes, surface.low_confidence[mask]), "status": "ok",
            **_people(population, *counted, pop_key)}


def _spread_share(population: Population | None, key: str, values: np.ndarray,
                  minutes: float) -> tuple[float | None, float | None]:
    """A township table's figure, and the part of it within ``minutes`` when spread evenly over the cells."""
    if population is None or key not in population.by_code:
        return None, None
    total = population.by_code[key]["population"]
    if total is None or values.size == 0:
        return total, None
    with np.errstate(invalid="ignore"):
        return total, total * float((values <= minutes).sum()) / values.size


def _people(population: Population | None, total: float | None, within: float | None,
            key: str | None = None) -> dict[str, Any]:
    """The population columns of a row (all None without data)."""
    if population is None:
        return dict.fromkeys(POPULATION_COLUMNS)
    row = population.by_code.get(key) if key and population.kind == "table" else None
    if row is not None and total is None:
        total = row["population"]
    year, source = (row["year"], row["source"]) if row is not None else (population.year, population.source)
    if population.kind == "table" and row is None and key is not None:
        year = source = None  # a township the table does not list
    return {"population": total, "population_within": within, "share_population_within": share(within, total),
            "population_year": year, "population_source": source}


def _county_row(surface: Surface, boundary: gpd.GeoDataFrame, minutes: float, seat: tuple[float, float] | None,
                population: Population | None, people: np.ndarray | None,
                units: list[dict[str, Any]]) -> dict[str, Any]:
    """The county row (code 220581 unless the boundary says otherwise).

    With a township table the county's people are the table's total, and those within the minutes
    the sum over the townships, known only when every township with people has a boundary.
    """
    rec = boundary.iloc[0]
    geom = boundary.to_crs("EPSG:32651").geometry.union_all()
    code = str(rec.get("adcode", "220581")) if "adcode" in boundary else "220581"
    mask = _mask(surface, geom)
    if population is not None and population.kind == "table":
        listed = [u["population_within"] for u in units if u["population"] is not None]
        within = None if not listed or None in listed else float(sum(listed))
        counted: tuple[float | None, float | None] = (population.total, within)
    else:
        counted = people_within(people, surface.minutes, minutes, mask)
    return {"level": "county", "code": code, "name_zh": rec.get("name_zh", "梅河口市"), "name_en": "Meihekou",
            "has_boundary": True, **_stats(surface.minutes[mask], minutes, surface.low_confidence[mask]),
            "seat_minutes": None if seat is None else _num(sample(surface, *seat)), "status": "ok",
            **_people(population, *counted)}
