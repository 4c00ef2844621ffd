"""Siting review report (DESIGN §4): findings for a proposed site and a rule-based verdict.

Pure functions, no Flask. A point site is judged where it is. A polygon site is judged
on its centroid for travel times, elevation and slope, and on its area for township
and park overlap and for the distances to rail and road; the report's ``basis``
finding says so.

The rules (thresholds, the sector-to-park fit table, slope limits, how missing data is
judged) come from one config file, ``geo_app/review_rules.toml`` (:func:`load_rules`).
Missing data gives ``unavailable`` findings that the verdict lists as caveats, never
as failures. The report is JSON-safe: no NaN or infinity anywhere (None instead).
"""

from __future__ import annotations

import copy
import math
import tomllib
from collections.abc import Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DataFileError, GeometryError, NoNetworkNearby, ValidationError

RULES_PATH = Path(__file__).resolve().parents[1] / "review_rules.toml"
STATUSES = ("ok", "conditional", "fail", "unavailable", "info")
VERDICTS = ("suitable", "conditional", "unsuitable")
METRIC_CRS = "EPSG:32651"
MODES = ("car", "rail", "best")
VERDICT_ZH = {"suitable": "适宜", "conditional": "有条件适宜", "unsuitable": "不适宜"}


# --------------------------------------------------------------------------------------
# rules
# --------------------------------------------------------------------------------------
@lru_cache(maxsize=8)
def _read_rules(path: str) -> dict[str, Any]:
    try:
        raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise DataFileError(f"review rules {path}: {exc}") from exc
    _check_rules(raw, path)
    return raw


def _check_rules(r: Mapping[str, Any], path: str) -> None:
    def bad(msg: str) -> DataFileError:
        return DataFileError(f"review rules {path}: {msg}")

    for key in ("version", "sectors", "changchun", "slope", "infrastructure", "sector_fit", "missing",
                "parks"):
        if key not in r:
            raise bad(f"missing section or key {key!r}")
    cc = r["changchun"]
    if not 0 < cc["pass_max_min"] <= cc["conditional_max_min"]:
        raise bad("changchun: need 0 < pass_max_min <= conditional_max_min")
    if any(m not in MODES for m in cc.get("judged_modes", [])):
        raise bad(f"changchun.judged_modes must be among {MODES}")
    for name, lim in [("default", r["slope"]["default"]), *r["slope"].get("sectors", {}).items()]:
        if not 0 <= lim["ok_max_pct"] <= lim["conditional_max_pct"]:
            raise bad(f"slope {name}: need 0 <= ok_max_pct <= conditional_max_pct")
    for name in ("rail", "trunk_road"):
        lim = r["infrastructure"][name]
        if not 0 <= lim["ok_max_m"] <= lim["conditional_max_m"]:
            raise bad(f"infrastructure.{name}: need 0 <= ok_max_m <= conditional_max_m")
    statuses = [cc["unreachable"], cc["no_network"], r["sector_fit"]["mismatch"],
                r["sector_fit"]["not_in_park"], r["infrastructure"]["rail"]["beyond"],
                r["infrastructure"]["trunk_road"]["beyond"], *r["missing"].values()]
    for s in statuses:
        if s not in STATUSES:
            raise bad(f"status {s!r} is not one of {STATUSES}")
    for park, secs in r["parks"].items():
        unknown = [s for s in secs if s not in r["sectors"]]
        if unknown:
            raise bad(f"park {park}: unknown sectors {unknown}")


def load_rules(path: str | Path | None = None) -> dict[str, Any]:
    """Load and check the review rules.

    Parameters
    ----------
    path
        A TOML file; the packaged ``geo_app/review_rules.toml`` when None.

    Returns
    -------
    dict
        A fresh copy of the parsed rules (safe to modify, e.g. in tests).
    """
    return copy.deepcopy(_read_rules(str(Path(path or RULES_PATH).resolve())))


def sectors(rules: Mapping[str, Any] | None = None) -> list[str]:
    """Return the plan's project sectors (Chinese names), in the rules' order."""
    return list((rules or load_rules())["sectors"])


