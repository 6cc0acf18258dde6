"""A resident who reported with an account, and holds no role over the case, reads it as
public tracking shows it: the staff's internal notes, names and internal photos stay with
the staff. Someone who reported and also works on the case keeps the staff's view."""

from __future__ import annotations

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from PIL import Image

from grievances import services
from grievances.attachments import save_upload
from grievances.models import Source, State
from tests.factories import UserFactory
from tests.grievances.conftest import api_as, new_case

pytestmark = pytest.mark.django_db

INTERNAL = "内部：与村主任电话沟通，涉及村集体账目"


def _photo() -> SimpleUploadedFile:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (90, 40, 160)).save(buffer, "JPEG")
    return SimpleUploadedFile("inside.jpg", buffer.getvalue(), content_type="image/jpeg")


@pytest.fixture
def resident():
    return UserFactory()


@pytest.fixture
def reported(tree, people, resident, settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)
    case = new_case(resident, source=Source.RESIDENT_WEB)
    assert case.reporter == resident
    case = services.grievance_accept(case, people.centre_staff)
    services.grievance_note(case, people.centre_staff, note=INTERNAL, public=False)
    save_upload(case, _photo(), people.centre_staff, public=False)
    return case


def test_the_api_shows_a_reporter_only_what_tracking_shows(reported, resident, people):
    body = api_as(resident).get(f"/api/v1/grievances/{reported.pk}/").json()
    assert [e["action"] for e in body["events"]] == ["submit", "accept"]
    assert INTERNAL not in str(body)
    assert people.centre_staff.display_name not in str(body)
    assert body["attachments"] == []
    # The staff read it all.
    staff = api_as(people.centre_staff).get(f"/api/v1/grievances/{reported.pk}/").json()
    assert INTERNAL in str(staff)
    assert len(staff["attachments"]) == 1


def test_an_internal_photo_is_not_served_to_the_reporter(reported, resident, people):
    photo = reported.attachments.get()
    reporter = Client()
    reporter.force_login(resident)
    assert reporter.get(f"/cases/attachments/{photo.pk}/").status_code == 404
    staff = Client()
    staff.force_login(people.centre_staff)
    assert staff.get(f"/cases/attachments/{photo.pk}/").status_code == 200


def test_the_case_page_sends_a_reporter_to_tracking(reported, resident):
    page = Client()
    page.force_login(resident)
    r = page.get(f"/cases/{reported.pk}/")
    assert r.status_code == 302 and r["Location"] == "/track/"
    html = page.get("/track/").content.decode()
    assert reported.display_code in html
    assert INTERNAL not in html


def test_a_reporter_who_works_on_the_case_keeps_the_staff_view(tree, people):
    case = new_case(people.grid_worker)  # reported by the grid's own worker
    services.grievance_note(case, people.centre_staff, note=INTERNAL, public=False)
    body = api_as(people.grid_worker).get(f"/api/v1/grievances/{case.pk}/").json()
    assert INTERNAL in str(body)
    page = Client()
    page.force_login(people.grid_worker)
    assert page.get(f"/cases/{case.pk}/").status_code == 200


@pytest.mark.parametrize(
    ("act", "data"),
    [("urge", {"note": "x" * 6000}), ("withdraw", {"reason": "x" * 6000}), ("urge", {})],
)
def test_the_case_page_acts_send_a_reporter_to_tracking(reported, resident, people, act, data):
    """A bad form on the case page answers with the page: a reporter is sent to tracking
    before anything of it renders, and nothing is done."""
    page = Client()
    page.force_login(resident)
    r = page.post(f"/cases/{reported.pk}/act/{act}/", data)
    assert r.status_code == 302 and r["Location"] == "/track/"
    reported.refresh_from_db()
    assert reported.urge_count == 0 and reported.state == State.ACCEPTED
    html = page.get("/track/").content.decode()
    assert reported.display_code in html
    assert INTERNAL not in html and people.centre_staff.display_name not in html


