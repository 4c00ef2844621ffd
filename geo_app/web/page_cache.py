"""Rendered map pages, cached per (page, query, data version, language, role): :func:`cached_page`.

A map page (``/``, ``/isochrones``, ``/accessibility``, ``/scenarios``) costs 0.1–0.7 s of CPU to
build and render, and is the same for every reader of one language and role until the data change.
The cache keeps the page without its one per-user part, the top bar's user box
(``templates/_user_box.html``, between ``<!--user-box-->`` markers in ``base.html``: the user's name
and the logout form's CSRF token), and renders that part for every request.

The key holds :func:`geo_app.storage.data_version` of the data folder (and of a scenario folder kept
elsewhere) and the signatures (mtime, size, inode) of the layer files outside it, so an import, a
drawing or an undo, in this process or another, gives a new entry. The cache is a
:class:`~geo_app.network.cache.GraphCache`: at most :data:`MAX_ENTRIES` pages of
``PAGE_CACHE_MB`` MiB in all. A request with a query argument the page does not read is rendered
and not cached (it cannot push the real pages out).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask import Flask, current_app, render_template, request
from flask_login import current_user

from ..network.cache import GraphCache
from ..storage import data_version
from .i18n import current_lang, translator

MAX_ENTRIES = 64
MARKERS = ("<!--user-box-->", "<!--/user-box-->")


def page_cache(app: Flask) -> GraphCache:
    """The app's page cache (made on first use)."""
    ext = app.extensions["geo_app"]
    if "page_cache" not in ext:
        ext["page_cache"] = GraphCache(max_bytes=int(app.config.get("PAGE_CACHE_MB", 32)) * 2**20,
                                       max_entries=MAX_ENTRIES)
    return ext["page_cache"]


def _signature(path: Path) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino)


def data_key(app: Flask) -> tuple[Any, ...]:
    """What the map pages are drawn from: the data version and the files outside the data folder."""
    cfg = app.config
    data_dir = Path(cfg["DATA_DIR"]).resolve()
    reg = app.extensions["geo_app"]["layers"]
    outside = sorted(str(p) for p in (reg.path(s.name) for s in reg) if data_dir not in Path(p).resolve().parents)
    scen = cfg.get("SCENARIOS_DIR")
    extra = data_version(scen) if scen and Path(scen).is_dir() else None
    dem = _signature(Path(cfg["DEM"])) if cfg.get("DEM") else None
    return (data_version(data_dir), extra, dem, tuple((p, _signature(Path(p))) for p in outside))


def role() -> str:
    """The reader's role (``anonymous`` without a login)."""
    return current_user.role if current_user.is_authenticated else "anonymous"


def _split(html: bytes) -> tuple[bytes, bytes] | None:
    """The page (UTF-8) before and after the user box, or None when the page has no user box."""
    first, last = (m.encode("ascii") for m in MARKERS)
    start, end = html.find(first), html.find(last)
    if start < 0 or end < start:
        return None
    return html[:start + len(first)], html[end:]


def user_box(lang: str) -> str:
    """The top bar's user box for this request's user, in ``lang``."""
    return render_template("_user_box.html", lang=lang, t=translator(lang))


def cached_page(*args: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Cache a map page view's HTML per (endpoint, ``args`` values, data version, language, role).

    Parameters
    ----------
    *args
        The query arguments the view reads (``lang`` is always allowed: it is part of the key).
    """
    allowed = {*args, "lang"}

    def deco(view: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(view)
        def wrapper(*a: Any, **kw: Any) -> Any:
            app = current_app._get_current_object()  # type: ignore[attr-defined]
            if request.method != "GET" or not set(request.args) <= allowed:
                resp = app.make_response(view(*a, **kw))
                resp.headers["X-Page-Cache"] = "bypass"
                return resp
            lang = current_lang()
            query = tuple((k, tuple(request.args.getlist(k))) for k in sorted(args) if k in request.args)
            key = (request.endpoint, tuple(sorted(kw.items())), query, data_key(app), lang, role())
            hit = page_cache(app).get(key)
            if hit is not None:
                resp = app.response_class(hit[0] + user_box(lang).encode("utf-8") + hit[1], mimetype="text/html")
                resp.headers["X-Page-Cache"] = "hit"
                return resp
            resp = app.make_response(view(*a, **kw))
            parts = _split(resp.get_data()) if resp.status_code == 200 else None
            if parts is not None and resp.mimetype == "text/html":
                page_cache(app).put(key, parts, len(parts[0]) + len(parts[1]))
            resp.headers["X-Page-Cache"] = "miss"
            return resp

        return wrapper

    return deco
