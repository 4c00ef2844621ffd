"""GeoJSON read by the importer itself: depth-limited JSON, the legacy ``crs`` member, bare geometries.

GDAL only ever sees the sanitised copy :func:`sanitise` writes: a FeatureCollection of plain
features, without any ``crs`` member (a ``link`` crs or a URL is refused, never fetched; a
``name`` crs is parsed here), without foreign members, with NaN and Infinity refused.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import GeometryError, UnsupportedMediaType
from .encoding import decode_text

#: Deepest nesting of arrays and objects accepted (a MultiPolygon in a FeatureCollection is 8).
MAX_DEPTH = 32
GEOMETRY_TYPES = ("Point", "MultiPoint", "LineString", "MultiLineString", "Polygon", "MultiPolygon",
                  "GeometryCollection")
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_EPSG_URN = re.compile(r"urn:ogc:def:crs:EPSG:[0-9.]*:(\d{4,6})", re.IGNORECASE)
_EPSG = re.compile(r"EPSG:{1,2}(\d{4,6})", re.IGNORECASE)
_CRS84 = re.compile(r"(urn:ogc:def:crs:OGC:[0-9.]*:)?CRS:?84", re.IGNORECASE)


def _bad(name: str, what: str) -> UnsupportedMediaType:
    return UnsupportedMediaType(f"{name}: not valid GeoJSON ({what})", field="file")


def _depth(text: str) -> int:
    """Deepest nesting of ``[``/``{`` outside strings (vectorised; no recursion)."""
    bare = np.frombuffer(_STRING.sub("", text).encode("utf-8"), dtype=np.uint8)
    if bare.size == 0:
        return 0
    step = np.isin(bare, (ord("["), ord("{"))).astype(np.int32) - np.isin(bare, (ord("]"), ord("}")))
    return int(np.cumsum(step).max())


def _constant(value: str) -> Any:
    raise ValueError(f"{value} is not a JSON number")


def load(data: bytes, name: str, *, encoding: str | None = None) -> tuple[dict[str, Any], str, str]:
    """Decode and parse a GeoJSON file with a depth limit.

    Parameters
    ----------
    data
        The file's bytes.
    name
        Display name.
    encoding
        ``--encoding`` (GeoJSON is UTF-8; older Chinese software sometimes wrote GBK).

    Returns
    -------
    tuple
        ``(object, encoding, encoding_reason)``.
    """
    text, enc, reason = decode_text(data, name, given=encoding, what="GeoJSON is UTF-8 by definition (RFC 7946)")
    depth = _depth(text)
    if depth > MAX_DEPTH:
        raise _bad(name, f"nested {depth} levels deep; the limit is {MAX_DEPTH}")
    try:
        obj = json.loads(text, parse_constant=_constant)
    except (ValueError, RecursionError) as exc:
        raise _bad(name, str(exc)[:120]) from None
    if not isinstance(obj, dict):
        raise _bad(name, "the top level is not an object")
    return obj, enc, reason


def declared_crs(obj: dict[str, Any], name: str) -> str | None:
    """The CRS a legacy ``crs`` member names (``EPSG:NNNN``), parsed here and never fetched.

    ``{"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::4490"}}`` (or ``EPSG:4326``,
    ``urn:ogc:def:crs:OGC:1.3:CRS84``) is honoured; a ``link`` crs, any URL and unknown names
    are refused naming ``crs``.
    """
    member = obj.get("crs")
    if member is None:
        return None
    if not isinstance(member, dict):
        raise GeometryError(f"{name}: crs must be an object with type 'name'", field="crs")
    props = member.get("properties") if isinstance(member.get("properties"), dict) else {}
    value = props.get("name")
    if member.get("type") != "name" or "href" in props or not isinstance(value, str):
        raise UnsupportedMediaType(f"{name}: crs of type {str(member.get('type'))[:20]!r} (a link or URL) is not "
                                   "followed; remove the crs member and give --crs", field="crs")
    value = value.strip()
    if "://" in value or value.lower().startswith(("/vsi", "file:", "www.")):
        raise UnsupportedMediaType(f"{name}: crs names a URL ({value[:60]!r}), which is not followed; "
                                   "give --crs", field="crs")
    for pattern in (_EPSG_URN, _EPSG):
        m = pattern.fullmatch(value)
        if m:
            return f"EPSG:{int(m.group(1))}"
    if _CRS84.fullmatch(value):
        return "EPSG:4326"
    raise GeometryError(f"{name}: crs name {value[:60]!r} is not one the importer reads "
                        "(urn:ogc:def:crs:EPSG::NNNN, EPSG:NNNN, CRS84); give --crs", field="crs")


def _geometry(geom: Any, name: str, *, merge: bool = False) -> dict[str, Any] | None:
    """A geometry with only its type and coordinates (or members); a homogeneous collection merged."""
    if geom is None:
        return None
    if not isinstance(geom, dict) or geom.get("type") not in GEOMETRY_TYPES:
        kind = geom.get("type") if isinstance(geom, dict) else type(geom).__name__
        raise GeometryError(f"{name}: unknown geometry type {str(kind)[:30]!r}", field="file")
    if geom["type"] != "GeometryCollection":
        return {"type": geom["type"], "coordinates": geom.get("coordinates")}
    members = geom.get("geometries")
    if not isinstance(members, list):
        raise GeometryError(f"{name}: a GeometryCollection needs a 'geometries' list", field="file")
    parts = [g for g in (_geometry(m, name) for m in members) if g is not None]
    base = {g["type"].removeprefix("Multi") for g in parts}
    if merge and len(base) == 1 and base != {"GeometryCollection"}:
        kind = base.pop()
        coords = [c for g in parts for c in (g["coordinates"] if g["type"].startswith("Multi") else [g["coordinates"]])]
        return {"type": f"Multi{kind}", "coordinates": coords}
    return {"type": "GeometryCollection", "geometries": parts}


def features(obj: dict[str, Any], name: str) -> list[dict[str, Any]]:
    """Plain features of a FeatureCollection, a Feature, or a bare Geometry (read as one feature)."""
    kind = obj.get("type")
    if kind == "FeatureCollection":
        items = obj.get("features")
        if not isinstance(items, list) or not all(isinstance(f, dict) and f.get("type") == "Feature"
                                                  for f in items):
            raise _bad(name, "'features' must be a list of Feature objects")
    elif kind == "Feature":
        items = [obj]
    elif kind in GEOMETRY_TYPES:
        props = obj.get("properties") if isinstance(obj.get("properties"), dict) else {}
        return [{"type": "Feature", "properties": props, "geometry": _geometry(obj, name, merge=True)}]
    else:
        raise UnsupportedMediaType(f"{name}: GeoJSON must be a FeatureCollection, a Feature or a Geometry",
                                   field="file")
    return [{"type": "Feature", "properties": f["properties"] if isinstance(f.get("properties"), dict) else {},
             "geometry": _geometry(f.get("geometry"), name)} for f in items]


def sanitise(obj: dict[str, Any], name: str, dest: Path) -> int:
    """Write the plain FeatureCollection GDAL will read to ``dest``; return the feature count."""
    feats = features(obj, name)
    dest.write_text(json.dumps({"type": "FeatureCollection", "features": feats}, ensure_ascii=False,
                               allow_nan=False), encoding="utf-8")
    return len(feats)
