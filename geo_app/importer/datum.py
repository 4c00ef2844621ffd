"""Which datum a file is in (declared, or detected against the county boundary) and conversion to WGS84."""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import numpy as np
import shapely

from .. import crs as crs_mod
from ..errors import GeometryError
from .sources import Source


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
