"""The editable assumptions panel and the low-confidence layer of the travel-time pages.

The panel (``templates/_assumptions.html`` with ``static/assumptions.js``) shows the assumptions that
move answers most (:func:`geo_app.network.params.editable`) as inputs with their bounds and the model's
values; the values in use travel in the page's query string (``access_kmh=40``), so a view can be
shared, and a reset link drops them. Low-confidence cells are drawn hatched (``path.low-confidence``,
an SVG pattern in ``templates/_confidence.html``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

import folium
import geopandas as gpd

from ..analysis.isochrones import low_confidence_area
from ..analysis.surface import Surface
from ..i18n import text
from ..network.params import editable, schema_parameters
from .maps.numbers import fmt_share

#: Every assumption parameter a page may receive (pages cache per value; see ``cached_page``).
PARAM_NAMES = tuple(p["name"] for p in schema_parameters())


def _fmt(value: float | None) -> str:
    """A parameter value as the inputs show it (``30``, ``1.3``)."""
    return "" if value is None else f"{value:g}"


def panel(graph: Any, overrides: Mapping[str, float], args: Mapping[str, Any], lang: str, *,
          live: bool = False) -> dict[str, Any]:
    """Template context of the editable panel.

    Parameters
    ----------
    graph
        The model's travel graph (its parameters are the model's values).
    overrides
        The validated assumption parameters of the request.
    args
        The request's query arguments (the others are kept by the form and the reset link).
    lang
        Page language.
    live
        True when the page recomputes in the browser (``/isochrones``) instead of reloading.

    Returns
    -------
    dict
        ``params`` (name, label, unit, value, model, lo, hi), ``changed`` (labels of the values that
        differ from the model), ``keep`` (other query arguments), ``reset`` (the page without the
        parameters), ``query`` (``&name=value`` of the parameters in use, for links) and ``live``.
    """
    items, changed = [], []
    for p in editable(graph):
        labels = p.labels(graph.params)
        label = text("param_wait_min", lang) if labels is None else labels[0 if lang == "zh" else 1]
        model = p.model_value(graph.params)
        value = overrides.get(p.name)
        items.append({"name": p.name, "label": label, "unit": p.unit, "lo": _fmt(p.lo), "hi": _fmt(p.hi),
                      "model": _fmt(model), "value": _fmt(value if value is not None else model),
                      "model_text": text("assume_half_headway", lang) if model is None else _fmt(model)})
        if value is not None and (model is None or abs(value - model) > 1e-9):
            changed.append(f"{label} {_fmt(value)}")
    keep = {k: v for k, v in args.items() if k not in PARAM_NAMES}
    query = urlencode(keep)
    mine = urlencode({k: _fmt(v) for k, v in overrides.items()})
    return {"params": items, "changed": changed, "keep": keep, "reset": "?" + query if query else "?",
            "live": live, "query": "&" + mine if mine else ""}


def add_low_confidence(m: folium.Map, surface: Surface, county: Any, lang: str) -> float | None:
    """Draw the low-confidence cells of ``surface`` inside ``county`` (WGS84) as a hatched layer.

    Returns
    -------
    float or None
        The drawn area in km² (None when there is none).
    """
    geom = low_confidence_area(surface, surface.max_minutes)
    group = folium.FeatureGroup(name=text("conf_layer", lang), show=True)
    area = None
    if geom is not None:
        geom = geom.intersection(county)
        if not geom.is_empty:
            area = float(gpd.GeoSeries([geom], crs="EPSG:4326").to_crs("EPSG:32651").area.iloc[0]) / 1e6
            folium.GeoJson({"type": "Feature", "geometry": geom.__geo_interface__, "properties": {}},
                           style_function=lambda _f: {"color": "#444444", "weight": 0, "fillColor": "#444444",
                                                      "fillOpacity": 0.25},
                           className="low-confidence", interactive=False).add_to(group)
    group.add_to(m)
    return area


def confidence_note(surface: Surface, graph: Any, share: float | None, lang: str) -> dict[str, Any]:
    """The legend entry and the county note of the low-confidence cells."""
    most, _part = surface.confidence
    params = graph.params
    pct = "—" if share is None else fmt_share(share)
    return {"legend": text("conf_legend", lang, minutes=f"{most:g}"), "share": share,
            "note": text("conf_county_note", lang, share=pct, speed=f"{params['access']['speed_kmh']['value']:g}",
                         circuity=f"{params['access']['circuity']['value']:g}")}
