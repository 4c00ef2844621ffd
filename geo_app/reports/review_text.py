"""A siting review as text for a terminal: verdict and reasons, then the findings aligned by display width."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..i18n import text, translate_value
from .tables import text_table
from .timefmt import display_time


def finding_value(f: Mapping[str, Any], lang: str) -> str:
    """A finding's value as the HTML report and the PDF print it (``—``, 是/否, one decimal, translated)."""
    value = f.get("value")
    if value is None:
        return "—"
    if value is True:
        out = text("common_yes", lang)
    elif value is False:
        out = text("report_no", lang)
    elif isinstance(value, int | float):
        out = f"{value:.1f}"
    else:
        out = translate_value(str(value), lang)
    unit = f.get("unit")
    return f"{out} {translate_value(str(unit), lang)}" if unit else out


def review_text(row: Mapping[str, Any], *, lang: str = "zh", tz: str | None = None) -> str:
    """The review as plain text (stored: ``row`` has ``id``, ``created_at``…; unsaved: the report itself).

    Parameters
    ----------
    row
        A stored review, or a report (with ``findings`` and ``verdict``) that was not saved.
    lang
        ``zh`` or ``en``.
    tz
        IANA zone of the time shown.
    """
    report = row.get("report") or row
    sep = "：" if lang == "zh" else ": "
    project = report.get("project") or text("report_unnamed_project", lang)
    lines = [f"{text('report_siting_review', lang)}{sep}{project}"]
    if row.get("id"):
        lines.append(f"{text('report_id', lang)} {row['id']} · {text('report_reviewed_at', lang)} "
                     f"{display_time(row.get('created_at'), tz)}")
    verdict = report.get("verdict_zh") if lang == "zh" else report.get("verdict")
    code = report.get("verdict")
    lines += ["", f"{text('common_verdict', lang)}{sep}{verdict}" + (f" ({code})" if code != verdict else "")]
    lines += [f"  • {r.get(lang) or r.get('zh', '')}" for r in report.get("reasons") or []]
    rows = [[str(f.get("label_zh") if lang == "zh" else f.get("label_en")), finding_value(f, lang),
             translate_value(str(f.get("status") or ""), lang), str(f.get(f"note_{lang}") or "")]
            for f in report.get("findings") or []]
    heads = [text(k, lang) for k in ("report_finding", "report_value", "report_status", "report_note")]
    lines += ["", text_table(rows, heads)]
    if report.get("caveats"):
        lines += ["", text("report_caveats_data_not_available", lang)]
        lines += [f"  • {c.get(lang) or c.get('zh', '')}" for c in report["caveats"]]
    data = row.get("data_version") or "—"
    lines += ["", text("report_versions", lang, data=data, rules=report.get("rules_version", "—"))]
    return "\n".join(lines)