# --------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------
def json_safe(obj: Any) -> Any:
    """Return ``obj`` with numpy scalars made native and NaN/inf replaced by None."""
    if isinstance(obj, Mapping):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple | np.ndarray):
        return [json_safe(v) for v in obj]
    if isinstance(obj, bool | np.bool_):
        return bool(obj)
    if isinstance(obj, int | np.integer):
        return int(obj)
    if isinstance(obj, float | np.floating):
        v = float(obj)
        return v if math.isfinite(v) else None
    return obj


def _finding(key: str, label_zh: str, label_en: str, value: Any, unit: str | None, rule: str,
             status: str, note_zh: str, note_en: str, detail: Mapping[str, Any] | None = None
             ) -> dict[str, Any]:
    assert status in STATUSES, status
    return {"key": key, "label_zh": label_zh, "label_en": label_en, "value": value, "unit": unit,
            "rule": rule, "status": status, "note_zh": note_zh, "note_en": note_en,
            "detail": dict(detail or {})}


def _layer(layers: Any, name: str) -> Any:
    """Return a layer GeoDataFrame from a mapping or a LayerRegistry; None when absent."""
    try:
        if isinstance(layers, Mapping):
            return layers.get(name)
        return layers.frame(name)
    except Exception:  # unknown layer or unreadable file: the finding says unavailable
        return None


def _with_geometry(gdf: Any) -> Any:
    if gdf is None or len(gdf) == 0:
        return None
    mask = gdf.geometry.notna() & ~gdf.geometry.is_empty
    out = gdf[mask]
    return out if len(out) else None


def _metric(gdf: Any) -> Any:
    return gdf.to_crs(METRIC_CRS)


@lru_cache(maxsize=1)
def _transformer():  # type: ignore[no-untyped-def]
    from pyproj import Transformer

    return Transformer.from_crs("EPSG:4326", METRIC_CRS, always_xy=True)


def _to_metric(geom: Any) -> Any:
    import shapely

    return shapely.transform(geom, _transformer().transform, interleaved=False)


def _minutes(seconds: float | None) -> float | None:
    if seconds is None or not math.isfinite(seconds):
        return None
    return round(float(seconds) / 60.0, 1)


def _name(row: Mapping[str, Any], *fields: str) -> str | None:
    for f in fields:
        v = row.get(f)
        if isinstance(v, str) and v.strip():
            return v.strip()
    return None


def _band(value: float, ok_max: float, cond_max: float, beyond: str = "fail") -> str:
    if value <= ok_max:
        return "ok"
    if value <= cond_max:
        return "conditional"
    return beyond


# --------------------------------------------------------------------------------------
# travel
# --------------------------------------------------------------------------------------
class _Travel:
    """Network times from the site, one ``one_to_all`` call per mode (lazily)."""

    def __init__(self, graph: Any, origin: tuple[float, float]) -> None:
        self.graph = graph
        self.origin = origin
        self.trees: dict[str, np.ndarray] = {}
        self.error: str | None = None
        if graph is None:
            self.error = "no travel network loaded"

    def seconds(self, dest: tuple[float, float], mode: str) -> float | None:
        """Return seconds from the site to ``dest`` by ``mode``; inf when unreachable.

        None when the network is unavailable (``self.error`` says why).
        """
        if self.error is not None:
            return None
        try:
            if mode not in self.trees:
                self.trees[mode] = np.asarray(
                    self.graph.one_to_all(self.origin, mode=mode, direction="from"), dtype="float64")
            idx, acc = self.graph.snap(np.asarray([dest], dtype="float64"))
        except NoNetworkNearby as exc:
            if mode not in self.trees:
                self.error = f"site: {exc.message}"
                return None
            return math.inf  # the destination has no road nearby: unreachable from here
        # snap gives the k nearest nodes per point ((m, k) arrays; inf access beyond the limit):
        # the destination's time is the best of node time + egress over its candidates.
        idx = np.atleast_2d(np.asarray(idx))[0].astype(np.int64)
        acc = np.atleast_2d(np.asarray(acc, dtype="float64"))[0]
        return float(np.min(self.trees[mode][idx] + acc))


