"""Shared fixtures: the app from the factory over the shipped data, a client, a CLI runner,
a live server for browser tests and a headless Chromium (Debian's, never downloaded)."""

from __future__ import annotations

import contextlib
import shutil
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from geo_app import create_app

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking"]


@pytest.fixture(scope="session")
def instance_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("instance")


@pytest.fixture(scope="session")
def app(instance_dir: Path):
    app = create_app({"TESTING": True, "INSTANCE": instance_dir})
    return app


@pytest.fixture()
def client(app):
    return app.test_client()


@pytest.fixture()
def runner(app):
    return app.test_cli_runner()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serve(app) -> Iterator[str]:
    """Serve an app with waitress (the production server) on a free loopback port; yield its URL."""
    import waitress.server

    port = _free_port()
    server = waitress.server.create_server(app, host="127.0.0.1", port=port, threads=4)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.close()


@pytest.fixture(scope="session")
def live_server(app) -> Iterator[str]:
    """The session app (shipped data) served on loopback."""
    with serve(app) as url:
        yield url


@pytest.fixture(scope="session")
def browser():
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        pytest.fail("Debian chromium is not installed: run `make test`, which installs it")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=exe, args=CHROMIUM_ARGS)
        yield b
        b.close()


class RecordingPage:
    """A page that records every request URL, to prove nothing leaves 127.0.0.1."""

    def __init__(self, browser) -> None:
        self.context = browser.new_context(viewport={"width": 1400, "height": 900}, locale="zh-CN")
        self.page = self.context.new_page()
        self.requests: list[str] = []
        self.errors: list[str] = []
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))

    def external(self) -> list[str]:
        ok = ("http://127.0.0.1:", "data:", "blob:", "about:")
        return [u for u in self.requests if not u.startswith(ok)]

    def screenshot(self, name: str) -> Path:
        ARTIFACTS.mkdir(exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        self.page.screenshot(path=str(path))
        return path


@pytest.fixture()
def recording_page(browser) -> Iterator[RecordingPage]:
    rp = RecordingPage(browser)
    yield rp
    rp.context.close()


@pytest.fixture()
def invoke(runner):
    """Run a ``geo-app`` command against the test app: ``invoke(["layers"])``."""
    from geo_app.cli import main

    return lambda args, **kw: runner.invoke(main, args, **kw)


PASSWORD = "correct horse battery"


def authorize(app, role: str = "planner", name: str | None = None):
    """A test client that sends a Bearer token of a user with ``role`` (created when missing)."""
    from geo_app.errors import ValidationError

    users = app.extensions["geo_app"]["users"]
    name = name or f"{role}-user"
    try:
        users.add(name, role, PASSWORD)
    except ValidationError:
        pass
    token = users.create_token(name, "test")
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    return client


@pytest.fixture()
def planner_client(app):
    return authorize(app, "planner")


def login(page, base: str, name: str, password: str = PASSWORD) -> None:
    """Log in through the login page in a browser."""
    page.goto(base + "/login")
    page.fill("#name", name)
    page.fill("#password", password)
    page.click("#login-submit")
    page.wait_for_load_state()
