"""One language at a time (issue #18 §1): every page walked in headless Chromium, in Chinese and in English.

In Chinese no English UI word may show outside :data:`ALLOWED_LATIN` (proper names, units, file formats)
and the romanised place names of the data; in English no Chinese outside names (the CJK words of the
data and of the plan, or any element marked ``lang`` in another language, such as
``<span class="name" lang="zh">``). The attribution line is left out. The text is the page's
``innerText``, its ``title``, every ``title``/``placeholder``/``aria-label`` attribute, and the
popups and tooltips of every map feature, opened one by one. Screenshots go to
``test-artifacts/<page>_<lang>.png``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.conftest import ARTIFACTS, CHROMIUM_ARGS, PASSWORD, serve  # noqa: F401 - CHROMIUM_ARGS documents the launch
from tests.test_importer import make_app, write_fixtures

pytestmark = pytest.mark.browser

#: Latin words allowed on a Chinese page: proper names, units, file formats and standards.
ALLOWED_LATIN = {
    "OSM", "OpenStreetMap", "GeoNames", "GeoJSON", "GeoPackage", "GeoTIFF", "Shapefile", "FileGDB", "GPKG", "ESRI",
    "JSON", "CSV", "PDF", "API", "DEM", "EPSG", "CGCS", "WGS", "GCJ", "BD", "RFC", "CRS", "UTF", "GB", "ODbL",
    "CC", "BY", "Amap", "MIT", "WTFPL", "JTG", "B01", "HSR", "km", "km²", "mi", "min", "ID", "auto", "wgs84",
    "gcj02", "bd09", "prj", "zip", "shp", "cpg", "geojson", "json", "gpkg", "NaN", "Infinity", "Leaflet", "CSRF",
    "G1", "G12", "G25", "G202", "G303", "G1112", "NNNN", "changchun", "HTTP", "MB", "UTF-8", "WGS84", "GCJ-02",
    "BD-09", "CGCS2000", "VMAP0",
}
#: The test's users (their names are names), and what the test types into forms.
USERS = {"zhangwei": "planner", "liqiang": "editor", "wangfang": "admin", "chenjing": "planner"}
TYPED = {"nobody"}
LATIN = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:[-'’][A-Za-z0-9]+)*")
CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]+")
HEX = re.compile(r"\b[0-9a-f]{8,32}\b")
#: The user's own file names (an upload's name is echoed in its report).
FILE = re.compile(r"[^\s（(：:]+\.(?:geojson|json|gpkg|zip|shp|tif|csv)\b")

COLLECT = """() => {
  const lang = (document.documentElement.lang || 'zh').slice(0, 2);
  const skip = [...document.querySelectorAll('[lang]')].filter(e => e !== document.documentElement
      && e.getAttribute('lang').slice(0, 2) !== lang);
  skip.push(...document.querySelectorAll('.leaflet-control-attribution, #attribution-panel, script, style'));
  const hidden = skip.map(e => [e, e.style.display]);
  const attrs = [];
  for (const el of document.querySelectorAll('[title], [placeholder], [aria-label]')) {
    if (skip.some(s => s.contains(el))) continue;
    for (const a of ['title', 'placeholder', 'aria-label']) if (el.getAttribute(a)) attrs.push(el.getAttribute(a));
  }
  hidden.forEach(([e]) => { e.style.display = 'none'; });
  const text = document.body.innerText;
  hidden.forEach(([e, d]) => { e.style.display = d; });
  return {lang, title: document.title, text, attrs};
}"""

POPUPS = """() => {
  const out = [];
  const lang = (document.documentElement.lang || 'zh').slice(0, 2);
  const read = sel => document.querySelectorAll(sel).forEach(el => {
    const c = el.cloneNode(true);
    c.querySelectorAll('[lang]').forEach(n => { if (n.getAttribute('lang').slice(0, 2) !== lang) n.remove(); });
    document.body.appendChild(c); out.push(c.innerText); c.remove();
  });
  const at = l => l.getLatLng ? l.getLatLng() : l.getBounds().getCenter();
  for (const key of Object.keys(window).filter(k => k.startsWith('map_'))) {
    const map = window[key];
    if (!map || !map.eachLayer) continue;
    const leaves = [];
    map.eachLayer(l => { if (l.feature || (l.getLatLng && (l.getPopup() || l.getTooltip()))) leaves.push(l); });
    for (const l of leaves.slice(0, 800)) {
      try {
        l.fire('click', {latlng: at(l)}, true);  // a popup bound on the layer or on its GeoJSON group
        read('.leaflet-popup-content');
        map.closePopup();
        l.fire('mouseover', {latlng: at(l)}, true);
        read('.leaflet-tooltip:not(.geo-label)');
        l.fire('mouseout', {latlng: at(l)}, true);
      } catch (e) { /* a layer without a position */ }
    }
  }
  return out.filter(t => t.trim());
}"""


def leaks(lang: str, chunks: list[str], names: set[str]) -> list[str]:
    """The words of ``chunks`` in the other language, outside the allow-lists.

    On English pages a Chinese word passes when it is a name of the data, or one with the station
    suffix 站 as the map labels write station names.
    """
    bad = []
    for chunk in chunks:
        chunk = FILE.sub(" ", HEX.sub(" ", re.sub(r"https?://\S+", " ", chunk)))
        if lang == "zh":
            bad += [w for w in LATIN.findall(chunk) if w not in ALLOWED_LATIN and w not in names and len(w) > 1]
        else:
            bad += [w for w in CJK.findall(chunk) if w not in names and w.removesuffix("站") not in names]
    return sorted(set(bad))


def data_names(app) -> set[str]:
    """Names in the data: every CJK word of the layers' text, the romanised names, the plan's projects."""
    reg = app.extensions["geo_app"]["layers"]
    names: set[str] = set(USERS) | TYPED | {"中文", "English"}
    for spec in reg:
        gdf = reg.frame(spec.name)
        for col in gdf.columns:
            if col == "geometry":
                continue
            for v in gdf[col].dropna().astype(str):
                names.update(CJK.findall(v))
                if col in ("gn_name", "name_en", "osm_name") and spec.name in ("places", "towns", "town_points"):
                    names.update(LATIN.findall(v))
    svc = app.extensions["geo_app"]["reviews"]
    for p in svc.projects():
        names.update(CJK.findall(p["name_zh"]))
    for s in svc.sectors:
        names.update(CJK.findall(s))
    return names


class Walker:
    """Visits pages in one language, checks each for leaks and takes its screenshot."""

    def __init__(self, browser, base: str, lang: str, names: set[str]) -> None:
        self.context = browser.new_context(viewport={"width": 1400, "height": 900},
                                           locale="zh-CN" if lang == "zh" else "en-GB")
        self.page = self.context.new_page()
        self.base, self.lang, self.names = base, lang, names
        self.found: dict[str, list[str]] = {}
        self.errors: list[str] = []
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.goto(f"{base}/login?lang={lang}")  # the choice, once; it sticks on every page after

    def check(self, name: str, *, popups: bool = False) -> None:
        """Check the page as it is now; ``name`` names the screenshot and the report."""
        page = self.page
        page.wait_for_load_state()
        got = page.evaluate(COLLECT)
        assert got["lang"] == self.lang, f"{name}: the page is in {got['lang']}, chosen {self.lang}"
        chunks = [got["title"], got["text"], *got["attrs"]]
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"{name}_{self.lang}.png"))
        if popups:
            opened = page.evaluate(POPUPS)
            assert opened, f"{name}: no popup or tooltip opened"
            chunks += opened
        bad = leaks(self.lang, chunks, self.names)
        if bad:
            self.found[name] = bad

    def visit(self, path: str, name: str, **kw: bool) -> None:
        self.page.goto(self.base + path)
        self.check(name, **kw)

    def login(self, user: str) -> None:
        page = self.page
        page.goto(self.base + "/login")
        page.fill("#name", user)
        page.fill("#password", PASSWORD)
        page.click("#login-submit")
        page.wait_for_load_state()

    def logout(self) -> None:
        if self.page.locator("#logout").count():
            self.page.click("#logout")
            self.page.wait_for_load_state()


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """An app over a copy of data/ with the test's users, one stored review and the upload fixtures."""
    tmp = tmp_path_factory.mktemp("i18n")
    app = make_app(tmp)
    users = app.extensions["geo_app"]["users"]
    for name, role in USERS.items():
        users.add(name, role, PASSWORD, must_change=name == "chenjing")
    svc = app.extensions["geo_app"]["reviews"]
    project = next(p for p in svc.projects() if p["sector"] == "医药健康")["name_zh"]
    rid, _ = svc.submit({"geometry": {"type": "Point", "coordinates": [125.66, 42.54]}, "project": project,
                         "sector": "医药健康"}, author="zhangwei")
    files = write_fixtures(tmp / "fixtures")
    guess = tmp / "fixtures" / "parks_points.geojson"  # points inside the county: WGS84 or GCJ-02 cannot be told
    guess.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"name": "梅河口装备制造产业园"},
         "geometry": {"type": "Point", "coordinates": [125.7, 42.55]}}]}, ensure_ascii=False), encoding="utf-8")
    with serve(app) as url:
        yield {"app": app, "url": url, "review": rid, "gcj": files["gcj"], "guess": guess, "names": data_names(app)}


