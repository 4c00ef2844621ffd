"""The ``geo-app`` command line (click, through Flask's app-aware group).

:data:`main` is the console script (``geo-app = geo_app.cli:main``). Each command module of
this package lists its click commands in ``COMMANDS``; :func:`_register_commands` adds them.
"""

from __future__ import annotations

import click
from flask import Flask
from flask.cli import FlaskGroup

from . import batch, data, engine, layers, review, scenarios, server, users


def _create_app() -> Flask:
    from .. import create_app

    return create_app()


@click.group(cls=FlaskGroup, create_app=_create_app, add_default_commands=False,
             add_version_option=False, load_dotenv=False)
def main() -> None:
    """Meihekou planning map service (梅河口市规划地图服务)."""


def _register_commands() -> None:
    """Add the commands of every command module to :data:`main`."""
    for module in (server, layers, review, users, engine, data, scenarios, batch):
        for cmd in module.COMMANDS:
            main.add_command(cmd)


_register_commands()

__all__ = ["main"]
