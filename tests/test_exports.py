"""Reports and exports a planner can file: the review PDF, CSV with a BOM, downloads, local times, /data prompts."""

from __future__ import annotations

import csv
import io
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from geo_app import create_app
from geo_app.i18n import text
from geo_app.reports.timefmt import display_time, file_stamp, iso_time, zone
from tests.conftest import ARTIFACTS, authorize

SITE = {"type": "Point", "coordinates": [125.66, 42.52]}
PROJECT = "农产品冷链物流园区建设项目"
BOM = b"\xef\xbb\xbf"
ISO_OFFSET = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+08:00$")


def _poppler(tool: str) -> str:
    exe = shutil.which(tool)
    if exe is None:
        pytest.fail(f"{tool} is missing: scripts/test.sh installs Debian's poppler-utils")
    return exe


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("exports")
    app = create_app({"TESTING": True, "INSTANCE": tmp / "instance"})
    planner = authorize(app, "planner", "wang.planner")
    r = planner.post("/api/reviews", json={"geometry": SITE, "project": PROJECT, "sector": "商贸物流"})
    assert r.status_code == 201, r.get_json()
    return {"app": app, "client": planner, "id": r.get_json()["id"], "report": r.get_json(), "tmp": tmp}


# --- times -------------------------------------------------------------------------------------

def test_times_are_local_without_microseconds_and_iso_keeps_the_offset():
    stored = "2025-05-01T10:03:12.123456Z"
    assert display_time(stored) == "2025-05-01 18:03:12"
    assert display_time(stored, seconds=False) == "2025-05-01 18:03"
    assert iso_time(stored) == "2025-05-01T18:03:12+08:00"
    assert iso_time(stored, "UTC") == "2025-05-01T10:03:12+00:00"
    assert iso_time("2025-05-01T10:03:12") == "2025-05-01T18:03:12+08:00"  # naive = UTC, as stored
    assert display_time("2025-12-31T20:00:00+00:00") == "2026-01-01 04:00:00"  # the date turns over
    assert display_time(None) == "—" and iso_time("not a time") is None
    assert file_stamp(stored) == "20250501-1803"
    with pytest.raises(ValueError, match="IANA"):
        zone("Mars/Olympus")


def test_pages_show_local_time(env):
    row = env["app"].extensions["geo_app"]["store"].get(env["id"])
    html = env["client"].get(f"/reviews/{env['id']}").get_data(as_text=True)
    local = display_time(row["created_at"])
    assert f'datetime="{iso_time(row["created_at"])}">{local}</time>' in html
    assert row["created_at"][:19].replace("T", " ") != local  # stored UTC, shown at UTC+8
    listing = env["client"].get("/reviews").get_data(as_text=True)
    assert f">{local[:16]}</time>" in listing and f'href="/reviews/{env["id"]}.pdf' in listing


# --- the review PDF ----------------------------------------------------------------------------

def _pdf_text(path: Path) -> str:
    return subprocess.run([_poppler("pdftotext"), "-layout", str(path), "-"], capture_output=True, text=True,
                          check=True).stdout


