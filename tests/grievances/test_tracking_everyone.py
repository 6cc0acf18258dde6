"""Every complainant hears back (事事有回音): each complainant of a case follows it with its code
and the last 4 digits of their own phone, on the page and through the API; a duplicate leads
on to the case it was merged into; the public view names who handles the case, shows the
handler's words and never internals, explains a redo; and the public urges once a day."""

from __future__ import annotations

import json
from datetime import timedelta
from html import unescape

import pytest
import time_machine
from django.test import Client
from rest_framework.test import APIClient

from grievances import selectors, services
from grievances.models import Category, Complainant, Grievance, Rating, Source, State
from tests.grievances.conftest import POINT_A1, advance, api_as, at, new_case, post_act

pytestmark = pytest.mark.django_db

EN = {"HTTP_ACCEPT_LANGUAGE": "en"}
PEOPLE = [("曹某", "13800001111"), ("马某", "13900002222"), ("李某", "13700003333")]


def group_case(people=PEOPLE, title="拖欠工资") -> Grievance:
    return services.grievance_submit(
        user=None,
        title=title,
        description=f"{title}，请尽快处理",
        category=Category.objects.get(code="hazard.environment"),
        source=Source.RESIDENT_WEB,
        lng=POINT_A1[0],
        lat=POINT_A1[1],
        complainants=[services.ComplainantData(name=n, phone=p) for n, p in people],
    )


def track(code: str, last4: str, what: str = "", **data):
    url = f"/api/v1/track/{code}/{what + '/' if what else ''}"
    if what:
        return APIClient().post(url, {"phone_last4": last4, **data}, format="json")
    return APIClient().get(url, {"phone_last4": last4})


def lookup(client: Client, code: str, last4: str):
    return client.post("/track/", {"act": "lookup", "code": code, "last4": last4})


def text(response) -> str:
    return unescape(response.content.decode())


# --- every complainant tracks ---------------------------------------------------------------


def test_every_complainant_tracks_with_their_own_digits_through_the_api(tree):
    case = group_case()
    for name, phone in PEOPLE:
        r = track(case.display_code, phone[-4:])
        assert r.status_code == 200, (name, r.json())
        body = json.dumps(r.json(), ensure_ascii=False)
        # Nobody reads another complainant's name or phone.
        for other, other_phone in PEOPLE:
            assert other not in body and other_phone not in body
    assert track(case.display_code, "9999").status_code == 404


def test_every_complainant_tracks_on_the_page(tree):
    case = group_case()
    for _name, phone in PEOPLE:
        client = Client()
        r = lookup(client, case.display_code, phone[-4:])
        assert r.status_code == 302 and r["Location"] == "/track/"
        html = text(client.get("/track/"))
        assert 'data-state="submitted"' in html and "拖欠工资" in html


def test_a_wrong_last4_cannot_track(tree):
    case = group_case()
    client = Client()
    r = client.post("/track/", {"act": "lookup", "code": case.display_code, "last4": "0000"}, **EN)
    assert r.status_code == 200 and "No case matches" in text(r)
    assert 'data-state="' not in text(client.get("/track/"))
    assert track(case.display_code, "0000").status_code == 404
    # Another case's complainant's digits open nothing here.
    other = new_case(None, phone="13600004444")
    assert track(case.display_code, "4444").status_code == 404
    assert track(other.display_code, PEOPLE[0][1][-4:]).status_code == 404


def test_the_matched_complainant_is_exposed(tree):
    case = group_case()
    found = selectors.find_tracked_person(case.tracking_code, "2222")
    assert found is not None
    assert found[0] == case and found[1].name == "马某"
    assert selectors.tracked_complainant(case, "3333").name == "李某"
    assert selectors.tracked_complainant(case, "0000") is None
    assert selectors.tracked_complainant(case, "12a4") is None


def test_only_the_reporter_withdraws(tree):
    case = group_case()
    # Another complainant urges and rates, but cannot end everyone's matter.
    body = track(case.display_code, "2222").json()
    assert body["can_withdraw"] is False
    r = track(case.display_code, "2222", "withdraw", note="不要了")
    assert r.status_code == 403
    client = Client()
    lookup(client, case.display_code, "2222")
    assert 'value="withdraw"' not in text(client.get("/track/"))
    r = client.post("/track/", {"act": "withdraw", "withdraw-note": "不要了"}, follow=True, **EN)
    assert "Only the reporter withdraws the report." in text(r)
    assert Grievance.objects.get(pk=case.pk).state == State.SUBMITTED
    # The reporter does.
    assert track(case.display_code, "1111").json()["can_withdraw"] is True
    r = track(case.display_code, "1111", "withdraw", note="已自行解决")
    assert r.status_code == 200 and r.json()["state"] == "withdrawn"


