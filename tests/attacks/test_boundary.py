"""One bad request never affects another, part 1: the request boundary (issue #14 §3).

Text that cannot be encoded (lone surrogates, NUL) in any field of any endpoint, numbers a float
cannot hold, non-ASCII digits, coordinates given as strings, JSON nested too deep and a top-level
``crs`` member are refused at the boundary (:mod:`geo_app.web.boundary`,
:mod:`geo_app.validate_body`) with a 400 (422 for ``crs``) that names the field; nothing is stored.
"""

from __future__ import annotations

import io
import json
import time

import pytest

from geo_app import create_app
from tests.attacks.net import editor_client, make_app
from tests.conftest import authorize
from tests.test_data_pages import csrf

SITE = {"type": "Point", "coordinates": [125.66, 42.52]}
SQUARE = {"type": "Polygon", "coordinates": [[[125.60, 42.50], [125.62, 42.50], [125.62, 42.52],
                                              [125.60, 42.52], [125.60, 42.50]]]}  # synthetic
JSON_HEADERS = {"Accept": "application/json"}
#: Sample values of the URL rules' variables.
RULE_VALUES = {"layer": "parks", "name": "towns", "rid": "0" * 32, "filename": "x.js", "package": "leaflet",
               "z": "1", "x": "1", "y": "1"}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("boundary")
    app = make_app(tmp)
    app.config["WTF_CSRF_ENABLED"] = True
    planner = authorize(app, "planner")
    planner.token = csrf(planner)
    return {"app": app, "planner": planner, "editor": editor_client(app)}


def _paths(app) -> list[tuple[str, str]]:
    """Every (method, concrete path) of the app's URL map."""
    out = []
    for rule in app.url_map.iter_rules():
        path = rule.rule
        for arg in rule.arguments:
            conv = next(c for c in ("", "path:", "int:") if f"<{c}{arg}>" in path)
            path = path.replace(f"<{conv}{arg}>", RULE_VALUES[arg])
        if path.startswith("/api/scenarios/"):
            path = path.replace("/towns/", "/fast_rail_changchun/")
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            out.append((method, path))
    return sorted(set(out))


def _err(r) -> dict:
    assert r.status_code == 400, (r.status_code, r.data[:300])
    return r.get_json()["error"]


def _counts(app):
    ext = app.extensions["geo_app"]
    return ext["store"].count(), len(ext["users"].audit_log(10_000))


def test_every_endpoint_refuses_unencodable_query_args_naming_them(world):
    app = world["app"]
    client = app.test_client()
    paths = _paths(app)
    assert len(paths) > 30
    for method, path in paths:
        for query, field in (("note=a%00b", "note"), ("x%00y=1", "x\\x00y")):  # NUL in a value, in a name
            r = client.open(f"{path}?{query}", method=method, headers=JSON_HEADERS, buffered=True)
            assert _err(r)["field"] == field, (method, path, query)


def test_every_endpoint_refuses_unencodable_headers_and_cookies_naming_them(world):
    client, baked = world["app"].test_client(), world["app"].test_client()
    baked.set_cookie("lang", "z\x00h")
    for method, path in _paths(world["app"]):
        for environ, field in (({"HTTP_X_CLIENT_NOTE": "a\udcffb"}, "x-client-note"),  # a lone surrogate
                               ({"HTTP_AUTHORIZATION": "Bearer gat_\x00x"}, "authorization")):
            r = client.open(path, method=method, headers=JSON_HEADERS, environ_base=environ, buffered=True)
            assert _err(r)["field"] == field, (method, path, field)
        r = baked.open(path, method=method, headers=JSON_HEADERS, buffered=True)
        assert _err(r)["field"] in ("cookie", "lang"), (method, path)


JSON_TEXT = [
    (b'{"geometry": %s, "project": "\\ud800"}', "project"),                      # a lone high surrogate
    (b'{"geometry": %s, "project": "ok", "sector": "\\udfff"}', "sector"),       # a lone low surrogate
    (b'{"geometry": %s, "\\ud83d": 1}', "\\ud83d"),                               # in a key
    (b'{"geometry": %s, "extra": {"a": [[{"b": "x\\u0000y"}]]}}', "extra"),       # NUL, deep down
    (b'{"geometry": {"type": "Feature", "properties": {"\\udc00": 1}, "geometry": %s}}', "geometry"),
]


