"""Geometry checks of an import: validity and repair, overlaps, gaps and county coverage."""

from __future__ import annotations

import math
from typing import Any

import geopandas as gpd
import numpy as np
import shapely
from shapely.validation import explain_validity

from .. import crs as crs_mod
from ..validate import SERVICE_BBOX


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
