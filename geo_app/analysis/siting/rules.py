"""The review rules file: load ``geo_app/review_rules.toml`` and check it before any review uses it.

The rules hold the thresholds, the sector-to-park fit table, the slope limits and how missing
data is judged (DESIGN §4). A broken file is a :class:`~geo_app.errors.DataFileError`.
"""

from __future__ import annotations

import copy
import tomllib
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

from ...errors import DataFileError

RULES_PATH = Path(__file__).resolve().parents[2] / "review_rules.toml"
STATUSES = ("ok", "conditional", "fail", "unavailable", "info")
MODES = ("car", "rail", "best")
_SECTIONS = ("version", "sectors", "changchun", "slope", "infrastructure", "sector_fit", "missing", "parks", "verdict",
             "data_sources")


@lru_cache(maxsize=8)
def _read_rules(path: str) -> dict[str, Any]:
    try:
        raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise DataFileError(f"review rules {path}: {exc}") from exc
    _check_rules(raw, path)
    return raw


def _check_rules(r: Mapping[str, Any], path: str) -> None:
    """Raise DataFileError when a section is missing, a band is inverted or a status is unknown."""
    def bad(msg: str) -> DataFileError:
        return DataFileError(f"review rules {path}: {msg}")

    for key in _SECTIONS:
        if key not in r:
            raise bad(f"missing section or key {key!r}")
    cc = r["changchun"]
    if not 0 < cc["pass_max_min"] <= cc["conditional_max_min"]:
        raise bad("changchun: need 0 < pass_max_min <= conditional_max_min")
    if any(m not in MODES for m in cc.get("judged_modes", [])):
        raise bad(f"changchun.judged_modes must be among {MODES}")
    for name, lim in [("default", r["slope"]["default"]), *r["slope"].get("sectors", {}).items()]:
        if not 0 <= lim["ok_max_pct"] <= lim["conditional_max_pct"]:
            raise bad(f"slope {name}: need 0 <= ok_max_pct <= conditional_max_pct")
    for name in ("rail", "trunk_road"):
        lim = r["infrastructure"][name]
        if not 0 <= lim["ok_max_m"] <= lim["conditional_max_m"]:
            raise bad(f"infrastructure.{name}: need 0 <= ok_max_m <= conditional_max_m")
    statuses = [cc["unreachable"], cc["no_network"], r["sector_fit"]["mismatch"],
                r["sector_fit"]["not_in_park"], r["infrastructure"]["rail"]["beyond"],
                r["infrastructure"]["trunk_road"]["beyond"], *r["missing"].values()]
    for s in statuses:
        if s not in STATUSES:
            raise bad(f"status {s!r} is not one of {STATUSES}")
    for park, secs in r["parks"].items():
        unknown = [s for s in secs if s not in r["sectors"]]
        if unknown:
            raise bad(f"park {park}: unknown sectors {unknown}")
    _check_verdict(r, bad)


def _check_verdict(r: Mapping[str, Any], bad: Any) -> None:
    """Every deciding finding names the data it needs, and every data source says where it comes from."""
    needs = r["verdict"].get("needs", {})
    for key in r["verdict"].get("deciding", []):
        if needs.get(key) not in r["data_sources"]:
            raise bad(f"verdict.needs.{key} must name one of [data_sources] {sorted(r['data_sources'])}")
    for name, src in r["data_sources"].items():
        if not all(isinstance(src.get(k), str) for k in ("zh", "en", "page", "command")) or not src["zh"]:
            raise bad(f"data_sources.{name}: needs zh, en, page and command (text)")


def load_rules(path: str | Path | None = None) -> dict[str, Any]:
    """Load and check the review rules.

    Parameters
    ----------
    path
        A TOML file; the packaged ``geo_app/review_rules.toml`` when None.

    Returns
    -------
    dict
        A fresh copy of the parsed rules (safe to modify, e.g. in tests).
    """
    return copy.deepcopy(_read_rules(str(Path(path or RULES_PATH).resolve())))


def sectors(rules: Mapping[str, Any] | None = None) -> list[str]:
    """Return the plan's project sectors (Chinese names), in the rules' order."""
    return list((rules or load_rules())["sectors"])
