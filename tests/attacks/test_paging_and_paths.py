"""Accounts (issue #14 §4), continued: ``GET /api/reviews`` pages, and no error names a server path.

Reviews come a page at a time (``limit``, default 100, at most 1000; ``offset``; a relative ``next``
link and a ``Link`` header), as the OpenAPI document says. Bad input is sent to every endpoint of
the URL map, and the path-bearing failures (nothing to undo, the data folder locked, the review
store unwritable) are provoked; no error answer contains the instance or the data folder.
"""

from __future__ import annotations

import io
import threading
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from geo_app import importer
from tests.attacks.test_boundary import _paths
from tests.conftest import ROOT, authorize
from tests.test_importer import make_app

SITE = {"type": "Point", "coordinates": [125.66, 42.52]}


def _review(i: int) -> dict:
    return {"geometry": {"type": "Point", "coordinates": [125.6 + i * 1e-4, 42.5]}, "project": f"项目{i}",
            "verdict": "suitable", "data_version": "sha256:0", "report": {"verdict": "suitable", "i": i}}


@pytest.fixture(scope="module")
def paged(tmp_path_factory):
    app = make_app(tmp_path_factory.mktemp("paging"))
    store = app.extensions["geo_app"]["store"]
    ids = [store.add(_review(i)) for i in range(105)]
    return app, list(reversed(ids))  # newest first


def test_reviews_come_in_pages_with_a_next_link(paged):
    app, newest_first = paged
    client = app.test_client()
    seen, url = [], "/api/reviews?limit=40&verdict=suitable"
    while url:
        body = client.get(url).get_json()
        assert body["count"] == len(body["reviews"]) <= 40 and body["limit"] == 40
        seen += [r["id"] for r in body["reviews"]]
        url = body["next"]
        if url:
            assert not urlsplit(url).netloc and parse_qs(urlsplit(url).query)["verdict"] == ["suitable"]
    assert seen == newest_first  # every review once, newest first
    first = client.get("/api/reviews").get_json()
    assert first["count"] == 100 and first["next"] and first["offset"] == 0  # the default page is 100
    last = client.get(first["next"]).get_json()
    assert last["count"] == 5 and last["next"] is None


def test_geojson_and_csv_pages_carry_a_link_header(paged):
    client = paged[0].test_client()
    r = client.get("/api/reviews?format=geojson&limit=3")
    fc = r.get_json()
    assert len(fc["features"]) == 3 and fc["next"] and r.headers["Link"] == f'<{fc["next"]}>; rel="next"'
    r = client.get("/api/reviews?format=csv&limit=3&offset=102")
    assert r.status_code == 200 and "Link" not in r.headers  # the last page
    r = client.get("/api/reviews?format=csv&limit=3")
    assert "offset=3" in r.headers["Link"]


@pytest.mark.parametrize("query,field", [("limit=0", "limit"), ("limit=1001", "limit"), ("limit=%EF%BC%91%EF%BC%90",
                                         "limit"), ("offset=-1", "offset"), ("offset=1e3", "offset")])
def test_paging_parameters_are_checked(paged, query, field):
    r = paged[0].test_client().get(f"/api/reviews?{query}")
    assert r.status_code == 400 and r.get_json()["error"]["field"] == field


def test_the_openapi_document_describes_the_paging(paged):
    doc = paged[0].test_client().get("/api/openapi.json").get_json()
    op = doc["paths"]["/api/reviews"]["get"]
    params = {p["name"]: p["schema"] for p in op["parameters"]}
    assert params["limit"] == {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100}
    assert params["offset"]["minimum"] == 0
    page = doc["components"]["schemas"]["Paging"]
    assert {"next", "count", "limit", "offset"} <= set(page["required"])
    assert "Link" in op["responses"]["200"]["headers"]


# --- no server path in any error -----------------------------------------------------------------

JUNK_QUERY = ("lon=x&lat=y&bbox=1,2&limit=-1&minutes=0&mode=plane&to=nowhere&from=1&format=zip&cell=1"
              "&verdict=x&sector=y&layer=../../etc&name=../x&next=http://127.0.0.1:9/")
JUNK_JSON = {"token": "../../etc/passwd", "layer": "parks", "geometry": {"type": "Polygon"}, "note": 5,
             "lon": 1, "lat": 2, "minutes": [0], "name": ""}


def _folders(app) -> list[str]:
    out = set()
    for value in (app.config["DATA_DIR"], app.instance_path):
        out |= {str(Path(value)), str(Path(value).resolve())}
    return sorted(out)


def _leaks(app, responses) -> list[tuple[str, int, str]]:
    folders = _folders(app)
    return [(what, r.status_code, r.get_data(as_text=True)[:200]) for what, r in responses
            if r.status_code >= 400 and any(f in r.get_data(as_text=True) for f in folders)]


def test_no_error_of_any_endpoint_names_the_instance_or_data_folder(tmp_path):
    app = make_app(tmp_path / "secret-site-instance-parent", STORE_TIMEOUT_S=0.3, DATA_LOCK_TIMEOUT_S=0.2)
    app.config["WTF_CSRF_ENABLED"] = False
    admin = authorize(app, "admin")
    responses = []
    for method, path in _paths(app):
        if method == "GET" and not path.startswith("/api/"):
            continue  # pages without a fault render; their errors are covered by the API and the writes
        responses.append((f"{method} {path} ?junk", admin.open(f"{path}?{JUNK_QUERY}", method=method, buffered=True)))
        if method != "GET":
            responses.append((f"{method} {path} json", admin.open(path, method=method, json=JUNK_JSON, buffered=True)))
            responses.append((f"{method} {path} form", admin.open(path, method=method, buffered=True, data={
                "file": (io.BytesIO(b"<OGRVRTDataSource/>"), "x.geojson"), "layer": "parks", "revoke": "x",
                "name": "../..", "action": "delete", "geometry_file": (io.BytesIO(b"{"), "s.geojson")})))
    responses += _faults(app, admin)
    assert len(responses) > 50
    assert any(r.status_code == 503 for _, r in responses)  # the faults were provoked
    assert _leaks(app, responses) == []


def _faults(app, admin) -> list:
    """The failures whose messages could name a file: nothing to undo, the folder locked, the store unwritable."""
    data = Path(app.config["DATA_DIR"])
    out = [("undo nothing", admin.post("/data/undo", json={"layer": "parks"}, buffered=True))]
    hold, held = threading.Event(), threading.Event()

    def holder() -> None:
        with importer.write_lock(data):
            held.set()
            hold.wait(30)

    t = threading.Thread(target=holder)
    t.start()
    held.wait(10)
    out.append(("locked", admin.post("/api/data/logistics/features", json={"geometry": SITE, "name": "锁"},
                                     buffered=True)))
    hold.set()
    t.join(10)
    store = app.extensions["geo_app"]["store"]
    store.close()
    store.readonly = True  # every connection re-opened read-only: writes fail as on a read-only disk
    out.append(("store read-only", admin.post("/api/reviews", json={"geometry": SITE}, buffered=True)))
    store.readonly = False
    store.close()
    return out


def test_the_scrubber_removes_server_folders_from_a_message(tmp_path):
    from geo_app.web.paths import scrub_paths

    app = make_app(tmp_path)
    with app.test_request_context("/"):
        inst = str(Path(app.instance_path))
        assert scrub_paths(f"cannot open {inst}/users.sqlite3") == "cannot open users.sqlite3"
        assert str(ROOT) not in scrub_paths(f"see {ROOT}/geo_app/app.py")
        assert scrub_paths("lon/lat order; km/h; /api/reviews") == "lon/lat order; km/h; /api/reviews"
