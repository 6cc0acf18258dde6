"""Boundary geometry: parse GeoJSON, keep Polygon/MultiPolygon, repair what is invalid."""

from __future__ import annotations

import json

import shapely
from django.utils.translation import gettext as _
from shapely.geometry import MultiPolygon, Polygon, mapping, shape


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


def parse_boundary(value) -> tuple[Polygon | MultiPolygon, bool]:
    """Return (geometry, repaired) for a GeoJSON value (dict or JSON text).

    Raises GeometryError with a readable message when the value is not a usable
    Polygon or MultiPolygon.
    """
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise GeometryError(_("the boundary is not valid JSON")) from None
    if not isinstance(value, dict):
        raise GeometryError(_("the boundary must be a GeoJSON object"))
    if value.get("type") == "Feature":
        value = value.get("geometry") or {}
    if value.get("type") not in ("Polygon", "MultiPolygon"):
        raise GeometryError(_("the boundary must be a Polygon or a MultiPolygon"))
    try:
        geom = shape(value)
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, shapely.errors.GEOSException):
        raise GeometryError(_("the boundary's coordinates cannot be read")) from None
    if geom.is_empty:
        raise GeometryError(_("the boundary is empty"))
    minx, miny, maxx, maxy = geom.bounds
    if minx < -180 or maxx > 180 or miny < -90 or maxy > 90:
        raise GeometryError(_("the boundary lies outside longitude -180..180 / latitude -90..90"))
    if geom.is_valid:
        return geom, False
    fixed = _polygonal_part(shapely.make_valid(geom))
    if fixed is None or fixed.is_empty:
        raise GeometryError(_("the boundary cannot be repaired into a polygon"))
    return fixed, True


def to_geojson(geom) -> dict:
    data = mapping(geom)
    # mapping() returns tuples; JSON wants lists, and a stable form compares equal.
    return json.loads(json.dumps(data))
