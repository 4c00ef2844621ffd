"""Projected coordinates without a CRS: which Gauss–Krüger CRS puts them on the county line.

The candidates are the Gauss–Krüger CRSs that fit Meihekou (about 125.3–126.1°E): CGCS2000,
Xian 1980 and Beijing 1954, each in the 3° zone 42 (CM 126°E) and the 6° zones 21 (CM 123°E)
and 22 (CM 129°E), with and without the zone number before the easting. Their EPSG codes are
looked up by name in PROJ's database (:func:`candidates`), never typed in.

PROJ has no published datum transformation from Xian 1980 or Beijing 1954 to WGS84 for this
area: it uses a "ballpark" conversion (ellipsoid change only), which puts Xian 1980 about 2 m
from CGCS2000 here where the real difference is tens of metres. A county line of Amap's
accuracy cannot tell them apart, so a tie is refused with both named.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np
import shapely

from .. import crs as crs_mod

DATUMS = ("CGCS2000", "Xian 1980", "Beijing 1954")
PROJECTIONS = ("3-degree Gauss-Kruger zone 42", "3-degree Gauss-Kruger CM 126E", "Gauss-Kruger zone 21",
               "Gauss-Kruger CM 123E", "Gauss-Kruger zone 22", "Gauss-Kruger CM 129E")
#: Positional accuracy of the shipped county line (Amap's): vertices within it are "on the line",
#: and two CRSs that both keep the on-line vertices within it cannot be told apart.
BAND_M = 30.0
#: Datums PROJ converts to WGS84 by ellipsoid only (no published transformation here).
BALLPARK = ("Xian 1980", "Beijing 1954")


@lru_cache(maxsize=1)
def candidates() -> tuple[tuple[str, str], ...]:
    """``(EPSG:NNNN, name)`` of every candidate CRS, CGCS2000 first within each projection."""
    from pyproj.database import query_crs_info
    from pyproj.enums import PJType

    codes = {i.name: i.code for i in query_crs_info(auth_name="EPSG", pj_types=[PJType.PROJECTED_CRS])
             if not i.deprecated}
    return tuple((f"EPSG:{codes[n]}", n) for p in PROJECTIONS for d in DATUMS if (n := f"{d} / {p}") in codes)


def crs_name(code: str) -> str:
    """The name of a candidate (or any CRS PROJ knows)."""
    for c, n in candidates():
        if c == code:
            return n
    from pyproj import CRS

    return str(CRS.from_user_input(code).name)


def ballpark_warning(code: str) -> str | None:
    """A warning when ``code`` is a Xian 1980 or Beijing 1954 CRS (ellipsoid-only conversion)."""
    name = crs_name(code) if code.startswith("EPSG:") else ""
    datum = next((d for d in BALLPARK if name.startswith(d)), None)
    if datum is None:
        return None
    return (f"PROJ has no published {datum} → WGS84 transformation for this area and converts by ellipsoid only; "
            f"positions may be off by tens of metres (Xian 1980) to about 100 m (Beijing 1954)")


@lru_cache(maxsize=64)
def _transformer(code: str) -> Any:
    from pyproj import Transformer

    return Transformer.from_crs(code, crs_mod.METRIC_CRS, always_xy=True)


def _metric(xy: np.ndarray, code: str) -> tuple[np.ndarray, np.ndarray]:
    return _transformer(code).transform(xy[:, 0], xy[:, 1])


def _score(code: str, name: str, xy: np.ndarray, line_m: Any, zone: Any) -> tuple[dict[str, Any], np.ndarray]:
    x, y = _metric(xy, code)
    dist = shapely.distance(shapely.points(x, y), line_m)
    inside = shapely.contains_xy(zone, x, y) | (dist < 200)
    on = dist < BAND_M
    return ({"datum": code, "name": name, "on_boundary": float(np.mean(on)), "on_boundary_n": int(np.sum(on)),
             "median_boundary_m": round(float(np.median(dist)), 2), "inside": float(np.mean(inside))}, dist)


def _near(xy: np.ndarray, code: str, around: Any) -> bool:
    """Whether most of a small sample lands within 20 km of the county's box (cheap pre-filter)."""
    sample = xy[np.linspace(0, len(xy) - 1, min(len(xy), 200)).astype(int)]
    x, y = _metric(sample, code)
    ok = np.isfinite(x) & np.isfinite(y)
    if not ok.any():
        return False
    return bool(np.mean(shapely.contains_xy(around, x[ok], y[ok])) >= 0.5)


