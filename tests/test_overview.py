"""The overview map: rendered HTML fragments, and the real page in headless Chromium."""

import json
import re

import pytest

from geo_app.i18n import text


def test_overview_html_is_offline_and_lists_layers(client, app):
    r = client.get("/")
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert len(html) < 2_000_000
    assert re.findall(r'(?:src|href)="https?://', html) == []
    assert "/vendor/leaflet/leaflet.js" in html
    for spec in app.extensions["geo_app"]["layers"]:
        assert spec.title_zh in html
    for needle in ("© OpenStreetMap contributors", "GeoNames", "Amap", "国家统计局"):
        assert needle in html
    assert text("load_boundaries", "zh") in html and 'href="/data"' in html  # where to load the boundaries
    assert "geo-app" not in html  # the page names no command
    assert "小杨满族朝鲜族乡" in html  # listed in the no-geometry panel


def test_overview_english(client, app):
    html = client.get("/?lang=en").get_data(as_text=True)
    for spec in app.extensions["geo_app"]["layers"]:
        assert spec.title_en in html
    assert "Features without geometry" in html


def test_popup_values_are_escaped(app):
    import geopandas as gpd
    from shapely.geometry import Point

    from geo_app.web.maps import popup_data

    spec = app.extensions["geo_app"]["layers"].spec("places")
    gdf = gpd.GeoDataFrame({"name_zh": ["<script>alert(1)</script>"], "geometry": [Point(125.6, 42.5)]},
                           crs="EPSG:4326")
    data = popup_data(spec, gdf)
    assert data["features"][0]["properties"]["name_zh"] == "&lt;script&gt;alert(1)&lt;/script&gt;"


def open_layer_control(page) -> None:
    """Move the mouse onto the collapsed layer control's button, which opens the list."""
    box = page.locator(".leaflet-control-layers-toggle").bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.wait_for_selector(".leaflet-control-layers-expanded")


@pytest.mark.browser
def test_overview_in_chromium(live_server, recording_page, app):
    page = recording_page.page
    page.goto(live_server + "/")
    page.wait_for_selector(".leaflet-control-layers")
    # the layer list is collapsed into its button; hovering the button opens it
    assert not page.is_visible(".leaflet-control-layers-list")
    open_layer_control(page)
    control = page.inner_text(".leaflet-control-layers")
    for spec in app.extensions["geo_app"]["layers"]:
        assert spec.title_zh in control
    # polygons and lines are drawn as SVG paths
    assert page.locator("path.leaflet-interactive").count() > 40
    # a popup opens on a real click on a point marker whose centre no other shape or control covers
    xy = page.evaluate("""() => {
        for (const el of document.querySelectorAll('path.leaflet-interactive')) {
            const r = el.getBoundingClientRect();
            if (r.width === 0 || r.width > 20 || r.height > 20) continue;
            const x = r.left + r.width / 2, y = r.top + r.height / 2;
            if (document.elementFromPoint(x, y) === el) return [x, y];
        }
        return null;
    }""")
    assert xy, "no uncovered point marker on the map"
    page.mouse.click(*xy)
    page.wait_for_selector(".leaflet-popup-content", timeout=5000)
    assert page.inner_text(".leaflet-popup-content").strip()
    assert "OpenStreetMap" in page.inner_text(".leaflet-control-attribution")
    recording_page.screenshot("overview")
    assert recording_page.external() == [], recording_page.external()
    assert recording_page.errors == []


@pytest.mark.browser
def test_overview_language_switch_in_chromium(live_server, recording_page):
    page = recording_page.page
    page.goto(live_server + "/")
    page.click("#lang-switch a[hreflang=en]")
    page.wait_for_selector(".leaflet-control-layers")
    open_layer_control(page)
    assert "Railway stations" in page.inner_text(".leaflet-control-layers")
    recording_page.screenshot("overview_en")
    assert recording_page.external() == []


def test_initial_fit_is_not_animated(client):
    """Every map page fits its bounds at once (an animated zoom after load drops early clicks)."""
    for page in ("/", "/isochrones", "/accessibility", "/scenarios"):
        html = client.get(page).get_data(as_text=True)
        fit = re.search(r"\.fitBounds\(\s*(\[\[.*?\]\]),\s*(\{.*?\})\s*\);", html, re.S)
        assert fit and json.loads(fit.group(2)) == {"animate": False}, page
