"""The request's language choice, the page context every template gets, and the error page.

The text itself is in the one catalogue (:mod:`geo_app.i18n`). Pages are in Chinese unless the
reader chose English; the choice (``?lang=`` on any page) is kept in the ``lang`` cookie, so
links never carry it.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlencode

from flask import Response, render_template, request
from markupsafe import Markup

from ..i18n import LANGS, Message, catalogue, field_label, render, text, translate_value, translator

__all__ = ["LANGS", "Message", "catalogue", "chosen_lang", "current_lang", "error_page", "page_context",
           "remember_lang", "text", "translator"]

COOKIE_MAX_AGE_S = 365 * 86400
_CJK = re.compile(r"[\u3400-\u9fff]")


def _accept_language() -> str | None:
    """``zh`` or ``en`` when the ``Accept-Language`` header prefers one of them, else None."""
    header = request.headers.get("Accept-Language")
    if not header:
        return None
    best = request.accept_languages.best_match(["zh", "zh-CN", "en"])
    return None if best is None else best[:2]


def chosen_lang() -> str | None:
    """The language the request chose: ``?lang=``, the ``lang`` cookie, ``Accept-Language``; else None.

    JSON answers use it: API clients that chose nothing keep English messages.
    """
    for lang in (request.args.get("lang"), request.cookies.get("lang"), _accept_language()):
        if lang in LANGS:
            return lang
    return None


def current_lang() -> str:
    """Return the page language: ``?lang=``, then the ``lang`` cookie, then zh."""
    lang = request.args.get("lang") or request.cookies.get("lang") or "zh"
    return lang if lang in LANGS else "zh"


def remember_lang(resp: Response) -> Response:
    """``after_request`` hook: a page asked for with ``?lang=`` keeps that language in a cookie."""
    lang = request.args.get("lang")
    if lang in LANGS and not request.path.startswith(("/api/", "/static/", "/vendor/")):
        resp.set_cookie("lang", lang, samesite="Lax", httponly=True, max_age=COOKIE_MAX_AGE_S)
    return resp


def lang_links() -> dict[str, str]:
    """The URL of this page in each language (the query kept, ``lang`` replaced)."""
    args = [(k, v) for k, v in request.args.items(multi=True) if k != "lang"]
    return {lang: request.path + "?" + urlencode([*args, ("lang", lang)]) for lang in LANGS}


def error_text(error: Any, lang: str) -> str:
    """The message of a domain error (or any message) in ``lang``."""
    if hasattr(error, "localized"):
        return error.localized(lang)
    return render(getattr(error, "message", error), lang)


def page_context(lang: str) -> dict[str, Any]:
    """What every page template gets: the language, ``t``, the path, the language links and helpers.

    ``err(error)`` renders an error's message and ``field(name)`` a request field's name in the
    page language; ``val(value)`` translates a data value such as ``county_seat``, and
    ``opt(key, fallback)`` gives a key's text when the catalogue has it (codes such as audit actions);
    ``js_text(prefix)`` hands a page script its texts, and ``name(value)`` marks a proper name.
    """
    return {"lang": lang, "t": translator(lang), "path": request.path, "lang_links": lang_links(),
            "err": lambda error: error_text(error, lang), "field": lambda name: field_label(name, lang),
            "val": lambda value: translate_value(str(value), lang) if value is not None else "",
            "opt": lambda key, fallback="": text(key, lang) if key in catalogue() else fallback,
            "js_text": lambda prefix: js_text(prefix, lang), "name": name_span}


def name_span(value: object) -> Markup:
    """A proper name, marked as one: ``<span class="name" lang="zh|en">`` (escaped)."""
    value = "" if value is None else str(value)
    script = "zh" if _CJK.search(value) else "en"
    return Markup('<span class="name" lang="{}">{}</span>').format(script, value)


def js_text(prefix: str, lang: str) -> dict[str, str]:
    """The catalogue entries whose key starts with ``prefix``, in ``lang``, for a page script.

    Keys lose the prefix: ``js_iso_computing`` becomes ``computing``. Scripts fill ``{name}``
    placeholders themselves.
    """
    return {k[len(prefix):]: v.get(lang) or v["zh"] for k, v in catalogue().items() if k.startswith(prefix)}


def error_page(status: int, error: Any, lang: str) -> str:
    """Render the error page of a domain or HTTP error in ``lang``."""
    return render_template("error.html", error=error, status=status, **page_context(lang))
