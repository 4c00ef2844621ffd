"""Security rows of DESIGN §6 and the hardening issue: no request value reaches eval, SQL text,
a file path or a URL fetch; uploads are parsed as JSON only; headers; loopback by default."""

import ast
import re
from pathlib import Path

import pytest

from tests.conftest import authorize

ROOT = Path(__file__).resolve().parents[1]
SOURCES = sorted((ROOT / "geo_app").rglob("*.py"))
FORBIDDEN_CALLS = {"eval", "exec", "compile", "__import__"}
FORBIDDEN_ATTRS = {("os", "system"), ("os", "popen"), ("urllib.request", "urlopen"), ("requests", "get"),
                   ("requests", "post"), ("httpx", "get"), ("pickle", "loads")}


def _calls(path: Path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            yield node


def test_no_eval_exec_shell_or_url_fetch_in_the_service():
    for path in SOURCES:
        text = path.read_text(encoding="utf-8")
        for call in _calls(path):
            if isinstance(call.func, ast.Name):
                assert call.func.id not in FORBIDDEN_CALLS, f"{path}:{call.lineno} calls {call.func.id}"
            if isinstance(call.func, ast.Attribute) and isinstance(call.func.value, ast.Name):
                pair = (call.func.value.id, call.func.attr)
                assert pair not in FORBIDDEN_ATTRS, f"{path}:{call.lineno} calls {pair}"
        assert "urlopen" not in text and "import requests" not in text, path


def _sql_is_constant(arg: ast.expr, constants: set[str]) -> bool:
    """SQL text may be a literal, or an f-string/concatenation of literals, module constants and int()."""
    if isinstance(arg, ast.Constant):
        return True
    if isinstance(arg, ast.JoinedStr):
        return all(_sql_is_constant(v.value if isinstance(v, ast.FormattedValue) else v, constants)
                   for v in arg.values)
    if isinstance(arg, ast.Name):
        return arg.id in constants or arg.id.isupper()
    if isinstance(arg, ast.Subscript):
        return _sql_is_constant(arg.value, constants)
    if isinstance(arg, ast.Call) and isinstance(arg.func, ast.Name) and arg.func.id == "int":
        return True
    if isinstance(arg, ast.Call) and isinstance(arg.func, ast.Attribute) and arg.func.attr == "join":
        return all(_sql_is_constant(a, constants) for a in arg.args)
    if isinstance(arg, ast.Attribute):
        return arg.attr.isupper() or arg.attr.startswith("_")
    return False


def test_sql_text_never_holds_a_request_value():
    """Values go in as parameters (? / %s); SQL text is built only from constants."""
    for path in SOURCES:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        # names assigned only from constant SQL fragments inside the function are allowed too
        for func in [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)]:
            safe = {"where", "stmt", "sql", "clauses"}
            for call in [n for n in ast.walk(func) if isinstance(n, ast.Call)]:
                if isinstance(call.func, ast.Attribute) and call.func.attr in ("execute", "executescript",
                                                                               "executemany") and call.args:
                    assert _sql_is_constant(call.args[0], safe), f"{path}:{call.lineno}: SQL built from a value"


@pytest.mark.parametrize("path", ["/api/layers/..%2F..%2Fetc%2Fpasswd", "/api/layers/../../pyproject.toml",
                                  "/vendor/leaflet/../../../../etc/passwd", "/vendor/../pyproject.toml",
                                  "/api/reviews/..%2F..%2Fsecret_key", "/static/../../geo_app/app.py"])
def test_no_request_value_reaches_a_file_path(client, path):
    r = client.get(path)
    assert r.status_code in (400, 404), (path, r.status_code)
    assert b"SECRET" not in r.data and b"[project]" not in r.data and b"root:" not in r.data


def test_sql_injection_attempts_are_inert(tmp_path):
    from geo_app import create_app

    app = create_app({"TESTING": True, "INSTANCE": tmp_path})
    client = authorize(app, "planner")
    evil = "x'); DROP TABLE reviews; --"
    r = client.post("/api/reviews", json={"geometry": {"type": "Point", "coordinates": [125.66, 42.52]},
                                          "project": evil})
    assert r.status_code == 201
    assert client.get(f"/api/reviews/{r.get_json()['id']}").get_json()["project"] == evil
    assert client.get("/api/reviews?sector=' OR '1'='1").status_code == 400
    assert client.get("/api/reviews?verdict=suitable' --").status_code == 400
    assert client.get("/api/reviews/' OR 1=1 --").status_code == 404
    assert app.extensions["geo_app"]["store"].count() == 1


def test_review_upload_is_parsed_as_json_never_by_gdal(tmp_path, monkeypatch):
    """A VRT or a zip sent as the site file is refused without any GDAL driver being opened."""
    import io

    import pyogrio

    from geo_app import create_app

    opened = []
    app = create_app({"TESTING": True, "INSTANCE": tmp_path})
    app.extensions["geo_app"]["layers"].load_all()  # the shipped layers are read before the patch
    monkeypatch.setattr(pyogrio, "read_dataframe", lambda *a, **k: opened.append((a, k)))
    client = authorize(app, "planner")
    app.config["WTF_CSRF_ENABLED"] = False
    vrt = (b'<OGRVRTDataSource><OGRVRTLayer name="x"><SrcDataSource>/etc/passwd</SrcDataSource>'
           b"</OGRVRTLayer></OGRVRTDataSource>")
    for name, body in (("site.geojson", vrt), ("site.geojson", b"PK\x03\x04"), ("site.vrt", vrt)):
        r = client.post("/reviews", data={"geometry_file": (io.BytesIO(body), name)},
                        content_type="multipart/form-data")
        assert r.status_code in (415, 422), (name, r.status_code)
    assert opened == []
    assert app.extensions["geo_app"]["store"].count() == 0


def test_security_headers_on_pages_and_api(client):
    for path in ("/", "/api/layers", "/reviews"):
        h = client.get(path).headers
        csp = h["Content-Security-Policy"]
        assert re.search(r"default-src 'self'", csp) and "frame-ancestors 'self'" in csp
        assert "script-src 'self'" in csp and "http" not in csp  # no external host unless tiles are opted in
        assert h["X-Content-Type-Options"] == "nosniff" and h["X-Frame-Options"] == "SAMEORIGIN"
