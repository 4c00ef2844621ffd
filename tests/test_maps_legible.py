"""Maps one can read (issue #18 §2): labels, the first view, legends that cover every value,
one number format, a scenario that says why it changes nothing, the CLI and the web agreeing."""

from __future__ import annotations

import json
import re
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
from shapely.geometry import box

from geo_app.analysis.hillshade import hillshade
from geo_app.web import maps
from geo_app.web.maps.numbers import fmt_km2, fmt_minutes, fmt_share

ROOT = Path(__file__).resolve().parents[1]
COUNTY_BOUNDS = gpd.read_file(ROOT / "data" / "boundary.geojson").total_bounds  # minx, miny, maxx, maxy


# --- one number format ---------------------------------------------------------------------

@pytest.mark.parametrize(("value", "text"), [
    (0.0, "0%"), (1.0, "100%"), (0.0021, "0.2%"), (0.00249, "0.2%"), (0.00251, "0.3%"), (0.0004, "<0.1%"),
    (0.9999, ">99.9%"), (0.166, "16.6%"), (None, "—"), (float("nan"), "—"), (-0.1, "0%"),
])
def test_share_format(value, text) -> None:
    assert fmt_share(value) == text


@pytest.mark.parametrize(("value", "text"), [
    (5.349, "5.3"), (5.35, "5.3"), (5.25, "5.3"), (1273.5, "1,273.5"), (14148.24, "14,148.2"), (0, "0.0"),
    (None, "—"), (float("inf"), "—"),
])
def test_area_format(value, text) -> None:
    # 5.35 is 5.3499… in binary: rounding is on the exact value (as JavaScript's toFixed does);
    # 5.25 is exact and rounds half up, like toFixed.
    assert fmt_km2(value) == text


def test_minutes_format() -> None:
    assert [fmt_minutes(v) for v in (161.4, 2.5, -2.5, None)] == ["161", "3", "-3", "—"]


def test_templates_have_the_filters(app) -> None:
    env = app.jinja_env
    assert env.from_string("{{ 0.0021|share }} {{ 5.349|km2 }} {{ 161.4|minutes }}").render() == "0.2% 5.3 161"


# --- labels ----------------------------------------------------------------------------------

def test_place_township_and_named_station_labels(app) -> None:
    reg = app.extensions["geo_app"]["layers"]
    places = maps.label_items(reg.spec("places"), reg.frame("places"), "zh")
    assert {"梅河口市", "长春市", "辉南县"} <= {i[2] for i in places}
    by_name = {i[2]: i[3] for i in places}
    assert by_name["长春市"] > by_name["南关区"]  # prefecture cities win over the district seats they cover
    towns = {i[2] for i in maps.label_items(reg.spec("town_points"), reg.frame("town_points"), "zh")}
    assert towns == {"山城镇", "红梅镇", "黑山头镇"}
    stations = maps.label_items(reg.spec("stations"), reg.frame("stations"), "zh")
    named = reg.frame("stations")["osm_name"].notna().sum()
    assert len(stations) == named > 0
    assert all(i[2].endswith("站") and "unnamed" not in i[2].lower() and "未命名" not in i[2] for i in stations)
    english = {i[2] for i in maps.label_items(reg.spec("places"), reg.frame("places"), "en")}
    assert {"梅河口市 Meihekou", "辉南县 Chaoyang"} <= english  # GeoNames names the seat town
    towns_en = {i[2] for i in maps.label_items(reg.spec("town_points"), reg.frame("town_points"), "en")}
    assert "Hongmei" in towns_en


def _map_script(html: str) -> str:
    return html[html.index("L.map("):]


def test_overview_labels_are_drawn_and_unnamed_stations_gated(client, app) -> None:
    html = client.get("/").get_data(as_text=True)
    script = _map_script(html)
    calls = re.findall(r"GeoMaps\.labels\(\w+, \w+,\s*(\{.*?\})\);", script, re.S)
    layers = {json.loads(c)["cls"]: json.loads(c) for c in calls}
    assert set(layers) == {"places", "town_points", "stations"}
    assert layers["places"]["minZoom"] < layers["stations"]["minZoom"]
    assert re.search(r"GeoMaps\.minZoom\(\w+, \w+, \w+, 11\);", script)  # stations without a name: z ≥ 11
    assert "unnamed OSM station" not in html and "未命名" not in html
    assert "/static/maps.js" in html and "/static/maps.css" in html


