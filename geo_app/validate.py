"""Validation of request parameters and GeoJSON at the boundary (DESIGN §6).

Every function raises :class:`~geo_app.errors.ValidationError` (400) or
:class:`~geo_app.errors.GeometryError` (422) with the offending field named, before
shapely or the engine sees the value. Nothing here imports Flask.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from typing import Any

from .errors import GeometryError, PayloadTooLarge, ValidationError
from .i18n import Value

#: Service area in WGS84 (lon_min, lat_min, lon_max, lat_max): the Changchun
#: metropolitan counties' extent, rounded outwards.
SERVICE_BBOX = (123.0, 40.8, 128.5, 45.5)
MAX_VERTICES = 10_000
#: Decimal numbers in ASCII digits only: ``float()`` and ``int()`` also read fullwidth (１２５) and other
#: Unicode digits, which this service refuses (DESIGN §6).
_NUMBER = re.compile(r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?$")
_INT = re.compile(r"^[+-]?[0-9]{1,18}$")


def check_text(value: str, field: str) -> str:
    """Refuse text that cannot be stored or sent on: lone surrogates (not encodable as UTF-8) and NUL.

    Parameters
    ----------
    value
        Text from a request, a file or the command line.
    field
        Field name used in the error message.

    Returns
    -------
    str
        ``value`` unchanged.
    """
    if "\x00" in value:
        raise ValidationError(key="err_text_unencodable", params={"field": field}, field=field)
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValidationError(key="err_text_unencodable", params={"field": field}, field=field) from None
    return value


def field_name(name: str) -> str:
    """A request field's name as an error may show it (unencodable characters escaped, at most 60)."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        name = name.encode("ascii", "backslashreplace").decode("ascii")
    return name.replace("\x00", "\\x00")[:60]


def parse_float(value: Any, field: str) -> float:
    """Parse a finite float.

    Parameters
    ----------
    value
        A number or a numeric string.
    field
        Field name used in the error message.

    Returns
    -------
    float
        The value; NaN, infinities and overflowing literals such as ``1e400`` are refused.
    """
    if isinstance(value, bool):
        raise ValidationError(key="err_number_bool", params={"field": field}, field=field)
    if isinstance(value, int | float):
        try:
            out = float(value)
        except OverflowError:  # an integer too large for a float
            out = math.inf
    elif isinstance(value, str) and _NUMBER.match(value.strip()):
        out = float(value.strip())
    else:
        raise ValidationError(key="err_number", params={"field": field, "got": str(value)[:40]}, field=field)
    if not math.isfinite(out):
        raise ValidationError(key="err_finite", params={"field": field}, field=field)
    return out


def check_lonlat(lon: float, lat: float, field: str) -> tuple[float, float]:
    """Check that a lon/lat pair is in range and plausibly not swapped.

    Parameters
    ----------
    lon, lat
        Longitude and latitude in degrees (WGS84).
    field
        Field name used in error messages.

    Returns
    -------
    tuple of float
        ``(lon, lat)``.
    """
    if not -180 <= lon <= 180:
        raise ValidationError(key="err_lon_range", params={"field": field, "lon": lon}, field=field)
    if not -90 <= lat <= 90:
        raise ValidationError(key="err_lat_range", params={"field": field, "lat": lat}, field=field)
    lo0, la0, lo1, la1 = SERVICE_BBOX
    if lo0 <= lat <= lo1 and la0 <= lon <= la1:
        raise ValidationError(key="err_lonlat_swapped", params={"field": field, "lon": lon, "lat": lat},
                              field=field)
    return lon, lat


def parse_lonlat(value: Any, field: str) -> tuple[float, float]:
    """Parse ``"LON,LAT"`` (or a two-item sequence) into a checked pair."""
    if isinstance(value, str):
        parts = value.split(",")
    elif isinstance(value, Sequence):
        parts = list(value)
    else:
        raise ValidationError(key="err_lonlat_format", params={"field": field}, field=field)
    if len(parts) != 2:
        raise ValidationError(key="err_lonlat_two", params={"field": field}, field=field)
    lon = parse_float(parts[0], field)
    lat = parse_float(parts[1], field)
    return check_lonlat(lon, lat, field)


