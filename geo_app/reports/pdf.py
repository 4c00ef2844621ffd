"""The siting review as an A4 PDF: header, verdict, map, findings table, caveats, versions on every page.

Laid out with reportlab's platypus. The CJK font found by :mod:`.fonts` is registered once per
process (``TTFont`` with the collection's ``subfontIndex``) and embedded as subsets, so the PDF
shows and copies its Chinese text on a machine without that font. Nothing here imports Flask.
"""

from __future__ import annotations

import functools
import io
import threading
from collections.abc import Mapping
from typing import Any
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import Image, KeepTogether, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from ..i18n import text, translate_value
from .fonts import CJKFont, cjk_font
from .review_text import finding_value
from .timefmt import DEFAULT_TIMEZONE, display_time

VERDICT_COLORS = {"suitable": "#d5f5e3", "conditional": "#fdebd0", "unsuitable": "#fadbd8", "incomplete": "#e5e8e8"}
STATUS_COLORS = {"ok": "#1e8449", "conditional": "#b9770e", "fail": "#c0392b", "info": "#2e4053",
                 "unavailable": "#7f8c8d"}
MARGIN = 15 * mm
_LOCK = threading.Lock()


@functools.lru_cache(maxsize=4)
def _font_name(font: CJKFont) -> str:
    """Register ``font`` with reportlab once per process; return its name."""
    name = f"cjk-{font.path.stem}-{font.index}"
    with _LOCK:
        if name not in pdfmetrics.getRegisteredFontNames():
            pdfmetrics.registerFont(TTFont(name, str(font.path), subfontIndex=font.index))
    return name


def _styles(font: str, lang: str) -> dict[str, ParagraphStyle]:
    wrap = "CJK" if lang == "zh" else None
    base = ParagraphStyle("base", fontName=font, bulletFontName=font, fontSize=9, leading=12.5, wordWrap=wrap)
    return {
        "title": ParagraphStyle("title", parent=base, fontSize=16, leading=21, spaceAfter=3),
        "meta": ParagraphStyle("meta", parent=base, fontSize=8, leading=11, textColor=colors.HexColor("#555555")),
        "verdict": ParagraphStyle("verdict", parent=base, fontSize=13, leading=18),
        "body": base,
        "cell": ParagraphStyle("cell", parent=base, fontSize=8, leading=10.5),
        "head": ParagraphStyle("head", parent=base, fontSize=8, leading=10.5, textColor=colors.white),
        "small": ParagraphStyle("small", parent=base, fontSize=7, leading=9, textColor=colors.HexColor("#666666")),
        "h2": ParagraphStyle("h2", parent=base, fontSize=11, leading=15, spaceBefore=6, spaceAfter=3),
    }


def _p(value: Any, style: ParagraphStyle) -> Paragraph:
    return Paragraph(escape(str(value)), style)


def _verdict_box(report: Mapping[str, Any], st: dict[str, ParagraphStyle], lang: str, width: float) -> Table:
    verdict = report.get("verdict", "")
    label = report.get("verdict_zh") if lang == "zh" else verdict
    rows = [[_p(f"{text('common_verdict', lang)}：{label}" if lang == "zh"
                else f"{text('common_verdict', lang)}: {label}", st["verdict"])]]
    for r in report.get("reasons") or []:
        rows.append([_p(f"• {r.get(lang) or r.get('zh', '')}", st["body"])])
    box = Table(rows, colWidths=[width])
    fill = colors.HexColor(VERDICT_COLORS.get(verdict, "#eeeeee"))
    box.setStyle(TableStyle([("FONTNAME", (0, 0), (-1, -1), st["body"].fontName),
                             ("BACKGROUND", (0, 0), (-1, -1), fill),
                             ("BOX", (0, 0), (-1, -1), 0.8, colors.HexColor("#888888")),
                             ("LEFTPADDING", (0, 0), (-1, -1), 8), ("TOPPADDING", (0, 0), (-1, 0), 6),
                             ("BOTTOMPADDING", (0, -1), (-1, -1), 6)]))
    return box


def _findings_table(report: Mapping[str, Any], st: dict[str, ParagraphStyle], lang: str, width: float) -> Table:
    """Finding | value | status | note (with the rule in small grey under it)."""
    heads = [text(k, lang) for k in ("report_finding", "report_value", "report_status", "report_note")]
    rows: list[list[Any]] = [[_p(h, st["head"]) for h in heads]]
    style = [("FONTNAME", (0, 0), (-1, -1), st["body"].fontName),
             ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#34495e")), ("VALIGN", (0, 0), (-1, -1), "TOP"),
             ("GRID", (0, 0), (-1, -1), 0.4, colors.HexColor("#bbbbbb"))]
    for i, f in enumerate(report.get("findings") or [], start=1):
        status = str(f.get("status") or "")
        colour = STATUS_COLORS.get(status, "#333333")
        note = escape(str(f.get("note_zh") if lang == "zh" else f.get("note_en")) or "")
        rule = escape(translate_value(str(f.get("rule") or ""), lang))
        rows.append([_p(f.get("label_zh") if lang == "zh" else f.get("label_en"), st["cell"]),
                     _p(finding_value(f, lang), st["cell"]),
                     Paragraph(f'<font color="{colour}">{escape(translate_value(status, lang))}</font>', st["cell"]),
                     Paragraph(f'{note}<br/><font size="6.5" color="#777777">{rule}</font>', st["cell"])])
        if i % 2 == 0:
            style.append(("BACKGROUND", (0, i), (-1, i), colors.HexColor("#f4f6f7")))
    table = Table(rows, colWidths=[width * 0.2, width * 0.15, width * 0.13, width * 0.52], repeatRows=1)
    table.setStyle(TableStyle(style))
    return table


