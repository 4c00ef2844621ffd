"""Printing the HTML report gives the PDF's A4 layout: no navigation, buttons or map controls."""

from __future__ import annotations

import re
import subprocess

import pytest

from tests.conftest import ARTIFACTS, PASSWORD, login

pytestmark = pytest.mark.browser

HIDDEN_IN_PRINT = (".topbar", ".topbar nav", "#lang-switch", "#pdf-link", ".leaflet-control-zoom")


@pytest.fixture(scope="module")
def review_id(app):
    users = app.extensions["geo_app"]["users"]
    try:
        users.add("print.planner", "planner", PASSWORD)
    except Exception:  # noqa: BLE001 - already there from another test
        pass
    rid, _ = app.extensions["geo_app"]["reviews"].submit(
        {"geometry": {"type": "Point", "coordinates": [125.66, 42.52]}, "project": "打印测试项目",
         "sector": "医药健康"}, author="print.planner")
    return rid


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_report_prints_without_navigation_or_controls(live_server, recording_page, review_id, lang):
    page = recording_page.page
    login(page, live_server, "print.planner")
    page.goto(f"{live_server}/reviews/{review_id}?lang={lang}")
    page.wait_for_selector("#findings")
    page.wait_for_selector(".leaflet-control-zoom")
    for sel in HIDDEN_IN_PRINT:
        assert page.locator(sel).first.is_visible(), f"{sel} should show on screen"
    assert page.locator("#delete-review").is_visible()
    recording_page.screenshot(f"review_report_screen_{lang}")

    page.emulate_media(media="print")
    for sel in (*HIDDEN_IN_PRINT, "#delete-review", ".leaflet-control-layers"):
        loc = page.locator(sel)
        assert loc.count() == 0 or not loc.first.is_visible(), f"{sel} is printed"
    for sel in ("#verdict", "#findings", ".report-map .folium-map", ".report h2"):
        assert page.locator(sel).first.is_visible(), f"{sel} is not printed"
    title = "打印测试项目"
    assert title in page.inner_text(".report h2")
    assert page.evaluate("getComputedStyle(document.querySelector('.report-map')).height") != "420px"
    page.set_viewport_size({"width": 794, "height": 1123})  # A4 at 96 dpi, as the print preview lays it out
    page.wait_for_timeout(300)
    path = ARTIFACTS / f"review_report_print_{lang}.png"
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(path), full_page=True)
    printed = ARTIFACTS / f"review_report_print_{lang}.pdf"
    printed.write_bytes(page.pdf(format="A4", print_background=True))
    info = subprocess.run(["pdfinfo", str(printed)], capture_output=True, text=True, check=True).stdout
    assert "(A4)" in info and 1 <= int(re.search(r"Pages:\s+(\d+)", info).group(1)) <= 3, info
    assert "· " not in page.inner_text(".report").splitlines()[-1]  # the delete form's separator is not printed
    page.emulate_media(media="screen")
    assert page.locator(".topbar").is_visible()
    assert recording_page.external() == []
    assert recording_page.errors == []
