"""Accounts and roles: who may write, tokens, sessions, audit, first start."""

import re
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from geo_app import create_app
from tests.conftest import PASSWORD, authorize

SITE = {"geometry": {"type": "Point", "coordinates": [125.66, 42.52]}, "sector": "医药健康"}


ROOT = Path(__file__).resolve().parents[1]
SQUARE = {"type": "Polygon", "coordinates": [[[125.60, 42.50], [125.62, 42.50], [125.62, 42.52],
                                              [125.60, 42.52], [125.60, 42.50]]]}  # synthetic test square


@pytest.fixture()
def fresh(tmp_path):
    import shutil

    shutil.copytree(ROOT / "data", tmp_path / "data")  # data writes (draw, undo) never touch the repo
    return create_app({"TESTING": True, "INSTANCE": tmp_path / "instance", "DATA_DIR": tmp_path / "data"})


def _csrf(client, path="/login") -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).get_data(as_text=True)).group(1)


def _login(app, name, password=PASSWORD):
    client = app.test_client()
    r = client.post("/login", data={"csrf_token": _csrf(client), "name": name, "password": password})
    return client, r


def _counts(app):
    ext = app.extensions["geo_app"]
    data = Path(app.config["DATA_DIR"])
    return (ext["store"].count(), len(ext["users"].list()),
            (data / "parks.geojson").read_bytes(), sorted(p.name for p in data.rglob("*")))


# (method, path builder, body kind, role needed)
WRITES = [
    ("POST", "/api/reviews", "json", "planner"),
    ("POST", "/reviews", "form", "planner"),
    ("DELETE", "/api/reviews/{rid}", None, "planner"),
    ("POST", "/reviews/{rid}/delete", "form", "planner"),
    ("POST", "/admin/users", "user_form", "admin"),
    ("POST", "/api/data/parks/features", "draw", "editor"),
    ("POST", "/data/undo", "undo", "editor"),
    ("POST", "/data/upload", "upload", "editor"),
    ("POST", "/data/apply", "apply", "editor"),
    ("POST", "/account", "token_form", "viewer"),
]
ROLES = ["viewer", "planner", "editor", "admin"]


def _send(client, method, path, kind):
    client.application.config["WTF_CSRF_ENABLED"] = False  # CSRF has its own tests; here: roles
    if kind == "json":
        return client.open(path, method=method, json=SITE)
    if kind == "draw":
        return client.post(path, json={"geometry": SQUARE, "name": "梅河口装备制造产业园"})
    if kind == "undo":
        return client.post(path, json={"layer": "parks"})
    if kind == "apply":
        return client.post(path, json={"token": client.application.config["_TEST_UPLOAD_TOKEN"], "note": "t"})
    if kind == "token_form":
        return client.post(path, data={"label": "script"})
    if kind == "upload":
        import io
        import json as _json

        fc = {"type": "FeatureCollection", "features": [{"type": "Feature", "geometry": SQUARE,
                                                         "properties": {"name_zh": "果仁产业园"}}]}
        return client.post(path, data={"layer": "parks", "crs": "wgs84", "file": (io.BytesIO(_json.dumps(fc).encode()),
                                                                   "parks.geojson")},
                           content_type="multipart/form-data")
    data = {"lon": "125.66", "lat": "42.52", "sector": "医药健康"}
    if kind == "user_form":
        data = {"name": "newbie", "role": "viewer", "password": "0123456789abc"}
    return client.open(path, method=method, data=data)


@pytest.mark.parametrize("method,path,kind,needed", WRITES)
def test_every_write_needs_the_right_role(fresh, method, path, kind, needed):
    owner = authorize(fresh, "planner", "owner")
    rid = owner.post("/api/reviews", json=SITE).get_json()["id"]
    if kind == "undo":  # something to undo
        assert _send(authorize(fresh, "editor", "prep"), "POST", "/api/data/parks/features", "draw").status_code == 201
    if kind == "apply":  # a reported upload to apply
        r = _send(authorize(fresh, "editor", "prep"), "POST", "/data/upload", "upload")
        fresh.config["_TEST_UPLOAD_TOKEN"] = r.get_json()["token"]
    path = path.format(rid=rid)
    clients = {role: authorize(fresh, role, f"{role}-x" if role != "planner" else "owner") for role in ROLES}
    before = _counts(fresh)
    anon = fresh.test_client()
    r = _send(anon, method, path, kind)
    assert r.status_code == 401, (path, r.status_code)
    assert _counts(fresh) == before
    for role in ROLES:
        client = clients[role]
        allowed = ROLES.index(role) >= ROLES.index(needed)
        r = _send(client, method, path, kind)
        if not allowed:
            assert r.status_code == 403, (path, role, r.status_code)
            assert _counts(fresh) == before
        else:
            assert r.status_code < 400, (path, role, r.status_code, r.data[:200])
            return


