"""A report sent twice is saved once: the client's Idempotency-Key (the API's header, the
report page's hidden field) makes a repeat answer the first case, a different report with
the same key a 422, and two tries racing with one key one case."""

from __future__ import annotations

import io
import re
import threading
import uuid

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from PIL import Image
from rest_framework.test import APIClient

from grids.models import User
from grievances.models import Attachment, CaseEvent, Complainant, Grievance
from tests.grievances.conftest import POINT_A1, api_as

pytestmark = pytest.mark.django_db

PUBLIC = "/api/v1/public/grievances/"
STAFF = "/api/v1/grievances/"

REPORT = {
    "title": "楼道水管漏水",
    "description": "三单元楼道水管漏水，地面积水",
    "category": "hazard.utilities",
    "lng": POINT_A1[0],
    "lat": POINT_A1[1],
    "complainants": [{"name": "赵六", "phone": "13912345678"}],
}


@pytest.fixture(autouse=True)
def _media_in_tmp(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


def key() -> str:
    return str(uuid.uuid4())


def send(client, url, key_, data=None, fmt="json", **extra):
    headers = {} if key_ is None else {"Idempotency-Key": key_}
    return client.post(url, data or REPORT, format=fmt, headers=headers, **extra)


def photo(color=(40, 90, 160)) -> SimpleUploadedFile:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), color).save(buffer, "JPEG")
    return SimpleUploadedFile("pipe.jpg", buffer.getvalue(), content_type="image/jpeg")


# --- the public API


def test_a_public_repeat_answers_the_first_body_with_200_and_makes_no_second_case(tree):
    k = key()
    first = send(APIClient(), PUBLIC, k)
    assert first.status_code == 201, first.json()
    # The first answer was lost; the phone sends again, now from another address (4G).
    again = send(APIClient(), PUBLIC, k, REMOTE_ADDR="10.9.8.7")
    assert again.status_code == 200
    assert again.content == first.content
    assert set(again.json()) == {"tracking_code", "title"}
    assert Grievance.objects.count() == 1
    assert Complainant.objects.count() == 1
    assert CaseEvent.objects.count() == 1


def test_the_key_is_written_on_the_case_scoped_and_fingerprinted(tree):
    k = key().upper()
    send(APIClient(), PUBLIC, k)
    case = Grievance.objects.get()
    assert case.idempotency_key == f"a:{k.lower()}"
    assert re.fullmatch(r"[0-9a-f]{64}", case.idempotency_fingerprint)


def test_the_same_key_with_a_different_report_is_refused_with_422(tree):
    k = key()
    assert send(APIClient(), PUBLIC, k).status_code == 201
    r = send(APIClient(), PUBLIC, k, {**REPORT, "title": "另一件事"})
    assert r.status_code == 422
    assert "Idempotency-Key" in r.json()
    assert Grievance.objects.count() == 1


@pytest.mark.parametrize("bad", ["not-a-uuid", "1234", "a" * 200, str(uuid.uuid4()) + "0" * 20])
@pytest.mark.parametrize("url", [PUBLIC, STAFF])
def test_a_malformed_key_is_refused_with_400_naming_the_header(tree, people, bad, url):
    client = api_as(people.grid_worker) if url == STAFF else APIClient()
    r = send(client, url, bad)
    assert r.status_code == 400
    assert "Idempotency-Key" in r.json()
    assert not Grievance.objects.exists()


def test_without_a_key_every_send_is_a_case_of_its_own(tree):
    assert send(APIClient(), PUBLIC, None).status_code == 201
    assert send(APIClient(), PUBLIC, None).status_code == 201
    assert Grievance.objects.count() == 2


def test_different_keys_make_different_cases(tree):
    assert send(APIClient(), PUBLIC, key()).status_code == 201
    assert send(APIClient(), PUBLIC, key()).status_code == 201
    assert Grievance.objects.count() == 2


def test_photos_sent_again_in_a_new_multipart_body_are_the_same_report(tree):
    k = key()
    data = {**REPORT, "complainants": [], "photos": [photo(), photo((1, 2, 3))]}
    del data["complainants"]
    first = send(APIClient(), PUBLIC, k, data, fmt="multipart")
    assert first.status_code == 201, first.json()
    again = send(
        APIClient(), PUBLIC, k, {**data, "photos": [photo((1, 2, 3)), photo()]}, fmt="multipart"
    )
    assert again.status_code == 200
    assert again.content == first.content
    assert Grievance.objects.count() == 1
    assert Attachment.objects.count() == 2
    # Another photo is another report.
    other = send(APIClient(), PUBLIC, k, {**data, "photos": [photo((9, 9, 9))]}, fmt="multipart")
    assert other.status_code == 422
    assert Attachment.objects.count() == 2


# --- the staff API


