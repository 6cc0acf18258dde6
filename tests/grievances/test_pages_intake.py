"""The intake and tracking pages: /report/ (grid workers, centre staff, residents),
/report/done/ and /track/, through Django's test client."""

from __future__ import annotations

import io
import re
from html import unescape

import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from PIL import Image

from grids.models import Role
from grievances import forms, services, sms
from grievances.models import Complainant, Grievance, Rating, Source, State
from grievances.privacy import mask_sent_to
from grievances.relay import relay_batch
from notifications.tasks import deliver_notifications
from tests.factories import make_member
from tests.grievances.conftest import POINT_A1, POINT_B1, advance, at, new_case

pytestmark = pytest.mark.django_db

EN = {"HTTP_ACCEPT_LANGUAGE": "en"}
PHONE = "13912345678"


@pytest.fixture(autouse=True)
def _sms_and_media(settings, tmp_path):
    settings.SMS_BACKEND = "grievances.sms.LocmemBackend"
    settings.MEDIA_ROOT = tmp_path
    sms.outbox.clear()
    yield
    sms.outbox.clear()


def client_for(user=None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def photo(name: str = "pipe.jpg") -> SimpleUploadedFile:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (40, 90, 160)).save(buffer, "JPEG")
    return SimpleUploadedFile(name, buffer.getvalue(), content_type="image/jpeg")


def text(response) -> str:
    return unescape(response.content.decode())


def field_errors(response, name: str) -> list[str]:
    """The errors rendered right under the field `name` (inside its own .field block)."""
    html = response.content.decode()
    match = re.search(
        rf'<ul class="field__errors" id="id_{re.escape(name)}_error">(.*?)</ul>', html, re.S
    )
    if not match:
        return []
    return [unescape(m) for m in re.findall(r"<li>(.*?)</li>", match.group(1), re.S)]


