"""Reading and checking scenario TOML files: :class:`Scenario`, :class:`ScenarioError` and the row checks.

Only the structure of a file is checked here (keys, types, signs); references to places and
stations are resolved when the scenario is applied (:mod:`.edits`).
"""

from __future__ import annotations

import json
import math
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...errors import NotFound, ValidationError
from ...validate import check_lonlat, in_service_area

EDIT_TABLES = ("road_link", "corridor", "station", "rail_service", "remove_link")
TOP_KEYS = {"title_zh", "title_en", "description_zh", "description_en", "source", "mode", *EDIT_TABLES}
EDIT_KEYS = {
    "road_link": {"from", "to", "class", "speed_kmh", "length_km", "name", "both_ways", "assumptions", "source",
                  "note"},
    "corridor": {"id", "class", "speed_kmh", "assumptions", "source", "note"},
    "station": {"name", "lon", "lat", "assumptions", "source", "note"},
    "rail_service": {"line", "stops", "kind", "speed_kmh", "minutes", "headway_min", "assumptions", "source",
                     "note"},
    "remove_link": {"from", "to", "corridor", "assumptions", "source", "note"},
}
MODES = ("car", "rail", "best")


class ScenarioError(ValidationError):
    """A scenario file is malformed or refers to something that does not exist.

    The message starts with ``FILE:LINE:`` so an editor can jump to the offending line.
    """

    code = "invalid_scenario"

    def __init__(self, message: str, *, path: Path | str, line: int | None, field: str | None = None) -> None:
        where = f"{path}:{line}" if line else f"{path}"
        super().__init__(f"{where}: {message}", field=field)
        self.detail = message  # without the file and line (pages name the file themselves)
        self.path = str(path)
        self.line = line


@dataclass(frozen=True)
class Scenario:
    """A parsed scenario file.

    Attributes
    ----------
    name
        File stem (the scenario's id in URLs and on the command line).
    path
        The file.
    text
        The file's text (for line numbers in errors).
    meta
        ``title_zh``, ``title_en``, ``description_zh``, ``description_en``, ``source``, ``mode``.
    edits
        ``{table: [dict, ...]}`` for each of :data:`EDIT_TABLES`.
    """

    name: str
    path: Path
    text: str
    meta: dict[str, str]
    edits: dict[str, list[dict[str, Any]]]

    @property
    def mode(self) -> str:
        """The mode the scenario is meant to be compared in (``best`` unless the file says)."""
        return self.meta.get("mode") or "best"

    def line_of(self, table: str | None, index: int, key: str, needle: Any = None) -> int | None:
        """Line number (1-based) of ``key`` (or of ``needle`` after it) in the ``index``-th ``[[table]]``."""
        return find_line(self.text, table, index, key, needle)

    def error(self, message: str, table: str | None, index: int, key: str, needle: Any = None) -> ScenarioError:
        """A :class:`ScenarioError` pointing at ``key`` of edit ``index`` of ``table``."""
        fld = key if table is None else f"{table}[{index}].{key}"
        return ScenarioError(message, path=self.path, line=self.line_of(table, index, key, needle), field=fld)

    def assumptions(self) -> list[dict[str, Any]]:
        """Every edit parameter the file marks as an assumption, with its value and source."""
        out = []
        for table, rows in self.edits.items():
            for i, row in enumerate(rows):
                for key in row.get("assumptions", []):
                    out.append({"key": f"{table}[{i}].{key}", "edit": table, "label": edit_label(table, row),
                                "parameter": key, "value": row.get(key), "source": row.get("source", "")})
        return out

    def summary(self) -> dict[str, Any]:
        """JSON-ready description (no computation)."""
        return {"name": self.name, **{k: self.meta.get(k, "") for k in
                                      ("title_zh", "title_en", "description_zh", "description_en", "source")},
                "mode": self.mode, "edits": {k: v for k, v in self.edits.items() if v},
                "assumptions": self.assumptions()}


def edit_label(table: str, row: Mapping[str, Any]) -> str:
    """A short human label of one edit."""
    if table in ("road_link", "remove_link"):
        return f"{_label(row.get('from'))}–{_label(row.get('to'))}"
    if table == "corridor":
        return str(row.get("id"))
    if table == "rail_service":
        return str(row.get("line"))
    return str(row.get("name"))


