"""The case's version as its ETag, and acts held to the version their sender read (If-Match
on the API, a hidden field on the case page): an act sent on what someone read before
another act is refused with 409 and changes nothing.

The story behind it: a village centre and its township centre both open a case owned by the
village. The village escalates it to the township; the township, still looking at the
village's case, escalates it too, and it lands at the county: two levels for one need."""

from __future__ import annotations

import re
from html import unescape

import pytest
from django.db import transaction
from django.test import Client
from django.utils.translation import gettext
from rest_framework.test import APIClient

from grids.models import Role
from grievances import etags, services
from grievances.models import CaseEvent, Grievance, State
from tests.factories import make_member
from tests.grievances.conftest import advance, api_as, new_case

pytestmark = pytest.mark.django_db


def url(case, act: str = "") -> str:
    return f"/api/v1/grievances/{case.pk}/{act + '/' if act else ''}"


@pytest.fixture
def village_staff(tree):
    return make_member("village_staff", tree.village_a, Role.CENTRE_STAFF)


@pytest.fixture
def case(tree, people):
    """Accepted by the township centre, owned by 江塘村 (the village of its grid)."""
    case = advance(new_case(people.grid_worker), State.ACCEPTED, people)
    assert case.owning_centre == tree.village_a
    return case


def escalate(user, case, tag: str | None = None):
    headers = {"HTTP_IF_MATCH": tag} if tag is not None else {}
    return api_as(user).post(
        url(case, "escalate"), {"reason": "需上级协调"}, format="json", **headers
    )


def snapshot(case) -> tuple:
    fresh = Grievance.objects.get(pk=case.pk)
    return (
        fresh.version,
        fresh.state,
        fresh.owning_centre_id,
        fresh.escalation_count,
        CaseEvent.objects.filter(grievance_id=case.pk).count(),
    )


def test_the_case_sends_its_version_as_its_etag(tree, people):
    case = new_case(people.grid_worker)
    r = api_as(people.centre_staff).get(url(case))
    assert r.status_code == 200
    assert r["ETag"] == '"1"'
    # An act's answer carries the case and its new tag; a read then gives the same one.
    r = api_as(people.centre_staff).post(url(case, "accept"), {}, format="json")
    assert r.status_code == 200, r.json()
    assert r["ETag"] == '"2"'
    assert api_as(people.centre_staff).get(url(case))["ETag"] == '"2"'


def test_the_township_acting_on_an_old_read_is_refused(tree, people, village_staff, case):
    seen = api_as(people.centre_staff).get(url(case))["ETag"]
    r = escalate(village_staff, case, api_as(village_staff).get(url(case))["ETag"])
    assert r.status_code == 200, r.json()
    assert Grievance.objects.get(pk=case.pk).owning_centre == tree.town_a
    before = snapshot(case)

    r = escalate(people.centre_staff, case, seen)

    assert r.status_code == 409, r.json()
    assert r.json() == {
        "detail": gettext(
            "This case changed since you read it, so nothing was done. "
            "Read it again before you act."
        ),
        "state": State.ACCEPTED,
    }
    assert snapshot(case) == before  # one level up, one escalation, nothing written
    assert CaseEvent.objects.filter(grievance_id=case.pk, action="escalate").count() == 1


def test_a_matching_tag_lets_the_act_run_and_the_tag_changes(tree, people, case):
    tag = api_as(people.centre_staff).get(url(case))["ETag"]
    r = escalate(people.centre_staff, case, tag)
    assert r.status_code == 200, r.json()
    assert r["ETag"] != tag
    fresh = Grievance.objects.get(pk=case.pk)
    assert r["ETag"] == f'"{fresh.version}"'
    assert (fresh.owning_centre, fresh.escalation_count) == (tree.county, 1)
    # The tag of the answer is good for the next act.
    r = api_as(people.leader).post(
        url(case, "urge"), {"note": "请加快"}, format="json", HTTP_IF_MATCH=r["ETag"]
    )
    assert r.status_code == 200, r.json()
    assert Grievance.objects.get(pk=case.pk).urge_count == 1


@pytest.mark.parametrize("header", ["*", '"999", "{v}"', "{v}"])
def test_a_star_or_a_list_holding_the_tag_passes(people, case, header):
    r = api_as(people.centre_staff).post(
        url(case, "suspend"),
        {"reason": "等待鉴定"},
        format="json",
        HTTP_IF_MATCH=header.format(v=case.version),
    )
    assert r.status_code == 200, r.json()
    assert Grievance.objects.get(pk=case.pk).suspended_at is not None


# Digits int() refuses: a superscript, and a number longer than int() reads from text.
NOT_VERSIONS = ["\u00b2", "9" * 5000]