@pytest.mark.parametrize("template,field", JSON_TEXT)
def test_unencodable_json_text_anywhere_is_400_naming_the_member(world, template, field):
    app = world["app"]
    before = _counts(app)
    body = template % json.dumps(SITE).encode()
    r = world["planner"].post("/api/reviews", data=body, content_type="application/json")
    assert _err(r)["field"] == field
    draw = template % json.dumps(SQUARE).encode()
    r = world["editor"].post("/api/data/parks/features", data=draw, content_type="application/json",
                             headers={"X-CSRFToken": world["editor"].token}, buffered=True)
    assert _err(r)["field"] == field
    assert _counts(app) == before


def test_unencodable_form_fields_and_file_names(world):
    app = world["app"]
    before = _counts(app)
    planner, editor = world["planner"], world["editor"]
    r = planner.post("/reviews", data={"lon": "125.66", "lat": "42.52", "project_name": "园区\x00"},
                     headers=JSON_HEADERS)
    assert _err(r)["field"] == "project_name"
    r = planner.post("/reviews", data={"lon\x00": "1"}, headers=JSON_HEADERS)
    assert _err(r)["field"] == "lon\\x00"
    fc = json.dumps({"type": "FeatureCollection", "features": []}).encode()
    for name in ("parks\x00.geojson", "a\x00/../../x.geojson"):
        r = editor.post("/data/upload", data={"layer": "parks", "file": (io.BytesIO(fc), name)},
                        content_type="multipart/form-data", headers={"X-CSRFToken": editor.token, **JSON_HEADERS},
                        buffered=True)
        assert _err(r)["field"] == "file", name
    site = b'{"type": "Point", "coordinates": [125.66, 42.52], "n": "\\ud800"}'  # the text inside the file
    r = planner.post("/reviews", data={"csrf_token": planner.token, "geometry_file": (io.BytesIO(site), "s.geojson")},
                     content_type="multipart/form-data")
    assert r.status_code == 400 and b'role="alert"' in r.data  # the form again, with the error
    assert _counts(app) == before


NUMBERS = [
    ("GET", "/api/isochrones?lon=%EF%BC%91%EF%BC%92%EF%BC%95.66&lat=42.52", None, "lon"),      # fullwidth １２５
    ("GET", "/api/isochrones?lon=125.66&lat=%D9%A4%D9%A2.52", None, "lat"),                    # Arabic-Indic ٤٢
    ("GET", "/api/isochrones?lon=125.66&lat=42.52&minutes=%E0%A5%A9%E0%A5%A6", None, "minutes"),  # Devanagari ३०
    ("GET", "/api/reach?cell=%EF%BC%92%EF%BC%95%EF%BC%90", None, "cell"),                         # ２５０
    ("GET", "/api/layers/towns?limit=1" + "0" * 400, None, "limit"),
    ("POST", "/api/isochrones", b'{"lon": 1' + b"0" * 400 + b', "lat": 42.52}', "lon"),        # > float range
    ("POST", "/api/isochrones", b'{"lon": 125.66, "lat": -1' + b"0" * 330 + b"}", "lat"),
    ("POST", "/api/reviews", b'{"geometry": {"type": "Point", "coordinates": [1' + b"0" * 309 + b', 42]}}',
     "geometry"),
    ("POST", "/api/isochrones", b'{"lon": "125.66", "lat": 42.52}', "lon"),                    # coordinates as text
    ("POST", "/api/reviews", b'{"geometry": {"type": "Point", "coordinates": ["125.66", "42.52"]}}', "geometry"),
    ("POST", "/api/reviews", b'{"geometry": {"type": "Polygon", "coordinates": [[[125.60, 42.50], [125.62, 42.50],'
                             b' ["125.62", 42.52], [125.60, 42.50]]]}}', "geometry"),
]


@pytest.mark.parametrize("method,path,body,field", NUMBERS)
def test_numbers_a_float_cannot_hold_non_ascii_digits_and_text_coordinates(world, method, path, body, field):
    before = _counts(world["app"])
    r = world["planner"].open(path, method=method, data=body, content_type="application/json" if body else None,
                              headers=JSON_HEADERS)
    assert _err(r)["field"] == field
    assert _counts(world["app"]) == before


