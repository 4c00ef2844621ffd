"""Saving and formatting an import's validation report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .plan import _stamp


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
    det = crs.get("detection") or {}
    if det:
        out.append(f"  detection: best fit {det.get('best') or det.get('kind')} — {det.get('reason')}")
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
