"""Which datum a file is in (declared, or detected against the county boundary) and conversion to WGS84."""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import numpy as np
import shapely

from .. import crs as crs_mod
from ..errors import GeometryError
from ..i18n import Message, Value
from .gauss_kruger import ballpark_warning, detect_projected
from .sources import Source


def _vertices(gdf: gpd.GeoDataFrame, limit: int = 20_000) -> np.ndarray:
    """All vertices of the frame's geometries, evenly subsampled to ``limit``."""
    xy = shapely.get_coordinates(gdf.geometry.values)
    if len(xy) > limit:
        xy = xy[np.linspace(0, len(xy) - 1, limit).astype(int)]
    return xy


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
    county's outline) and those inside the county. Projected coordinates are tried against
    the Gauss–Krüger CRSs that fit Meihekou (:func:`.gauss_kruger.detect_projected`).

    Parameters
    ----------
    gdf
        Raw frame (coordinates as read).
    boundary
        The county boundary in WGS84.

    Returns
    -------
    dict
        ``kind`` (``degrees`` or ``projected``), ``best`` (``wgs84``, ``gcj02``, ``bd09``, an
        ``EPSG:NNNN`` Gauss–Krüger code, or None when ambiguous), ``runner_up``,
        ``candidates`` (fit figures), ``reason`` and ``suggest`` (a code to try, or None);
        projected results also give ``tie`` (two codes that cannot be told apart).
    """
    xy = _vertices(gdf)
    if len(xy) == 0:
        raise GeometryError("no coordinates to detect the datum from", field="file")
    county_m = boundary.to_crs(crs_mod.METRIC_CRS).geometry.union_all()
    line_m = county_m.boundary
    if np.nanmax(np.abs(xy[:, 0])) > 180 or np.nanmax(np.abs(xy[:, 1])) > 90:
        return detect_projected(xy, line_m, county_m)
    cands = [_fit(xy, d, line_m, county_m) for d in ("wgs84", "gcj02", "bd09")]
    ranked = sorted(cands, key=lambda c: (c["on_boundary"], c["inside"]), reverse=True)
    top, second = ranked[0], ranked[1]
    if top["on_boundary_n"] >= 5 and top["on_boundary"] >= 3 * max(second["on_boundary"], 0.005):
        reason = (f"{top['on_boundary']:.0%} of vertices lie within 30 m of the county boundary as {top['datum']}, "
                  f"{second['on_boundary']:.0%} as {second['datum']}")
        return {"kind": "degrees", "best": top["datum"], "runner_up": second["datum"], "candidates": cands,
                "suggest": None, "reason": reason}
    reason = ("the data do not line up with the county boundary, so WGS84, GCJ-02 and BD-09 (300–700 m apart) "
              "cannot be told apart")
    return {"kind": "degrees", "best": None, "runner_up": None, "candidates": cands, "suggest": None,
            "reason": reason}


def _hint(detection: dict[str, Any]) -> str:
    """What to pass as ``--crs`` after a refusal."""
    if detection.get("tie"):
        return " or ".join(f"--crs {c}" for c in detection["tie"])
    sug = detection.get("suggest")
    return f"--crs (e.g. --crs {sug})" if sug else "--crs wgs84|gcj02|bd09|EPSG:NNNN"


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
            info["warnings"].append(Message("imp_crs_overrides", given=given, declared=src.declared_crs))
    elif src.declared_crs is not None:
        used = src.declared_crs
    elif detection["best"] is not None:
        used = "EPSG:4326" if detection["best"] == "wgs84" else detection["best"]
        info["warnings"].append(Message("imp_crs_detected", best=detection["best"], reason=Value(detection["reason"])))
    else:
        raise GeometryError(key="imp_crs_refused", field="crs", params={
            "name": src.name, "reason": Value(detection["reason"]), "hint": _hint(detection),
            "choices": detection.get("tie") or ([detection["suggest"]] if detection.get("suggest") else
                                                ["wgs84", "gcj02", "bd09", "EPSG:NNNN"])})
    warning = ballpark_warning(used)
    if warning:
        info["warnings"].append(warning)
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