def staff_report(**changes) -> dict:
    data = {
        "category": "hazard.road",
        "title": "挡墙垮塌隐患",
        "description": "村道旁挡墙开裂，随时可能垮塌",
        "urgency": "",
        "lng": POINT_A1[0],
        "lat": POINT_A1[1],
        "address": "黑达村村道",
        "people-TOTAL_FORMS": "1",
        "people-INITIAL_FORMS": "0",
        "people-MIN_NUM_FORMS": "0",
        "people-MAX_NUM_FORMS": "1000",
        "people-0-name": "割绒",
        "people-0-phone": "13800001111",
        "people-0-id_number": "",
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def resident_report(**changes) -> dict:
    data = {
        "category": "hazard.utilities",
        "title": "楼道水管漏水",
        "description": "三单元楼道水管漏水，地面积水",
        "lng": POINT_A1[0],
        "lat": POINT_A1[1],
        "address": "江塘村3号楼3单元",
        "name": "央金",
        "phone": PHONE,
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


# --- the forms ---------------------------------------------------------------------------------


def test_the_resident_form_is_the_simple_one(tree):
    r = client_for().get("/report/")
    assert r.status_code == 200
    html = text(r)
    assert 'enctype="multipart/form-data"' in html
    assert 'capture="environment"' in html and 'accept="image/*"' in html and "multiple" in html
    for name in ("category", "title", "description", "place", "name", "phone", "photos"):
        assert f'for="id_{name}"' in html, name  # every field has its label
    for staff_only in ("risk_petition", "settled", "id_grid", "people-TOTAL_FORMS"):
        assert staff_only not in html
    # Categories are grouped and named in the active language; the filter finds both names.
    assert '<optgroup label="问题隐患">' in html
    assert 'data-search="供水供电 water and power supply hazard.utilities"' in html
    assert "leaflet/leaflet.js" in html and "js/report.js" in html
    assert "unpkg" not in html and "cdn" not in html.lower()
    en = text(client_for().get("/report/", **EN))
    assert '<optgroup label="Hazards and problems">' in en
    assert ">Water and power supply</option>" in en


def test_the_grid_workers_form_has_flags_people_grids_and_settling(tree, people):
    html = text(client_for(people.grid_worker).get("/report/"))
    for name in ("risk_petition", "risk_extreme", "risk_group", "settled", "settled_note"):
        assert f'id="id_{name}"' in html, name
    assert 'name="people-TOTAL_FORMS"' in html
    assert 'id="person-template"' in html
    # Only their own grid to choose from.
    assert tree.grid_a1.code in html
    assert tree.grid_a2.code not in html and tree.grid_b1.code not in html
    assert 'name="source"' not in html


def test_centre_staff_choose_the_source_and_do_not_settle(tree, people):
    html = text(client_for(people.centre_staff).get("/report/"))
    assert 'name="source"' in html
    assert 'id="id_settled"' not in html
    # The township centre's grids: both grids of 江塘村, not 克松村's.
    assert tree.grid_a1.code in html and tree.grid_a2.code in html
    assert tree.grid_b1.code not in html


@pytest.mark.parametrize("missing", ["title", "category", "description"])
def test_a_missing_field_is_named_next_to_it_and_the_rest_is_kept(tree, missing):
    r = client_for().post("/report/", resident_report(**{missing: ""}))
    assert r.status_code == 200
    assert len(field_errors(r, missing)) == 1
    html = text(r)
    assert 'id="report-errors"' in html
    for name in ("title", "description", "address", "phone"):
        if name != missing:
            value = resident_report()[name]
            assert f'value="{value}"' in html or f"{value}</textarea>" in html, name
    assert not Grievance.objects.exists()


def test_a_missing_location_is_named_next_to_the_map(tree, people):
    r = client_for().post("/report/", resident_report(lng="", lat=""))
    assert r.status_code == 200
    html = r.content.decode()
    assert re.search(r'id="location_error"><li>.+</li>', html)
    r = client_for(people.grid_worker).post("/report/", staff_report(lng="", lat="", grid=""))
    assert r.status_code == 200
    assert 'id="location_error"' in r.content.decode()
    assert not Grievance.objects.exists()


def test_errors_in_english(tree):
    r = client_for().post("/report/", resident_report(title=""), **EN)
    assert field_errors(r, "title") == ["This field is required."]
    assert "The report is not sent yet" in text(r)
    # Photos are held over an error now (tests/grievances/test_held_photos.py).
    assert "choose them again" not in text(r)


# --- grid workers ------------------------------------------------------------------------------


def test_the_map_point_is_located_to_its_grid(tree, people):
    r = client_for(people.grid_worker).post("/report/", staff_report())
    assert r.status_code == 302 and r["Location"] == "/report/done/"
    case = Grievance.objects.get()
    assert case.region == tree.grid_a1
    assert case.owning_centre == tree.village_a
    assert (case.lng, case.lat) == POINT_A1
    assert case.source == Source.GRID_WORKER
    assert case.reporter == people.grid_worker
    assert case.state == State.SUBMITTED
    assert case.urgency == "urgent"  # the category's default
    assert list(case.complainants.values_list("name", "phone", "is_reporter")) == [
        ("割绒", "13800001111", True)
    ]


def test_risk_flags_urgency_and_several_complainants(tree, people):
    data = staff_report(
        risk_group="on",
        risk_petition="on",
        urgency="most_urgent",
        **{
            "people-TOTAL_FORMS": "3",
            "people-1-name": "李某",
            "people-1-phone": "",
            "people-1-id_number": "54010219800101123X",
            "people-2-name": "",
            "people-2-phone": "",
            "people-2-id_number": "",
        },
    )
    r = client_for(people.grid_worker).post("/report/", data)
    assert r.status_code == 302, field_errors(r, "people-1-id_number")
    case = Grievance.objects.get()
    assert case.risk_flags == ["petition", "group"]
    assert case.urgency == "most_urgent"
    assert [c.name for c in case.complainants.all()] == ["割绒", "李某"]


def test_a_bad_complainant_row_is_named_next_to_its_field(tree, people):
    r = client_for(people.grid_worker).post(
        "/report/", staff_report(**{"people-0-id_number": "123", "people-0-phone": "abc"})
    )
    assert r.status_code == 200
    assert field_errors(r, "people-0-id_number")
    assert field_errors(r, "people-0-phone")
    assert not Grievance.objects.exists()


def test_settled_on_the_spot_enters_the_case_as_handled(tree, people):
    client = client_for(people.grid_worker)
    r = client.post("/report/", staff_report(settled="on", settled_note="当场调解，双方和解"))
    assert r.status_code == 302
    case = Grievance.objects.get()
    assert case.state == State.HANDLED
    assert case.result == "当场调解，双方和解"
    assert list(case.events.values_list("action", flat=True)) == ["submit", "handle"]
    html = text(client.get("/report/done/", **EN))
    assert case.display_code in html
    assert "Registered as settled on the spot" in html


def test_settled_needs_a_note(tree, people):
    r = client_for(people.grid_worker).post("/report/", staff_report(settled="on"))
    assert r.status_code == 200
    assert field_errors(r, "settled_note")
    assert not Grievance.objects.exists()


def test_a_grid_leader_chooses_one_of_their_grids(tree, people):
    r = client_for(people.grid_leader).post(
        "/report/", staff_report(lng="", lat="", grid=tree.grid_a2.code)
    )
    assert r.status_code == 302
    case = Grievance.objects.get()
    assert case.region == tree.grid_a2
    assert case.lng is None


def test_a_grid_worker_cannot_choose_another_workers_grid(tree, people):
    r = client_for(people.grid_worker).post(
        "/report/", staff_report(lng="", lat="", grid=tree.grid_b1.code)
    )
    assert r.status_code == 200
    assert field_errors(r, "grid")
    assert not Grievance.objects.exists()


def test_a_chosen_grid_and_a_pin_elsewhere_disagree(tree, people):
    r = client_for(people.grid_leader).post("/report/", staff_report(grid=tree.grid_a2.code))
    assert r.status_code == 200
    assert tree.grid_a1.name in field_errors(r, "grid")[0]
    assert not Grievance.objects.exists()


def test_a_pin_outside_the_workers_area_is_refused_next_to_the_map(tree, people):
    r = client_for(people.grid_worker).post(
        "/report/", staff_report(lng=POINT_B1[0], lat=POINT_B1[1]), **EN
    )
    assert r.status_code == 200
    assert "You can only report cases in your own area." in text(r)
    assert re.search(r'id="location_error"><li>You can only report', text(r))
    assert not Grievance.objects.exists()


def test_centre_staff_report_a_walk_in_visit(tree, people):
    r = client_for(people.centre_staff).post(
        "/report/", staff_report(source="walk_in", lng="", lat="", grid=tree.grid_a2.code)
    )
    assert r.status_code == 302
    case = Grievance.objects.get()
    assert case.source == Source.WALK_IN
    assert case.region == tree.grid_a2


def test_a_county_desk_enters_a_walk_in_of_the_county_itself(tree, people, monkeypatch):
    """A county centre registers a visit at the county's own level (no grid, no pin)."""
    from grids.models import Role
    from tests.factories import make_member

    desk = make_member("county_desk", tree.county, Role.CENTRE_STAFF)
    client = client_for(desk)
    html = client.get("/report/", **EN).content.decode()
    assert "Or choose the place" in html and f'value="{tree.county.code}"' in html
    r = client.post(
        "/report/", staff_report(source="walk_in", lng="", lat="", grid=tree.county.code)
    )
    assert r.status_code == 302
    case = Grievance.objects.get()
    assert case.region == tree.county and case.owning_centre == tree.county
    # A pin outside the chosen township is named next to the place.
    r = client.post(
        "/report/", staff_report(grid=tree.town_b.code, lng=POINT_A1[0], lat=POINT_A1[1]), **EN
    )
    assert r.status_code == 200
    assert "outside 昌珠镇" in field_errors(r, "grid")[0]
    # The search of a wide area finds townships and villages too; a grid worker's only grids.
    monkeypatch.setattr(forms, "GRID_SELECT_MAX", 1)
    r = client.get("/report/", {"place": "昌珠"}, headers={"HX-Request": "true"})
    assert tree.town_b.code in r.content.decode()
    r = client_for(people.grid_leader).get(
        "/report/", {"place": "江塘"}, headers={"HX-Request": "true"}
    )
    assert f'value="{tree.village_a.code}"' not in r.content.decode()
    assert f'value="{tree.grid_a1.code}"' in r.content.decode()


def test_staff_see_a_link_to_the_case(tree, people, django_capture_on_commit_callbacks):
    client = client_for(people.grid_worker)
    with django_capture_on_commit_callbacks(execute=True):
        client.post("/report/", staff_report())
    case = Grievance.objects.get()
    html = text(client.get("/report/done/"))
    assert f'href="/cases/{case.pk}/"' in html
    # The complainant gets the code too.
    relay_batch()
    deliver_notifications()
    assert [m.phone for m in sms.outbox] == ["13800001111"]


def test_a_wide_scope_searches_its_grids_instead_of_a_long_select(tree, people, monkeypatch):
    monkeypatch.setattr(forms, "GRID_SELECT_MAX", 1)
    client = client_for(people.centre_staff)
    html = client.get("/report/").content.decode()
    assert 'id="id_grid"' not in html  # no select
    assert 'name="place"' in html and "hx-get" in html
    data = staff_report(lng="", lat="", source="hotline", grid=tree.grid_a2.code)
    r = client.post("/report/", data)
    assert r.status_code == 302
    assert Grievance.objects.get().region == tree.grid_a2
    r = client.post("/report/", {**data, "grid": tree.grid_b1.code})
    assert r.status_code == 200
    assert field_errors(r, "grid")


# --- residents ---------------------------------------------------------------------------------


def test_a_resident_reports_with_a_photo_and_gets_the_code_by_sms(
    tree, settings, django_capture_on_commit_callbacks
):
    settings.SITE_URL = "https://fengqiao.example.cn/"
    client = client_for()
    with django_capture_on_commit_callbacks(execute=True):
        r = client.post("/report/", resident_report(photos=[photo()]))
    assert r.status_code == 302
    assert r["Location"] == "/report/done/"  # the code is not in the URL
    case = Grievance.objects.get()
    assert case.source == Source.RESIDENT_WEB and case.reporter is None
    assert case.region == tree.grid_a1
    assert case.attachments.count() == 1
    assert case.attachments.get().public is True
    assert case.attachments.get().event == case.events.get(action="submit")

    done = client.get("/report/done/")
    html = text(done)
    assert '<p class="case-code" id="case-code"' in html
    assert re.search(r"[0-9A-Z]{4}-[0-9A-Z]{4}", html).group(0) == case.display_code
    assert "139****5678" in html

    # The message goes out once the relay hands the report over (a worker, at once).
    relay_batch()
    deliver_notifications()
    assert len(sms.outbox) == 1
    message = sms.outbox[0]
    assert message.phone == PHONE
    assert message.text.startswith("【枫桥】")
    assert case.display_code in message.text
    assert f"https://fengqiao.example.cn/t/{case.tracking_code}/" in message.text
    # The short link opens the tracking form with the code filled in.
    r = client_for().get(f"/t/{case.tracking_code}/")
    assert r.status_code == 302 and r["Location"] == f"/track/?code={case.tracking_code}"

    # The reporter proved the case by sending it: /track/ shows it at once.
    r = client.get("/track/")
    assert r.status_code == 200
    assert 'data-state="submitted"' in r.content.decode()


def test_the_done_page_needs_a_report_first(db):
    r = client_for().get("/report/done/")
    assert r.status_code == 302 and r["Location"] == "/report/"


def test_an_anonymous_report_without_phone_sends_no_sms(tree, django_capture_on_commit_callbacks):
    client = client_for()
    with django_capture_on_commit_callbacks(execute=True):
        r = client.post("/report/", resident_report(name="", phone=""))
    assert r.status_code == 302
    case = Grievance.objects.get()
    assert not Complainant.objects.filter(grievance=case).exists()
    assert sms.outbox == []
    html = text(client.get("/report/done/", **EN))
    assert case.display_code in html
    assert "You gave no phone number" in html


def test_an_sms_gateway_error_does_not_fail_the_report(
    tree, settings, django_capture_on_commit_callbacks
):
    settings.SMS_BACKEND = "tests.grievances.test_pages_intake.BrokenBackend"
    with django_capture_on_commit_callbacks(execute=True):
        r = client_for().post("/report/", resident_report())
    assert r.status_code == 302
    assert Grievance.objects.count() == 1


class BrokenBackend(sms.BaseBackend):
    def send(self, phone, text):
        raise ConnectionError("gateway down")


def test_a_resident_without_location_searches_the_village(tree):
    # One match: taken at once (this is the path without JavaScript).
    r = client_for().post("/report/", resident_report(lng="", lat="", place="江塘"))
    assert r.status_code == 302
    case = Grievance.objects.get()
    assert case.region == tree.village_a
    assert case.owning_centre == tree.village_a


def test_several_villages_match_and_the_resident_chooses(tree):
    client = client_for()
    r = client.post("/report/", resident_report(lng="", lat="", place="村"))
    assert r.status_code == 200
    assert field_errors(r, "region")
    html = r.content.decode()
    assert f'name="region" value="{tree.village_a.code}"' in html
    assert f'name="region" value="{tree.village_b.code}"' in html
    assert "泽当街道 › 江塘村" in unescape(html)
    r = client.post(
        "/report/", resident_report(lng="", lat="", place="村", region=tree.village_b.code)
    )
    assert r.status_code == 302
    assert Grievance.objects.get().region == tree.village_b


def test_no_village_matches(tree):
    r = client_for().post("/report/", resident_report(lng="", lat="", place="不存在"))
    assert r.status_code == 200
    assert field_errors(r, "place")


def test_the_place_search_for_htmx(tree, people):
    r = client_for().get("/report/", {"place": "克松"}, HTTP_HX_REQUEST="true")
    assert r.status_code == 200
    html = unescape(r.content.decode())
    assert f'name="region" value="{tree.village_b.code}"' in html
    assert "<html" not in html
    # Staff search their own grids (the widget shows when they have many).
    r = client_for(people.centre_staff).get("/report/", {"place": "网格"}, HTTP_HX_REQUEST="true")
    html = r.content.decode()
    assert f'name="grid" value="{tree.grid_a1.code}"' in html
    assert tree.grid_b1.code not in html


def test_a_pin_outside_every_region(tree):
    r = client_for().post("/report/", resident_report(lng=120.0, lat=10.0))
    assert r.status_code == 200
    assert re.search(r'id="location_error"><li>', r.content.decode())


def test_a_photo_that_is_not_a_photo(tree):
    bogus = SimpleUploadedFile("x.jpg", b"not an image", content_type="image/jpeg")
    r = client_for().post("/report/", resident_report(photos=[bogus]))
    assert r.status_code == 200
    assert field_errors(r, "photos")
    assert not Grievance.objects.exists()


def test_the_anonymous_form_is_rate_limited_per_ip(tree, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"public_create": "2/hour", "tracking": "60/hour"},
    }
    client = client_for()
    assert client.post("/report/", resident_report()).status_code == 302
    assert client.post("/report/", resident_report()).status_code == 302
    r = client.post("/report/", resident_report(title="第三次"))
    assert r.status_code == 429
    html = text(r)
    assert 'id="report-errors"' in html
    assert "第三次" in html  # the input is kept
    assert Grievance.objects.count() == 2
    # Another address is not affected; staff are never limited.
    other = Client(REMOTE_ADDR="10.0.0.9")
    assert other.post("/report/", resident_report()).status_code == 302


def test_the_anonymous_form_counts_an_ipv6_64_as_one_client(tree, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"public_create": "1/hour", "tracking": "60/hour"},
    }
    first = Client(REMOTE_ADDR="2001:db8:5:6::1")
    assert first.post("/report/", resident_report()).status_code == 302
    same_64 = Client(REMOTE_ADDR="2001:db8:5:6:7:8:9:a")
    assert same_64.post("/report/", resident_report()).status_code == 429
    other_64 = Client(REMOTE_ADDR="2001:db8:5:7::1")
    assert other_64.post("/report/", resident_report()).status_code == 302


