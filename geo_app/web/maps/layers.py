"""Registry layers on a map: zh/en popups, permanent labels at the zooms where they fit, pick mode.

A layer spec's ``[labels]`` table says which features carry a permanent label and from which
zoom on::

    [labels]
    field = "name_zh"        # label text (default: the spec's label_field)
    field_en = "name_en"     # text on English pages, where the feature has one
    format_en = "{name_zh} {gn_name}"  # or a template of fields for English pages
    min_zoom = 7             # labels are drawn from this zoom on
    priority = 50            # higher wins when two labels overlap (maps.js hides the other)
    suffix = "站"            # appended unless the text already ends with it
    unnamed_min_zoom = 11    # features without a label are drawn only from this zoom on
    [labels.boost]           # extra priority by the value of a field
    field = "kind"
    prefecture_city = 30

Features without a label text never get one: no "unnamed" placeholder is drawn.
"""

from __future__ import annotations

import html
import math
import re
from typing import Any

import folium
import geopandas as gpd

from ...i18n import text, translate_value
from ...layers import LayerRegistry, LayerSpec
from .base import MapCall, base_map, frame_bounds, pad_bounds


def _clean(value: Any) -> Any:
    """Make a property value JSON-safe and HTML-escaped for popups."""
    if value is None:
        return ""
    if isinstance(value, float):
        return "" if not math.isfinite(value) else (int(value) if value.is_integer() else round(value, 4))
    if isinstance(value, bool | int):
        return value
    return html.escape(str(value))