def test_overview_opens_on_meihekou_with_a_collapsed_layer_list(client) -> None:
    html = client.get("/").get_data(as_text=True)
    fit = re.search(r"\.fitBounds\(\s*(\[\[.*?\]\]),", html, re.S)
    (s, w), (n, e) = json.loads(fit.group(1))
    x0, y0, x1, y1 = COUNTY_BOUNDS
    assert x0 <= (w + e) / 2 <= x1 and y0 <= (s + n) / 2 <= y1
    assert w < x0 and e > x1 and s < y0 and n > y1  # the whole county, with the metro area around it
    assert (e - w) < 2 * (x1 - x0)  # not the whole metro area
    assert re.search(r'"collapsed":\s*true', html)
    assert "GeoMaps.compactAttribution(" in html


# --- legends cover every value drawn ----------------------------------------------------------

def test_bands_draw_the_rest_as_beyond_the_last_class() -> None:
    county = box(125.3, 42.1, 126.0, 43.0)
    inner = box(125.5, 42.4, 125.7, 42.6)
    bands = gpd.GeoDataFrame({"minutes": [60, 180], "area_km2": [1.0, 2.0]},
                             geometry=[inner, None], crs="EPSG:4326")
    m = maps.base_map(bounds=[[42.1, 125.3], [43.0, 126.0]])
    maps.add_bands(m, bands, name="bands", show=True, beyond=county)
    script = maps.render_parts(m)["script"]
    drawn = [json.loads(f'"{v}"') for v in re.findall(r'"band": "([^"]*)"', script)]
    assert drawn == ["> 180", "≤ 60"]  # the rest of the county first, under the fastest band
    assert maps.band_classes([60, 180])[-1]["color"] in script
    assert [c["label"] for c in maps.band_classes([60, 90, 120, 150, 180])][-1] == "> 180"
    assert maps.band_color(200, [60, 180]) == maps.band_classes([60, 180])[-1]["color"]
    assert maps.band_color(None, [60, 180]) == maps.NO_VALUE_COLOR


def test_rail_reach_map_is_not_blank_and_its_legend_has_the_class(client) -> None:
    html = client.get("/accessibility?mode=rail").get_data(as_text=True)
    legend = html[html.index('id="band-legend"'):]
    legend = legend[:legend.index("</div>")]
    assert "&gt; 180" in legend
    assert '"band": "\\u003e 180"' in html  # the rail map draws the county beyond 180 min


def test_one_share_is_printed_one_way_on_the_reach_page(client) -> None:
    html = client.get("/accessibility?mode=best").get_data(as_text=True)
    table = html[html.index('id="reach-table"'):html.index('id="mode-compare"')]
    compare = html[html.index('id="mode-compare"'):]
    compare = compare[:compare.index("</table>")]
    county = re.search(r'<tr class="county[^"]*">.*?</td>.*?</td>\s*<td>([^<]+)</td>', table, re.S).group(1)
    best = re.search(r"<tr><td>[^<]+</td>\s*<td>([^<]+)</td>", compare).group(1)
    assert county.strip() == best.strip()
    assert re.fullmatch(r"(<0\.1|\d+\.\d|0|100)%", best.strip())


def test_scenario_areas_agree_between_summary_and_legend(client) -> None:
    html = client.get("/scenarios?name=trunk_roads_first_class").get_data(as_text=True)
    summary = re.search(r"<td>([\d,.]+) → ([\d,.]+) km²", html)
    legend = html[html.index('id="boundary-legend"'):]
    legend_areas = re.findall(r": ([\d,.]+) km²", legend[:legend.index("</div>\n")])
    assert legend_areas == [summary.group(1), summary.group(2)]


# --- a scenario that changes nothing says why ------------------------------------------------

