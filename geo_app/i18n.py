"""The one catalogue of user-facing text (``messages.toml``), Chinese first, without Flask.

Templates, JSON errors and the command line all read the same table, so a test can check that
every key has both languages. ``geo_app.web.i18n`` adds the request's language choice.
"""

from __future__ import annotations

import functools
import re
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
    return template.format(**values) if values or "{{" in template else template


def translator(lang: str):  # type: ignore[no-untyped-def]
    """Return ``t(key, **values)`` bound to ``lang`` (for templates).

    Values that are :class:`Message` objects are rendered in ``lang`` too.
    """

    def t(key: str, **values: object) -> str:
        return text(key, lang, **_rendered(values, lang))

    return t


def _rendered(values: dict[str, object], lang: str, *, plain: bool = False) -> dict[str, object]:
    """Render nested :class:`Message` values in ``lang``, and lists as one text.

    A list (the choices of a parameter, say) is joined with the language's separator, each item
    translated with :func:`translate_value`; ``plain`` joins them untranslated with ", " (the
    English text of a :class:`Message`, which keeps codes as they are).
    """
    out: dict[str, object] = {}
    for k, v in values.items():
        if isinstance(v, Message):
            out[k] = v.render(lang)
        elif isinstance(v, Value):
            out[k] = str(v) if plain else translate_value(str(v), lang)
        elif isinstance(v, list | tuple):
            out[k] = _joined(v, lang, plain=plain)
        else:
            out[k] = v
    return out


def _joined(items: list[object] | tuple[object, ...], lang: str, *, plain: bool) -> str:
    """A list as one text: messages (sentences) joined with semicolons, other values with commas."""
    sentences = any(isinstance(i, Message) for i in items)
    if plain:
        return ("; " if sentences else ", ").join(str(i) for i in items)
    parts = [i.render(lang) if isinstance(i, Message) else translate_value(str(i), lang) for i in items]
    if lang == "zh":
        return ("；" if sentences else "、").join(parts)
    return ("; " if sentences else ", ").join(parts)


class Message(str):
    """A catalogue message that is also its plain English text.

    ``Message("err_lon_range", field="lon", lon=200)`` is a ``str`` (the ``cli`` text of the
    entry if it has one, else its ``en`` text: what the command line and API clients without a
    language choice see) that remembers its key and values, so a page or a JSON answer can
    render it in the reader's language with :meth:`render`. Values may be messages themselves.
    """

    key: str
    params: dict[str, object]

    def __new__(cls, key: str, /, **params: object) -> Message:
        """Create the message ``key`` with its placeholder values."""
        entry = catalogue().get(key)
        plain = _rendered(params, "en", plain=True)
        if entry is None:
            value = key
        else:
            template = entry.get("cli") or entry["en"]
            value = template.format(**plain) if plain or "{{" in template else template
        obj = super().__new__(cls, value)
        obj.key = key
        obj.params = dict(params)
        return obj

    def __reduce__(self):  # type: ignore[no-untyped-def]
        """Pickle as key and values (the text is rebuilt from the catalogue)."""
        return _rebuild, (self.key, self.params)

    def render(self, lang: str) -> str:
        """Return the text in ``lang`` (the ``zh`` or ``en`` entry, never the ``cli`` one)."""
        return text(self.key, lang, **_rendered(self.params, lang))


class Value(str):
    """A data value inside a message (a reason from shapely, a quality flag).

    It is translated with :func:`translate_value` when the message is rendered in a language.
    """


def _rebuild(key: str, params: dict[str, object]) -> Message:
    return Message(key, **params)


def render(value: object, lang: str) -> str:
    """Return ``value`` in ``lang``: a :class:`Message` rendered, anything else as ``str``."""
    return value.render(lang) if isinstance(value, Message) else str(value)


def field_label(field: str | None, lang: str) -> str:
    """Return the reader's name of a request field (``field_<name>`` in the catalogue) or the field."""
    if not field:
        return ""
    base = re.sub(r"\[\d+\]|\..*$", "", field)
    entry = catalogue().get(f"field_{base}")
    return text(f"field_{base}", lang) if entry else field


@functools.lru_cache(maxsize=1)
def _value_patterns() -> tuple[dict[str, str], list[tuple[str, re.Pattern[str]]]]:
    """The ``val_*`` entries: plain forms by their exact text, and forms with placeholders as patterns."""
    exact: dict[str, str] = {}
    patterns: list[tuple[str, re.Pattern[str]]] = []
    for key, entry in catalogue().items():
        if key.startswith("val_"):
            extra = entry.get("match", [])
            for form in [entry[lang] for lang in LANGS] + ([extra] if isinstance(extra, str) else list(extra)):
                if re.search(r"\{\w+\}", form):
                    patterns.append((key, _pattern(form)))
                else:
                    exact.setdefault(form, key)
    return exact, patterns


def _pattern(template: str) -> re.Pattern[str]:
    """A template as an anchored regular expression whose placeholders capture any text."""
    parts = re.split(r"\{(\w+)\}", template)
    rx = "".join(re.escape(p) if i % 2 == 0 else f"(?P<{p}>.+)" for i, p in enumerate(parts))
    return re.compile(f"^{rx}$", re.S)


@functools.lru_cache(maxsize=8192)
def translate_value(value: str, lang: str, *, _depth: int = 0) -> str:
    """Translate a data value (``county_seat``, ``surveyed (point)``, a note) into ``lang``.

    The value is matched against the ``val_*`` entries of the catalogue in either language or
    in the wording of the data (an entry's optional ``match``, a string or a list); placeholders
    match any text, which is translated in turn (``beyond fail`` in a rule). A value that matches
    none is a name or free text and is returned unchanged.
    """
    exact, patterns = _value_patterns()
    if value in exact:
        return text(exact[value], lang)
    if _depth > 2 or not value:
        return value
    for key, pat in patterns:
        m = pat.match(value)
        if m:
            parts = {k: translate_value(v, lang, _depth=_depth + 1) for k, v in m.groupdict().items()}
            return text(key, lang, **parts)
    return value