def test_planner_deletes_only_own_reviews_admin_any(fresh):
    a, b, admin = authorize(fresh, "planner", "alice"), authorize(fresh, "planner", "bob"), authorize(fresh, "admin")
    rid = a.post("/api/reviews", json=SITE).get_json()["id"]
    assert b.delete(f"/api/reviews/{rid}").status_code == 403  # a token of another user
    assert a.get(f"/api/reviews/{rid}").status_code == 200
    rid2 = b.post("/api/reviews", json=SITE).get_json()["id"]
    assert admin.delete(f"/api/reviews/{rid2}").status_code == 204
    assert a.get(f"/api/reviews/{rid2}").status_code == 404  # soft-deleted: hidden
    log = fresh.extensions["geo_app"]["users"].audit_log()
    assert any(e["action"] == "review_delete" and e["target"] == rid2 and e["actor"] == "admin-user" for e in log)


def test_review_records_author_and_audit(fresh):
    client = authorize(fresh, "planner", "zhang")
    rid = client.post("/api/reviews", json=SITE).get_json()["id"]
    assert client.get(f"/api/reviews/{rid}").get_json()["author"] == "zhang"
    entry = next(e for e in fresh.extensions["geo_app"]["users"].audit_log() if e["action"] == "review_create")
    assert entry["actor"] == "zhang" and entry["target"] == rid and entry["at"] and entry["remote_addr"]


def test_wrong_password_is_refused(fresh):
    fresh.extensions["geo_app"]["users"].add("wang", "planner", PASSWORD)
    client, r = _login(fresh, "wang", "not the password")
    assert r.status_code == 401
    assert client.post("/api/reviews", json=SITE).status_code == 401


def test_login_session_writes_then_logout(fresh):
    fresh.extensions["geo_app"]["users"].add("wang", "planner", PASSWORD)
    client, r = _login(fresh, "wang")
    assert r.status_code == 302
    assert client.post("/api/reviews", json=SITE).status_code == 201
    client.post("/logout", data={"csrf_token": _csrf(client, "/reviews")})
    assert client.post("/api/reviews", json=SITE).status_code == 401


def test_expired_session_is_refused(tmp_path):
    app = create_app({"TESTING": True, "INSTANCE": tmp_path, "PERMANENT_SESSION_LIFETIME": 1})
    app.extensions["geo_app"]["users"].add("wang", "planner", PASSWORD)
    client, _ = _login(app, "wang")
    time.sleep(2.1)
    assert client.post("/api/reviews", json=SITE).status_code == 401


def test_forged_cookie_is_refused(fresh):
    fresh.extensions["geo_app"]["users"].add("wang", "planner", PASSWORD)
    from flask.sessions import SecureCookieSessionInterface

    other = create_app({"TESTING": True, "INSTANCE": Path(fresh.instance_path).parent / "other",
                        "SECRET_KEY": "not-the-secret"})
    forged = SecureCookieSessionInterface().get_signing_serializer(other).dumps({"_user_id": "1:1", "_fresh": True})
    client = fresh.test_client()
    client.set_cookie("session", forged)
    assert client.post("/api/reviews", json=SITE).status_code == 401


def test_revoked_token_is_refused(fresh):
    users = fresh.extensions["geo_app"]["users"]
    users.add("wang", "planner", PASSWORD)
    token = users.create_token("wang")
    client = fresh.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    assert client.post("/api/reviews", json=SITE).status_code == 201
    assert users.revoke_token("wang", users.tokens("wang")[0]["id"])
    assert client.post("/api/reviews", json=SITE).status_code == 401
    client.environ_base["HTTP_AUTHORIZATION"] = "Bearer gat_made_up"
    assert client.post("/api/reviews", json=SITE).status_code == 401


def test_cannot_revoke_another_users_token(fresh):
    users = fresh.extensions["geo_app"]["users"]
    users.add("alice", "planner", PASSWORD)
    users.add("bob", "planner", PASSWORD)
    users.create_token("bob")
    assert not users.revoke_token("alice", users.tokens("bob")[0]["id"])


def test_password_change_ends_other_sessions(fresh):
    users = fresh.extensions["geo_app"]["users"]
    users.add("wang", "planner", PASSWORD)
    client, _ = _login(fresh, "wang")
    users.set_password("wang", "another long password")
    assert client.post("/api/reviews", json=SITE).status_code == 401