def _text(value: Any) -> str:
    """A label text: empty for None, NaN and blanks."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return ""
    return str(value).strip()


_CJK = re.compile(r"[\u3400-\u9fff]")


def _popup_value(spec: LayerSpec, field: str, value: Any, lang: str | None) -> Any:
    """A popup value for a page in ``lang``: names marked as names, codes and notes translated.

    The fields listed in the spec's ``popup.names`` hold proper names (in either script); their
    values are wrapped in ``<span class="name" lang="…">`` (``en`` for ``*_en`` fields and names
    without Chinese). Other text values (``county_seat``, ``surveyed (point)``, notes) go through
    the catalogue, whole or, failing that, as ``;``-separated items (a park's sectors).
    """
    if lang is None or not isinstance(value, str):
        return _clean(value)
    if field in spec.popup.get("names", []):
        if not value.strip():
            return ""
        script = "en" if field.endswith("_en") or not _CJK.search(value) else "zh"
        return f'<span class="name" lang="{script}">{html.escape(value)}</span>'
    whole = translate_value(value.strip(), lang)
    if whole != value.strip() or ";" not in value:
        return html.escape(whole)
    return html.escape("; ".join(translate_value(v.strip(), lang) for v in value.split(";")))


def popup_data(spec: LayerSpec, gdf: gpd.GeoDataFrame, lang: str | None = None) -> dict[str, Any]:
    """Return the drawable features of a layer as GeoJSON with escaped popup fields.

    With ``lang``, values are made ready for a page in that language (:func:`_popup_value`).
    """
    fields = list(spec.popup.get("fields", []))
    label = spec.label_field
    keep = [f for f in dict.fromkeys([*fields, label]) if f]
    feats = []
    columns = list(gdf.columns)
    for values in gdf.itertuples(index=False, name=None):  # plain tuples: a column such as "class" keeps its name
        rowd = dict(zip(columns, values, strict=True))
        geom = rowd.get(gdf.geometry.name)
        if geom is None or geom.is_empty:
            continue
        props = {k: _popup_value(spec, k, rowd.get(k), lang) for k in keep}
        feats.append({"type": "Feature", "properties": props, "geometry": geom.__geo_interface__})
    return {"type": "FeatureCollection", "features": feats}


def label_text(spec: LayerSpec, row: dict[str, Any], lang: str) -> str:
    """The permanent label of one feature in ``lang`` (empty when it has no name)."""
    conf = spec_labels(spec)
    text = ""
    if lang == "en" and conf.get("format_en"):
        text = " ".join(conf["format_en"].format_map({k: _text(v) for k, v in row.items()}).split())
    elif lang == "en" and conf.get("field_en"):
        text = _text(row.get(conf["field_en"]))
    text = text or _text(row.get(conf["field"]))
    suffix = str(conf.get("suffix", ""))
    if text and suffix and not text.endswith(suffix):
        text += suffix
    return text


def spec_labels(spec: LayerSpec) -> dict[str, Any]:
    """The spec's ``[labels]`` table with its defaults (empty when the layer has no labels)."""
    raw = dict(getattr(spec, "labels", None) or {})
    if not raw:
        return {}
    raw.setdefault("field", spec.label_field)
    raw.setdefault("min_zoom", 0)
    raw.setdefault("priority", 0)
    return raw


def label_items(spec: LayerSpec, gdf: gpd.GeoDataFrame, lang: str) -> list[list[Any]]:
    """``[lat, lon, text, priority]`` of every point feature with a label text."""
    conf = spec_labels(spec)
    if not conf or spec.geometry != "point":
        return []
    boost = dict(conf.get("boost", {}))
    boost_field = boost.pop("field", None)
    items = []
    for row in gdf.to_dict(orient="records"):
        geom = row.get("geometry")
        text = label_text(spec, row, lang)
        if geom is None or geom.is_empty or not text:
            continue
        prio = int(conf["priority"]) + int(boost.get(str(row.get(boost_field)), 0) if boost_field else 0)
        items.append([round(geom.y, 6), round(geom.x, 6), text, prio])
    return items


def _split_unnamed(spec: LayerSpec, gdf: gpd.GeoDataFrame, lang: str) -> tuple[gpd.GeoDataFrame, Any]:
    """Split off the features without a label when the spec hides them below a zoom."""
    conf = spec_labels(spec)
    if spec.geometry != "point" or "unnamed_min_zoom" not in conf or gdf.empty:
        return gdf, None
    named = gdf.apply(lambda r: bool(label_text(spec, r.to_dict(), lang)), axis=1).astype(bool)
    return gdf[named], gdf[~named]


def _geojson(spec: LayerSpec, data: dict[str, Any], lang: str, interactive: bool) -> folium.GeoJson:
    """One folium GeoJson of a layer's features with its style, popup and tooltip."""
    fields = list(spec.popup.get("fields", []))
    aliases = spec.popup.get("aliases_en" if lang == "en" else "aliases_zh", fields)
    style = dict(spec.style)
    kwargs: dict[str, Any] = {} if interactive else {"interactive": False}
    if spec.geometry == "point":
        kwargs["marker"] = folium.CircleMarker(
            radius=style.pop("radius", 5), color=style.get("color"), fill=True,
            fill_color=style.get("fillColor"), fill_opacity=style.get("fillOpacity", 0.9),
            weight=style.get("weight", 2))
    has_label = any(_text(f["properties"].get(spec.label_field)) for f in data["features"])
    return folium.GeoJson(
        data,
        name=spec.name,
        style_function=lambda _f, s=style: s,
        highlight_function=(lambda _f: {"weight": 4}) if spec.geometry != "point" and interactive else None,
        popup=folium.GeoJsonPopup(fields=fields, aliases=list(aliases), localize=False, labels=True,
                                  max_width=360) if fields and interactive else None,
        tooltip=folium.GeoJsonTooltip(fields=[spec.label_field], labels=False)
        if interactive and has_label else None,
        **kwargs,
    )


def add_layer(m: folium.Map, spec: LayerSpec, gdf: gpd.GeoDataFrame, lang: str, *,
              interactive: bool = True, labels: bool = True) -> folium.FeatureGroup:
    """Add one registry layer to the map as a named feature group.

    Layers with no drawable feature are still added (empty), so the layer control
    lists every layer; the page's side panel says why they are empty. A layer added
    with ``interactive=False`` has no popup and lets clicks through to the map (Leaflet
    popups stop the map's click event), as click-to-compute pages need. Point layers with
    a ``[labels]`` table get permanent labels (``labels=False`` leaves them out).
    """
    drawable, unnamed = _split_unnamed(spec, gdf, lang)
    data = popup_data(spec, drawable, lang)
    n = len(data["features"]) + (0 if unnamed is None else len(popup_data(spec, unnamed)["features"]))
    suffix = "" if n else text("map_no_geometry", lang)
    group = folium.FeatureGroup(name=spec.title(lang) + suffix, show=spec.show, overlay=True)
    if data["features"]:
        _geojson(spec, data, lang, interactive).add_to(group)
    if unnamed is not None and len(unnamed):
        hidden = folium.FeatureGroup(name=spec.name + "_unnamed", control=False, show=False)
        _geojson(spec, popup_data(spec, unnamed, lang), lang, interactive).add_to(hidden)
        hidden.add_to(group)
        MapCall("minZoom", m.get_name(), int(spec_labels(spec)["unnamed_min_zoom"]), refs=(hidden,)).add_to(group)
    items = label_items(spec, drawable, lang) if labels else []
    if items:
        MapCall("labels", m.get_name(), {"cls": spec.name, "minZoom": int(spec_labels(spec)["min_zoom"]),
                                         "items": items}).add_to(group)
    group.add_to(m)
    return group


def overview_map(registry: LayerRegistry, *, lang: str, tiles_url: str | None = None,
                 tiles_attr: str | None = None) -> folium.Map:
    """The overview: fitted to Meihekou, the metro area drawn around it, every layer, a collapsed control."""
    if "boundary" in registry.specs and len(registry.frame("boundary")):
        bounds = pad_bounds(frame_bounds(registry.frame("boundary").total_bounds), 0.12)
    elif "metro_counties" in registry.specs:
        bounds = frame_bounds(registry.frame("metro_counties").total_bounds)
    else:
        bounds = None
    m = base_map(tiles_url=tiles_url, tiles_attr=tiles_attr, bounds=bounds, lang=lang)
    for spec in registry:
        add_layer(m, spec, registry.frame(spec.name), lang)
    folium.LayerControl(collapsed=True, position="topright").add_to(m)
    return m


#: Layers drawn for orientation under the travel-time pages.
CONTEXT_LAYERS = ("boundary", "roads", "rail_lines", "stations", "places", "town_points")


def context_map(registry: LayerRegistry, lang: str, *, bounds: list[list[float]] | None = None,
                tiles_url: str | None = None, tiles_attr: str | None = None) -> folium.Map:
    """A base map with the county, roads, rail, stations, places and township points.

    Lines and polygons let clicks through (``interactive=False``); points keep tooltips and
    popups (a page in pick mode turns their clicks into picks, see ``GeoMaps.pick``).
    """
    if bounds is None:
        b = registry.frame("boundary").total_bounds
        bounds = [[b[1] - 0.1, b[0] - 0.1], [b[3] + 0.1, b[2] + 0.1]]
    m = base_map(tiles_url=tiles_url, tiles_attr=tiles_attr, bounds=bounds, lang=lang)
    for name in CONTEXT_LAYERS:
        if name in registry.specs:
            spec = registry.spec(name)
            add_layer(m, spec, registry.frame(name), lang, interactive=spec.geometry == "point")
    return m
