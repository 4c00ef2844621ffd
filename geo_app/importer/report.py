"""Saving and formatting an import's validation report."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from .plan import ImportPlan, _stamp


def save_report(report: dict[str, Any], directory: Path) -> Path:
    """Save a report as JSON in ``directory`` (e.g. the instance folder); return its path."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{report['layer']}-{_stamp()}.json"
    path.write_text(json.dumps(report, ensure_ascii=False, indent=1, default=str), encoding="utf-8")
    return path


def format_report(report: dict[str, Any]) -> str:
    """Render the validation report as plain text."""
    r = report
    crs = r.get("crs", {})
    out = [f"Import report: layer {r['layer']} <- {r['source']} ({r.get('driver', '')})",
           f"  features: {r['features']}  with geometry after import: {r.get('with_geometry', '?')}",
           f"  CRS: declared {crs.get('declared')}, given {crs.get('given')}, used {crs.get('used')}"]
    if r.get("source_layer"):
        out.append(f"  layer read: {r['source_layer']} (of {len(r.get('source_layers') or []) or 1})")
    if r.get("encoding"):
        out.append(f"  encoding: {r['encoding']} ({r.get('encoding_reason')})")
    det = crs.get("detection") or {}
    if det:
        runner = f"; runner-up {det['runner_up']}" if det.get("runner_up") else ""
        out.append(f"  detection: best fit {det.get('best') or det.get('kind')}{runner} — {det.get('reason')}")
    for e in r.get("invalid", []):
        out.append(f"  invalid: {e['name']}: {e['reason']} -> make_valid {'fixed it' if e['fixed'] else 'FAILED'}")
    m = r.get("matching") or {}
    if m:
        unmatched = ", ".join(m.get("unmatched", [])) or "-"
        out.append(f"  names: {len(m.get('matched', []))} matched, unmatched: {unmatched}")
    ov = r.get("overlaps")
    if ov is not None:
        top = "; ".join(f"{p['a']}/{p['b']} {p['km2']} km²" for p in ov["pairs"][:5])
        out.append(f"  overlaps between townships: {ov['total_km2']} km²" + (f" ({top})" if top else ""))
    cov = r.get("coverage")
    if cov:
        out.append(f"  gaps vs county: {cov['gaps_km2']} km² ({cov['gaps_pct']}% of {cov['county_km2']} km²); "
                   f"share of county covered: {cov['share_covered']:.1%}; outside the county: {cov['outside_km2']} km²")
    out += [f"  warning: {w}" for w in r.get("warnings", [])]
    out += [f"  ERROR: {e}" for e in r.get("errors", [])]
    out.append("  result: " + ("OK" if not r.get("errors") else "BLOCKED (nothing written)"))
    return "\n".join(out)


def _jsonable(value: Any) -> Any:
    """Plain JSON values: numpy scalars to Python, NaN and Infinity to None, tuples to lists."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def validation_json(plan: ImportPlan) -> dict[str, Any]:
    """The validation report of an import as one JSON-serialisable object (``--dry-run --json``).

    Parameters
    ----------
    plan
        From :func:`~geo_app.importer.prepare_import`.

    Returns
    -------
    dict
        ``ok``, ``layer``, ``source``, ``driver``, ``source_layer``, ``source_layers``,
        ``features``, ``encoding``, ``encoding_reason``, ``crs_used``, ``crs`` (declared,
        given, used), ``detection`` (kind, best, runner_up, tie, reason, candidates with
        their fit figures), ``names`` (field, matched with codes, unmatched, missing),
        ``checks`` (invalid, empty, wrong_type, outside_area, outside_county, overlaps,
        coverage, with_geometry), ``warnings`` and ``errors``.
    """
    r = plan.report
    crs = r.get("crs") or {}
    m = r.get("matching") or {}
    checks = {k: r.get(k) for k in ("with_geometry", "invalid", "empty", "wrong_type", "outside_area",
                                    "outside_county", "overlaps", "coverage")}
    out = {"ok": plan.ok, "layer": r["layer"], "source": r["source"], "driver": r.get("driver"),
           "source_layer": r.get("source_layer"), "source_layers": r.get("source_layers") or [],
           "features": r["features"], "geometry_types": r.get("geometry_types"), "encoding": r.get("encoding"),
           "encoding_reason": r.get("encoding_reason"), "crs_used": plan.extra.get("crs_used"),
           "crs": {k: crs.get(k) for k in ("declared", "given", "used")}, "detection": crs.get("detection"),
           "names": {"field": m.get("name_field"), "code_field": m.get("code_field"),
                     "matched": m.get("matched", []), "unmatched": m.get("unmatched", []),
                     "new": m.get("new", []), "missing": m.get("missing", [])},
           "checks": checks, "warnings": r.get("warnings", []), "errors": r.get("errors", [])}
    result = _jsonable(out)
    json.dumps(result, allow_nan=False)  # serialisable, or this fails here rather than in the caller
    return result
