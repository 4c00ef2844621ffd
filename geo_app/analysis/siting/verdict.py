"""The verdict of a review, with its reasons and caveats.

``unsuitable`` on any failure or a site outside Meihekou, ``conditional`` on any conditional
finding, else ``suitable``; unavailable findings are caveats, never failures.
"""

from __future__ import annotations

from typing import Any

VERDICTS = ("suitable", "conditional", "unsuitable")
VERDICT_ZH = {"suitable": "适宜", "conditional": "有条件适宜", "unsuitable": "不适宜"}


def _reason(f: dict[str, Any]) -> dict[str, str]:
    return {"key": f["key"], "zh": f["note_zh"], "en": f["note_en"]}


def verdict(findings: list[dict[str, Any]], inside: bool | None
            ) -> tuple[str, list[dict[str, str]], list[dict[str, str]]]:
    """Judge the findings.

    Parameters
    ----------
    findings
        The report's findings, in order.
    inside
        Whether the site lies in Meihekou (None when the county boundary is not loaded).

    Returns
    -------
    tuple
        ``(verdict, reasons, caveats)``; reasons and caveats are lists of ``{key, zh, en}``.
    """
    reasons: list[dict[str, str]] = []
    if inside is False:
        reasons.append({"key": "township", "zh": "地块位于梅河口市域之外", "en": "outside Meihekou"})
    fails = [f for f in findings if f["status"] == "fail" and not (inside is False and f["key"] == "township")]
    conds = [f for f in findings if f["status"] == "conditional"]
    caveats = [_reason(f) for f in findings if f["status"] == "unavailable"]
    if inside is False or fails:
        reasons += [_reason(f) for f in fails]
        return "unsuitable", reasons, caveats
    if conds:
        return "conditional", reasons + [_reason(f) for f in conds], caveats
    reasons.append({"key": "all", "zh": "所有判定项均满足规则", "en": "every judged finding meets the rules"})
    return "suitable", reasons, caveats
