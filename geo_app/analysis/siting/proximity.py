"""Distance from the site (its area for a polygon) to the nearest rail line and trunk road.

Judged for the logistics sectors only (``infrastructure.logistics_sectors``); information otherwise.
The rail lines are the ``rail_lines`` layer: the VMAP0 track alignment between stations where the
line could be routed on it, straight segments elsewhere (:mod:`geo_app.network.tracks`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .common import band, finding, layer, metric, with_geometry

if TYPE_CHECKING:
    from .site import Site


_RULE = ("logistics sectors: ≤{ok} m ok, ≤{cond} m conditional, beyond {beyond} (assumption); "
         "other sectors: information. {lines}")
_LINES = {"rail_lines": "Rail lines follow the VMAP0 tracks (1:1M), straight where not routable.",
          "roads": "Lines are schematic."}


def _accuracy(row: Mapping[str, Any]) -> tuple[str, str]:
    """How exact the nearest line is: VMAP0 track alignment (routed rail) or a schematic line."""
    quality = row.get("quality")
    if isinstance(quality, str) and "VMAP0" in quality:
        return "沿VMAP0轨道，1:100万，约±0.5 km", "VMAP0 track alignment, 1:1M, about ±0.5 km"
    return "示意线，距离为近似值", "schematic lines: approximate"


def _distance(site: Site, layer_name: str, classes: Sequence[str] | None, lim: Mapping[str, Any], *,
              key: str, label_zh: str, label_en: str, what_zh: str, what_en: str) -> dict[str, Any]:
    """Straight distance to the nearest feature of a line layer (optionally only some ``class`` values).

    ``detail.judged`` says whether the distance is judged for the site's sector (logistics sectors only):
    an unavailable distance that is not judged never makes the verdict incomplete.
    """
    gdf = with_geometry(layer(site.layers, layer_name))
    if gdf is not None and classes and "class" in gdf.columns:
        gdf = with_geometry(gdf[gdf["class"].isin(list(classes))])
    rule = _RULE.format(ok=lim["ok_max_m"], cond=lim["conditional_max_m"], beyond=lim["beyond"],
                        lines=_LINES[layer_name])
    judged = site.sector in site.rules["infrastructure"].get("logistics_sectors", [])
    if gdf is None:
        return finding(key, label_zh, label_en, None, "m", rule, site.rules["missing"]["layer"],
                       f"无法判断：未加载{what_zh}。", f"Unavailable: no {what_en} loaded.",
                       {"judged": judged, "missing": layer_name})
    dists = metric(gdf).distance(site.site_m)
    j = dists.idxmin()
    d = float(dists[j])
    acc_zh, acc_en = _accuracy(gdf.loc[j])
    status = band(d, lim["ok_max_m"], lim["conditional_max_m"], lim["beyond"]) if judged else "info"
    return finding(
        key, label_zh, label_en, round(d), "m", rule, status,
        f"至最近{what_zh}约 {d / 1000:.1f} km（{acc_zh}）。",
        f"About {d / 1000:.1f} km to the nearest {what_en} ({acc_en}).",
        {"distance_m": d, "judged": judged, "quality": gdf.loc[j].get("quality")})


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
