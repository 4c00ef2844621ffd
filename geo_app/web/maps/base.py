"""The base of every map: offline Leaflet, the basemap, the initial view, and page fragments.

Every map built here references only this app's own URLs: Leaflet's JS and CSS come from
the installed XStatic package, the helpers in ``static/maps.js``, and the basemap is a local
MBTiles tile set and DEM hillshade when configured (:mod:`geo_app.web.tiles`), an online tile
URL only when one is configured, and nothing otherwise.
"""

from __future__ import annotations

import json
from typing import Any

import folium
from branca.element import MacroElement
from jinja2 import Template

from ..assets import vendor_url
from .basemap import Basemap, Overlay, TileSource

#: The metro area's extent, used only when a map is given no bounds to fit.
DEFAULT_BOUNDS = [[41.6, 124.3], [44.0, 126.7]]
#: The page-wide helpers (labels, pick mode, compact attribution, number format).
MAPS_JS = "/static/maps.js"
MAPS_CSS = "/static/maps.css"


class MapCall(MacroElement):
    """Call ``GeoMaps.<fn>(map, parent, *refs, args)`` from ``static/maps.js`` once the parent exists.

    ``refs`` are the folium elements (rendered before this call) passed by their JS variable.
    """

    _template = Template("""{% macro script(this, kwargs) %}
        GeoMaps.{{ this.fn }}({{ this.map_name }}, {{ this._parent.get_name() }},
            {%- for r in this.refs %} {{ r.get_name() }},{% endfor %} {{ this.args }});
    {% endmacro %}""")

    def __init__(self, fn: str, map_name: str, args: Any, refs: tuple[Any, ...] = ()) -> None:
        super().__init__()
        self._name = "MapCall"
        self.fn, self.map_name, self.refs = fn, map_name, refs
        self.args = json.dumps(args, ensure_ascii=False).replace("</", "<\\/")


class UrlImageOverlay(folium.raster_layers.ImageOverlay):
    """folium's image overlay for an image this app serves by URL (folium opens other strings as files)."""

    def __init__(self, overlay: Overlay) -> None:
        folium.map.Layer.__init__(self, name=overlay.name, overlay=True, control=True, show=True)
        self._name = "ImageOverlay"
        self.bounds = overlay.bounds
        self.options = {"opacity": overlay.opacity, "interactive": False,
                        **({"attribution": overlay.attribution} if overlay.attribution else {})}
        self.pixelated = False
        self.url = overlay.url


def pad_bounds(bounds: list[list[float]], frac: float) -> list[list[float]]:
    """Grow ``[[south, west], [north, east]]`` by ``frac`` of its size on every side."""
    (s, w), (n, e) = bounds
    dy, dx = (n - s) * frac, (e - w) * frac
    return [[s - dy, w - dx], [n + dy, e + dx]]


def frame_bounds(total_bounds: Any) -> list[list[float]]:
    """Leaflet bounds of a GeoDataFrame's ``total_bounds`` (minx, miny, maxx, maxy)."""
    b = [float(v) for v in total_bounds]
    return [[b[1], b[0]], [b[3], b[2]]]


def _current_basemap(lang: str) -> Basemap:
    """The app's configured basemap, or none outside a request."""
    from flask import has_app_context

    if not has_app_context():
        return Basemap()
    from ..tiles import current_basemap

    return current_basemap(lang)


def _request_lang() -> str:
    """The page language of the current request (zh outside one)."""
    from flask import has_request_context

    if not has_request_context():
        return "zh"
    from ..i18n import current_lang

    return current_lang()


def _add_basemap(m: folium.Map, basemap: Basemap) -> None:
    """Tile layers (a choice when there are several) and overlays, below every data layer."""
    several = len(basemap.tiles) > 1
    for i, src in enumerate(basemap.tiles):
        folium.TileLayer(tiles=src.url, attr=src.attribution or src.url, name=src.name, overlay=False,
                         control=several, show=i == 0, min_zoom=src.min_zoom,
                         max_native_zoom=src.max_native_zoom, max_zoom=18).add_to(m)
    for ov in basemap.overlays:
        UrlImageOverlay(ov).add_to(m)


def base_map(*, tiles_url: str | None = None, tiles_attr: str | None = None,
             bounds: list[list[float]] | None = None, lang: str = "zh",
             basemap: Basemap | None = None) -> folium.Map:
    """Create a folium map that loads nothing from the internet.

    Parameters
    ----------
    tiles_url
        Optional online tile URL template (opt-in; off by default).
    tiles_attr
        Attribution for the tiles (required by Leaflet when ``tiles_url`` is set).
    bounds
        ``[[south, west], [north, east]]`` to fit.
    lang
        Language of the basemap's layer names.
    basemap
        The local basemap; by default the app's (:func:`geo_app.web.tiles.current_basemap`).

    Returns
    -------
    folium.Map
    """
    m = folium.Map(location=[42.55, 125.65], zoom_start=8, tiles=None, control_scale=True)
    m.default_js = [("leaflet", vendor_url("leaflet", "leaflet.js")), ("geomaps", MAPS_JS)]
    m.default_css = [("leaflet_css", vendor_url("leaflet", "leaflet.css")), ("geomaps_css", MAPS_CSS)]
    base = basemap if basemap is not None else _current_basemap(lang)
    if tiles_url and not any(t.url == tiles_url for t in base.tiles):
        online = TileSource(url=tiles_url, attribution=tiles_attr or tiles_url, name="online")
        base = Basemap(tiles=(*base.tiles, online), overlays=base.overlays)
    _add_basemap(m, base)
    # Fit at once, not animated: an animated zoom right after load moves every shape for a
    # quarter of a second, and a click in that time lands on nothing (seen in browser tests).
    fit = folium.FitBounds(bounds or DEFAULT_BOUNDS)
    fit.options["animate"] = False
    fit.add_to(m)
    return m


def render_parts(m: folium.Map, attributions: list[str] | None = None, *,
                 lang: str | None = None) -> dict[str, str]:
    """Render a folium map into fragments for a Jinja page.

    The attributions are added to Leaflet's attribution control, which is made compact (one
    line, opened by a click) so it never covers the scale bar.

    Returns
    -------
    dict
        ``header`` (CSS/JS links and styles), ``html`` (the map div), ``script``
        (the map's JS, without ``<script>`` tags) and ``name`` (the JS variable of the map).
    """
    from ...i18n import text

    if lang is None:
        lang = _request_lang()
    root = m.get_root()
    root.render()
    script = root.script.render()
    name = m.get_name()
    if attributions:
        lines = json.dumps(attributions, ensure_ascii=False).replace("</", "<\\/")
        script += (f"\n{lines}.forEach(function(a){{{name}.attributionControl"
                   f".addAttribution(a.replace(/&/g,'&amp;').replace(/</g,'&lt;'));}});")
    title = json.dumps(text("map_attribution_open", lang), ensure_ascii=False)
    script += f"\nGeoMaps.compactAttribution({name}, {title});"
    return {"header": root.header.render(), "html": root.html.render(), "script": script, "name": name}
