"""Comparing surfaces: before/after reach, minutes saved, the township table and the contours."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from ...network.graph import TravelGraph
from ..accessibility import _metric, reach_table
from ..isochrones import isochrones
from ..population import Population, people_grid, share, unit_key
from ..surface import Surface


@dataclass(frozen=True)
class Comparison:
    """Before/after surfaces of one scenario, the minutes saved and the township table.

    Attributes
    ----------
    before, after
        Surfaces (minutes to the destination, direction ``to``).
    saved
        float32 minutes saved (before − after); NaN where either side is unreachable.
    table
        One row per unit and the county row: before, after, change, newly within.
    summary
        County-level figures (areas in km², minutes saved; people within the minutes before and
        after when a population is imported, with its year and source).
    """

    before: Surface
    after: Surface
    saved: np.ndarray
    table: pd.DataFrame
    summary: dict[str, Any]


TABLE_COLUMNS = ("level", "code", "name_zh", "name_en", "has_boundary", "basis", "before", "after", "change",
                 "before_share", "after_share", "newly_within", "population", "before_population_within",
                 "after_population_within", "population_year", "population_source")


def compare(before_graph: TravelGraph, after_graph: TravelGraph, towns: gpd.GeoDataFrame,
            boundary: gpd.GeoDataFrame, *, to_lonlat: tuple[float, float], mode: str = "best",
            minutes: float = 120, cell_m: float = 250, town_points: gpd.GeoDataFrame | None = None,
            county_seat: tuple[float, float] | None = None, population: Population | None = None,
            before: tuple[Surface, pd.DataFrame] | None = None) -> Comparison:
    """Compare the reach to a destination before and after a scenario.

    Parameters
    ----------
    before_graph, after_graph
        The base graph and the scenario graph.
    towns, boundary, to_lonlat, mode, minutes, cell_m, town_points, county_seat, population
        As for :func:`~geo_app.analysis.accessibility.reach_table`.
    before
        A precomputed ``reach_table`` result for ``before_graph`` (same arguments), to reuse.

    Returns
    -------
    Comparison
    """
    kw = {"to_lonlat": to_lonlat, "mode": mode, "minutes": minutes, "cell_m": cell_m,
          "town_points": town_points, "county_seat": county_seat, "population": population}
    s0, t0 = before if before is not None else reach_table(before_graph, towns, boundary, **kw)
    s1, t1 = reach_table(after_graph, towns, boundary, **kw)
    with np.errstate(invalid="ignore"):
        saved = (s0.minutes - s1.minutes).astype(np.float32)
    county = _county_mask(s0, boundary)
    summary = _summary(s0, s1, saved, county, minutes)
    summary.update(_people_summary(s0, s1, county, minutes, population, towns, t0, t1))
    return Comparison(s0, s1, saved, township_changes(t0, t1, minutes), summary)


def _people_summary(s0: Surface, s1: Surface, county: np.ndarray, minutes: float, population: Population | None,
                    towns: gpd.GeoDataFrame, t0: pd.DataFrame, t1: pd.DataFrame) -> dict[str, Any]:
    """People of the county within ``minutes`` before and after, newly within, and the shares of the county's people.

    The county's people and those within come from the reach tables' county rows (so they agree
    with them); the people newly within (within after, not before) are counted on the grid: a
    raster's cells, or a township table spread over the townships' polygons (None without them).
    """
    keys = ("county_population", "population_within_before", "population_within_after",
            "share_population_within_before", "share_population_within_after", "newly_within_population",
            "population_year", "population_source")
    if population is None:
        return dict.fromkeys(keys)
    c0, c1 = t0.iloc[-1], t1.iloc[-1]  # the county rows
    total, w0, w1 = c0["population"], c0["population_within"], c1["population_within"]
    people = people_grid(population, s0.transform, s0.minutes.shape,
                         keys=[unit_key(c, n) for c, n in zip(towns["code"], towns["name_zh"], strict=True)],
                         geoms=_metric(towns))
    newly = None
    if people is not None and w0 is not None:
        with np.errstate(invalid="ignore"):
            gained = county & (s1.minutes <= minutes) & ~(s0.minutes <= minutes)
        newly = float(people[gained].sum())
    return dict(zip(keys, (total, w0, w1, share(w0, total), share(w1, total), newly, population.year,
                           population.source), strict=True))


def _county_mask(surface: Surface, boundary: gpd.GeoDataFrame) -> np.ndarray:
    from rasterio.features import rasterize

    geom = boundary.to_crs(surface.crs).geometry.union_all()
    return rasterize([(geom, 1)], out_shape=surface.minutes.shape, transform=surface.transform, fill=0,
                     dtype="uint8").astype(bool)


def _summary(s0: Surface, s1: Surface, saved: np.ndarray, county: np.ndarray, minutes: float) -> dict[str, Any]:
    """County figures: areas within the limit before/after, area gaining, minutes saved."""
    cell_km2 = s0.cell_m ** 2 / 1e6
    with np.errstate(invalid="ignore"):
        within0, within1 = county & (s0.minutes <= minutes), county & (s1.minutes <= minutes)
        gain = county & (saved > 0.05)
        slower = county & (saved < -0.05)
    vals = saved[county & np.isfinite(saved)]
    bins = [(0.05, 5), (5, 15), (15, 30), (30, math.inf)]
    return {
        "county_km2": _r(county.sum() * cell_km2), "within_before_km2": _r(within0.sum() * cell_km2),
        "within_after_km2": _r(within1.sum() * cell_km2),
        "newly_within_km2": _r((within1 & ~within0).sum() * cell_km2),
        "improved_km2": _r(gain.sum() * cell_km2), "slower_km2": _r(slower.sum() * cell_km2),
        "max_saved_min": _r(vals.max()) if vals.size else None,
        "mean_saved_min": _r(vals.mean()) if vals.size else None,
        "saved_bins_km2": [{"from": lo, "to": None if math.isinf(hi) else hi,
                            "km2": _r((county & (saved > lo) & (saved <= hi)).sum() * cell_km2)}
                           for lo, hi in bins],
        # Of the county's cells, those whose time rests mostly on the off-network assumption.
        **{f"share_low_confidence_{k}": round(float((county & s.low_confidence).sum()) / max(1, int(county.sum())), 4)
           for k, s in (("before", s0), ("after", s1))},
    }


def _r(x: Any, nd: int = 1) -> float | None:
    x = float(x)
    return round(x, nd) if math.isfinite(x) else None


def township_changes(before: pd.DataFrame, after: pd.DataFrame, minutes: float) -> pd.DataFrame:
    """Join two reach tables: before, after, change (negative = faster) and ``newly_within``.

    A unit with a boundary is compared on its median minutes; one without, on its point (seat).
    """
    rows = []
    for b, a in zip(before.to_dict("records"), after.to_dict("records"), strict=True):
        basis = "median" if b.get("median") is not None or a.get("median") is not None else "seat_minutes"
        v0, v1 = b.get(basis), a.get(basis)
        change = None if v0 is None or v1 is None else round(v1 - v0, 1)
        newly = v1 is not None and v1 <= minutes and (v0 is None or v0 > minutes)
        if b.get("share_area_within") is not None and a.get("share_area_within") is not None:
            newly = newly or (b["share_area_within"] < 1.0 <= a["share_area_within"])
        rows.append({"level": b["level"], "code": b["code"], "name_zh": b["name_zh"], "name_en": b["name_en"],
                     "has_boundary": b["has_boundary"], "basis": basis if v0 is not None or v1 is not None else None,
                     "before": v0, "after": v1, "change": change, "before_share": b.get("share_area_within"),
                     "after_share": a.get("share_area_within"), "newly_within": bool(newly),
                     "population": b.get("population"), "before_population_within": b.get("population_within"),
                     "after_population_within": a.get("population_within"),
                     "population_year": b.get("population_year"), "population_source": b.get("population_source")})
    table = pd.DataFrame(rows, columns=list(TABLE_COLUMNS)).astype(object)
    return table.where(pd.notna(table), None)


def boundaries(comparison: Comparison, minutes: float, county: Any | None = None) -> gpd.GeoDataFrame:
    """The ``minutes`` contour before and after (WGS84), optionally clipped to the county polygon."""
    rows = []
    for label, surf in (("before", comparison.before), ("after", comparison.after)):
        iso = isochrones(surf, [int(minutes)])
        iso["state"] = label
        rows.append(iso)
    out = gpd.GeoDataFrame(pd.concat(rows, ignore_index=True), crs="EPSG:4326")
    if county is not None:
        out["geometry"] = out.geometry.intersection(county)
        out["area_km2"] = (out.geometry.to_crs("EPSG:32651").area.fillna(0) / 1e6).round(1)
    return out


def to_geotiff(comparison: Comparison, path: Path | str) -> Path:
    """Write the minutes-saved surface as a float32 GeoTIFF (EPSG:32651, nodata NaN)."""
    from ..surface import to_geotiff as write

    return write(replace(comparison.after, minutes=comparison.saved), path)


def table_rows(comparison: Comparison) -> list[dict[str, Any]]:
    """Township rows first, the county row last, JSON-ready (None for missing)."""
    return comparison.table.to_dict(orient="records")