def _label(endpoint: Any) -> str:
    return endpoint if isinstance(endpoint, str) else str(list(endpoint or []))


def find_line(text: str, table: str | None, index: int, key: str, needle: Any = None) -> int | None:
    """Find the line of a key (and optionally of a value after it) in a TOML text.

    ``tomllib`` gives no positions, so the text is scanned: the ``index``-th ``[[table]]`` header
    bounds the search (the top level when ``table`` is None), then the ``key =`` line, then, for
    values inside multi-line arrays, the first line from there that holds ``needle``.

    Returns
    -------
    int or None
        1-based line number; None when nothing matches.
    """
    lines = text.splitlines()
    header = re.compile(r"^\s*\[")
    if table is None:
        lo = 0
        hi = next((i for i, s in enumerate(lines) if header.match(s)), len(lines))
    else:
        mine = re.compile(rf"^\s*\[\[\s*{re.escape(table)}\s*\]\]")
        starts = [i for i, s in enumerate(lines) if mine.match(s)]
        if index >= len(starts):
            return None
        lo = starts[index]
        hi = next((i for i in range(lo + 1, len(lines)) if header.match(lines[i])), len(lines))
    keyre = re.compile(rf'^\s*"?{re.escape(key)}"?\s*=')
    at = next((i for i in range(lo, hi) if keyre.match(lines[i])), None)
    if at is None:
        return lo + 1 if table is not None else None
    if needle is None:
        return at + 1
    token = json.dumps(needle, ensure_ascii=False) if isinstance(needle, str) else str(needle)
    return next((i + 1 for i in range(at, hi) if token in lines[i]), at + 1)


def load_scenario(path: Path | str) -> Scenario:
    """Read and check the structure of one scenario file (types, signs, known keys).

    References to places and stations are checked when the scenario is applied
    (:func:`apply_scenario`), against the network it is applied to.

    Raises
    ------
    ScenarioError
        Naming the file and the line.
    """
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"line (\d+)", str(exc))
        raise ScenarioError(f"not valid TOML: {exc}", path=path, line=int(m.group(1)) if m else None) from None
    meta = {k: raw[k] for k in ("title_zh", "title_en", "description_zh", "description_en", "source", "mode")
            if k in raw}
    scen = Scenario(path.stem, path, text, meta, {t: [] for t in EDIT_TABLES})
    for key in raw:
        if key not in TOP_KEYS:
            raise scen.error(f"unknown key {key!r}; expected one of {', '.join(sorted(TOP_KEYS))}", None, 0, key)
    for key in ("title_zh", "title_en"):
        if not isinstance(raw.get(key), str) or not raw[key].strip():
            raise ScenarioError(f"{key} is required (a non-empty string)", path=path, line=None, field=key)
    if "mode" in raw and raw["mode"] not in MODES:
        raise scen.error(f"mode must be one of {', '.join(MODES)}", None, 0, "mode")
    for table in EDIT_TABLES:
        rows = raw.get(table, [])
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise scen.error(f"{table} must be an array of tables: [[{table}]]", None, 0, table)
        for i, row in enumerate(rows):
            _check_row(scen, table, i, row)
        scen.edits[table].extend(rows)
    return scen