def in_service_area(lon: float, lat: float) -> bool:
    """Return True when the point lies in the service bounding box."""
    lo0, la0, lo1, la1 = SERVICE_BBOX
    return lo0 <= lon <= lo1 and la0 <= lat <= la1


def parse_bbox(value: str | None, field: str = "bbox") -> tuple[float, float, float, float] | None:
    """Parse ``minlon,minlat,maxlon,maxlat``.

    Returns
    -------
    tuple of float or None
        None when the parameter is absent or empty.
    """
    if value is None or value == "":
        return None
    parts = value.split(",")
    if len(parts) != 4:
        raise ValidationError(key="err_bbox_format", params={"field": field}, field=field)
    x0, y0, x1, y1 = (parse_float(p, field) for p in parts)
    check_range = [(x0, -180, 180), (x1, -180, 180), (y0, -90, 90), (y1, -90, 90)]
    for v, lo, hi in check_range:
        if not lo <= v <= hi:
            raise ValidationError(key="err_bbox_range", params={"field": field, "v": v, "lo": lo, "hi": hi},
                                  field=field)
    if x0 > x1 or y0 > y1:
        raise ValidationError(key="err_bbox_order", params={"field": field}, field=field)
    return x0, y0, x1, y1


def parse_int(value: Any, field: str, *, lo: int, hi: int, clamp: bool = False) -> int:
    """Parse an integer in ``[lo, hi]``; clamp instead of failing when ``clamp``."""
    if isinstance(value, bool):
        raise ValidationError(key="err_int", params={"field": field}, field=field)
    text = str(value).strip()
    if not _INT.match(text):
        raise ValidationError(key="err_int_got", params={"field": field, "got": text[:40]}, field=field)
    out = int(text)
    if clamp:
        return max(lo, min(hi, out))
    if not lo <= out <= hi:
        raise ValidationError(key="err_int_range", params={"field": field, "lo": lo, "hi": hi, "got": out},
                              field=field)
    return out


def parse_choice(value: Any, field: str, choices: Iterable[str]) -> str:
    """Check that ``value`` is one of ``choices``."""
    opts = list(choices)
    if value not in opts:
        raise ValidationError(key="err_choice", params={"field": field, "choices": opts, "got": str(value)[:40]},
                              field=field)
    return str(value)


def parse_minutes(value: Any, field: str = "minutes", *, max_count: int = 6, max_minutes: int = 240) -> list[int]:
    """Parse a strictly increasing list of contour minutes.

    Parameters
    ----------
    value
        ``"30,60,90"`` or a list of numbers.
    field
        Field name for errors.
    max_count
        Largest number of contours.
    max_minutes
        Largest contour.

    Returns
    -------
    list of int
    """
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list | tuple) or not items:
        raise ValidationError(key="err_minutes_list", params={"field": field}, field=field)
    if len(items) > max_count:
        raise ValidationError(key="err_minutes_count", params={"field": field, "n": max_count}, field=field)
    out: list[int] = []
    for item in items:
        v = parse_float(item, field)
        if v != int(v):
            raise ValidationError(key="err_minutes_whole", params={"field": field, "got": v}, field=field)
        if v <= 0:
            raise ValidationError(key="err_minutes_positive", params={"field": field, "got": f"{v:g}"}, field=field)
        if v > max_minutes:
            raise ValidationError(key="err_minutes_max", params={"field": field, "n": max_minutes, "got": f"{v:g}"},
                                  field=field)
        if out and v <= out[-1]:
            raise ValidationError(key="err_minutes_increasing", params={"field": field}, field=field)
        out.append(int(v))
    return out


