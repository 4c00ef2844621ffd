"""`geo-app` commands of the batch feature."""

from __future__ import annotations

import click

COMMANDS: list[click.Command] = []
