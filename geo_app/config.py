"""Configuration defaults and overrides.

Defaults live here; ``GEO_APP_*`` environment variables override them, and a mapping
passed to :func:`geo_app.create_app` overrides both. Paths are kept in ``app.config``,
never in module globals, so tests can point the app at fixture data.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def _bool(raw: str) -> bool:
    """Parse a boolean environment value (1/0, true/false, yes/no, on/off)."""
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"not a boolean: {raw!r}")

#: Keys that may be set from the environment as ``GEO_APP_<KEY>``, and how to parse them.
_ENV_KEYS: dict[str, type] = {
    "DATA_DIR": Path,
    "LAYERS_DIR": Path,
    "REFERENCE_DATA": Path,
    "CACHE_DIR": Path,
    "INSTANCE": Path,
    "DEM": Path,
    "TILES_URL": str,
    "TILES_ATTRIBUTION": str,
    "SECRET_KEY": str,
    "ROADS_GRAPHML": Path,
    "MAX_CONTENT_LENGTH": int,
    "DATA_LOCK_TIMEOUT_S": float,
    "DATABASE_URL": str,
    "PUBLIC_READ": _bool,
    "SECURE_COOKIES": _bool,
}


def defaults() -> dict[str, Any]:
    """Return the default configuration.

    Returns
    -------
    dict
        Fresh dict of defaults; the caller may mutate it.
    """
    return {
        "DATA_DIR": ROOT / "data",
        "LAYERS_DIR": ROOT / "layers",
        # The data pack's use-in-place files (rail) are read from here, never copied.
        "REFERENCE_DATA": ROOT.parent / "shared" / "data",
        # Build outputs derived from use-in-place files live here (git-ignored).
        "CACHE_DIR": ROOT / ".cache",
        "INSTANCE": None,
        "DEM": None,
        # Online basemap tiles are opt-in; the default map loads nothing from the internet.
        "TILES_URL": None,
        "TILES_ATTRIBUTION": None,
        "ROADS_GRAPHML": None,
        "MAX_CONTENT_LENGTH": 2 * 1024 * 1024,
        # How long a data write (import, drawing, undo) waits for another writer's lock.
        "DATA_LOCK_TIMEOUT_S": 30.0,
        "LAYER_LIMIT_DEFAULT": 1000,
        "LAYER_LIMIT_MAX": 5000,
        "SECRET_KEY": None,
        # postgresql://... selects the PostGIS review store; unset = SQLite in the instance folder.
        "DATABASE_URL": None,
        # Whether viewers may read without logging in; None = decided by `geo-app serve`
        # (true on 127.0.0.1, false on any other interface). Writes always need a login.
        "PUBLIC_READ": None,
        # Set the Secure flag on cookies (serve behind HTTPS).
        "SECURE_COOKIES": False,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        "PERMANENT_SESSION_LIFETIME": 8 * 3600,
        "JSON_AS_ASCII": False,
    }


def from_env(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Read ``GEO_APP_*`` overrides from the environment.

    Parameters
    ----------
    environ
        Mapping to read; ``os.environ`` when None.

    Returns
    -------
    dict
        Only the keys that were set.
    """
    env = os.environ if environ is None else environ
    out: dict[str, Any] = {}
    for key, kind in _ENV_KEYS.items():
        raw = env.get(f"GEO_APP_{key}")
        if raw:
            out[key] = kind(raw)
    return out


def build(config: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Merge defaults, environment and explicit overrides, in that order.

    Parameters
    ----------
    config
        Explicit overrides (highest precedence).
    environ
        Environment to read; ``os.environ`` when None.

    Returns
    -------
    dict
        The merged configuration, with path values as :class:`~pathlib.Path`.
    """
    merged = defaults()
    merged.update(from_env(environ))
    merged.update(dict(config or {}))
    for key, kind in _ENV_KEYS.items():
        if kind is Path and merged.get(key) is not None:
            merged[key] = Path(merged[key])
    return merged
