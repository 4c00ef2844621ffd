"""The import plan: what an import or a drawing would write, and its validation report (nothing is written)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import shapely

from .. import crs as crs_mod
from ..errors import NotFound, ValidationError
from ..i18n import Message, Value
from .checks import _metric, check_geometries, coverage, overlaps
from .datum import resolve_crs, to_wgs84
from .matching import NAME_FIELDS, _clean, _pick_field, match_towns, name_key
from .sources import Source

#: Geometry quality given to imported or drawn features.
#: The quality of an imported layer: the bureau's own data (导入数据), not a survey we can vouch for.
IMPORTED = "imported (bureau data)"
DRAWN = "drawn on /data"
#: Layers whose features are a fixed list (the plan's parks and hubs): imports and drawings
#: fill in the geometry of the listed feature with the same name instead of adding one.
LISTED = ("parks", "logistics")


@dataclass
class ImportPlan:
    """What an import would write, and the validation report."""

    layer: str
    frame: gpd.GeoDataFrame
    report: dict[str, Any]
    action: str = "import"
    note: str = ""
    source: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when nothing blocks the write."""
        return not self.report["errors"]


def importable(registry: Any) -> list[str]:
    """Names of the layers whose data file is a GeoJSON in the data folder."""
    out = []
    for spec in registry:
        if spec.use_in_place or spec.geometry == "none":
            continue
        path = registry.path(spec.name)
        if path.suffix == ".geojson" and path.parent == Path(registry.data_dir):
            out.append(spec.name)
    return out


def _spec(registry: Any, layer: str) -> Any:
    if layer not in importable(registry):
        raise NotFound(key="imp_not_importable", params={"layer": layer[:60], "layers": list(importable(registry))},
                       field="layer")
    return registry.spec(layer)


def read_layer_file(path: Path) -> gpd.GeoDataFrame:
    """Read a layer's current GeoJSON (not the registry's cache), in WGS84."""
    gdf = gpd.read_file(path, engine="pyogrio")
    return gdf.set_crs(crs_mod.WGS84, allow_override=True)


def prepare_import(src: Source, layer: str, registry: Any, *, crs: str | None = None,
                   name_field: str | None = None, code_field: str | None = None, force: bool = False
                   ) -> ImportPlan:
    """Convert, match and validate an imported file; build the layer it would write.

    Parameters
    ----------
    src
        From :func:`read_source`.
    layer
        Target layer (see :func:`importable`).
    registry
        A :class:`~geo_app.layers.LayerRegistry` (its ``towns``, ``boundary`` and the target layer are read).
    crs
        ``--crs`` (any form :func:`geo_app.crs.parse_crs` accepts) or None.
    name_field, code_field
        Columns holding the names / official codes.
    force
        Import despite unmatched township names or geometries that ``make_valid`` repaired.

    Returns
    -------
    ImportPlan
        ``plan.ok`` is False when the report lists blocking errors.
    """
    spec = _spec(registry, layer)
    boundary = registry.frame("boundary")
    used, crs_info = resolve_crs(src, crs_mod.parse_crs(crs), boundary)
    gdf = to_wgs84(src.frame, used)
    current = read_layer_file(registry.path(layer))
    nf = _pick_field(gdf, name_field, NAME_FIELDS, "name")
    labels = [str(v) for v in gdf[nf]] if nf else [f"#{i + 1}" for i in range(len(gdf))]
    geoms, found = check_geometries(gdf, labels, spec.geometry)
    gdf = gdf.set_geometry(gpd.GeoSeries(geoms, crs=crs_mod.WGS84))
    report = _base_report(layer, src, crs_info, found)
    if layer == "towns":
        frame = _build_towns(gdf, current, report, name_field=name_field, code_field=code_field, source=src.name)
    elif layer in LISTED:
        frame = _build_listed(gdf, current, report, nf, source=src.name)
    else:
        frame = _build_plain(gdf, nf, source=src.name)
    _measure(frame, boundary, spec.geometry, layer, report)
    _blocking(report, force=force)
    return ImportPlan(layer=layer, frame=frame, report=report, source=src.name,
                      extra={"crs_used": used})


def _base_report(layer: str, src: Source, crs_info: dict[str, Any], found: dict[str, Any]) -> dict[str, Any]:
    types = src.frame.geometry.geom_type.fillna("None").value_counts().to_dict()
    return {"layer": layer, "source": src.name, "driver": src.driver, "source_layer": src.source_layer,
            "source_layers": src.layers, "features": len(src.frame),
            "geometry_types": {str(k): int(v) for k, v in types.items()}, "encoding": src.encoding,
            "encoding_reason": src.encoding_reason, "crs": crs_info,
            **found, "errors": [], "warnings": list(src.warnings) + list(crs_info["warnings"])}


