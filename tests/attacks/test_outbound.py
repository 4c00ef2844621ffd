"""No payload makes the server connect out, and none holds a thread (issue #14 §3–4 acceptance).

The app is served by waitress with only two threads. URLs of a recording listener and of a "black
hole" (accepts, never answers) go into every place a URL could be taken for something to fetch: a
project name, a drawn feature's names and sectors, a ``next=`` redirect, ``to=``/``from=``, a layer
name, ``lang``, a Referer, a Host header, a GeoJSON ``crs`` link and properties. Afterwards neither
listener saw a connection, every request came back within a generous bound, and the server still
answers at once, so no thread is waiting on a socket.
"""

from __future__ import annotations

import http.client
import json
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor

from tests.attacks.net import REQUEST_S, listeners, make_app, served, url_payloads
from tests.conftest import PASSWORD, authorize

SITE = {"type": "Point", "coordinates": [125.66, 42.52]}


def _request(base: str, method: str, path: str, *, body: bytes | None = None, headers: dict | None = None):
    """One request on its own connection; returns (status, seconds, Location)."""
    host, port = urllib.parse.urlsplit(base).netloc.split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=REQUEST_S)  # 127.0.0.1 only
    started = time.monotonic()
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        resp.read()
        return resp.status, time.monotonic() - started, resp.getheader("Location")
    finally:
        conn.close()


def _cases(token: str, urls: list[str]) -> list[tuple[str, str, bytes | None, dict]]:
    auth = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    q = urllib.parse.quote
    out = []
    for url in urls:
        out += [
            ("POST", "/api/reviews", json.dumps({"geometry": SITE, "project": url}).encode(), auth),
            ("POST", "/api/reviews", json.dumps({"geometry": {"type": "Feature", "geometry": SITE,
                                                              "properties": {"href": url}}}).encode(), auth),
            ("POST", "/api/reviews", json.dumps({"geometry": SITE, "crs": {"type": "link", "properties": {
                "href": url, "type": "proj4"}}}).encode(), auth),
            ("POST", "/api/data/logistics/features", json.dumps({"geometry": SITE, "name": url, "name_en": url,
                                                                 "sectors": [url]}).encode(), auth),
            ("GET", f"/login?next={q(url)}", None, {}),
            ("POST", "/login", f"name=x&password=y&next={q(url)}".encode(),
             {"Content-Type": "application/x-www-form-urlencoded"}),
            ("POST", "/login", f"name=wang&password={q(PASSWORD)}&next={q(url)}".encode(),  # a good login
             {"Content-Type": "application/x-www-form-urlencoded"}),
            ("GET", f"/api/route?from=125.66,42.52&to={q(url)}", None, {}),
            ("GET", f"/api/reach?to={q(url)}", None, {}),
            ("GET", f"/api/layers/{q(url, safe='')}", None, {}),
            ("GET", f"/api/isochrones?lon=125.66&lat=42.52&lang={q(url)}", None, {"Referer": url}),
            ("GET", "/api/layers", None, {"Host": urllib.parse.urlsplit(url).netloc or "127.0.0.1"}),
        ]
    return out


def test_no_payload_connects_out_or_holds_a_thread(tmp_path):
    app = make_app(tmp_path, LOGIN_LOCKOUT_FAILURES=10_000, RATELIMIT_ENABLED=False)  # many logins, one address
    app.config["WTF_CSRF_ENABLED"] = False  # so the logins reach the redirect (CSRF has its own tests)
    app.extensions["geo_app"]["users"].add("wang", "viewer", PASSWORD)
    editor = authorize(app, "editor")
    token = editor.environ_base["HTTP_AUTHORIZATION"].split()[1]
    with listeners() as (ear, hole), served(app, threads=2) as base:
        cases = _cases(token, url_payloads(ear, hole))
        assert len(cases) >= 60
        with ThreadPoolExecutor(max_workers=6) as pool:  # more at once than the server has threads
            results = list(pool.map(lambda c: _request(base, c[0], c[1], body=c[2], headers=c[3]), cases))
        redirects = 0
        for (method, path, _b, _h), (status, seconds, location) in zip(cases, results, strict=True):
            assert status < 500 and seconds < REQUEST_S, (method, path, status)
            if location and path.startswith("/login"):
                redirects += 1
                parts = urllib.parse.urlsplit(location)
                assert parts.netloc in ("", urllib.parse.urlsplit(base).netloc), location  # never off-site
                assert not parts.path.startswith("//") and "\\" not in location, location
        assert redirects >= len(url_payloads(ear, hole))  # every good login was redirected, to this site
        status, seconds, _ = _request(base, "GET", "/api/layers")
        assert status == 200 and seconds < 10  # no thread is stuck on the black hole
        assert ear.connections == 0 and hole.connections == 0
