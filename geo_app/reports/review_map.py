"""The siting report's map as a picture: the web report map's layers, drawn by :mod:`.static_map`.

Shared by the ``/reviews/<id>.pdf`` route and ``geo-app review --pdf``: both hand in the layer
registry and the travel graph, so the PDF shows the same county, township, rail, road and park
layers, the same 2-hour band (best mode, clipped to the county) and the same route to Changchun
as the HTML report.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import geopandas as gpd
from shapely.geometry import shape

from ..analysis.accessibility import reach_inputs, reach_table
from ..analysis.isochrones import isochrones
from ..analysis.routing import resolve_place, route
from ..i18n import text
from .fonts import CJKFont, cjk_font
from .static_map import MapLayer, SiteMap, render_png

#: Layers on the printed map, bottom to top (those a registry lacks are skipped).
MAP_LAYERS = ("metro_counties", "boundary", "towns", "parks", "roads", "rail_lines", "stations", "logistics",
              "town_points", "places")
#: Degrees added around the county (and the site) on the printed map.
PAD_DEG = 0.08


def two_hour_band(graph: Any, layers: Any, *, minutes: int = 120, cell_m: int = 250) -> gpd.GeoDataFrame:
    """The land within ``minutes`` of Changchun by the best mode, clipped to the county (WGS84)."""
    changchun = resolve_place("changchun", layers.frame("places"))
    surface, _ = reach_table(graph, **reach_inputs(layers), to_lonlat=changchun, mode="best",
                             minutes=minutes, cell_m=cell_m)
    band = isochrones(surface, [minutes])
    band["geometry"] = band.geometry.intersection(layers.frame("boundary").geometry.union_all())
    return band[~band.geometry.is_empty]


def route_to_changchun(graph: Any, layers: Any, report: Mapping[str, Any]) -> Any:
    """The best-mode path from the site's basis point to Changchun (a LineString), or None."""
    site = report.get("site") or {}
    if site.get("lon") is None:
        return None
    path = route(graph, (site["lon"], site["lat"]), resolve_place("changchun", layers.frame("places")),
                 mode="best")
    return path.get("geometry")


def _map_layers(layers: Any, lang: str) -> list[MapLayer]:
    out = []
    for name in MAP_LAYERS:
        if name not in getattr(layers, "specs", {}):
            continue
        spec = layers.spec(name)
        if spec.geometry not in ("polygon", "line", "point"):
            continue
        label = None
        if name in ("stations", "town_points", "places", "logistics"):
            labels = spec.labels or {}
            label = labels.get("field") or spec.label_field
            if lang == "en" and labels.get("field_en") in layers.frame(name):
                label = labels["field_en"]
        out.append(MapLayer(spec.title(lang), spec.geometry, layers.frame(name), dict(spec.style), label))
    return out


def _extent(layers: Any, site: Any) -> tuple[float, float, float, float]:
    """The county with a margin, grown to hold the whole site."""
    x0, y0, x1, y1 = layers.frame("boundary").to_crs("EPSG:4326").total_bounds
    sx0, sy0, sx1, sy1 = site.bounds
    return (min(x0, sx0) - PAD_DEG, min(y0, sy0) - PAD_DEG, max(x1, sx1) + PAD_DEG, max(y1, sy1) + PAD_DEG)


def review_map_png(row: Mapping[str, Any], layers: Any, graph: Any, *, lang: str = "zh",
                   font: CJKFont | None = None, band: gpd.GeoDataFrame | None = None, dpi: int = 200) -> bytes:
    """Draw a stored review's site on the report map and return PNG bytes.

    Parameters
    ----------
    row
        A stored review (``geometry``, ``report``).
    layers
        The layer registry.
    graph
        The travel graph (for the band and the route).
    lang
        ``zh`` or ``en`` (legend titles and the north arrow).
    font
        The CJK font; found with fontconfig when None.
    band
        A precomputed 2-hour band; computed when None.
    dpi
        Resolution.
    """
    site = shape(row["geometry"])
    spec = SiteMap(
        layers=_map_layers(layers, lang), site=site, extent=_extent(layers, site), lang=lang,
        band=two_hour_band(graph, layers) if band is None else band,
        route=route_to_changchun(graph, layers, row.get("report") or {}),
        titles={"site": text("report_layer_site", lang), "band": text("report_layer_band", lang),
                "route": text("report_route", lang)})
    return render_png(spec, font=font or cjk_font(), dpi=dpi)
