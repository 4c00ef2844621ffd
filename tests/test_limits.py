"""Bounded memory and time (security issue #14 §2): body limits, the upload pool, budgets, caches, pages.

The body-limit and pool tests run against the production server (``geo_app.cli.server.make_server``:
waitress with the app's limits) on 127.0.0.1 and talk to it over raw sockets. No timing assertions:
socket timeouts only bound how long a test may wait.
"""

from __future__ import annotations

import contextlib
import io
import json
import select
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from werkzeug.test import EnvironBuilder

from geo_app import create_app
from geo_app.analysis import budget
from geo_app.cli.server import make_server, waitress_options
from geo_app.errors import BudgetExceeded
from geo_app.network.cache import GraphCache
from geo_app.web import limits
from tests.conftest import authorize
from tests.test_importer import make_app

ROOT = Path(__file__).resolve().parents[1]
HEADERS_END = b"\r\n\r\n"


@pytest.fixture(scope="module")
def small_app(tmp_path_factory: pytest.TempPathFactory):
    """An app over a copy of data/ with a 64 KiB body limit, 1 MiB on /data/, one upload slot, no CSRF."""
    tmp = tmp_path_factory.mktemp("limits")
    return make_app(tmp, MAX_CONTENT_LENGTH=64 * 1024, UPLOAD_MAX_CONTENT_LENGTH=1024 * 1024, UPLOAD_WORKERS=1,
                    WTF_CSRF_ENABLED=False, CHANNEL_TIMEOUT_S=1)


@contextlib.contextmanager
def production_server(app) -> Iterator[int]:
    """``make_server`` (what ``geo-app serve`` runs) on a free loopback port; yield the port."""
    server = make_server(app, "127.0.0.1", 0, threads=4)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        yield server.effective_port
    finally:
        server.close()
        thread.join(10)


def read_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """Read one HTTP response (status, headers, body) from a raw socket."""
    data = b""
    while HEADERS_END not in data:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed before a response: {data!r}"
        data += chunk
    head, body = data.split(HEADERS_END, 1)
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
    while len(body) < int(headers.get("content-length", 0)):
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return int(lines[0].split()[1]), headers, body


def raw_request(port: int, head: bytes, *, timeout: float = 20) -> tuple[int, dict[str, str], bytes]:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(head)
        return read_response(sock)


def get(port: int, path: str, headers: str = "") -> tuple[int, dict[str, str], bytes]:
    return raw_request(port, f"GET {path} HTTP/1.1\r\nHost: t\r\n{headers}Connection: close\r\n\r\n".encode())


# --- body limits --------------------------------------------------------------------------------


