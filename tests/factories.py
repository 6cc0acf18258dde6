"""Factories for the region tree, users and their roles."""

from __future__ import annotations

import factory
from shapely.geometry import box

from grids.geometry import to_geojson
from grids.models import Membership, Region, RegionBoundary, User


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    full_name = factory.Sequence(lambda n: f"用户{n}")
    password = factory.django.Password("pass-word-123")


class RegionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Region
        django_get_or_create = ("code",)

    name = factory.Sequence(lambda n: f"区域{n}")
    code = factory.Sequence(lambda n: f"{540000000000 + n:012d}")
    level = "city"


def region_with_box(
    name: str, code: str, level: str, parent: Region | None, bounds: tuple, kind: str = ""
) -> Region:
    """A region whose boundary is the rectangle (min_lng, min_lat, max_lng, max_lat)."""
    geom = box(*bounds)
    region = Region(name=name, code=code, level=level, parent=parent, kind=kind)
    region.set_bbox(geom)
    region.save()
    RegionBoundary.objects.create(region=region, geometry=to_geojson(geom))
    return region


def make_member(username: str, region: Region, role: str, **extra) -> User:
    user = UserFactory(username=username, **extra)
    Membership.objects.create(user=user, region=region, role=role)
    return user
