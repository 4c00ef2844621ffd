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
    "BASEMAP": Path,
    "SECRET_KEY": str,
    "ROADS_GRAPHML": Path,
    "NETWORK": Path,
    "MAX_CONTENT_LENGTH": int,
    "DATA_LOCK_TIMEOUT_S": float,
    "DATABASE_URL": str,
    "PUBLIC_READ": _bool,
    "SECURE_COOKIES": _bool,
    "TIMEZONE": str,
    "UPLOAD_MAX_CONTENT_LENGTH": int,
    "REQUEST_TIMEOUT_S": float,
    "IMPORT_TIMEOUT_S": float,
    "UPLOAD_WORKERS": int,
    "CONNECTION_LIMIT": int,
    "CHANNEL_TIMEOUT_S": int,
    "GRAPH_CACHE_MB": int,
    "SCENARIO_CACHE_MB": int,
    "PAGE_CACHE_MB": int,
    "TRUSTED_PROXY": str,
}


#: Bounded memory and time (SECURITY.md, "Resources"; README, Configuration).
RESOURCE_DEFAULTS: dict[str, Any] = {
    # Bodies on /data/... (uploads) may be larger than MAX_CONTENT_LENGTH
    # when this is set (None: the same limit); both are refused from the header.
    "UPLOAD_MAX_CONTENT_LENGTH": None,
    # The time budget of a request, and of one on /data/... (imports); 503 beyond it.
    "REQUEST_TIMEOUT_S": 30.0,
    "IMPORT_TIMEOUT_S": 300.0,
    # POSTs on /data/... run at most this many at once; more get 503 + Retry-After at once.
    "UPLOAD_WORKERS": 2,
    # `geo-app serve` (waitress): open connections at most, and seconds before an idle one is closed.
    "CONNECTION_LIMIT": 500,
    "CHANNEL_TIMEOUT_S": 30,
    # Cache bounds in MiB: values derived from the travel graphs (shared by the scenario graphs),
    # the scenarios' "before" tables, rendered map pages.
    "GRAPH_CACHE_MB": 64,
    "SCENARIO_CACHE_MB": 48,
    "PAGE_CACHE_MB": 32,
    # The reverse proxy's address (deploy/): waitress then takes the client address and scheme from
    # its X-Forwarded-For/-Proto, and reading needs a login unless GEO_APP_PUBLIC_READ says otherwise.
    "TRUSTED_PROXY": None,
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
        # A local MBTiles file (raster tiles) drawn as the default basemap at /tiles/{z}/{x}/{y}.
        "BASEMAP": None,
        "ROADS_GRAPHML": None,
        # Road network file from `geo-app network build` (.npz, or an osmnx .graphml); when unset,
        # data/routes/roads.npz is used if it exists, else the schematic trunk corridors.
        "NETWORK": None,
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
        "TIMEZONE": "Asia/Shanghai",  # IANA zone of times on pages/PDFs; exports: ISO 8601 with the offset
        **RESOURCE_DEFAULTS,
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
