"""Travel-time findings: Changchun by each mode, the 2-hour goal, Meihekou's centre, nearest station and hub.

All times run from the site's basis point on the travel network (``direction="from"``), one
``one_to_all`` call per mode, shared by every finding through :class:`Travel`.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from ...errors import NoNetworkNearby
from .common import band, finding, layer, metric, minutes, name, with_geometry
from .rules import MODES

if TYPE_CHECKING:
    from .site import Site

_MODE_ZH = {"car": "驾车", "rail": "铁路", "best": "最快方式"}
_MODE_EN = {"car": "car", "rail": "rail", "best": "the fastest mode"}


class Travel:
    """Network times from the site, one ``one_to_all`` call per mode (lazily)."""

    def __init__(self, graph: Any, origin: tuple[float, float]) -> None:
        self.graph = graph
        self.origin = origin
        self.trees: dict[str, np.ndarray] = {}
        self.offnet: dict[str, np.ndarray] = {}  # seconds off the network per node (when the graph says)
        self.error: str | None = None
        if graph is None:
            self.error = "no travel network loaded"

    def seconds(self, dest: tuple[float, float], mode: str) -> float | None:
        """Return seconds from the site to ``dest`` by ``mode``; inf when unreachable.

        None when the network is unavailable (``self.error`` says why).
        """
        return self.trip(dest, mode)[0]

    def _tree(self, mode: str) -> None:
        """One search from the site by ``mode``, with the off-network seconds per node when the graph gives them."""
        if hasattr(self.graph, "one_to_all_offnet"):
            t, off = self.graph.one_to_all_offnet(self.origin, mode=mode, direction="from")
            self.offnet[mode] = np.asarray(off, dtype="float64")
        else:
            t = self.graph.one_to_all(self.origin, mode=mode, direction="from")
        self.trees[mode] = np.asarray(t, dtype="float64")

    def trip(self, dest: tuple[float, float], mode: str) -> tuple[float | None, float | None]:
        """``(seconds, offnet_seconds)`` from the site to ``dest``: the trip's time and its part off the network.

        The off-network part is the site's and the destination's access legs and any station access
        link on the way (None when the graph does not say); see :meth:`seconds` for the time.
        """
        if self.error is not None:
            return None, None
        try:
            if mode not in self.trees:
                self._tree(mode)
            idx, acc = self.graph.snap(np.asarray([dest], dtype="float64"))
        except NoNetworkNearby as exc:
            if mode not in self.trees:
                self.error = f"site: {exc.message}"
                return None, None
            return math.inf, None  # the destination has no road nearby: unreachable from here
        # snap gives the k nearest nodes per point ((m, k) arrays; inf access beyond the limit):
        # the destination's time is the best of node time + egress over its candidates.
        idx = np.atleast_2d(np.asarray(idx))[0].astype(np.int64)
        acc = np.atleast_2d(np.asarray(acc, dtype="float64"))[0]
        total = self.trees[mode][idx] + acc
        best = int(np.argmin(total))
        off = self.offnet.get(mode)
        return float(total[best]), None if off is None else float(off[idx[best]] + acc[best])


def _changchun_mode(site: Site, mode: str) -> dict[str, Any]:
    """Time to Changchun by one mode, judged by the rules' bands when the mode is judged."""
    cc = site.rules["changchun"]
    judged = set(cc.get("judged_modes", ["best"]))
    rule = (f"≤{cc['pass_max_min']} min ok (plan 2-hour goal); ≤{cc['conditional_max_min']} "
            f"conditional; beyond fail (assumption)")
    key, lz, le = f"changchun_{mode}", f"至长春时间（{_MODE_ZH[mode]}）", f"Time to Changchun ({mode})"
    travel = site.travel
    sec = travel.seconds(site.changchun, mode)  # type: ignore[arg-type]
    if sec is None:
        status = cc["no_network"] if travel.error and "site:" in travel.error else site.rules["missing"]["network"]
        return finding(key, lz, le, None, "min", rule, status,
                       f"无法计算：{travel.error}。", f"Cannot compute: {travel.error}.")
    mins = minutes(sec)
    if mins is None:
        return finding(key, lz, le, None, "min", rule, cc["unreachable"] if mode in judged else "info",
                       f"{_MODE_ZH[mode]}无法到达长春。", f"Changchun is unreachable by {_MODE_EN[mode]}.",
                       {"reachable": False})
    status = band(mins, cc["pass_max_min"], cc["conditional_max_min"]) if mode in judged else "info"
    within = mins <= cc["pass_max_min"]
    off_zh, off_en, off = _offnet_notes(site, mode, mins)
    return finding(
        key, lz, le, mins, "min", rule, status,
        f"{_MODE_ZH[mode]}至长春约 {mins:.0f} 分钟，{'在' if within else '不在'} 2 小时以内。{off_zh}",
        f"About {mins:.0f} min to Changchun by {_MODE_EN[mode]}; {'within' if within else 'not within'} 2 h.{off_en}",
        {"within_2h": within, "reachable": True, **off})


