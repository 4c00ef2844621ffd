"""The editable assumptions and the low-confidence hatching in headless Chromium (#17 §1, §2)."""

import re

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def county_share(page) -> str:
    return page.inner_text("#reach-table tr.county td:nth-child(3)").strip()


def test_changing_the_offnet_speed_changes_the_share_and_the_url(live_server, recording_page):
    page = recording_page.page
    page.goto(live_server + "/accessibility?lang=zh")
    page.wait_for_selector("#reach-table")
    before = county_share(page)
    assert page.locator("path.low-confidence").count() >= 1  # hatched cells on the map
    assert page.locator("#sensitivity-table tr.sensitivity-row").count() >= 5
    assert page.locator("#assumption-changed").count() == 0
    page.fill("#param-access_kmh", "50")
    page.press("#param-access_kmh", "Enter")
    page.wait_for_url(re.compile(r".*access_kmh=50.*"))
    page.wait_for_selector("#reach-table")
    after = county_share(page)
    assert after != before, (before, after)
    assert "access_kmh=50" in page.url
    assert page.input_value("#param-access_kmh") == "50"
    assert "50" in page.inner_text("#assumption-changed")
    assert "50 km/h" in page.inner_text("#confidence-note")
    assert "access_kmh=50" in page.get_attribute("#mode-car", "href")  # switching the mode keeps the value
    recording_page.screenshot("accessibility-sensitivity-zh")
    page.click("#assumption-reset")
    page.wait_for_url(re.compile(r"^(?!.*access_kmh).*$"))
    page.wait_for_selector("#reach-table")
    assert county_share(page) == before
    assert recording_page.external() == []
    assert recording_page.errors == []


def test_accessibility_in_english_with_values_in_the_url(live_server, recording_page):
    page = recording_page.page
    page.goto(live_server + "/accessibility?lang=en&speed_expressway=120")
    page.wait_for_selector("#sensitivity-table")
    assert page.input_value("#param-speed_expressway") == "120"
    assert "Expressway speed 120" in page.inner_text("#assumption-changed")
    assert "Sensitivity to the assumptions" in page.inner_text("#side-panel")
    assert "Low confidence" in page.inner_text("#confidence-legend")
    page.locator("#sensitivity-table").scroll_into_view_if_needed()
    recording_page.screenshot("accessibility-sensitivity-en")
    assert recording_page.external() == []
    assert recording_page.errors == []


def test_a_value_outside_its_bounds_is_not_sent(live_server, recording_page):
    page = recording_page.page
    page.goto(live_server + "/accessibility?lang=en")
    page.wait_for_selector("#assumption-form")
    url = page.url
    page.fill("#param-circuity", "9")
    page.press("#param-circuity", "Enter")
    page.wait_for_selector("#assumption-status.error")
    assert "between 1 and 3" in page.inner_text("#assumption-status")
    assert page.url == url
    assert recording_page.external() == []
    assert recording_page.errors == []


def test_isochrones_recompute_with_the_new_speed(live_server, recording_page):
    page = recording_page.page
    page.goto(live_server + "/isochrones?lang=zh")
    box = page.locator(".folium-map").bounding_box()
    page.mouse.click(box["x"] + box["width"] * 0.55, box["y"] + box["height"] * 0.5)
    page.wait_for_selector("path.isochrone", timeout=15000)
    assert page.locator("path.low-confidence").count() >= 1
    first = page.inner_text("#iso-legend")
    page.fill("#param-access_kmh", "60")
    page.press("#param-access_kmh", "Enter")
    expect(page.locator("#iso-download")).to_have_attribute("href", re.compile("access_kmh=60"), timeout=15000)
    assert page.inner_text("#iso-legend") != first  # faster local roads: larger contours
    assert "access_kmh=60" in page.url
    assert page.locator("path.isochrone").count() == 4
    recording_page.screenshot("isochrones-sensitivity-zh")
    page.goto(live_server + "/isochrones?lang=en&access_kmh=60")
    assert page.input_value("#param-access_kmh") == "60"
    box = page.locator(".folium-map").bounding_box()
    page.mouse.click(box["x"] + box["width"] * 0.55, box["y"] + box["height"] * 0.5)
    page.wait_for_selector("path.isochrone", timeout=15000)
    assert "Low confidence" in page.inner_text("#iso-legend")
    recording_page.screenshot("isochrones-sensitivity-en")
    assert recording_page.external() == []
    assert recording_page.errors == []


def test_scenarios_take_the_assumptions(live_server, recording_page):
    page = recording_page.page
    page.goto(live_server + "/scenarios?lang=zh&name=fast_rail_changchun&mode=rail")
    page.wait_for_selector("#summary-low-confidence")
    page.fill("#param-wait_min", "0")
    page.press("#param-wait_min", "Enter")
    page.wait_for_url(re.compile(r".*wait_min=0.*"))
    page.wait_for_selector("#summary-low-confidence")
    assert "name=fast_rail_changchun" in page.url and "mode=rail" in page.url
    assert page.input_value("#param-wait_min") == "0"
    assert page.locator("path.low-confidence").count() >= 1
    recording_page.screenshot("scenarios-sensitivity-zh")
    page.goto(live_server + "/scenarios?lang=en&name=fast_rail_changchun&mode=rail&wait_min=0")
    page.wait_for_selector("#summary-low-confidence")
    recording_page.screenshot("scenarios-sensitivity-en")
    assert recording_page.external() == []
    assert recording_page.errors == []
