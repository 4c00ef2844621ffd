"""Where the site lies: the basis of the review, its township, its park, and whether its sector fits the park."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .common import finding, layer, metric, name, with_geometry

if TYPE_CHECKING:
    from .site import Site

_TOWNSHIP_RULE = "township polygon containing (point) or overlapping most (polygon) the site"
_PARK_RULE = "park polygon containing (point) or overlapping (polygon) the site"


def basis(site: Site) -> list[dict[str, Any]]:
    """Say where each finding is judged: at the point, or at the polygon's centroid and on its area."""
    if site.is_point:
        return [finding(
            "basis", "评估依据", "Basis", "point", None, "point site: every finding at the point", "info",
            "点位：各项均按该点评估。", "Point site: every finding is judged at the point.",
            {"lon": site.lon, "lat": site.lat})]
    area_km2 = site.area_km2
    return [finding(
        "basis", "评估依据", "Basis", "centroid", None,
        "polygon: travel times, elevation and slope at the centroid; township, park and "
        "distances to rail/road from the area", "info",
        f"面状地块（{area_km2:.3f} km²）：通行时间、高程和坡度按形心评估；所属乡镇、园区及到铁路/干线公路"
        "的距离按地块范围评估。",
        f"Polygon site ({area_km2:.3f} km²): travel times, elevation and slope are judged at its "
        "centroid; township, park and distances to rail and trunk road on its area.",
        {"lon": site.lon, "lat": site.lat, "area_km2": area_km2})]


def township(site: Site) -> list[dict[str, Any]]:
    """Whether the site lies in Meihekou (outside fails), and in which township."""
    if site.county is None:
        return [finding(
            "township", "所属乡镇", "Township", None, None, "site within data/boundary.geojson",
            site.rules["missing"]["layer"], "无法判断：未加载市界。",
            "Unavailable: the county boundary is not loaded.", {"missing": "boundary"})]
    inside, share = site.county
    if not inside:
        return [finding(
            "township", "所属乡镇", "Township", "outside Meihekou", None,
            "site within data/boundary.geojson (梅河口市)", "fail",
            "地块位于梅河口市域之外。", "The site lies outside Meihekou (梅河口市).",
            {"inside_meihekou": False})]
    return [_township_inside(site, share)]


def _township_rows(site: Site, towns: Any) -> list[tuple[Any, float]]:
    """The township rows covering the site, with the share of the site in each (largest first)."""
    tm = metric(towns)
    if site.is_point:
        hits = tm[tm.covers(site.site_m)]
        return [(r, 1.0) for _, r in hits.iterrows()]
    inter = tm.intersection(site.site_m).area / site.site_m.area
    return sorted(((tm.loc[i], float(s)) for i, s in inter.items() if s > 0), key=lambda x: -x[1])


def _township_inside(site: Site, share: float) -> dict[str, Any]:
    """The township finding for a site inside Meihekou (conditional when a polygon is partly outside)."""
    towns = with_geometry(layer(site.layers, "towns"))
    partial = share < 1.0 - 1e-9
    part_zh = f"（地块仅 {share:.0%} 位于市域内）" if partial else ""
    part_en = f" (only {share:.0%} of the site lies inside Meihekou)" if partial else ""
    # A polygon partly outside the county is conditional even when the township is unknown.
    status_unknown = "conditional" if partial else site.rules["missing"]["township"]
    unknown = "梅河口市 (township unknown)"
    if towns is None:
        return finding(
            "township", "所属乡镇", "Township", unknown, None, _TOWNSHIP_RULE, status_unknown,
            f"无法判断所属乡镇：未加载乡镇边界；地块位于梅河口市域内{part_zh}。",
            f"Unavailable: township boundaries not loaded; the site lies inside Meihekou{part_en}.",
            {"inside_meihekou": True, "share_inside": share})
    rows = _township_rows(site, towns)
    if not rows:
        return finding(
            "township", "所属乡镇", "Township", unknown, None, _TOWNSHIP_RULE, status_unknown,
            f"无法判断所属乡镇：没有乡镇边界覆盖该地块；地块位于梅河口市域内{part_zh}。",
            f"Unavailable: no township boundary covers the site; it lies inside Meihekou{part_en}.",
            {"inside_meihekou": True, "share_inside": share})
    main, _ = rows[0]
    town, code = name(main, "name_zh") or "?", name(main, "code") or ""
    others = [(name(r, "name_zh"), s) for r, s in rows]
    val = f"{town} ({code})" if code else town
    extra_zh = "；跨越：" + "、".join(f"{n} {s:.0%}" for n, s in others) if len(rows) > 1 else ""
    extra_en = "; spans: " + ", ".join(f"{n} {s:.0%}" for n, s in others) if len(rows) > 1 else ""
    return finding(
        "township", "所属乡镇", "Township", val, None, _TOWNSHIP_RULE, "conditional" if partial else "ok",
        f"地块位于{town}{extra_zh}{part_zh}。", f"The site lies in {town}{extra_en}{part_en}.",
        {"inside_meihekou": True, "share_inside": share, "code": code, "name_zh": town,
         "townships": [{"name_zh": n, "share": s} for n, s in others]})


