"""A static map of a site drawn server-side with matplotlib (Agg), from the same layers as the web map.

The layers come in as GeoDataFrames with their Leaflet style (``layers/*.toml``), so the printed
map uses the web map's colours, line widths and dashes. Everything is drawn in the metric CRS
(EPSG:32651) so the scale bar is true; labels use a system CJK font (:mod:`.fonts`). Nothing here
imports Flask or pyplot: one :class:`~matplotlib.figure.Figure` per call, safe in a threaded server.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import pandas as pd
from matplotlib import patheffects
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from .fonts import CJKFont

METRIC_CRS = "EPSG:32651"
#: Leaflet pixels to matplotlib points (96 px per inch, 72 points per inch).
PX = 0.75
SITE_COLOR = "#c0392b"
ROUTE_COLOR = "#8e44ad"
BAND_COLOR = "#1a9850"
_HALO = [patheffects.withStroke(linewidth=2.5, foreground="white")]


@dataclass(frozen=True)
class MapLayer:
    """One layer to draw: its legend title, geometry kind, features (WGS84) and Leaflet style."""

    title: str
    kind: str
    frame: gpd.GeoDataFrame
    style: Mapping[str, Any] = field(default_factory=dict)
    label_field: str | None = None


@dataclass(frozen=True)
class SiteMap:
    """What a site map shows: context layers, the site, the 2-hour band and the route, in an extent.

    ``extent`` is ``(west, south, east, north)`` in WGS84; ``titles`` holds the legend titles of
    ``site``, ``band`` and ``route``.
    """

    layers: Sequence[MapLayer]
    site: Any
    extent: tuple[float, float, float, float]
    titles: Mapping[str, str]
    band: gpd.GeoDataFrame | None = None
    route: Any = None
    lang: str = "zh"


def _metric(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Features with a geometry, in EPSG:32651."""
    frame = frame[frame.geometry.notna() & ~frame.geometry.is_empty]
    if frame.crs is None:
        frame = frame.set_crs("EPSG:4326")
    return frame.to_crs(METRIC_CRS)


def _dashes(style: Mapping[str, Any], width: float) -> Any:
    """A Leaflet ``dashArray`` ("8 4") as a matplotlib line style (dash lengths in line widths)."""
    dash = str(style.get("dashArray") or "").replace(",", " ").split()
    if not dash:
        return "solid"
    return (0, tuple(max(float(d) * PX / max(width, 0.1), 0.5) for d in dash))


def _draw_layer(ax: Any, layer: MapLayer, frame: gpd.GeoDataFrame) -> Any:
    """Draw one layer with its web style; return its legend handle."""
    st = layer.style
    color = st.get("color", "#333333")
    width = float(st.get("weight", 2)) * PX
    alpha = float(st.get("opacity", 1.0))
    if layer.kind == "polygon":
        fill, fill_alpha = st.get("fillColor", color), float(st.get("fillOpacity", 0.2))
        frame.plot(ax=ax, facecolor=fill, alpha=fill_alpha, edgecolor="none", zorder=2)
        frame.boundary.plot(ax=ax, color=color, linewidth=width, alpha=alpha, zorder=3)
        return Patch(facecolor=fill, alpha=max(fill_alpha, 0.3), edgecolor=color, linewidth=width,
                     label=layer.title)
    if layer.kind == "line":
        style = _dashes(st, width)
        frame.plot(ax=ax, color=color, linewidth=width, alpha=alpha, linestyle=style, zorder=4)
        return Line2D([], [], color=color, linewidth=width, linestyle=style, label=layer.title)
    size = float(st.get("radius", 5)) * 2 * PX
    fill = st.get("fillColor", "#ffffff")
    frame.plot(ax=ax, marker="o", markersize=size ** 2, color=fill, edgecolor=color, linewidth=width * 0.7,
               zorder=6)
    return Line2D([], [], marker="o", linestyle="none", markersize=size, markerfacecolor=fill,
                  markeredgecolor=color, label=layer.title)


def _labels(ax: Any, layer: MapLayer, frame: gpd.GeoDataFrame, font: FontProperties, box: tuple) -> None:
    """Name the points of a point layer that fall inside the map."""
    if layer.kind != "point" or not layer.label_field or layer.label_field not in frame:
        return
    x0, y0, x1, y1 = box
    for geom, name in zip(frame.geometry, frame[layer.label_field], strict=True):
        if pd.isna(name) or not str(name).strip() or not (x0 <= geom.x <= x1 and y0 <= geom.y <= y1):
            continue
        ax.annotate(str(name), (geom.x, geom.y), xytext=(4, 3), textcoords="offset points", fontsize=7,
                    fontproperties=font, color="#1b2631", zorder=9, path_effects=_HALO, annotation_clip=True)


