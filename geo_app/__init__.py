"""Meihekou planning map service.

``create_app`` is loaded on first use, so importing the pure core (``geo_app.network``,
``geo_app.analysis``) does not pull in Flask.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .app import create_app

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from .app import create_app

        return create_app
    raise AttributeError(f"module 'geo_app' has no attribute {name!r}")