def test_huge_content_length_without_body_gets_413_at_once(small_app):
    """The length alone is refused: no byte of the body is ever sent, and the answer is JSON."""
    with production_server(small_app) as port:
        for length in (10**12, 64 * 1024 + 1):
            status, headers, body = raw_request(port, (
                "POST /api/reviews HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                f"Content-Length: {length}\r\nExpect: 100-continue\r\n\r\n").encode())
            assert status == 413 and headers["content-type"] == "application/json"
            err = json.loads(body)["error"]
            assert err["code"] == "payload_too_large" and err["field"] == "body" and "65536" in err["message"]
        # in Chinese when the request asks for it
        status, _, body = raw_request(port, b"POST /api/reviews?lang=zh HTTP/1.1\r\nHost: t\r\n"
                                            b"Content-Length: 99999999\r\n\r\n")
        assert status == 413 and "\u5b57\u8282" in json.loads(body)["error"]["message"]
        assert get(port, "/api/layers")[0] == 200  # the server is fine


def test_uploads_on_data_have_their_own_larger_limit(small_app):
    """Under /data/ the limit is UPLOAD_MAX_CONTENT_LENGTH: 200 KB is awaited there, refused elsewhere."""
    assert limits.body_limit(small_app.config, "/data/upload") == 1024 * 1024
    assert limits.body_limit(small_app.config, "/api/reviews") == 64 * 1024
    with production_server(small_app) as port:
        status, _, _ = raw_request(port, b"POST /data/upload HTTP/1.1\r\nHost: t\r\nContent-Length: 2000000\r\n\r\n")
        assert status == 413
        with socket.create_connection(("127.0.0.1", port), timeout=20) as sock:
            sock.sendall(b"POST /data/upload HTTP/1.1\r\nHost: t\r\nContent-Length: 200000\r\n"
                         b"Expect: 100-continue\r\n\r\n")
            assert sock.recv(100).startswith(b"HTTP/1.1 100 Continue")  # accepted: send the body


def test_chunked_body_beyond_the_limit_is_cut_off_with_413(small_app):
    with production_server(small_app) as port, socket.create_connection(("127.0.0.1", port), timeout=20) as sock:
        sock.sendall(b"POST /api/reviews HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                     b"Transfer-Encoding: chunked\r\n\r\n")
        chunk = b"%x\r\n%s\r\n" % (8192, b" " * 8192)
        sent = 0
        while not select.select([sock], [], [], 0.5)[0]:  # send until the server answers
            sock.sendall(chunk)
            sent += 8192
            assert sent <= 64 * 1024 + 4 * 8192, "the server kept reading past the limit"
        status, _, body = read_response(sock)
    assert status == 413 and json.loads(body)["error"]["code"] == "payload_too_large"
    assert sent > 64 * 1024  # cut off at the limit, not before


def _chunked_environ(path: str, body: bytes, **kw) -> dict:
    """A WSGI environ of a body without Content-Length (as a server passes a chunked one)."""
    env = EnvironBuilder(path=path, method="POST", input_stream=io.BytesIO(body), **kw).get_environ()
    env.pop("CONTENT_LENGTH", None)
    env["wsgi.input_terminated"] = True
    return env


def _call(app, environ: dict) -> tuple[int, bytes]:
    out: dict = {}

    def start_response(status: str, headers: list, exc_info=None):  # noqa: ANN202
        out["status"] = int(status.split()[0])

    body = b"".join(app.wsgi_app(environ, start_response))
    return out["status"], body


def test_middleware_cuts_a_body_without_length_and_refuses_a_declared_one(small_app):
    """Any WSGI server: the middleware refuses a declared length at once and cuts an undeclared body."""
    point = json.dumps({"lon": 125.68, "lat": 42.53, "minutes": [30]}).encode()
    status, body = _call(small_app, _chunked_environ("/api/isochrones", point, content_type="application/json"))
    assert status == 200 and json.loads(body)["type"] == "FeatureCollection"  # a small body passes
    big = b'{"lon": 125.68, "lat": 42.53, "pad": "' + b"x" * (70 * 1024) + b'"}'
    status, body = _call(small_app, _chunked_environ("/api/isochrones", big, content_type="application/json"))
    assert status == 413 and json.loads(body)["error"]["code"] == "payload_too_large"
    env = EnvironBuilder(path="/api/reviews", method="POST", data=b"", content_type="application/json").get_environ()
    env["CONTENT_LENGTH"], env["wsgi.input"] = str(10**9), _Unreadable()
    status, body = _call(small_app, env)
    assert status == 413 and json.loads(body)["error"]["field"] == "body"


class _Unreadable(io.RawIOBase):
    """A request stream that fails the test if anything reads it."""

    def read(self, size: int = -1) -> bytes:
        raise AssertionError("the body was read")

    readline = read


# --- the upload pool ----------------------------------------------------------------------------


def _multipart(port: int, token: str, boundary: str = "geoappboundary") -> bytes:
    feature = {"type": "FeatureCollection", "features": []}
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"layer\"\r\n\r\ntowns\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"t.geojson\"\r\n"
            f"Content-Type: application/geo+json\r\n\r\n{json.dumps(feature)}\r\n--{boundary}--\r\n").encode()
    return (f"POST /data/upload HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n"
            f"Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {len(body)}\r\n\r\n"
            ).encode() + body


def test_upload_pool_answers_503_when_full_while_layers_answer(small_app, monkeypatch):
    from geo_app.web import data_pages

    users = small_app.extensions["geo_app"]["users"]
    authorize(small_app, "editor", "pool-editor")
    token = users.create_token("pool-editor", "pool")
    entered, release = threading.Event(), threading.Event()
    real = data_pages._prepare

    def slow_prepare(*a, **kw):  # noqa: ANN202 - an import that takes its time
        entered.set()
        assert release.wait(30)
        return real(*a, **kw)

    monkeypatch.setattr(data_pages, "_prepare", slow_prepare)
    with production_server(small_app) as port:
        first: dict = {}
        worker = threading.Thread(target=lambda: first.update(r=raw_request(port, _multipart(port, token))))
        worker.start()
        try:
            assert entered.wait(30)  # the one slot is taken by a running upload
            status, headers, body = raw_request(port, _multipart(port, token))
            assert status == 503 and int(headers["retry-after"]) > 0
            assert json.loads(body)["error"]["code"] == "busy"
            assert get(port, "/api/layers")[0] == 200 and get(port, "/api/layers/boundary")[0] == 200
        finally:
            release.set()
            worker.join(30)
        assert first["r"][0] != 503  # the running upload finished normally
        status, _, _ = raw_request(port, _multipart(port, token))
        assert status != 503  # its slot came back


# --- time budgets -------------------------------------------------------------------------------


def test_budget_checks_and_estimates():
    budget.check("nothing open"), budget.require(1e9, "nothing open")  # no budget: CLI and batch never stop
    with budget.deadline(0):
        with pytest.raises(BudgetExceeded) as exc:
            budget.check("step two")
        assert "step two" in str(exc.value)
        with budget.deadline(3600):  # an inner budget never extends the outer one
            assert budget.remaining() <= 0
    with budget.deadline(3600):
        budget.require(1.0, "small")
        with pytest.raises(BudgetExceeded):
            budget.require(7200.0, "too big")
    assert budget.surface_seconds(1000, 4, cold_cells=0) < budget.surface_seconds(1000, 4)


@pytest.fixture(scope="module")
def budget_app(tmp_path_factory: pytest.TempPathFactory):
    return create_app({"TESTING": True, "INSTANCE": tmp_path_factory.mktemp("budget")})


def test_compute_over_budget_is_503_and_keeps_nothing(budget_app, monkeypatch):
    client = budget_app.test_client()
    assert client.get("/api/layers").status_code == 200
    monkeypatch.setitem(budget_app.config, "REQUEST_TIMEOUT_S", 0.0)
    graph = budget_app.extensions["geo_app"]["graph"]()
    graph.cache.clear()
    for url in ("/api/scenarios/fast_rail_changchun/compare?cell=300", "/api/isochrones?lon=125.68&lat=42.53",
                "/api/reach?cell=300"):
        r = client.get(url)
        assert r.status_code == 503, url
        assert r.get_json()["error"]["code"] == "budget_exceeded" and int(r.headers["Retry-After"]) > 0
    assert len(graph.cache) == 0  # no search, no grid snapped
    runner = budget_app.extensions["geo_app"].get("scenario_runner")
    assert runner is None or len(runner.before) == 0
    assert client.get("/api/layers").status_code == 200  # the rest still answers


def test_work_estimated_beyond_the_budget_is_refused_before_it_starts(budget_app, monkeypatch):
    client = budget_app.test_client()
    graph = budget_app.extensions["geo_app"]["graph"]()
    graph.cache.clear()
    monkeypatch.setattr(budget, "SNAP_S_PER_CELL_K", 1.0)  # as if the machine were a million times slower
    r = client.get("/api/scenarios/fast_rail_changchun/compare?cell=400&lang=en")
    assert r.status_code == 503 and "would take about" in r.get_json()["error"]["message"]
    assert not any(k[0] == "tile" for k in graph.cache._items)  # nothing was snapped
    assert limits.timeout_for(budget_app.config, "/data/upload") == budget_app.config["IMPORT_TIMEOUT_S"]
    assert limits.timeout_for(budget_app.config, "/api/reach") == 30.0


# --- caches -------------------------------------------------------------------------------------


def test_graph_cache_bounds_entries_and_bytes_and_views_share_them():
    cache = GraphCache(max_bytes=10_000, max_entries=5)
    for i in range(50):
        cache.put(("node_t", i), i, 10)
    assert len(cache) == 5 and cache.get(("node_t", 49)) == 49
    view = cache.view("scenario-a")
    for i in range(50):
        view.put(i, i, 1000)
    assert len(cache) <= 5 and cache.nbytes <= 10_000 and len(view) == 5
    view.clear()
    assert len(cache) == 0
    cache.configure(max_entries=2)
    for i in range(3):
        cache.put(i, i, 1)
    assert len(cache) == 2


def test_caches_stay_within_bounds_after_many_distinct_requests(budget_app):
    client = budget_app.test_client()
    graph = budget_app.extensions["geo_app"]["graph"]()
    graph.cache.configure(max_bytes=4 * 2**20)
    client.get("/api/scenarios/fast_rail_changchun/compare")
    runner = budget_app.extensions["geo_app"]["scenario_runner"]
    runner.before.configure(max_entries=3)
    for i, cell in enumerate((300, 350, 400, 450, 500, 550)):
        for name in ("fast_rail_changchun", "trunk_roads_first_class"):
            r = client.get(f"/api/scenarios/{name}/compare?cell={cell}&minutes={60 + i}&mode=best")
            assert r.status_code == 200
    assert len(runner.before) == 3 and runner.before.nbytes <= runner.before.max_bytes
    assert len(runner.graphs) == 2
    assert graph.cache.nbytes <= 4 * 2**20  # the scenario graphs' snaps count in the same bound
    assert any(isinstance(k, tuple) and k[0][0] == "scenario" for k in graph.cache._items)
    reg = budget_app.extensions["geo_app"]["layers"]
    for limit in range(1, 200):
        assert client.get(f"/api/layers/places?limit={limit}").status_code == 200
    assert len(reg._bodies) <= 64 and reg._bodies.nbytes <= reg._bodies.max_bytes
    graph.cache.configure(max_bytes=64 * 2**20)


# --- the page cache -----------------------------------------------------------------------------


def test_page_cache_per_language_role_and_data_version(tmp_path):
    app = make_app(tmp_path)
    anon = app.test_client()
    first = anon.get("/")
    assert first.headers["X-Page-Cache"] == "miss"
    again = anon.get("/")
    assert again.headers["X-Page-Cache"] == "hit" and again.data == first.data
    en = anon.get("/?lang=en")
    assert en.headers["X-Page-Cache"] == "miss" and 'lang="en"' in en.get_data(as_text=True)
    assert anon.get("/?lang=en").headers["X-Page-Cache"] == "hit"
    assert '<html lang="zh-CN">' in app.test_client().get("/").get_data(as_text=True)
    viewer_a, viewer_b = authorize(app, "viewer", "viewer-a"), authorize(app, "viewer", "viewer-b")
    page_a = viewer_a.get("/")
    assert page_a.headers["X-Page-Cache"] == "miss" and "viewer-a" in page_a.get_data(as_text=True)
    page_b = viewer_b.get("/")  # same role: the cached page, with b's own user box
    assert page_b.headers["X-Page-Cache"] == "hit"
    assert "viewer-b" in page_b.get_data(as_text=True) and "viewer-a" not in page_b.get_data(as_text=True)
    assert authorize(app, "admin", "admin-a").get("/").headers["X-Page-Cache"] == "miss"  # another role
    assert anon.get("/?junk=1").headers["X-Page-Cache"] == "bypass"  # an argument the page does not read:
    assert anon.get("/?junk=1").headers["X-Page-Cache"] == "bypass"  # rendered, never cached
    parks = Path(app.config["DATA_DIR"]) / "parks.geojson"
    fc = json.loads(parks.read_text(encoding="utf-8"))
    fc["features"].append({"type": "Feature", "geometry": None, "properties": {**fc["features"][0]["properties"],
                                                                              "name_zh": "缓存测试园区"}})
    parks.write_text(json.dumps(fc, ensure_ascii=False), encoding="utf-8")  # as another process would
    changed = anon.get("/")
    assert changed.headers["X-Page-Cache"] == "miss" and "缓存测试园区" in changed.get_data(as_text=True)
    assert anon.get("/").headers["X-Page-Cache"] == "hit"
    from geo_app.web.page_cache import MAX_ENTRIES, page_cache

    for minutes in range(1, 80):
        anon.get(f"/accessibility?minutes={minutes}&cell=2000")
    assert len(page_cache(app)) <= MAX_ENTRIES and page_cache(app).nbytes <= page_cache(app).max_bytes


# --- the server ---------------------------------------------------------------------------------


def test_waitress_is_configured_for_slow_clients(small_app):
    opts = waitress_options(small_app, 8)
    assert opts["connection_limit"] == 500 and opts["channel_timeout"] == 1 and opts["asyncore_use_poll"]
    assert opts["max_request_header_size"] <= 64 * 1024 and opts["cleanup_interval"] <= 5
    assert opts["max_request_body_size"] > 1024 * 1024
    assert "trusted_proxy" not in opts  # X-Forwarded-For is ignored unless a proxy is configured


def test_behind_a_proxy_the_client_address_comes_from_it(small_app, monkeypatch):
    monkeypatch.setitem(small_app.config, "TRUSTED_PROXY", "127.0.0.1")
    opts = waitress_options(small_app, 8)
    assert opts["trusted_proxy"] == "127.0.0.1" and opts["trusted_proxy_count"] == 1
    assert opts["trusted_proxy_headers"] == {"x-forwarded-for", "x-forwarded-proto"}
    assert opts["clear_untrusted_proxy_headers"]


def _slow_clients(port: int, n: int) -> list[socket.socket]:
    """Slowloris: connections that send half a request and then wait."""
    out = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=30)
        s.sendall(b"GET /api/layers HTTP/1.1\r\nHost: t\r\nX-Slow: ")
        out.append(s)
    return out


def test_many_slow_clients_do_not_block_others(small_app, monkeypatch):
    """150 half-open requests (more than waitress's default limit of 100): others are still answered."""
    monkeypatch.setitem(small_app.config, "CHANNEL_TIMEOUT_S", 60)
    with production_server(small_app) as port:
        slow = _slow_clients(port, 150)
        try:
            assert get(port, "/api/layers")[0] == 200 and get(port, "/")[0] == 200
        finally:
            for s in slow:
                s.close()


def test_idle_connections_are_closed_after_the_channel_timeout(small_app):
    with production_server(small_app) as port:
        slow = _slow_clients(port, 5)
        try:
            assert all(s.recv(10) == b"" for s in slow)  # closed by the server (CHANNEL_TIMEOUT_S=1)
            assert get(port, "/api/layers")[0] == 200
        finally:
            for s in slow:
                s.close()
