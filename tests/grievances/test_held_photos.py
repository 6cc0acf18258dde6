"""Photos survive a report sent back with errors (/report/ without JavaScript, grids.held):
the photos that were fine are held for the session and shown as previews; sending again with
their tokens attaches them; nobody else can use or see them; they go after a day."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from PIL import Image

from grids import held
from grievances import idempotency
from grievances.models import Grievance
from tests.grievances.test_pages_intake import resident_report, staff_report

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


def photo(name: str, colour=(40, 90, 160)) -> SimpleUploadedFile:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), colour).save(buffer, "JPEG")
    return SimpleUploadedFile(name, buffer.getvalue(), content_type="image/jpeg")


def tokens_of(response) -> list[str]:
    return re.findall(r'name="held_photos" value="([^"]+)"', response.content.decode())


def previews_of(response) -> list[str]:
    return re.findall(r'<img class="photo-preview__img" src="([^"]+)"', response.content.decode())


def held_files(root) -> list[Path]:
    return sorted(p for p in Path(root, "held").rglob("*") if p.is_file())


def test_a_report_sent_back_keeps_its_photos_and_sends_them_next_time(tree, people, settings):
    client = Client()
    client.force_login(people.grid_worker)
    first, second = photo("pipe.jpg"), photo("wall.jpg", (200, 60, 30))

    r = client.post("/report/", staff_report(title="", photos=[first, second]))
    assert r.status_code == 200
    assert not Grievance.objects.exists()
    tokens = tokens_of(r)
    assert len(tokens) == 2
    assert previews_of(r) == [f"/report/held/{t}/" for t in tokens]
    assert "照片已为您保留" in r.content.decode()
    for url in previews_of(r):
        preview = client.get(url)
        assert preview.status_code == 200 and preview["Content-Type"] == "image/jpeg"
        assert Image.open(io.BytesIO(preview.content)).size == (64, 48)

    # The title given, the photos not chosen again: one case with both.
    r = client.post("/report/", staff_report(held_photos=tokens))
    assert r.status_code == 302
    case = Grievance.objects.get()
    assert case.attachments.count() == 2
    assert sorted(a.original_name for a in case.attachments.all()) == ["pipe.jpg", "wall.jpg"]
    # Sent: the held files are gone, the tokens spent.
    assert held_files(settings.MEDIA_ROOT) == []
    assert client.get(previews_of_url(tokens[0])).status_code == 404


def previews_of_url(token: str) -> str:
    return f"/report/held/{token}/"


def test_held_photos_hash_as_the_originals(tree, people):
    """The idempotency fingerprint hashes a report's photos: a report whose first send came
    back with an error and whose second send used the held photos is the same report as one
    that sent the photos themselves."""
    client = Client()
    client.force_login(people.grid_worker)
    original = photo("pipe.jpg")
    r = client.post("/report/", staff_report(title="", photos=[original]))
    [(_token, again)] = held.take(r.wsgi_request, tokens_of(r))
    assert idempotency.photo_digest(again) == idempotency.photo_digest(original)
    assert again.name == "pipe.jpg"


def test_a_resident_without_an_account_keeps_photos_too(tree):
    client = Client()
    r = client.post("/report/", resident_report(description="", photos=[photo("a.jpg")]))
    assert r.status_code == 200
    [token] = tokens_of(r)
    r = client.post("/report/", resident_report(held_photos=[token], photos=[photo("b.jpg")]))
    assert r.status_code == 302
    assert Grievance.objects.get().attachments.count() == 2


def test_a_photo_we_cannot_read_is_not_held_and_the_others_are(tree, people):
    client = Client()
    client.force_login(people.grid_worker)
    bogus = SimpleUploadedFile("x.jpg", b"not an image", content_type="image/jpeg")
    r = client.post("/report/", staff_report(photos=[photo("a.jpg"), bogus]))
    assert r.status_code == 200  # the bad photo is the error
    assert len(tokens_of(r)) == 1
    r = client.post("/report/", staff_report(held_photos=tokens_of(r)))
    assert r.status_code == 302
    assert Grievance.objects.get().attachments.count() == 1


def test_an_unticked_held_photo_is_left_out(tree, people):
    client = Client()
    client.force_login(people.grid_worker)
    r = client.post("/report/", staff_report(title="", photos=[photo("a.jpg"), photo("b.jpg")]))
    keep, _drop = tokens_of(r)
    assert client.post("/report/", staff_report(held_photos=[keep])).status_code == 302
    assert Grievance.objects.get().attachments.get().original_name == "a.jpg"


def test_another_session_can_neither_use_nor_see_the_tokens(tree, people):
    mine = Client()
    mine.force_login(people.grid_worker)
    r = mine.post("/report/", staff_report(title="", photos=[photo("a.jpg")]))
    [token] = tokens_of(r)

    for other, report in (
        (Client(), resident_report),
        (_signed_in(people.grid_leader), staff_report),
    ):
        assert other.get(previews_of_url(token)).status_code == 404
        r = other.post("/report/", report(held_photos=[token]))
        assert r.status_code == 302
    # Two cases, neither with the photo.
    assert Grievance.objects.count() == 2
    assert not any(case.attachments.exists() for case in Grievance.objects.all())
    # Still the owner's.
    assert mine.get(previews_of_url(token)).status_code == 200


def _signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_a_bad_token_is_a_404_not_a_500(tree):
    client = Client()
    assert client.get("/report/held/../../etc/passwd/").status_code == 404
    assert client.get("/report/held/x/").status_code == 404
    r = client.post("/report/", resident_report(held_photos=["../../x", "", "a" * 300]))
    assert r.status_code == 302
    assert not Grievance.objects.get().attachments.exists()


def test_held_photos_expire_after_a_day_and_are_swept(tree, people, settings):
    client = Client()
    client.force_login(people.grid_worker)
    start = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)
    with time_machine.travel(start, tick=False):
        r = client.post("/report/", staff_report(title="", photos=[photo("a.jpg")]))
        [token] = tokens_of(r)
    assert len(held_files(settings.MEDIA_ROOT)) == 2  # the photo and its preview
    with time_machine.travel(start + timedelta(hours=23), tick=False):
        assert held.sweep() == 0
        assert client.get(previews_of_url(token)).status_code == 200
    with time_machine.travel(start + timedelta(hours=25), tick=False):
        assert client.get(previews_of_url(token)).status_code == 404
        r = client.post("/report/", staff_report(held_photos=[token]))
        assert r.status_code == 302
        assert not Grievance.objects.get().attachments.exists()
        assert held.sweep() == 2
    assert held_files(settings.MEDIA_ROOT) == []


def test_no_more_than_the_limit_is_held(tree, people):
    client = Client()
    client.force_login(people.grid_worker)
    photos = [photo(f"p{i}.jpg", (i * 20, 90, 160)) for i in range(10)]
    r = client.post("/report/", staff_report(photos=photos))
    assert r.status_code == 200  # at most 9 photos per report
    assert len(tokens_of(r)) == 9
    assert client.post("/report/", staff_report(held_photos=tokens_of(r))).status_code == 302
    assert Grievance.objects.get().attachments.count() == 9
