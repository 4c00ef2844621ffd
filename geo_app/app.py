"""Application factory."""

from __future__ import annotations

import os
import secrets
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, Response

from . import config as config_mod
from .errors import register_error_handlers
from .layers import LayerRegistry
from .reviews import ReviewService
from .storage import UserStore, open_store
from .storage.sqlite_files import secure_folder


def _secret_key(instance: Path) -> str:
    """Read the instance's secret key, creating it on first start (survives restarts)."""
    secure_folder(instance)  # 0700: the secret key, the stores and uploads live here
    path = instance / "secret_key"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # never readable by others, not even briefly
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(secrets.token_hex(32))
    return path.read_text(encoding="utf-8").strip()


def _lazy_graph(app: Flask) -> Callable[[], Any]:
    """Return a callable that builds the travel graph once per process, on first use."""
    lock = threading.Lock()
    box: dict[str, Any] = {}

    def get() -> Any:
        with lock:
            if "graph" not in box:
                from .network.graph import load_graph

                graph = load_graph(app.config)
                # Grid snaps and node times of this graph and of every scenario graph share this bound.
                graph.cache.configure(max_bytes=int(app.config.get("GRAPH_CACHE_MB", 64)) * 2**20)
                box["graph"] = graph
            return box["graph"]

    return get


def _recover_data(app: Flask) -> None:
    """Finish or undo data changes a killed process left (journal), and their audit entries; remove temporaries."""
    from .importer.write import recover_data

    for change in recover_data(app.config["DATA_DIR"]):
        record = change["extra"].get("audit")
        if change["done"] and record:
            app.extensions["geo_app"]["users"].audit_change(record, change["entry"]["id"])


def _security_headers(app: Flask) -> None:
    tiles = app.config.get("TILES_URL")
    tile_host = ""
    if tiles:
        parts = urlsplit(tiles.replace("{s}", "a"))
        tile_host = f" {parts.scheme}://{parts.netloc.replace('a.', '*.', 1)}"
    csp = (
        "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
        f"img-src 'self' data: blob:{tile_host}; connect-src 'self'; font-src 'self'; "
        "frame-ancestors 'self'; base-uri 'self'; form-action 'self'; object-src 'none'"
    )

    @app.after_request
    def _headers(resp: Response) -> Response:
        resp.headers.setdefault("Content-Security-Policy", csp)
        resp.headers.setdefault("X-Content-Type-Options", "nosniff")
        resp.headers.setdefault("X-Frame-Options", "SAMEORIGIN")
        resp.headers.setdefault("Referrer-Policy", "same-origin")
        return resp


def _register_web(app: Flask) -> None:
    """Blueprints, the request boundary, CSRF, login, error handlers, headers and the request limits."""
    from flask_wtf.csrf import CSRFProtect

    from .web import api, assets, auth, boundary, data_pages, limits, openapi, pages, reviews, scenarios, tiles

    boundary.init_boundary(app)  # first: every request value is checked before CSRF, login or a view
    csrf = CSRFProtect(app)
    auth.init_auth(app)
    for module in (assets, auth, pages, api, openapi, reviews, data_pages, scenarios, tiles):
        app.register_blueprint(module.bp)
    # JSON APIs are not reachable by a cross-site HTML form: their POSTs require a JSON body
    # (a content type a form cannot send without a CORS preflight, which this app never grants).
    csrf.exempt(api.bp)
    csrf.exempt(reviews.api_bp)
    csrf.exempt(data_pages.save_feature)
    app.register_blueprint(reviews.api_bp)
    register_error_handlers(app)
    _security_headers(app)
    limits.install(app)  # last, so its body limit runs ahead of every other check (SECURITY.md, Resources)


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Create the Flask application.

    Parameters
    ----------
    config
        Overrides of :func:`geo_app.config.defaults` (after ``GEO_APP_*`` variables),
        e.g. ``{"DATA_DIR": tmp_path, "TESTING": True}``.

    Returns
    -------
    flask.Flask
    """
    cfg = config_mod.build(config)
    instance = Path(cfg["INSTANCE"] or config_mod.ROOT / "instance")
    app = Flask(
        "geo_app",
        instance_path=str(instance.resolve()),
        template_folder=str(config_mod.ROOT / "templates"),
        static_folder=str(Path(__file__).parent / "web" / "static"),
        static_url_path="/static",
    )
    app.config.from_mapping(cfg)
    app.config["INSTANCE"] = instance
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = _secret_key(instance)
    app.json.ensure_ascii = False  # type: ignore[attr-defined]

    registry = LayerRegistry(app.config["LAYERS_DIR"], app.config["DATA_DIR"], app.config["REFERENCE_DATA"],
                             app.config.get("CACHE_DIR"))
    graph = _lazy_graph(app)
    store = open_store(app.config)
    service = ReviewService(layers=registry, graph=graph, store=store, data_dir=app.config["DATA_DIR"],
                            dem_path=app.config.get("DEM"))
    app.extensions["geo_app"] = {"layers": registry, "graph": graph, "store": store, "reviews": service,
                                 "users": UserStore(instance / "users.sqlite3",
                                                   timeout=float(app.config.get("STORE_TIMEOUT_S") or 10.0))}
    _recover_data(app)
    if app.config.get("PUBLIC_READ") is None:
        app.config["PUBLIC_READ"] = True
        app.config["PUBLIC_READ_FROM_HOST"] = True  # `geo-app serve` decides from the bind address
    app.config["SESSION_COOKIE_SECURE"] = app.config["REMEMBER_COOKIE_SECURE"] = bool(
        app.config.get("SECURE_COOKIES"))

    _register_web(app)
    return app
