"""Distance from the site (its area for a polygon) to the nearest rail line and trunk road.

Judged for the logistics sectors only (``infrastructure.logistics_sectors``); information otherwise.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .common import band, finding, layer, metric, with_geometry

if TYPE_CHECKING:
    from .site import Site


def _distance(site: Site, layer_name: str, classes: Sequence[str] | None, lim: Mapping[str, Any], *,
              key: str, label_zh: str, label_en: str, what_zh: str, what_en: str) -> dict[str, Any]:
    """Straight distance to the nearest feature of a line layer (optionally only some ``class`` values)."""
    gdf = with_geometry(layer(site.layers, layer_name))
    if gdf is not None and classes and "class" in gdf.columns:
        gdf = with_geometry(gdf[gdf["class"].isin(list(classes))])
    rule = (f"logistics sectors: ≤{lim['ok_max_m']} m ok, ≤{lim['conditional_max_m']} m conditional, "
            f"beyond {lim['beyond']} (assumption); other sectors: information. Lines are schematic.")
    if gdf is None:
        return finding(key, label_zh, label_en, None, "m", rule, site.rules["missing"]["layer"],
                       f"无法判断：未加载{what_zh}。", f"Unavailable: no {what_en} loaded.")
    d = float(metric(gdf).distance(site.site_m).min())
    judged = site.sector in site.rules["infrastructure"].get("logistics_sectors", [])
    status = band(d, lim["ok_max_m"], lim["conditional_max_m"], lim["beyond"]) if judged else "info"
    return finding(
        key, label_zh, label_en, round(d), "m", rule, status,
        f"至最近{what_zh}约 {d / 1000:.1f} km（示意线，距离为近似值）。",
        f"About {d / 1000:.1f} km to the nearest {what_en} (schematic lines: approximate).",
        {"distance_m": d})


def rail_line(site: Site) -> list[dict[str, Any]]:
    """Distance to the nearest rail line."""
    infra = site.rules["infrastructure"]
    return [_distance(site, "rail_lines", None, infra["rail"], key="rail_line_distance",
                      label_zh="至铁路线距离", label_en="Distance to rail line", what_zh="铁路线",
                      what_en="rail line")]


def trunk_road(site: Site) -> list[dict[str, Any]]:
    """Distance to the nearest trunk road (the road classes in ``infrastructure.trunk_road_classes``)."""
    infra = site.rules["infrastructure"]
    return [_distance(site, "roads", infra.get("trunk_road_classes"), infra["trunk_road"],
                      key="trunk_road_distance", label_zh="至干线公路距离", label_en="Distance to trunk road",
                      what_zh="干线公路", what_en="trunk road")]