# --- tracking ----------------------------------------------------------------------------------


@pytest.fixture
def case(tree):
    return new_case(None, phone=PHONE, title="楼道水管漏水")


def lookup(client, code, last4="5678", **extra):
    return client.post("/track/", {"act": "lookup", "code": code, "last4": last4}, **extra)


def test_tracking_with_the_code_and_last4(case, django_assert_max_num_queries):
    client = client_for()
    r = lookup(client, case.display_code.lower())
    assert r.status_code == 302 and r["Location"] == "/track/"
    # The case and its timeline; the text-message section: the complainant, whether they said no.
    with django_assert_max_num_queries(7):
        r = client.get("/track/")
    html = text(r)
    assert 'data-state="submitted"' in html
    assert "楼道水管漏水" in html
    assert case.display_code in html
    assert "待受理" in html  # the state in Chinese


def test_wrong_code_and_wrong_phone_give_the_same_message(case):
    other = "2222-2222" if case.display_code != "2222-2222" else "3333-3333"
    phone_answer = lookup(client_for(), case.display_code, "0000")
    code_answer = lookup(client_for(), other)
    assert phone_answer.status_code == code_answer.status_code == 200
    wrong_phone, wrong_code = text(phone_answer), text(code_answer)
    message = re.search(r'id="track-error">\s*<p>(.*?)</p>', wrong_phone).group(1)
    assert message
    assert re.search(r'id="track-error">\s*<p>(.*?)</p>', wrong_code).group(1) == message
    assert "data-state" not in wrong_phone

    # The whole page is the same but for what was typed (and the form's CSRF token).
    def page(html: str, typed: tuple[str, str]) -> str:
        html = re.sub(r'name="csrfmiddlewaretoken" value="[^"]*"', "", html)
        html = re.sub(r'"X-CSRFToken": "[^"]*"', "", html)
        for value in typed:
            html = html.replace(f'value="{value}"', 'value=""')
        return html

    assert page(wrong_phone, (case.display_code, "0000")) == page(wrong_code, (other, "5678"))


