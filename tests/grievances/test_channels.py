"""Every channel in: the centre's desk (登记 in its nav) registers walk-ins, the village desk
(民情110), tea meetings and the cases other systems transfer (12345, the mayor's mailbox,
the petition office), each keeping that system's ticket number, unique per system."""

from __future__ import annotations

import pytest
from django.test import Client

from grievances.models import Grievance, Source
from tests.grievances.conftest import POINT_A1, api_as, new_case
from tests.grievances.test_pages_intake import client_for, field_errors, staff_report, text

pytestmark = pytest.mark.django_db


def transfer(**changes) -> dict:
    data = {
        "title": "噪音扰民",
        "description": "夜间施工噪音，12345转来",
        "category": "hazard.environment",
        "lng": POINT_A1[0],
        "lat": POINT_A1[1],
        "source": "hotline_12345",
        "external_id": "GD20260512-0042",
        "complainants": [{"name": "王女士", "phone": "13908931234"}],
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def nav_of(html: str) -> str:
    start = html.index('class="site-nav"')
    return html[start : html.index("</nav>", start)]


# --- the nav and the sources ---------------------------------------------------------------


def test_centre_staff_find_the_intake_in_their_nav(people):
    nav = nav_of(text(client_for(people.centre_staff).get("/")))
    assert 'href="/report/"' in nav and "登记" in nav
    # A grid worker reaches the form through 上报 (the tab), a leader not at all.
    assert "登记" not in nav_of(text(client_for(people.grid_worker).get("/")))
    assert "登记" not in nav_of(text(client_for(people.leader).get("/")))


def test_the_desk_offers_every_channel_and_the_village_desk_is_no_hotline(people):
    html = text(client_for(people.centre_staff).get("/report/"))
    for label in (
        "窗口来访",
        "接访",
        "民情110",
        "联户茶会",
        "12345转办",
        "市长信箱",
        "信访转交",
        "视频巡查",
    ):
        assert label in html
    assert "热线（民情110）" not in html
    assert 'name="external_id"' in html and "data-ticket-sources" in html
    assert "js/report_source.js" in html


def test_a_grid_worker_has_no_source_nor_ticket(people):
    html = text(client_for(people.grid_worker).get("/report/"))
    assert 'name="source"' not in html and 'name="external_id"' not in html
    assert "report_source.js" not in html


@pytest.mark.parametrize(
    "source", ["hotline", "hotline_12345", "mayor_mailbox", "video_patrol", "petition_transfer"]
)
def test_the_api_takes_the_new_sources(people, source):
    r = api_as(people.centre_staff).post(
        "/api/v1/grievances/", transfer(source=source, external_id=None), format="json"
    )
    assert r.status_code == 201, r.json()
    assert r.json()["source"] == source and r.json()["external_id"] is None


# --- tickets of other systems ---------------------------------------------------------------


def test_a_transfer_keeps_its_ticket_and_a_resend_answers_the_same_case(people):
    client = api_as(people.centre_staff)
    first = client.post("/api/v1/grievances/", transfer(), format="json")
    assert first.status_code == 201
    assert first.json()["external_system"] == "12345"
    assert first.json()["external_id"] == "GD20260512-0042"

    again = client.post("/api/v1/grievances/", transfer(title="噪音扰民（重发）"), format="json")
    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    assert Grievance.objects.count() == 1


def test_the_same_number_in_another_system_is_a_new_case(people):
    client = api_as(people.centre_staff)
    a = client.post("/api/v1/grievances/", transfer(), format="json")
    b = client.post("/api/v1/grievances/", transfer(source="mayor_mailbox"), format="json")
    c = client.post(
        "/api/v1/grievances/",
        transfer(source="api", external_system="city-petition-v2"),
        format="json",
    )
    assert (a.status_code, b.status_code, c.status_code) == (201, 201, 201)
    systems = set(Grievance.objects.values_list("external_system", "external_id"))
    assert systems == {
        ("12345", "GD20260512-0042"),
        ("mayor_mailbox", "GD20260512-0042"),
        ("city-petition-v2", "GD20260512-0042"),
    }


def test_a_resend_by_someone_outside_the_case_scope_learns_nothing_of_it(people):
    api_as(people.centre_staff).post("/api/v1/grievances/", transfer(), format="json")
    # The sibling township's desk sends the same ticket for a point of its own.
    r = api_as(people.sibling_staff).post(
        "/api/v1/grievances/", transfer(lng=91.7, lat=29.5), format="json"
    )
    assert r.status_code == 400
    assert list(r.json()) == ["external_id"]
    assert Grievance.objects.count() == 1


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"source": "walk_in"}, "external_system"),  # no system to own the number
        ({"external_id": "GD 0042"}, "external_id"),
        ({"external_id": "x" * 65}, "external_id"),
        ({"external_id": None, "external_system": "12345"}, "external_id"),
        ({"external_system": "12345 热线"}, "external_system"),
        ({"source": "email"}, "source"),
    ],
)
def test_bad_tickets_are_field_errors(people, changes, field):
    r = api_as(people.centre_staff).post("/api/v1/grievances/", transfer(**changes), format="json")
    assert r.status_code == 400
    assert field in r.json()
    assert not Grievance.objects.exists()


