"""The ``geo-app`` command line (click, through Flask's app-aware group)."""

from __future__ import annotations

import sys

import click
from flask import current_app
from flask.cli import FlaskGroup, with_appcontext

from .cli_support import domain_errors
from .errors import GeoAppError


def _create_app():  # type: ignore[no-untyped-def]
    from . import create_app

    return create_app()


@click.group(cls=FlaskGroup, create_app=_create_app, add_default_commands=False,
             add_version_option=False, load_dotenv=False)
def main() -> None:
    """Meihekou planning map service (梅河口市规划地图服务)."""


@main.command("serve")
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


def _first_start_admin(app) -> None:  # type: ignore[no-untyped-def]
    """With no user yet, create ``admin`` with a one-time password and print it once."""
    from .users import one_time_password

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


@main.command("layers")
@with_appcontext
def layers_cmd() -> None:
    """List the layers with feature counts, geometry counts and quality flags."""
    reg = current_app.extensions["geo_app"]["layers"]
    try:
        rows = [reg.summary(s.name) for s in reg]
    except GeoAppError as exc:
        click.echo(f"geo-app: {exc.message}", err=True)
        sys.exit(3)
    click.echo(f"{'layer':<16}{'features':>9}{'w/ geom':>9}  {'quality':<22}title")
    for r in rows:
        click.echo(f"{r['name']:<16}{r['features']:>9}{r['with_geometry']:>9}  {r['quality']:<22}"
                   f"{r['title_zh']} / {r['title_en']}")


@main.command("review")
@click.option("--lon", type=float, help="Site longitude (WGS84).")
@click.option("--lat", type=float, help="Site latitude (WGS84).")
@click.option("--polygon", "polygon", type=click.Path(exists=True, dir_okay=False),
              help="GeoJSON file with the site polygon (instead of --lon/--lat).")
@click.option("--project", default=None, help="Project name (a name from data/projects.csv brings its sector).")
@click.option("--sector", default=None, help="Project sector, e.g. 医药健康.")
@click.option("--save", is_flag=True, help="Store the review (as POST /api/reviews does).")
@with_appcontext
@domain_errors
def review_cmd(lon: float | None, lat: float | None, polygon: str | None, project: str | None,
               sector: str | None, save: bool) -> None:
    """Review a proposed project site and print the report as JSON."""
    import json
    from pathlib import Path

    from .reviews import geojson_upload

    svc = current_app.extensions["geo_app"]["reviews"]
    if polygon:
        geometry = geojson_upload(Path(polygon).read_bytes())
    elif lon is not None and lat is not None:
        geometry = {"type": "Point", "coordinates": [lon, lat]}
    else:
        raise click.UsageError("give --lon and --lat, or --polygon FILE")
    payload = {"geometry": geometry, "project": project, "sector": sector}
    if save:
        rid, report = svc.submit(payload)
        report = {"id": rid, **report}
    else:
        report = svc.review(svc.parse(payload))
    click.echo(json.dumps(report, ensure_ascii=False, indent=1, allow_nan=False))


@main.group("users")
def users_group() -> None:
    """Manage users, roles and API tokens."""


def _users():  # type: ignore[no-untyped-def]
    return current_app.extensions["geo_app"]["users"]


@users_group.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice(["viewer", "planner", "editor", "admin"]), required=True)
@click.password_option("--password", help="Prompted (hidden, twice) when not given.")
@with_appcontext
@domain_errors
def users_add(name: str, role: str, password: str) -> None:
    """Add a user with a role."""
    _users().add(name, role, password)
    _users().audit(None, "user_add", name, detail={"role": role, "via": "cli"})
    click.echo(f"added {name} ({role})")


@users_group.command("list")
@with_appcontext
def users_list() -> None:
    """List users and roles."""
    for u in _users().list():
        flag = "  (must change password)" if u.must_change else ""
        click.echo(f"{u.name:<24}{u.role}{flag}")


@users_group.command("passwd")
@click.argument("name")
@click.password_option("--password", help="Prompted (hidden, twice) when not given.")
@with_appcontext
@domain_errors
def users_passwd(name: str, password: str) -> None:
    """Set a user's password (ends their sessions)."""
    _users().set_password(name, password)
    _users().audit(None, "password_change", name, detail={"via": "cli"})
    click.echo(f"password of {name} changed")


@users_group.command("token")
@click.argument("name")
@click.option("--label", default="cli", show_default=True)
@with_appcontext
@domain_errors
def users_token(name: str, label: str) -> None:
    """Create an API token for a user and print it once."""
    token = _users().create_token(name, label)
    _users().audit(None, "token_create", name, detail={"via": "cli", "label": label})
    click.echo(token)


@main.command("audit")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10_000))
@with_appcontext
def audit_cmd(limit: int) -> None:
    """Show the audit log, newest first."""
    for e in _users().audit_log(limit):
        click.echo(f"{e['at']}  {e['actor'] or '-':<16}{e['action']:<18}{e['target'] or '':<24}"
                   f"{e['remote_addr'] or '':<16}{e['detail']}")


def _register_feature_commands() -> None:
    """Add the command modules of the engine and the other features."""
    from . import cli_batch, cli_data, cli_engine, cli_scenarios

    for module in (cli_engine, cli_data, cli_scenarios, cli_batch):
        for cmd in module.COMMANDS:
            main.add_command(cmd)


_register_feature_commands()
