"""`geo-app` commands of the data feature."""

from __future__ import annotations

import click

COMMANDS: list[click.Command] = []
