"""What one API request may ask for and carry: page sizes cut to the cap, page positions that
are not whole numbers refused by name, JSON bodies too deep or too large refused before they
are parsed (grids/api_input.py)."""

from __future__ import annotations

import json
import time

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from grids.api_input import json_depth_exceeds
from grids.models import Region
from grievances.models import Grievance
from tests.grievances.conftest import new_case
from tests.grievances.test_public import REPORT

pytestmark = pytest.mark.django_db

TWENTY_DIGITS = "99999999999999999999"


def api() -> APIClient:
    # English answers: the assertions read the source messages.
    return APIClient(HTTP_ACCEPT_LANGUAGE="en")


@pytest.fixture(autouse=True)
def _fresh_throttles():
    # The public report is throttled per address in the cache: each test starts afresh.
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def many_regions(db):
    """250 city-level roots, written in one statement (each its own one-node tree)."""
    Region.objects.bulk_create(
        Region(
            name=f"市{i}",
            code=f"{610000000000 + i * 1000000:012d}",
            level="city",
            tree_id=1000 + i,
            lft=1,
            rght=2,
            mptt_level=0,
        )
        for i in range(250)
    )


# --- Page sizes and positions


def test_a_huge_limit_is_cut_to_200_rows(many_regions):
    r = api().get("/api/v1/regions/", {"limit": 100000})
    assert r.status_code == 200
    assert r.json()["count"] == 250
    assert len(r.json()["results"]) == 200


def test_page_size_is_another_name_for_limit_and_is_cut_too(many_regions):
    r = api().get("/api/v1/regions/", {"page_size": 5000})
    assert r.status_code == 200
    assert len(r.json()["results"]) == 200
    r = api().get("/api/v1/regions/", {"page_size": 10, "page": 3})
    rows = r.json()["results"]
    everything = api().get("/api/v1/regions/", {"limit": 200}).json()["results"]
    assert [row["code"] for row in rows] == [row["code"] for row in everything[20:30]]


def test_the_default_page_stays_50(many_regions):
    r = api().get("/api/v1/regions/")
    assert len(r.json()["results"]) == 50


@pytest.mark.parametrize("param", ["limit", "offset", "page", "page_size"])
@pytest.mark.parametrize("value", ["abc", "-1", TWENTY_DIGITS, "1.5", "١٢"])
def test_a_bad_page_number_is_a_400_naming_the_parameter(tree, param, value):
    r = api().get("/api/v1/regions/", {param: value})
    assert r.status_code == 400, r.content
    assert list(r.json()) == [param]


def test_the_twenty_digit_limit_of_the_report_is_a_400_not_a_500(tree):
    r = api().get(f"/api/v1/regions/?limit={TWENTY_DIGITS}")
    assert r.status_code == 400
    assert "limit" in r.json()


def test_a_zero_page_size_is_refused_and_a_zero_offset_is_the_start(tree):
    assert api().get("/api/v1/regions/", {"limit": 0}).status_code == 400
    assert api().get("/api/v1/regions/", {"page": 0}).status_code == 400
    r = api().get("/api/v1/regions/", {"offset": 0})
    assert r.status_code == 200 and r.json()["count"] == 11


def test_an_offset_past_the_end_is_an_empty_page(tree):
    r = api().get("/api/v1/regions/", {"offset": "9223372036854775807"})
    assert r.status_code == 200
    assert r.json()["results"] == []


def test_a_page_past_what_the_database_counts_is_refused(tree):
    r = api().get("/api/v1/regions/", {"page": "9223372036854775807", "page_size": 200})
    assert r.status_code == 400
    assert list(r.json()) == ["page"]


def test_the_case_list_refuses_a_bad_page_size_and_cuts_a_large_one(people):
    client = api()
    client.force_authenticate(people.centre_staff)
    for value in ("abc", "-1", TWENTY_DIGITS):
        r = client.get("/api/v1/grievances/", {"page_size": value})
        assert r.status_code == 400, value
        assert list(r.json()) == ["page_size"]
    for _ in range(3):
        new_case(people.grid_worker)
    r = client.get("/api/v1/grievances/", {"page_size": 100000})
    assert r.status_code == 200
    assert len(r.json()["results"]) == 3


def test_notifications_refuse_a_bad_limit(people):
    client = api()
    client.force_authenticate(people.centre_staff)
    r = client.get("/api/v1/notifications/", {"limit": TWENTY_DIGITS})
    assert r.status_code == 400
    assert list(r.json()) == ["limit"]
    r = client.get("/api/v1/notifications/", {"limit": 500})
    assert r.status_code == 200
    assert "unread_count" in r.json()


def test_the_schema_tells_the_cap(client):
    schema = client.get("/api/schema/", {"format": "json"}).json()
    parameters = schema["paths"]["/api/v1/regions/"]["get"]["parameters"]
    limit = next(p for p in parameters if p["name"] == "limit")
    assert limit["schema"]["maximum"] == 200


# --- HTML pages that read a page number


@pytest.mark.parametrize("value", ["abc", "-1", TWENTY_DIGITS, "١٢"])
def test_pages_with_a_page_number_never_fail(client, people, value):
    client.force_login(people.centre_staff)
    for url in ("/console/", "/return-visits/", "/mediators/"):
        r = client.get(url, {"page": value})
        assert r.status_code == 200, (url, r.status_code)
    for cursor in (f"1.{TWENTY_DIGITS}", f"{TWENTY_DIGITS}.1", "abc"):
        r = client.get("/cases/", {"after": cursor})
        assert r.status_code == 200, cursor
        r = client.get("/cases/", {"before": cursor})
        assert r.status_code == 200, cursor


