"""The verdict of a review, with its reasons, caveats and the data it still needs.

``unsuitable`` on any failure or a site outside Meihekou, even when other data is missing (a site
that already fails a rule on the data available needs no more data to be rejected). Otherwise
``incomplete`` when a deciding finding (rules ``[verdict] deciding``) is unavailable: the verdict
names the missing data, the page that supplies it and the command. Otherwise ``conditional`` on
any conditional finding, else ``suitable``. Unavailable findings are always listed as caveats.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ...i18n import text

VERDICTS = ("suitable", "conditional", "unsuitable", "incomplete")
VERDICT_ZH = {"suitable": "适宜", "conditional": "有条件适宜", "unsuitable": "不适宜", "incomplete": "待补充数据"}
#: Catalogue key of the name of each page that can supply data.
PAGE_NAMES = {"/data": "nav_data"}


def _reason(f: dict[str, Any]) -> dict[str, str]:
    return {"key": f["key"], "zh": f["note_zh"], "en": f["note_en"]}


def missing_data(findings: list[dict[str, Any]], rules: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The data that deciding findings lack, one entry per data item, in the findings' order.

    A deciding finding is unavailable and judged for this site (``detail.judged`` is not False). The
    item is the finding's ``detail.missing``, else ``[verdict.needs]`` of the rules.

    Returns
    -------
    list of dict
        ``{key, zh, en, page, command, findings}`` from ``[data_sources.<key>]``; ``page`` is the
        browser page ("" when the administrator sets it up), ``command`` the command line.
    """
    conf = rules["verdict"]
    out: dict[str, dict[str, Any]] = {}
    for f in findings:
        if f["status"] != "unavailable" or f["key"] not in conf["deciding"]:
            continue
        if f.get("detail", {}).get("judged") is False:
            continue
        item = f.get("detail", {}).get("missing") or conf["needs"][f["key"]]
        src = rules["data_sources"][item]
        entry = out.setdefault(item, {"key": item, "zh": src["zh"], "en": src["en"], "page": src.get("page", ""),
                                      "command": src.get("command", ""), "findings": []})
        entry["findings"].append(f["key"])
    return list(out.values())


def _missing_reason(missing: list[dict[str, Any]]) -> dict[str, str]:
    """The reason of an incomplete verdict: each missing item and the page that supplies it."""
    out = {"key": "missing_data"}
    for lang in ("zh", "en"):
        items = []
        for m in missing:
            page = PAGE_NAMES.get(m["page"])
            items.append(text("verdict_supply_page", lang, data=m[lang], page=text(page, lang)) if page
                         else text("verdict_supply_admin", lang, data=m[lang]))
        out[lang] = text("verdict_missing_data", lang, items=("；" if lang == "zh" else "; ").join(items))
    return out


def verdict(findings: list[dict[str, Any]], inside: bool | None, rules: Mapping[str, Any]
            ) -> tuple[str, list[dict[str, str]], list[dict[str, str]], list[dict[str, Any]]]:
    """Judge the findings.

    Parameters
    ----------
    findings
        The report's findings, in order.
    inside
        Whether the site lies in Meihekou (None when the county boundary is not loaded).
    rules
        The review rules (``[verdict]``, ``[data_sources]``).

    Returns
    -------
    tuple
        ``(verdict, reasons, caveats, missing)``; reasons and caveats are lists of ``{key, zh, en}``,
        ``missing`` is :func:`missing_data` (empty unless the verdict is ``incomplete``).
    """
    reasons: list[dict[str, str]] = []
    if inside is False:
        reasons.append({"key": "township", "zh": "地块位于梅河口市域之外", "en": "outside Meihekou"})
    fails = [f for f in findings if f["status"] == "fail" and not (inside is False and f["key"] == "township")]
    conds = [_reason(f) for f in findings if f["status"] == "conditional"]
    caveats = [_reason(f) for f in findings if f["status"] == "unavailable"]
    if inside is False or fails:
        reasons += [_reason(f) for f in fails]
        return "unsuitable", reasons, caveats, []
    missing = missing_data(findings, rules)
    if missing:
        return "incomplete", [_missing_reason(missing), *conds], caveats, missing
    if conds:
        return "conditional", reasons + conds, caveats, []
    reasons.append({"key": "all", "zh": "所有判定项均满足规则", "en": "every judged finding meets the rules"})
    return "suitable", reasons, caveats, []
