"""Shared pieces of the attack suite (issue #14 §3–4): local listeners, a served app, test apps.

:class:`Listener` is a TCP listener on 127.0.0.1 that records every connection; with
``answer=False`` it is a "black hole" that accepts and never answers, so a server thread that
connected to it would hang. Payloads carry both listeners' URLs; the tests then prove that no
connection arrived and that every request finished within a generous bound. Nothing here touches
the internet.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

from tests.conftest import ROOT, authorize

#: Generous bound for one request that must not wait on anything.
REQUEST_S = 30.0


class Listener:
    """A TCP listener on 127.0.0.1 that records connections; ``answer=False`` accepts and never replies."""

    def __init__(self, *, answer: bool) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.answer = answer
        self.connections = 0
        self.held: list[socket.socket] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.connections += 1
            if self.answer:
                conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\n{}")
                conn.close()
            else:
                self.held.append(conn)

    def url(self, path: str = "/x.geojson") -> str:
        """``http://127.0.0.1:PORT/path``."""
        return f"http://127.0.0.1:{self.port}{path}"

    def close(self) -> None:
        """Stop accepting and close every held connection."""
        self.stop.set()
        self.thread.join(5)
        for conn in self.held:
            conn.close()
        self.sock.close()


@contextlib.contextmanager
def listeners() -> Iterator[tuple[Listener, Listener]]:
    """A recording listener and a black hole, closed afterwards."""
    ear, hole = Listener(answer=True), Listener(answer=False)
    try:
        yield ear, hole
    finally:
        ear.close()
        hole.close()


def url_payloads(ear: Listener, hole: Listener) -> list[str]:
    """URLs (and URL-like paths) that a server which fetched things would connect to."""
    return [ear.url(), hole.url("/hold"), f"//127.0.0.1:{hole.port}/", f"https://127.0.0.1:{ear.port}/a",
            f"/vsicurl/{hole.url('/v.tif')}", "file:///etc/passwd", f"/\\127.0.0.1:{ear.port}/",
            f"/\t/127.0.0.1:{hole.port}/"]


def make_app(tmp_path: Path, **config):
    """An app over a copy of data/ with its own instance folder (tests/test_importer.py's factory)."""
    from tests.test_importer import make_app as factory

    return factory(tmp_path, **config)


def editor_client(app):
    """An editor with a Bearer token and the page's CSRF token in ``.token``."""
    from tests.test_data_pages import csrf

    client = authorize(app, "editor")
    client.token = csrf(client)
    return client


@contextlib.contextmanager
def served(app, threads: int = 2) -> Iterator[str]:
    """The app under waitress (the production server) with few threads, on a free loopback port."""
    import waitress.server

    server = waitress.server.create_server(app, host="127.0.0.1", port=0, threads=threads)
    port = server.socket.getsockname()[1]
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.close()


__all__ = ["REQUEST_S", "ROOT", "Listener", "editor_client", "listeners", "make_app", "served", "url_payloads"]
