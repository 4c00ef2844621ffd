"""Downloads that arrive as files: ``Content-Disposition: attachment`` with a name saying what and when.

A name with Chinese characters is sent as RFC 6266 / RFC 5987 ``filename*=UTF-8''…`` with a plain
ASCII ``filename=`` beside it for old clients; times in names are local (``TIMEZONE``).
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

from flask import Response, current_app

from ..reports.timefmt import file_stamp

_UNSAFE = re.compile(r'[\x00-\x1f\x7f"\\/:*?<>|;]+')


def timezone() -> str | None:
    """The app's ``TIMEZONE`` (Asia/Shanghai when unset)."""
    return current_app.config.get("TIMEZONE")


def clean_name(name: str) -> str:
    """A file name without path separators, quotes, control or reserved characters (at most 120 chars)."""
    name = _UNSAFE.sub("_", name).strip(" ._") or "download"
    return name[:120]


def content_disposition(name: str, fallback: str) -> str:
    """The ``Content-Disposition`` value for a download called ``name`` (``fallback``: ASCII name)."""
    name, fallback = clean_name(name), clean_name(fallback)
    try:
        name.encode("ascii")
    except UnicodeEncodeError:
        ascii_name = clean_name(fallback.encode("ascii", "ignore").decode("ascii"))
        return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"
    return f'attachment; filename="{name}"'


def dated_name(parts: list[Any], ext: str, *, when: Any = None) -> str:
    """``part_part_20250501-1803.ext`` from the non-empty parts and the local time ``when`` (now)."""
    words = [str(p) for p in parts if p not in (None, "")]
    return f"{'_'.join([*words, file_stamp(when, timezone())])}.{ext}"


def attach(resp: Response, parts: list[Any], ext: str, *, fallback: list[Any] | None = None,
           when: Any = None) -> Response:
    """Mark ``resp`` as a file download named from ``parts`` (``fallback`` parts for the ASCII name)."""
    name = dated_name(parts, ext, when=when)
    resp.headers["Content-Disposition"] = content_disposition(
        name, dated_name(fallback or parts, ext, when=when))
    return resp
