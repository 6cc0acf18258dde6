"""Pending extension requests (延期申请) as the centre sees them: a tile with their count on
its home and on the console, a filter on the console and /cases/ (and the API), and a badge
on the case in every list and in the case page's header, read from the case's own row."""

from __future__ import annotations

import pytest

from grievances import services
from grievances.models import Grievance
from tests.desk.conftest import client_as, text_of, waiting_extension
from tests.grievances.conftest import api_as, new_case

pytestmark = pytest.mark.django_db

BADGE = "badge--extension"


def test_the_centre_home_and_the_console_count_the_waiting_requests(tree, people):
    waiting_extension(people, title="路灯不亮")
    waiting_extension(people, title="井盖松动")
    new_case(people.grid_worker, title="无人申请")
    client = client_as(people.centre_staff)
    home = text_of(client.get("/"))
    assert 'id="count-extension-pending">2<' in home
    assert "/console/?extension_pending=true" in home
    console = text_of(client.get("/console/"))
    assert 'id="tile-extension-pending"' in console
    assert "Extension requests" in console or "延期申请" in console


def test_the_filter_shows_only_the_waiting_ones_on_the_console_and_the_list(tree, people):
    waiting = waiting_extension(people, title="路灯不亮")
    other = new_case(people.grid_worker, title="无人申请")
    client = client_as(people.centre_staff)
    for url in ("/console/", "/cases/"):
        page = text_of(client.get(url, {"extension_pending": "true"}))
        assert waiting.display_code in page, url
        assert other.display_code not in page, url
        # Unticked, the box narrows nothing.
        page = text_of(client.get(url))
        assert waiting.display_code in page and other.display_code in page, url


def test_the_api_filters_both_ways(tree, people):
    waiting = waiting_extension(people, title="路灯不亮")
    other = new_case(people.grid_worker, title="无人申请")
    api = api_as(people.centre_staff)
    found = api.get("/api/v1/grievances/", {"extension_pending": "true"}).json()["results"]
    assert [c["id"] for c in found] == [waiting.pk]
    found = api.get("/api/v1/grievances/", {"extension_pending": "false"}).json()["results"]
    assert [c["id"] for c in found] == [other.pk]
    r = api.get("/api/v1/grievances/", {"extension_pending": "maybe"})
    assert r.status_code in (200, 400)  # never a 500


def test_the_badge_on_lists_home_and_case_page_and_gone_once_decided(tree, people):
    case = waiting_extension(people)
    client = client_as(people.centre_staff)
    for url in ("/console/", "/cases/", f"/cases/{case.pk}/"):
        assert BADGE in text_of(client.get(url)), url
    services.grievance_extend(case, people.centre_staff, approve=True)
    for url in ("/console/", "/cases/", f"/cases/{case.pk}/"):
        assert BADGE not in text_of(client.get(url)), url
    assert Grievance.objects.get(pk=case.pk).extension_requested_days is None


def test_another_regions_centre_sees_neither_count_nor_case(tree, people):
    case = waiting_extension(people)
    client = client_as(people.outsider)
    page = text_of(client.get("/console/", {"extension_pending": "true"}))
    assert case.display_code not in page
    assert 'id="count-extension-pending">0<' in text_of(client.get("/"))
    assert client.get(f"/cases/{case.pk}/").status_code == 404


def test_query_counts_do_not_grow_with_the_requests(tree, people, django_assert_max_num_queries):
    client = client_as(people.centre_staff)
    waiting_extension(people, title="第一件")
    client.get("/console/")  # warm the calendar's year tables

    def count(url):
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        with CaptureQueriesContext(connection) as ctx:
            assert client.get(url, {"extension_pending": "true"}).status_code == 200
        return len(ctx)

    few = {url: count(url) for url in ("/", "/console/", "/cases/")}
    for i in range(4):
        waiting_extension(people, title=f"更多{i}")
    for url, n in few.items():
        with django_assert_max_num_queries(n):
            client.get(url, {"extension_pending": "true"})
