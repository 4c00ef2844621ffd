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
    assert any(v in verdict for v in ("适宜", "有条件", "不适宜", "待补充数据"))  # shipped data: no towns, no DEM
    assert page.locator("#findings tr").count() > 10
    recording_page.screenshot("review_report")
    url = page.url
    page.goto(live_server + "/reviews")
    row = page.locator("#reviews-table tr", has=page.locator(f'a[href="{url.removeprefix(live_server)}"]'))
    assert row.count() == 1 and row.locator("td.author").inner_text() == "li.planner"
    recording_page.screenshot("reviews_list")
    assert recording_page.external() == []
    assert recording_page.errors == []


def test_viewer_sees_no_new_review_button_and_cannot_post(app, live_server, recording_page):
    try:
        app.extensions["geo_app"]["users"].add("zhao.viewer", "viewer", PASSWORD)
    except Exception:  # noqa: BLE001 - already there
        pass
    page = recording_page.page
    login(page, live_server, "zhao.viewer")
    page.goto(live_server + "/reviews")
    assert "zhao.viewer" in page.inner_text("#user-box")
    assert page.locator("#new-review").count() == 0
    store = app.extensions["geo_app"]["store"]
    before = store.count()
    status = page.evaluate("""async () => {
        const r = await fetch('/api/reviews', {method: 'POST', headers: {'Content-Type': 'application/json'},
            body: JSON.stringify({geometry: {type: 'Point', coordinates: [125.66, 42.52]}})});
        return r.status; }""")
    assert status == 403 and store.count() == before
    page.goto(live_server + "/reviews/new")
    assert page.locator("#review-form").count() == 0
    recording_page.screenshot("reviews_viewer")
    assert recording_page.external() == []