# --- JSON bodies


def post_raw(body: bytes | str, url: str = "/api/v1/public/grievances/"):
    return api().generic("POST", url, body, content_type="application/json")


def test_a_body_nested_3000_deep_is_a_400_with_a_message(tree):
    r = post_raw("[" * 3000 + "]" * 3000)
    assert r.status_code == 400
    assert "nested deeper than 32" in r.json()["detail"]
    r = post_raw(json.dumps({**REPORT, "title": {"a": None}}).replace("null", "[" * 40 + "]" * 40))
    assert r.status_code == 400
    assert "nested deeper" in r.json()["detail"]
    assert not Grievance.objects.exists()


def test_brackets_inside_strings_do_not_count_as_nesting(tree):
    r = post_raw(json.dumps({**REPORT, "description": "【投诉】" + "[[{" * 100 + '"\\"]'}))
    assert r.status_code == 201, r.content


# Strings that never close, each shaped so that a pattern needing the closing quote fails
# from every quote in it and rescans to the end: quadratic time.
UNCLOSED = {
    "escaped quotes": lambda n: "[" * 40 + '"' + '\\"' * ((n - 41) // 2),
    "escaped quotes, a lone backslash last": lambda n: (
        "[" * 40 + '"' + '\\"' * ((n - 42) // 2) + "\\"
    ),
    "quote, backslash": lambda n: "[" * 40 + '"\\' * ((n - 40) // 2),
}


def seconds_to_judge(text: str) -> float:
    start = time.perf_counter()
    assert json_depth_exceeds(text, 32)
    return time.perf_counter() - start


@pytest.mark.parametrize("shape", UNCLOSED)
def test_the_depth_of_a_string_that_never_closes_is_judged_in_linear_time(shape):
    # 32 KiB first, so that a quadratic judge fails in seconds instead of running for an hour
    # on the 1 MiB one; a linear judge does either in a small fraction of the second allowed.
    for size in (32 * 1024, 1024 * 1024 - 64):
        assert seconds_to_judge(UNCLOSED[shape](size)) < 1.0, size


def test_an_unclosed_string_just_under_the_size_cap_is_a_quick_400(tree):
    for size in (32 * 1024, 1024 * 1024 - 64):
        body = UNCLOSED["escaped quotes"](size)
        start = time.perf_counter()
        r = post_raw(body)
        assert time.perf_counter() - start < 2.0, size
        assert r.status_code == 400
        assert "nested deeper than 32" in r.json()["detail"]
    assert not Grievance.objects.exists()


def test_a_body_larger_than_1_mib_is_a_400(tree):
    r = post_raw(json.dumps({**REPORT, "description": "漏" * 400_000}))
    assert r.status_code == 400
    assert "larger than 1048576 bytes" in r.json()["detail"]
    assert not Grievance.objects.exists()


def test_a_body_under_the_limits_is_taken(tree):
    r = post_raw(json.dumps(REPORT).encode())
    assert r.status_code == 201, r.content


def test_every_json_endpoint_parses_the_same_way(people):
    client = api()
    client.force_authenticate(people.centre_staff)
    case = new_case(people.grid_worker)
    r = client.generic(
        "POST",
        f"/api/v1/grievances/{case.pk}/accept/",
        "{" * 1000 + "}" * 1000,
        content_type="application/json",
    )
    assert r.status_code == 400
    assert "nested deeper" in r.json()["detail"]


def test_the_token_endpoint_bounds_its_body_like_the_rest(people):
    r = post_raw("[" * 200_000 + "]" * 200_000, url="/api/v1/auth/token/")
    assert r.status_code == 400
    assert "nested deeper than 32" in r.json()["detail"]
    big = json.dumps({"username": people.centre_staff.username, "password": "x" * 1_100_000})
    r = post_raw(big, url="/api/v1/auth/token/")
    assert r.status_code == 400
    assert "larger than 1048576 bytes" in r.json()["detail"]


# --- Text PostgreSQL refuses


def test_a_nul_character_in_the_address_is_a_400(people, client):
    api_client = api()
    api_client.force_authenticate(people.centre_staff)
    r = api_client.get("/api/v1/figures/", {"region": "\x00540502001000"})
    assert r.status_code == 400
    assert "NUL" in r.json()["detail"]
    assert api_client.get("/api/v1/categories/%00/").status_code == 400
    client.force_login(people.centre_staff)
    assert client.get("/cases/", {"q": "漏水\x00"}).status_code == 400


def test_an_instant_with_an_offset_postgresql_does_not_take_is_compared_in_utc(people):
    new_case(people.grid_worker)
    client = api()
    client.force_authenticate(people.centre_staff)
    # ISO 8601 allows offsets up to ±23:59; PostgreSQL only up to ±15:59.
    r = client.get("/api/v1/grievances/", {"created_after": "2000-01-01T00:00:00+23:37"})
    assert r.status_code == 200, r.content
    assert len(r.json()["results"]) == 1
    r = client.get("/api/v1/grievances/", {"created_before": "2000-01-01T00:00:00+23:37"})
    assert r.json()["results"] == []
    r = client.get("/api/v1/grievances/", {"created_after": "0001-01-01T00:00:00+23:00"})
    assert r.status_code == 400
    assert list(r.json()) == ["created_after"]