# --- duplicates and merges --------------------------------------------------------------------


@pytest.fixture
def merged(tree, people):
    original = new_case(None, name="张三", phone="13800001234", title="楼道水管漏水")
    duplicate = new_case(None, name="李四", phone="13900005678", title="三单元漏水")
    # A duplicate named without a reason of its own.
    duplicate = services.grievance_reject(
        duplicate, people.centre_staff, reason_code="duplicate", duplicate_of=original
    )
    return original, duplicate


def test_a_duplicate_says_it_was_merged_never_an_empty_reason(merged, people):
    original, duplicate = merged
    services.grievance_accept(original, people.centre_staff)
    body = track(duplicate.display_code, "5678").json()
    assert body["state"] == "rejected"
    assert body["reject_reason"] in (
        "Merged into another case for handling",
        "已合并至另一案件办理",
    )
    assert body["merged_into"]["tracking_code"] == original.display_code
    assert body["merged_into"]["state"] == "accepted"
    assert body["merged_into"]["state_label"]
    zh = APIClient().get(
        f"/api/v1/track/{duplicate.display_code}/",
        {"phone_last4": "5678"},
        HTTP_ACCEPT_LANGUAGE="zh-hans",
    )
    assert zh.json()["merged_into"]["note"] == "已合并至另一案件办理"
    assert zh.json()["state_label"] == "已合并"
    assert zh.json()["timeline"][-1]["label"] == "已合并至另一案件办理"


def test_the_duplicates_reporter_follows_the_original_through_the_api(merged, people):
    original, duplicate = merged
    code = track(duplicate.display_code, "5678").json()["merged_into"]["tracking_code"]
    r = track(code, "5678")
    assert r.status_code == 200, r.json()
    assert r.json()["tracking_code"] == original.display_code
    assert r.json()["title"] == "楼道水管漏水"
    # Rating there, once closed, is their own.
    advance(original, State.CLOSED, people)
    r = track(code, "5678", "rate", score=4, resolved=True)
    assert r.status_code == 200, r.json()
    rating = Rating.objects.get()
    assert rating.complainant == Complainant.objects.get(name="李四")
    assert rating.grievance == original


def test_the_duplicates_reporter_follows_the_original_on_the_page(merged, people):
    original, duplicate = merged
    client = Client()
    lookup(client, duplicate.display_code, "5678")
    html = text(client.get("/track/", **EN))
    assert "Merged into another case for handling" in html
    assert original.display_code in html
    assert 'value="follow"' in html
    r = client.post("/track/", {"act": "follow"})
    assert r.status_code == 302 and r["Location"] == "/track/"
    assert "5678" not in r["Location"]
    html = text(client.get("/track/", **EN))
    assert original.display_code in html and "楼道水管漏水" in html
    # The session proved them as 李四: closed, they rate for themselves.
    advance(original, State.CLOSED, people)
    r = client.post("/track/", {"act": "rate", "score": "5", "resolved": "yes"})
    assert r.status_code == 302
    assert Rating.objects.get().complainant.name == "李四"


def test_following_needs_a_proven_duplicate(merged):
    original, _duplicate = merged
    client = Client()
    # A session that proved the original (not a duplicate) follows nowhere.
    lookup(client, original.display_code, "1234")
    r = client.post("/track/", {"act": "follow"}, follow=True, **EN)
    assert original.display_code in text(r)
    # Nor does a session that proved nothing.
    r = Client().post("/track/", {"act": "follow"})
    assert r.status_code == 302 and r["Location"] == "/track/"


# --- who handles it, the result, a redo ---------------------------------------------------------


