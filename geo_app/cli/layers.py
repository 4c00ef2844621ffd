"""`geo-app layers`: the layer list with feature counts and quality flags.

A corrupt data file prints its message and exits with status 3 (as ``serve`` does).
"""

from __future__ import annotations

import sys

import click
from flask.cli import with_appcontext

from ..errors import GeoAppError
from ._support import extension


@click.command("layers")
@with_appcontext
def layers_cmd() -> None:
    """List the layers with feature counts, geometry counts and quality flags."""
    reg = extension()["layers"]
    try:
        rows = [reg.summary(s.name) for s in reg]
    except GeoAppError as exc:
        click.echo(f"geo-app: {exc.message}", err=True)
        sys.exit(3)
    width = max([22, *(len(r["quality"]) + 2 for r in rows)])
    click.echo(f"{'layer':<16}{'features':>9}{'w/ geom':>9}  {'quality':<{width}}title")
    for r in rows:
        click.echo(f"{r['name']:<16}{r['features']:>9}{r['with_geometry']:>9}  {r['quality']:<{width}}"
                   f"{r['title_zh']} / {r['title_en']}")


COMMANDS: list[click.Command] = [layers_cmd]
