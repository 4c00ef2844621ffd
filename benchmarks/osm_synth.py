"""Generate a synthetic province-size OSM extract (``.osm.pbf``) with osmium's writer.

SYNTHETIC, NOT DATA: a jittered lattice of roads over Jilin's bounding box (121.6–131.3 E,
40.8–46.3 N), ~1 km between junctions, so the metro clip keeps part of it. Defaults give about
1.5 M nodes and 300 k ways:

- arterial lines: every 40th line a motorway (two one-way carriageways of their own, joined to
  the lattice by ``motorway_link`` ramps every 8 junctions), every 20th (offset 10) a trunk
  road, every 10th (offset 5) a primary road, two in ten secondary roads; ``ref``/``name`` tags
  (``G12``, ``S205``, ``X318``, ``…号国道``);
- the rest local ways of 1–2 lattice edges: tertiary 22 %, unclassified 33 %, residential 40 %,
  service 5 % (by count), 15 % of them left out (dead ends, small disconnected parts);
- 4 % of residential ways ``oneway=yes``, 1 % ``oneway=-1``; ``maxspeed`` on 10–50 % of ways by
  class, in the forms OSM uses (``120``, ``CN:motorway``, ``60;80``, ``CN:urban``, ``30 mph``);
- 1–3 shape nodes (mean 1.55) on every lattice edge, so degree-2 contraction has work to do.

``python benchmarks/osm_synth.py OUT.osm.pbf [--rows 540 --cols 680] [--cut W,S,E,N CUT.osm]``.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

JILIN_BBOX = (121.6, 40.8, 131.3, 46.3)
LOCAL = ("tertiary", "unclassified", "residential", "service")
LOCAL_SHARE = (0.22, 0.33, 0.40, 0.05)
MAXSPEED = {  # class -> (share of ways tagged, values, their shares)
    "motorway": (0.5, ("120", "CN:motorway", "100"), (0.7, 0.2, 0.1)),
    "trunk": (0.35, ("80", "60;80", "CN:rural"), (0.8, 0.1, 0.1)),
    "primary": (0.3, ("60", "70", "CN:rural"), (0.6, 0.2, 0.2)),
    "secondary": (0.2, ("60", "40"), (0.7, 0.3)),
    "local": (0.1, ("40", "30", "CN:urban", "CN:rural", "30 mph"), (0.35, 0.3, 0.2, 0.14, 0.01)),
}


def line_class(i: int) -> str | None:
    """Class of lattice line ``i`` (None: local ways of varying class)."""
    if i % 40 == 0:
        return "motorway"
    if i % 20 == 10:
        return "trunk"
    if i % 10 == 5:
        return "primary"
    if i % 10 in (2, 8):
        return "secondary"
    return None


@dataclass
class Synth:
    """Nodes and ways being generated."""

    rows: int
    cols: int
    rng: np.random.Generator
    bbox: tuple[float, float, float, float] = JILIN_BBOX
    lon: list[float] = field(default_factory=list)
    lat: list[float] = field(default_factory=list)
    ways: list[tuple[list[int], dict[str, str]]] = field(default_factory=list)

    def __post_init__(self) -> None:
        w, s, e, n = self.bbox
        self.dx, self.dy = (e - w) / self.cols, (n - s) / self.rows
        r, c = np.meshgrid(np.arange(self.rows), np.arange(self.cols), indexing="ij")
        jit = self.rng.uniform(-0.2, 0.2, (2, self.rows * self.cols))
        self.lon = list(w + (c.ravel() + 0.5 + jit[0]) * self.dx)  # node id = index + 1
        self.lat = list(s + (r.ravel() + 0.5 + jit[1]) * self.dy)

    def junction(self, horizontal: bool, line: int, pos: int) -> int:
        """Node id of the junction at ``pos`` along a line."""
        r, c = (line, pos) if horizontal else (pos, line)
        return 1 + r * self.cols + c

    def node(self, lon: float, lat: float) -> int:
        """Add a node; return its id."""
        self.lon.append(lon)
        self.lat.append(lat)
        return len(self.lon)

    def shape(self, a: int, b: int, m: int, offset: tuple[float, float] = (0.0, 0.0)) -> list[int]:
        """``m`` shape nodes between nodes a and b (jittered sideways), shifted by ``offset``."""
        ax, ay, bx, by = self.lon[a - 1], self.lat[a - 1], self.lon[b - 1], self.lat[b - 1]
        out = []
        for f in (np.arange(1, m + 1) / (m + 1)):
            side = self.rng.normal(0, 0.04)
            out.append(self.node(ax + f * (bx - ax) - side * (by - ay) + offset[0],
                                 ay + f * (by - ay) + side * (bx - ax) + offset[1]))
        return out

    def tags(self, cls: str, line: int) -> dict[str, str]:
        """Tags of a new way of class ``cls`` on lattice line ``line``."""
        t = {"highway": cls}
        n = line // 10
        if cls == "trunk":
            t.update(ref=f"G{100 + n}", name=f"{100 + n}号国道")
        elif cls == "primary":
            t.update(ref=f"S{200 + n}")
        elif cls == "secondary":
            t.update(ref=f"X{300 + n}")
        elif self.rng.random() < 0.2:
            t["name"] = f"乡路{len(self.ways)}"
        share, values, p = MAXSPEED.get(cls, MAXSPEED["local"])
        if cls != "service" and self.rng.random() < share:
            t["maxspeed"] = str(self.rng.choice(values, p=p))
        if cls == "residential":
            u = self.rng.random()
            if u < 0.04:
                t["oneway"] = "yes"
            elif u < 0.05:
                t["oneway"] = "-1"
        return t


def _shape_count(rng: np.random.Generator) -> int:
    return int(rng.choice((1, 2, 3), p=(0.55, 0.35, 0.1)))


def ordinary_line(s: Synth, horizontal: bool, line: int, length: int) -> None:
    """Ways along one lattice line (arterial: sections of 6 edges; local: 1–2 edges, 15 % left out)."""
    cls = line_class(line)
    pos = 0
    while pos < length - 1:
        span = min(6 if cls else int(s.rng.integers(1, 3)), length - 1 - pos)
        if cls is None and s.rng.random() < 0.15:
            pos += span
            continue
        kind = cls or str(s.rng.choice(LOCAL, p=LOCAL_SHARE))
        junctions = [s.junction(horizontal, line, pos + j) for j in range(span + 1)]
        seq: list[int] = []
        for a, b in zip(junctions, junctions[1:], strict=False):
            seq += [a, *s.shape(a, b, _shape_count(s.rng))]
        seq.append(junctions[-1])
        s.ways.append((seq, s.tags(kind, line)))
        pos += span


def motorway_line(s: Synth, horizontal: bool, line: int, length: int) -> None:
    """Two one-way carriageways beside the line, with ramps to the lattice junction every 8 positions."""
    off = 0.0003
    for sign in (1, -1):
        shift = (0.0, sign * off) if horizontal else (sign * off, 0.0)
        carriage = []
        for pos in range(length):
            j = s.junction(horizontal, line, pos)
            carriage.append(s.node(s.lon[j - 1] + shift[0], s.lat[j - 1] + shift[1]))
        for start in range(0, length - 1, 10):
            stop = min(start + 10, length - 1)
            seq: list[int] = []
            for p in range(start, stop):
                seq += [carriage[p], *s.shape(carriage[p], carriage[p + 1], 3)]
            seq.append(carriage[stop])
            if sign < 0:
                seq.reverse()
            tags = s.tags("motorway", line)
            tags.update(oneway="yes", ref=f"G{10 + line // 40}", name=f"{line // 40}号高速")
            s.ways.append((seq, tags))
        for pos in range(4, length, 8):
            j = s.junction(horizontal, line, pos)
            s.ways.append(([j, carriage[pos]], {"highway": "motorway_link", "oneway": "yes"}))
            s.ways.append(([carriage[pos], j], {"highway": "motorway_link", "oneway": "yes"}))


def generate(rows: int = 540, cols: int = 680, seed: int = 15) -> Synth:
    """Generate the lattice (see the module docstring)."""
    s = Synth(rows, cols, np.random.default_rng(seed))
    for horizontal, n_lines, length in ((True, rows, cols), (False, cols, rows)):
        for line in range(n_lines):
            (motorway_line if line_class(line) == "motorway" else ordinary_line)(s, horizontal, line, length)
    return s


def write(s: Synth, path: Path, keep_way: np.ndarray | None = None) -> dict[str, int]:
    """Write nodes (only those the kept ways use) and ways with ``osmium.SimpleWriter``."""
    import osmium

    ways = [w for i, w in enumerate(s.ways) if keep_way is None or keep_way[i]]
    used = np.zeros(len(s.lon) + 1, dtype=bool)
    for seq, _ in ways:
        used[seq] = True
    lon, lat = np.asarray(s.lon), np.asarray(s.lat)
    path.unlink(missing_ok=True)
    with osmium.SimpleWriter(str(path)) as w:
        for nid in np.flatnonzero(used).tolist():
            w.add_node(osmium.osm.mutable.Node(id=nid, location=(lon[nid - 1], lat[nid - 1]), version=1))
        for wid, (seq, tags) in enumerate(ways, start=1):
            w.add_way(osmium.osm.mutable.Way(id=wid, nodes=seq, tags=tags, version=1))
    return {"nodes": int(used.sum()), "ways": len(ways)}


def cut_mask(s: Synth, bbox: tuple[float, float, float, float]) -> np.ndarray:
    """Ways with a node inside ``bbox`` (for a smaller .osm cut of the same data)."""
    lon, lat = np.asarray(s.lon), np.asarray(s.lat)
    w, so, e, n = bbox
    inside = (lon >= w) & (lon <= e) & (lat >= so) & (lat <= n)
    return np.array([bool(inside[np.asarray(seq) - 1].any()) for seq, _ in s.ways])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--rows", type=int, default=540)
    ap.add_argument("--cols", type=int, default=680)
    ap.add_argument("--seed", type=int, default=15)
    ap.add_argument("--cut", nargs=2, metavar=("W,S,E,N", "CUT.osm"))
    args = ap.parse_args()
    t0 = time.perf_counter()
    s = generate(args.rows, args.cols, args.seed)
    counts = write(s, args.out)
    print(f"wrote {args.out}: {counts['nodes']:,} nodes, {counts['ways']:,} ways in {time.perf_counter() - t0:.1f} s")
    if args.cut:
        bbox = tuple(float(x) for x in args.cut[0].split(","))
        sub = write(s, Path(args.cut[1]), cut_mask(s, bbox))  # type: ignore[arg-type]
        print(f"wrote {args.cut[1]}: {sub['nodes']:,} nodes, {sub['ways']:,} ways")


if __name__ == "__main__":
    main()
