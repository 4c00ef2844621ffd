"""Bounded requests: body limits by path, the upload pool and the time budget, in front of Flask.

:func:`install` wraps ``app.wsgi_app`` in :class:`RequestLimits`, a WSGI middleware that, before
Flask reads a byte of the request:

- refuses a body whose ``Content-Length`` is over the path's limit (:func:`body_limit`:
  ``MAX_CONTENT_LENGTH``, or ``UPLOAD_MAX_CONTENT_LENGTH`` under ``/data/``) with a 413 JSON
  error, without reading it; a body without a length (chunked) is read by :func:`buffer_body`,
  which cuts it off at the limit with a 413;
- gives POSTs under ``/data/`` (uploads, imports, undo: they all serialise on the data folder's
  lock anyway) ``UPLOAD_WORKERS`` slots; when every slot is taken the answer is 503 with
  ``Retry-After`` at once, so slow imports never hold the threads that answer ``/`` or the API;
- opens the request's time budget (:func:`geo_app.analysis.budget.deadline`:
  ``REQUEST_TIMEOUT_S``, ``IMPORT_TIMEOUT_S`` under ``/data/``).

``geo-app serve`` applies the same body limits inside waitress, from the request line and headers,
so an oversized body is refused before waitress buffers or spools any of it
(:mod:`geo_app.cli.server`).
"""

from __future__ import annotations

import json
import tempfile
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import parse_qs

from flask import Flask, request
from werkzeug.datastructures import LanguageAccept
from werkzeug.http import parse_accept_header, parse_cookie

from ..analysis import budget
from ..errors import GeoAppError, PayloadTooLarge, ServiceBusy, ValidationError, status_for
from ..i18n import LANGS

#: Paths with their own body limit, time budget and worker pool (the data page's writes).
UPLOAD_PREFIX = "/data/"
_STATUS_LINES = {400: "400 Bad Request", 413: "413 Request Entity Too Large", 503: "503 Service Unavailable"}


def is_upload(path: str) -> bool:
    """Whether ``path`` is one of the data page's upload and import endpoints."""
    return path.startswith(UPLOAD_PREFIX)


def body_limit(config: Mapping[str, Any], path: str) -> int | None:
    """The largest body accepted on ``path`` in bytes (None: no limit)."""
    base = config.get("MAX_CONTENT_LENGTH")
    upload = config.get("UPLOAD_MAX_CONTENT_LENGTH")
    if upload and is_upload(path):
        return int(upload)
    return None if base is None else int(base)


def timeout_for(config: Mapping[str, Any], path: str) -> float | None:
    """The time budget of a request on ``path`` in seconds (None: no budget)."""
    value = config.get("IMPORT_TIMEOUT_S" if is_upload(path) else "REQUEST_TIMEOUT_S")
    return None if value is None else float(value)


def lang_of(query: str, cookie: str | None, accept_language: str | None) -> str | None:
    """The language a request chose, from its raw query string and headers.

    The order is :func:`geo_app.web.i18n.chosen_lang`'s: ``?lang=``, the ``lang`` cookie, ``Accept-Language``.
    """
    choices = [parse_qs(query or "").get("lang", [None])[0], parse_cookie(cookie or "").get("lang")]
    if accept_language:
        best = parse_accept_header(accept_language, LanguageAccept).best_match(["zh", "zh-CN", "en"])
        choices.append(None if best is None else best[:2])
    return next((lang for lang in choices if lang in LANGS), None)


def error_json(err: GeoAppError, lang: str | None) -> bytes:
    """The JSON error body of ``err`` (``{"error": {code, message, field}}``), in ``lang``."""
    return json.dumps(err.to_dict(lang), ensure_ascii=False).encode("utf-8")


def too_large(limit: int | None) -> PayloadTooLarge:
    """The 413 error of a body over ``limit`` bytes."""
    return PayloadTooLarge(key="err_body_too_large", field="body", params={"limit": limit})