def test_a_staff_repeat_answers_the_first_body_with_200(tree, people):
    k = key()
    client = api_as(people.grid_worker)
    first = send(client, STAFF, k)
    assert first.status_code == 201, first.json()
    again = send(client, STAFF, k)
    assert again.status_code == 200
    assert again.json() == first.json()
    assert again.json()["id"] == Grievance.objects.get().pk
    r = send(client, STAFF, k, {**REPORT, "description": "改了"})
    assert r.status_code == 422 and "Idempotency-Key" in r.json()
    assert Grievance.objects.count() == 1


def test_a_signed_in_key_is_the_users_own(tree, people):
    k = key()
    mine = send(api_as(people.grid_worker), STAFF, k)
    theirs = send(api_as(people.grid_leader), STAFF, k)
    assert (mine.status_code, theirs.status_code) == (201, 201)
    assert mine.json()["id"] != theirs.json()["id"]
    # And an anonymous sender's same key is a report of its own too.
    assert send(APIClient(), PUBLIC, k).status_code == 201
    assert Grievance.objects.count() == 3


def test_a_staff_repeat_with_photos_makes_one_case(tree, people):
    k = key()
    client = api_as(people.grid_worker)
    data = {**REPORT, "photos": [photo()]}
    del data["complainants"]
    first = send(client, STAFF, k, data, fmt="multipart")
    assert first.status_code == 201, first.json()
    again = send(client, STAFF, k, {**data, "photos": [photo()]}, fmt="multipart")
    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    assert Grievance.objects.count() == 1 and Attachment.objects.count() == 1


def test_a_case_settled_on_the_spot_honours_the_key(tree, people):
    k = key()
    client = api_as(people.grid_worker)
    data = {**REPORT, "settled_note": "当场修好"}
    first = send(client, STAFF, k, data)
    assert first.status_code == 201, first.json()
    assert first.json()["state"] == "handled"
    assert send(client, STAFF, k, data).status_code == 200
    assert Grievance.objects.count() == 1


# --- the report page


def page_report(**changes) -> dict:
    data = {
        "category": "hazard.utilities",
        "title": "楼道水管漏水",
        "description": "三单元楼道水管漏水，地面积水",
        "lng": POINT_A1[0],
        "lat": POINT_A1[1],
        "address": "江塘村3号楼3单元",
        "name": "央金",
        "phone": "13912345678",
    }
    data.update(changes)
    return data


def test_the_report_page_carries_a_hidden_key(tree):
    html = Client().get("/report/").content.decode()
    match = re.search(r'<input type="hidden" name="idempotency_key" value="([^"]+)"', html)
    assert match, "no hidden key field"
    uuid.UUID(match.group(1))


def test_the_page_sent_twice_with_one_key_makes_one_case_and_the_same_done_page(tree):
    k = key()
    first = Client().post("/report/", page_report(idempotency_key=k))
    assert first.status_code == 302
    done = Client()
    again = done.post("/report/", page_report(idempotency_key=k))
    assert again.status_code == 302 and again["Location"] == first["Location"]
    case = Grievance.objects.get()
    assert case.display_code in done.get(again["Location"]).content.decode()


def test_the_page_with_a_used_key_and_another_report_shows_an_error_and_a_new_key(tree):
    k = key()
    assert Client().post("/report/", page_report(idempotency_key=k)).status_code == 302
    r = Client().post("/report/", page_report(idempotency_key=k, title="另一件事"))
    assert r.status_code == 200
    assert Grievance.objects.count() == 1
    html = r.content.decode()
    assert 'id="report-errors"' in html
    fresh = re.search(r'name="idempotency_key" value="([^"]+)"', html).group(1)
    assert fresh != k
    # Sent again with the key the page gave, it is a case of its own.
    r = Client().post("/report/", page_report(idempotency_key=fresh, title="另一件事"))
    assert r.status_code == 302
    assert Grievance.objects.count() == 2


def test_the_page_with_a_damaged_key_shows_an_error(tree):
    r = Client().post("/report/", page_report(idempotency_key="garbage"))
    assert r.status_code == 200
    assert 'id="report-errors"' in r.content.decode()
    assert not Grievance.objects.exists()


# --- a race, on PostgreSQL


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("photos", [False, True], ids=["one-statement", "with-photos"])
def test_two_tries_racing_with_one_key_make_one_case(tree, people, require_postgres, photos):
    k = key()
    barrier = threading.Barrier(2, timeout=30)
    outcomes: list = [None, None]
    worker_pk = people.grid_worker.pk

    def run(i: int) -> None:
        try:
            client = api_as(User.objects.get(pk=worker_pk))
            data = dict(REPORT)
            fmt = "json"
            if photos:
                del data["complainants"]
                data["photos"] = [photo()]
                fmt = "multipart"
            barrier.wait()
            outcomes[i] = send(client, STAFF, k, data, fmt=fmt)
        except BaseException as exc:  # noqa: BLE001 - handed back to the test
            barrier.abort()
            outcomes[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(r.status_code for r in outcomes) == [200, 201], outcomes
    assert outcomes[0].json()["id"] == outcomes[1].json()["id"]
    assert Grievance.objects.count() == 1
