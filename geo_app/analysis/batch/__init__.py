"""Batch accessibility on Dask: travel time from every cell of an extent to many destinations.

For each destination x mode x scenario there is ONE reverse one-to-all search (direction
``to``) on that scenario's :class:`~geo_app.network.graph.TravelGraph`. The extent's cells are
then processed in row bands ("chunks") on Dask workers: a chunk snaps its cell centres to the k
nearest road-layer nodes once and evaluates every destination column with the formula of
:func:`geo_app.analysis.surface.travel_time_surface` (min over the k nodes of node time +
access, and for ``car``/``best`` the direct off-network trip), so a batch column equals that
surface cell for cell. Cells lie on the same global lattice of ``cell_m`` in EPSG:32651 (cell
``(gx, gy)`` spans ``[gx*cell, (gx+1)*cell) x [gy*cell, (gy+1)*cell)``); a cell belongs to the
extent when its centre lies in the extent polygon.

Memory is bounded: a task holds one chunk, and the worker that computed it writes it as one
part file of the output GeoParquet dataset (``OUT.parquet/part-NNNNN.parquet``), so no process
ever holds all cells and the (serial) encoding is spread over the workers too. Only per-county
and per-township counts of cells within 60/90/120 min travel back to the client, which adds
them up and writes two summary CSVs.

Modules, one per job:

- :mod:`.grid`: the lattice grid, destinations, output columns, summary units and their loaders;
- :mod:`.portable`: travel graphs that pickle to workers, and the reverse node times computed there;
- :mod:`.chunk`: one row band's travel times to every column and its per-unit counts;
- :mod:`.parquet`: GeoParquet part files and the summary tables;
- :mod:`.run`: the Dask client and the driver :func:`batch_reach`.

Nothing here imports Flask.
"""

from __future__ import annotations

from ...network.roads import METRIC_CRS, to_metric
from .chunk import compute_chunk
from .grid import THRESHOLDS, Column, Destination, Grid, Unit, load_destinations, load_extent, load_units
from .parquet import write_part
from .portable import PortableGraph, node_times_to
from .run import BASE_SCENARIO, DEFAULT_CHUNK_CELLS, DEFAULT_MAX_MINUTES, BatchResult, batch_reach, dask_client

__all__ = [
    "BASE_SCENARIO",
    "DEFAULT_CHUNK_CELLS",
    "DEFAULT_MAX_MINUTES",
    "METRIC_CRS",
    "THRESHOLDS",
    "BatchResult",
    "Column",
    "Destination",
    "Grid",
    "PortableGraph",
    "Unit",
    "batch_reach",
    "compute_chunk",
    "dask_client",
    "load_destinations",
    "load_extent",
    "load_units",
    "node_times_to",
    "to_metric",
    "write_part",
]