def test_malformed_lookups_are_named_next_to_the_fields(case):
    r = lookup(client_for(), "AB", "12a4", **EN)
    assert field_errors(r, "code") == ["A case code has 8 letters and digits."]
    assert field_errors(r, "last4") == ["Give the last 4 digits of your phone."]


def test_the_code_can_be_prefilled_from_the_link(case):
    html = client_for().get("/track/", {"code": case.display_code}).content.decode()
    assert f'value="{case.display_code}"' in html


def test_tracking_is_limited_per_code(case, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"public_create": "20/hour", "tracking": "3/hour"},
    }
    for _ in range(3):
        lookup(Client(REMOTE_ADDR="10.0.0.1"), case.display_code, "0000")
    # From anywhere, even with the right phone: the code is closed for the hour.
    r = lookup(Client(REMOTE_ADDR="10.0.0.2"), case.display_code)
    assert r.status_code == 429
    assert "data-state" not in r.content.decode()


def test_times_are_beijing_time_in_the_active_language(tree):
    with time_machine.travel(at(2026, 7, 31, 11, 14), tick=False):
        case = new_case(None, phone=PHONE)
    client = client_for()
    lookup(client, case.display_code)
    assert "2026年7月31日 11:14" in text(client.get("/track/"))
    assert "July 31, 2026, 11:14 a.m." in text(client.get("/track/", **EN))