# --------------------------------------------------------------------------------------
# the review
# --------------------------------------------------------------------------------------
def review_site(geom: Any, *, project: str | None = None, sector: str | None = None,
                layers: Mapping[str, Any] | Any, graph: Any, rules: Mapping[str, Any],
                dem_path: Path | str | None = None, changchun: Sequence[float],
                centre: Sequence[float]) -> dict[str, Any]:
    """Review a proposed project site.

    Parameters
    ----------
    geom
        shapely Point, Polygon or MultiPolygon in WGS84 (already validated, e.g. by
        :func:`geo_app.validate.geometry`).
    project
        Project name (free text) or None.
    sector
        One of :func:`sectors` or None.
    layers
        Mapping of layer name to GeoDataFrame (EPSG:4326), or a ``LayerRegistry``. Used:
        ``boundary``, ``towns``, ``parks``, ``logistics``, ``stations``, ``rail_lines``, ``roads``.
    graph
        A ``TravelGraph`` (``one_to_all``, ``snap``) or None when no network is loaded.
    rules
        From :func:`load_rules`.
    dem_path
        GeoTIFF DEM or None (``GEO_APP_DEM``).
    changchun, centre
        ``(lon, lat)`` of Changchun and of Meihekou's centre.

    Returns
    -------
    dict
        ``project``, ``sector``, ``sector_en``, ``site``, ``inside_meihekou``, ``findings``
        (list of ``{key, label_zh, label_en, value, unit, rule, status, note_zh, note_en,
        detail}``), ``verdict``, ``verdict_zh``, ``reasons`` and ``caveats`` (lists of
        ``{key, zh, en}``), ``rules_version``. JSON-safe.
    """
    from ..raster import sample_dem

    gtype = getattr(geom, "geom_type", None)
    if gtype not in ("Point", "Polygon", "MultiPolygon") or geom.is_empty:
        raise GeometryError(f"site must be a Point or Polygon, got {gtype}", field="geometry")
    if project is not None:
        project = str(project).strip() or None
        if project is not None and len(project) > 200:
            raise ValidationError("project: at most 200 characters", field="project")
    known_sectors = sectors(rules)
    if sector is not None:
        sector = str(sector).strip() or None
    if sector is not None and sector not in known_sectors:
        raise ValidationError(f"sector must be one of {', '.join(known_sectors)}", field="sector")

    is_point = gtype == "Point"
    site_m = _to_metric(geom)
    basis_pt = geom if is_point else geom.centroid
    lon, lat = float(basis_pt.x), float(basis_pt.y)
    area_km2 = None if is_point else site_m.area / 1e6
    missing = rules["missing"]
    findings: list[dict[str, Any]] = []

    # -- basis ---------------------------------------------------------------------------
    if is_point:
        findings.append(_finding(
            "basis", "评估依据", "Basis", "point", None, "point site: every finding at the point", "info",
            "点位：各项均按该点评估。", "Point site: every finding is judged at the point.",
            {"lon": lon, "lat": lat}))
    else:
        findings.append(_finding(
            "basis", "评估依据", "Basis", "centroid", None,
            "polygon: travel times, elevation and slope at the centroid; township, park and "
            "distances to rail/road from the area", "info",
            f"面状地块（{area_km2:.3f} km²）：通行时间、高程和坡度按形心评估；所属乡镇、园区及到铁路/干线公路"
            "的距离按地块范围评估。",
            f"Polygon site ({area_km2:.3f} km²): travel times, elevation and slope are judged at its "
            "centroid; township, park and distances to rail and trunk road on its area.",
            {"lon": lon, "lat": lat, "area_km2": area_km2}))

    # -- township ------------------------------------------------------------------------
    inside: bool | None = None
    boundary = _with_geometry(_layer(layers, "boundary"))
    if boundary is None:
        findings.append(_finding(
            "township", "所属乡镇", "Township", None, None, "site within data/boundary.geojson",
            missing["layer"], "无法判断：未加载市界。", "Unavailable: the county boundary is not loaded."))
    else:
        county = _metric(boundary).union_all()
        share = 1.0 if is_point else (site_m.intersection(county).area / site_m.area if site_m.area else 0)
        inside = bool(county.covers(site_m)) if is_point else share > 0
        if not inside:
            findings.append(_finding(
                "township", "所属乡镇", "Township", "outside Meihekou", None,
                "site within data/boundary.geojson (梅河口市)", "fail",
                "地块位于梅河口市域之外。", "The site lies outside Meihekou (梅河口市).",
                {"inside_meihekou": False}))
        else:
            findings.append(_township(layers, site_m, is_point, share, missing))

    # -- park ----------------------------------------------------------------------------
    parks_in, park_finding = _parks(layers, site_m, is_point, rules)
    findings.append(park_finding)

    # -- travel times ----------------------------------------------------------------------
    travel = _Travel(graph, (lon, lat))
    cc_rules = rules["changchun"]
    judged = set(cc_rules.get("judged_modes", ["best"]))
    cc_rule = (f"≤{cc_rules['pass_max_min']} min ok (plan 2-hour goal); ≤{cc_rules['conditional_max_min']} "
               f"conditional; beyond fail (assumption)")
    mode_zh = {"car": "驾车", "rail": "铁路", "best": "最快方式"}
    mode_en = {"car": "car", "rail": "rail", "best": "the fastest mode"}
    best_min: float | None = None
    for mode in MODES:
        sec = travel.seconds(tuple(changchun), mode)  # type: ignore[arg-type]
        key = f"changchun_{mode}"
        lz, le = f"至长春时间（{mode_zh[mode]}）", f"Time to Changchun ({mode})"
        if sec is None:
            status = cc_rules["no_network"] if travel.error and "site:" in travel.error else missing["network"]
            findings.append(_finding(key, lz, le, None, "min", cc_rule, status,
                                     f"无法计算：{travel.error}。", f"Cannot compute: {travel.error}."))
            continue
        mins = _minutes(sec)
        if mode == "best":
            best_min = mins
        if mins is None:
            status = cc_rules["unreachable"] if mode in judged else "info"
            findings.append(_finding(key, lz, le, None, "min", cc_rule, status,
                                     f"{mode_zh[mode]}无法到达长春。", f"Changchun is unreachable by {mode_en[mode]}.",
                                     {"reachable": False}))
            continue
        status = _band(mins, cc_rules["pass_max_min"], cc_rules["conditional_max_min"]) if mode in judged \
            else "info"
        within = mins <= cc_rules["pass_max_min"]
        findings.append(_finding(
            key, lz, le, mins, "min", cc_rule, status,
            f"{mode_zh[mode]}至长春约 {mins:.0f} 分钟，{'在' if within else '不在'} 2 小时以内。",
            f"About {mins:.0f} min to Changchun by {mode_en[mode]}; {'within' if within else 'not within'} 2 h.",
            {"within_2h": within, "reachable": True}))
    within_2h = None if best_min is None else best_min <= cc_rules["pass_max_min"]
    findings.append(_finding(
        "changchun_within_2h", "2小时到达长春", "Within 2 h of Changchun", within_2h, None,
        f"best time ≤ {cc_rules['pass_max_min']} min (plan 2-hour goal)",
        "info" if within_2h is not None else missing["network"],
        "是" if within_2h else ("否" if within_2h is not None else "无法判断（无通行时间）"),
        "yes" if within_2h else ("no" if within_2h is not None else "unknown (no travel time)")))

    # -- centre --------------------------------------------------------------------------
    sec = travel.seconds(tuple(centre), "best")  # type: ignore[arg-type]
    cmin = _minutes(sec)
    if sec is None:
        findings.append(_finding("centre_best", "至梅河口市中心时间", "Time to Meihekou centre", None, "min",
                                 "information", missing["network"], f"无法计算：{travel.error}。",
                                 f"Cannot compute: {travel.error}."))
    else:
        findings.append(_finding(
            "centre_best", "至梅河口市中心时间", "Time to Meihekou centre", cmin, "min", "information",
            rules.get("centre", {}).get("status", "info"),
            f"至市中心约 {cmin:.0f} 分钟（最快方式）。" if cmin is not None else "无法到达市中心。",
            f"About {cmin:.0f} min to the centre (best mode)." if cmin is not None
            else "The centre is unreachable."))

    # -- nearest station and logistics hub -----------------------------------------------
    findings.append(_nearest(layers, "stations", site_m, travel, missing,
                             key="station", label_zh="最近火车站", label_en="Nearest station",
                             unnamed=("未命名的OSM车站", "unnamed OSM station"),
                             none_zh="无法判断：未加载车站位置。", none_en="Unavailable: no station locations loaded."))
    findings.append(_nearest(layers, "logistics", site_m, travel, missing,
                             key="logistics_hub", label_zh="最近物流枢纽", label_en="Nearest logistics hub",
                             unnamed=("未命名物流枢纽", "unnamed hub"),
                             none_zh="无法判断：未加载物流枢纽位置。",
                             none_en="Unavailable: no hub locations loaded."))

    # -- rail line and trunk road -----------------------------------------------------------
    infra = rules["infrastructure"]
    judged_infra = sector in infra.get("logistics_sectors", [])
    findings.append(_distance(layers, "rail_lines", None, site_m, infra["rail"], judged_infra, missing,
                              key="rail_line_distance", label_zh="至铁路线距离",
                              label_en="Distance to rail line", what_zh="铁路线", what_en="rail line"))
    findings.append(_distance(layers, "roads", infra.get("trunk_road_classes"), site_m, infra["trunk_road"],
                              judged_infra, missing, key="trunk_road_distance", label_zh="至干线公路距离",
                              label_en="Distance to trunk road", what_zh="干线公路", what_en="trunk road"))

    # -- DEM -----------------------------------------------------------------------------
    findings.extend(_terrain(sample_dem(dem_path, lon, lat), dem_path, sector, rules))

    # -- sector fit ------------------------------------------------------------------------
    findings.append(_sector_fit(sector, parks_in, layers, rules))

    # -- verdict -------------------------------------------------------------------------
    verdict, reasons, caveats = _verdict(findings, inside)
    report = {
        "project": project,
        "sector": sector,
        "sector_en": rules.get("sector_en", {}).get(sector) if sector else None,
        "site": {"type": gtype, "lon": lon, "lat": lat, "area_km2": area_km2,
                 "basis": "point" if is_point else "centroid"},
        "inside_meihekou": inside,
        "findings": findings,
        "verdict": verdict,
        "verdict_zh": VERDICT_ZH[verdict],
        "reasons": reasons,
        "caveats": caveats,
        "rules_version": rules.get("version"),
    }
    return json_safe(report)


