"""Photos: re-encoded without metadata, refused with a message naming the file, and served
only through the case's scoping."""

from __future__ import annotations

import io
import struct
import zlib
from types import SimpleNamespace

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import translation
from PIL import Image
from rest_framework.authtoken.models import Token

from grievances.attachments import (
    MAX_BYTES,
    MAX_PER_CASE,
    UploadError,
    check_image,
    remember_tracked,
    save_upload,
)
from grievances.models import Attachment, Grievance
from tests.grievances.conftest import PHONE, api_as, new_case

pytestmark = pytest.mark.django_db

GPS_IFD = 0x8825
ORIENTATION = 0x0112


@pytest.fixture(autouse=True)
def _media_in_tmp(settings, tmp_path):
    # Stored photos go to the test's own folder, not var/media.
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


def stored_files(root) -> list:
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


# --- Making images ------------------------------------------------------------------------------


def gps_exif(orientation: int | None = None) -> Image.Exif:
    exif = Image.Exif()
    exif[0x010F] = "FengqiaoPhone"  # Make
    if orientation:
        exif[ORIENTATION] = orientation
    gps = exif.get_ifd(GPS_IFD)
    gps[1] = "N"
    gps[2] = (29.0, 14.0, 25.5)
    gps[3] = "E"
    gps[4] = (91.0, 46.0, 3.25)
    return exif


def image_bytes(img: Image.Image, fmt: str = "JPEG", **options) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **options)
    return buf.getvalue()


def upload(name: str, data: bytes, content_type: str = "image/jpeg") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type=content_type)


def photo(name: str = "photo.jpg", size=(40, 30), color=(200, 80, 40)) -> SimpleUploadedFile:
    return upload(name, image_bytes(Image.new("RGB", size, color)))


