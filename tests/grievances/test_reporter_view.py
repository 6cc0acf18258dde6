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
