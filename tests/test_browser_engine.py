"""The isochrone and accessibility pages in headless Chromium."""

import pytest

pytestmark = pytest.mark.browser


def test_click_draws_contours(live_server, recording_page):
    page = recording_page.page
    page.goto(live_server + "/isochrones")
    box = page.locator(".folium-map").bounding_box()
    page.mouse.click(box["x"] + box["width"] * 0.55, box["y"] + box["height"] * 0.5)
    page.wait_for_selector("path.isochrone", timeout=15000)
    assert page.locator("path.isochrone").count() == 4
    assert page.locator("#iso-legend table tr").count() == 5
    assert page.get_attribute("#iso-download", "href").startswith("/api/isochrones?")
    assert page.locator("#assumptions tr").count() > 10
    recording_page.screenshot("isochrones")
    assert recording_page.external() == []
    assert recording_page.errors == []


def test_accessibility_table_renders(live_server, recording_page):
    page = recording_page.page
    page.goto(live_server + "/accessibility")
    page.wait_for_selector("#reach-table")
    assert page.locator("#reach-table tr").count() == 1 + 25 + 1
    assert "边界未加载" in page.inner_text("#reach-table")
    assert page.locator("#reach-table .bar").count() >= 1
    assert page.locator("path.leaflet-interactive").count() > 3
    recording_page.screenshot("accessibility")
    assert recording_page.external() == []
    assert recording_page.errors == []
