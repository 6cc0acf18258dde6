"""How fast is locate(lng, lat)? Builds grids.locate.BoundaryIndex from generated polygons.

    .venv/bin/python bench/locate.py [--sizes 3000,100000] [--points 10000] [--seed 1]

No database: the polygons are made here. A square lattice of grids, each a jittered square
with 40 vertices (neighbours share their jittered edges, so the tiling has no gaps or
overlaps), under villages of 5x5 grids, townships of 5x5 villages and one county covering
everything, so a point is usually covered by four nested polygons. Random points fall on a
box 2% larger than the county, so a few land outside every boundary. Prints one JSON line
per size: polygon counts, index build time (from shapely geometries, and from GeoJSON dicts
as load_index() does), and microseconds per locate. Target: under 50 µs at 100,000.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np
import shapely

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

from grids.geometry import to_geojson  # noqa: E402
from grids.locate import BoundaryIndex  # noqa: E402
from grids.models import LEVEL_DEPTH  # noqa: E402

PER_SIDE = 10  # lattice steps per grid side: 40 vertices per grid
STEP = 0.0005  # degrees per lattice step: a grid is about 550 m across
JITTER = 0.25  # of a step; below 0.5 the rings stay simple and keep their orientation
VILLAGE, TOWNSHIP = 5, 25  # grids per village side, grids per township side
ORIGIN = (100.0, 30.0)


def _jitter(i: np.ndarray, j: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    # A hash of the lattice point rather than a random draw, so two polygons sharing an
    # edge get exactly the same vertices on it.
    a = np.sin(i * 12.9898 + j * 78.233) * 43758.5453
    b = np.sin(i * 39.3468 + j * 11.135) * 24634.6345
    amp = 2 * JITTER * STEP
    return (a - np.floor(a) - 0.5) * amp, (b - np.floor(b) - 0.5) * amp


def _ring(i0: int, j0: int, i1: int, j1: int) -> np.ndarray:
    """Coordinates of the closed ring around lattice points (i0, j0)..(i1, j1)."""
    si, sj = np.arange(i0, i1), np.arange(j0, j1)
    ii = np.concatenate([si, np.full(sj.size, i1), si[::-1] + 1, np.full(sj.size, i0), [i0]])
    jj = np.concatenate([np.full(si.size, j0), sj, np.full(si.size, j1), sj[::-1] + 1, [j0]])
    dx, dy = _jitter(ii, jj)
    return np.stack([ORIGIN[0] + ii * STEP + dx, ORIGIN[1] + jj * STEP + dy], axis=-1)


def _grid_polygons(side: int) -> np.ndarray:
    """All side x side grids at once (same vertex count each, so one vectorised call)."""
    a, b = (m.ravel() for m in np.meshgrid(np.arange(side), np.arange(side), indexing="ij"))
    n = PER_SIDE
    s = np.arange(n)
    i0, j0 = (a * n)[:, None], (b * n)[:, None]
    full = (a.size, n)
    ii = np.concatenate(
        [i0 + s, np.broadcast_to(i0 + n, full), i0 + n - s, np.broadcast_to(i0, full), i0], axis=1
    )
    jj = np.concatenate(
        [np.broadcast_to(j0, full), j0 + s, np.broadcast_to(j0 + n, full), j0 + n - s, j0], axis=1
    )
    dx, dy = _jitter(ii, jj)
    coords = np.stack([ORIGIN[0] + ii * STEP + dx, ORIGIN[1] + jj * STEP + dy], axis=-1)
    return shapely.polygons(coords)


def _block_polygons(side: int, block: int) -> list:
    """Parents of block x block grids; blocks at the far edges may be smaller."""
    out = []
    for a in range(0, side, block):
        for b in range(0, side, block):
            a1, b1 = min(a + block, side), min(b + block, side)
            out.append(
                shapely.Polygon(_ring(a * PER_SIDE, b * PER_SIDE, a1 * PER_SIDE, b1 * PER_SIDE))
            )
    return out


def _total(side: int) -> int:
    return side**2 + math.ceil(side / VILLAGE) ** 2 + math.ceil(side / TOWNSHIP) ** 2 + 1


def build_rows(target: int) -> tuple[list[tuple], dict]:
    side = min(range(1, 2000), key=lambda s: abs(_total(s) - target))
    levels = [
        ("grid", list(_grid_polygons(side))),
        ("village", _block_polygons(side, VILLAGE)),
        ("township", _block_polygons(side, TOWNSHIP)),
        ("county", _block_polygons(side, side)),
    ]
    rows, counts, region_id = [], {}, 0
    for level, geoms in levels:
        counts[level] = len(geoms)
        width = 15 if level == "grid" else 12
        for n, geom in enumerate(geoms):
            region_id += 1
            code = f"{(10 ** (width - 1)) + n:0{width}d}"
            rows.append((region_id, code, f"{level} {n}", level, geom))
    return rows, {"side": side, **counts}


def brute_force(rows: list[tuple], geoms: np.ndarray, lng: float, lat: float):
    """The expected answer, from every polygon at once: deepest level, then smallest code."""
    hits = np.flatnonzero(shapely.covers(geoms, shapely.Point(lng, lat)))
    if hits.size == 0:
        return None
    return min(hits, key=lambda i: (-LEVEL_DEPTH[rows[i][3]], rows[i][1]))


def bench(target: int, points: int, rng: np.random.Generator) -> dict:
    started = time.perf_counter()
    rows, counts = build_rows(target)
    generate_s = time.perf_counter() - started

    started = time.perf_counter()
    index = BoundaryIndex(rows)
    build_s = time.perf_counter() - started

    as_geojson = [(*row[:4], to_geojson(row[4])) for row in rows]
    started = time.perf_counter()
    BoundaryIndex(as_geojson)
    build_geojson_s = time.perf_counter() - started
    del as_geojson

    geoms = np.array([row[4] for row in rows], dtype=object)
    min_lng, min_lat, max_lng, max_lat = shapely.total_bounds(geoms)
    pad_lng, pad_lat = (max_lng - min_lng) * 0.01, (max_lat - min_lat) * 0.01
    lngs = rng.uniform(min_lng - pad_lng, max_lng + pad_lng, points).tolist()
    lats = rng.uniform(min_lat - pad_lat, max_lat + pad_lat, points).tolist()

    index.locate(lngs[0], lats[0])  # warm up
    started = time.perf_counter()
    found = [index.locate(lng, lat) for lng, lat in zip(lngs, lats, strict=True)]
    per_locate_us = (time.perf_counter() - started) / points * 1e6

    # The answers must be right, not only fast: check a sample against brute force.
    mismatches = 0
    for k in range(0, points, max(1, points // 200)):
        expected = brute_force(rows, geoms, lngs[k], lats[k])
        got = found[k].id if found[k] else None
        if (rows[expected][0] if expected is not None else None) != got:
            mismatches += 1
    return {
        "polygons": len(rows),
        **counts,
        "vertices_per_grid": 4 * PER_SIDE,
        "generate_s": round(generate_s, 2),
        "build_s": round(build_s, 3),
        "build_from_geojson_s": round(build_geojson_s, 2),
        "points": points,
        "hits": sum(1 for hit in found if hit is not None),
        "us_per_locate": round(per_locate_us, 2),
        "checked": len(range(0, points, max(1, points // 200))),
        "mismatches": mismatches,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="3000,100000", help="polygon counts, comma separated")
    parser.add_argument("--points", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    for size in (int(s) for s in args.sizes.split(",")):
        print(json.dumps(bench(size, args.points, rng)), flush=True)


if __name__ == "__main__":
    main()