def test_the_public_intake_takes_no_ticket(tree):
    r = Client().post(
        "/api/v1/public/grievances/",
        {**transfer(), "complainants": []},
        content_type="application/json",
    )
    assert r.status_code == 201
    assert Grievance.objects.get().external_id is None


def test_the_desk_registers_a_transfer_with_its_ticket(tree, people):
    client = client_for(people.centre_staff)
    r = client.post("/report/", staff_report(source="petition_transfer", external_id="XF-2026-77"))
    assert r.status_code == 302
    case = Grievance.objects.get()
    assert (case.source, case.external_system, case.external_id) == (
        Source.PETITION_TRANSFER,
        "petition",
        "XF-2026-77",
    )
    # The same ticket again is named at the field, with no second case.
    r = client.post("/report/", staff_report(source="petition_transfer", external_id="XF-2026-77"))
    assert r.status_code == 200
    assert "工单号" in " ".join(field_errors(r, "external_id"))
    assert Grievance.objects.count() == 1


def test_a_ticket_with_a_source_that_has_none_is_named_at_the_field(tree, people):
    r = client_for(people.centre_staff).post(
        "/report/", staff_report(source="walk_in", external_id="GD-1")
    )
    assert r.status_code == 200
    assert field_errors(r, "external_id")
    assert not Grievance.objects.exists()


def test_the_case_page_shows_the_ticket_and_the_list_finds_it(tree, people):
    case = new_case(
        people.centre_staff,
        source=Source.HOTLINE_12345,
        external_system="12345",
        external_id="GD-77",
        title="路灯不亮",
    )
    other = new_case(people.centre_staff, title="井盖缺失")
    client = client_for(people.centre_staff)
    html = text(client.get(f"/cases/{case.pk}/"))
    assert "GD-77" in html and "12345转办" in html
    assert "GD-77" not in text(client.get(f"/cases/{other.pk}/"))

    listed = text(client.get("/cases/", {"q": " GD-77 "}))
    assert case.display_code in listed and other.display_code not in listed
    found = api_as(people.centre_staff).get("/api/v1/grievances/", {"q": "GD-77"}).json()
    assert [row["id"] for row in found["results"]] == [case.pk]
    # Another region's desk finds nothing by the number.
    assert (
        api_as(people.outsider).get("/api/v1/grievances/", {"q": "GD-77"}).json()["results"] == []
    )


def test_two_sends_of_one_ticket_at_once_make_one_case(people, monkeypatch):
    """The second send passed the look-up before the first was written: the unique index
    refuses it, and it answers with the first's case."""
    from grievances import intake

    client = api_as(people.centre_staff)
    first = client.post("/api/v1/grievances/", transfer(), format="json").json()
    real = intake.ticket_case
    calls = []

    def late(data):
        calls.append(data)
        return None if len(calls) == 1 else real(data)

    monkeypatch.setattr(intake, "ticket_case", late)
    again = client.post("/api/v1/grievances/", transfer(), format="json")
    assert again.status_code == 200 and again.json()["id"] == first["id"]
    assert len(calls) == 2 and Grievance.objects.count() == 1
