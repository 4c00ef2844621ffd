"""Folium map builders: offline Leaflet, layers with zh/en popups, page fragments.

Every map built here references only this app's own URLs: Leaflet's JS and CSS are
served from the installed XStatic package, and the basemap is off unless a tile URL
is configured.
"""

from __future__ import annotations

import html
import json
import math
from typing import Any

import folium
import geopandas as gpd

from ..layers import LayerRegistry, LayerSpec
from .assets import vendor_url

#: Centre of Meihekou's data extent, used only as the initial view before fitBounds.
DEFAULT_BOUNDS = [[41.6, 124.3], [44.0, 126.7]]


def base_map(*, tiles_url: str | None = None, tiles_attr: str | None = None,
             bounds: list[list[float]] | None = None) -> folium.Map:
    """Create a folium map that loads nothing from the internet.

    Parameters
    ----------
    tiles_url
        Optional online tile URL template (opt-in; off by default).
    tiles_attr
        Attribution for the tiles (required by Leaflet when ``tiles_url`` is set).
    bounds
        ``[[south, west], [north, east]]`` to fit.

    Returns
    -------
    folium.Map
    """
    m = folium.Map(location=[42.55, 125.65], zoom_start=8, tiles=None, control_scale=True)
    m.default_js = [("leaflet", vendor_url("leaflet", "leaflet.js"))]
    m.default_css = [("leaflet_css", vendor_url("leaflet", "leaflet.css"))]
    if tiles_url:
        folium.TileLayer(tiles=tiles_url, attr=tiles_attr or tiles_url, name="basemap",
                         control=False).add_to(m)
    # Fit at once, not animated: an animated zoom right after load moves every shape for a
    # quarter of a second, and a click in that time lands on nothing (seen in browser tests).
    fit = folium.FitBounds(bounds or DEFAULT_BOUNDS)
    fit.options["animate"] = False
    fit.add_to(m)
    return m


def _clean(value: Any) -> Any:
    """Make a property value JSON-safe and HTML-escaped for popups."""
    if value is None:
        return ""
    if isinstance(value, float):
        return "" if not math.isfinite(value) else (int(value) if value.is_integer() else round(value, 4))
    if isinstance(value, bool | int):
        return value
    return html.escape(str(value))


def popup_data(spec: LayerSpec, gdf: gpd.GeoDataFrame) -> dict[str, Any]:
    """Return the drawable features of a layer as GeoJSON with escaped popup fields."""
    fields = list(spec.popup.get("fields", []))
    label = spec.label_field
    keep = [f for f in dict.fromkeys([*fields, label]) if f]
    feats = []
    for row in gdf.itertuples(index=False):
        geom = row.geometry
        if geom is None or geom.is_empty:
            continue
        rowd = row._asdict()
        props = {k: _clean(rowd.get(k)) for k in keep}
        feats.append({"type": "Feature", "properties": props, "geometry": geom.__geo_interface__})
    return {"type": "FeatureCollection", "features": feats}


def add_layer(m: folium.Map, spec: LayerSpec, gdf: gpd.GeoDataFrame, lang: str, *,
              interactive: bool = True) -> folium.FeatureGroup:
    """Add one registry layer to the map as a named feature group.

    Layers with no drawable feature are still added (empty), so the layer control
    lists every layer; the page's side panel says why they are empty. A layer added
    with ``interactive=False`` has no popup and lets clicks through to the map (Leaflet
    popups stop the map's click event), as click-to-compute pages need.
    """
    data = popup_data(spec, gdf)
    n = len(data["features"])
    suffix = "" if n else (" （无几何）" if lang == "zh" else " (no geometry)")
    group = folium.FeatureGroup(name=spec.title(lang) + suffix, show=spec.show, overlay=True)
    if n:
        fields = [f for f in spec.popup.get("fields", [])]
        aliases = spec.popup.get("aliases_en" if lang == "en" else "aliases_zh", fields)
        style = dict(spec.style)
        kwargs: dict[str, Any] = {} if interactive else {"interactive": False}
        if spec.geometry == "point":
            kwargs["marker"] = folium.CircleMarker(
                radius=style.pop("radius", 5), color=style.get("color"), fill=True,
                fill_color=style.get("fillColor"), fill_opacity=style.get("fillOpacity", 0.9),
                weight=style.get("weight", 2))
        folium.GeoJson(
            data,
            name=spec.name,
            style_function=lambda _f, s=style: s,
            highlight_function=(lambda _f: {"weight": 4}) if spec.geometry != "point" and interactive else None,
            popup=folium.GeoJsonPopup(fields=fields, aliases=list(aliases), localize=False, labels=True,
                                      max_width=360) if fields and interactive else None,
            tooltip=folium.GeoJsonTooltip(fields=[spec.label_field], labels=False)
            if interactive and spec.label_field in data["features"][0]["properties"] else None,
            **kwargs,
        ).add_to(group)
    group.add_to(m)
    return group