def detect_projected(xy: np.ndarray, line_m: Any, county_m: Any) -> dict[str, Any]:
    """Line projected coordinates up with the county under each candidate CRS.

    Parameters
    ----------
    xy
        Vertices as read (eastings, northings).
    line_m, county_m
        The county's outline and polygon in :data:`geo_app.crs.METRIC_CRS`.

    Returns
    -------
    dict
        ``kind`` ``projected``, ``best`` (an EPSG code, or None when nothing fits or two
        candidates tie), ``runner_up``, ``tie`` (the two codes when tied), ``candidates``
        (fit figures of those that land near the county), ``suggest`` and ``reason``.
    """
    x0, y0, x1, y1 = county_m.bounds
    around = shapely.box(x0 - 20_000, y0 - 20_000, x1 + 20_000, y1 + 20_000)
    shapely.prepare(county_m)
    scored = [_score(code, name, xy, line_m, county_m) for code, name in candidates() if _near(xy, code, around)]
    scored.sort(key=lambda s: (-s[0]["on_boundary"], -s[0]["inside"], s[0]["median_boundary_m"]))
    fits = [s[0] for s in scored]
    head = f"coordinates are not degrees (x up to {np.nanmax(np.abs(xy[:, 0])):,.0f}): a projected CRS"
    out: dict[str, Any] = {"kind": "projected", "best": None, "runner_up": None, "tie": [], "candidates": fits,
                           "suggest": fits[0]["datum"] if fits else None}
    if not fits:
        names = ", ".join(n for _, n in candidates()[:6])
        return {**out, "reason": f"{head}, and none of the Gauss–Krüger CRSs that fit Meihekou ({names}, …) puts "
                                 "them near the county"}
    top, top_d = scored[0]
    out["runner_up"] = fits[1]["datum"] if len(fits) > 1 else None
    if top["on_boundary_n"] < 5:
        both = " or ".join(f"{f['datum']} ({f['name']})" for f in fits[:2])
        return {**out, "reason": f"{head}; the data land in the county as {both} but do not follow its outline, so "
                                 "these cannot be told apart"}
    on = top_d < BAND_M
    if len(scored) > 1:
        second, second_d = scored[1]
        second_on = float(np.median(second_d[on]))
        second["median_on_line_m"] = round(second_on, 2)
        if second_on <= BAND_M:
            out["tie"] = [top["datum"], second["datum"]]
            return {**out, "reason": (
                f"{head}; {_figures(top)} as {top['datum']} ({top['name']}) and the same vertices lie a median "
                f"{second_on:.1f} m from it as {second['datum']} ({second['name']}): within the {BAND_M:.0f} m "
                "accuracy of the county line, so the two cannot be told apart")}
    runner = f"; runner-up {fits[1]['datum']} ({fits[1]['name']}): {_figures(fits[1])}" if len(fits) > 1 else ""
    return {**out, "best": top["datum"],
            "reason": f"{head}; {_figures(top)} as {top['datum']} ({top['name']}){runner}"}


def _figures(fit: dict[str, Any]) -> str:
    return (f"{fit['on_boundary']:.0%} of vertices lie within {BAND_M:.0f} m of the county boundary "
            f"(median {fit['median_boundary_m']:.1f} m)")
