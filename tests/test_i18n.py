"""One language at a time (issue #18 §1), without a browser: the language sticks on every page,
errors speak the reader's language (and API clients that chose none keep English), messages
name no command, data values and rules are translated through the catalogue."""

from __future__ import annotations

import pickle
import re

import pytest

from geo_app.errors import GeoAppError, ValidationError
from geo_app.i18n import Message, Value, catalogue, field_label, text, translate_value
from tests.conftest import authorize

HAN = re.compile(r"[\u4e00-\u9fff]")


@pytest.mark.parametrize("path", ["/isochrones", "/reviews", "/login", "/data"])
def test_lang_chosen_on_any_page_sticks(app, path):
    client = app.test_client()
    r = client.get(path + "?lang=en")
    assert "lang=en" in r.headers.get("Set-Cookie", "")
    html = client.get("/accessibility").get_data(as_text=True)  # no ?lang=: the cookie decides
    assert '<html lang="en">' in html and text("nav_overview", "en") in html
    client.get("/?lang=zh")
    assert '<html lang="zh-CN">' in client.get(path).get_data(as_text=True)


def test_links_are_language_neutral_and_the_switch_keeps_the_query(app):
    html = app.test_client().get("/accessibility?mode=car&lang=en").get_data(as_text=True)
    nav = re.findall(r'<nav>(.*?)</nav>', html, re.S)[0]
    assert "lang=" not in nav
    assert 'href="/accessibility?mode=car&amp;lang=zh"' in html  # the switch stays on the page
    assert "Set-Cookie" not in app.test_client().get("/api/layers?lang=en").headers  # API answers set no cookie


def test_api_errors_in_the_chosen_language_and_english_without_a_choice(app):
    client = app.test_client()
    plain = client.get("/api/isochrones?lon=200&lat=42").get_json()["error"]
    assert plain["message"] == "lon,lat: longitude 200.0 is outside [-180, 180]" and plain["field"] == "lon,lat"
    zh = client.get("/api/isochrones?lon=200&lat=42&lang=zh").get_json()["error"]
    assert zh["message"] == text("err_lon_range", "zh", lon=200.0) and zh["code"] == plain["code"]
    header = client.get("/api/isochrones?lon=200&lat=42", headers={"Accept-Language": "zh-CN,zh;q=0.9"})
    assert HAN.search(header.get_json()["error"]["message"])
    en = app.test_client().get("/api/isochrones?lon=200&lat=42", headers={"Accept-Language": "en"}).get_json()
    assert en["error"]["message"] == text("err_lon_range", "en", lon=200.0)


def test_error_pages_speak_the_page_language(app):
    client = app.test_client()
    client.environ_base["HTTP_ACCEPT"] = "text/html"
    r = client.get("/no-such-page")
    body = r.get_data(as_text=True)
    assert r.status_code == 404 and text("http_404", "zh") in body and "Not Found" not in body
    r = client.get("/accessibility?mode=plane&lang=en")
    body = r.get_data(as_text=True)
    assert r.status_code == 400 and text("field_mode", "en") in body and "Must be one of" in body


def test_forced_password_change_403_names_no_url_in_text(app):
    users = app.extensions["geo_app"]["users"]
    users.add("onetime-i18n", "planner", "correct horse battery", must_change=True)
    client = authorize(app, "planner", "onetime-i18n")
    r = client.get("/reviews/new", headers={"Accept": "text/html"})
    assert r.status_code == 403
    r = client.post("/api/reviews", json={"geometry": {"type": "Point", "coordinates": [125.6, 42.5]}},
                    headers={"Accept-Language": "zh"})
    err = r.get_json()["error"]
    assert r.status_code == 403 and err["field"] == "password" and err["message"] == text("err_must_change", "zh")


def test_browser_texts_name_no_command_flag_path_or_document():
    bad = re.compile(r"geo-app |--[a-z]|DESIGN\.md|seed |\bdata/|\.toml\b|GEO_APP_")
    found = [k for k, e in catalogue().items() for lang in ("zh", "en") if bad.search(e[lang])]
    assert not found, found


def test_messages_keep_their_english_text_and_render_in_each_language():
    m = Message("err_role_needed", role=Message("val_role_editor"), current=Message("val_role_viewer"))
    assert m == "this needs the editor role; you are viewer"
    assert m.render("zh") == text("err_role_needed", "zh", role="数据编辑", current="浏览者")
    assert pickle.loads(pickle.dumps(m)).render("zh") == m.render("zh")
    err = ValidationError(key="err_choice", params={"field": "mode", "choices": ["best", "car"], "got": "x"},
                          field="mode")
    assert str(err) == "mode must be one of best, car; got 'x'"
    assert err.localized("zh") == "须为以下之一：最优方式、驾车；收到的是“x”。"
    assert err.to_dict() == {"error": {"code": "invalid_parameter", "message": str(err), "field": "mode"}}
    plain = GeoAppError("something only in English")
    assert plain.localized("en") == "something only in English"
    assert plain.localized("zh") == text("err_code_error", "zh")


def test_data_values_statuses_and_rules_are_translated():
    assert translate_value("county_seat", "zh") == "县城" and translate_value("县城", "en") == "county seat"
    for status in ("info", "unavailable", "conditional", "ok", "fail"):
        assert HAN.search(translate_value(status, "zh"))
    rule = "≤120 min ok (plan 2-hour goal); ≤150 conditional; beyond fail (assumption)"
    assert translate_value(rule, "zh") == "≤120 分钟通过（规划的2小时目标）；≤150 分钟有条件；超出为不通过（假设）"
    assert "data/boundary.geojson" not in translate_value("site within data/boundary.geojson (梅河口市)", "en")
    assert translate_value("surveyed (imported) (3 of 25)", "zh") == "导入数据（3 / 25 有几何）"
    assert translate_value("a name 梅河口", "zh") == "a name 梅河口"  # free text stays as it is
    assert Message("err_geom_invalid", field="g", reason=Value("Self-intersection[1 2]")).render("zh") == \
        "几何无效：自相交 [1 2]"
    assert field_label("lon", "zh") == "经度" and field_label("no_such_field", "zh") == "no_such_field"


def test_import_report_in_each_language(app):
    from geo_app.web.import_report import format_report

    report = {"layer": "towns", "source": "a.geojson", "driver": "GeoJSON", "features": 2, "with_geometry": 2,
              "crs": {"declared": None, "given": None, "used": "gcj02", "detection": {"best": "gcj02", "reason": "x"}},
              "warnings": [Message("imp_crs_detected", best="gcj02", reason=Value("x"))],
              "errors": [Message("imp_unmatched", n=1, names=["某镇"])]}
    zh = format_report(report, "zh", layer_title="乡镇")
    assert "结果" in zh and "result" not in zh and "--force" not in zh and "某镇" in zh
    en = format_report(report, "en", layer_title="Townships")
    assert "result: BLOCKED" in en and "“Force”" in en and not HAN.search(en.replace("某镇", ""))


def test_audit_log_says_actions_and_details_in_the_page_language(app):
    users = app.extensions["geo_app"]["users"]
    users.audit("zhang-i18n", "review_create", "abc", detail={"verdict": "suitable", "via": "form"})
    admin = authorize(app, "admin", "admin-i18n")
    html = admin.get("/admin/audit?lang=zh").get_data(as_text=True)
    assert text("audit_action_review_create", "zh") in html and "结论: 适宜; 途径: 表单" in html
    assert "review_create" not in html.split('id="audit"')[1]
