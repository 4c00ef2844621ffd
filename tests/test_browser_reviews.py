"""The review form, report and list in headless Chromium."""

import pytest

from tests.conftest import PASSWORD, login

pytestmark = pytest.mark.browser


def test_review_by_clicking_the_map(app, live_server, recording_page):
    try:
        app.extensions["geo_app"]["users"].add("li.planner", "planner", PASSWORD)
    except Exception:  # noqa: BLE001 - already there from another test
        pass
    page = recording_page.page
    login(page, live_server, "li.planner")
    page.goto(live_server + "/reviews/new")
    box = page.locator(".folium-map").bounding_box()
    page.mouse.click(box["x"] + box["width"] * 0.52, box["y"] + box["height"] * 0.55)
    assert page.input_value("#lon") and page.input_value("#lat")
    page.select_option("#project_pick", label="专栏7 · 农产品冷链物流园区建设项目")
    assert page.input_value("#sector") == "商贸物流"
    recording_page.screenshot("review_form")
    page.click("#submit-review")
    page.wait_for_selector("#verdict")
    verdict = page.inner_text("#verdict")
    assert any(v in verdict for v in ("适宜", "有条件", "不适宜"))
    assert page.locator("#findings tr").count() > 10
    recording_page.screenshot("review_report")
    url = page.url
    page.goto(live_server + "/reviews")
    row = page.locator("#reviews-table tr", has=page.locator(f'a[href="{url.removeprefix(live_server)}"]'))
    assert row.count() == 1 and row.locator("td.author").inner_text() == "li.planner"
    recording_page.screenshot("reviews_list")
    assert recording_page.external() == []
    assert recording_page.errors == []
