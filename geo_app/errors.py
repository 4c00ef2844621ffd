"""Domain errors and the single table that maps them to HTTP status codes.

Analysis and network code raise these; only :func:`register_error_handlers` knows
about HTTP. Every error response has the shape
``{"error": {"code": ..., "message": ..., "field": ...}}``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .i18n import Message, catalogue, text

if TYPE_CHECKING:  # pragma: no cover
    from flask import Flask


class GeoAppError(Exception):
    """Base class of every domain error.

    Parameters
    ----------
    message
        Human-readable explanation, naming the rule that failed: plain English text, or a
        :class:`geo_app.i18n.Message` (a catalogue key with values) that pages and JSON
        answers render in the reader's language.
    field
        The request field at fault, when there is one.
    key, params
        The catalogue key and its values, instead of ``message``.
    """

    code = "error"

    def __init__(self, message: str = "", *, field: str | None = None, key: str | None = None,
                 params: dict[str, Any] | None = None) -> None:
        if key is not None:
            message = Message(key, **(params or {}))
        super().__init__(message)
        self.message = message
        self.field = field

    @property
    def key(self) -> str | None:
        """The catalogue key of the message (None for a plain-text message)."""
        return self.message.key if isinstance(self.message, Message) else None

    def localized(self, lang: str) -> str:
        """The message in ``lang``; a plain-text message falls back to its class's generic text in zh."""
        if isinstance(self.message, Message):
            return self.message.render(lang)
        if lang == "en" or f"err_code_{self.code}" not in catalogue():
            return str(self.message)
        return text(f"err_code_{self.code}", lang)

    def to_dict(self, lang: str | None = None) -> dict[str, Any]:
        """Return the JSON error body (the message in ``lang`` when the request chose one)."""
        message = str(self.message) if lang is None else self.localized(lang)
        return {"error": {"code": self.code, "message": message, "field": self.field}}


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


class ServiceBusy(GeoAppError):
    """Every slot for this kind of request is taken (the upload pool); try again after ``retry_after`` s."""

    code = "busy"
    retry_after = 5


class BudgetExceeded(GeoAppError):
    """The request's work cannot finish within its time budget; it was refused or stopped, nothing kept."""

    code = "budget_exceeded"
    retry_after = 30


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
    ServiceBusy: 503,
    BudgetExceeded: 503,
}


def status_for(exc: GeoAppError) -> int:
    """Return the HTTP status for a domain error (most specific class wins)."""
    for cls in type(exc).__mro__:
        if cls in HTTP_STATUS:
            return HTTP_STATUS[cls]
    return 500


def register_error_handlers(app: Flask) -> None:
    """Register the handlers of domain errors, HTTP errors and unexpected errors.

    A browser asking for a page gets the error page in its language; everything else gets
    JSON, whose message is in the language the request chose (``?lang=``, the ``lang`` cookie
    or ``Accept-Language``) and in English when it chose none.

    Parameters
    ----------
    app
        The Flask application.
    """
    from flask import jsonify, request
    from werkzeug.exceptions import HTTPException

    from .web.i18n import chosen_lang, current_lang, error_page
    from .web.paths import public_error

    def _page_request() -> bool:
        """A browser asking for a page (not the API, not a script)."""
        return (request.method in ("GET", "HEAD") and not request.path.startswith("/api/")
                and request.accept_mimetypes.accept_html and "Authorization" not in request.headers)

    def _domain(exc: GeoAppError):  # type: ignore[no-untyped-def]
        retry = getattr(exc, "retry_after", None)  # 503s that say when to come back
        headers = {"Retry-After": str(int(retry))} if retry else {}
        if _page_request():
            return error_page(status_for(exc), exc, current_lang()), status_for(exc), headers
        return jsonify(public_error(exc.to_dict(chosen_lang()))), status_for(exc), headers  # no server path

    def _http(exc: HTTPException):  # type: ignore[no-untyped-def]
        status = exc.code or 500
        if status == 413:
            err: GeoAppError = PayloadTooLarge(key="err_body_too_large", field="body",
                                               params={"limit": app.config.get("MAX_CONTENT_LENGTH")})
        else:
            err = GeoAppError(key=_http_key(exc), params={"detail": exc.description or exc.name})
            err.code = (exc.name or "error").lower().replace(" ", "_")
        wants_html = (
            not request.path.startswith("/api/")
            and request.accept_mimetypes.accept_html
            and not request.is_json
        )
        if wants_html:
            return error_page(status, err, current_lang()), status
        return jsonify(err.to_dict(chosen_lang())), status

    def _unexpected(exc: Exception):  # type: ignore[no-untyped-def]
        app.logger.exception("unhandled error on %s", request.path)
        err = GeoAppError(key="err_internal")
        err.code = "internal_error"
        if _page_request():
            return error_page(500, err, current_lang()), 500
        return jsonify(err.to_dict(chosen_lang())), 500

    for cls in HTTP_STATUS:
        app.register_error_handler(cls, _domain)
    app.register_error_handler(HTTPException, _http)
    app.register_error_handler(Exception, _unexpected)


def _http_key(exc: Any) -> str:
    """The catalogue key of an HTTP error: the CSRF refusal, else ``http_<status>`` (else generic)."""
    if type(exc).__name__ == "CSRFError":
        return "http_csrf"
    key = f"http_{exc.code}"
    return key if key in catalogue() else "http_other"