def buffer_body(environ: dict[str, Any], limit: int) -> bool:
    """Read a body without ``Content-Length`` (chunked) into a spooled file, at most ``limit`` bytes.

    The body is read in 64 KiB pieces and cut off as soon as it passes ``limit``; a body within
    the limit becomes an ordinary one (``wsgi.input`` at its start, ``CONTENT_LENGTH`` set), kept in
    memory up to 1 MiB and in a temporary file beyond.

    Returns
    -------
    bool
        False when the body is over the limit (nothing more is read).
    """
    stream, size = environ["wsgi.input"], 0
    spool = tempfile.SpooledTemporaryFile(max_size=2**20)  # noqa: SIM115 - handed on as wsgi.input
    while piece := stream.read(min(65536, limit + 1 - size)):
        size += len(piece)
        if size > limit:
            spool.close()
            return False
        spool.write(piece)
    spool.seek(0)
    environ["wsgi.input"], environ["CONTENT_LENGTH"] = spool, str(size)
    return True


class RequestLimits:
    """The WSGI middleware of this module (see the module docstring).

    Parameters
    ----------
    app
        The wrapped WSGI application (``flask_app.wsgi_app``).
    config
        The Flask config, read on every request (tests and operators may change limits).
    slots, n_slots
        The upload pool and its size.
    """

    def __init__(self, app: Callable[..., Iterable[bytes]], config: Mapping[str, Any],
                 slots: threading.BoundedSemaphore, n_slots: int) -> None:
        self.app, self.config, self.slots, self.n_slots = app, config, slots, n_slots

    def refuse(self, environ: dict[str, Any], start_response: Callable[..., Any], err: GeoAppError,
               ) -> list[bytes]:
        """Answer ``err`` as JSON at once (the server deals with a body left unread)."""
        lang = lang_of(environ.get("QUERY_STRING", ""), environ.get("HTTP_COOKIE"),
                       environ.get("HTTP_ACCEPT_LANGUAGE"))
        body = error_json(err, lang)
        headers = [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
        if getattr(err, "retry_after", None):
            headers.append(("Retry-After", str(int(err.retry_after))))  # type: ignore[attr-defined]
        start_response(_STATUS_LINES[status_for(err)], headers)
        return [body]

    def _body_error(self, environ: dict[str, Any], limit: int | None) -> GeoAppError | None:
        """A 400/413 for the declared length or an undeclared one over the limit, else None."""
        raw = environ.get("CONTENT_LENGTH") or ""
        if raw:
            if not raw.strip().isdigit():
                return ValidationError(key="err_content_length", field="content-length")
            return too_large(limit) if limit is not None and int(raw) > limit else None
        if limit is not None and environ.get("wsgi.input_terminated") and not buffer_body(environ, limit):
            return too_large(limit)  # a body without a length, cut off at the limit
        return None

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        """Check the body, take an upload slot, open the budget, then call the application."""
        path = environ.get("PATH_INFO", "")
        err = self._body_error(environ, body_limit(self.config, path))
        if err is not None:
            return self.refuse(environ, start_response, err)
        pooled = environ.get("REQUEST_METHOD") == "POST" and is_upload(path)
        if pooled and not self.slots.acquire(blocking=False):
            busy = ServiceBusy(key="err_busy_uploads", field=None,
                               params={"slots": self.n_slots, "retry": ServiceBusy.retry_after})
            return self.refuse(environ, start_response, busy)
        try:  # Flask has run the view and built the whole body when it returns (no streamed uploads)
            with budget.deadline(timeout_for(self.config, path)):
                return self.app(environ, start_response)
        finally:
            if pooled:
                self.slots.release()


def install(app: Flask) -> RequestLimits:
    """Put :class:`RequestLimits` in front of ``app`` and apply the path's limit inside Flask too.

    Returns
    -------
    RequestLimits
        The middleware (also ``app.extensions["geo_app"]["limits"]``).
    """
    n = max(1, int(app.config.get("UPLOAD_WORKERS") or 1))
    limits = RequestLimits(app.wsgi_app, app.config, threading.BoundedSemaphore(n), n)
    app.wsgi_app = limits  # type: ignore[method-assign]
    app.extensions.setdefault("geo_app", {})["limits"] = limits

    def _path_limit() -> None:
        """Flask's own check (form parsing) uses the same limit as the middleware on this path."""
        request.max_content_length = body_limit(app.config, request.path)

    app.before_request_funcs.setdefault(None, []).insert(0, _path_limit)
    return limits