def test_no_plain_password_or_token_in_the_database(fresh):
    users = fresh.extensions["geo_app"]["users"]
    users.add("wang", "planner", PASSWORD)
    token = users.create_token("wang")
    fresh.test_client().post("/login", data={"name": "wang", "password": "a wrong one"})
    for f in Path(fresh.instance_path).glob("users.sqlite3*"):
        raw = f.read_bytes()
        assert PASSWORD.encode() not in raw and token.encode() not in raw
    with sqlite3.connect(Path(fresh.instance_path) / "users.sqlite3") as db:
        h = db.execute("SELECT password_hash FROM users").fetchone()[0]
    assert h.startswith(("scrypt:", "pbkdf2:"))


def test_login_is_rate_limited(fresh):
    client = fresh.test_client()
    token = _csrf(client)
    codes = [client.post("/login", data={"csrf_token": token, "name": "x", "password": "y"}).status_code
             for _ in range(12)]
    assert codes[0] == 401 and codes[-1] == 429


def test_session_cookie_flags(fresh):
    fresh.extensions["geo_app"]["users"].add("wang", "planner", PASSWORD)
    _, r = _login(fresh, "wang")
    cookie = r.headers.get("Set-Cookie", "")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    secure = create_app({"TESTING": True, "INSTANCE": Path(fresh.instance_path).parent / "s",
                         "SECURE_COOKIES": True})
    assert secure.config["SESSION_COOKIE_SECURE"] is True


def test_public_read_off_needs_login(tmp_path):
    app = create_app({"TESTING": True, "INSTANCE": tmp_path, "PUBLIC_READ": False})
    client = app.test_client()
    assert client.get("/api/layers").status_code == 401
    assert client.get("/").status_code == 302 and "/login" in client.get("/").headers["Location"]
    assert client.get("/login").status_code == 200
    viewer = authorize(app, "viewer")
    assert viewer.get("/api/layers").status_code == 200


def test_must_change_password_before_writing(fresh):
    fresh.extensions["geo_app"]["users"].add("admin", "admin", PASSWORD, must_change=True)
    client, r = _login(fresh, "admin")
    assert r.headers["Location"].endswith("/account/password")
    assert client.post("/api/reviews", json=SITE).status_code == 403
    r = client.post("/account/password", data={"csrf_token": _csrf(client, "/account/password"),
                                                "old": PASSWORD, "new": "brand new secret!", "confirm":
                                                "brand new secret!"})
    assert r.status_code == 302
    assert client.post("/api/reviews", json=SITE).status_code == 201


def test_cli_users_and_audit(invoke, app):
    r = invoke(["users", "add", "cli.user", "--role", "editor", "--password", "a long cli password"])
    assert r.exit_code == 0, r.output
    assert "cli.user" in invoke(["users", "list"]).output
    token = invoke(["users", "token", "cli.user"]).output.strip()
    assert token.startswith("gat_")
    assert invoke(["users", "passwd", "cli.user", "--password", "another long one"]).exit_code == 0
    assert "user_add" in invoke(["audit"]).output
    assert invoke(["users", "add", "x", "--role", "editor", "--password", "short"]).exit_code == 2


def test_first_start_prints_a_one_time_admin_password(tmp_path):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    exe = Path(sys.executable).parent / "geo-app"
    env = {"GEO_APP_INSTANCE": str(tmp_path), "PATH": "/usr/bin:/bin"}
    proc = subprocess.Popen([str(exe), "serve", "--port", str(port)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=env)
    try:
        lines = []
        deadline = time.time() + 60
        while time.time() < deadline:
            line = proc.stdout.readline()
            lines.append(line)
            if "serving on" in line:
                break
        text = "".join(lines)
        assert "one-time password" in text, text
        password = lines[lines.index(next(x for x in lines if "one-time password" in x)) + 1].strip()
        users = create_app({"INSTANCE": tmp_path}).extensions["geo_app"]["users"]
        user = users.authenticate("admin", password)
        assert user is not None and user.must_change and user.role == "admin"
    finally:
        proc.terminate()
        proc.wait(10)
    # a second start creates nobody and prints no password
    proc = subprocess.Popen([str(exe), "serve", "--port", str(port)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=env)
    try:
        line = proc.stdout.readline()
        assert "serving on" in line and "password" not in line
    finally:
        proc.terminate()
        proc.wait(10)


def test_anonymous_password_change_is_401(fresh):
    client = fresh.test_client()
    fresh.config["WTF_CSRF_ENABLED"] = False
    r = client.post("/account/password", data={"old": "x", "new": "0123456789ab", "confirm": "0123456789ab"})
    assert r.status_code == 401
