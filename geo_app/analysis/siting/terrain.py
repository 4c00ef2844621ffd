"""Terrain findings: elevation and slope from the DEM at the basis point, slope judged by the sector's limits."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from ...raster import resolve_dem, sample_dem
from .common import band, finding

if TYPE_CHECKING:
    from .site import Site


def _slope_limits(site: Site) -> tuple[dict[str, Any], str]:
    """The slope limits for the site's sector (or the default) and the rule text that states them."""
    slope_rules = site.rules["slope"]
    sector = site.sector
    lim = slope_rules.get("sectors", {}).get(sector or "", slope_rules["default"])
    rule = (f"slope ≤{lim['ok_max_pct']}% ok, ≤{lim['conditional_max_pct']}% conditional, beyond fail "
            f"({'sector ' + sector if sector in slope_rules.get('sectors', {}) else 'default'}; assumption)")
    return lim, rule


def terrain(site: Site) -> list[dict[str, Any]]:
    """Elevation (information) and slope (judged); both unavailable without a usable DEM.

    The DEM is the one imported into the data folder (``geo-app data import dem``), else ``GEO_APP_DEM``;
    the findings name its source and resolution.
    """
    dem_path = resolve_dem(site.dem_path, getattr(site.layers, "data_dir", None))
    dem = sample_dem(dem_path, site.lon, site.lat)
    lim, rule = _slope_limits(site)
    if not dem.get("available") or dem.get("elevation_m") is None or not math.isfinite(dem["elevation_m"]):
        reason = dem.get("reason") or "no data"
        status_missing = site.rules["missing"]["dem"]
        reason_zh = "未配置DEM" if dem_path is None else f"DEM不可用（{reason}）"
        return [
            finding("elevation", "高程", "Elevation", None, "m", "DEM sample at the basis point", status_missing,
                    f"无法判断：{reason_zh}。", f"Unavailable: {reason}."),
            finding("slope", "坡度", "Slope", None, "%", rule, status_missing,
                    f"无法判断：{reason_zh}。", f"Unavailable: {reason}."),
        ]
    elev = float(dem["elevation_m"])
    src = {"crs": dem.get("crs"), "source": dem.get("source"), "resolution_m": dem.get("resolution_m")}
    zh_src, en_src = (f"（DEM：{src['source']}，分辨率 {src['resolution_m']:g} m）",
                      f" (DEM: {src['source']}, {src['resolution_m']:g} m resolution)")
    out = [finding("elevation", "高程", "Elevation", round(elev, 1), "m", "DEM sample at the basis point",
                   "info", f"高程约 {elev:.0f} m{zh_src}。", f"Elevation about {elev:.0f} m{en_src}.", src)]
    pct, deg = dem.get("slope_pct"), dem.get("slope_deg")
    if pct is None or not math.isfinite(pct):
        out.append(finding("slope", "坡度", "Slope", None, "%", rule, site.rules["missing"]["dem"],
                           "无法计算坡度：邻近像元无数据。", "Slope unavailable: nodata in the 3×3 window."))
        return out
    status = band(pct, lim["ok_max_pct"], lim["conditional_max_pct"])
    out.append(finding("slope", "坡度", "Slope", round(pct, 2), "%", rule, status,
                       f"坡度约 {pct:.1f}%（{deg:.1f}°）{zh_src}。", f"Slope about {pct:.1f}% ({deg:.1f}°){en_src}.",
                       {"slope_deg": deg, "slope_pct": pct, "cell_m": dem.get("cell_m"), **src}))
    return out