def _town_props(ref: dict[str, Any], source: str, stamp: str) -> dict[str, Any]:
    props = {k: _clean(v) for k, v in ref.items() if k != "geometry"}
    props.update({"geometry_quality": IMPORTED,
                  "boundary_note_zh": f"边界由 geo-app data import 于 {stamp} 从 {source} 导入",
                  "boundary_note_en": f"boundary imported from {source} by geo-app data import on {stamp}"})
    return props


def _build_towns(gdf: gpd.GeoDataFrame, current: gpd.GeoDataFrame, report: dict[str, Any], *,
                 name_field: str | None, code_field: str | None, source: str) -> gpd.GeoDataFrame:
    """The new towns layer: every official unit, with the imported geometry where matched."""
    pos, summary = match_towns(gdf, current, name_field=name_field, code_field=code_field)
    report["matching"] = summary
    stamp = _now().strftime("%Y-%m-%d")
    geoms: dict[int, list[Any]] = {}
    for p, g in zip(pos, gdf.geometry, strict=True):
        if p is not None and g is not None:
            geoms.setdefault(p, []).append(g)
    rows, out_geoms = [], []
    for i, ref in enumerate(current.to_dict("records")):
        if i in geoms:
            rows.append(_town_props(ref, source, stamp))
            out_geoms.append(shapely.union_all(geoms[i]) if len(geoms[i]) > 1 else geoms[i][0])
        else:
            rows.append({k: _clean(v) for k, v in ref.items() if k != "geometry"})
            out_geoms.append(ref["geometry"])
    nf = summary["name_field"]
    for p, (_, row) in zip(pos, gdf.iterrows(), strict=True):
        if p is None:  # kept only with --force; flagged
            name = str(row[nf]) if nf else None
            rows.append({"code": None, "name_zh": name, "name_en": None, "kind": None, "in_plan": False,
                         "geometry_quality": IMPORTED + ", name not in the official list"})
            out_geoms.append(row.geometry)
    if summary["duplicates"]:
        report["warnings"].append(Message("imp_duplicates", names=list(summary["duplicates"])))
    return gpd.GeoDataFrame(rows, geometry=gpd.GeoSeries(out_geoms, crs=crs_mod.WGS84))


def _build_listed(gdf: gpd.GeoDataFrame, current: gpd.GeoDataFrame, report: dict[str, Any], nf: str | None, *,
                  source: str) -> gpd.GeoDataFrame:
    """Fill in the geometry of listed features (parks, hubs) by name; add the others."""
    if nf is None:
        raise ValidationError(key="imp_no_name_column", field="name_field")
    rows = [{k: _clean(v) for k, v in r.items() if k != "geometry"} for r in current.to_dict("records")]
    geoms = list(current.geometry)
    index = {name_key(r.get("name_zh")): i for i, r in enumerate(rows)}
    matched, new = [], []
    for _, row in gdf.iterrows():
        key = name_key(row[nf])
        if key in index:
            i = index[key]
            rows[i]["geometry_quality"] = IMPORTED
            geoms[i] = row.geometry
            matched.append(rows[i]["name_zh"])
        else:
            props = {c: _clean(row[c]) for c in current.columns if c in gdf.columns and c != "geometry"}
            props.update({"name_zh": str(row[nf]), "geometry_quality": IMPORTED, "source": source})
            rows.append(props)
            geoms.append(row.geometry)
            new.append(str(row[nf]))
    report["matching"] = {"name_field": nf, "matched": matched, "unmatched": [], "new": new,
                          "missing": [r["name_zh"] for r, g in zip(rows, geoms, strict=True) if g is None]}
    if new:
        report["warnings"].append(Message("imp_new_names", n=len(new), names=list(new)))
    return gpd.GeoDataFrame(rows, geometry=gpd.GeoSeries(geoms, crs=crs_mod.WGS84))


def _build_plain(gdf: gpd.GeoDataFrame, nf: str | None, *, source: str) -> gpd.GeoDataFrame:
    """Replace the layer with the imported features (``name_zh`` and ``geometry_quality`` added)."""
    out = gdf.copy()
    if nf and "name_zh" not in out.columns:
        out["name_zh"] = out[nf].astype(str)
    if "geometry_quality" not in out.columns:
        out["geometry_quality"] = IMPORTED
    out["source"] = source
    return out


def _measure(frame: gpd.GeoDataFrame, boundary: gpd.GeoDataFrame, kind: str, layer: str,
             report: dict[str, Any]) -> None:
    """Add overlaps (towns), coverage (polygons) and features outside the county to the report."""
    has = [g is not None and not g.is_empty for g in frame.geometry]
    labels = [str(v) for v in frame.get("name_zh", pd.Series(range(len(frame))))]
    county_m = boundary.to_crs(crs_mod.METRIC_CRS).geometry.union_all()
    geoms_m = _metric([g if h else None for g, h in zip(frame.geometry, has, strict=True)])
    report["with_geometry"] = int(sum(has))
    near = county_m.buffer(5000)
    report["outside_county"] = [labels[i] for i, g in enumerate(geoms_m) if g is not None and not g.intersects(near)]
    if kind == "polygon":
        report["coverage"] = coverage(geoms_m, county_m)
        if layer == "towns":
            report["overlaps"] = overlaps(geoms_m, labels)