def test_the_timeline_follows_the_case_and_shows_the_deadline(case, people):
    client = client_for()
    lookup(client, case.display_code)
    advance(case, State.IN_PROGRESS, people)
    services.grievance_note(
        Grievance.objects.get(pk=case.pk), people.grid_worker, note="维修师傅已到场", public=True
    )
    services.grievance_note(
        Grievance.objects.get(pk=case.pk), people.grid_worker, note="内部备注", public=False
    )
    html = text(client.get("/track/", **EN))
    assert 'data-state="in_progress"' in html
    assert "维修师傅已到场" in html
    assert "内部备注" not in html
    assert "To be handled by" in html
    assert "Handler reported in" in html and "Dispatched for handling" in html
    # No staff names reach the resident.
    for secret in (people.grid_worker.username, people.centre_staff.username):
        assert secret not in html


def test_public_photos_are_shown_as_thumbnails(tree):
    client = client_for()
    client.post("/report/", resident_report(photos=[photo()]))
    attachment = Grievance.objects.get().attachments.get()
    html = client.get("/track/").content.decode()
    assert f'src="/cases/attachments/{attachment.pk}/thumbnail/"' in html
    assert attachment.grievance_id in client.session["tracked_cases"]


def test_the_proven_case_is_remembered_for_photos(case):
    client = client_for()
    lookup(client, case.display_code)
    assert case.pk in client.session["tracked_cases"]


