"""Domain errors and the single table that maps them to HTTP status codes.

Analysis and network code raise these; only :func:`register_error_handlers` knows
about HTTP. Every error response has the shape
``{"error": {"code": ..., "message": ..., "field": ...}}``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from flask import Flask


class GeoAppError(Exception):
    """Base class of every domain error.

    Parameters
    ----------
    message
        Human-readable explanation, naming the rule that failed.
    field
        The request field at fault, when there is one.
    """

    code = "error"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON error body."""
        return {"error": {"code": self.code, "message": self.message, "field": self.field}}


class ValidationError(GeoAppError):
    """A parameter is malformed, out of range or of the wrong type."""

    code = "invalid_parameter"


class GeometryError(GeoAppError):
    """A geometry is well-formed JSON but not an acceptable geometry."""

    code = "invalid_geometry"


class OutsideServiceArea(GeoAppError):
    """A location lies outside the area the service models."""

    code = "outside_service_area"


class NoNetworkNearby(GeoAppError):
    """No network node lies within the off-network access limit."""

    code = "no_network_nearby"


class NotFound(GeoAppError):
    """A named resource (layer, review, scenario) does not exist."""

    code = "not_found"


class PayloadTooLarge(GeoAppError):
    """A body or geometry exceeds a size limit."""

    code = "payload_too_large"


class UnsupportedMediaType(GeoAppError):
    """An upload is not in an accepted format."""

    code = "unsupported_media_type"


class AuthRequired(GeoAppError):
    """The request needs a logged-in user or a valid API token."""

    code = "authentication_required"


class Forbidden(GeoAppError):
    """The user's role is too low for the request."""

    code = "forbidden"


class StorageUnavailable(GeoAppError):
    """The review store or the data folder cannot be written (read-only disk, locked database or folder)."""

    code = "storage_unavailable"


class DataFileError(GeoAppError):
    """A data file is missing or corrupt; raised at start-up, naming the file."""

    code = "data_file_error"


#: The one place where domain errors become HTTP status codes.
HTTP_STATUS: dict[type[GeoAppError], int] = {
    ValidationError: 400,
    GeometryError: 422,
    OutsideServiceArea: 422,
    NoNetworkNearby: 422,
    NotFound: 404,
    PayloadTooLarge: 413,
    UnsupportedMediaType: 415,
    AuthRequired: 401,
    Forbidden: 403,
    StorageUnavailable: 503,
    DataFileError: 500,
}


def status_for(exc: GeoAppError) -> int:
    """Return the HTTP status for a domain error (most specific class wins)."""
    for cls in type(exc).__mro__:
        if cls in HTTP_STATUS:
            return HTTP_STATUS[cls]
    return 500


def register_error_handlers(app: Flask) -> None:
    """Register JSON handlers for domain errors and for HTTP errors.

    Parameters
    ----------
    app
        The Flask application.
    """
    from flask import jsonify, render_template, request
    from werkzeug.exceptions import HTTPException

    def _page_request() -> bool:
        """A browser asking for a page (not the API, not a script)."""
        return (request.method in ("GET", "HEAD") and not request.path.startswith("/api/")
                and request.accept_mimetypes.accept_html and "Authorization" not in request.headers)

    def _domain(exc: GeoAppError):  # type: ignore[no-untyped-def]
        if _page_request():
            from .web.i18n import current_lang, translator

            lang = current_lang()
            return render_template("error.html", error=exc, status=status_for(exc), lang=lang,
                                   t=translator(lang), path=request.path), status_for(exc)
        return jsonify(exc.to_dict()), status_for(exc)

    def _http(exc: HTTPException):  # type: ignore[no-untyped-def]
        code = (exc.name or "error").lower().replace(" ", "_")
        if exc.code == 413:
            limit = app.config.get("MAX_CONTENT_LENGTH")
            msg = f"request body is larger than MAX_CONTENT_LENGTH ({limit} bytes)"
            body = {"error": {"code": "payload_too_large", "message": msg, "field": "body"}}
        else:
            body = {"error": {"code": code, "message": exc.description or exc.name, "field": None}}
        wants_html = (
            not request.path.startswith("/api/")
            and request.accept_mimetypes.accept_html
            and not request.is_json
        )
        if wants_html:
            return exc
        return jsonify(body), exc.code

    def _unexpected(exc: Exception):  # type: ignore[no-untyped-def]
        app.logger.exception("unhandled error on %s", request.path)
        body = {"error": {"code": "internal_error", "message": "internal error; the request stored nothing",
                          "field": None}}
        return jsonify(body), 500

    for cls in HTTP_STATUS:
        app.register_error_handler(cls, _domain)
    app.register_error_handler(HTTPException, _http)
    app.register_error_handler(Exception, _unexpected)