def overview_map(registry: LayerRegistry, *, lang: str, tiles_url: str | None = None,
                 tiles_attr: str | None = None) -> folium.Map:
    """Build the overview map with every registry layer and a layer control."""
    b = registry.frame("metro_counties").total_bounds if "metro_counties" in registry.specs else None
    bounds = [[b[1], b[0]], [b[3], b[2]]] if b is not None else None
    m = base_map(tiles_url=tiles_url, tiles_attr=tiles_attr, bounds=bounds)
    for spec in registry:
        add_layer(m, spec, registry.frame(spec.name), lang)
    folium.LayerControl(collapsed=False, position="topright").add_to(m)
    return m


def render_parts(m: folium.Map, attributions: list[str] | None = None) -> dict[str, str]:
    """Render a folium map into fragments for a Jinja page.

    Returns
    -------
    dict
        ``header`` (CSS/JS links and styles), ``html`` (the map div), ``script``
        (the map's JS, without ``<script>`` tags) and ``name`` (the JS variable of the map).
    """
    root = m.get_root()
    root.render()
    script = root.script.render()
    name = m.get_name()
    if attributions:
        lines = json.dumps(attributions, ensure_ascii=False)
        script += (f"\n{lines}.forEach(function(a){{{name}.attributionControl"
                   f".addAttribution(a.replace(/&/g,'&amp;').replace(/</g,'&lt;'));}});")
    return {"header": root.header.render(), "html": root.html.render(), "script": script, "name": name}


#: Sequential colours for contours/bands: fast (green) to slow (red); 120 min sits at the break.
BAND_COLORS = ["#1a9850", "#91cf60", "#d9ef8b", "#fc8d59", "#d73027", "#a50026"]


def add_bands(m: folium.Map, bands: gpd.GeoDataFrame, *, name: str, show: bool) -> folium.FeatureGroup:
    """Draw nested contour polygons (largest first, so the fastest band sits on top)."""
    group = folium.FeatureGroup(name=name, show=show)
    drawable = [g is not None and not g.is_empty for g in bands.geometry]
    ordered = bands[drawable].sort_values("minutes", ascending=False)
    minutes = sorted(bands["minutes"].tolist())
    for _, row in ordered.iterrows():
        color = BAND_COLORS[min(minutes.index(row["minutes"]), len(BAND_COLORS) - 1)]
        folium.GeoJson(
            {"type": "Feature", "geometry": row.geometry.__geo_interface__,
             "properties": {"minutes": int(row["minutes"]), "area_km2": round(float(row["area_km2"]), 1)}},
            style_function=lambda _f, c=color: {"color": c, "weight": 1, "fillColor": c, "fillOpacity": 0.45},
            tooltip=folium.GeoJsonTooltip(fields=["minutes", "area_km2"], aliases=["≤ min", "km²"]),
        ).add_to(group)
    group.add_to(m)
    return group


def add_choropleth(m: folium.Map, towns: gpd.GeoDataFrame, table: Any, *, lang: str,
                   name: str) -> folium.FeatureGroup:
    """Colour township polygons by their median minutes (empty when no boundary is loaded)."""
    group = folium.FeatureGroup(name=name + ("" if towns.geometry.notna().any()
                                             else (" （边界未加载）" if lang == "zh" else " (no boundaries)")))
    by_code = {str(r["code"]): r for r in table.to_dict(orient="records")}
    for _, town in towns[towns.geometry.notna()].iterrows():
        row = by_code.get(str(town.get("code")), {})
        med = row.get("median")
        color = "#cccccc" if med is None else BAND_COLORS[min(sum(med > b for b in (60, 90, 120, 150, 180)),
                                                              len(BAND_COLORS) - 1)]
        props = {"name": html.escape(str(town.get("name_zh"))), "median": "—" if med is None else round(med),
                 "share": "—" if row.get("share_area_within") is None
                 else f"{100 * row['share_area_within']:.0f}%"}
        folium.GeoJson({"type": "Feature", "geometry": town.geometry.__geo_interface__, "properties": props},
                       style_function=lambda _f, c=color: {"color": "#34495e", "weight": 1, "fillColor": c,
                                                           "fillOpacity": 0.6},
                       tooltip=folium.GeoJsonTooltip(fields=["name", "median", "share"],
                                                     aliases=["", "median min", "≤120"])).add_to(group)
    group.add_to(m)
    return group
