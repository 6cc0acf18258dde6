"""locate(lng, lat) -> the deepest region whose boundary covers the point.

Every process keeps an STRtree of prepared shapely geometries in memory. The tree answers
bounding-box candidates; prepared geometries answer `covers` for those few. A point on an
edge counts as covered. The deepest level wins; between equals, the smallest code. The
index is rebuilt when the boundary version stamp in the database moves.
"""

from __future__ import annotations

import threading
import uuid
import time
from dataclasses import dataclass

import numpy as np
import shapely
from django.conf import settings
from shapely.geometry import shape

from grids.models import LEVEL_DEPTH, BoundaryVersion, Region, RegionBoundary


@dataclass(frozen=True)
class Located:
    id: int
    code: str
    name: str
    level: str


class BoundaryIndex:
    def __init__(self, rows: list[tuple[int, str, str, str, dict]]):
        geoms, regions = [], []
        for region_id, code, name, level, geojson in rows:
            try:
                geom = shape(geojson)
            except (ValueError, TypeError, KeyError, AttributeError):
                continue
            if geom.is_empty:
                continue
            geoms.append(geom)
            regions.append(Located(region_id, code, name, level))
        self.geoms = np.array(geoms, dtype=object)
        shapely.prepare(self.geoms)
        self.regions = regions
        # Sort key per geometry: deeper first, then the smaller code.
        self.rank = np.array(
            [(-LEVEL_DEPTH[r.level], r.code) for r in regions], dtype=[("d", "i4"), ("c", "U15")]
        )
        self.tree = shapely.STRtree(self.geoms) if geoms else None

    def __len__(self) -> int:
        return len(self.regions)

    def locate(self, lng: float, lat: float) -> Located | None:
        if self.tree is None:
            return None
        point = shapely.Point(lng, lat)
        candidates = self.tree.query(point)
        if candidates.size == 0:
            return None
        hits = candidates[shapely.covers(self.geoms[candidates], point)]
        if hits.size == 0:
            return None
        if hits.size == 1:
            return self.regions[hits[0]]
        best = hits[np.argsort(self.rank[hits], order=("d", "c"))[0]]
        return self.regions[best]


_lock = threading.Lock()
_state: dict = {"index": None, "version": None, "checked": 0.0}


def current_version() -> str:
    return BoundaryVersion.objects.filter(pk=1).values_list("stamp", flat=True).first() or ""


def bump_version() -> None:
    """Tell every process that boundaries changed (call inside the writing transaction)."""
    BoundaryVersion.objects.update_or_create(pk=1, defaults={"stamp": uuid.uuid4().hex})


def load_index() -> BoundaryIndex:
    rows = (
        RegionBoundary.objects.select_related(None)
        .values_list(
            "region_id", "region__code", "region__name", "region__level", "geometry"
        )
        .iterator(chunk_size=2000)
    )
    return BoundaryIndex(list(rows))


def get_index() -> BoundaryIndex:
    now = time.monotonic()
    state = _state
    if state["index"] is not None and now - state["checked"] < settings.LOCATE_INDEX_CHECK_SECONDS:
        return state["index"]
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