def versions(row: Mapping[str, Any], lang: str) -> str:
    """``模型数据版本 … · 规则版本 v…`` of a stored review."""
    report = row.get("report") or {}
    return text("report_versions", lang, data=row.get("data_version") or "—", rules=report.get("rules_version", "—"))


def _header(row: Mapping[str, Any], st: dict[str, ParagraphStyle], lang: str, tz: str | None) -> list[Any]:
    report = row.get("report") or {}
    project = report.get("project") or row.get("project") or text("report_unnamed_project", lang)
    sep = "：" if lang == "zh" else ": "
    sector = translate_value(str(report.get("sector")), lang) if report.get("sector") else "—"
    meta = " · ".join([
        f"{text('report_id', lang)} {row.get('id') or '—'}",
        f"{text('report_reviewed_at', lang)} {display_time(row.get('created_at'), tz)}",
        f"{text('common_sector', lang)} {sector}", f"{text('common_author', lang)} {row.get('author') or '—'}"])
    return [_p(f"{text('report_siting_review', lang)}{sep}{project}", st["title"]), _p(meta, st["meta"]),
            _p(versions(row, lang), st["meta"]), Spacer(1, 4 * mm)]


def _footer(canvas: Any, doc: Any, *, font: str, left: str, right: str, lang: str) -> None:
    canvas.saveState()
    canvas.setFont(font, 7)
    canvas.setFillColor(colors.HexColor("#666666"))
    canvas.drawString(MARGIN, 9 * mm, left)
    canvas.drawRightString(A4[0] - MARGIN, 9 * mm, f"{right} · {text('report_page', lang, n=doc.page)}")
    canvas.restoreState()


def review_pdf(row: Mapping[str, Any], *, map_png: bytes | None = None, lang: str = "zh", tz: str | None = None,
               font: CJKFont | None = None, generated_at: Any = None, attributions: list[str] | None = None) -> bytes:
    """Lay out a stored review as an A4 PDF and return its bytes.

    Parameters
    ----------
    row
        A stored review (``id``, ``created_at``, ``report``, ``data_version``, ``author``), or an
        unsaved one (``report`` only).
    map_png
        The static site map (:func:`geo_app.reports.review_map.review_map_png`); none drawn when None.
    lang
        ``zh`` or ``en``.
    tz
        IANA zone for the times shown (default Asia/Shanghai).
    font
        The CJK font to embed; found with fontconfig when None.
    generated_at
        The time printed in the footer (now when None).
    attributions
        Data attributions printed under the map.
    """
    name = _font_name(font or cjk_font())
    st = _styles(name, lang)
    width = A4[0] - 2 * MARGIN
    report = row.get("report") or {}
    story: list[Any] = [*_header(row, st, lang, tz), _verdict_box(report, st, lang, width), Spacer(1, 4 * mm)]
    if map_png:
        story.append(KeepTogether([Image(io.BytesIO(map_png), width=width, height=width * 0.8),
                                   _p(text("report_map_caption", lang), st["small"]),
                                   _p(" · ".join(attributions or []), st["small"])]))
    story += [Spacer(1, 3 * mm), _findings_table(report, st, lang, width)]
    if report.get("caveats"):
        story.append(_p(text("report_caveats_data_not_available", lang), st["h2"]))
        story += [_p(f"• {c.get(lang) or c.get('zh', '')}", st["body"]) for c in report["caveats"]]
    stamp = text("report_generated_at", lang, time=display_time(generated_at or _now(), tz),
                 zone=tz or DEFAULT_TIMEZONE)

    def on_page(canvas: Any, doc: Any) -> None:
        _footer(canvas, doc, font=name, left=versions(row, lang), right=stamp, lang=lang)

    buf = io.BytesIO()
    title = f"{text('report_siting_review', lang)} {report.get('project') or row.get('id') or ''}".strip()
    doc = SimpleDocTemplate(buf, pagesize=A4, leftMargin=MARGIN, rightMargin=MARGIN, topMargin=MARGIN,
                            bottomMargin=MARGIN + 3 * mm, title=title, author="geo-app", lang=_pdf_lang(lang),
                            initialFontName=name)  # no unembedded base-14 font (Helvetica) is referenced
    doc.build(story, onFirstPage=on_page, onLaterPages=on_page)
    return buf.getvalue()


def _pdf_lang(lang: str) -> str:
    return "zh-CN" if lang == "zh" else "en"


def _now() -> Any:
    from datetime import UTC, datetime

    return datetime.now(UTC)