def _township(layers: Any, site_m: Any, is_point: bool, share: float, missing: Mapping[str, str]
              ) -> dict[str, Any]:
    towns = _with_geometry(_layer(layers, "towns"))
    rule = "township polygon containing (point) or overlapping most (polygon) the site"
    partial = share < 1.0 - 1e-9
    part_zh = f"（地块仅 {share:.0%} 位于市域内）" if partial else ""
    part_en = f" (only {share:.0%} of the site lies inside Meihekou)" if partial else ""
    status_inside = "conditional" if partial else "ok"
    # A polygon partly outside the county is conditional even when the township is unknown.
    status_unknown = "conditional" if partial else missing["township"]
    if towns is None:
        return _finding(
            "township", "所属乡镇", "Township", "梅河口市 (township unknown)", None, rule, status_unknown,
            f"无法判断所属乡镇：未加载乡镇边界；地块位于梅河口市域内{part_zh}。",
            f"Unavailable: township boundaries not loaded; the site lies inside Meihekou{part_en}.",
            {"inside_meihekou": True, "share_inside": share})
    tm = _metric(towns)
    if is_point:
        hits = tm[tm.covers(site_m)]
        rows = [(r, 1.0) for _, r in hits.iterrows()]
    else:
        inter = tm.intersection(site_m).area / site_m.area
        rows = sorted(((tm.loc[i], float(s)) for i, s in inter.items() if s > 0), key=lambda x: -x[1])
    if not rows:
        return _finding(
            "township", "所属乡镇", "Township", "梅河口市 (township unknown)", None, rule, status_unknown,
            f"无法判断所属乡镇：没有乡镇边界覆盖该地块；地块位于梅河口市域内{part_zh}。",
            f"Unavailable: no township boundary covers the site; it lies inside Meihekou{part_en}.",
            {"inside_meihekou": True, "share_inside": share})
    main, _ = rows[0]
    name, code = _name(main, "name_zh") or "?", _name(main, "code") or ""
    others = [(_name(r, "name_zh"), s) for r, s in rows]
    val = f"{name} ({code})" if code else name
    extra_zh = "；跨越：" + "、".join(f"{n} {s:.0%}" for n, s in others) if len(rows) > 1 else ""
    extra_en = "; spans: " + ", ".join(f"{n} {s:.0%}" for n, s in others) if len(rows) > 1 else ""
    return _finding(
        "township", "所属乡镇", "Township", val, None, rule, status_inside,
        f"地块位于{name}{extra_zh}{part_zh}。", f"The site lies in {name}{extra_en}{part_en}.",
        {"inside_meihekou": True, "share_inside": share, "code": code, "name_zh": name,
         "townships": [{"name_zh": n, "share": s} for n, s in others]})


