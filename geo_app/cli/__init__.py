"""The ``geo-app`` command line: a plain click group that creates the app itself.

:data:`main` is the console script (``geo-app = geo_app.cli:main``). Its help lists the product's
commands only: it is not Flask's ``FlaskGroup`` (no ``--app``, ``--env-file`` or ``--debug``), and
it never loads the commands extensions register on ``app.cli`` (Flask-Limiter's ``limiter``).
Each command module of this package lists its click commands in ``COMMANDS``;
:func:`_register_commands` adds them. Commands that need the app use Flask's
``with_appcontext``, which builds it on first use from the :class:`~flask.cli.ScriptInfo` this
group puts in the click context (a test runner may pass its own, as ``app.test_cli_runner()`` does).
"""

from __future__ import annotations

from typing import Any

import click
from flask import Flask
from flask.cli import ScriptInfo

from . import batch, data, engine, layers, review, scenarios, server, users


def _create_app() -> Flask:
    from .. import create_app

    return create_app()


class ProductGroup(click.Group):
    """A click group whose context carries a :class:`ScriptInfo` that builds the app lazily."""

    def make_context(self, info_name: str | None, args: list[str], parent: click.Context | None = None,
                     **extra: Any) -> click.Context:
        """Create the context; ``obj`` defaults to a ScriptInfo over :func:`geo_app.create_app`."""
        if parent is None or parent.obj is None:
            extra.setdefault("obj", ScriptInfo(create_app=_create_app, set_debug_flag=False,
                                               load_dotenv_defaults=False))
        return super().make_context(info_name, args, parent=parent, **extra)


@click.group(cls=ProductGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
def main() -> None:
    """Meihekou planning map service (梅河口市规划地图服务).

    Settings come from GEO_APP_* environment variables (see README); `geo-app COMMAND --help`
    explains each command.
    """


def _register_commands() -> None:
    """Add the commands of every command module to :data:`main`."""
    for module in (server, layers, review, users, engine, data, scenarios, batch):
        for cmd in module.COMMANDS:
            main.add_command(cmd)


_register_commands()

__all__ = ["main"]
