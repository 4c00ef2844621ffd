"""Front-end assets served from installed packages, so pages work with no internet.

Leaflet comes from the ``XStatic-Leaflet`` wheel. Nothing is fetched from a CDN.
"""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, abort, send_from_directory


def _vendor_dirs() -> dict[str, Path]:
    import xstatic.pkg.leaflet as leaflet

    return {"leaflet": Path(leaflet.BASE_DIR)}


VENDOR = _vendor_dirs()
bp = Blueprint("assets", __name__)


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