def _positions(coords: Any, field: str, depth: int, count: list[int]) -> Any:
    """Check nested coordinate arrays of a given depth; return them as 2-D [lon, lat] lists.

    A third number (elevation) is accepted and dropped, so mixed 2-D/3-D input cannot
    reach shapely; ``count`` accumulates the vertex count against :data:`MAX_VERTICES`.
    """
    if not isinstance(coords, list):
        raise GeometryError(key="err_coords_arrays", params={"field": field}, field=field)
    if depth == 0:
        if len(coords) not in (2, 3):
            raise GeometryError(key="err_position", params={"field": field}, field=field)
        if not all(isinstance(c, int | float) for c in coords):  # RFC 7946: positions are JSON numbers
            raise ValidationError(key="err_coord_number", params={"field": field}, field=field)
        lon = parse_float(coords[0], field)
        lat = parse_float(coords[1], field)
        if len(coords) == 3:
            parse_float(coords[2], field)
        count[0] += 1
        if count[0] > MAX_VERTICES:
            raise PayloadTooLarge(key="err_too_many_vertices", params={"field": field, "n": MAX_VERTICES}, field=field)
        return list(check_lonlat(lon, lat, field))
    return [_positions(c, field, depth - 1, count) for c in coords]


def _geometry_object(obj: Any, field: str) -> dict[str, Any]:
    """The geometry object of a geometry or a Feature; refuse a ``crs`` member on either (RFC 7946)."""
    for level in (obj, obj.get("geometry") if isinstance(obj, dict) and obj.get("type") == "Feature" else None):
        if isinstance(level, dict) and "crs" in level:
            raise GeometryError(key="err_geom_crs", params={"field": field}, field=field)
    if isinstance(obj, dict) and obj.get("type") == "Feature":
        obj = obj.get("geometry")
    if not isinstance(obj, dict):
        raise GeometryError(key="err_geom_object", params={"field": field}, field=field)
    return obj


_DEPTH = {"Point": 0, "MultiPoint": 1, "LineString": 1, "MultiLineString": 2, "Polygon": 2, "MultiPolygon": 3}


def geometry(obj: Any, field: str = "geometry", *, allowed: Iterable[str] = ("Point", "Polygon")) -> Any:
    """Validate a GeoJSON geometry object and return it as a shapely geometry.

    Checks the type, the nesting, every position (finite, in range, lon/lat order),
    the vertex limit, ring closure and length, and validity (with the reason from
    ``shapely.validation.explain_validity``).

    Parameters
    ----------
    obj
        Parsed JSON.
    field
        Field name for errors.
    allowed
        Accepted geometry types.

    Returns
    -------
    shapely.Geometry
    """
    import shapely
    from shapely.validation import explain_validity

    allowed = list(allowed)
    obj = _geometry_object(obj, field)
    gtype = obj.get("type")
    if gtype not in allowed:
        raise GeometryError(key="err_geom_type", params={"field": field, "types": allowed, "got": str(gtype)[:40]},
                            field=field)
    coords = obj.get("coordinates")
    if coords is None or coords == []:
        raise GeometryError(key="err_geom_empty", params={"field": field}, field=field)
    coords = _positions(coords, field, _DEPTH[gtype], [0])
    if gtype in ("Polygon", "MultiPolygon"):
        polys = [coords] if gtype == "Polygon" else coords
        for poly in polys:
            if not poly:
                raise GeometryError(key="err_polygon_empty", params={"field": field}, field=field)
            for ring in poly:
                if len(ring) < 4:
                    raise GeometryError(key="err_ring_short", params={"field": field}, field=field)
                if ring[0][:2] != ring[-1][:2]:
                    raise GeometryError(key="err_ring_open", params={"field": field}, field=field)
    try:
        geom = shapely.geometry.shape({"type": gtype, "coordinates": coords})
    except (ValueError, TypeError, shapely.errors.ShapelyError) as exc:
        raise GeometryError(key="err_geom_unreadable", params={"field": field, "type": gtype, "detail": str(exc)},
                            field=field) from None
    if geom.is_empty:
        raise GeometryError(key="err_geom_empty", params={"field": field}, field=field)
    if not geom.is_valid:
        raise GeometryError(key="err_geom_invalid", params={"field": field, "reason": Value(explain_validity(geom))},
                            field=field)
    return geom