def test_the_lead_department_is_named_once_dispatched(tree, people, depts):
    case = new_case(None)
    assert track(case.display_code, "1234").json()["handler"] == ""
    services.grievance_accept(case, people.centre_staff)
    assert track(case.display_code, "1234").json()["handler"] == ""
    r = post_act(
        api_as(people.centre_staff),
        Grievance.objects.get(pk=case.pk),
        "dispatch",
        {"departments": [depts.transport.pk, depts.police.pk]},
    )
    assert r.status_code == 200, r.json()
    assert track(case.display_code, "1234").json()["handler"] == "乃东区交通运输局"
    client = Client()
    lookup(client, case.display_code, "1234")
    html = text(client.get("/track/", **EN))
    assert "Handled by 乃东区交通运输局" in html
    # Returned (退单): nobody handles it until the centre dispatches again.
    case = Grievance.objects.get(pk=case.pk)
    services.grievance_return(case, depts.staff.transport, reason="不属于本单位")
    assert track(case.display_code, "1234").json()["handler"] == ""


def test_the_grid_handling_on_the_spot_is_named(tree, people):
    case = advance(new_case(None), State.DISPATCHED, people)
    assert track(case.display_code, "1234").json()["handler"] == tree.grid_a1.name


def test_a_redo_is_explained(tree, people):
    case = advance(new_case(None), State.HANDLED, people)
    body = track(case.display_code, "1234").json()
    assert body["result"] == "已处理" and body["redo_note"] == ""
    services.grievance_redo(case, people.centre_staff, reason="内部：现场照片不清楚")
    r = APIClient().get(
        f"/api/v1/track/{case.display_code}/",
        {"phone_last4": "1234"},
        HTTP_ACCEPT_LANGUAGE="zh-hans",
    )
    body = r.json()
    assert body["redo_note"] == "重新办理：首次办理结果未获认可"
    assert body["timeline"][-1]["action"] == "redo"
    # The centre's words to the handler stay theirs.
    assert "内部" not in json.dumps(body, ensure_ascii=False)
    client = Client()
    lookup(client, case.display_code, "1234")
    html = text(client.get("/track/", **EN))
    assert "Being redone: the first result was not accepted" in html
    assert "内部" not in html
    # Handled again: the new result, no redo line.
    case = services.grievance_handle(
        Grievance.objects.get(pk=case.pk), people.grid_worker, result="已重新清理"
    )
    body = track(case.display_code, "1234").json()
    assert body["result"] == "已重新清理" and body["redo_note"] == ""


def test_no_internals_reach_the_public(tree, people, dispute_category):
    case = new_case(None, category="dispute.neighbours")
    services.grievance_accept(case, people.centre_staff)
    case = services.grievance_mediate(Grievance.objects.get(pk=case.pk), people.centre_staff)
    agreement = "调解成功：协议版本 1，SHA-256 0123456789abcdef。甲方赔偿乙方 5,000.00 元"
    case = services.grievance_mediation_settled(case, agreement_note=agreement)
    case = services.grievance_verify(case, people.centre_staff)
    body = json.dumps(track(case.display_code, "1234").json(), ensure_ascii=False)
    client = Client()
    lookup(client, case.display_code, "1234")
    html = text(client.get("/track/"))
    for shown in (body, html):
        assert "SHA-256" not in shown and "0123456789abcdef" not in shown
        assert "5,000.00" not in shown
    assert track(case.display_code, "1234").json()["result"].startswith("经调解结案")


def test_the_result_is_the_handlers_public_note(tree, people):
    case = advance(new_case(None), State.HANDLED, people)
    # What staff keep on the case is not what the public reads.
    Grievance.objects.filter(pk=case.pk).update(result="内部：附件 sha256=deadbeef")
    body = track(case.display_code, "1234").json()
    assert body["result"] == "已处理"


# --- public urging ------------------------------------------------------------------------------


def test_public_urging_rules(tree, people):
    with time_machine.travel(at(2026, 3, 2, 10), tick=False) as clock:
        case = group_case()
        # Before the centre accepted it: refused with a reason, never a 500.
        r = track(case.display_code, "1111", "urge")
        assert r.status_code == 409
        assert r.json()["detail"] == "综治中心受理后才能催办。"
        services.grievance_accept(case, people.centre_staff)
        r = track(case.display_code, "1111", "urge", note="请尽快")
        assert r.status_code == 200, r.json()
        assert r.json()["can_urge"] is False
        assert r.json()["urge_again_at"] == "2026-03-03T10:00:00+08:00"
        # Another complainant of the same case, the same day: the case was just urged.
        clock.shift(timedelta(hours=23, minutes=59))
        r = track(case.display_code, "2222", "urge")
        assert r.status_code == 409
        assert "24 小时内已催办过" in r.json()["detail"]
        clock.shift(timedelta(minutes=1))
        r = track(case.display_code, "2222", "urge")
        assert r.status_code == 200, r.json()
    assert Grievance.objects.get(pk=case.pk).urge_count == 2
    # A leader's urge is theirs, not the public's: it does not count against the day.
    assert post_act(api_as(people.leader), case, "urge").status_code == 200