def test_the_form_refuses_fullwidth_coordinates(world):
    r = world["planner"].post("/reviews", data={"lon": "１２５.６６", "lat": "42.52"}, headers=JSON_HEADERS)
    assert r.status_code == 400 and _counts(world["app"])[0] == 0


@pytest.mark.parametrize("depth", [65, 100, 200_000])
def test_json_deeper_than_the_limit_is_refused_before_it_is_parsed(world, depth, monkeypatch):
    import json as stdlib_json

    parsed = []
    real = stdlib_json.loads
    body = b'{"geometry": ' + b"[" * (depth - 1) + b"]" * (depth - 1) + b"}"
    monkeypatch.setattr(stdlib_json, "loads", lambda s, *a, **k: (parsed.append(1) if len(s) >= len(body) else None)
                        or real(s, *a, **k))
    started = time.monotonic()
    for path, client in (("/api/reviews", world["planner"]), ("/api/isochrones", world["planner"]),
                         ("/api/data/parks/features", world["editor"])):
        r = client.post(path, data=body, content_type="application/json",
                        headers={"X-CSRFToken": getattr(client, "token", "")}, buffered=True)
        err = _err(r)
        assert err["field"] == "body" and "64" in err["message"]
    assert parsed == []  # refused from the byte scan: the decoder never ran
    assert time.monotonic() - started < 30


def test_json_at_the_limit_and_brackets_inside_strings_are_not_refused_for_depth(world):
    ok = {"geometry": SITE, "project": "[[[[" * 40 + "\\\"{{{"}
    r = world["planner"].post("/api/reviews", json=ok)
    assert r.status_code == 201, r.data[:300]
    at_limit = b'{"geometry": %s, "sector": ' % json.dumps(SITE).encode() + b"[" * 63 + b"]" * 63 + b"}"
    r = world["planner"].post("/api/reviews", data=at_limit, content_type="application/json")
    assert r.status_code == 400 and r.get_json()["error"]["field"] == "sector"  # not a string; depth was fine
    assert "64" not in r.get_json()["error"]["message"]


@pytest.mark.parametrize("body,field", [
    ({"geometry": SITE, "crs": {"type": "name", "properties": {"name": "EPSG:4490"}}}, "crs"),
    ({"geometry": SITE, "crs": {"type": "link", "properties": {"href": "http://127.0.0.1:9/crs"}}}, "crs"),
    ({"geometry": {"type": "Feature", "crs": {"type": "name"}, "geometry": SITE}}, "geometry"),
])
def test_a_crs_member_is_422(world, body, field):
    before = _counts(world["app"])
    r = world["planner"].post("/api/reviews", json=body)
    assert r.status_code == 422 and r.get_json()["error"]["field"] == field
    draw = {**body, "geometry": SQUARE if field == "crs" else {**body["geometry"], "geometry": SQUARE},
            "name": "crs测试园"}
    r = world["editor"].post("/api/data/parks/features", json=draw, headers={"X-CSRFToken": world["editor"].token},
                             buffered=True)
    assert r.status_code == 422 and r.get_json()["error"]["field"] == field
    assert _counts(world["app"]) == before


def test_the_store_refuses_unencodable_text_before_its_transaction(tmp_path):
    """A command-line argument with undecodable bytes (surrogate-escaped by Python) is refused, not stored."""
    from geo_app.errors import ValidationError
    from geo_app.storage import SQLiteReviewStore

    store = SQLiteReviewStore(tmp_path / "r.sqlite3")
    review = {"geometry": SITE, "report": {"verdict": "suitable"}, "data_version": "sha256:0",
              "project": "\udcff\udcfe"}
    with pytest.raises(ValidationError) as exc:
        store.add(review)
    assert exc.value.field == "project" and store.count() == 0
    assert store.add({**review, "project": "fine"})  # the store is not left in a transaction


def test_a_second_app_on_the_same_instance_keeps_the_boundary(tmp_path):
    app = create_app({"TESTING": True, "INSTANCE": tmp_path})
    r = authorize(app, "planner").post("/api/reviews", data=b'{"geometry": 1, "project": "\\udfff"}',
                                       content_type="application/json")
    assert _err(r)["field"] == "project"
