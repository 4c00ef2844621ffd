"""Accounts (issue #14 §4): disabled and deleted users, password changes, lock-out, file modes.

A disabled or deleted user's sessions and tokens stop working at once in every server process (a
second app on the same instance folder, and a real ``geo-app serve`` process), because every request
reads the user's row. A password change ends the user's tokens unless they are kept on purpose.
Login lock-out is per account and address and answers ``Retry-After``; the password page is
rate-limited like the login. The SQLite files are 0600 in a 0700 folder, tightened when looser.
"""

from __future__ import annotations

import logging
import os
import re
import socket
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from geo_app import create_app
from geo_app.storage import UserStore
from tests.conftest import PASSWORD

SITE = {"geometry": {"type": "Point", "coordinates": [125.66, 42.52]}}


def _app(instance: Path, **config):
    return create_app({"TESTING": True, "INSTANCE": instance, "PUBLIC_READ": False, "WTF_CSRF_ENABLED": False,
                       **config})


def _login(app, name: str, password: str = PASSWORD, addr: str = "127.0.0.1"):
    client = app.test_client()
    r = client.post("/login", data={"name": name, "password": password}, environ_base={"REMOTE_ADDR": addr})
    return client, r


def _bearer(app, token: str):
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    return client


@pytest.fixture()
def two_processes(tmp_path):
    """Two apps on one instance folder (what two server processes share), an admin and a planner."""
    a, b = _app(tmp_path / "inst"), _app(tmp_path / "inst")
    users = a.extensions["geo_app"]["users"]
    users.add("root", "admin", PASSWORD)
    users.add("wang", "planner", PASSWORD)
    return a, b


def _works(client) -> int:
    return client.get("/api/layers").status_code


def test_disable_and_delete_end_sessions_and_tokens_at_once_in_every_process(two_processes):
    a, b = two_processes
    session, r = _login(a, "wang")
    assert r.status_code == 302
    token = _bearer(a, a.extensions["geo_app"]["users"].create_token("wang", "script"))
    admin = _bearer(b, b.extensions["geo_app"]["users"].create_token("root", "admin"))
    assert _works(session) == _works(token) == 200
    assert admin.post("/admin/users", data={"action": "disable", "name": "wang"}).status_code == 200
    assert _works(session) == _works(token) == 401  # the other process, the very next request
    assert admin.post("/admin/users", data={"action": "enable", "name": "wang"}).status_code == 200
    assert _works(session) == _works(token) == 401  # enabling revives neither the session nor the token
    session, r = _login(a, "wang")
    assert r.status_code == 302 and _works(session) == 200
    runner = b.test_cli_runner()
    from geo_app.cli import main

    assert runner.invoke(main, ["users", "delete", "wang", "--yes"]).exit_code == 0
    assert _works(session) == 401
    assert _login(a, "wang")[1].status_code == 401
    log = [e["action"] for e in a.extensions["geo_app"]["users"].audit_log()]
    assert {"user_disable", "user_enable", "user_delete"} <= set(log)


def test_the_last_admin_cannot_be_disabled_or_deleted(two_processes):
    a, _ = two_processes
    admin = _bearer(a, a.extensions["geo_app"]["users"].create_token("root", "admin"))
    for action in ("disable", "delete"):
        r = admin.post("/admin/users", data={"action": action, "name": "root"})
        assert r.status_code == 400 and "root" in r.get_data(as_text=True)
    assert _works(admin) == 200
    assert admin.post("/admin/users", data={"action": "explode", "name": "root"}).status_code == 400


def test_admin_page_lists_disabled_users_with_their_state(two_processes):
    a, _ = two_processes
    admin = _bearer(a, a.extensions["geo_app"]["users"].create_token("root", "admin"))
    admin.post("/admin/users", data={"action": "disable", "name": "wang"})
    page = admin.get("/admin/users?lang=en").get_data(as_text=True)
    row = re.search(r'<tr data-user="wang">.*?</tr>', page, re.S).group(0)
    assert "Disabled" in row and 'value="enable"' in row


def test_a_password_change_ends_tokens_unless_kept(two_processes):
    a, b = two_processes
    users = a.extensions["geo_app"]["users"]
    keep, drop = users.create_token("wang", "nightly"), users.create_token("wang", "laptop")
    session, _ = _login(a, "wang")
    r = session.post("/account/password", data={"old": PASSWORD, "new": "a brand new secret", "confirm":
                                                "a brand new secret", "keep_tokens": ["nightly"]})
    assert r.status_code == 302
    assert _works(_bearer(b, keep)) == 200 and _works(_bearer(b, drop)) == 401
    from geo_app.cli import main

    out = b.test_cli_runner().invoke(main, ["users", "passwd", "wang", "--password", "yet another secret"])
    assert out.exit_code == 0, out.output
    assert _works(_bearer(a, keep)) == 401  # no --keep-token: every token ends
    third = users.create_token("wang", "ci")
    users.set_password("wang", "the fourth secret", keep_tokens=["ci"])
    assert _works(_bearer(b, third)) == 200


