"""Residents without a login: reporting, tracking by code and phone, rating, withdrawing and
urging, and the limits that keep a tracking code from being guessed."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import time_machine
from rest_framework.test import APIClient

from grids.models import Role
from grievances import models
from grievances.api import PublicCreateThrottle, TrackingThrottle
from grievances.models import Complainant, Grievance, State
from tests.factories import make_member
from tests.grievances.conftest import PHONE, advance, api_as, at, new_case, post_act

pytestmark = pytest.mark.django_db

REPORT = {
    "title": "楼道水管漏水",
    "description": "三单元楼道水管漏水，地面积水",
    "category": "hazard.utilities",
    "lng": 91.2,
    "lat": 29.7,
    "address": "江塘村3号楼3单元",
    "complainants": [{"name": "赵六", "phone": "139-1234-5678"}],
}


def report(client=None, **changes):
    return (client or APIClient()).post(
        "/api/v1/public/grievances/", {**REPORT, **changes}, format="json"
    )


def track_url(code: str, what: str = "") -> str:
    return f"/api/v1/track/{code}/{what + '/' if what else ''}"


# --- reporting


def test_a_resident_reports_without_login_and_gets_a_tracking_code(tree):
    r = report()
    assert r.status_code == 201, r.json()
    code = r.json()["tracking_code"]
    assert len(code) == 9 and code[4] == "-"
    case = Grievance.objects.get()
    assert case.display_code == code
    assert case.state == State.SUBMITTED
    assert case.source == "resident_web"
    assert case.reporter is None
    assert case.region == tree.grid_a1
    assert case.owning_centre == tree.village_a
    reporter = Complainant.objects.get(grievance=case)
    assert (reporter.name, reporter.is_reporter, reporter.phone_last4) == ("赵六", True, "5678")
    # Only the code and the title come back: nothing about the area's staff.
    assert set(r.json()) == {"tracking_code", "title"}


@pytest.mark.parametrize("missing", ["title", "category", "description"])
def test_a_report_without_a_required_field_names_it(tree, missing):
    data = {k: v for k, v in REPORT.items() if k != missing}
    r = APIClient().post("/api/v1/public/grievances/", data, format="json")
    assert r.status_code == 400
    assert missing in r.json()
    assert not Grievance.objects.exists()


def test_a_report_without_a_point_or_region_names_the_location(tree):
    data = {k: v for k, v in REPORT.items() if k not in ("lng", "lat")}
    r = APIClient().post("/api/v1/public/grievances/", data, format="json")
    assert r.status_code == 400
    assert "region" in r.json()
    r = report(lng=None)
    assert r.status_code == 400


def test_a_report_with_only_half_a_point_names_the_missing_half(tree):
    data = {k: v for k, v in REPORT.items() if k != "lat"}
    r = APIClient().post("/api/v1/public/grievances/", data, format="json")
    assert r.status_code == 400 and "lat" in r.json()


def test_a_point_outside_every_region_is_400_naming_lng(tree):
    r = report(lng=120.0, lat=35.0)
    assert r.status_code == 400
    assert "lng" in r.json()
    assert not Grievance.objects.exists()


def test_an_unknown_category_is_400(tree):
    r = report(category="no.such")
    assert r.status_code == 400 and "category" in r.json()


def test_a_bad_phone_number_is_400(tree):
    r = report(complainants=[{"name": "赵六", "phone": "call me"}])
    assert r.status_code == 400 and "complainants" in r.json()


def test_public_reports_are_throttled(tree, monkeypatch):
    monkeypatch.setattr(PublicCreateThrottle, "rate", "2/hour", raising=False)
    assert report().status_code == 201
    assert report().status_code == 201
    r = report()
    assert r.status_code == 429


def test_the_public_report_counts_an_ipv6_64_as_one_client(tree, monkeypatch):
    # Each subscriber is given a whole /64: a new address in it is no new allowance.
    monkeypatch.setattr(PublicCreateThrottle, "rate", "2/hour", raising=False)
    assert report(APIClient(REMOTE_ADDR="2001:db8:1:2::1")).status_code == 201
    assert report(APIClient(REMOTE_ADDR="2001:db8:1:2:abcd::9")).status_code == 201
    r = report(APIClient(REMOTE_ADDR="2001:db8:1:2:ffff:ffff:ffff:fffe"))
    assert r.status_code == 429
    # Another /64 is another client.
    assert report(APIClient(REMOTE_ADDR="2001:db8:1:3::1")).status_code == 201


def test_an_ipv4_mapped_address_is_the_ipv4_client(tree, monkeypatch):
    monkeypatch.setattr(PublicCreateThrottle, "rate", "1/hour", raising=False)
    assert report(APIClient(REMOTE_ADDR="192.0.2.7")).status_code == 201
    assert report(APIClient(REMOTE_ADDR="::ffff:192.0.2.7")).status_code == 429
    assert report(APIClient(REMOTE_ADDR="192.0.2.8")).status_code == 201
    assert Grievance.objects.count() == 2


# --- tracking


@pytest.fixture
def tracked(tree):
    r = report()
    assert r.status_code == 201
    return Grievance.objects.get()


@pytest.mark.parametrize("form", ["display", "lower", "plain", "plain_lower"])
def test_tracking_with_code_and_last4(tracked, form):
    code = {
        "display": tracked.display_code,
        "lower": tracked.display_code.lower(),
        "plain": tracked.tracking_code,
        "plain_lower": tracked.tracking_code.lower(),
    }[form]
    r = APIClient().get(track_url(code), {"phone_last4": "5678"})
    assert r.status_code == 200, r.json()
    body = r.json()
    assert body["tracking_code"] == tracked.display_code
    assert body["state"] == "submitted"
    assert [e["action"] for e in body["timeline"]] == ["submit"]
    assert body["can_withdraw"] and not body["can_rate"]
    # Nobody has read the report yet: urging waits for the centre to accept it.
    assert not body["can_urge"] and "受理后才能催办" in body["urge_refusal"]


def test_a_wrong_code_and_a_wrong_phone_get_the_same_answer(tracked):
    wrong_phone = APIClient().get(track_url(tracked.display_code), {"phone_last4": "0000"})
    other = "2222-2222" if tracked.tracking_code != "22222222" else "3333-3333"
    wrong_code = APIClient().get(track_url(other), {"phone_last4": "5678"})
    assert wrong_phone.status_code == wrong_code.status_code == 404
    assert wrong_phone.content == wrong_code.content


def test_tracking_needs_four_digits(tracked):
    r = APIClient().get(track_url(tracked.display_code), {"phone_last4": "56"})
    assert r.status_code == 400 and "phone_last4" in r.json()
    r = APIClient().get(track_url(tracked.display_code))
    assert r.status_code == 400


def test_a_case_without_a_phone_cannot_be_tracked(tree):
    r = report(complainants=[{"name": "匿名"}])
    assert r.status_code == 201
    code = r.json()["tracking_code"]
    for last4 in ("0000", "    "):
        assert APIClient().get(track_url(code), {"phone_last4": last4}).status_code in (400, 404)


def test_tracking_attempts_are_limited_per_code(tracked, monkeypatch):
    monkeypatch.setattr(TrackingThrottle, "rate", "3/hour", raising=False)
    code = tracked.display_code
    for last4 in ("0000", "1111", "2222"):
        assert APIClient().get(track_url(code), {"phone_last4": last4}).status_code == 404
    # The right digits now come too late, whoever asks and however the code is written.
    assert APIClient().get(track_url(code), {"phone_last4": "5678"}).status_code == 429
    assert APIClient().get(track_url(code.lower()), {"phone_last4": "5678"}).status_code == 429
    r = APIClient().get(
        track_url(tracked.tracking_code), {"phone_last4": "5678"}, REMOTE_ADDR="10.9.9.9"
    )
    assert r.status_code == 429
    # Another case's code has its own count.
    other = new_case(None, phone="13600002468")
    assert (
        APIClient().get(track_url(other.display_code), {"phone_last4": "2468"}).status_code == 200
    )


def test_the_public_timeline_has_no_staff_names_and_no_internal_notes(tree):
    centre = make_member("zhou_centre", tree.town_a, Role.CENTRE_STAFF, full_name="周主任")
    worker = make_member("gesang_grid", tree.grid_a1, Role.GRID_WORKER, full_name="格桑")
    people = type("P", (), {"centre_staff": centre, "grid_worker": worker})
    case = advance(new_case(None, phone="13912345678"), State.IN_PROGRESS, people)
    assert (
        post_act(api_as(centre), case, "note", {"note": "内部：当事人有上访史"}).status_code == 200
    )
    r = post_act(api_as(worker), case, "note", {"note": "维修人员已到场", "public": True})
    assert r.status_code == 200
    # Staff see every note and who wrote it.
    staff_view = json.dumps(r.json(), ensure_ascii=False)
    assert "内部：当事人有上访史" in staff_view and "格桑" in staff_view

    r = APIClient().get(track_url(case.display_code), {"phone_last4": "5678"})
    assert r.status_code == 200
    text = json.dumps(r.json(), ensure_ascii=False)
    assert [e["action"] for e in r.json()["timeline"]] == [
        "submit",
        "accept",
        "dispatch",
        "report_in",
        "note",
    ]
    assert "维修人员已到场" in text
    assert "内部：当事人有上访史" not in text
    for secret in ("zhou_centre", "gesang_grid", "周主任", "格桑"):
        assert secret not in text
    assert set(r.json()["timeline"][0]) == {"action", "label", "to_state", "note", "created_at"}


def test_the_result_shows_once_handled(tree, people):
    case = advance(new_case(None), State.IN_PROGRESS, people)
    code = case.display_code
    assert APIClient().get(track_url(code), {"phone_last4": PHONE[-4:]}).json()["result"] == ""
    advance(case, State.HANDLED, people)
    body = APIClient().get(track_url(code), {"phone_last4": PHONE[-4:]}).json()
    assert body["result"] == "已处理"
    assert body["state"] == "handled"
    assert not body["can_withdraw"]


def test_the_reporter_of_a_duplicate_still_follows_it(tree, people):
    original = new_case(None, name="张三", phone="13800001234")
    duplicate = new_case(None, name="李四", phone="13900005678")
    r = post_act(
        api_as(people.centre_staff),
        duplicate,
        "reject",
        {
            "reason_code": "duplicate",
            "duplicate_of": original.tracking_code,
            "reason": "已有同一事项",
        },
    )
    assert r.status_code == 200, r.json()
    # 李四 was moved to the original case; the code they were given still answers them.
    r = APIClient().get(track_url(duplicate.display_code), {"phone_last4": "5678"})
    assert r.status_code == 200, r.json()
    assert r.json()["state"] == "rejected"
    assert r.json()["reject_reason"] == "已有同一事项"
    # They do not become the original's reporter (is_reporter stays with 张三), but as one of
    # its complainants they follow it with their own digits (see test_tracking_everyone.py).
    assert not Complainant.objects.get(name="李四").is_reporter
    r = APIClient().get(track_url(original.display_code), {"phone_last4": "5678"})
    assert r.status_code == 200


# --- rate, withdraw, urge through tracking


def rate(code, score=5, resolved=True, last4=PHONE[-4:], **extra):
    return APIClient().post(
        track_url(code, "rate"),
        {"phone_last4": last4, "score": score, "resolved": resolved, **extra},
        format="json",
    )


def test_rating_only_once_closed(tree, people):
    case = advance(new_case(None), State.HANDLED, people)
    r = rate(case.display_code)
    assert r.status_code == 409 and r.json()["state"] == "handled"
    advance(case, State.CLOSED, people)
    assert rate(case.display_code, score=6).status_code == 400
    assert rate(case.display_code, last4="0000").status_code == 404
    r = rate(case.display_code, score=4, comment="处理及时")
    assert r.status_code == 200, r.json()
    assert r.json()["rating"]["score"] == 4
    assert r.json()["timeline"][-1]["action"] == "rate"


def test_a_rating_can_be_given_and_changed_within_30_days_of_closing_not_after(tree, people):
    with time_machine.travel(at(2026, 3, 2, 10), tick=False) as clock:
        case = advance(new_case(None), State.CLOSED, people)
        clock.move_to(at(2026, 3, 2, 10) + timedelta(days=20))
        assert rate(case.display_code, score=2, resolved=False).status_code == 200
        clock.move_to(at(2026, 3, 2, 10) + timedelta(days=29, hours=23))
        r = rate(case.display_code, score=5, resolved=True, comment="后来解决了")
        assert r.status_code == 200
        assert r.json()["rating"]["score"] == 5
        assert r.json()["can_rate"] is True
        assert r.json()["rate_until"] == "2026-04-01T10:00:00+08:00"
        clock.move_to(at(2026, 3, 2, 10) + timedelta(days=30, minutes=1))
        r = rate(case.display_code, score=1)
        assert r.status_code == 409
        assert "办结后 30 天内" in r.json()["detail"]
        body = APIClient().get(track_url(case.display_code), {"phone_last4": PHONE[-4:]}).json()
    assert body["rating"]["score"] == 5
    assert body["can_rate"] is False
    assert case.ratings.get().score == 5


def test_withdraw_through_tracking(tracked):
    r = APIClient().post(
        track_url(tracked.display_code, "withdraw"),
        {"phone_last4": "0000", "note": "不用了"},
        format="json",
    )
    assert r.status_code == 404
    r = APIClient().post(
        track_url(tracked.display_code, "withdraw"),
        {"phone_last4": "5678", "note": "已自行解决"},
        format="json",
    )
    assert r.status_code == 200, r.json()
    assert r.json()["state"] == "withdrawn"
    assert r.json()["timeline"][-1]["action"] == "withdraw"
    assert r.json()["can_withdraw"] is False


def test_withdraw_through_tracking_after_handled_is_409(tree, people):
    case = advance(new_case(None), State.HANDLED, people)
    r = APIClient().post(
        track_url(case.display_code, "withdraw"), {"phone_last4": PHONE[-4:]}, format="json"
    )
    assert r.status_code == 409
    assert Grievance.objects.get(pk=case.pk).state == State.HANDLED


def test_urge_through_tracking_is_counted(tree, people):
    with time_machine.travel(at(2026, 3, 2, 10), tick=False) as clock:
        case = advance(new_case(None), State.DISPATCHED, people)
        for n in (1, 2):
            r = APIClient().post(
                track_url(case.display_code, "urge"),
                {"phone_last4": PHONE[-4:], "note": "请尽快"},
                format="json",
            )
            assert r.status_code == 200, r.json()
            assert Grievance.objects.get(pk=case.pk).urge_count == n
            # Once a day from the public.
            clock.shift(timedelta(hours=24))
    assert [e["action"] for e in r.json()["timeline"]][-2:] == ["urge", "urge"]


def test_urge_through_tracking_of_a_closed_case_is_409(tree, people):
    case = advance(new_case(None), State.CLOSED, people)
    r = APIClient().post(
        track_url(case.display_code, "urge"), {"phone_last4": PHONE[-4:]}, format="json"
    )
    assert r.status_code == 409
    assert Grievance.objects.get(pk=case.pk).urge_count == 0


def test_a_tracking_code_drawn_twice_is_drawn_again(tree, monkeypatch):
    def code_of(number: int) -> str:
        monkeypatch.setattr(models.secrets, "randbelow", lambda _n: number)
        return models.format_tracking_code(models.new_tracking_code())

    seven, eight = code_of(7), code_of(8)
    # The random source of the codes gives the first report's number again, then another:
    # the second report is written with a fresh code instead of failing.
    draws = iter([7, 7, 8])
    monkeypatch.setattr(models.secrets, "randbelow", lambda _n: next(draws))
    first, second = report(), report(complainants=[{"name": "钱七", "phone": "13800001111"}])
    assert first.status_code == 201 and second.status_code == 201, second.content
    assert (first.json()["tracking_code"], second.json()["tracking_code"]) == (seven, eight)
    assert Grievance.objects.count() == 2
    # The second resident follows their case with its code and their phone.
    r = APIClient().get(track_url(eight), {"phone_last4": "1111"})
    assert r.status_code == 200, r.json()
    assert Complainant.objects.get(phone="13800001111").grievance.display_code == eight