def test_review_pdf_has_chinese_text_embedded_cjk_font_and_a4(env):
    r = env["client"].get(f"/reviews/{env['id']}.pdf")
    assert r.status_code == 200 and r.mimetype == "application/pdf" and r.data.startswith(b"%PDF")
    disposition = r.headers["Content-Disposition"]
    assert disposition.startswith("attachment;") and "filename*=UTF-8''" in disposition
    assert re.search(r'filename="siting-review_[0-9a-f]{8}_\d{8}-\d{4}\.pdf"', disposition)
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / "review_report.pdf"
    path.write_bytes(r.data)
    body = _pdf_text(path)
    assert PROJECT in body and env["report"]["verdict_zh"] in body and "选址评估报告" in body
    assert f"规则版本 v{env['report']['rules_version']}" in body and "模型数据版本" in body
    assert "至长春时间（驾车）" in body
    fonts = subprocess.run([_poppler("pdffonts"), str(path)], capture_output=True, text=True, check=True).stdout
    rows = [line.split() for line in fonts.splitlines()[2:] if line.strip()]
    assert rows and any("WenQuanYi" in row[0] or "CJK" in row[0] for row in rows)
    assert all(row[-5] == "yes" for row in rows), fonts  # every font is embedded (the "emb" column)
    info = subprocess.run([_poppler("pdfinfo"), str(path)], capture_output=True, text=True, check=True).stdout
    assert re.search(r"Page size:\s+595\.\d* x 841\.\d* pts \(A4\)", info), info
    png = ARTIFACTS / "review_report_pdf"
    subprocess.run([_poppler("pdftoppm"), "-png", "-r", "60", "-f", "1", "-l", "1", "-singlefile", str(path), str(png)],
                   check=True)
    from PIL import Image

    with Image.open(f"{png}.png") as im:
        assert abs(im.width - 496) <= 2 and abs(im.height - 702) <= 2  # A4 at 60 dpi
        colours = im.convert("RGB").getcolors(maxcolors=1 << 20)
        assert colours is not None and len(colours) > 200  # a drawn map, not an empty page


def test_review_pdf_in_english_and_unknown_id(env):
    r = env["client"].get(f"/reviews/{env['id']}.pdf?lang=en")
    assert r.status_code == 200
    path = env["tmp"] / "en.pdf"
    path.write_bytes(r.data)
    body = _pdf_text(path)
    assert "Siting review" in body and "Verdict" in body and "Time to Changchun (car)" in body
    assert env["client"].get("/reviews/" + "0" * 32 + ".pdf").status_code == 404
    assert env["client"].get("/reviews/nope.pdf").status_code == 404


def test_cli_review_pdf_and_text(env, tmp_path):
    from geo_app.cli import main

    runner = env["app"].test_cli_runner()
    out = tmp_path / "site.pdf"
    res = runner.invoke(main, ["review", "--lon", "125.66", "--lat", "42.52", "--project", PROJECT,
                               "--format", "text", "--pdf", str(out)])
    assert res.exit_code == 0, res.output
    assert f"选址评估报告：{PROJECT}" in res.output and "结论：" in res.output
    assert out.read_bytes().startswith(b"%PDF") and PROJECT in _pdf_text(out)


# --- CSV and GeoJSON exports --------------------------------------------------------------------

def test_review_csv_begins_with_bom_and_carries_the_planner_numbers(env):
    r = env["client"].get("/api/reviews?format=csv&sector=商贸物流&lang=zh")
    assert r.status_code == 200 and r.mimetype == "text/csv" and r.data.startswith(BOM)
    assert "filename*=UTF-8''" in r.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(r.data.decode("utf-8-sig"))))
    row = next(x for x in rows if x["id"] == env["id"])
    findings = {f["key"]: f["value"] for f in env["report"]["findings"]}
    assert row["verdict"] == env["report"]["verdict"] and row["verdict_zh"] == env["report"]["verdict_zh"]
    assert row["township"] == "梅河口市（乡镇未知）"  # in Chinese, as the report says it
    for mode in ("car", "rail", "best"):
        assert float(row[f"minutes_{mode}"]) == pytest.approx(findings[f"changchun_{mode}"])
    assert row["within_2h"] == ("true" if findings["changchun_within_2h"] else "false")
    assert ISO_OFFSET.match(row["created_at"]) and row["rules_version"] == str(env["report"]["rules_version"])


