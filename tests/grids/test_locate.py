"""locate(lng, lat): the deepest region whose boundary covers the point."""

from __future__ import annotations

import pytest
from django.test import override_settings
from shapely.geometry import MultiPolygon, Polygon, box

from grids.geometry import to_geojson
from grids.locate import BoundaryIndex, Located, bump_version, locate, locate_region
from grids.models import Region, RegionBoundary
from tests.factories import region_with_box

pytestmark = pytest.mark.django_db


def test_a_point_inside_gets_its_grid(tree):
    hit = locate(91.2, 29.7)
    assert hit == Located(tree.grid_a1.pk, "540502001001001", "江塘村第一网格", "grid")
    assert locate(91.2, 29.2).code == tree.grid_a2.code
    assert locate(91.7, 29.5).code == tree.grid_b1.code
    assert locate_region(91.2, 29.7) == tree.grid_a1


@pytest.mark.parametrize("point", [(0, 0), (95, 29.5), (91.5, 30.0001), (-91.2, -29.7)])
def test_a_point_outside_every_region_is_none(tree, point):
    assert locate(*point) is None
    assert locate_region(*point) is None


def test_a_point_on_a_shared_border_is_covered_and_the_smallest_code_wins(tree):
    # Grids A1 (north) and A2 (south) share lat 29.5.
    assert locate(91.2, 29.5).code == tree.grid_a1.code
    # Grids A1 and B1 (different townships) share lng 91.5.
    assert locate(91.5, 29.7).code == tree.grid_a1.code
    # The outer edge and a corner still count as inside.
    assert locate(91.0, 29.7).code == tree.grid_a1.code
    assert locate(92.0, 29.0).code == tree.grid_b1.code


def test_the_deepest_level_wins_over_its_ancestors(tree):
    # The city, county, township, village and grid all cover this point.
    assert locate(91.7, 29.9).level == "grid"
    # Without the grid's boundary the village is the deepest.
    RegionBoundary.objects.filter(region=tree.grid_b1).delete()
    assert locate(91.7, 29.9).code == tree.village_b.code
    # The order the rows were stored in does not matter.
    assert locate(100.5, 29.5).code == tree.other_county.code


def _with_boundary(name: str, code: str, level: str, parent, geom) -> Region:
    region = Region(name=name, code=code, level=level, parent=parent)
    region.set_bbox(geom)
    region.save()
    RegionBoundary.objects.create(region=region, geometry=to_geojson(geom))
    return region


def test_a_point_in_a_hole_falls_to_the_parent_or_to_nothing(tree):
    # A grid made of two squares, each with a hole, inside village A's north half.
    ring = box(91.0, 29.5, 91.2, 29.7)
    holed = MultiPolygon(
        [
            Polygon(ring.exterior.coords, [box(91.05, 29.55, 91.1, 29.6).exterior.coords]),
            Polygon(
                box(91.3, 29.5, 91.5, 29.7).exterior.coords,
                [box(91.35, 29.55, 91.4, 29.6).exterior.coords],
            ),
        ]
    )
    RegionBoundary.objects.filter(region=tree.grid_a1).delete()
    grid = _with_boundary("带洞网格", "540502001001009", "grid", tree.village_a, holed)

    assert locate(91.01, 29.51).code == grid.code  # in the first square
    assert locate(91.31, 29.51).code == grid.code  # in the second square
    assert locate(91.07, 29.57).code == tree.village_a.code  # in a hole: the village
    assert locate(91.37, 29.57).code == tree.village_a.code
    assert locate(91.05, 29.57).code == grid.code  # on the hole's edge: covered

    # A holed city with nothing under it: a point in the hole is nowhere.
    city = Polygon(
        box(120, 30, 121, 31).exterior.coords, [box(120.4, 30.4, 120.6, 30.6).exterior.coords]
    )
    _with_boundary("环城", "330100000000", "city", None, MultiPolygon([city]))
    assert locate(120.1, 30.1).code == "330100000000"
    assert locate(120.5, 30.5) is None