def _serve(instance: Path) -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {"GEO_APP_INSTANCE": str(instance), "GEO_APP_PUBLIC_READ": "false", "PATH": "/usr/bin:/bin"}
    proc = subprocess.Popen([str(Path(sys.executable).parent / "geo-app"), "serve", "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    deadline = time.time() + 90
    while time.time() < deadline:
        line = proc.stdout.readline()
        if "serving on" in line or not line:
            break
    while time.time() < deadline:  # the line comes just before waitress listens
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.1)
    return proc, f"http://127.0.0.1:{port}"


def _status(url: str, token: str) -> int:
    req = urllib.request.Request(url + "/api/layers", headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:  # 127.0.0.1 only
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_a_separate_server_process_stops_a_disabled_users_token_at_once(tmp_path):
    users = UserStore(tmp_path / "inst" / "users.sqlite3")
    users.add("root", "admin", PASSWORD)
    users.add("wang", "planner", PASSWORD)
    token, other = users.create_token("wang", "a"), users.create_token("root", "b")
    proc, url = _serve(tmp_path / "inst")
    try:
        assert _status(url, token) == 200 and _status(url, other) == 200
        users.set_disabled("wang")  # this process; the server is another
        assert _status(url, token) == 401
        users.set_password("root", "changed by another process")
        assert _status(url, other) == 401
    finally:
        proc.terminate()
        proc.wait(30)


@pytest.mark.parametrize("account", ["wang", "nobody-at-all"])  # an existing account, and one that is not
def test_login_lock_out_is_per_account_and_address_and_says_when(tmp_path, account):
    app = _app(tmp_path / "inst", LOGIN_LOCKOUT_FAILURES=3, LOGIN_LOCKOUT_ACCOUNT_FAILURES=6)
    app.extensions["geo_app"]["users"].add("wang", "planner", PASSWORD)
    app.extensions["geo_app"]["users"].add("li", "planner", PASSWORD)
    codes = [_login(app, account, "wrong", "10.0.0.1")[1].status_code for _ in range(3)]
    assert codes == [401, 401, 401]
    _, r = _login(app, account, PASSWORD, "10.0.0.1")
    assert r.status_code == 429 and 800 < int(r.headers["Retry-After"]) <= 900  # even the right password waits
    if account == "wang":
        assert _login(app, "wang", PASSWORD, "10.0.0.2")[1].status_code == 302  # another address is not locked
    assert _login(app, "li", PASSWORD, "10.0.0.1")[1].status_code == 302  # another account from this address
    for addr in ("10.0.0.3", "10.0.0.4", "10.0.0.5"):  # failures from many addresses lock the account everywhere
        _login(app, account, "wrong", addr)
    _, r = _login(app, account, PASSWORD, "10.0.0.9")
    assert r.status_code == 429 and int(r.headers["Retry-After"]) > 0
    actions = [e["action"] for e in app.extensions["geo_app"]["users"].audit_log()]
    assert "login_locked" in actions and "login_failed" in actions


def test_lock_out_is_shared_by_every_server_process(tmp_path):
    a = _app(tmp_path / "inst", LOGIN_LOCKOUT_FAILURES=2)
    b = _app(tmp_path / "inst", LOGIN_LOCKOUT_FAILURES=2)
    a.extensions["geo_app"]["users"].add("wang", "planner", PASSWORD)
    _login(a, "wang", "wrong")
    _login(b, "wang", "wrong")
    assert _login(a, "wang")[1].status_code == 429 and _login(b, "wang")[1].status_code == 429


def test_the_password_page_counts_wrong_old_passwords_and_is_rate_limited(tmp_path):
    app = _app(tmp_path / "inst", LOGIN_LOCKOUT_FAILURES=3)
    app.extensions["geo_app"]["users"].add("wang", "planner", PASSWORD)
    session, _ = _login(app, "wang")
    form = {"old": "guess", "new": "0123456789abc", "confirm": "0123456789abc"}
    assert [session.post("/account/password", data=form).status_code for _ in range(3)] == [400, 400, 400]
    r = session.post("/account/password", data={**form, "old": PASSWORD})
    assert r.status_code == 429 and int(r.headers["Retry-After"]) > 0
    assert app.extensions["geo_app"]["users"].authenticate("wang", PASSWORD)  # the guesses changed nothing
    app2 = _app(tmp_path / "inst2")
    app2.extensions["geo_app"]["users"].add("li", "planner", PASSWORD)
    session, _ = _login(app2, "li")
    codes = [session.post("/account/password", data={**form, "confirm": "x"}).status_code for _ in range(11)]
    assert codes[0] == 400 and codes[-1] == 429  # 10 per minute per address, like the login


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_sqlite_files_are_0600_in_a_0700_folder(tmp_path):
    app = _app(tmp_path / "inst")
    app.extensions["geo_app"]["users"].add("wang", "planner", PASSWORD)
    app.extensions["geo_app"]["store"].count()
    inst = tmp_path / "inst"
    assert _mode(inst) == 0o700
    files = [p for p in inst.iterdir() if p.name.startswith(("users.sqlite3", "reviews.sqlite3", "secret_key"))]
    assert {p.name for p in files} >= {"users.sqlite3", "users.sqlite3-wal", "reviews.sqlite3", "secret_key"}
    assert {p.name: _mode(p) for p in files} == {p.name: 0o600 for p in files}


def test_looser_existing_files_and_folder_are_tightened_with_a_log_line(tmp_path, caplog):
    inst = tmp_path / "inst"
    UserStore(inst / "users.sqlite3").add("wang", "planner", PASSWORD)
    os.chmod(inst, 0o755)
    for p in inst.glob("users.sqlite3*"):
        os.chmod(p, 0o644)
    with caplog.at_level(logging.WARNING, logger="geo_app.storage"):
        app = _app(inst)
    assert _mode(inst) == 0o700
    assert all(_mode(p) == 0o600 for p in inst.glob("*.sqlite3*"))
    assert any("tightened" in r.getMessage() and "users.sqlite3" in r.getMessage() for r in caplog.records)
    assert any("tightened" in r.getMessage() and "folder" in r.getMessage() for r in caplog.records)
    assert app.extensions["geo_app"]["users"].authenticate("wang", PASSWORD)  # the data survived