def _check_row(scen: Scenario, table: str, i: int, row: dict[str, Any]) -> None:
    """Structural checks of one edit: keys, required fields, numbers positive and finite."""
    for key in row:
        if key not in EDIT_KEYS[table]:
            raise scen.error(f"unknown key {key!r} in [[{table}]]; expected one of "
                             f"{', '.join(sorted(EDIT_KEYS[table]))}", table, i, key)
    required = {"road_link": ("from", "to"), "corridor": ("id",), "station": ("name", "lon", "lat"),
                "rail_service": ("line", "stops", "headway_min"), "remove_link": ("from", "to")}[table]
    for key in required:
        if key not in row:
            raise ScenarioError(f"[[{table}]] #{i + 1} needs {key!r}", path=scen.path,
                                line=scen.line_of(table, i, key), field=f"{table}[{i}].{key}")
    for key in ("speed_kmh", "length_km", "headway_min", "lon", "lat"):
        if key in row:
            _number(scen, table, i, key, row[key], positive=key not in ("lon", "lat"))
    if "minutes" in row:
        mins = row["minutes"] if isinstance(row["minutes"], list) else [row["minutes"]]
        for m in mins:
            _number(scen, table, i, "minutes", m, positive=True)
    for key in ("assumptions",):
        vals = row.get(key, [])
        if not isinstance(vals, list) or any(v not in row for v in vals):
            raise scen.error(f"{key} must list keys of this edit that it sets, got {vals!r}", table, i, key)
    if table == "road_link" and "class" not in row and "speed_kmh" not in row:
        raise scen.error("a road link needs a class or a speed_kmh", table, i, "from")
    if table == "corridor" and "class" not in row and "speed_kmh" not in row:
        raise scen.error("a corridor edit needs a class or a speed_kmh", table, i, "id")
    if table == "rail_service":
        _check_service(scen, i, row)


def _check_service(scen: Scenario, i: int, row: dict[str, Any]) -> None:
    stops = row["stops"]
    if not isinstance(stops, list) or len(stops) < 2 or not all(isinstance(s, str) for s in stops):
        raise scen.error("stops must list at least two station names", "rail_service", i, "stops")
    if len(set(stops)) != len(stops):
        raise scen.error("a stop appears twice", "rail_service", i, "stops")
    if "minutes" in row:
        mins = row["minutes"] if isinstance(row["minutes"], list) else None
        if mins is None or len(mins) != len(stops) - 1:
            raise scen.error(f"minutes must list one value per leg ({len(stops) - 1})", "rail_service", i,
                             "minutes")
    elif "speed_kmh" not in row and "kind" not in row:
        raise scen.error("a rail service needs minutes, speed_kmh or kind", "rail_service", i, "line")


def _number(scen: Scenario, table: str, i: int, key: str, val: Any, *, positive: bool) -> float:
    if isinstance(val, bool) or not isinstance(val, int | float) or not math.isfinite(val):
        raise scen.error(f"{key} must be a finite number, got {val!r}", table, i, key, val)
    if positive and val <= 0:
        raise scen.error(f"{key} must be > 0, got {val}", table, i, key, val)
    return float(val)


def list_scenarios(directory: Path | str) -> list[Scenario | ScenarioError]:
    """Every ``*.toml`` in ``directory``, parsed (a broken file appears as its error)."""
    out: list[Scenario | ScenarioError] = []
    for path in sorted(Path(directory).glob("*.toml")):
        try:
            out.append(load_scenario(path))
        except ScenarioError as exc:
            out.append(exc)
    return out


def find_scenario(directory: Path | str, name: str) -> Scenario:
    """Load ``directory/NAME.toml``; :class:`~geo_app.errors.NotFound` when there is none."""
    if not re.fullmatch(r"[A-Za-z0-9_\-]{1,80}", name or ""):
        raise NotFound(f"no scenario named {name!r}", field="name")
    path = Path(directory) / f"{name}.toml"
    if not path.is_file():
        known = ", ".join(p.stem for p in sorted(Path(directory).glob("*.toml")))
        raise NotFound(f"no scenario named {name!r}; known: {known}", field="name")
    return load_scenario(path)


# --- a point written in the file (checked when the scenario is applied) ---------------------------


def _coords(scen: Scenario, table: str, i: int, key: str, raw: Any) -> tuple[float, float]:
    """A ``[lon, lat]`` pair of an edit, checked to be finite, in range and in the service area."""
    ok = isinstance(raw, list) and len(raw) == 2 and all(
        isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x) for x in raw)
    if not ok:
        raise scen.error(f"{key} must be a place name or [lon, lat], got {raw!r}", table, i, key)
    lon, lat = float(raw[0]), float(raw[1])
    try:
        check_lonlat(lon, lat, key)
    except ValidationError as exc:
        raise scen.error(exc.message, table, i, key) from None
    if not in_service_area(lon, lat):
        raise scen.error(f"link into nowhere: ({lon}, {lat}) is outside the service area (lon,lat order)",
                         table, i, key)
    return lon, lat