def test_review_geojson_downloads_as_a_named_file(env):
    r = env["client"].get("/api/reviews?format=geojson&lang=zh")
    disposition = r.headers["Content-Disposition"]
    assert r.mimetype == "application/geo+json" and disposition.startswith("attachment;")
    assert re.search(r"filename\*=UTF-8''%E9%80%89%E5%9D%80%E8%AF%84%E4%BC%B0_\d{8}-\d{4}\.geojson", disposition)
    assert re.search(r'filename="siting-reviews_\d{8}-\d{4}\.geojson"', disposition)
    props = next(f["properties"] for f in r.get_json()["features"] if f["id"] == env["id"])
    assert ISO_OFFSET.match(props["created_at"]) and props["verdict_zh"] == env["report"]["verdict_zh"]
    english = env["client"].get("/api/reviews?format=geojson&lang=en").headers["Content-Disposition"]
    assert re.match(r'attachment; filename="Siting reviews_\d{8}-\d{4}\.geojson"$', english)


def test_configured_timezone_is_used(tmp_path):
    app = create_app({"TESTING": True, "INSTANCE": tmp_path / "instance", "TIMEZONE": "UTC"})
    client = authorize(app, "planner")
    assert client.post("/api/reviews", json={"geometry": SITE}).status_code == 201
    text = client.get("/api/reviews?format=csv").data.decode("utf-8-sig")
    stamp = list(csv.DictReader(io.StringIO(text)))[0]["created_at"]
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00$", stamp)


def test_reach_and_scenario_csv(env):
    client = env["app"].test_client()
    r = client.get("/api/reach.csv?cell=1000&mode=car")
    assert r.status_code == 200 and r.data.startswith(BOM)
    assert re.search(r'attachment; filename="reach_changchun_car_120min_\d{8}-\d{4}\.csv"',
                     r.headers["Content-Disposition"])
    rows = list(csv.DictReader(io.StringIO(r.data.decode("utf-8-sig"))))
    assert list(rows[0])[:10] == ["level", "code", "name_zh", "name_en", "has_boundary", "basis", "minutes_car",
                                  "minutes_rail", "minutes_best", "within"]
    county = rows[-1]
    assert county["name_zh"] == "梅河口市" and county["basis"] == "median cell"
    assert float(county["minutes_best"]) <= float(county["minutes_car"]) and county["within"] in ("True", "False")
    assert float(county["median"]) == pytest.approx(float(county["minutes_car"]))  # the full table is car's
    r = client.get("/api/scenarios/fast_rail_changchun/compare.csv?cell=1000")
    assert r.status_code == 200 and r.data.startswith(BOM)
    assert "fast_rail_changchun_table_" in r.headers["Content-Disposition"]
    table = list(csv.DictReader(io.StringIO(r.data.decode("utf-8-sig"))))
    assert {"before", "after", "change", "newly_within"} <= set(table[0])
    doc = client.get("/api/openapi.json").get_json()
    assert "/api/reach.csv" in doc["paths"] and "/api/scenarios/{name}/compare.csv" in doc["paths"]


def test_content_disposition_names():
    from geo_app.web.downloads import clean_name, content_disposition

    plain = content_disposition("reviews_20250501-1803.csv", "x.csv")
    assert plain == 'attachment; filename="reviews_20250501-1803.csv"'
    value = content_disposition("选址评估_医药健康.csv", "siting-reviews.csv")
    assert value == ("attachment; filename=\"siting-reviews.csv\"; filename*=UTF-8''"
                     "%E9%80%89%E5%9D%80%E8%AF%84%E4%BC%B0_%E5%8C%BB%E8%8D%AF%E5%81%A5%E5%BA%B7.csv")
    assert clean_name('../a"b\r\n;c.pdf') == "a_b_c.pdf" and "/" not in clean_name("a/b")


# --- /data and /reviews/new for visitors who cannot write ------------------------------------------