@pytest.mark.parametrize(
    "header",
    [
        'W/"{v}"',
        '"abc"',
        "not a tag",
        '"{v}',
        "",
        pytest.param(NOT_VERSIONS[0], id="superscript"),
        pytest.param(f'"{NOT_VERSIONS[0]}"', id="quoted superscript"),
        pytest.param(NOT_VERSIONS[1], id="5000 digits"),
        pytest.param(f'"{NOT_VERSIONS[1]}"', id="quoted 5000 digits"),
        pytest.param('"\u0663"', id="arabic-indic digit"),
        pytest.param('"1234567890123"', id="13 digits"),
    ],
)
def test_a_tag_that_cannot_match_is_refused(people, case, header):
    before = snapshot(case)
    r = api_as(people.centre_staff).post(
        url(case, "suspend"),
        {"reason": "等待鉴定"},
        format="json",
        HTTP_IF_MATCH=header.format(v=case.version),
    )
    assert r.status_code == 409, r.json()
    assert snapshot(case) == before


def test_the_order_of_refusals_stays(tree, people, case):
    # Outside the scope: 404 before any tag is looked at; a wrong role: 403; bad input: 400.
    assert escalate(people.outsider, case, '"0"').status_code == 404
    assert escalate(people.grid_worker, case, '"0"').status_code == 403
    r = api_as(people.centre_staff).post(
        url(case, "escalate"), {}, format="json", HTTP_IF_MATCH='"0"'
    )
    assert r.status_code == 400 and "reason" in r.json()


@pytest.mark.parametrize("tag", ["\u00b2", '"\u00b2"', "\u0662", '"\uff12"', "9" * 5000])
def test_a_tag_of_other_digits_or_too_long_is_refused_not_a_server_error(people, case, tag):
    # "٢" and "２" read as 2 (the case's version) by int(), but are not its tag "2".
    assert case.version == 2
    before = snapshot(case)
    client = api_as(people.centre_staff)
    client.raise_request_exception = False
    r = client.post(url(case, "suspend"), {"reason": "等待鉴定"}, format="json", HTTP_IF_MATCH=tag)
    assert r.status_code == 409, r.content
    # The case page's hidden field, the same.
    page = page_client(people.centre_staff)
    page.raise_request_exception = False
    r = page.post(f"/cases/{case.pk}/act/note/", {"version": tag.strip('"'), "note": "进展"})
    assert r.status_code == 302, r.content
    assert snapshot(case) == before


def test_if_match_parsing():
    assert etags.wanted_versions(None) is None
    assert etags.wanted_versions(" * ") is None
    assert etags.wanted_versions('"7"') == {7}
    assert etags.wanted_versions('"7", "8" ,W/"9"') == {7, 8}
    assert etags.wanted_versions("7") == {7}
    assert etags.wanted_versions('W/"7"') == set()
    assert etags.wanted_versions('"7" "8"') == set()
    assert etags.wanted_versions('"\u00b2"') == set()
    assert etags.wanted_versions('" 7"') == set()


# --- Writes that move many cases at once count too -------------------------------------------


def test_the_systems_accept_and_dispatch_counts_a_write(tree, people):
    case = new_case(people.grid_worker)
    assert case.version == 1

    def assign(cases, now):
        for c in cases:
            c.report_in_due_at = c.handle_due_at = now
        return {c.pk: {} for c in cases}

    [moved] = services.grievances_accept_and_dispatch([(case, "")], note="自动派单", assign=assign)
    fresh = Grievance.objects.get(pk=case.pk)
    assert fresh.state == State.DISPATCHED
    # As many as the two acts one by one (accept, then dispatch) would count.
    assert fresh.version == moved.version == 3


# --- Writes that change what the case shows without saving it count too ------------------------


def tag_of(case, user) -> str:
    r = api_as(user).get(url(case))
    assert r.status_code == 200
    return r["ETag"]


def assert_refused(case, user, act: str, data: dict, tag: str) -> None:
    """An act sent with the tag read before the write is refused, and changes nothing."""
    before = snapshot(case)
    r = api_as(user).post(url(case, act), data, format="json", HTTP_IF_MATCH=tag)
    assert r.status_code == 409, r.json()
    assert snapshot(case) == before


def rate(case, score: int, resolved: bool):
    r = APIClient().post(
        f"/api/v1/track/{case.display_code}/rate/",
        {"phone_last4": "1234", "score": score, "resolved": resolved},
        format="json",
    )
    assert r.status_code == 200, r.json()


def test_a_rating_and_its_change_each_change_the_tag(tree, people):
    case = advance(new_case(people.grid_worker), State.CLOSED, people)
    centre = people.centre_staff
    read_before = tag_of(case, centre)

    rate(case, 2, False)
    rated = tag_of(case, centre)
    assert rated != read_before
    assert api_as(centre).get(url(case)).json()["rating"]["score"] == 2
    # The centre reopening on what it read before the rating would not have seen it.
    assert_refused(case, centre, "reopen", {"reason": "居民不满意"}, read_before)

    rate(case, 5, True)  # changed within 7 days
    changed = tag_of(case, centre)
    assert changed != rated
    assert_refused(case, centre, "reopen", {"reason": "居民不满意"}, rated)
    r = api_as(centre).post(
        url(case, "reopen"), {"reason": "居民不满意"}, format="json", HTTP_IF_MATCH=changed
    )
    assert r.status_code == 200, r.json()