# What the staff record of a case and keep to themselves (set as the centre would leave them).
STAFF_ONLY = {
    "risk_group": True,
    "priority": 33,
    "complexity": "complex",
    "handling_level": "township",
    "extension_requested_days": 5,
    "extension_reason": "内部：等待村集体账目审计",
    "supervise_count": 2,
    "return_count": 1,
    "redo_count": 1,
    "escalation_count": 1,
    "reject_reason": "内部：拟以重复件驳回",
}


@pytest.fixture
def worked_on(reported, people, tree):
    from grievances.models import Grievance

    other = new_case(None, title="别人的案件", phone="13900005678")
    Grievance.objects.filter(pk=reported.pk).update(
        duplicate_of=other, handler_region=tree.grid_a1, **STAFF_ONLY
    )
    reported.refresh_from_db()
    inside = reported.attachments.get()
    services.grievance_note(
        reported, people.centre_staff, note="已派人到现场查看", public=True, attachments=[inside]
    )
    outside = save_upload(reported, _photo(), people.centre_staff, public=True)
    services.grievance_note(
        reported, people.centre_staff, note="现场照片", public=True, attachments=[outside]
    )
    return reported, other, inside, outside


def _leaked(body: dict, other) -> list[str]:
    found = [k for k in ("risk_flags", "priority") if body.get(k)]
    detail = (
        "complexity",
        "handling_level",
        "handler_region",
        "extension_requested_days",
        "extension_reason",
        "supervise_count",
        "return_count",
        "redo_count",
        "escalation_count",
        "reject_reason",
        "reject_reason_code",
        "duplicate_of",
    )
    found += [k for k in detail if body.get(k)]
    found += [s for s in (other.display_code, INTERNAL, "内部") if s in str(body)]
    return found


def test_the_api_blanks_the_staff_fields_for_a_reporter(worked_on, resident, people):
    case, other, inside, outside = worked_on
    body = api_as(resident).get(f"/api/v1/grievances/{case.pk}/").json()
    assert _leaked(body, other) == []
    assert {k: body[k] for k in ("risk_flags", "priority", "handler_region", "duplicate_of")} == {
        "risk_flags": [],
        "priority": 0,
        "handler_region": None,
        "duplicate_of": None,
    }
    notes = {e["note"]: e["attachments"] for e in body["events"] if e["action"] == "note"}
    assert notes == {"已派人到现场查看": [], "现场照片": [outside.pk]}
    assert [a["id"] for a in body["attachments"]] == [outside.pk]
    assert body["tracking_code"] == case.display_code and body["title"] == case.title

    listed = api_as(resident).get("/api/v1/grievances/").json()["results"]
    assert [row["id"] for row in listed] == [case.pk]
    assert _leaked(listed[0], other) == []

    # The staff read it all, on the detail and the list.
    staff = api_as(people.centre_staff).get(f"/api/v1/grievances/{case.pk}/").json()
    assert len(_leaked(staff, other)) > 10
    notes = {e["note"]: e["attachments"] for e in staff["events"] if e["action"] == "note"}
    assert notes["已派人到现场查看"] == [inside.pk]
    rows = api_as(people.centre_staff).get("/api/v1/grievances/").json()["results"]
    row = next(r for r in rows if r["id"] == case.pk)
    assert row["risk_flags"] == ["group"] and row["priority"] > 0

    # A rejection's reason is written for the reporter: they read it once rejected.
    case = new_case(resident, source=Source.RESIDENT_WEB)
    services.grievance_reject(
        case, people.centre_staff, reason_code="out_of_scope", reason="不属于受理范围"
    )
    body = api_as(resident).get(f"/api/v1/grievances/{case.pk}/").json()
    assert (body["reject_reason_code"], body["reject_reason"]) == ("out_of_scope", "不属于受理范围")


def test_the_case_list_page_shows_a_reporter_no_risk_flags(worked_on, resident, people):
    case = worked_on[0]
    page = Client()
    page.force_login(resident)
    html = page.get("/cases/").content.decode()
    assert case.display_code in html
    assert "risk--group" not in html and "case-row--risk" not in html
    staff = Client()
    staff.force_login(people.centre_staff)
    assert "risk--group" in staff.get("/cases/").content.decode()
