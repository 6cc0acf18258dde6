"""Boundary geometry: parse GeoJSON, keep Polygon/MultiPolygon, repair what is invalid."""

from __future__ import annotations

import json

import numpy as np
import shapely
from django.utils.translation import gettext as _
from shapely.geometry import MultiPolygon, Polygon, mapping


class GeometryError(ValueError):
    pass


def _polygonal_part(geom):
    """The polygonal part of what make_valid returns (it may add lines and points)."""
    if isinstance(geom, Polygon | MultiPolygon):
        return geom
    polygons = []
    for part in getattr(geom, "geoms", []):
        if isinstance(part, Polygon):
            polygons.append(part)
        elif isinstance(part, MultiPolygon):
            polygons.extend(part.geoms)
    if not polygons:
        return None
    return polygons[0] if len(polygons) == 1 else MultiPolygon(polygons)


def _polygon(rings) -> Polygon:
    if not rings:
        return Polygon()
    # Rings as geometries first: holes with different vertex counts make no 2-D array.
    shell, *holes = (shapely.linearrings(np.asarray(ring, dtype=float)) for ring in rings)
    return shapely.polygons(shell, holes=holes or None)


def polygonal_shape(value: dict) -> Polygon | MultiPolygon:
    """shapely's shape() for a GeoJSON Polygon/MultiPolygon, several times faster.

    shape() converts every coordinate pair in Python; a county boundary has thousands and
    an import thousands of counties. numpy converts each ring at once. Bad coordinates
    raise ValueError or TypeError as with shape().
    """
    coordinates = value.get("coordinates")
    if value["type"] == "Polygon":
        return _polygon(coordinates)
    if not coordinates:
        return MultiPolygon()
    return shapely.multipolygons([_polygon(rings) for rings in coordinates])


def parse_boundary(value) -> tuple[Polygon | MultiPolygon, bool]:
    """Return (geometry, repaired) for a GeoJSON value (dict or JSON text).

    Raises GeometryError with a readable message when the value is not a usable
    Polygon or MultiPolygon.
    """
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except (ValueError, RecursionError):
            # RecursionError: arrays nested thousands deep, which no boundary is.
            raise GeometryError(_("the boundary is not valid JSON")) from None
    if not isinstance(value, dict):
        raise GeometryError(_("the boundary must be a GeoJSON object"))
    if value.get("type") == "Feature":
        value = value.get("geometry") or {}
    if value.get("type") not in ("Polygon", "MultiPolygon"):
        raise GeometryError(_("the boundary must be a Polygon or a MultiPolygon"))
    try:
        geom = polygonal_shape(value)
    except (
        ValueError,
        TypeError,
        KeyError,
        IndexError,
        AttributeError,
        shapely.errors.GEOSException,
    ):
        raise GeometryError(_("the boundary's coordinates cannot be read")) from None
    if geom.is_empty:
        raise GeometryError(_("the boundary is empty"))
    # NaN and infinity: GEOS leaves NaN out of the bounds, so the range test cannot see it.
    if not np.isfinite(shapely.get_coordinates(geom)).all():
        raise GeometryError(_("the boundary's coordinates are not all numbers"))
    minx, miny, maxx, maxy = geom.bounds
    if minx < -180 or maxx > 180 or miny < -90 or maxy > 90:
        raise GeometryError(_("the boundary lies outside longitude -180..180 / latitude -90..90"))
    if geom.is_valid:
        return geom, False
    fixed = _polygonal_part(shapely.make_valid(geom))
    if fixed is None or fixed.is_empty:
        raise GeometryError(_("the boundary cannot be repaired into a polygon"))
    return fixed, True


def _ring_coords(ring) -> list:
    return shapely.get_coordinates(ring, include_z=shapely.has_z(ring)).tolist()


def _polygon_coords(polygon: Polygon) -> list:
    return [_ring_coords(polygon.exterior), *(_ring_coords(ring) for ring in polygon.interiors)]


def to_geojson(geom) -> dict:
    """GeoJSON of a geometry with plain lists and floats, so that it compares equal to what
    a JSONField gives back (the import tells unchanged boundaries by that)."""
    # Straight from the coordinate arrays: a third of the time of mapping() plus a JSON
    # round trip, which counts when thousands of detailed boundaries are imported.
    if isinstance(geom, Polygon) and not geom.is_empty:
        return {"type": "Polygon", "coordinates": _polygon_coords(geom)}
    if isinstance(geom, MultiPolygon) and not geom.is_empty:
        return {"type": "MultiPolygon", "coordinates": [_polygon_coords(p) for p in geom.geoms]}
    # Anything else: mapping() returns tuples; JSON wants lists.
    return json.loads(json.dumps(mapping(geom)))
