"""Request bodies at the boundary: strict JSON (DESIGN §6), without Flask.

:func:`loads_json` is what every JSON body of the service (and an uploaded site file) is read
with. Before anything is parsed recursively the bytes are scanned for their bracket depth; then
the text is decoded with hooks that mark what a float cannot hold, and the decoded tree is walked
once. A refusal is a :class:`~geo_app.errors.ValidationError` (400) naming the top-level member it
was found in, or a :class:`~geo_app.errors.GeometryError` (422) for a top-level ``crs`` member:

- nesting deeper than :data:`MAX_JSON_DEPTH`;
- text, keys included, that cannot be encoded (lone surrogates, NUL: :func:`geo_app.validate.check_text`);
- integers too large for a float, ``NaN``/``Infinity`` and literals such as ``1e400``;
- a ``coordinates`` member holding anything but arrays and JSON numbers (RFC 7946 positions), and a
  top-level ``lon``/``lat`` that is not a JSON number.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np

from .errors import GeometryError, ValidationError
from .validate import check_text, field_name

#: Deepest nesting of arrays and objects a body may have.
MAX_JSON_DEPTH = 64
_QUOTE, _BACKSLASH = ord('"'), ord("\\")
#: +1 for an opening bracket, -1 for a closing one, 0 for any other byte.
_STEP = np.zeros(256, dtype=np.int8)
_STEP[[ord("["), ord("{")]] = 1
_STEP[[ord("]"), ord("}")]] = -1
#: Top-level members that are coordinates and must be JSON numbers when present.
_NUMBER_MEMBERS = ("lon", "lat")


class _Refused:
    """What a decoding hook returns for a number the service refuses (found by the walk)."""

    __slots__ = ("kind",)

    def __init__(self, kind: str) -> None:
        self.kind = kind


def json_depth(raw: bytes) -> int:
    """Return the deepest bracket nesting of JSON text, brackets inside strings not counted.

    Vectorised (no recursion, no per-byte Python loop): a quote counts when it is preceded by an
    even number of backslashes, and a bracket counts when an even number of such quotes precede it.

    Parameters
    ----------
    raw
        The body's bytes (UTF-8).

    Returns
    -------
    int
        0 for a scalar document.
    """
    arr = np.frombuffer(raw, dtype=np.uint8)
    if not len(arr):
        return 0
    quotes = arr == _QUOTE
    if _BACKSLASH in raw:  # a quote preceded by an odd number of backslashes is escaped
        pos = np.arange(len(arr))
        last_other = np.maximum.accumulate(np.where(arr == _BACKSLASH, -1, pos))
        run_before = np.zeros(len(arr), dtype=np.int64)
        run_before[1:] = pos[:-1] - last_other[:-1]
        quotes &= run_before % 2 == 0
    step = _STEP[arr]
    if quotes.any():  # a closing quote counts as outside; it is no bracket, so that does not matter
        step = step * (np.cumsum(quotes, dtype=np.int64) % 2 == 0)
    return int(max(np.cumsum(step, dtype=np.int64).max(), 0))


def _int(text: str) -> Any:
    if len(text.lstrip("-")) > 309:  # 10**309 > the largest float; also keeps int() far from its digit limit
        return _Refused("big")
    value = int(text)
    try:
        float(value)
    except OverflowError:
        return _Refused("big")
    return value


def _float(text: str) -> Any:
    value = float(text)
    return value if math.isfinite(value) else _Refused("finite")


def _constant(_text: str) -> Any:
    return _Refused("finite")


def _refuse_number(kind: str, field: str) -> None:
    key = "err_json_number_big" if kind == "big" else "err_finite"
    raise ValidationError(key=key, params={"field": field}, field=field)


def _walk(value: Any, field: str, in_coords: bool = False) -> None:
    """Check every string, key and number under one top-level member (iteratively; depth is bounded).

    Inside a ``coordinates`` member only arrays and numbers are allowed.
    """
    stack = [(value, in_coords)]
    while stack:
        item, coords = stack.pop()
        if isinstance(item, _Refused):
            _refuse_number(item.kind, field)
        elif isinstance(item, list):
            for child in item:
                kind = type(child)
                if kind is not float and kind is not int:  # numbers were checked while decoding
                    stack.append((child, coords))
        elif coords and (isinstance(item, bool) or not isinstance(item, int | float)):
            raise ValidationError(key="err_coord_number", params={"field": field}, field=field)
        elif isinstance(item, str):
            check_text(item, field)
        elif isinstance(item, dict):
            for key, child in item.items():
                check_text(key, field)
                stack.append((child, key == "coordinates" and isinstance(child, list)))


def check_tree(obj: Any, *, body: str = "body", refuse_crs: bool = True) -> Any:
    """Walk a decoded JSON document: text, numbers, coordinates and a top-level ``crs`` (see the module).

    Parameters
    ----------
    obj
        The decoded document (from :func:`loads_json`'s decoder).
    body
        The field name of the document itself (errors outside any top-level member name it).
    refuse_crs
        Refuse a top-level ``crs`` member with 422 (DESIGN §6).

    Returns
    -------
    Any
        ``obj`` unchanged.
    """
    if not isinstance(obj, dict):
        _walk(obj, body)
        return obj
    for key in obj:
        check_text(key, field_name(key))
    if refuse_crs and "crs" in obj:
        raise GeometryError(key="err_body_crs", params={"field": "crs"}, field="crs")
    for key, value in obj.items():
        if key in _NUMBER_MEMBERS and (isinstance(value, bool) or not isinstance(value, int | float | _Refused)):
            raise ValidationError(key="err_coord_number", params={"field": key}, field=key)
        _walk(value, key, key == "coordinates" and isinstance(value, list))
    return obj


def loads_json(data: bytes | str, *, body: str = "body", max_depth: int = MAX_JSON_DEPTH,
               refuse_crs: bool = True, **kwargs: Any) -> Any:
    """Decode a JSON document strictly (see the module).

    Parameters
    ----------
    data
        The document as UTF-8 bytes (a leading BOM is allowed) or text.
    body
        The field name errors about the document as a whole use.
    max_depth
        Deepest nesting allowed.
    refuse_crs
        Refuse a top-level ``crs`` member (422).
    **kwargs
        Passed to :func:`json.loads` (e.g. ``object_hook``); the number hooks are this module's.

    Returns
    -------
    Any
        The decoded document.

    Raises
    ------
    ValidationError, GeometryError
        As listed in the module docstring.
    json.JSONDecodeError
        The text is not JSON (a :class:`ValueError`, as :func:`json.loads` raises).
    """
    if isinstance(data, str):
        check_text(data, body)
        raw = data.encode("utf-8")
    else:
        raw = bytes(data)
    if json_depth(raw) > max_depth:
        raise ValidationError(key="err_json_depth", params={"field": body, "n": max_depth}, field=body)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValidationError(key="err_body_utf8", params={"field": body}, field=body) from None
    obj = json.loads(text, parse_int=_int, parse_float=_float, parse_constant=_constant, **kwargs)
    return check_tree(obj, body=body, refuse_crs=refuse_crs)