def test_scenario_that_changes_nothing_says_why(client) -> None:
    zh = client.get("/scenarios?name=trunk_roads_first_class").get_data(as_text=True)
    note = re.search(r'<p class="banner" id="no-change"[^>]*>(.*?)</p>', zh, re.S).group(1)
    assert "黑大公路" in note and "集双公路" in note and "高速公路" in note and "最快路径" in note
    en = client.get("/scenarios?name=trunk_roads_first_class&lang=en").get_data(as_text=True)
    note = re.search(r'<p class="banner" id="no-change"[^>]*>(.*?)</p>', en, re.S).group(1)
    assert "paralleled by a faster expressway" in note and "G202" in note
    changed = client.get("/scenarios?name=fast_rail_changchun&mode=rail").get_data(as_text=True)
    assert 'id="no-change"' not in changed


def test_no_change_reason_is_derived_from_the_network(app) -> None:
    from geo_app.analysis.scenarios.explain import edited_links, no_change_reason
    from geo_app.web import scenarios as wsc

    with app.test_request_context("/scenarios"):
        inputs = wsc.runner().inputs
        upgrade = wsc.sc.find_scenario(wsc.scenarios_dir(), "trunk_roads_first_class")
        rail = wsc.sc.find_scenario(wsc.scenarios_dir(), "fast_rail_changchun")
        _, links = edited_links(inputs, upgrade)
        assert len(links) > 0 and set(inputs.edge_corridor[links]) == {"g202", "g303"}
        req = wsc.compare_request({}, upgrade)
        why = no_change_reason(inputs, upgrade, wsc.run_compare(upgrade, req), mode=req["mode"])
        assert why == {"reason": "paralleled", "corridors": ["g202", "g303"], "faster": ["expressway"]}
        car = wsc.compare_request({"mode": "car"}, rail)
        assert no_change_reason(inputs, rail, wsc.run_compare(rail, car), mode="car")["reason"] == "mode"
        train = wsc.compare_request({"mode": "rail"}, rail)
        assert no_change_reason(inputs, rail, wsc.run_compare(rail, train), mode="rail") is None


# --- the CLI and the web agree ---------------------------------------------------------------

@pytest.mark.parametrize(("mode", "minutes"), [("best", "30,60,90,120"), ("car", "60,120")])
def test_cli_isochrone_areas_equal_the_api(client, invoke, mode, minutes) -> None:
    lon, lat = "125.67876", "42.52869"
    r = invoke(["isochrone", "--lon", lon, "--lat", lat, "--mode", mode, "--minutes", minutes])
    assert r.exit_code == 0, r.output
    cli = [f["properties"]["area_km2"] for f in json.loads(r.output)["features"]]
    api = client.get(f"/api/isochrones?lon={lon}&lat={lat}&mode={mode}&minutes={minutes}").get_json()
    assert cli == [f["properties"]["area_km2"] for f in api["features"]]
    if mode == "best":
        assert cli[-1] > 10_000  # no longer clipped to the county's box (2,180 km²)


# --- hillshade -------------------------------------------------------------------------------

def test_hillshade_of_a_flat_grid_is_the_sun_height() -> None:
    shade = hillshade(np.zeros((5, 5)), res=(30.0, 30.0), altitude=45.0)
    assert np.allclose(shade, 255 * np.sin(np.radians(45.0)), atol=1e-3)


def test_hillshade_lights_slopes_that_face_the_sun() -> None:
    x = np.arange(6, dtype=float) * 30.0
    up_east = np.tile(x, (6, 1))  # rises to the east: faces west
    west_lit = hillshade(up_east, res=(30.0, 30.0), azimuth=270.0)
    east_lit = hillshade(up_east, res=(30.0, 30.0), azimuth=90.0)
    assert west_lit.mean() > 230 and east_lit.mean() < 10
    nan = up_east.copy()
    nan[2, 2] = np.nan
    assert np.isnan(hillshade(nan, res=(30.0, 30.0))[2, 2])
    with pytest.raises(ValueError):
        hillshade(np.zeros((1, 4)), res=(30.0, 30.0))
