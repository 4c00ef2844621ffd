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


def _kind(name: str, code: str, status: int, doc: str, *, retry_after: int | None = None) -> type[GeoAppError]:
    """Make one domain error class and record its HTTP status in :data:`HTTP_STATUS`."""
    attrs: dict[str, Any] = {"code": code, "__doc__": doc, "__module__": __name__, "__qualname__": name}
    if retry_after is not None:
        attrs["retry_after"] = retry_after
    cls = type(name, (GeoAppError,), attrs)
    HTTP_STATUS[cls] = status
    return cls


#: The one place where domain errors become HTTP status codes (filled by the table below).
HTTP_STATUS: dict[type[GeoAppError], int] = {}

# The domain errors: class, code, HTTP status, meaning. Subclasses (e.g. ScenarioError) inherit the status.
ValidationError = _kind("ValidationError", "invalid_parameter", 400, "A parameter is malformed or out of range.")
GeometryError = _kind("GeometryError", "invalid_geometry", 422, "Well-formed JSON, but not an acceptable geometry.")
OutsideServiceArea = _kind("OutsideServiceArea", "outside_service_area", 422, "A location lies outside the area.")
NoNetworkNearby = _kind("NoNetworkNearby", "no_network_nearby", 422, "No network node within the access limit.")
NotFound = _kind("NotFound", "not_found", 404, "A named layer, review or scenario does not exist.")
PayloadTooLarge = _kind("PayloadTooLarge", "payload_too_large", 413, "A body or geometry exceeds a size limit.")
UnsupportedMediaType = _kind("UnsupportedMediaType", "unsupported_media_type", 415, "An upload of another format.")
AuthRequired = _kind("AuthRequired", "authentication_required", 401, "Needs a logged-in user or an API token.")
Forbidden = _kind("Forbidden", "forbidden", 403, "The user's role is too low for the request.")
StorageUnavailable = _kind("StorageUnavailable", "storage_unavailable", 503, "Store or data folder not writable.")
DataFileError = _kind("DataFileError", "data_file_error", 500, "A data file is missing or corrupt (named).")
ServiceBusy = _kind("ServiceBusy", "busy", 503, "Every upload slot is taken; retry later.", retry_after=5)
BudgetExceeded = _kind("BudgetExceeded", "budget_exceeded", 503, "Over the time budget; nothing kept.", retry_after=30)


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