def test_anonymous_and_low_roles_see_a_login_prompt(tmp_path):
    from tests.test_importer import make_app

    app = make_app(tmp_path)
    anon = app.test_client()
    for path, form in (("/data", 'id="upload-form"'), ("/reviews/new", 'id="review-form"')):
        html = anon.get(path).get_data(as_text=True)
        assert 'id="login-prompt"' in html and f'href="/login?next={path}"' in html and form not in html
    viewer = authorize(app, "viewer")
    html = viewer.get("/reviews/new").get_data(as_text=True)
    assert text("rnew_role_prompt", "zh", role=text("val_role_viewer", "zh")) in html
    assert 'id="login-prompt"' in html and 'id="review-form"' not in html
    planner = authorize(app, "planner")
    assert 'id="review-form"' in planner.get("/reviews/new").get_data(as_text=True)
    assert 'id="login-prompt"' in planner.get("/data").get_data(as_text=True)  # planners do not edit data
    editor = authorize(app, "editor")
    html = editor.get("/data").get_data(as_text=True)
    assert 'id="upload-form"' in html and 'id="login-prompt"' not in html
    assert 'id="undo-none"' in html and 'id="undo-layer"' not in html  # nothing imported or drawn yet
    assert 'id="crs-help"' in html and "高德" in html and 'label="自动：与市界比对后推断"' in html


def test_undo_offers_only_layers_with_a_change(tmp_path):
    from tests.test_importer import make_app

    app = make_app(tmp_path)
    editor = authorize(app, "editor")
    token = re.search(r'<meta name="csrf-token" content="([^"]+)"', editor.get("/data").get_data(as_text=True))
    r = editor.post("/api/data/logistics/features", headers={"X-CSRFToken": token.group(1)},
                    json={"geometry": {"type": "Point", "coordinates": [125.66, 42.55]}, "name": "测试枢纽"})
    assert r.status_code == 201, r.get_json()
    html = editor.get("/data").get_data(as_text=True)
    select = html.split('id="undo-layer"')[1].split("</select>")[0]
    assert re.findall(r'<option value="([a-z_]+)" data-title=', select) == ["logistics"]
    assert 'data-change="' in select and '"undo_confirm"' in html  # the page asks before it reverts


def test_upload_answer_carries_a_preview_of_the_features(tmp_path):
    from tests.test_importer import make_app, write_fixtures

    app = make_app(tmp_path)
    editor = authorize(app, "editor")
    token = re.search(r'<meta name="csrf-token" content="([^"]+)"', editor.get("/data").get_data(as_text=True))
    files = write_fixtures(tmp_path / "fixtures")
    with open(files["gcj"], "rb") as fh:
        r = editor.post("/data/upload", headers={"X-CSRFToken": token.group(1)}, content_type="multipart/form-data",
                        data={"layer": "towns", "crs": "gcj02", "file": (fh, files["gcj"].name)})
    assert r.status_code == 200, r.get_json()
    preview = r.get_json()["preview"]
    drawn = [f for f in preview["features"] if f["geometry"]]
    assert len(drawn) == 4 and {f["properties"]["name"] for f in drawn} >= {"山城镇", "红梅镇"}
    lon, lat = drawn[0]["geometry"]["coordinates"][0][0][:2]
    assert 125 < lon < 127 and 42 < lat < 43  # WGS84, lon first


@pytest.mark.browser
def test_browser_upload_shows_the_preview_map(tmp_path, recording_page):
    from tests.conftest import login, serve
    from tests.test_importer import make_app, write_fixtures

    app = make_app(tmp_path)
    authorize(app, "editor", "preview.editor")
    files = write_fixtures(tmp_path / "fixtures")
    with serve(app) as url:
        page = recording_page.page
        login(page, url, "preview.editor")
        page.goto(url + "/data")
        page.fill("#upload-crs", "gcj02")
        page.set_input_files("#upload-file", str(files["gcj"]))
        page.click("#upload-submit")
        page.wait_for_selector("#import-preview:not([hidden]) path.leaflet-interactive", timeout=60000)
        assert page.locator("#import-preview path.leaflet-interactive").count() >= 4
        assert page.locator("#apply-box").is_visible()
        page.locator("#import-preview").scroll_into_view_if_needed()
        recording_page.screenshot("data_upload_preview")
    assert recording_page.external() == [] and recording_page.errors == []