def _offnet_notes(site: Site, mode: str, mins: float) -> tuple[str, str, dict[str, Any]]:
    """The trip's minutes off the network (access legs, an assumption) and whether they make it low confidence."""
    _sec, off_s = site.travel.trip(site.changchun, mode)  # type: ignore[arg-type]
    if off_s is None or not math.isfinite(off_s):
        return "", "", {}
    from ..surface import confidence_rule

    most, share = confidence_rule(site.travel.graph.params)
    off = round(off_s / 60.0, 1)
    low = off > most or off > share * mins
    zh = f"其中约 {off:g} 分钟为网外接驳（按假设的接驳车速计算）" + ("，属低置信度。" if low else "。")
    en = f" About {off:g} min of it is off the network (timed by the assumed access speed)" + (
        "; low confidence." if low else ".")
    return zh, en, {"offnet_min": off, "low_confidence": low}


def changchun(site: Site) -> list[dict[str, Any]]:
    """Time to Changchun by car, rail and the fastest mode, then whether the fastest is within 2 hours."""
    out = [_changchun_mode(site, mode) for mode in MODES]
    best_min = {f["key"]: f["value"] for f in out}["changchun_best"]
    pass_max = site.rules["changchun"]["pass_max_min"]
    within_2h = None if best_min is None else best_min <= pass_max
    out.append(finding(
        "changchun_within_2h", "2小时到达长春", "Within 2 h of Changchun", within_2h, None,
        f"best time ≤ {pass_max} min (plan 2-hour goal)",
        "info" if within_2h is not None else site.rules["missing"]["network"],
        "是" if within_2h else ("否" if within_2h is not None else "无法判断（无通行时间）"),
        "yes" if within_2h else ("no" if within_2h is not None else "unknown (no travel time)")))
    return out


def centre(site: Site) -> list[dict[str, Any]]:
    """Time to Meihekou's centre by the fastest mode (information)."""
    travel = site.travel
    sec = travel.seconds(site.centre, "best")  # type: ignore[arg-type]
    lz, le = "至梅河口市中心时间", "Time to Meihekou centre"
    if sec is None:
        return [finding("centre_best", lz, le, None, "min", "information", site.rules["missing"]["network"],
                        f"无法计算：{travel.error}。", f"Cannot compute: {travel.error}.")]
    cmin = minutes(sec)
    return [finding(
        "centre_best", lz, le, cmin, "min", "information", site.rules.get("centre", {}).get("status", "info"),
        f"至市中心约 {cmin:.0f} 分钟（最快方式）。" if cmin is not None else "无法到达市中心。",
        f"About {cmin:.0f} min to the centre (best mode)." if cmin is not None else "The centre is unreachable.")]


def _nearest(site: Site, layer_name: str, missing_key: str, *, key: str, label_zh: str, label_en: str,
             unnamed: tuple[str, str], none_zh: str, none_en: str) -> dict[str, Any]:
    """The nearest feature of a layer by straight distance, with its network time by car (information)."""
    gdf = with_geometry(layer(site.layers, layer_name))
    rule = "nearest by straight distance (EPSG:32651); network time by car"
    if gdf is None:
        return finding(key, label_zh, label_en, None, None, rule, site.rules["missing"][missing_key], none_zh, none_en)
    dist = metric(gdf).distance(site.site_m)
    j = dist.idxmin()
    km = float(dist[j]) / 1000.0
    row = gdf.loc[j]
    nm = name(row, "name_zh", "osm_name", "name")
    pt = row.geometry.representative_point() if row.geometry.geom_type != "Point" else row.geometry
    travel = site.travel
    sec = travel.seconds((float(pt.x), float(pt.y)), "car")
    mins = minutes(sec)
    disp_zh, disp_en = nm or unnamed[0], nm or unnamed[1]
    if sec is None:
        t_zh, t_en = f"通行时间无法计算（{travel.error}）", f"network time unavailable ({travel.error})"
    elif mins is None:
        t_zh, t_en = "驾车无法到达", "unreachable by car"
    else:
        t_zh, t_en = f"驾车约 {mins:.0f} 分钟", f"about {mins:.0f} min by car"
    return finding(
        key, label_zh, label_en, disp_en if nm is None else nm, None, rule, "info",
        f"{disp_zh}：直线 {km:.1f} km，{t_zh}。", f"{disp_en}: {km:.1f} km straight, {t_en}.",
        {"name": nm, "straight_km": km, "minutes_car": mins, "lon": float(pt.x), "lat": float(pt.y)})


def station(site: Site) -> list[dict[str, Any]]:
    """The nearest railway station."""
    return [_nearest(site, "stations", "layer",
                     key="station", label_zh="最近火车站", label_en="Nearest station",
                     unnamed=("未命名的OSM车站", "unnamed OSM station"),
                     none_zh="无法判断：未加载车站位置。", none_en="Unavailable: no station locations loaded.")]


def logistics_hub(site: Site) -> list[dict[str, Any]]:
    """The nearest logistics hub."""
    return [_nearest(site, "logistics", "logistics_hub",
                     key="logistics_hub", label_zh="最近物流枢纽", label_en="Nearest logistics hub",
                     unnamed=("未命名物流枢纽", "unnamed hub"),
                     none_zh="无法判断：未加载物流枢纽位置。", none_en="Unavailable: no hub locations loaded.")]
