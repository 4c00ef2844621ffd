"""`geo-app users add|list|passwd|token|disable|enable|delete` and `geo-app audit`: accounts, tokens, the audit log.

Disabling or deleting a user, or changing a password, ends their sessions and API tokens at once, in
every server process (each request checks the user in the store). ``passwd --keep-token LABEL`` keeps
the tokens with that label.

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
    for u in _users().list(disabled_too=True):
        flag = "  (must change password)" if u.must_change else ""
        flag += "  (disabled)" if u.disabled else ""
        click.echo(f"{u.name:<24}{u.role}{flag}")


@users_group.command("passwd")
@click.argument("name")
@click.password_option("--password", help="Prompted (hidden, twice) when not given.")
@click.option("--keep-token", "keep_tokens", multiple=True, metavar="LABEL",
              help="Keep the user's API tokens with this label (repeatable); every other token is revoked.")
@with_appcontext
@domain_errors
def users_passwd(name: str, password: str, keep_tokens: tuple[str, ...]) -> None:
    """Set a user's password (ends their sessions and revokes their tokens, except --keep-token ones)."""
    _users().set_password(name, password, keep_tokens=keep_tokens)
    _users().audit(None, "password_change", name, detail={"via": "cli", "kept_tokens": list(keep_tokens)})
    click.echo(f"password of {name} changed")


@users_group.command("disable")
@click.argument("name")
@with_appcontext
@domain_errors
def users_disable(name: str) -> None:
    """Disable a user: their sessions and API tokens stop working at once."""
    _users().set_disabled(name, True)
    _users().audit(None, "user_disable", name, detail={"via": "cli"})
    click.echo(f"{name} disabled; sessions ended and tokens revoked")


@users_group.command("enable")
@click.argument("name")
@with_appcontext
@domain_errors
def users_enable(name: str) -> None:
    """Enable a disabled user again (they log in anew; revoked tokens stay revoked)."""
    _users().set_disabled(name, False)
    _users().audit(None, "user_enable", name, detail={"via": "cli"})
    click.echo(f"{name} enabled")


@users_group.command("delete")
@click.argument("name")
@click.confirmation_option(prompt="Delete this user and their tokens?")
@with_appcontext
@domain_errors
def users_delete(name: str) -> None:
    """Delete a user and their tokens (the audit log keeps their name)."""
    _users().delete(name)
    _users().audit(None, "user_delete", name, detail={"via": "cli"})
    click.echo(f"{name} deleted")


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
