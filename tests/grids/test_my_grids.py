"""/api/v1/regions/mine/: the signed-in grid worker's own grids with their boundaries, for
the report page's map (drawn without tiles, kept by the phone's service worker)."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from grids.models import Membership, Region, Role
from tests.factories import region_with_box

pytestmark = pytest.mark.django_db

URL = "/api/v1/regions/mine/"


def mine(user) -> dict:
    api = APIClient()
    api.force_authenticate(user)
    response = api.get(URL)
    assert response.status_code == 200
    return response.json()


def test_a_grid_worker_gets_their_grid_as_geojson(people, tree):
    data = mine(people.grid_worker)
    assert data["type"] == "FeatureCollection" and data["truncated"] is False
    [feature] = data["features"]
    assert feature["type"] == "Feature"
    assert feature["properties"] == {"code": "540502001001001", "name": "江塘村第一网格"}
    assert feature["geometry"]["type"] == "Polygon"
    lngs = {round(lng, 3) for lng, _lat in feature["geometry"]["coordinates"][0]}
    assert lngs == {91.0, 91.5}


def test_a_grid_leader_gets_the_grids_of_their_village(people, tree):
    codes = [f["properties"]["code"] for f in mine(people.grid_leader)["features"]]
    assert codes == ["540502001001001", "540502001001002"]


def test_nobody_gets_grids_they_do_not_work_in(people, tree):
    # Centre staff and leaders see cases of their subtree but walk no grid.
    assert mine(people.centre_staff)["features"] == []
    assert mine(people.outsider)["features"] == []
    assert APIClient().get(URL).status_code == 403


def test_the_answer_is_bounded_and_its_queries_constant(
    people, tree, django_assert_max_num_queries
):
    Membership.objects.create(user=people.grid_worker, region=tree.county, role=Role.GRID_POLICE)
    for i in range(70):
        lng = 91 + i / 200
        region_with_box(
            f"网格{i}",
            f"540502002001{i + 100:03d}",
            "grid",
            tree.village_b,
            (lng, 29, lng + 0.004, 29.1),
        )
    assert Region.objects.filter(level="grid").count() == 73
    api = APIClient()
    api.force_authenticate(people.grid_worker)
    with django_assert_max_num_queries(2):
        data = api.get(URL).json()
    assert len(data["features"]) == 60 and data["truncated"] is True


def test_the_report_page_points_the_workers_map_at_their_grids(client, people, tree):
    client.force_login(people.grid_worker)
    assert f'data-grids-url="{URL}"' in client.get("/report/").content.decode()
    client.logout()
    assert "data-grids-url" not in client.get("/report/").content.decode()
