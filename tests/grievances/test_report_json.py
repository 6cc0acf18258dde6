"""/report/ answering JSON to the page's report queue (grievances/intake_answers.py): a new
case, a repeat of the key, field errors, a report written by someone else than the sender
now, the rate limit and a key reused by another report."""

from __future__ import annotations

import io
import uuid

import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from PIL import Image

from grievances.models import Grievance
from tests.grievances.conftest import POINT_A1, at

pytestmark = pytest.mark.django_db

JSON = {"HTTP_ACCEPT": "application/json"}


def photo(name: str, colour=(40, 90, 160)) -> SimpleUploadedFile:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), colour).save(buffer, "JPEG")
    return SimpleUploadedFile(name, buffer.getvalue(), content_type="image/jpeg")


def staff_report(**changes) -> dict:
    data = {
        "category": "hazard.road",
        "title": "挡墙垮塌隐患",
        "description": "村道旁挡墙开裂，随时可能垮塌",
        "lng": POINT_A1[0],
        "lat": POINT_A1[1],
        "people-TOTAL_FORMS": "1",
        "people-INITIAL_FORMS": "0",
        "people-MIN_NUM_FORMS": "0",
        "people-MAX_NUM_FORMS": "1000",
        "people-0-name": "割绒",
        "people-0-phone": "13800001111",
        "people-0-id_number": "",
        "idempotency_key": str(uuid.uuid4()),
    }
    data.update(changes)
    return data


def resident_report(**changes) -> dict:
    data = {
        "category": "hazard.utilities",
        "title": "楼道水管漏水",
        "description": "三单元楼道水管漏水，地面积水",
        "lng": POINT_A1[0],
        "lat": POINT_A1[1],
        "name": "央金",
        "phone": "13912345678",
        "idempotency_key": str(uuid.uuid4()),
    }
    data.update(changes)
    return data


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def queued(user) -> dict:
    """The headers the queue sends: JSON, and who wrote the report."""
    return {**JSON, "HTTP_X_REPORT_USER": str(user.pk) if user else "-"}


def test_a_new_case_is_201_with_its_code_and_page_and_done_shows_it(tree, people):
    client = signed_in(people.grid_worker)
    data = staff_report(photos=[photo("a.jpg"), photo("b.jpg", (200, 40, 40))])
    r = client.post("/report/", data, **queued(people.grid_worker))
    assert r.status_code == 201
    case = Grievance.objects.get()
    assert r.json() == {
        "case": case.pk,
        "url": f"/cases/{case.pk}/",
        "tracking_code": case.display_code,
        "title": "挡墙垮塌隐患",
        "done_url": "/report/done/",
    }
    assert case.attachments.count() == 2
    assert case.display_code in client.get("/report/done/").content.decode()


def test_a_repeat_of_the_key_is_200_with_the_same_case(tree, people):
    client = signed_in(people.grid_worker)
    data = staff_report()
    first = client.post("/report/", data, **queued(people.grid_worker))
    again = client.post("/report/", data, **queued(people.grid_worker))
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    assert Grievance.objects.count() == 1


def test_a_resident_gets_the_tracking_page_and_no_case_id(tree):
    client = Client()
    r = client.post("/report/", resident_report(), **queued(None))
    assert r.status_code == 201
    body = r.json()
    code = Grievance.objects.get().display_code
    assert "case" not in body
    assert body["url"] == f"/track/?code={code}"
    # Sending it proved the case: the tracking page shows it.
    assert code in client.get(body["url"]).content.decode()


def test_field_errors_name_the_form_and_formset_fields(tree, people):
    client = signed_in(people.grid_worker)
    data = staff_report(title="长" * 201, **{"people-0-phone": "abc"})
    r = client.post("/report/", data, **queued(people.grid_worker))
    assert r.status_code == 400
    errors = r.json()["errors"]
    assert set(errors) == {"title", "people-0-phone"}
    assert errors["people-0-phone"] == ["请输入由数字组成的电话号码，例如 13800001234。"]
    assert r.json()["idempotency_key"] == data["idempotency_key"]
    assert not Grievance.objects.exists()


def test_a_missing_place_is_an_error_of_the_form(tree):
    r = Client().post("/report/", resident_report(lng="", lat=""), **JSON)
    assert r.status_code == 400
    assert list(r.json()["errors"]) == ["lng"]


def test_a_key_used_by_another_report_is_422_with_a_fresh_key(tree, people):
    client = signed_in(people.grid_worker)
    data = staff_report()
    assert client.post("/report/", data, **JSON).status_code == 201
    r = client.post("/report/", {**data, "title": "另一件事"}, **JSON)
    assert r.status_code == 422
    body = r.json()
    assert body["errors"]["__all__"]
    assert body["idempotency_key"] not in ("", data["idempotency_key"])
    uuid.UUID(body["idempotency_key"])
    fresh = {**data, "title": "另一件事", "idempotency_key": body["idempotency_key"]}
    assert client.post("/report/", fresh, **JSON).status_code == 201
    assert Grievance.objects.count() == 2


def test_an_expired_session_is_401_and_makes_no_anonymous_case(tree, people):
    # The grid worker queued it signed in; the session is gone when it is sent.
    r = Client().post("/report/", staff_report(), **queued(people.grid_worker))
    assert r.status_code == 401
    assert r.json()["sign_in"] == "/accounts/login/?next=%2Freport%2F"
    assert r.json()["detail"]
    assert not Grievance.objects.exists()


def test_another_user_signed_in_is_401(tree, people):
    client = signed_in(people.centre_staff)
    r = client.post("/report/", staff_report(), **queued(people.grid_worker))
    assert r.status_code == 401
    assert not Grievance.objects.exists()


def test_a_report_written_without_signing_in_is_not_sent_as_staff(tree, people):
    client = signed_in(people.grid_worker)
    r = client.post("/report/", resident_report(), **queued(None))
    assert r.status_code == 401
    assert not Grievance.objects.exists()
    # Sent by nobody signed in, it is the resident's report.
    assert Client().post("/report/", resident_report(), **queued(None)).status_code == 201


def test_the_rate_limit_is_429_with_retry_after(tree, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"public_create": "1/hour", "tracking": "60/hour"},
    }
    client = Client()
    with time_machine.travel(at(2026, 3, 17, 9, 40), tick=False):
        assert client.post("/report/", resident_report(), **JSON).status_code == 201
        r = client.post("/report/", resident_report(), **JSON)
    assert r.status_code == 429
    assert r["Retry-After"] == "1200"  # the hour's window ends at 10:00
    assert r.json()["detail"]
    assert Grievance.objects.count() == 1


def test_without_json_the_form_answers_as_before(tree, people):
    client = signed_in(people.grid_worker)
    r = client.post("/report/", staff_report())
    assert r.status_code == 302 and r["Location"] == "/report/done/"
    r = client.post("/report/", staff_report(title=""))
    assert r.status_code == 200 and 'id="report-errors"' in r.content.decode()