def _blocking(report: dict[str, Any], *, force: bool) -> None:
    """Turn findings into blocking errors (or warnings with ``force``)."""
    errs, warns = report["errors"], report["warnings"]
    if report["empty"]:
        errs.append(Message("imp_empty", n=len(report["empty"]), names=[e["name"] for e in report["empty"][:10]]))
    if report["wrong_type"]:
        errs.append(Message("imp_wrong_type", names=[f"{e['name']} ({e['type']})" for e in report["wrong_type"][:10]]))
    for e in report["invalid"]:
        reason = Value(str(e["reason"]))
        if not e["fixed"]:
            errs.append(Message("imp_invalid_unfixable", name=e["name"], reason=reason))
        elif force:
            warns.append(Message("imp_invalid_repaired", name=e["name"], reason=reason))
        else:
            errs.append(Message("imp_invalid_repairable", name=e["name"], reason=reason))
    if report["outside_area"]:
        errs.append(Message("imp_outside_area", names=[e["name"] for e in report["outside_area"][:10]]))
    elif report.get("outside_county"):
        (warns if force else errs).append(Message("imp_outside_county", names=list(report["outside_county"][:10])))
    unmatched = report.get("matching", {}).get("unmatched", [])
    if unmatched:
        key = "imp_unmatched_forced" if force else "imp_unmatched"
        (warns if force else errs).append(Message(key, n=len(unmatched), names=list(unmatched)))


def prepare_feature(layer: str, geom: Any, props: dict[str, Any], registry: Any, *, sectors: list[str],
                    note: str = "") -> ImportPlan:
    """Put a drawn feature into a layer: fill a listed feature of the same name, else add one.

    Parameters
    ----------
    layer
        Target layer.
    geom
        Validated shapely geometry in WGS84 (see :func:`geo_app.validate.geometry`).
    props
        ``name`` (required), ``sectors`` (parks: list of designated sectors), ``name_en``.
    registry
        The layer registry.
    sectors
        The plan's sector list (``review_rules.toml``), to check ``sectors``.
    note
        Author note for the history.

    Returns
    -------
    ImportPlan
    """
    spec = _spec(registry, layer)
    name = str(props.get("name") or "").strip()
    if not name or len(name) > 120:
        raise ValidationError(key="imp_draw_name", field="name")
    secs = _sectors(props.get("sectors"), sectors) if layer == "parks" else []
    current = read_layer_file(registry.path(layer))
    rows = [{k: _clean(v) for k, v in r.items() if k != "geometry"} for r in current.to_dict("records")]
    geoms = list(current.geometry)
    keys = [name_key(r.get("name_zh")) for r in rows]
    report: dict[str, Any] = {"layer": layer, "source": "drawn", "features": 1, "errors": [], "warnings": [],
                              "invalid": [], "empty": [], "wrong_type": [], "outside_area": [], "crs": {}}
    if name_key(name) in keys:
        i = keys.index(name_key(name))
        report["filled"] = rows[i].get("name_zh")
        if geoms[i] is not None and not geoms[i].is_empty:
            report["warnings"].append(Message("imp_replaced_geometry", name=rows[i].get("name_zh")))
    else:
        if layer == "towns":
            raise ValidationError(key="imp_not_official_township", params={"name": name}, field="name")
        rows.append({"name_zh": name, "name_en": str(props.get("name_en") or "") or None})
        geoms.append(None)
        i = len(rows) - 1
    rows[i]["geometry_quality"] = DRAWN
    if secs:
        rows[i]["sectors"] = ";".join(secs)
    geoms[i] = geom
    _, found = check_geometries(gpd.GeoDataFrame(geometry=[geom], crs=crs_mod.WGS84), [name], spec.geometry)
    report.update(found)
    frame = gpd.GeoDataFrame(rows, geometry=gpd.GeoSeries(geoms, crs=crs_mod.WGS84))
    _measure(frame, registry.frame("boundary"), spec.geometry, layer, report)
    _blocking(report, force=False)
    return ImportPlan(layer=layer, frame=frame, report=report, action="draw", note=note, source=f"drawn: {name}")


def _sectors(value: Any, known: list[str]) -> list[str]:
    """Check a park's designated sectors against the plan's list."""
    if value in (None, "", []):
        return []
    items = value.split(";") if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(s, str) for s in items):
        raise ValidationError(key="imp_sectors_list", field="sectors")
    bad = [s for s in items if s not in known]
    if bad:
        raise ValidationError(key="imp_sectors_unknown", params={"bad": [b[:20] for b in bad], "known": list(known)},
                              field="sectors")
    return list(dict.fromkeys(items))


def _now() -> datetime:
    return datetime.now(UTC)


def _stamp() -> str:
    return _now().strftime("%Y%m%dT%H%M%S%fZ")
