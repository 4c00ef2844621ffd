"""GDAL and PROJ hardened for imports: no network, no directory listing, no path from the user.

:func:`harden` sets GDAL configuration options in this process (through pyogrio, which
shares the GDAL that reads every import) and turns PROJ's network access off, so neither
can fetch a URL whatever a file says. :func:`check_user_path` refuses names that GDAL would
read as something other than a plain local file (``/vsicurl/``, ``/vsizip/``, driver
prefixes such as ``GPKG:`` or ``PG:``). The importer never hands GDAL a path the user named:
it copies the bytes it has checked into a temporary folder under fixed names first.
"""

from __future__ import annotations

import re

from ..errors import UnsupportedMediaType

#: An extension no file has: ``/vsicurl/`` refuses every URL that does not end with it.
NO_NETWORK_EXTENSION = ".geo-app-no-network"
#: Largest GeoJSON object GDAL may build, in MB (the importer parses GeoJSON itself first).
GEOJSON_MAX_OBJ_MB = 200

#: Configuration options set before every import. Network access is refused by extension,
#: timeouts and retries are minimal should a request ever be attempted, and GDAL never lists
#: a folder to find sibling files (a Shapefile's parts are opened by their fixed names).
GDAL_OPTIONS: dict[str, str] = {
    "CPL_VSIL_CURL_ALLOWED_EXTENSIONS": NO_NETWORK_EXTENSION,
    "CPL_VSIL_CURL_ALLOWED_FILENAME": f"/nonexistent/{NO_NETWORK_EXTENSION}",
    "CPL_VSIL_CURL_USE_HEAD": "NO",
    "GDAL_HTTP_TIMEOUT": "1",
    "GDAL_HTTP_CONNECTTIMEOUT": "1",
    "GDAL_HTTP_MAX_RETRY": "0",
    "GDAL_HTTP_RETRY_DELAY": "0",
    "GDAL_HTTP_MULTIPLEX": "NO",
    "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
    "OGR_GEOJSON_MAX_OBJ_SIZE": str(GEOJSON_MAX_OBJ_MB),
    "SHAPE_RESTORE_SHX": "NO",
    "GDAL_VRT_ENABLE_PYTHON": "NO",
}

_state = {"done": False}
_VSI = re.compile(r"^\s*/vsi[a-z0-9_]*/", re.IGNORECASE)  # GDAL reads /vsi…/ only at the start
_PREFIX = re.compile(r"^[A-Za-z][A-Za-z0-9_ ]+:")


def harden() -> None:
    """Set :data:`GDAL_OPTIONS` and turn PROJ's network off (cheap; safe to call before every read)."""
    import pyogrio

    pyogrio.set_gdal_config_options(GDAL_OPTIONS)
    if not _state["done"]:
        from pyproj import network

        network.set_network_enabled(active=False)
        _state["done"] = True


def check_user_path(value: str, name: str) -> None:
    """Refuse a path GDAL would read as a virtual file system, a URL or a driver connection string.

    Parameters
    ----------
    value
        The path as given (command line) or the uploaded file's name.
    name
        Display name for the message.

    Raises
    ------
    UnsupportedMediaType
        For ``/vsi…/`` paths, URLs and ``DRIVER:`` prefixes (415, field ``file``).
    """
    if _VSI.search(value) or "://" in value or _PREFIX.match(value):
        raise UnsupportedMediaType(f"{name[:80]}: GDAL virtual file systems, URLs and driver prefixes "
                                   "(/vsi…/, http://, GPKG:, PG:) are not accepted; give a plain local file",
                                   field="file")
