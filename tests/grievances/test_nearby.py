"""Nearby cases at the pin (重复提示): the public API and the report page's fragment."""

from __future__ import annotations

import math
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from grievances import selectors
from grievances.api import NearbyThrottle
from grievances.models import Grievance
from tests.grievances.conftest import POINT_A1, POINT_B1, advance, new_case

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


def test_the_cut_is_100_metres_by_the_exact_distance(api, people):
    new_case(people.grid_worker, point=east(90))
    new_case(people.grid_worker, point=east(120))
    # In the box's corner, outside the circle: 90 m north and 90 m east (127 m).
    new_case(people.grid_worker, point=north(90, east(90)))
    # Inside the circle on the diagonal: 65 m north and 65 m east (92 m).
    new_case(people.grid_worker, point=north(65, east(65)))
    assert [row["distance_m"] for row in ask(api).json()] == [90, 92]


def test_siblings_are_in_and_other_parents_out(api, people):
    new_case(people.grid_worker, point=east(10), category="hazard.environment")
    new_case(people.grid_worker, point=east(20), category="hazard.road")
    new_case(people.grid_worker, point=east(30), category="dispute.neighbours")
    new_case(people.grid_worker, point=east(40), category="hardship.elderly")
    body = ask(api, category="hazard.fire").json()
    assert [row["category"] for row in body] == ["hazard.environment", "hazard.road"]
    assert [row["category"] for row in ask(api, category="dispute.wages").json()] == [
        "dispute.neighbours"
    ]


def test_closed_and_older_cases_are_out(api, people):
    closed = new_case(people.grid_worker, point=east(10))
    advance(closed, "closed", people)
    old = new_case(people.grid_worker, point=east(20))
    Grievance.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=31))
    recent = new_case(people.grid_worker, point=east(30))
    Grievance.objects.filter(pk=recent.pk).update(created_at=timezone.now() - timedelta(days=29))
    handled = advance(new_case(people.grid_worker, point=east(40)), "handled", people)
    body = ask(api).json()
    assert [(row["distance_m"], row["state"]) for row in body] == [
        (30, "submitted"),
        (40, "handled"),
    ]
    assert handled.state == "handled"


def test_at_most_20_and_the_queries_do_not_grow(api, people, django_assert_max_num_queries):
    new_case(people.grid_worker, point=east(5))
    with django_assert_max_num_queries(3):
        assert len(ask(api).json()) == 1
    for metres in range(10, 32):
        new_case(people.grid_worker, point=east(metres))
    with django_assert_max_num_queries(3):
        body = ask(api).json()
    assert len(body) == 20
    assert [row["distance_m"] for row in body] == [5, *range(10, 29)]


def test_the_answer_holds_no_names_text_ids_or_codes(api, people):
    case = new_case(
        people.grid_worker, point=east(10), name="李秘密", phone="13912345678", title="独特标题"
    )
    case.refresh_from_db()
    raw = ask(api).content.decode()
    for secret in (
        "李秘密",
        "13912345678",
        "5678",
        "独特标题",
        case.description,
        case.tracking_code,
        case.display_code,
        '"id"',
        "title",
        "region",
    ):
        assert secret not in raw


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"lat": LAT, "category": "hazard.road"}, "lng"),
        ({"lng": LNG, "category": "hazard.road"}, "lat"),
        ({"lng": "east", "lat": LAT, "category": "hazard.road"}, "lng"),
        ({"lng": LNG, "lat": "95", "category": "hazard.road"}, "lat"),
        ({"lng": "nan", "lat": LAT, "category": "hazard.road"}, "lng"),
        ({"lng": LNG, "lat": "inf", "category": "hazard.road"}, "lat"),
        ({"lng": LNG, "lat": LAT}, "category"),
        ({"lng": LNG, "lat": LAT, "category": ""}, "category"),
        ({"lng": LNG, "lat": LAT, "category": "no.such"}, "category"),
        ({"lng": LNG, "lat": LAT, "category": "x" * 500}, "category"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(api, tree, params, field):
    response = api.get(URL, params)
    assert response.status_code == 400
    assert field in response.json()


def test_the_api_is_throttled_per_client(api, tree, settings, monkeypatch):
    rates = {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "nearby": "2/hour"}
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}
    # DRF's throttles read their rates once, at import.
    monkeypatch.setattr(NearbyThrottle, "THROTTLE_RATES", rates, raising=False)
    assert ask(api).status_code == 200
    assert ask(api).status_code == 200
    assert ask(api).status_code == 429
    # The report page's list counts on the same allowance.
    page = Client().get("/report/nearby/", {"lng": LNG, "lat": LAT, "category": "hazard.road"})
    assert page.status_code == 429
    # Another client has its own.
    assert ask(Client(REMOTE_ADDR="10.0.0.9")).status_code == 200


