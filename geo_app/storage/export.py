"""Stored reviews as GeoJSON and CSV, the same for every backend."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from typing import Any

#: CSV header of :func:`to_csv`.
CSV_COLUMNS = ("id", "created_at", "project", "sector", "verdict", "geometry_type", "lon", "lat",
               "data_version", "author", "reasons_zh", "reasons_en")
#: Leading characters that make a spreadsheet run a cell as a formula.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _reasons(report: Mapping[str, Any], lang: str) -> str:
    return "; ".join(x.get(lang, "") for x in report.get("reasons", []))


def to_geojson(rows: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Return reviews as a GeoJSON FeatureCollection (RFC 7946, WGS84, no ``crs``).

    Parameters
    ----------
    rows
        Reviews as a store's ``get``/``list`` return them.
    """
    feats = []
    for r in rows:
        report = r.get("report") or {}
        props = {k: r.get(k) for k in ("id", "created_at", "project", "sector", "verdict",
                                       "data_version", "author")}
        props["reasons_zh"] = _reasons(report, "zh")
        props["reasons_en"] = _reasons(report, "en")
        feats.append({"type": "Feature", "id": r.get("id"), "geometry": r.get("geometry"),
                      "properties": props})
    return {"type": "FeatureCollection", "features": feats}


def _safe(value: Any) -> Any:
    """Prefix text a spreadsheet would run as a formula with ``'``."""
    if isinstance(value, str) and value[:1] in _FORMULA_START:
        return "'" + value
    return value


def to_csv(rows: Iterable[Mapping[str, Any]]) -> str:
    """Return reviews as CSV text (one row per review; lon/lat of the site's basis point).

    Text cells that a spreadsheet would run as a formula (starting with ``= + - @``)
    are prefixed with ``'``; the coordinates are written as they are.

    Parameters
    ----------
    rows
        Reviews as a store's ``get``/``list`` return them.
    """
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for r in rows:
        report = r.get("report") or {}
        site = report.get("site") or {}
        geom = r.get("geometry") or {}
        lon, lat = site.get("lon"), site.get("lat")
        if lon is None and geom.get("type") == "Point":
            lon, lat = geom["coordinates"][:2]
        text = [r.get("id"), r.get("created_at"), r.get("project"), r.get("sector"), r.get("verdict"),
                geom.get("type")]
        tail = [r.get("data_version"), r.get("author"), _reasons(report, "zh"), _reasons(report, "en")]
        w.writerow([*map(_safe, text), lon, lat, *map(_safe, tail)])
    return buf.getvalue()