def walk_anonymous(w: Walker, site: dict) -> None:
    w.visit("/", "overview", popups=True)
    w.page.goto(w.base + "/isochrones")
    w.page.wait_for_function("window.geoIsochrones")
    w.page.evaluate("window.geoIsochrones.compute(125.66, 42.54)")
    w.page.wait_for_selector("#iso-legend table", timeout=30000)
    w.check("isochrones", popups=True)
    w.visit("/accessibility", "accessibility", popups=True)
    w.visit("/scenarios", "scenarios", popups=True)
    w.visit("/reviews", "reviews")
    w.visit(f"/reviews/{site['review']}", "review_report", popups=True)
    w.visit("/no-such-page", "error_404")
    w.visit("/reviews/" + "0" * 32, "error_404_review")
    w.visit("/accessibility?mode=9", "error_400")
    w.page.goto(w.base + "/login")
    w.page.fill("#name", "nobody")
    w.page.fill("#password", "wrong password")
    w.page.click("#login-submit")
    w.check("login_401")
    w.visit("/login", "login")


def walk_planner(w: Walker) -> None:
    w.login("zhangwei")
    w.visit("/reviews/new", "review_new")
    w.page.fill("#lon", "100")
    w.page.fill("#lat", "30")
    w.page.click("#submit-review")
    w.page.wait_for_selector("#form-error")
    w.check("review_new_422")
    w.visit("/account", "account")
    w.visit("/account/password", "password")
    w.logout()


