"""Helpers shared by the finding modules: the finding record, layer access, metric geometry, JSON safety."""

from __future__ import annotations

import math
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

import numpy as np

from ...crs import METRIC_CRS
from .rules import STATUSES


def json_safe(obj: Any) -> Any:
    """Return ``obj`` with numpy scalars made native and NaN/inf replaced by None."""
    if isinstance(obj, Mapping):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple | np.ndarray):
        return [json_safe(v) for v in obj]
    if isinstance(obj, bool | np.bool_):
        return bool(obj)
    if isinstance(obj, int | np.integer):
        return int(obj)
    if isinstance(obj, float | np.floating):
        v = float(obj)
        return v if math.isfinite(v) else None
    return obj


def finding(key: str, label_zh: str, label_en: str, value: Any, unit: str | None, rule: str,
            status: str, note_zh: str, note_en: str, detail: Mapping[str, Any] | None = None
            ) -> dict[str, Any]:
    """Return one finding of the report: ``{key, label_zh, label_en, value, unit, rule, status, notes, detail}``."""
    assert status in STATUSES, status
    return {"key": key, "label_zh": label_zh, "label_en": label_en, "value": value, "unit": unit,
            "rule": rule, "status": status, "note_zh": note_zh, "note_en": note_en,
            "detail": dict(detail or {})}


def layer(layers: Any, name: str) -> Any:
    """Return a layer GeoDataFrame from a mapping or a LayerRegistry; None when absent."""
    try:
        if isinstance(layers, Mapping):
            return layers.get(name)
        return layers.frame(name)
    except Exception:  # unknown layer or unreadable file: the finding says unavailable
        return None


def with_geometry(gdf: Any) -> Any:
    """Return the rows of ``gdf`` that have a geometry; None when there are none."""
    if gdf is None or len(gdf) == 0:
        return None
    mask = gdf.geometry.notna() & ~gdf.geometry.is_empty
    out = gdf[mask]
    return out if len(out) else None


def metric(gdf: Any) -> Any:
    """Return ``gdf`` in the metric CRS (EPSG:32651)."""
    return gdf.to_crs(METRIC_CRS)


@lru_cache(maxsize=1)
def _transformer():  # type: ignore[no-untyped-def]
    from pyproj import Transformer

    return Transformer.from_crs("EPSG:4326", METRIC_CRS, always_xy=True)


def to_metric(geom: Any) -> Any:
    """Return a WGS84 shapely geometry in the metric CRS."""
    import shapely

    return shapely.transform(geom, _transformer().transform, interleaved=False)


def minutes(seconds: float | None) -> float | None:
    """Return seconds as minutes rounded to 0.1; None when None or not finite (unreachable)."""
    if seconds is None or not math.isfinite(seconds):
        return None
    return round(float(seconds) / 60.0, 1)


def name(row: Mapping[str, Any], *fields: str) -> str | None:
    """Return the first non-blank string among ``fields`` of ``row``, stripped; None when none."""
    for f in fields:
        v = row.get(f)
        if isinstance(v, str) and v.strip():
            return v.strip()
    return None


def band(value: float, ok_max: float, cond_max: float, beyond: str = "fail") -> str:
    """Return ``ok`` up to ``ok_max``, ``conditional`` up to ``cond_max``, else ``beyond``."""
    if value <= ok_max:
        return "ok"
    if value <= cond_max:
        return "conditional"
    return beyond
