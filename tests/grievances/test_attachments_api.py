from __future__ import annotations

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from tests.grievances.conftest import as_user

pytestmark = pytest.mark.django_db


def jpeg(name="photo.jpg") -> SimpleUploadedFile:
    buf = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 80, 40)).save(buf, "JPEG")
    return SimpleUploadedFile(name, buf.getvalue(), content_type="image/jpeg")


def _case(people):
    r = as_user(people.grid_worker).post(
        "/api/v1/grievances/",
        {
            "title": "漏水",
            "description": "楼道水管漏水",
            "category": "hazard.utilities",
            "lng": 91.2,
            "lat": 29.7,
        },
        format="json",
    )
    return r.json()["id"]


def test_upload_photos_then_name_them_in_a_note(tree, people):
    cid = _case(people)
    worker = as_user(people.grid_worker)
    r = worker.post(
        f"/api/v1/grievances/{cid}/attachments/",
        {"photos": [jpeg()], "public": True},
        format="multipart",
    )
    assert r.status_code == 201, r.json()
    photo_id = r.json()[0]["id"]
    r = worker.post(
        f"/api/v1/grievances/{cid}/note/",
        {"note": "现场照片", "attachments": [photo_id]},
        format="json",
    )
    assert r.status_code == 200, r.json()
    note = [e for e in r.json()["events"] if e["action"] == "note"][0]
    assert note["attachments"] == [photo_id]


def test_a_text_file_named_jpg_is_refused_with_a_message(tree, people):
    cid = _case(people)
    fake = SimpleUploadedFile("evil.jpg", b"not an image at all", content_type="image/jpeg")
    r = as_user(people.grid_worker).post(
        f"/api/v1/grievances/{cid}/attachments/", {"photos": [fake]}, format="multipart"
    )
    assert r.status_code == 400
    assert "evil.jpg" in r.json()["photos"][0]


def test_outsider_cannot_upload(tree, people):
    cid = _case(people)
    r = as_user(people.outsider).post(
        f"/api/v1/grievances/{cid}/attachments/", {"photos": [jpeg()]}, format="multipart"
    )
    assert r.status_code == 404


def test_create_with_photos_in_multipart(tree, people):
    r = as_user(people.grid_worker).post(
        "/api/v1/grievances/",
        {
            "title": "漏水",
            "description": "楼道水管漏水",
            "category": "hazard.utilities",
            "lng": "91.2",
            "lat": "29.7",
            "photos": [jpeg("a.jpg"), jpeg("b.jpg")],
        },
        format="multipart",
    )
    assert r.status_code == 201, r.json()
    assert len(r.json()["attachments"]) == 2
