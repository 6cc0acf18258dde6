"""Nearby cases at the pin (重复提示): the public API and the report page's fragment."""

from __future__ import annotations

import math

import pytest

from grievances import selectors
from tests.grievances.conftest import POINT_A1, new_case

pytestmark = pytest.mark.django_db

URL = "/api/v1/public/nearby/"
LNG, LAT = POINT_A1


def east(metres: float, point=POINT_A1) -> tuple[float, float]:
    """The point `metres` east of `point`."""
    lng, lat = point
    return lng + metres / (selectors.METRES_PER_DEGREE * math.cos(math.radians(lat))), lat


def north(metres: float, point=POINT_A1) -> tuple[float, float]:
    lng, lat = point
    return lng, lat + metres / selectors.METRES_PER_DEGREE


def ask(api, category="hazard.environment", point=POINT_A1, **extra):
    params = {"lng": point[0], "lat": point[1], "category": category, **extra}
    return api.get(URL, params)


def test_the_answer_is_a_bare_list_nearest_first(api, people):
    far = new_case(people.grid_worker, point=east(60))
    near = new_case(people.grid_worker, point=north(20), category="hazard.road")
    response = ask(api)
    assert response.status_code == 200
    body = response.json()
    assert isinstance(body, list)
    assert [row["distance_m"] for row in body] == [20, 60]
    assert body[0] == {
        "category": "hazard.road",
        "state": "submitted",
        "distance_m": 20,
        "created_at": body[0]["created_at"],
    }
    assert set(body[1]) == {"category", "state", "distance_m", "created_at"}
    assert body[1]["category"] == "hazard.environment"
    assert near.pk != far.pk
