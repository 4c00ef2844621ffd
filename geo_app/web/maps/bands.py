"""Time bands and township choropleths, with legend classes that cover every value drawn."""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

import folium
import geopandas as gpd

from ...i18n import text
from .numbers import fmt_km2, fmt_minutes, fmt_share

#: Sequential colours for contours/bands: fast (green) to slow (red); 120 min sits at the break.
BAND_COLORS = ["#1a9850", "#91cf60", "#d9ef8b", "#fc8d59", "#d73027", "#a50026"]
#: Colour of a unit with no value (no boundary, or nothing reachable).
NO_VALUE_COLOR = "#cccccc"


def band_classes(limits: Sequence[float]) -> list[dict[str, Any]]:
    """Legend classes of time bands: ``≤ l`` for each limit, then ``> last`` (the rest).

    Every cell is in exactly one class, so a map drawn with these classes has no blank area:
    the land slower than the last limit (or not reached) is the ``> last`` class.

    Returns
    -------
    list of dict
        ``{"label", "color", "upper"}``; ``upper`` is None for the last class.
    """
    out = [{"label": f"≤ {fmt_minutes(v)}", "color": BAND_COLORS[min(i, len(BAND_COLORS) - 1)], "upper": v}
           for i, v in enumerate(limits)]
    out.append({"label": f"> {fmt_minutes(limits[-1])}", "color": BAND_COLORS[min(len(limits), len(BAND_COLORS) - 1)],
                "upper": None})
    return out


def band_color(minutes: float | None, limits: Sequence[float]) -> str:
    """The legend colour of a value: its band (``> last`` beyond the last), grey when missing."""
    if minutes is None:
        return NO_VALUE_COLOR
    for cls in band_classes(limits):
        if cls["upper"] is None or minutes <= cls["upper"]:
            return cls["color"]
    return NO_VALUE_COLOR  # pragma: no cover - the last class has no upper bound


#: The Leaflet pane of bands and choropleths: under the roads, rail and markers drawn for context.
BANDS_PANE = "bands"


def bands_pane(m: folium.Map) -> str:
    """Add the bands pane to a map once (z-index 350, below the overlay pane's 400); return its name."""
    if not getattr(m, "_geo_bands_pane", False):
        folium.map.CustomPane(BANDS_PANE, z_index=350, pointer_events=True).add_to(m)
        m._geo_bands_pane = True  # type: ignore[attr-defined]
    return BANDS_PANE


def _band_feature(geom: Any, props: dict[str, Any], color: str, group: folium.FeatureGroup, pane: str) -> None:
    folium.GeoJson(
        {"type": "Feature", "geometry": geom.__geo_interface__, "properties": props}, pane=pane,
        style_function=lambda _f, c=color: {"color": c, "weight": 1, "fillColor": c, "fillOpacity": 0.45},
        tooltip=folium.GeoJsonTooltip(fields=["band", "area"], aliases=["", "km²"]),
    ).add_to(group)


def add_bands(m: folium.Map, bands: gpd.GeoDataFrame, *, name: str, show: bool,
              beyond: Any = None) -> folium.FeatureGroup:
    """Draw nested contour polygons (largest first, so the fastest band sits on top).

    Parameters
    ----------
    bands
        Contours with ``minutes`` and ``area_km2`` (WGS84).
    beyond
        The area the bands are drawn over (e.g. the county, WGS84). The part of it outside the
        largest contour is drawn as the ``> last`` class, so nothing in it is left blank.
    """
    group = folium.FeatureGroup(name=name, show=show)
    pane = bands_pane(m)
    drawable = [g is not None and not g.is_empty for g in bands.geometry]
    ordered = bands[drawable].sort_values("minutes", ascending=False)
    minutes = sorted(bands["minutes"].tolist())
    classes = band_classes(minutes) if minutes else []
    if beyond is not None and classes:
        covered = bands[drawable].geometry.union_all() if any(drawable) else None
        rest = beyond if covered is None else beyond.difference(covered)
        if not rest.is_empty:
            area = float(gpd.GeoSeries([rest], crs="EPSG:4326").to_crs("EPSG:32651").area.iloc[0]) / 1e6
            last = classes[-1]
            _band_feature(rest, {"band": last["label"], "area": fmt_km2(area)}, last["color"], group, pane)
    for _, row in ordered.iterrows():
        cls = classes[minutes.index(row["minutes"])]
        _band_feature(row.geometry, {"band": cls["label"], "area": fmt_km2(float(row["area_km2"]))}, cls["color"],
                      group, pane)
    group.add_to(m)
    return group


def add_choropleth(m: folium.Map, towns: gpd.GeoDataFrame, table: Any, *, lang: str, name: str,
                   limits: Sequence[float] = (60, 90, 120, 150, 180), minutes: float = 120) -> folium.FeatureGroup:
    """Colour township polygons by their median minutes (empty when no boundary is loaded).

    The colours are :func:`band_classes` of ``limits``, the legend's classes.
    """
    drawn = towns.geometry.notna().any()
    group = folium.FeatureGroup(name=name + ("" if drawn else text("acc_layer_no_boundaries", lang)))
    by_code = {str(r["code"]): r for r in table.to_dict(orient="records")}
    for _, town in towns[towns.geometry.notna()].iterrows():
        row = by_code.get(str(town.get("code")), {})
        med = row.get("median")
        color = band_color(med, limits)
        props = {"name": html.escape(str(town.get("name_zh"))), "median": fmt_minutes(med),
                 "share": fmt_share(row.get("share_area_within"))}
        folium.GeoJson({"type": "Feature", "geometry": town.geometry.__geo_interface__, "properties": props},
                       pane=bands_pane(m),
                       style_function=lambda _f, c=color: {
                           "color": "#34495e", "weight": 1, "fillColor": c, "fillOpacity": 0.6},
                       tooltip=folium.GeoJsonTooltip(fields=["name", "median", "share"],
                                                     aliases=["", text("acc_tip_median", lang),
                                                              f"≤{fmt_minutes(minutes)}"])
                       ).add_to(group)
    group.add_to(m)
    return group
