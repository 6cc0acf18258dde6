"""locate(lng, lat) -> the deepest region whose boundary covers the point.

Every process keeps an STRtree of prepared shapely geometries in memory. The tree answers
bounding-box candidates; prepared geometries answer `covers` for those few. A point on an
edge counts as covered. The deepest level wins; between equals, the smallest code. The
index is rebuilt when the boundary version stamp in the database moves.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import shapely
from django.conf import settings

from grids.geometry import polygonal_shape
from grids.models import LEVEL_DEPTH, BoundaryVersion, Region, RegionBoundary


@dataclass(frozen=True)
class Located:
    id: int
    code: str
    name: str
    level: str
    # ((level, region id), …) from the root to this region: lets a submit fill the case's
    # per-level ancestor columns without asking the database.
    path: tuple[tuple[str, int], ...] = field(default=(), compare=False)

    def ancestor_id(self, level: str) -> int | None:
        return next((pk for lvl, pk in self.path if lvl == level), None)

    @property
    def parent_id(self) -> int | None:
        return self.path[-2][1] if len(self.path) > 1 else None


def _polygonal(boundary: Any):
    """A shapely Polygon/MultiPolygon from GeoJSON (or a geometry as is), else None."""
    if isinstance(boundary, shapely.Geometry):
        geom = boundary
    elif isinstance(boundary, dict) and boundary.get("type") in ("Polygon", "MultiPolygon"):
        try:
            geom = polygonal_shape(boundary)
        except (ValueError, TypeError, IndexError, shapely.errors.ShapelyError):
            return None
    else:
        return None
    if geom.is_empty or geom.geom_type not in ("Polygon", "MultiPolygon"):
        return None
    return geom


class BoundaryIndex:
    """Rows are (region id, code, name, level, boundary as GeoJSON or a shapely geometry)."""

    def __init__(
        self,
        rows: Iterable[tuple[int, str, str, str, Any]],
        paths: dict[int, tuple[tuple[str, int], ...]] | None = None,
    ):
        entries = []
        paths = paths or {}
        for region_id, code, name, level, boundary in rows:
            geom = _polygonal(boundary)
            if geom is None or level not in LEVEL_DEPTH:
                continue
            located = Located(region_id, code, name, level, paths.get(region_id, ()))
            entries.append(((-LEVEL_DEPTH[level], code), geom, located))
        # Store the geometries in the order a tie is broken (deeper first, then the smaller
        # code): the tree returns positions, so the first covering position is the answer
        # and locate() can stop there instead of testing and ranking every candidate.
        entries.sort(key=lambda entry: entry[0])
        self.geoms = [entry[1] for entry in entries]
        self.regions = [entry[2] for entry in entries]
        geoms = np.array(self.geoms, dtype=object)
        shapely.prepare(geoms)
        self.tree = shapely.STRtree(geoms) if entries else None

    def __len__(self) -> int:
        return len(self.regions)

    def locate(self, lng: float, lat: float) -> Located | None:
        if self.tree is None:
            return None
        point = shapely.Point(lng, lat)
        candidates = self.tree.query(point)
        if candidates.size == 0:
            return None
        geoms = self.geoms
        # Usually the first candidate (the grid) covers the point; the rest are its
        # ancestors, so one prepared `covers` call is the common case.
        for position in np.sort(candidates).tolist():
            if geoms[position].covers(point):
                return self.regions[position]
        return None


_lock = threading.Lock()
_state: dict = {"index": None, "version": None, "checked": 0.0}


def current_version() -> str:
    return BoundaryVersion.objects.filter(pk=1).values_list("stamp", flat=True).first() or ""


def bump_version() -> None:
    """Tell every process that boundaries changed (call inside the writing transaction)."""
    BoundaryVersion.objects.update_or_create(pk=1, defaults={"stamp": uuid.uuid4().hex})


def region_paths() -> dict[int, tuple[tuple[str, int], ...]]:
    """Every region's path from its root as ((level, id), …), from one narrow query."""
    parent_of, level_of = {}, {}
    for pk, parent_id, level in Region.objects.values_list("id", "parent_id", "level").iterator(
        chunk_size=10000
    ):
        parent_of[pk] = parent_id
        level_of[pk] = level
    paths: dict[int, tuple[tuple[str, int], ...]] = {}

    def path_of(pk: int) -> tuple[tuple[str, int], ...]:
        # Iterative: climb to the first region whose path is known, then walk back down.
        chain = []
        node = pk
        while node is not None and node not in paths:
            chain.append(node)
            node = parent_of.get(node)
        base = paths[node] if node is not None else ()
        for item in reversed(chain):
            base = (*base, (level_of[item], item))
            paths[item] = base
        return paths[pk]

    for pk in parent_of:
        path_of(pk)
    return paths


def load_index() -> BoundaryIndex:
    rows = RegionBoundary.objects.values_list(
        "region_id", "region__code", "region__name", "region__level", "geometry"
    ).iterator(chunk_size=2000)
    return BoundaryIndex(rows, region_paths())


def get_index() -> BoundaryIndex:
    now = time.monotonic()
    state = _state
    if state["index"] is not None and now - state["checked"] < settings.LOCATE_INDEX_CHECK_SECONDS:
        return state["index"]
    # Read the stamp before the boundaries: if they change in between, the index is newer
    # than its stamp and the next check merely rebuilds once more; never the reverse.
    version = current_version()
    with _lock:
        if state["index"] is None or state["version"] != version:
            state["index"] = load_index()
            state["version"] = version
        state["checked"] = now
    return state["index"]


def reset_index() -> None:
    with _lock:
        _state.update(index=None, version=None, checked=0.0)


def locate(lng: float, lat: float) -> Located | None:
    """The deepest region covering (lng, lat), or None outside every boundary."""
    return get_index().locate(lng, lat)


def locate_region(lng: float, lat: float) -> Region | None:
    hit = locate(lng, lat)
    return Region.objects.filter(pk=hit.id).first() if hit else None
