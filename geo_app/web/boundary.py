"""The request boundary: one check of every value a request brings, before any view, CSRF or login code.

:func:`init_boundary` installs, ahead of CSRF, login, rate limits and every view:

- a request class whose JSON bodies are decoded by :func:`geo_app.validate_body.loads_json`
  (bracket depth scanned before parsing, numbers a float cannot hold, unencodable text, coordinates
  as strings, a top-level ``crs`` member), so every ``request.get_json()`` of every view is strict;
- :func:`check_request`, which refuses text that cannot be encoded (lone surrogates, NUL) in any
  query argument, path value, header, cookie, form field (names too) and uploaded file name, and
  decodes a JSON body once, so its refusal comes first. Each refusal is a 400 naming the field.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, Request, request
from flask import json as flask_json

from ..validate import check_text, field_name
from ..validate_body import loads_json

_BODY_METHODS = ("POST", "PUT", "PATCH", "DELETE")


class _StrictJSON:
    """The ``json_module`` of :class:`BoundaryRequest`: strict decoding, Flask's encoding."""

    @staticmethod
    def loads(data: bytes | str, **kwargs: Any) -> Any:
        """Decode a request body with :func:`geo_app.validate_body.loads_json`."""
        return loads_json(data, **kwargs)

    @staticmethod
    def dumps(obj: Any, **kwargs: Any) -> str:
        """Encode as Flask does."""
        return flask_json.dumps(obj, **kwargs)


class BoundaryRequest(Request):
    """Flask's request, whose JSON body is decoded strictly (:mod:`geo_app.validate_body`)."""

    @property  # type: ignore[override]
    def json_module(self) -> Any:
        """Always :class:`_StrictJSON` (Flask assigns the app's JSON provider here; bodies stay strict)."""
        return _StrictJSON

    @json_module.setter
    def json_module(self, _value: Any) -> None:
        pass


def _check_pairs(pairs: Any, *, prefix: str = "") -> None:
    """Check names and values of a multi-dict's items; the error names the field."""
    for name, value in pairs:
        field = prefix + field_name(str(name))
        check_text(str(name), field)
        if isinstance(value, str):
            check_text(value, field)


def _check_headers() -> None:
    """Header values (as the WSGI server decoded them); a name is its lower-case form."""
    for name, value in request.headers.items():
        check_text(value, field_name(name.lower()))
    _check_pairs(request.cookies.items(multi=True))


def _check_body() -> None:
    """Form fields, uploaded file names, and a JSON body decoded once (strictly)."""
    if request.method not in _BODY_METHODS:
        return
    if request.is_json:
        request.get_json(silent=True)  # malformed JSON is the view's to refuse; strict refusals raise
        return
    if request.mimetype in ("multipart/form-data", "application/x-www-form-urlencoded"):
        _check_pairs(request.form.items(multi=True))
        for name, upload in request.files.items(multi=True):
            field = field_name(str(name))
            check_text(str(name), field)
            check_text(upload.filename or "", field)


def check_request() -> None:
    """Refuse (400, naming the field) any request value that cannot be encoded; see the module."""
    _check_pairs(request.args.items(multi=True))
    _check_pairs((request.view_args or {}).items())
    _check_headers()
    _check_body()


def init_boundary(app: Flask) -> None:
    """Install the strict request class and :func:`check_request` at the head of the ``before_request`` list.

    It runs before the CSRF, login and rate-limit hooks whatever their registration order (only a hook
    inserted at the head later, such as the per-path body limit, runs before it).

    Parameters
    ----------
    app
        The Flask application.
    """
    app.request_class = BoundaryRequest
    app.before_request_funcs.setdefault(None, []).insert(0, check_request)

