"""The one catalogue of user-facing text (``messages.toml``), Chinese first, without Flask.

Templates, JSON errors and the command line all read the same table, so a test can check that
every key has both languages. ``geo_app.web.i18n`` adds the request's language choice.
"""

from __future__ import annotations

import functools
import tomllib
from pathlib import Path

LANGS = ("zh", "en")
CATALOGUE_PATH = Path(__file__).with_name("messages.toml")


@functools.lru_cache(maxsize=1)
def catalogue() -> dict[str, dict[str, str]]:
    """Return ``{key: {"zh": ..., "en": ...}}`` from ``messages.toml`` (read once per process)."""
    with open(CATALOGUE_PATH, "rb") as fh:
        return tomllib.load(fh)


def text(key: str, lang: str, /, **values: object) -> str:
    """Return the text of ``key`` in ``lang``, with ``{name}`` placeholders filled from ``values``.

    An unknown key is returned as it is, so a missing entry shows up on the page (and in the
    catalogue test) instead of failing the request.
    """
    entry = catalogue().get(key)
    if entry is None:
        return key
    template = entry.get(lang if lang in LANGS else "zh") or entry["zh"]
    return template.format(**values) if values else template


def translator(lang: str):  # type: ignore[no-untyped-def]
    """Return ``t(key, **values)`` bound to ``lang`` (for templates)."""

    def t(key: str, **values: object) -> str:
        return text(key, lang, **values)

    return t