def test_photos_uploaded_to_a_case_change_its_tag_and_the_upload_sends_the_new_one(
    tree, people, case
):
    from tests.grievances.test_attachments_api import jpeg

    centre = people.centre_staff
    read_before = tag_of(case, centre)
    r = api_as(centre).post(
        url(case, "attachments"), {"photos": [jpeg("a.jpg"), jpeg("b.jpg")]}, format="multipart"
    )
    assert r.status_code == 201, r.json()
    photo_ids = [p["id"] for p in r.json()]
    # One write for the upload, however many photos; the answer carries the new tag.
    assert r["ETag"] == f'"{Grievance.objects.get(pk=case.pk).version}"' == tag_of(case, centre)
    assert r["ETag"] != read_before
    assert_refused(
        case, centre, "note", {"note": "现场照片", "attachments": photo_ids}, read_before
    )
    r = api_as(centre).post(
        url(case, "note"),
        {"note": "现场照片", "attachments": photo_ids},
        format="json",
        HTTP_IF_MATCH=r["ETag"],
    )
    assert r.status_code == 200, r.json()


def test_the_original_of_a_duplicate_changes_its_tag_with_the_complainants_it_gains(
    tree, people, case
):
    centre = people.centre_staff
    read_before = tag_of(case, centre)
    duplicate = new_case(people.grid_worker, name="李四", phone="13900009999")
    services.grievance_reject(
        duplicate, centre, reason_code="duplicate", duplicate_of=case, reason="同一处垃圾"
    )
    shown = api_as(centre).get(url(case))
    assert [c["name"] for c in shown.json()["complainants"]] == ["张三", "李四"]
    assert shown["ETag"] != read_before
    assert_refused(case, centre, "suspend", {"reason": "等待鉴定"}, read_before)


def test_a_save_that_fails_leaves_the_object_at_the_version_it_had(tree, people):
    case = new_case(people.grid_worker)
    stale = Grievance.objects.get(pk=case.pk)
    services.grievance_accept(case, people.centre_staff)
    stale.accept()
    # The row has moved on: the optimistic state check writes nothing.
    with pytest.raises(services.ConcurrentTransition), transaction.atomic():
        stale.save()
    assert stale.version == 1
    assert Grievance.objects.get(pk=case.pk).version == 2


# --- The case page -------------------------------------------------------------------------------


def page_client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def shown_version(response, act: str) -> str:
    html = unescape(response.content.decode())
    form = re.search(rf'action="/cases/\d+/act/{act}/".*?</form>', html, re.S).group(0)
    return re.search(r'name="version" value="(\d+)"', form).group(1)


def test_two_people_acting_from_the_page_get_a_message_not_a_double_act(
    tree, people, village_staff, case
):
    village, township = page_client(village_staff), page_client(people.centre_staff)
    seen_by_village = shown_version(village.get(f"/cases/{case.pk}/"), "escalate")
    seen_by_township = shown_version(township.get(f"/cases/{case.pk}/"), "escalate")
    assert seen_by_village == seen_by_township == str(case.version)

    r = village.post(
        f"/cases/{case.pk}/act/escalate/", {"reason": "上报", "version": seen_by_village}
    )
    assert r.status_code == 302
    before = snapshot(case)
    r = township.post(
        f"/cases/{case.pk}/act/escalate/",
        {"reason": "上报", "version": seen_by_township},
        follow=True,
    )
    assert r.status_code == 200
    text = unescape(r.content.decode())
    assert gettext("Someone acted on this case after you opened it, so nothing was done.") in text
    assert snapshot(case) == before
    assert Grievance.objects.get(pk=case.pk).owning_centre == tree.town_a


@pytest.mark.parametrize("version", NOT_VERSIONS, ids=["superscript", "5000 digits"])
def test_a_version_on_the_page_that_is_not_one_is_told_not_a_500(people, case, version):
    before = snapshot(case)
    r = page_client(people.centre_staff).post(
        f"/cases/{case.pk}/act/suspend/", {"reason": "等待鉴定", "version": version}, follow=True
    )
    assert r.status_code == 200
    text = unescape(r.content.decode())
    assert gettext("Someone acted on this case after you opened it, so nothing was done.") in text
    assert snapshot(case) == before


def test_the_schema_documents_if_match_on_every_act(db):
    schema = APIClient().get("/api/schema/", {"format": "json"}).json()
    escalate = schema["paths"]["/api/v1/grievances/{id}/escalate/"]["post"]
    assert escalate["operationId"] == "grievances_escalate"
    assert {"in": "header", "name": "If-Match"}.items() <= next(
        p for p in escalate["parameters"] if p["name"] == "If-Match"
    ).items()
    assert "409" in escalate["responses"]