def _park_sectors(row: Mapping[str, Any], rules: Mapping[str, Any]) -> list[str]:
    name = _name(row, "name_zh") or ""
    if name in rules["parks"]:
        return list(rules["parks"][name])
    raw = row.get("sectors")
    if isinstance(raw, str):
        return [s.strip() for s in raw.split(";") if s.strip()]
    if isinstance(raw, list | tuple):
        return [str(s) for s in raw]
    return []


def _parks(layers: Any, site_m: Any, is_point: bool, rules: Mapping[str, Any]
           ) -> tuple[list[dict[str, Any]] | None, dict[str, Any]]:
    """Return (parks the site lies in — None when no park geometry —, the park finding)."""
    parks = _with_geometry(_layer(layers, "parks"))
    rule = "park polygon containing (point) or overlapping (polygon) the site"
    if parks is None:
        return None, _finding(
            "park", "所在园区", "Industrial park", None, None, rule, rules["missing"]["park"],
            "无法判断：未加载园区位置。", "Unavailable: no park locations loaded.")
    pm = _metric(parks)
    if is_point:
        hit = pm[pm.covers(site_m)]
        shares = {i: 1.0 for i in hit.index}
    else:
        inter = pm.intersection(site_m).area / site_m.area
        shares = {i: float(s) for i, s in inter.items() if s > 0}
    # Largest share of the site first; among equal shares the smaller (more specific) park first,
    # since the plan's parks nest (e.g. the pharma park inside 梅河口高新区).
    area = pm.area
    inside = [{"name_zh": _name(pm.loc[i], "name_zh"), "name_en": _name(pm.loc[i], "name_en"),
               "sectors": _park_sectors(pm.loc[i], rules), "share": s}
              for i, s in sorted(shares.items(), key=lambda kv: (-round(kv[1], 6), float(area[kv[0]])))]
    if inside:
        names = "、".join(p["name_zh"] or "?" for p in inside)
        names_en = ", ".join(p["name_en"] or p["name_zh"] or "?" for p in inside)
        verb_zh = "位于" if is_point else "与以下园区重叠："
        verb_en = "lies in" if is_point else "overlaps"
        return inside, _finding(
            "park", "所在园区", "Industrial park", names, None, rule, "info",
            f"地块{verb_zh}{names}。", f"The site {verb_en} {names_en}.", {"parks": inside})
    dist = pm.distance(site_m)
    j = dist.idxmin()
    near = {"name_zh": _name(pm.loc[j], "name_zh"), "distance_km": float(dist[j]) / 1000.0}
    return [], _finding(
        "park", "所在园区", "Industrial park", "not in a park", None, rule, "info",
        f"地块不在任何已加载的园区内；最近的是{near['name_zh']}（{near['distance_km']:.1f} km）。",
        f"The site lies in no loaded park; the nearest is {near['name_zh']} ({near['distance_km']:.1f} km).",
        {"parks": [], "nearest": near})