def png_declaring(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims width × height (a decompression bomb's shape)."""
    data = bytearray(image_bytes(Image.new("L", (1, 1)), "PNG"))
    # Signature (8), IHDR length (4) and type (4); then width and height, then 5 more
    # bytes of header data and the chunk's CRC over type + data.
    struct.pack_into(">II", data, 16, width, height)
    struct.pack_into(">I", data, 29, zlib.crc32(bytes(data[12:29])))
    return bytes(data)


# --- Reporting through the API ------------------------------------------------------------------

REPORT = {
    "title": "漏水",
    "description": "楼道水管漏水",
    "category": "hazard.utilities",
    "lng": "91.2",
    "lat": "29.7",
}


def staff_report(people, photos):
    return api_as(people.grid_worker).post(
        "/api/v1/grievances/", {**REPORT, "photos": photos}, format="multipart"
    )


def resident_report(photos):
    from rest_framework.test import APIClient

    return APIClient().post(
        "/api/v1/public/grievances/", {**REPORT, "photos": photos}, format="multipart"
    )


def only_attachment() -> Attachment:
    (attachment,) = Attachment.objects.all()
    return attachment


def read(field) -> bytes:
    with default_storage.open(field.name, "rb") as handle:
        return handle.read()


def opened(field) -> Image.Image:
    img = Image.open(io.BytesIO(read(field)))
    img.load()
    return img


# --- Re-encoding ----------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["staff", "resident"])
def test_gps_and_all_exif_are_gone_after_upload(tree, people, who):
    original = image_bytes(
        Image.new("RGB", (64, 48), (30, 120, 200)),
        exif=gps_exif(),
        comment=b"taken at home",
        icc_profile=None,
    )
    # The test image really carries GPS, or the test proves nothing.
    assert dict(Image.open(io.BytesIO(original)).getexif().get_ifd(GPS_IFD))[1] == "N"

    sent = [upload("home.jpg", original)]
    r = staff_report(people, sent) if who == "staff" else resident_report(sent)
    assert r.status_code == 201, r.content

    stored = only_attachment()
    data = read(stored.file)
    img = opened(stored.file)
    assert img.format == "JPEG"
    assert len(img.getexif()) == 0
    assert img.getexif().get_ifd(GPS_IFD) == {}
    for key in ("exif", "comment", "icc_profile", "xmp", "XML:com.adobe.xmp"):
        assert key not in img.info
    assert b"Exif" not in data
    assert b"FengqiaoPhone" not in data
    assert b"taken at home" not in data
    assert stored.content_type == "image/jpeg"
    assert stored.size == len(data)
    assert stored.original_name == "home.jpg"
    assert stored.public is True
    # The thumbnail is as clean.
    assert b"Exif" not in read(stored.thumbnail)


def test_orientation_is_applied_before_the_tag_goes(tree, people):
    # Stored landscape, left half red, right half blue; Orientation 6 means "turn 90° clockwise
    # to show": upright it is portrait, red on top.
    img = Image.new("RGB", (60, 40), (0, 0, 255))
    img.paste((255, 0, 0), (0, 0, 30, 40))
    r = staff_report(people, [upload("sideways.jpg", image_bytes(img, exif=gps_exif(6)))])
    assert r.status_code == 201, r.content

    stored = opened(only_attachment().file)
    assert stored.size == (40, 60)
    assert ORIENTATION not in stored.getexif()
    top, bottom = stored.getpixel((20, 8)), stored.getpixel((20, 52))
    assert top[0] > 200 and top[2] < 60, top
    assert bottom[2] > 200 and bottom[0] < 60, bottom


def test_large_photo_is_scaled_down_and_gets_a_thumbnail(tree, people):
    r = staff_report(people, [photo("big.jpg", size=(3200, 1600))])
    assert r.status_code == 201, r.content

    stored = only_attachment()
    assert opened(stored.file).size == (2560, 1280)
    assert stored.thumbnail.name
    thumb = opened(stored.thumbnail)
    assert thumb.format == "JPEG"
    assert thumb.size == (400, 200)


def test_small_photo_keeps_its_size(tree, people):
    staff_report(people, [photo("small.jpg", size=(320, 240))])
    stored = only_attachment()
    assert opened(stored.file).size == (320, 240)
    assert opened(stored.thumbnail).size == (320, 240)


def test_png_with_transparency_becomes_webp_and_opaque_png_becomes_jpeg(tree, people):
    clear = Image.new("RGBA", (50, 50), (255, 0, 0, 255))
    clear.paste((0, 0, 0, 0), (0, 0, 25, 50))
    opaque = Image.new("RGBA", (50, 50), (0, 255, 0, 255))  # alpha present, never used
    r = staff_report(
        people,
        [
            upload("marked.png", image_bytes(clear, "PNG"), "image/png"),
            upload("screen.png", image_bytes(opaque, "PNG"), "image/png"),
        ],
    )
    assert r.status_code == 201, r.content

    marked, screen = Attachment.objects.order_by("id")
    assert marked.content_type == "image/webp"
    kept = opened(marked.file)
    assert kept.format == "WEBP"
    assert kept.mode == "RGBA"
    assert kept.getpixel((5, 5))[3] == 0
    assert screen.content_type == "image/jpeg"
    assert opened(screen.file).format == "JPEG"


def test_type_comes_from_the_content_not_the_name(tree, people):
    # A PNG photo called .jpg and sent as text/plain is still read (and stored as JPEG).
    png = image_bytes(Image.new("RGB", (30, 30), (10, 10, 10)), "PNG")
    r = staff_report(people, [upload("actually-png.jpg", png, "text/plain")])
    assert r.status_code == 201, r.content
    assert only_attachment().content_type == "image/jpeg"


# --- Refusals -------------------------------------------------------------------------------------


def test_text_file_named_jpg_is_refused_naming_it_and_nothing_is_saved(tree, people, _media_in_tmp):
    fake = upload("evil.jpg", b"#!/bin/sh\necho not a photo\n")
    r = staff_report(people, [fake])
    assert r.status_code == 400
    (message,) = r.json()["photos"]
    assert "evil.jpg" in message
    assert "JPEG" in message
    # The whole report is refused (the API rolls back) and nothing reached storage.
    assert not Grievance.objects.exists()
    assert not Attachment.objects.exists()
    assert stored_files(_media_in_tmp) == []


def test_one_bad_photo_refuses_the_report_with_the_good_ones(tree, people):
    r = staff_report(people, [photo("good.jpg"), upload("evil.jpg", b"not a photo")])
    assert r.status_code == 400
    assert "evil.jpg" in r.json()["photos"][0]
    assert not Grievance.objects.exists()
    assert not Attachment.objects.exists()


def test_a_refused_single_photo_leaves_no_file(tree, people, _media_in_tmp):
    case = new_case(people.grid_worker)
    with pytest.raises(UploadError):
        save_upload(case, upload("evil.jpg", b"plain text"), people.grid_worker)
    assert stored_files(_media_in_tmp) == []
    assert not Attachment.objects.exists()


@pytest.mark.parametrize(
    "size",
    [
        (20000, 20000),  # 400 MP: Pillow itself refuses at open (over twice the limit)
        (8000, 8000),  # 64 MP: Pillow would only warn; we refuse
    ],
)
def test_decompression_bomb_is_refused(tree, people, size):
    bomb = png_declaring(*size)
    assert len(bomb) < 1024
    r = api_as(people.grid_worker).post(
        "/api/v1/grievances/",
        {**REPORT, "photos": [upload("bomb.png", bomb, "image/png")]},
        format="multipart",
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert r.status_code == 400
    (message,) = r.json()["photos"]
    assert "bomb.png" in message
    assert "megapixels" in message
    assert not Attachment.objects.exists()


def test_pillow_bomb_limit_is_set_for_the_process():
    assert Image.MAX_IMAGE_PIXELS <= 50_000_000


def test_over_10_mb_is_refused(tree, people):
    jpeg_start = image_bytes(Image.new("RGB", (8, 8)))
    big = upload("huge.jpg", jpeg_start + b"\0" * (MAX_BYTES + 1 - len(jpeg_start)))
    r = staff_report(people, [big])
    assert r.status_code == 400
    (message,) = r.json()["photos"]
    assert "huge.jpg" in message
    assert "10.0" in message
    assert not Attachment.objects.exists()


def test_truncated_upload_is_refused_as_incomplete(tree, people):
    whole = image_bytes(Image.new("RGB", (400, 300), (90, 90, 90)), quality=95)
    cut = upload("cut.jpg", whole[: len(whole) // 2])
    case = new_case(people.grid_worker)
    with translation.override("en"), pytest.raises(UploadError) as refused:
        save_upload(case, cut, people.grid_worker)
    assert "cut.jpg" in str(refused.value)
    assert "incomplete" in str(refused.value)


def test_empty_file_is_refused(tree, people):
    case = new_case(people.grid_worker)
    with pytest.raises(UploadError, match="empty.jpg"):
        save_upload(case, upload("empty.jpg", b""), people.grid_worker)


def test_tenth_photo_is_refused(tree, people):
    r = staff_report(people, [photo(f"p{i}.jpg") for i in range(MAX_PER_CASE)])
    assert r.status_code == 201, r.content
    case_id = r.json()["id"]
    assert Attachment.objects.filter(grievance_id=case_id).count() == MAX_PER_CASE

    r = api_as(people.grid_worker).post(
        f"/api/v1/grievances/{case_id}/attachments/",
        {"photos": [photo("tenth.jpg")]},
        format="multipart",
    )
    assert r.status_code == 400
    assert str(MAX_PER_CASE) in r.json()["photos"][0]

    # The service says which photo it did not add.
    with pytest.raises(UploadError) as refused:
        save_upload(Grievance.objects.get(pk=case_id), photo("tenth.jpg"), people.grid_worker)
    assert "tenth.jpg" in str(refused.value)
    assert Attachment.objects.filter(grievance_id=case_id).count() == MAX_PER_CASE


def test_message_names_the_file_without_its_path(tree, people):
    case = new_case(people.grid_worker)
    with pytest.raises(UploadError) as refused:
        save_upload(case, upload("C:\\fakepath\\note\x07.jpg", b"text"), people.grid_worker)
    assert refused.value.name == "note.jpg"
    assert "fakepath" not in str(refused.value)


def test_check_image_does_the_work_once_for_save():
    sent = photo("once.jpg")
    assert check_image(sent) == "image/jpeg"
    # The result is remembered on the upload: checking every photo first costs nothing more.
    assert getattr(sent, "_fengqiao_photo", None) is not None


# --- The scoped view ------------------------------------------------------------------------------


def web_as(user=None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def body(response) -> bytes:
    # Reading to the end closes the file (the test client wraps the stream); closing the
    # response again would send request_finished and close the test database connection.
    return b"".join(response.streaming_content)


@pytest.fixture
def photos(tree, people):
    """A grid worker's case in 江塘村第一网格 with a public and a private photo."""
    case = new_case(people.grid_worker)
    public = save_upload(case, photo("public.jpg"), people.grid_worker, public=True)
    private = save_upload(case, photo("private.jpg"), people.grid_worker, public=False)
    return SimpleNamespace(case=case, public=public, private=private)


def url(attachment: Attachment, thumb: bool = False) -> str:
    return f"/cases/attachments/{attachment.pk}/" + ("thumbnail/" if thumb else "")


@pytest.mark.parametrize("who", ["grid_worker", "centre_staff", "leader"])
def test_staff_in_scope_sees_the_photo(photos, people, who):
    r = web_as(getattr(people, who)).get(url(photos.private))
    assert r.status_code == 200
    assert r["Content-Type"] == "image/jpeg"
    assert r["Cache-Control"] == "private, max-age=3600"
    assert r["X-Content-Type-Options"] == "nosniff"
    assert r["Content-Disposition"] == 'inline; filename="private.jpg"'
    assert r["Content-Length"] == str(photos.private.size)
    assert body(r) == read(photos.private.file)


def test_thumbnail_view_serves_the_thumbnail(photos, people):
    r = web_as(people.centre_staff).get(url(photos.public, thumb=True))
    assert r.status_code == 200
    assert r["Content-Type"] == "image/jpeg"
    assert r["Content-Disposition"] == 'inline; filename="public-thumb.jpg"'
    assert body(r) == read(photos.public.thumbnail)


def test_thumbnail_view_falls_back_to_the_photo(photos, people):
    Attachment.objects.filter(pk=photos.public.pk).update(thumbnail="")
    r = web_as(people.centre_staff).get(url(photos.public, thumb=True))
    assert r.status_code == 200
    assert body(r) == read(photos.public.file)


@pytest.mark.parametrize("who", ["outsider", "sibling_staff", None])
@pytest.mark.parametrize("thumb", [False, True])
def test_others_get_404(photos, people, who, thumb):
    client = web_as(getattr(people, who) if who else None)
    for attachment in (photos.public, photos.private):
        assert client.get(url(attachment, thumb)).status_code == 404


def test_missing_and_forbidden_look_the_same(photos, people):
    client = web_as(people.outsider)
    assert client.get("/cases/attachments/999999/").status_code == 404
    assert client.get(url(photos.public)).status_code == 404


def test_tracked_resident_sees_public_photos_only(photos, people):
    resident = web_as()
    # Before proving the case: nothing.
    assert resident.get(url(photos.public)).status_code == 404

    session = resident.session
    remember_tracked(SimpleNamespace(session=session), photos.case)
    session.save()

    r = resident.get(url(photos.public))
    assert r.status_code == 200
    assert r["Content-Type"] == "image/jpeg"
    assert resident.get(url(photos.public, thumb=True)).status_code == 200
    assert resident.get(url(photos.private)).status_code == 404
    assert resident.get(url(photos.private, thumb=True)).status_code == 404


def test_tracking_one_case_shows_nothing_of_another(photos, people):
    other = new_case(people.grid_worker, phone="13900005678")
    other_photo = save_upload(other, photo("other.jpg"), people.grid_worker, public=True)
    resident = web_as()
    session = resident.session
    remember_tracked(SimpleNamespace(session=session), photos.case)
    session.save()
    assert resident.get(url(other_photo)).status_code == 404


def test_remember_tracked_keeps_a_short_list():
    request = SimpleNamespace(session={})
    for pk in range(1, 30):
        remember_tracked(request, SimpleNamespace(pk=pk))
    remember_tracked(request, SimpleNamespace(pk=25))
    kept = request.session["tracked_cases"]
    assert len(kept) == 20
    assert kept[-1] == 25
    assert kept.count(25) == 1


def test_resident_of_the_case_phone_matches(photos):
    # The fixture's case is followed with this phone; the tracking page proves it so.
    from grievances.selectors import find_tracked

    assert find_tracked(photos.case.tracking_code, PHONE[-4:]) == photos.case


def test_api_token_works_for_the_phone_app(photos, people):
    token = Token.objects.create(user=people.grid_worker)
    client = Client(HTTP_AUTHORIZATION=f"Token {token.key}")
    assert client.get(url(photos.private)).status_code == 200
    outsider = Token.objects.create(user=people.outsider)
    client = Client(HTTP_AUTHORIZATION=f"Token {outsider.key}")
    assert client.get(url(photos.private)).status_code == 404
    assert Client(HTTP_AUTHORIZATION="Token nonsense").get(url(photos.private)).status_code == 404


def test_etag_gives_304_in_scope_and_404_outside(photos, people):
    r = web_as(people.centre_staff).get(url(photos.public))
    etag = r["ETag"]
    body(r)
    again = web_as(people.centre_staff).get(url(photos.public), HTTP_IF_NONE_MATCH=etag)
    assert again.status_code == 304
    assert again["Cache-Control"] == "private, max-age=3600"
    stranger = web_as(people.outsider).get(url(photos.public), HTTP_IF_NONE_MATCH=etag)
    assert stranger.status_code == 404


def test_only_get_and_head(photos, people):
    client = web_as(people.centre_staff)
    assert client.head(url(photos.public)).status_code == 200
    assert client.post(url(photos.public)).status_code == 405


def test_media_url_serves_nothing(photos, people):
    client = web_as(people.centre_staff)
    assert client.get(f"/media/{photos.public.file.name}").status_code == 404