def test_the_index_is_rebuilt_when_the_version_stamp_moves(tree):
    assert locate(91.2, 29.7).code == tree.grid_a1.code
    boundary = RegionBoundary.objects.get(region=tree.grid_a1)

    # A bulk update sends no signal: the process keeps its index until the stamp moves.
    RegionBoundary.objects.filter(pk=boundary.pk).update(geometry=to_geojson(box(95, 35, 96, 36)))
    assert locate(91.2, 29.7).code == tree.grid_a1.code
    bump_version()
    assert locate(91.2, 29.7).code == tree.village_a.code
    assert locate(95.5, 35.5).code == tree.grid_a1.code

    # Saving through the ORM moves the stamp by itself (grids.signals).
    boundary.refresh_from_db()
    boundary.geometry = to_geojson(box(91, 29.5, 91.5, 30))
    boundary.save()
    assert locate(91.2, 29.7).code == tree.grid_a1.code
    assert locate(95.5, 35.5) is None


@override_settings(LOCATE_INDEX_CHECK_SECONDS=60)
def test_between_checks_locate_does_not_touch_the_database(tree, django_assert_num_queries):
    locate(91.2, 29.7)
    with django_assert_num_queries(0):
        assert locate(91.7, 29.5).code == tree.grid_b1.code


def test_a_new_region_is_found_after_it_is_saved(tree):
    assert locate(100.5, 31.5) is None
    region_with_box("新城", "513400000000", "city", None, (100, 31, 101, 32))
    assert locate(100.5, 31.5).code == "513400000000"


# --- The index on its own (no database) ---------------------------------------------------


def _rows(*specs):
    return [
        (n, code, code, level, to_geojson(box(*bounds)))
        for n, (code, level, bounds) in enumerate(specs, start=1)
    ]


def test_index_order_of_rows_does_not_matter():
    specs = [
        ("540500000000", "city", (0, 0, 10, 10)),
        ("540502000000", "county", (0, 0, 5, 5)),
        ("540502001000", "township", (0, 0, 4, 4)),
        ("540501000000", "county", (5, 0, 10, 10)),
    ]
    for rows in (_rows(*specs), _rows(*reversed(specs))):
        index = BoundaryIndex(rows)
        assert index.locate(1, 1).code == "540502001000"
        assert index.locate(5, 2).code == "540501000000"  # shared edge: the smaller code
        assert index.locate(7, 7).code == "540501000000"
        assert index.locate(11, 11) is None


def test_index_skips_unusable_rows():
    rows = [
        *_rows(("540500000000", "city", (0, 0, 10, 10))),
        (2, "540502000000", "x", "county", {"type": "Point", "coordinates": [1, 1]}),
        (3, "540503000000", "x", "county", {"type": "Polygon", "coordinates": "nonsense"}),
        (4, "540504000000", "x", "county", None),
        (5, "540505000000", "x", "planet", to_geojson(box(0, 0, 1, 1))),
    ]
    index = BoundaryIndex(rows)
    assert len(index) == 1
    assert index.locate(0.5, 0.5).code == "540500000000"
    assert BoundaryIndex([]).locate(0, 0) is None


def test_the_index_carries_each_region_path_from_the_root(tree):
    hit = locate(91.2, 29.7)
    assert [level for level, _ in hit.path] == ["city", "county", "township", "village", "grid"]
    assert hit.ancestor_id("township") == tree.town_a.pk
    assert hit.parent_id == tree.village_a.pk


def test_a_resident_report_fills_the_ancestor_columns_without_region_queries(
    tree, django_assert_max_num_queries
):
    from grievances.models import Category, Grievance
    from grievances.services import grievance_submit

    category = Category.objects.get(code="hazard.road")
    locate(91.2, 29.7)  # the index is built once per process, not per report
    with django_assert_max_num_queries(6):
        case = grievance_submit(
            user=None,
            title="t",
            description="d",
            category=category,
            source="resident_web",
            lng=91.2,
            lat=29.7,
        )
    case = Grievance.objects.get(pk=case.pk)
    assert (case.region_id, case.village_id, case.township_id, case.county_id, case.city_id) == (
        tree.grid_a1.pk,
        tree.village_a.pk,
        tree.town_a.pk,
        tree.county.pk,
        tree.city.pk,
    )
    assert case.owning_centre_id == tree.village_a.pk
