"""`geo-app` commands of the scenarios feature."""

from __future__ import annotations

import click

COMMANDS: list[click.Command] = []