def _draw_site(ax: Any, spec: SiteMap) -> list[Any]:
    """The band, the route and the site on top; their legend handles."""
    handles = []
    if spec.band is not None and len(spec.band):
        band = _metric(spec.band)
        if len(band):
            band.plot(ax=ax, facecolor=BAND_COLOR, alpha=0.35, edgecolor=BAND_COLOR, linewidth=1, zorder=5)
        handles.append(Patch(facecolor=BAND_COLOR, alpha=0.35, edgecolor=BAND_COLOR, label=spec.titles["band"]))
    if spec.route is not None:
        gpd.GeoSeries([spec.route], crs="EPSG:4326").to_crs(METRIC_CRS).plot(
            ax=ax, color=ROUTE_COLOR, linewidth=2.5, linestyle=(0, (3, 2)), zorder=7)
        handles.append(Line2D([], [], color=ROUTE_COLOR, linewidth=2.5, linestyle=(0, (3, 2)),
                              label=spec.titles["route"]))
    site = gpd.GeoSeries([spec.site], crs="EPSG:4326").to_crs(METRIC_CRS)
    if spec.site.geom_type == "Point":
        site.plot(ax=ax, marker="*", markersize=260, color=SITE_COLOR, edgecolor="white", linewidth=1, zorder=10)
        handles.append(Line2D([], [], marker="*", linestyle="none", markersize=13, markerfacecolor=SITE_COLOR,
                              markeredgecolor="white", label=spec.titles["site"]))
    else:
        site.plot(ax=ax, facecolor=SITE_COLOR, alpha=0.3, edgecolor=SITE_COLOR, linewidth=2.2, zorder=10)
        site.boundary.plot(ax=ax, color=SITE_COLOR, linewidth=2.2, zorder=10)
        handles.append(Patch(facecolor=SITE_COLOR, alpha=0.4, edgecolor=SITE_COLOR, label=spec.titles["site"]))
    return handles


def _nice_length(span_m: float) -> float:
    """A round scale-bar length of about a fifth of the map width."""
    target = span_m / 5
    for step in (1000, 2000, 5000, 10000, 20000, 25000, 50000, 100000):
        if step >= target:
            return float(step)
    return 100000.0


def _scale_and_north(ax: Any, box: tuple, font: FontProperties, lang: str) -> None:
    """A scale bar (lower left) and a north arrow (upper right)."""
    x0, y0, x1, y1 = box
    length = _nice_length(x1 - x0)
    bx, by = x0 + (x1 - x0) * 0.04, y0 + (y1 - y0) * 0.05
    ax.plot([bx, bx + length], [by, by], color="black", linewidth=3, solid_capstyle="butt", zorder=11)
    ax.text(bx + length / 2, by + (y1 - y0) * 0.015, f"{length / 1000:g} km", ha="center", va="bottom",
            fontsize=7, fontproperties=font, zorder=11, path_effects=_HALO)
    nx, ny = x1 - (x1 - x0) * 0.05, y1 - (y1 - y0) * 0.16
    ax.annotate("北" if lang == "zh" else "N", xy=(nx, y1 - (y1 - y0) * 0.04), xytext=(nx, ny),
                ha="center", va="center", fontsize=9, fontproperties=font, zorder=11,
                arrowprops={"arrowstyle": "-|>", "color": "black", "linewidth": 1.2})


def _box(extent: tuple[float, float, float, float], aspect: float) -> tuple[float, float, float, float]:
    """The extent in EPSG:32651, widened to the axes' aspect ratio (width / height)."""
    x0, y0, x1, y1 = gpd.GeoSeries.from_xy([extent[0], extent[2]], [extent[1], extent[3]],
                                           crs="EPSG:4326").to_crs(METRIC_CRS).total_bounds
    cx, cy, w, h = (x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0
    if w / h < aspect:
        w = h * aspect
    else:
        h = w / aspect
    return cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2


def render_png(spec: SiteMap, *, font: CJKFont, width_in: float = 7.0, height_in: float = 5.6,
               dpi: int = 200) -> bytes:
    """Draw the site map and return it as PNG bytes.

    Parameters
    ----------
    spec
        Layers, site, band, route, extent and legend titles.
    font
        The CJK font for labels and the legend.
    width_in, height_in
        Figure size in inches (the map takes the top, the legend the bottom).
    dpi
        Resolution of the PNG.
    """
    props = FontProperties(fname=str(font.path), size=7)
    fig = Figure(figsize=(width_in, height_in), dpi=dpi)
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0.01, 0.2, 0.98, 0.79))
    box = _box(spec.extent, 0.98 * width_in / (0.79 * height_in))
    handles = []
    for layer in spec.layers:
        frame = _metric(layer.frame)
        if len(frame):
            handles.append(_draw_layer(ax, layer, frame))
            _labels(ax, layer, frame, props, box)
    handles += _draw_site(ax, spec)
    ax.set_xlim(box[0], box[2])
    ax.set_ylim(box[1], box[3])
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_xlabel("")
    ax.set_ylabel("")
    _scale_and_north(ax, box, props, spec.lang)
    fig.legend(handles=handles, loc="lower center", ncol=2, frameon=False, prop=props,
               bbox_to_anchor=(0.5, 0.0), handlelength=2.2, columnspacing=1.5)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, facecolor="white")
    return buf.getvalue()
