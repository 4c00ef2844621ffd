"""The modelling assumptions behind a travel graph: model.toml leaves and service rows, as a list.

Nothing here imports Flask.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any


def _leaves(node: Mapping[str, Any], path: tuple[str, ...]) -> Iterator[dict[str, Any]]:
    """Yield the ``{value, ...}`` entries of model.toml with their dotted key."""
    for key, item in node.items():
        if isinstance(item, Mapping) and "value" in item:
            yield {"key": ".".join((*path, key)), "label_zh": item.get("label_zh", key),
                   "label_en": item.get("label_en", key), "value": item["value"], "unit": item.get("unit", ""),
                   "source": item.get("source", ""), "assumption": bool(item.get("assumption", True))}
        elif isinstance(item, Mapping):
            yield from _leaves(item, (*path, key))


def list_assumptions(params: Mapping[str, Any], road_source: str,
                     services: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Every speed, circuity, wait, transfer and data-quality flag in use.

    Parameters
    ----------
    params
        Parsed ``model.toml``.
    road_source
        ``"trunk"`` or ``"osm"``: drops the entries of the road source not in use.
    services
        Rows of ``services.csv``; their speeds and headways are listed too.

    Returns
    -------
    list of dict
        Keys ``key``, ``label_zh``, ``label_en``, ``value``, ``unit``, ``source``, ``assumption``.
    """
    out = list(_leaves(params, ()))
    if road_source == "osm":
        out = [a for a in out if not a["key"].startswith(("road.", "data_quality.trunk"))]
    else:
        out = [a for a in out if not a["key"].startswith("osm.")]
    for row in services:
        for col, unit, zh, en in (("speed_kmh", "km/h", "旅行速度", "speed"),
                                  ("headway_min", "min", "发车间隔", "headway")):
            if row.get(col):
                out.append({"key": f"services.{row['line']}.{col}", "label_zh": f"{row['line']}{zh}",
                            "label_en": f"{row['line']} {en}", "value": float(row[col]), "unit": unit,
                            "source": row.get("source", ""),
                            "assumption": str(row.get("assumption", "")).lower() == "true"})
    return out
