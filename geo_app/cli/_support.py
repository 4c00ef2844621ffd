"""Helpers shared by the ``geo-app`` command modules."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any

import click
from flask import current_app

from ..errors import GeoAppError


def domain_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn a domain error into its message on stderr and exit status 2."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except GeoAppError as exc:
            click.echo(f"geo-app: {exc.message}", err=True)
            sys.exit(2)

    return wrapper


def extension() -> dict[str, Any]:
    """The current app's ``geo_app`` extension (``graph`` callable, ``layers``, ``users``, ``reviews``)."""
    return current_app.extensions["geo_app"]