def walk_editor(w: Walker, site: dict) -> None:
    w.login("liqiang")
    w.visit("/data", "data")
    page = w.page
    page.set_input_files("#upload-file", str(site["gcj"]))
    page.click("#upload-submit")
    page.wait_for_selector("#import-report:not([hidden])", timeout=60000)
    w.check("data_report")
    page.select_option("#upload-layer", "parks")
    page.set_input_files("#upload-file", str(site["guess"]))
    page.click("#upload-submit")
    page.wait_for_selector("#data-status.error", timeout=60000)
    w.check("data_refused")
    # Undo offers only layers with a change to undo (none in this copy of data/), so it says so.
    assert page.locator("#undo-layer option[value=logistics]").count() == 0
    page.wait_for_selector("#undo-none")
    w.check("data_undo")
    w.logout()


def walk_admin_and_first_login(w: Walker) -> None:
    w.login("wangfang")
    w.visit("/admin/users", "admin_users")
    w.visit("/admin/audit", "admin_audit")
    w.logout()
    w.login("chenjing")  # a one-time password: the password change comes first
    w.check("password_forced")
    w.visit("/reviews/new", "error_403")
    w.logout()


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_every_page_in_one_language(site, browser, lang):
    w = Walker(browser, site["url"], lang, site["names"])
    try:
        walk_anonymous(w, site)
        walk_planner(w)
        walk_editor(w, site)
        walk_admin_and_first_login(w)
    finally:
        w.context.close()
    report = "; ".join(f"{page}: {', '.join(words)}" for page, words in w.found.items())
    assert not w.found, f"{'English' if lang == 'zh' else 'Chinese'} text on {lang} pages: {report}"
    assert w.errors == []


def test_the_leak_check_catches_a_leak():
    """Guards against a check that passes everything."""
    assert leaks("zh", ["状态：unavailable"], set()) == ["unavailable"]
    assert leaks("zh", ["GeoJSON 下载 · 12 km²"], set()) == []
    assert leaks("en", ["Status: 无法判断"], set()) == ["无法判断"]
    assert leaks("en", ["The site lies in 梅河口市"], {"梅河口市"}) == []
    assert Path(ARTIFACTS).name == "test-artifacts"
