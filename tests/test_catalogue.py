"""The one catalogue of user text: every key in both languages, placeholders alike."""

from __future__ import annotations

import re

from geo_app.i18n import LANGS, catalogue, text


def test_every_key_has_both_languages() -> None:
    missing = [(k, lang) for k, entry in catalogue().items() for lang in LANGS if not entry.get(lang, "").strip()]
    assert not missing, missing


def test_placeholders_match_across_languages() -> None:
    bad = []
    for key, entry in catalogue().items():
        names = {lang: set(re.findall(r"\{(\w+)\}", entry[lang])) for lang in LANGS}
        if names["zh"] != names["en"]:
            bad.append((key, names))
    assert not bad, bad


def test_chinese_entries_are_chinese_and_english_entries_are_not() -> None:
    han = re.compile(r"[\u4e00-\u9fff]")
    assert han.search(text("app_title", "zh"))
    leaks = [k for k, e in catalogue().items() if han.search(re.sub(r"\{\w+\}", "", e["en"]))]
    assert not leaks, f"Chinese characters in English entries: {leaks}"


def test_text_fills_placeholders_and_falls_back_to_the_key() -> None:
    assert text("no-such-key", "zh") == "no-such-key"
    assert text("app_title", "xx") == text("app_title", "zh")