def _nearest(layers: Any, name: str, site_m: Any, travel: _Travel, missing: Mapping[str, str], *, key: str,
             label_zh: str, label_en: str, unnamed: tuple[str, str], none_zh: str, none_en: str
             ) -> dict[str, Any]:
    gdf = _with_geometry(_layer(layers, name))
    rule = "nearest by straight distance (EPSG:32651); network time by car"
    if gdf is None:
        status = missing["logistics_hub"] if name == "logistics" else missing["layer"]
        return _finding(key, label_zh, label_en, None, None, rule, status, none_zh, none_en)
    gm = _metric(gdf)
    dist = gm.distance(site_m)
    j = dist.idxmin()
    km = float(dist[j]) / 1000.0
    row = gdf.loc[j]
    nm = _name(row, "name_zh", "osm_name", "name")
    pt = row.geometry.representative_point() if row.geometry.geom_type != "Point" else row.geometry
    sec = travel.seconds((float(pt.x), float(pt.y)), "car")
    mins = _minutes(sec)
    disp_zh, disp_en = nm or unnamed[0], nm or unnamed[1]
    if sec is None:
        t_zh, t_en = f"通行时间无法计算（{travel.error}）", f"network time unavailable ({travel.error})"
    elif mins is None:
        t_zh, t_en = "驾车无法到达", "unreachable by car"
    else:
        t_zh, t_en = f"驾车约 {mins:.0f} 分钟", f"about {mins:.0f} min by car"
    return _finding(
        key, label_zh, label_en, disp_en if nm is None else nm, None, rule, "info",
        f"{disp_zh}：直线 {km:.1f} km，{t_zh}。", f"{disp_en}: {km:.1f} km straight, {t_en}.",
        {"name": nm, "straight_km": km, "minutes_car": mins, "lon": float(pt.x), "lat": float(pt.y)})