def test_urging_on_the_page_names_no_handler_that_does_not_exist(tree, people):
    with time_machine.travel(at(2026, 3, 2, 10), tick=False) as clock:
        case = group_case()
        client = Client()
        lookup(client, case.display_code, "1111")
        html = text(client.get("/track/", **EN))
        assert 'value="urge"' not in html
        assert "once the governance centre has accepted it" in html
        services.grievance_accept(case, people.centre_staff)
        html = text(client.get("/track/", **EN))
        assert "Ask the governance centre to speed up your case" in html
        assert "those handling" not in html
        r = client.post("/track/", {"act": "urge", "urge-note": ""}, follow=True, **EN)
        html = text(r)
        assert "We have asked the governance centre to assign your case soon." in html
        assert "those handling" not in html
        assert 'value="urge"' not in html
        assert "You can urge it again after" in html
        # Twice within a day: a message, never a 500.
        r = client.post("/track/", {"act": "urge"}, follow=True, **EN)
        assert r.status_code == 200
        assert "less than 24 hours ago" in text(r)
        clock.shift(timedelta(hours=24))
        advance(Grievance.objects.get(pk=case.pk), State.DISPATCHED, people)
        r = client.post("/track/", {"act": "urge"}, follow=True, **EN)
        assert "We have urged those handling your case." in text(r)
    assert Grievance.objects.get(pk=case.pk).urge_count == 2


# --- ratings per complainant ------------------------------------------------------------------


def test_each_complainant_rates_for_themselves(tree, people):
    case = advance(group_case(), State.CLOSED, people)
    assert track(case.display_code, "1111", "rate", score=5, resolved=True).status_code == 200
    r = track(case.display_code, "2222", "rate", score=2, resolved=False, comment="没拿到钱")
    assert r.status_code == 200
    # Each reads their own rating only.
    assert r.json()["rating"]["score"] == 2
    assert track(case.display_code, "1111").json()["rating"]["score"] == 5
    assert track(case.display_code, "3333").json()["rating"] is None
    assert "没拿到钱" not in json.dumps(track(case.display_code, "1111").json(), ensure_ascii=False)
    # Changing one's rating changes only one's own.
    assert track(case.display_code, "2222", "rate", score=3, resolved=True).status_code == 200
    assert sorted(Rating.objects.values_list("complainant__name", "score")) == [
        ("曹某", 5),
        ("马某", 3),
    ]
    # The staff read every rating and their mean.
    detail = api_as(people.centre_staff).get(f"/api/v1/grievances/{case.pk}/").json()
    assert detail["rating"]["score"] == 4.0 and detail["rating"]["count"] == 2
    assert detail["rating"]["resolved"] is True
    assert sorted((r["complainant"], r["score"]) for r in detail["ratings"]) == [
        ("曹某", 5),
        ("马某", 3),
    ]


def test_the_case_page_lists_each_rating(tree, people):
    case = advance(group_case(), State.CLOSED, people)
    track(case.display_code, "1111", "rate", score=5, resolved=True)
    track(case.display_code, "2222", "rate", score=2, resolved=False)
    client = Client()
    client.force_login(people.centre_staff)
    html = text(client.get(f"/cases/{case.pk}/", **EN))
    assert "Mean 3.5 of 5 from 2 complainants" in html
    assert "曹某" in html and "马某" in html


def test_a_session_proven_before_complainants_were_told_apart_is_the_reporters(tree, people):
    case = advance(group_case(), State.CLOSED, people)
    client = Client()
    session = client.session
    session["track_case"] = case.pk  # as sessions kept it: the case alone
    session.save()
    assert 'data-state="closed"' in text(client.get("/track/"))
    r = client.post("/track/", {"act": "rate", "score": "4", "resolved": "yes"})
    assert r.status_code == 302
    assert Rating.objects.get().complainant.name == "曹某"
