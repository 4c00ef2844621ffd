"""`geo-app serve`: the waitress WSGI server, and the ``admin`` user created on first start."""

from __future__ import annotations

import sys

import click
from flask import Flask, current_app
from flask.cli import with_appcontext

from ..errors import GeoAppError


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Interface to bind; 127.0.0.1 unless you mean to serve the network.")
@click.option("--port", default=5000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--threads", default=8, show_default=True, type=click.IntRange(1, 64))
@with_appcontext
def serve(host: str, port: int, threads: int) -> None:
    """Serve the app with waitress (production WSGI server)."""
    import waitress

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    try:
        app.extensions["geo_app"]["layers"].load_all()  # refuse to start on a corrupt data file
    except GeoAppError as exc:
        click.echo(f"geo-app: cannot start: {exc.message}", err=True)
        sys.exit(3)
    if app.config.get("PUBLIC_READ_FROM_HOST"):
        app.config["PUBLIC_READ"] = host in ("127.0.0.1", "localhost", "::1")
    _first_start_admin(app)
    read = "anyone may read" if app.config["PUBLIC_READ"] else "reading needs a login"
    click.echo(f"geo-app: serving on http://{host}:{port}/  ({read}; Ctrl+C to stop)")
    waitress.serve(app, host=host, port=port, threads=threads, ident="geo-app",
                   channel_timeout=60, cleanup_interval=10)


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
