"""`geo-app users add|list|passwd|token` and `geo-app audit`: accounts, API tokens, the audit log.

A domain error (unknown user, weak password) prints its message and exits with status 2.
"""

from __future__ import annotations

from typing import Any

import click
from flask.cli import with_appcontext

from ._support import domain_errors, extension


def _users() -> Any:
    """The app's user store."""
    return extension()["users"]


@click.group("users")
def users_group() -> None:
    """Manage users, roles and API tokens."""


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


@click.command("audit")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10_000))
@with_appcontext
def audit_cmd(limit: int) -> None:
    """Show the audit log, newest first."""
    for e in _users().audit_log(limit):
        click.echo(f"{e['at']}  {e['actor'] or '-':<16}{e['action']:<18}{e['target'] or '':<24}"
                   f"{e['remote_addr'] or '':<16}{e['detail']}")


COMMANDS: list[click.Command] = [users_group, audit_cmd]
