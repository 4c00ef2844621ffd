"""Stored reviews as GeoJSON and CSV, the same for every backend.

Both carry what a planner files: the township, minutes to Changchun by car, rail and the best
mode, whether that is within 2 hours, and the verdict as its code and in Chinese. Times are
ISO 8601 in the configured zone with its offset (``2025-05-01T18:03:12+08:00``).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from typing import Any

from ..i18n import translate_value
from ..reports.timefmt import iso_time

#: CSV header of :func:`to_csv`.
CSV_COLUMNS = ("id", "created_at", "project", "sector", "verdict", "verdict_zh", "township", "minutes_car",
               "minutes_rail", "minutes_best", "within_2h", "geometry_type", "lon", "lat", "data_version",
               "rules_version", "author", "reasons_zh", "reasons_en")
#: Leading characters that make a spreadsheet run a cell as a formula.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _reasons(report: Mapping[str, Any], lang: str) -> str:
    return "; ".join(x.get(lang, "") for x in report.get("reasons", []))


def planner_fields(report: Mapping[str, Any]) -> dict[str, Any]:
    """The township (in Chinese), minutes to Changchun by mode, within 2 h and the verdict in Chinese."""
    found = {f.get("key"): f for f in report.get("findings") or []}

    def value(key: str) -> Any:
        return (found.get(key) or {}).get("value")

    township = value("township")
    return {"verdict_zh": report.get("verdict_zh"),
            "township": translate_value(str(township), "zh") if township is not None else None,
            "minutes_car": value("changchun_car"), "minutes_rail": value("changchun_rail"),
            "minutes_best": value("changchun_best"), "within_2h": value("changchun_within_2h"),
            "rules_version": report.get("rules_version")}


def to_geojson(rows: Iterable[Mapping[str, Any]], *, tz: str | None = None) -> dict[str, Any]:
    """Return reviews as a GeoJSON FeatureCollection (RFC 7946, WGS84, no ``crs``).

    Parameters
    ----------
    rows
        Reviews as a store's ``get``/``list`` return them.
    tz
        IANA zone of ``created_at`` (default Asia/Shanghai).
    """
    feats = []
    for r in rows:
        report = r.get("report") or {}
        props = {k: r.get(k) for k in ("id", "created_at", "project", "sector", "verdict",
                                       "data_version", "author")}
        props["created_at"] = iso_time(r.get("created_at"), tz)
        props.update(planner_fields(report))
        props["reasons_zh"] = _reasons(report, "zh")
        props["reasons_en"] = _reasons(report, "en")
        feats.append({"type": "Feature", "id": r.get("id"), "geometry": r.get("geometry"),
                      "properties": props})
    return {"type": "FeatureCollection", "features": feats}


def _yes_no(value: Any) -> str | None:
    """``true``/``false`` for a spreadsheet filter; empty when unknown."""
    return None if value is None else ("true" if value else "false")


def _safe(value: Any) -> Any:
    """Prefix text a spreadsheet would run as a formula with ``'``."""
    if isinstance(value, str) and value[:1] in _FORMULA_START:
        return "'" + value
    return value


def to_csv(rows: Iterable[Mapping[str, Any]], *, tz: str | None = None) -> str:
    """Return reviews as CSV text (one row per review; lon/lat of the site's basis point).

    Text cells that a spreadsheet would run as a formula (starting with ``= + - @``)
    are prefixed with ``'``; the coordinates and minutes are written as they are. The text
    has no byte-order mark: a download adds it (:data:`geo_app.reports.tables.BOM`).

    Parameters
    ----------
    rows
        Reviews as a store's ``get``/``list`` return them.
    tz
        IANA zone of ``created_at`` (default Asia/Shanghai).
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
        extra = planner_fields(report)
        head = [r.get("id"), iso_time(r.get("created_at"), tz), r.get("project"), r.get("sector"), r.get("verdict"),
                extra["verdict_zh"], extra["township"]]
        numbers = [extra["minutes_car"], extra["minutes_rail"], extra["minutes_best"], _yes_no(extra["within_2h"])]
        tail = [r.get("data_version"), extra["rules_version"], r.get("author"), _reasons(report, "zh"),
                _reasons(report, "en")]
        w.writerow([*map(_safe, head), *numbers, _safe(geom.get("type")), lon, lat, *map(_safe, tail)])
    return buf.getvalue()
