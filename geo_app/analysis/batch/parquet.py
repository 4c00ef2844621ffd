"""GeoParquet part files of a batch run and its per-unit summary tables."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from pyproj import CRS

from ...network.roads import METRIC_CRS
from .grid import THRESHOLDS, Column, Unit


def _wkb_points(x: np.ndarray, y: np.ndarray) -> pa.Array:
    """Little-endian WKB points as an Arrow binary array, built without Python objects."""
    n = len(x)
    rec = np.empty(n, dtype=np.dtype([("bo", "u1"), ("type", "<u4"), ("x", "<f8"), ("y", "<f8")]))
    rec["bo"], rec["type"], rec["x"], rec["y"] = 1, 1, x, y
    offsets = np.arange(0, 21 * (n + 1), 21, dtype=np.int32)
    return pa.Array.from_buffers(pa.binary(), n, [None, pa.py_buffer(offsets), pa.py_buffer(rec.tobytes())])


def _schema(columns: Sequence[str], bbox: Sequence[float], meta: Mapping[str, Any]) -> pa.Schema:
    """Arrow schema with GeoParquet 1.0 ``geo`` metadata (cell centroids, EPSG:32651)."""
    geo = {"version": "1.0.0", "primary_column": "geometry",
           "columns": {"geometry": {"encoding": "WKB", "geometry_types": ["Point"],
                                    "crs": CRS.from_user_input(METRIC_CRS).to_json_dict(),
                                    "bbox": [float(v) for v in bbox]}}}
    fields = [pa.field("cell_id", pa.int64()), pa.field("gx", pa.int32()), pa.field("gy", pa.int32()),
              pa.field("geometry", pa.binary())]
    fields += [pa.field(c, pa.float32()) for c in columns]
    return pa.schema(fields, metadata={b"geo": json.dumps(geo).encode(),
                                       b"geo_app": json.dumps(meta, ensure_ascii=False).encode()})


def write_part(part: Mapping[str, Any], columns: Sequence[str], meta: Mapping[str, Any], path: Path | str) -> None:
    """Write one chunk as a GeoParquet file (atomically: temporary name, then rename).

    Parameters
    ----------
    part
        A :func:`~geo_app.analysis.batch.chunk.compute_chunk` result.
    columns
        Names of the ``minutes`` rows.
    meta
        JSON-safe metadata stored under the ``geo_app`` key.
    path
        Target file.
    """
    x, y = part["x"], part["y"]
    bbox = [x.min(), y.min(), x.max(), y.max()] if len(x) else [0.0, 0.0, 0.0, 0.0]
    schema = _schema(columns, bbox, meta)
    arrays = [pa.array(part["cell_id"], pa.int64()), pa.array(part["gx"], pa.int32()),
              pa.array(part["gy"], pa.int32()), _wkb_points(x, y)]
    arrays += [pa.array(col, pa.float32()) for col in part["minutes"]]
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    # No dictionary encoding: travel times rarely repeat, and trying it costs ~4x the write time.
    pq.write_table(pa.Table.from_arrays(arrays, schema=schema), tmp, compression="snappy", use_dictionary=False)
    tmp.replace(path)


def write_empty_part(columns: Sequence[str], meta: Mapping[str, Any], path: Path | str) -> None:
    """Write a part file with the schema and no rows (keeps a dataset without cells readable)."""
    empty = {"cell_id": np.empty(0, np.int64), "gx": np.empty(0, np.int32), "gy": np.empty(0, np.int32),
             "x": np.empty(0), "y": np.empty(0), "minutes": np.empty((len(columns), 0), np.float32)}
    write_part(empty, columns, meta, path)


def _summary(units: Sequence[Unit], columns: Sequence[Column], counts: np.ndarray, cells: np.ndarray) -> pd.DataFrame:
    """Long table: one row per unit x column, shares of cells within each threshold."""
    rows = []
    for i, u in enumerate(units):
        for c, col in enumerate(columns):
            base = {"level": u.level, "code": u.code, "name_zh": u.name_zh, "column": col.name,
                    "destination": col.destination.key, "destination_name": col.destination.name,
                    "mode": col.mode, "scenario": col.scenario, "cells": int(cells[i])}
            if u.geometry is None:
                status, shares = "no boundary", [None] * len(THRESHOLDS)
            elif cells[i] == 0:
                status, shares = "outside extent", [None] * len(THRESHOLDS)
            else:
                status = "ok"
                shares = [round(float(counts[i, c, j]) / float(cells[i]), 4) for j in range(len(THRESHOLDS))]
            rows.append({**base, **{f"share_within_{th}": s for th, s in zip(THRESHOLDS, shares, strict=True)},
                         "status": status})
    return pd.DataFrame(rows)