def _distance(layers: Any, name: str, classes: Sequence[str] | None, site_m: Any, lim: Mapping[str, Any],
              judged: bool, missing: Mapping[str, str], *, key: str, label_zh: str, label_en: str,
              what_zh: str, what_en: str) -> dict[str, Any]:
    gdf = _with_geometry(_layer(layers, name))
    if gdf is not None and classes and "class" in gdf.columns:
        gdf = _with_geometry(gdf[gdf["class"].isin(list(classes))])
    rule = (f"logistics sectors: ≤{lim['ok_max_m']} m ok, ≤{lim['conditional_max_m']} m conditional, "
            f"beyond {lim['beyond']} (assumption); other sectors: information. Lines are schematic.")
    if gdf is None:
        return _finding(key, label_zh, label_en, None, "m", rule, missing["layer"],
                        f"无法判断：未加载{what_zh}。", f"Unavailable: no {what_en} loaded.")
    d = float(_metric(gdf).distance(site_m).min())
    status = _band(d, lim["ok_max_m"], lim["conditional_max_m"], lim["beyond"]) if judged else "info"
    return _finding(
        key, label_zh, label_en, round(d), "m", rule, status,
        f"至最近{what_zh}约 {d / 1000:.1f} km（示意线，距离为近似值）。",
        f"About {d / 1000:.1f} km to the nearest {what_en} (schematic lines: approximate).",
        {"distance_m": d})


def _terrain(dem: Mapping[str, Any], dem_path: Any, sector: str | None, rules: Mapping[str, Any]
             ) -> list[dict[str, Any]]:
    slope_rules = rules["slope"]
    lim = slope_rules.get("sectors", {}).get(sector or "", slope_rules["default"])
    rule = (f"slope ≤{lim['ok_max_pct']}% ok, ≤{lim['conditional_max_pct']}% conditional, beyond fail "
            f"({'sector ' + sector if sector in slope_rules.get('sectors', {}) else 'default'}; assumption)")
    if not dem.get("available") or dem.get("elevation_m") is None or not math.isfinite(dem["elevation_m"]):
        reason = dem.get("reason") or "no data"
        status = rules["missing"]["dem"]
        reason_zh = "未配置DEM" if dem_path is None else f"DEM不可用（{reason}）"
        return [
            _finding("elevation", "高程", "Elevation", None, "m", "DEM sample at the basis point", status,
                     f"无法判断：{reason_zh}。", f"Unavailable: {reason}."),
            _finding("slope", "坡度", "Slope", None, "%", rule, status,
                     f"无法判断：{reason_zh}。", f"Unavailable: {reason}."),
        ]
    elev = float(dem["elevation_m"])
    out = [_finding("elevation", "高程", "Elevation", round(elev, 1), "m", "DEM sample at the basis point",
                    "info", f"高程约 {elev:.0f} m。", f"Elevation about {elev:.0f} m.",
                    {"crs": dem.get("crs")})]
    pct, deg = dem.get("slope_pct"), dem.get("slope_deg")
    if pct is None or not math.isfinite(pct):
        out.append(_finding("slope", "坡度", "Slope", None, "%", rule, rules["missing"]["dem"],
                            "无法计算坡度：邻近像元无数据。", "Slope unavailable: nodata in the 3×3 window."))
        return out
    status = _band(pct, lim["ok_max_pct"], lim["conditional_max_pct"])
    out.append(_finding("slope", "坡度", "Slope", round(pct, 2), "%", rule, status,
                        f"坡度约 {pct:.1f}%（{deg:.1f}°）。", f"Slope about {pct:.1f}% ({deg:.1f}°).",
                        {"slope_deg": deg, "slope_pct": pct, "cell_m": dem.get("cell_m")}))
    return out


