"""`geo-app serve`: the waitress WSGI server, and the ``admin`` user created on first start.

Waitress is configured for many slow clients (:func:`waitress_options`: a connection limit, short
idle timeouts, poll() instead of select(), bounded headers) and applies the app's body limits by
path as soon as the request line and headers have arrived (:class:`LimitedParser`), so a body
over its limit is refused with the app's 413 JSON before waitress buffers or spools a byte of it.
Deployments on networks that are not trusted put a reverse proxy in front (``deploy/``).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any

import click
from flask import Flask, current_app
from flask.cli import with_appcontext
from waitress.channel import HTTPChannel
from waitress.parser import HTTPRequestParser
from waitress.server import BaseWSGIServer, create_server
from waitress.utilities import RequestEntityTooLarge

from ..errors import GeoAppError
from ..web.limits import body_limit, error_json, lang_of, too_large

#: Waitress settings that do not come from the config (README, Configuration).
MAX_HEADER_BYTES = 64 * 1024
RECV_BYTES = 64 * 1024
CLEANUP_INTERVAL_S = 5
#: glibc malloc: blocks from this size up are mmapped (and returned on free); heaps at most.
MMAP_THRESHOLD = 2**20
MALLOC_ARENAS = 2


class JSONTooLarge(RequestEntityTooLarge):
    """Waitress's 413 answered with the app's JSON error body."""

    def __init__(self, payload: bytes) -> None:
        super().__init__("")
        self.payload = payload

    def to_response(self, ident: str | None = None) -> tuple[str, list[tuple[str, str]], bytes]:
        """Status, headers and body of the 413 (waitress adds ``Connection: close``)."""
        return f"{self.code} {self.reason}", [("Content-Type", "application/json")], self.payload


class LimitedParser(HTTPRequestParser):
    """Waitress's request parser, refusing a body over the path's limit before storing any of it.

    A ``Content-Length`` over the limit is refused as soon as the headers end; a chunked body as
    soon as what it has sent passes the limit. ``config`` is set on the subclass made by
    :func:`parser_for`.
    """

    config: Mapping[str, Any] = {}

    def received(self, data: bytes) -> int:
        """Parse ``data`` as waitress does, then refuse the request if its body is over the limit."""
        consumed = super().received(data)
        own = isinstance(self.error, RequestEntityTooLarge) and not isinstance(self.error, JSONTooLarge)
        if (self.error is None or own) and self.headers_finished and not self.empty:
            limit = body_limit(self.config, self.path or "/")
            size = len(self.body_rcv) if self.chunked and self.body_rcv is not None else self.content_length
            if own or (limit is not None and size > limit):  # waitress's own 413 answered as ours
                lang = lang_of(self.query or "", self.headers.get("COOKIE"), self.headers.get("ACCEPT_LANGUAGE"))
                self.error = JSONTooLarge(error_json(too_large(limit), lang))
                self.completed, self.expect_continue = True, False
        return consumed


def parser_for(config: Mapping[str, Any]) -> type[LimitedParser]:
    """A :class:`LimitedParser` reading its limits from ``config`` (the app's, read per request)."""
    return type("AppLimitedParser", (LimitedParser,), {"config": config})


def waitress_options(app: Flask, threads: int) -> dict[str, Any]:
    """Waitress's settings for ``app``: threads, connection limit, timeouts, header and body sizes."""
    cfg = app.config
    limits = [n for n in (body_limit(cfg, "/"), body_limit(cfg, "/data/")) if n is not None]
    channel_timeout = int(cfg.get("CHANNEL_TIMEOUT_S") or 30)
    opts = {"threads": threads, "ident": "geo-app", "connection_limit": int(cfg.get("CONNECTION_LIMIT") or 500),
            "channel_timeout": channel_timeout, "cleanup_interval": max(1, min(CLEANUP_INTERVAL_S, channel_timeout)),
            "recv_bytes": RECV_BYTES, "max_request_header_size": MAX_HEADER_BYTES, "asyncore_use_poll": True}
    if cfg.get("TRUSTED_PROXY"):  # behind deploy/'s proxy: the client is the one it names
        opts.update(trusted_proxy=str(cfg["TRUSTED_PROXY"]), trusted_proxy_count=1,
                    trusted_proxy_headers={"x-forwarded-for", "x-forwarded-proto"},
                    clear_untrusted_proxy_headers=True)
    if limits:
        # Waitress refuses lengths >= this and counts chunked framing; LimitedParser applies the exact limits.
        opts["max_request_body_size"] = 2 * max(limits) + 65536
    return opts


def tune_malloc(mmap_threshold: int = MMAP_THRESHOLD, arenas: int = MALLOC_ARENAS) -> bool:
    """Make glibc give freed array memory back to the system (``geo-app serve`` calls this first).

    By default glibc raises its mmap threshold each time a large block is freed, so the surfaces of
    later requests come from per-thread heaps that fragment and never shrink: 400 comparisons from 4
    clients left the server 470 MB larger with no cache over its bound. A fixed threshold (blocks of
    ``mmap_threshold`` bytes or more are mapped and unmapped) and ``arenas`` heaps keep the growth to
    what the caches hold (``benchmarks/memory.py``). ``MALLOC_*`` environment variables, when set, win.

    Returns
    -------
    bool
        Whether the settings were applied (False off glibc).
    """
    import ctypes
    import ctypes.util
    import os

    if any(k.startswith("MALLOC_") for k in os.environ):
        return False
    try:
        mallopt = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    m_mmap_threshold, m_arena_max = -3, -8  # <malloc.h>
    return bool(mallopt(m_mmap_threshold, int(mmap_threshold))) and bool(mallopt(m_arena_max, int(arenas)))


def make_server(app: Flask, host: str = "127.0.0.1", port: int = 5000, threads: int = 8) -> Any:
    """A waitress server for ``app`` with :func:`waitress_options` and :class:`LimitedParser` (not started).

    Returns
    -------
    waitress.server.BaseWSGIServer or MultiSocketServer
        Call ``run()`` to serve, ``close()`` to stop.
    """
    server = create_server(app, host=host, port=port, **waitress_options(app, threads))
    channel = type("LimitedChannel", (HTTPChannel,), {"parser_class": parser_for(app.config)})
    targets = [server] if isinstance(server, BaseWSGIServer) else [
        d for d in server.map.values() if isinstance(d, BaseWSGIServer)]
    for target in targets:
        target.channel_class = channel
    return server


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Interface to bind; 127.0.0.1 unless you mean to serve the network.")
@click.option("--port", default=5000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--threads", default=8, show_default=True, type=click.IntRange(1, 64))
@with_appcontext
def serve(host: str, port: int, threads: int) -> None:
    """Serve the app with waitress (production WSGI server)."""
    import logging

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    try:
        app.extensions["geo_app"]["layers"].load_all()  # refuse to start on a corrupt data file
    except GeoAppError as exc:
        click.echo(f"geo-app: cannot start: {exc.message}", err=True)
        sys.exit(3)
    if app.config.get("PUBLIC_READ_FROM_HOST"):
        # Behind a proxy the network reaches a loopback server too: reading then needs a login.
        app.config["PUBLIC_READ"] = host in ("127.0.0.1", "localhost", "::1") and not app.config.get("TRUSTED_PROXY")
    _first_start_admin(app)
    read = "anyone may read" if app.config["PUBLIC_READ"] else "reading needs a login"
    click.echo(f"geo-app: serving on http://{host}:{port}/  ({read}; Ctrl+C to stop)")
    logging.basicConfig()
    tune_malloc()
    server = make_server(app, host, port, threads)
    server.print_listen("Serving on http://{}:{}")
    server.run()


def _first_start_admin(app: Flask) -> None:
    """With no user yet, create ``admin`` with a one-time password and print it once."""
    from ..storage import one_time_password

    users = app.extensions["geo_app"]["users"]
    if users.count():
        return
    password = one_time_password()
    users.add("admin", "admin", password, must_change=True)
    users.audit(None, "user_add", "admin", detail={"role": "admin", "first_start": True})
    click.echo("=" * 64)
    click.echo("  First start: created user 'admin' with a one-time password:")
    click.echo(f"      {password}")
    click.echo("  Log in at /login; you will be asked to change it. It is not shown again.")
    click.echo("=" * 64)


COMMANDS: list[click.Command] = [serve]