def park(site: Site) -> list[dict[str, Any]]:
    """The parks the site lies in or overlaps, or the nearest park (information)."""
    inside = site.parks
    if inside is None:
        return [finding("park", "所在园区", "Industrial park", None, None, _PARK_RULE,
                        site.rules["missing"]["park"], "无法判断：未加载园区位置。",
                        "Unavailable: no park locations loaded.")]
    if inside:
        names = "、".join(p["name_zh"] or "?" for p in inside)
        names_en = ", ".join(p["name_en"] or p["name_zh"] or "?" for p in inside)
        verb_zh = "位于" if site.is_point else "与以下园区重叠："
        verb_en = "lies in" if site.is_point else "overlaps"
        return [finding("park", "所在园区", "Industrial park", names, None, _PARK_RULE, "info",
                        f"地块{verb_zh}{names}。", f"The site {verb_en} {names_en}.", {"parks": inside})]
    pm = site.park_frame
    dist = pm.distance(site.site_m)
    j = dist.idxmin()
    near = {"name_zh": name(pm.loc[j], "name_zh"), "distance_km": float(dist[j]) / 1000.0}
    return [finding(
        "park", "所在园区", "Industrial park", "not in a park", None, _PARK_RULE, "info",
        f"地块不在任何已加载的园区内；最近的是{near['name_zh']}（{near['distance_km']:.1f} km）。",
        f"The site lies in no loaded park; the nearest is {near['name_zh']} ({near['distance_km']:.1f} km).",
        {"parks": [], "nearest": near})]


def sector_fit(site: Site) -> list[dict[str, Any]]:
    """Whether the project's sector is a designated sector of the park it lies in."""
    sector, parks_in, rules = site.sector, site.parks, site.rules
    fit = rules["sector_fit"]
    rule = ("project sector among the designated sectors of the park (plan's industry layout); "
            f"mismatch {fit['mismatch']}, outside every park {fit['not_in_park']} (assumptions)")
    designated_for = sorted(n for n, secs in rules["parks"].items() if sector in secs)
    detail: dict[str, Any] = {"parks_for_sector": designated_for}
    if sector is None:
        return [finding("sector_fit", "产业契合度", "Sector fit", None, None, rule, "info",
                        "未指定产业类别。", "No sector given.", detail)]
    sec_en = f"{sector} ({rules.get('sector_en', {}).get(sector, sector)})"
    if parks_in is None:
        hint_zh = "；规划中该产业的园区：" + "、".join(designated_for) if designated_for else ""
        hint_en = "; the plan's parks for this sector: " + ", ".join(designated_for) if designated_for else ""
        return [finding("sector_fit", "产业契合度", "Sector fit", None, None, rule, rules["missing"]["park"],
                        f"无法判断：未加载园区位置{hint_zh}。",
                        f"Unavailable: no park locations loaded, so the park is unknown{hint_en}.", detail)]
    if not parks_in:
        if sector in fit.get("no_park_needed", []):
            return [finding("sector_fit", "产业契合度", "Sector fit", "no park needed", None, rule, "info",
                            f"{sector}不要求位于园区。", f"{sec_en} needs no park.", detail)]
        return [finding("sector_fit", "产业契合度", "Sector fit", "not in a park", None, rule, fit["not_in_park"],
                        f"地块不在任何园区内；规划中{sector}的园区：" + "、".join(designated_for) + "。",
                        f"The site lies in no park; the plan's parks for {sec_en}: "
                        + ", ".join(designated_for) + ".", detail)]
    return [_park_fit(sector, sec_en, parks_in, rule, fit, detail)]


def _park_fit(sector: str, sec_en: str, parks_in: list[dict[str, Any]], rule: str, fit: Any,
              detail: dict[str, Any]) -> dict[str, Any]:
    """Sector fit for a site inside parks: ``fit`` when one of them designates the sector, else ``mismatch``."""
    matching = [p for p in parks_in if sector in p["sectors"]]
    detail["parks"] = [{"name_zh": p["name_zh"], "sectors": p["sectors"]} for p in parks_in]
    if matching:
        p = matching[0]
        return finding("sector_fit", "产业契合度", "Sector fit", "fit", None, rule, "ok",
                       f"{sector}属于{p['name_zh']}的主导产业（{'、'.join(p['sectors'])}）。",
                       f"{sec_en} is a designated sector of {p['name_zh']} ({', '.join(p['sectors'])}).",
                       detail)
    secs = sorted({s for p in parks_in for s in p["sectors"]})
    names = "、".join(p["name_zh"] or "?" for p in parks_in)
    return finding("sector_fit", "产业契合度", "Sector fit", "mismatch", None, rule, fit["mismatch"],
                   f"{sector}不属于{names}的主导产业（{'、'.join(secs)}）。",
                   f"{sec_en} is not a designated sector of {names} ({', '.join(secs)}).", detail)
