"""The import report of ``/data`` as plain text in the page language.

The importer's own :func:`geo_app.importer.format_report` stays the command line's (English,
naming flags); this one builds every line from the catalogue (``imp_*`` keys) and renders the
report's warnings and errors in the reader's language (catalogue messages, or data wording
translated through the ``val_*`` entries).
"""

from __future__ import annotations

from typing import Any

from ..i18n import render, text, translate_value


def _free(value: Any, lang: str) -> str:
    """A warning, error or reason: a catalogue message rendered, other text translated if known."""
    if value is None or value == "":
        return "—"
    out = render(value, lang)
    return translate_value(out, lang) if out == str(value) else out


def _crs_lines(r: dict[str, Any], lang: str) -> list[str]:
    crs = r.get("crs") or {}
    out = [text("imp_crs", lang, declared=crs.get("declared") or "—", given=crs.get("given") or "—",
                used=crs.get("used") or "—")]
    if r.get("source_layer"):
        out.append(text("imp_layer_read", lang, layer=r["source_layer"], n=len(r.get("source_layers") or []) or 1))
    if r.get("encoding"):
        out.append(text("imp_encoding", lang, encoding=r["encoding"], reason=_free(r.get("encoding_reason"), lang)))
    det = crs.get("detection") or {}
    if det:
        best = det.get("best") or translate_value(str(det.get("kind") or "—"), lang)
        runner = text("imp_runner_up", lang, crs=det["runner_up"]) if det.get("runner_up") else ""
        out.append(text("imp_detection", lang, best=best, runner=runner, reason=_free(det.get("reason"), lang)))
    return out


def _check_lines(r: dict[str, Any], lang: str) -> list[str]:
    out = []
    for e in r.get("invalid", []):
        out.append(text("imp_invalid", lang, name=e["name"], reason=_free(e["reason"], lang),
                        result=text("imp_fixed" if e["fixed"] else "imp_not_fixed", lang)))
    m = r.get("matching") or {}
    if m:
        sep = "、" if lang == "zh" else ", "
        out.append(text("imp_names", lang, n=len(m.get("matched", [])),
                        unmatched=sep.join(m.get("unmatched", [])) or "—"))
    ov = r.get("overlaps")
    if ov is not None:
        top = "; ".join(f"{p['a']}/{p['b']} {p['km2']} km²" for p in ov["pairs"][:5])
        out.append(text("imp_overlaps", lang, km2=ov["total_km2"], top=f" ({top})" if top else ""))
    cov = r.get("coverage")
    if cov:
        out.append(text("imp_coverage", lang, gaps=cov["gaps_km2"], pct=cov["gaps_pct"], county=cov["county_km2"],
                        covered=f"{cov['share_covered']:.1%}", outside=cov["outside_km2"]))
    return out


def format_report(report: dict[str, Any], lang: str, *, layer_title: str | None = None) -> str:
    """Render an import's validation report as plain text in ``lang``.

    Parameters
    ----------
    report
        The report of :func:`geo_app.importer.prepare_import` (warnings and errors may be
        :class:`geo_app.i18n.Message` objects).
    lang
        ``zh`` or ``en``.
    layer_title
        The layer's title in ``lang`` (its code when None).
    """
    r = report
    out = [text("imp_title", lang, layer=layer_title or r["layer"], source=r["source"], driver=r.get("driver") or "—"),
           text("imp_features", lang, n=r["features"], g=r.get("with_geometry", "?"))]
    out += _crs_lines(r, lang) + _check_lines(r, lang)
    out += [text("imp_warning", lang, text=_free(w, lang)) for w in r.get("warnings", [])]
    out += [text("imp_error", lang, text=_free(e, lang)) for e in r.get("errors", [])]
    out.append(text("imp_result_ok" if not r.get("errors") else "imp_result_blocked", lang))
    return "\n".join(out)