def test_withdraw(case):
    client = client_for()
    lookup(client, case.display_code)
    html = text(client.get("/track/", **EN))
    assert "Withdraw the report" in html and 'value="withdraw"' in html
    r = client.post("/track/", {"act": "withdraw", "withdraw-note": "已自行解决"})
    assert r.status_code == 302 and r["Location"] == "/track/"
    case.refresh_from_db()
    assert case.state == State.WITHDRAWN
    event = case.events.get(action="withdraw")
    assert (event.note, event.actor_id) == ("已自行解决", None)
    html = text(client.get("/track/", **EN))
    assert 'data-state="withdrawn"' in html
    assert 'value="withdraw"' not in html and 'value="urge"' not in html


def test_urge(case, people):
    client = client_for()
    lookup(client, case.display_code)
    # Not before the centre has accepted the report: said so, nothing counted.
    r = client.post("/track/", {"act": "urge", "urge-note": "水一直在漏"}, follow=True, **EN)
    assert "once the governance centre has accepted it" in text(r)
    assert Grievance.objects.get(pk=case.pk).urge_count == 0
    advance(case, State.ACCEPTED, people)
    r = client.post("/track/", {"act": "urge", "urge-note": "水一直在漏"})
    assert r.status_code == 302
    case.refresh_from_db()
    assert case.urge_count == 1
    assert case.state == State.ACCEPTED
    html = text(client.get("/track/"))
    assert "水一直在漏" in html


