"""The request's language choice; the text itself is in the one catalogue (:mod:`geo_app.i18n`)."""

from __future__ import annotations

from flask import request

from ..i18n import LANGS, catalogue, text, translator

__all__ = ["LANGS", "catalogue", "current_lang", "text", "translator"]


def current_lang() -> str:
    """Return the requested language: ``?lang=``, then the ``lang`` cookie, then zh."""
    lang = request.args.get("lang") or request.cookies.get("lang") or "zh"
    return lang if lang in LANGS else "zh"
