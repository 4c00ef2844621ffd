"""Road networks built straight from OpenStreetMap extracts (``.osm.pbf``, ``.osm``, ``.osm.bz2``, ``.graphml``).

One module per job: :mod:`.tags` (drivable filter, oneway, access, maxspeed, class speeds),
:mod:`.clip` (county / metro / bbox / polygon), :mod:`.read` (pyosmium reader, clipping while
reading), :mod:`.build` and :mod:`.contract` (CSR-ready edge arrays, largest strongly connected
part, degree-2 contraction), :mod:`.store` (the compact ``.npz`` and loading it as a
``RoadNetwork``), :mod:`.lookup` (edges of a road by ``ref``/``name``) and :mod:`.pipeline`
(the whole build with its summary). Nothing here imports Flask.
"""

from __future__ import annotations

from .clip import Clip, resolve_clip
from .lookup import known_roads, road_edges
from .pipeline import build_osm_network, summary_lines
from .store import OsmRoadNetwork, load_osm_network, read_meta

__all__ = ["Clip", "OsmRoadNetwork", "build_osm_network", "known_roads", "load_osm_network", "read_meta",
           "resolve_clip", "road_edges", "summary_lines"]
