"""Front-end assets served from installed packages, so pages work with no internet.

Leaflet comes from the ``XStatic-Leaflet`` wheel, Leaflet.draw from the ``django-leaflet``
wheel's static folder. Nothing is fetched from a CDN. The blueprint also gives every template
the number filters of :mod:`geo_app.web.maps.numbers`.
"""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, abort, send_from_directory


def _leaflet_draw_dir() -> Path | None:
    """Leaflet.draw 1.0.4 as bundled in the ``django-leaflet`` wheel (installed ``--no-deps``).

    The folder is located without importing the package (it would import Django).
    """
    import importlib.util

    spec = importlib.util.find_spec("leaflet")
    for root in (spec.submodule_search_locations or []) if spec else []:
        path = Path(root) / "static" / "leaflet" / "draw"
        if (path / "leaflet.draw.js").exists():
            return path
    return None


def _vendor_dirs() -> dict[str, Path]:
    import xstatic.pkg.leaflet as leaflet

    dirs = {"leaflet": Path(leaflet.BASE_DIR)}
    draw = _leaflet_draw_dir()
    if draw is not None:
        dirs["leaflet-draw"] = draw
    return dirs


VENDOR = _vendor_dirs()
bp = Blueprint("assets", __name__)


def _register_filters(state) -> None:  # type: ignore[no-untyped-def]
    """Give every template the one number format: ``{{ x|share }}``, ``{{ x|km2 }}``, ``{{ x|minutes }}``."""
    from .maps.numbers import FILTERS

    state.app.jinja_env.filters.update(FILTERS)


bp.record_once(_register_filters)


def vendor_url(package: str, filename: str) -> str:
    """Return the local URL of a vendored asset."""
    return f"/vendor/{package}/{filename}"


@bp.get("/vendor/<package>/<path:filename>")
def vendor(package: str, filename: str):  # type: ignore[no-untyped-def]
    """Serve a file of a vendored front-end package (path traversal is refused by Flask)."""
    root = VENDOR.get(package)
    if root is None:
        abort(404)
    return send_from_directory(root, filename, max_age=86400)