def _sector_fit(sector: str | None, parks_in: list[dict[str, Any]] | None, layers: Any,
                rules: Mapping[str, Any]) -> dict[str, Any]:
    fit = rules["sector_fit"]
    rule = ("project sector among the designated sectors of the park (plan's industry layout); "
            f"mismatch {fit['mismatch']}, outside every park {fit['not_in_park']} (assumptions)")
    designated_for = sorted(n for n, secs in rules["parks"].items() if sector in secs)
    sec_en = f"{sector} ({rules.get('sector_en', {}).get(sector, sector)})" if sector else ""
    detail: dict[str, Any] = {"parks_for_sector": designated_for}
    if sector is None:
        return _finding("sector_fit", "产业契合度", "Sector fit", None, None, rule, "info",
                        "未指定产业类别。", "No sector given.", detail)
    if parks_in is None:
        hint_zh = "；规划中该产业的园区：" + "、".join(designated_for) if designated_for else ""
        hint_en = "; the plan's parks for this sector: " + ", ".join(designated_for) if designated_for else ""
        return _finding("sector_fit", "产业契合度", "Sector fit", None, None, rule, rules["missing"]["park"],
                        f"无法判断：未加载园区位置{hint_zh}。",
                        f"Unavailable: no park locations loaded, so the park is unknown{hint_en}.", detail)
    if not parks_in:
        if sector in fit.get("no_park_needed", []):
            return _finding("sector_fit", "产业契合度", "Sector fit", "no park needed", None, rule, "info",
                            f"{sector}不要求位于园区。", f"{sec_en} needs no park.", detail)
        return _finding("sector_fit", "产业契合度", "Sector fit", "not in a park", None, rule, fit["not_in_park"],
                        f"地块不在任何园区内；规划中{sector}的园区：" + "、".join(designated_for) + "。",
                        f"The site lies in no park; the plan's parks for {sec_en}: "
                        + ", ".join(designated_for) + ".", detail)
    matching = [p for p in parks_in if sector in p["sectors"]]
    detail["parks"] = [{"name_zh": p["name_zh"], "sectors": p["sectors"]} for p in parks_in]
    if matching:
        p = matching[0]
        return _finding("sector_fit", "产业契合度", "Sector fit", "fit", None, rule, "ok",
                        f"{sector}属于{p['name_zh']}的主导产业（{'、'.join(p['sectors'])}）。",
                        f"{sec_en} is a designated sector of {p['name_zh']} ({', '.join(p['sectors'])}).",
                        detail)
    secs = sorted({s for p in parks_in for s in p["sectors"]})
    names = "、".join(p["name_zh"] or "?" for p in parks_in)
    return _finding("sector_fit", "产业契合度", "Sector fit", "mismatch", None, rule, fit["mismatch"],
                    f"{sector}不属于{names}的主导产业（{'、'.join(secs)}）。",
                    f"{sec_en} is not a designated sector of {names} ({', '.join(secs)}).", detail)


def _verdict(findings: list[dict[str, Any]], inside: bool | None
             ) -> tuple[str, list[dict[str, str]], list[dict[str, str]]]:
    reasons: list[dict[str, str]] = []
    if inside is False:
        reasons.append({"key": "township", "zh": "地块位于梅河口市域之外", "en": "outside Meihekou"})
    fails = [f for f in findings if f["status"] == "fail" and not (inside is False and f["key"] == "township")]
    conds = [f for f in findings if f["status"] == "conditional"]
    caveats = [{"key": f["key"], "zh": f["note_zh"], "en": f["note_en"]}
               for f in findings if f["status"] == "unavailable"]
    if inside is False or fails:
        verdict = "unsuitable"
        reasons += [{"key": f["key"], "zh": f["note_zh"], "en": f["note_en"]} for f in fails]
    elif conds:
        verdict = "conditional"
        reasons += [{"key": f["key"], "zh": f["note_zh"], "en": f["note_en"]} for f in conds]
    else:
        verdict = "suitable"
        reasons.append({"key": "all", "zh": "所有判定项均满足规则", "en": "every judged finding meets the rules"})
    return verdict, reasons, caveats