def test_a_handled_case_can_no_longer_be_withdrawn(case, people):
    client = client_for()
    lookup(client, case.display_code)
    advance(case, State.HANDLED, people)
    html = client.get("/track/").content.decode()
    assert 'value="withdraw"' not in html
    r = client.post("/track/", {"act": "withdraw"}, follow=True, **EN)
    assert "cannot be done now" in text(r)
    case.refresh_from_db()
    assert case.state == State.HANDLED


def test_rate_once_closed(case, people):
    client = client_for()
    lookup(client, case.display_code)
    assert 'value="rate"' not in client.get("/track/").content.decode()
    advance(case, State.CLOSED, people)
    html = text(client.get("/track/", **EN))
    assert "Rate the result" in html
    assert html.count('name="score"') == 5
    r = client.post("/track/", {"act": "rate", "comment": "还行"}, **EN)
    assert r.status_code == 200
    assert field_errors(r, "score") == ["Choose from 1 to 5 stars."]
    assert field_errors(r, "resolved") == ["Say whether the matter is resolved."]
    assert "还行" in text(r)
    assert not Rating.objects.exists()
    r = client.post(
        "/track/", {"act": "rate", "score": "5", "resolved": "yes", "comment": "修得很快"}
    )
    assert r.status_code == 302
    rating = Rating.objects.get()
    assert (rating.score, rating.resolved, rating.comment) == (5, True, "修得很快")
    html = text(client.get("/track/", **EN))
    assert "Change your rating" in html  # within 7 days
    assert "Thank you for your rating" in html
    assert "5 stars" in html
    r = client.post("/track/", {"act": "rate", "score": "2", "resolved": "no"})
    assert Rating.objects.get().score == 2


def test_acts_need_a_proven_case(case):
    r = client_for().post("/track/", {"act": "urge"})
    assert r.status_code == 302 and r["Location"] == "/track/"
    case.refresh_from_db()
    assert case.urge_count == 0


def test_track_another_case_forgets_the_proven_one(case):
    client = client_for()
    lookup(client, case.display_code)
    r = client.get("/track/", {"another": "1"})
    assert r.status_code == 302
    html = client.get("/track/").content.decode()
    assert "data-state" not in html and 'name="last4"' in html
    assert case.pk not in client.session.get("tracked_cases", [])


def test_the_case_page_query_count_stays_flat(case, people, django_assert_max_num_queries):
    client = client_for()
    lookup(client, case.display_code)
    advance(case, State.CLOSED, people)
    for _ in range(5):
        services.grievance_note(
            Grievance.objects.get(pk=case.pk), people.centre_staff, note="进展", public=True
        )
    with django_assert_max_num_queries(7):  # 5, and 2 for the text-message section
        r = client.get("/track/")
    assert r.status_code == 200
    assert r.content.decode().count("public-timeline__item--note") == 5


def test_leaders_report_like_centre_staff(tree):
    user = make_member("leader2", tree.county, Role.LEADER)
    html = text(client_for(user).get("/report/"))
    assert 'name="source"' in html  # leaders report like centre staff


# --- the SMS backend ---------------------------------------------------------------------------


def test_console_backend_prints(settings, capsys):
    settings.SMS_BACKEND = "grievances.sms.ConsoleBackend"
    assert sms.send_sms(PHONE, "测试") is True
    assert f"SMS to {PHONE}: 【枫桥】测试" in capsys.readouterr().out  # signed


def test_mask():
    assert mask_sent_to("13912345678") == "139****5678"
    assert mask_sent_to("139-1234-5678") == "139****5678"
    assert mask_sent_to("12345") == "*2345"
