"""Township names and codes: normalising names and matching features to the official 2023 codes."""

from __future__ import annotations

import math
import re
import unicodedata
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from ..errors import ValidationError

NAME_FIELDS = ("name_zh", "name", "NAME", "Name", "名称", "乡镇", "乡镇名称", "XZQMC", "xzqmc", "MC")
CODE_FIELDS = ("code", "CODE", "Code", "XZQDM", "xzqdm", "代码", "区划代码", "adcode")


#: Traditional -> simplified for the characters of the 25 township names (and the
#: words of their suffixes and of the high-tech zone's full name).
_T2S = str.maketrans("華紅龍頭進營頂嶺灣興雙爐鄉滿鮮樂區鎮開發術產業辦處楊縣門黃東員鳳豐廣義",
                     "华红龙头进营顶岭湾兴双炉乡满鲜乐区镇开发术产业办处杨县门黄东员凤丰广义")
_PREFIXES = ("吉林省", "通化市", "梅河口市")
_SUFFIXES = ("满族朝鲜族乡", "朝鲜族满族乡", "朝鲜族乡", "满族乡", "民族乡", "街道办事处", "街道", "办事处", "镇", "乡")
_ALIASES = {"梅河口高新技术产业开发区": "梅河口高新区", "高新技术产业开发区": "梅河口高新区", "高新区": "梅河口高新区"}


def name_key(name: Any) -> str:
    """Normalise a township (or feature) name for matching.

    NFKC, no whitespace, traditional -> simplified, without the 吉林省/通化市/梅河口市 prefix
    and without one 镇/乡/街道/满族朝鲜族乡… suffix.

    Parameters
    ----------
    name
        The raw name.

    Returns
    -------
    str
        The key; empty for a missing name.
    """
    if name is None or (isinstance(name, float) and math.isnan(name)):
        return ""
    s = re.sub(r"\s+", "", unicodedata.normalize("NFKC", str(name))).translate(_T2S)
    for p in _PREFIXES:
        if s.startswith(p) and len(s) > len(p):
            s = s[len(p):]
    s = _ALIASES.get(s, s)
    for suf in _SUFFIXES:
        if s.endswith(suf) and len(s) > len(suf):
            return s[: -len(suf)]
    return s


def code_key(value: Any) -> str:
    """Normalise a statistical code: digits only, 12-digit codes cut to 9."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    s = re.sub(r"\D", "", str(value).split(".")[0])
    return s[:9] if len(s) == 12 and s.endswith("000") else s


def _pick_field(gdf: gpd.GeoDataFrame, given: str | None, candidates: tuple[str, ...], what: str) -> str | None:
    """Return the column to read names (or codes) from: the given one or the first candidate present."""
    if given:
        if given not in gdf.columns:
            raise ValidationError(key="imp_field_missing", field=f"{what}_field", params={
                "what": what, "given": given, "columns": [c for c in gdf.columns if c != "geometry"]})
        return given
    return next((c for c in candidates if c in gdf.columns), None)


def match_towns(gdf: gpd.GeoDataFrame, towns: gpd.GeoDataFrame, *, name_field: str | None,
                code_field: str | None) -> tuple[list[int | None], dict[str, Any]]:
    """Match each imported feature to a township of the 2023 official list.

    Parameters
    ----------
    gdf
        Imported features.
    towns
        The reference list (``code``, ``name_zh``...; the current ``towns`` layer).
    name_field, code_field
        Columns to use; picked from common names when None.

    Returns
    -------
    tuple
        ``(positions, summary)``: the row position in ``towns`` of each feature (None when
        unmatched) and ``{name_field, code_field, matched, unmatched, duplicates, missing}``.
    """
    nf = _pick_field(gdf, name_field, NAME_FIELDS, "name")
    cf = _pick_field(gdf, code_field, CODE_FIELDS, "code")
    if nf is None and cf is None:
        raise ValidationError(key="imp_no_name_or_code", field="name_field")
    by_code = {code_key(c): i for i, c in enumerate(towns["code"]) if code_key(c)}
    by_name = {name_key(n): i for i, n in enumerate(towns["name_zh"])}
    pos: list[int | None] = []
    matched, unmatched = [], []
    for _, row in gdf.iterrows():
        raw = row[nf] if nf else None
        hit = by_code.get(code_key(row[cf])) if cf else None
        if hit is None:
            hit = by_name.get(name_key(raw))
        pos.append(hit)
        label = str(raw if raw is not None else row[cf])
        if hit is None:
            unmatched.append(label)
        else:
            matched.append({"source": label, "code": _clean(towns.iloc[hit]["code"]),
                            "name_zh": towns.iloc[hit]["name_zh"]})
    counts = pd.Series([p for p in pos if p is not None]).value_counts()
    dups = [towns.iloc[int(i)]["name_zh"] for i, n in counts.items() if n > 1]
    missing = [towns.iloc[i]["name_zh"] for i in range(len(towns)) if i not in set(pos)]
    return pos, {"name_field": nf, "code_field": cf, "matched": matched, "unmatched": unmatched,
                 "duplicates": dups, "missing": missing}


def _clean(value: Any) -> Any:
    """A JSON-safe scalar: NaN -> None, numpy scalars -> Python."""
    if value is None:
        return None
    if isinstance(value, float | np.floating) and not math.isfinite(float(value)):
        return None
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return value