def test_the_schema_describes_a_bare_list(client, tree):
    schema = client.get("/api/schema/", {"format": "json"}).json()
    operation = schema["paths"]["/api/v1/public/nearby/"]["get"]
    assert {p["name"] for p in operation["parameters"]} == {"lng", "lat", "category"}
    assert all(p["required"] for p in operation["parameters"])
    body = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert body["type"] == "array"
    item = schema["components"]["schemas"][body["items"]["$ref"].rsplit("/", 1)[1]]
    assert set(item["properties"]) == {"category", "state", "distance_m", "created_at"}
    assert operation["security"] == [{}] or "security" not in operation


# --- The report page's list ---------------------------------------------------------------------

# Two points 58 m apart on either side of the line between township A (west) and B (east).
WEST = (91.4997, 29.7)
EAST = (91.5003, 29.7)


def fragment(client, point=WEST, category="hazard.road"):
    response = client.get(
        "/report/nearby/",
        {"lng": point[0], "lat": point[1], "category": category},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200
    return response.content.decode()


def test_staff_see_only_their_own_scope_with_codes_and_titles(people):
    ours = new_case(people.grid_worker, point=WEST, title="我们的井盖")
    theirs = new_case(None, point=EAST, title="别处的井盖")
    assert ours.township_id == people.centre_staff.memberships.get().region_id
    assert theirs.township_id != ours.township_id
    client = Client()
    client.force_login(people.centre_staff)
    html = fragment(client)
    assert "附近已有的反映" in html
    assert "我们的井盖" in html and ours.display_code in html
    assert f"/cases/{ours.pk}/" in html
    assert "别处的井盖" not in html and theirs.display_code not in html
    assert html.count('class="nearby__item"') == 1

    other = Client()
    other.force_login(people.outsider)
    assert "nearby__item" not in fragment(other)


def test_the_anonymous_list_shows_public_facts_only(people):
    ours = new_case(people.grid_worker, point=WEST, title="我们的井盖", name="李秘密")
    new_case(None, point=EAST, title="别处的井盖")
    html = fragment(Client())
    assert html.count('class="nearby__item"') == 2
    assert "约 0 米" in html and "约 58 米" in html
    assert "井盖" not in html and "李秘密" not in html
    assert ours.display_code not in html and "/cases/" not in html


def test_nothing_is_shown_when_nothing_is_near(people):
    new_case(None, point=POINT_B1)
    assert fragment(Client()).strip() == ""
    # No pin (removed) or a category not chosen yet: empty, never an error.
    assert (
        Client().get("/report/nearby/", {"lng": "", "lat": "", "category": ""}).content.strip()
        == b""
    )
    assert fragment(Client(), category="no.such").strip() == ""


def test_the_report_page_asks_for_the_list_with_the_pin_and_category(tree):
    html = Client().get("/report/").content.decode()
    assert 'hx-get="/report/nearby/"' in html
    assert 'hx-include="#id_lng, #id_lat, #id_category"' in html
