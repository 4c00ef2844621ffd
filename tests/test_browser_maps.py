"""Maps one can read, in headless Chromium: labels at the first view, pick mode on markers,
recomputing for the last point, legends that cover the map, the number format, the local basemap."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import geopandas as gpd
import pytest

from geo_app.web.maps.numbers import fmt_km2, fmt_share
from tests.conftest import PASSWORD, login, serve

pytestmark = pytest.mark.browser
ROOT = Path(__file__).resolve().parents[1]
COUNTY_BOUNDS = gpd.read_file(ROOT / "data" / "boundary.geojson").total_bounds

VISIBLE_LABELS = """() => {
    const view = document.querySelector('.folium-map').getBoundingClientRect();
    return [...document.querySelectorAll('.map-label')].filter(el => {
        const r = el.getBoundingClientRect();
        return !el.classList.contains('map-label-hidden') && getComputedStyle(el).visibility !== 'hidden'
            && r.width > 0 && r.left >= view.left && r.right <= view.right && r.top >= view.top
            && r.bottom <= view.bottom;
    }).map(el => [el.textContent, el.getBoundingClientRect().toJSON()]);
}"""

MARKER_AT = """([lat, lon]) => {
    const el = document.querySelector('.folium-map');
    const map = window[el.id];
    const p = map.latLngToContainerPoint([lat, lon]);
    const r = el.getBoundingClientRect();
    const x = r.left + p.x, y = r.top + p.y;
    const hit = document.elementFromPoint(x, y);
    return {x: x, y: y, tag: hit.tagName, cls: hit.getAttribute('class') || '', fill: hit.getAttribute('fill')};
}"""


def meihekou(app) -> tuple[float, float]:
    places = app.extensions["geo_app"]["layers"].frame("places")
    pt = places[places["name_zh"] == "梅河口市"].geometry.iloc[0]
    return pt.y, pt.x


def _overlap(a: dict, b: dict) -> bool:
    return not (a["right"] <= b["left"] or a["left"] >= b["right"]
                or a["bottom"] <= b["top"] or a["top"] >= b["bottom"])


def test_overview_first_view_is_meihekou_with_labels(live_server, recording_page) -> None:
    page = recording_page.page
    page.goto(live_server + "/")
    page.wait_for_selector(".map-label")
    page.wait_for_timeout(200)  # the collision pass runs after the first layout
    labels = page.evaluate(VISIBLE_LABELS)
    texts = [t for t, _ in labels]
    assert len(labels) >= 10, texts
    assert "梅河口市" in texts and not any("未命名" in t or "unnamed" in t.lower() for t in texts)
    boxes = [b for _, b in labels]
    assert not any(_overlap(a, b) for i, a in enumerate(boxes) for b in boxes[i + 1:]), "labels overlap"
    centre = page.evaluate("() => { const m = window[document.querySelector('.folium-map').id];"
                           " const c = m.getCenter(); return [c.lng, c.lat, m.getZoom()]; }")
    x0, y0, x1, y1 = COUNTY_BOUNDS
    assert x0 <= centre[0] <= x1 and y0 <= centre[1] <= y1, centre
    assert not page.is_visible(".leaflet-control-layers-list")  # collapsed into its button
    attribution = page.locator(".leaflet-control-attribution").bounding_box()
    scale = page.locator(".leaflet-control-scale").bounding_box()
    assert attribution["height"] < 30 and scale["width"] > 0
    assert attribution["x"] > scale["x"] + scale["width"]  # the scale bar shows beside it
    page.click(".leaflet-control-attribution")
    assert page.locator(".leaflet-control-attribution").bounding_box()["height"] > attribution["height"]
    recording_page.screenshot("maps_overview_zh")
    assert recording_page.external() == [] and recording_page.errors == []


def test_overview_in_english_has_english_labels(live_server, recording_page) -> None:
    page = recording_page.page
    page.goto(live_server + "/?lang=en")
    page.wait_for_selector(".map-label")
    page.wait_for_timeout(200)
    texts = [t for t, _ in page.evaluate(VISIBLE_LABELS)]
    assert len(texts) >= 10 and "梅河口市 Meihekou" in texts, texts
    recording_page.screenshot("maps_overview_en")
    assert recording_page.errors == []


def test_unnamed_stations_appear_only_from_zoom_11(live_server, recording_page) -> None:
    page = recording_page.page
    page.goto(live_server + "/")
    page.wait_for_selector(".map-label")
    stations = 'path[stroke="#17202a"][fill="#ffffff"]'
    named = page.locator(stations).count()
    page.evaluate("() => window[document.querySelector('.folium-map').id].setZoom(11, {animate: false})")
    page.wait_for_timeout(200)
    assert page.locator(stations).count() > named > 0
    labels = page.locator(".map-label.label-stations").all_text_contents()
    assert labels and all(t.endswith("站") for t in labels)


def test_click_on_the_city_marker_computes_and_changes_recompute(app, live_server, recording_page) -> None:
    page = recording_page.page
    page.goto(live_server + "/isochrones")
    page.wait_for_selector(".map-label")
    hit = page.evaluate(MARKER_AT, list(meihekou(app)))
    assert hit["tag"] == "path" and "leaflet-interactive" in hit["cls"] and hit["fill"] == "#bb8fce", hit
    page.mouse.click(hit["x"], hit["y"])
    page.wait_for_selector("path.isochrone", timeout=15000)
    assert page.locator("path.isochrone").count() == 4
    assert page.locator(".leaflet-popup").count() == 0  # the marker passed the click on; no popup
    first = [u for u in recording_page.requests if "/api/isochrones?" in u]
    assert len(first) == 1 and "lon=125.67" in first[0] and "lat=42.52" in first[0]
    # the map fits the result: the contours fill the map, inside it
    view = page.locator(".folium-map").bounding_box()
    outer = page.evaluate("() => [...document.querySelectorAll('path.isochrone')].map(p => "
                          "p.getBoundingClientRect().toJSON()).reduce((a, b) => a.width * a.height > "
                          "b.width * b.height ? a : b)")
    assert outer["width"] > 0.5 * view["width"] or outer["height"] > 0.5 * view["height"]
    assert outer["left"] >= view["x"] - 2 and outer["right"] <= view["x"] + view["width"] + 2
    recording_page.screenshot("maps_isochrones_zh")
    with page.expect_response(lambda r: "/api/isochrones?" in r.url and "mode=car" in r.url):
        page.select_option("#iso-mode", "car")
    page.wait_for_function("() => !document.getElementById('iso-status').textContent.includes('…')")
    again = [u for u in recording_page.requests if "/api/isochrones?" in u][-1]
    q0, q1 = parse_qs(urlsplit(first[0]).query), parse_qs(urlsplit(again).query)
    assert (q1["lon"], q1["lat"], q1["mode"]) == (q0["lon"], q0["lat"], ["car"])  # the last point again
    with page.expect_response(lambda r: "/api/isochrones?" in r.url and "direction=to" in r.url):
        page.select_option("#iso-direction", "to")
    with page.expect_response(lambda r: "/api/isochrones?" in r.url and "minutes=60%2C120" in r.url):
        page.fill("#iso-minutes", "60,120")
        page.press("#iso-minutes", "Enter")
    page.wait_for_function("() => document.querySelectorAll('path.isochrone').length === 2")
    assert recording_page.external() == [] and recording_page.errors == []


def test_isochrones_in_english(app, live_server, recording_page) -> None:
    page = recording_page.page
    page.goto(live_server + "/isochrones?lang=en")
    page.wait_for_selector(".map-label")
    hit = page.evaluate(MARKER_AT, list(meihekou(app)))
    page.mouse.click(hit["x"], hit["y"])
    page.wait_for_selector("path.isochrone", timeout=15000)
    legend = page.inner_text("#iso-legend")
    assert "area km²" in legend and "," in legend  # thousands separators of the one area format
    recording_page.screenshot("maps_isochrones_en")
    assert recording_page.errors == []


def test_click_on_the_city_marker_fills_the_review_form(app, live_server, recording_page) -> None:
    try:
        app.extensions["geo_app"]["users"].add("map.planner", "planner", PASSWORD)
    except Exception:  # noqa: BLE001 - already there from another test
        pass
    page = recording_page.page
    login(page, live_server, "map.planner")
    lat, lon = meihekou(app)
    for lang in ("zh", "en"):
        page.goto(live_server + f"/reviews/new?lang={lang}")
        page.wait_for_selector(".map-label")
        hit = page.evaluate(MARKER_AT, [lat, lon])
        assert hit["tag"] == "path" and hit["fill"] == "#bb8fce", hit
        page.mouse.click(hit["x"], hit["y"])
        assert abs(float(page.input_value("#lon")) - lon) < 0.01
        assert abs(float(page.input_value("#lat")) - lat) < 0.01
        assert page.locator(".leaflet-popup").count() == 0 and page.locator("path.site-marker").count() == 1
        recording_page.screenshot(f"maps_review_new_{lang}")
    assert recording_page.external() == [] and recording_page.errors == []


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_rail_reach_map_draws_the_beyond_class(live_server, recording_page, lang) -> None:
    page = recording_page.page
    page.goto(live_server + f"/accessibility?mode=rail&lang={lang}")
    page.wait_for_selector("#band-legend")
    assert "> 180" in page.inner_text("#band-legend")
    beyond = page.locator('path.leaflet-interactive[fill="#a50026"]')
    assert beyond.count() >= 1 and beyond.first.bounding_box()["width"] > 100
    recording_page.screenshot(f"maps_accessibility_rail_{lang}")
    assert recording_page.errors == []


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_scenario_page_says_why_nothing_changes(live_server, recording_page, lang) -> None:
    page = recording_page.page
    page.goto(live_server + f"/scenarios?name=trunk_roads_first_class&lang={lang}")
    note = page.inner_text("#no-change")
    assert ("高速公路" if lang == "zh" else "expressway") in note
    recording_page.screenshot(f"maps_scenarios_trunk_{lang}")
    assert recording_page.errors == []


def test_browser_prints_numbers_like_the_server(live_server, recording_page) -> None:
    page = recording_page.page
    page.goto(live_server + "/isochrones")
    page.wait_for_selector(".folium-map")
    areas = [0, 0.05, 0.25, 2.25, 5.35, 5.349, 1273.5, 14148.24, 1234567.891, None]
    shares = [0, 1, 0.0004, 0.0005, 0.0021, 0.00249, 0.00251, 0.166, 0.9996, 0.99949, None]
    js = page.evaluate("([a, s]) => [a.map(GeoMaps.fmt.km2), s.map(GeoMaps.fmt.share)]", [areas, shares])
    assert js == [[fmt_km2(v) for v in areas], [fmt_share(v) for v in shares]]


def test_local_basemap_tiles_are_drawn(tmp_path, browser) -> None:
    from geo_app import create_app
    from tests.conftest import RecordingPage
    from tests.test_tiles import make_mbtiles, png

    # keys are (z, x, TMS row): Meihekou is at x ≈ 0.849 and TMS row ≈ 0.631 of the world at every zoom
    tiles = {(z, x, r): png((200, 220, 180 + 8 * z)) for z in range(0, 10) for x in range(2**z)
             for r in range(2**z) if z < 5 or (abs(x - 2**z * 0.849) < 4 and abs(r - 2**z * 0.631) < 4)}
    mb = make_mbtiles(tmp_path / "base.mbtiles", tiles, maxzoom="9")
    app = create_app({"TESTING": True, "INSTANCE": tmp_path / "instance", "BASEMAP": mb,
                      "CACHE_DIR": tmp_path / "cache"})
    with serve(app) as url:
        rp = RecordingPage(browser)
        try:
            rp.page.goto(url + "/")
            rp.page.wait_for_selector("img.leaflet-tile-loaded", timeout=10000)
            assert rp.page.locator("img.leaflet-tile-loaded").count() >= 4
            assert any("/tiles/9/" in u for u in rp.requests)
            assert rp.external() == [], rp.external()
            rp.screenshot("maps_overview_basemap")
        finally:
            rp.context.close()
