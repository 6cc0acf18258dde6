from __future__ import annotations

import pytest
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db


@pytest.fixture
def api():
    return APIClient()


def test_region_list_is_public_and_filters_by_level_and_parent(api, tree):
    r = api.get("/api/v1/regions/", {"level": "township"})
    assert r.status_code == 200
    assert {row["code"] for row in r.json()["results"]} == {"540502001000", "540502002000"}

    r = api.get("/api/v1/regions/", {"parent": "540502001001"})
    assert [row["code"] for row in r.json()["results"]] == ["540502001001001", "540502001001002"]
    assert r.json()["results"][0]["parent"] == "540502001001"


def test_region_list_query_count_does_not_grow(api, tree, django_assert_max_num_queries):
    with django_assert_max_num_queries(3):
        r = api.get("/api/v1/regions/", {"limit": 100})
    assert r.json()["count"] == 11


def test_region_list_rejects_unknown_level(api, tree):
    r = api.get("/api/v1/regions/", {"level": "planet"})
    assert r.status_code == 400
    assert "level" in r.json()


def test_region_detail_has_ancestors_and_child_counts(api, tree):
    r = api.get("/api/v1/regions/540502001000/")
    assert r.status_code == 200
    body = r.json()
    assert [a["code"] for a in body["ancestors"]] == ["540500000000", "540502000000"]
    assert body["children_count"] == 1
    assert body["descendants_count"] == {"grid": 2, "village": 1}
    assert body["boundary"] is None
    r = api.get("/api/v1/regions/540502001000/", {"geometry": "1"})
    assert r.json()["boundary"]["type"] == "Polygon"


def test_region_detail_unknown_code_is_404(api, tree):
    assert api.get("/api/v1/regions/999999999999/").status_code == 404


def test_locate_returns_grid_and_path(api, tree):
    r = api.get("/api/v1/regions/locate/", {"lng": "91.2", "lat": "29.7"})
    assert r.status_code == 200
    body = r.json()
    assert body["code"] == "540502001001001"
    assert body["level"] == "grid"
    assert [p["level"] for p in body["path"]] == ["city", "county", "township", "village", "grid"]
    assert body["path"][0] == {"code": "540500000000", "name": "山南市", "level": "city"}


@pytest.mark.parametrize("point", [(0, 0), (95.0, 29.5), (-120.5, 40.1)])
def test_locate_outside_every_region_is_404(api, tree, point):
    r = api.get("/api/v1/regions/locate/", {"lng": point[0], "lat": point[1]})
    assert r.status_code == 404


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"lat": "29.5"}, "lng"),
        ({"lng": "91.2"}, "lat"),
        ({"lng": "east", "lat": "29.5"}, "lng"),
        ({"lng": "181", "lat": "29.5"}, "lng"),
        ({"lng": "91", "lat": "-90.5"}, "lat"),
        ({"lng": "nan", "lat": "29.5"}, "lng"),
    ],
)
def test_locate_bad_coordinates_are_400_naming_the_field(api, tree, params, field):
    r = api.get("/api/v1/regions/locate/", params)
    assert r.status_code == 400
    assert field in r.json()


def test_token_with_json_and_form(api, people):
    r = api.post(
        "/api/v1/auth/token/",
        {"username": "centre_staff", "password": "pass-word-123"},
        format="json",
    )
    assert r.status_code == 200
    token = r.json()["token"]
    r2 = api.post("/api/v1/auth/token/", {"username": "centre_staff", "password": "pass-word-123"})
    assert r2.json()["token"] == token

    bad = api.post(
        "/api/v1/auth/token/", {"username": "centre_staff", "password": "wrong"}, format="json"
    )
    assert bad.status_code == 400


def test_schema_lists_region_paths_under_full_path(client):
    r = client.get("/api/schema/", {"format": "json"})
    assert r.status_code == 200
    paths = r.json()["paths"]
    for p in ("/api/v1/regions/", "/api/v1/regions/{code}/", "/api/v1/regions/locate/"):
        assert p in paths
    assert "/api/v1/auth/token/" in paths


def test_api_docs_load_without_a_cdn(client):
    r = client.get("/api/docs/")
    assert r.status_code == 200
    html = r.content.decode()
    assert "/static/drf_spectacular_sidecar/" in html
    assert "cdn" not in html.lower()
