"""Merging a case into another (POST /api/v1/grievances/{id}/merge/) and undoing it within
24 hours (…/unmerge/): each state that may be merged, complainants, photos, timelines and
whistles moved and restored, SMS, scope, field errors, races on PostgreSQL."""

from __future__ import annotations

import io
import threading
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from PIL import Image

from dispatch.models import Assignment, Whistle
from dispatch.services import assignment_report_in, whistle_dispatch
from grievances import merging
from grievances import services as cases
from grievances.attachments import save_upload
from grievances.models import CaseEvent, Complainant, Grievance
from tests.duplicates.conftest import flush, texts
from tests.grievances.conftest import advance, api_as, new_case

pytestmark = pytest.mark.django_db

MERGED_PHONE = "13922223333"
STAYING_PHONE = "13944445555"


def jpeg() -> SimpleUploadedFile:
    buf = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 80, 40)).save(buf, "JPEG")
    return SimpleUploadedFile("wall.jpg", buf.getvalue(), content_type="image/jpeg")


def pair(people, state="accepted"):
    """A case to merge in `state`, with a photo, and the case that stays (accepted)."""
    staying = advance(new_case(people.grid_worker, phone=STAYING_PHONE), "accepted", people)
    merged = new_case(people.grid_worker, phone=MERGED_PHONE, name="李四", title="挡墙要垮")
    save_upload(merged, jpeg(), people.grid_worker)
    return Grievance.objects.get(pk=advance(merged, state, people).pk), staying


def merge(user, case, into, **headers):
    return api_as(user).post(
        f"/api/v1/grievances/{case.pk}/merge/", {"into": into.pk}, format="json", **headers
    )


def unmerge(user, case):
    return api_as(user).post(f"/api/v1/grievances/{case.pk}/unmerge/", {}, format="json")


@pytest.mark.parametrize("state", ["submitted", "accepted", "dispatched", "in_progress"])
def test_a_case_merges_and_unmerges_from_each_open_state(people, state):
    merged, staying = pair(people, state)
    photo = merged.attachments.get()
    answer = merge(people.centre_staff, merged, staying, HTTP_IF_MATCH=f'"{merged.version}"')
    assert answer.status_code == 200, answer.json()
    body = answer.json()
    assert body["state"] == "rejected"
    assert answer["ETag"] == f'"{Grievance.objects.get(pk=merged.pk).version}"'

    merged.refresh_from_db()
    assert (merged.state, merged.duplicate_of_id, merged.reject_reason_code) == (
        "rejected",
        staying.pk,
        "duplicate",
    )
    moved = Complainant.objects.get(phone=MERGED_PHONE)
    assert (moved.grievance_id, moved.merged_from_id, moved.is_reporter) == (
        staying.pk,
        merged.pk,
        False,
    )
    assert list(staying.complainants.values_list("phone", flat=True)) == [
        STAYING_PHONE,
        MERGED_PHONE,
    ]
    photo.refresh_from_db()
    assert photo.grievance_id == staying.pk
    # Both timelines say so, naming the other case.
    merge_event = merged.events.get(action="merge")
    assert merge_event.from_state == state and merge_event.to_state == "rejected"
    assert body["events"][-1]["action"] == "merge"
    assert staying.display_code in cases_label(merge_event)
    label_in = cases_label(staying.events.get(action="merge_in"))
    assert merged.display_code in label_in

    back = unmerge(people.centre_staff, merged)
    assert back.status_code == 200, back.json()
    assert back.json()["state"] == state
    merged.refresh_from_db()
    assert (merged.state, merged.duplicate_of_id, merged.reject_reason_code) == (state, None, "")
    moved.refresh_from_db()
    assert (moved.grievance_id, moved.merged_from_id, moved.is_reporter, moved.position) == (
        merged.pk,
        None,
        True,
        0,
    )
    photo.refresh_from_db()
    assert photo.grievance_id == merged.pk
    assert list(staying.complainants.values_list("phone", flat=True)) == [STAYING_PHONE]
    assert merged.events.filter(action="unmerge").count() == 1
    assert staying.events.filter(action="unmerge_out").count() == 1
    # Undone once: nothing left to undo.
    assert unmerge(people.centre_staff, merged).status_code == 409


def cases_label(event) -> str:
    from grievances.selectors import event_label

    return event_label(event)


def assignments() -> dict:
    return {a.pk: (a.status, a.report_in_due_at, a.handle_due_at) for a in Assignment.objects.all()}


def test_whistles_end_with_the_merge_and_reopen_as_they_were(people, depts):
    merged, staying = pair(people, "accepted")
    whistle_dispatch(merged, people.centre_staff, departments=[depts.transport, depts.police])
    lead = Assignment.objects.get(department=depts.transport)
    assignment_report_in(lead, depts.staff.transport)
    before = assignments()
    assert before[lead.pk][0] == "reported_in"
    merged = Grievance.objects.get(pk=merged.pk)
    assert merged.state == "in_progress"

    assert merge(people.centre_staff, merged, staying).status_code == 200
    whistle = Whistle.objects.get(grievance=merged)
    assert whistle.status == "merged" and whistle.ended_at is not None
    assert set(Assignment.objects.values_list("status", flat=True)) == {"merged"}

    assert unmerge(people.centre_staff, merged).status_code == 200
    whistle.refresh_from_db()
    assert whistle.status == "open" and whistle.ended_at is None
    assert assignments() == before
    assert Grievance.objects.get(pk=merged.pk).state == "in_progress"


def test_the_merged_complainants_are_told_where_to_follow_and_the_others_nothing(people):
    merged, staying = pair(people, "accepted")
    flush()
    told_before = len(texts(MERGED_PHONE)), len(texts(STAYING_PHONE))
    assert merge(people.centre_staff, merged, staying).status_code == 200
    flush()
    new = texts(MERGED_PHONE)[told_before[0] :]
    assert len(new) == 1 and merged.display_code in new[0]
    assert len(texts(STAYING_PHONE)) == told_before[1]
    # Their own code leads on: tracking finds them with their digits.
    from grievances.selectors import find_tracked

    assert find_tracked(merged.tracking_code, MERGED_PHONE[-4:]).pk == merged.pk
    # An unmerge tells nobody: the code they have shows their own case again.
    assert unmerge(people.centre_staff, merged).status_code == 200
    flush()
    assert len(texts(MERGED_PHONE)) == told_before[0] + 1


def test_a_merge_undone_before_the_relay_texts_nobody(people):
    merged, staying = pair(people, "accepted")
    flush()
    told = len(texts(MERGED_PHONE))
    merging.grievance_merge(merged, staying, people.centre_staff)
    merging.grievance_unmerge(Grievance.objects.get(pk=merged.pk), people.centre_staff)
    flush()
    assert len(texts(MERGED_PHONE)) == told


def test_an_unmerge_after_24_hours_is_refused(people):
    merged, staying = pair(people, "dispatched")
    assert merge(people.centre_staff, merged, staying).status_code == 200
    CaseEvent.objects.filter(grievance=merged, action="merge").update(
        created_at=CaseEvent.objects.get(grievance=merged, action="merge").created_at
        - timedelta(hours=24, minutes=1)
    )
    answer = unmerge(people.centre_staff, merged)
    assert answer.status_code == 409
    assert "24" in answer.json()["detail"]
    assert Grievance.objects.get(pk=merged.pk).state == "rejected"
    assert Complainant.objects.get(phone=MERGED_PHONE).grievance_id == staying.pk


def test_other_regions_and_departments_are_kept_out(people, depts):
    merged, staying = pair(people, "accepted")
    whistle_dispatch(merged, people.centre_staff, departments=[depts.transport])
    merged = Grievance.objects.get(pk=merged.pk)
    for user, status in (
        (people.outsider, 404),
        (people.sibling_staff, 404),
        (depts.staff.labour, 404),
        (depts.staff.transport, 403),
        (people.grid_worker, 403),
        (people.leader, 403),
    ):
        assert merge(user, merged, staying).status_code == status, user
    assert Grievance.objects.get(pk=merged.pk).state == "dispatched"
    # The case that stays must be in scope too.
    elsewhere = new_case(people.outsider, point=(100.5, 29.5))
    answer = merge(people.centre_staff, merged, elsewhere)
    assert answer.status_code == 404 and "into" in answer.json()
    assert merge(people.centre_staff, merged, staying).status_code == 200
    for user, status in ((people.outsider, 404), (depts.staff.transport, 403)):
        assert unmerge(user, merged).status_code == status
    assert Grievance.objects.get(pk=merged.pk).state == "rejected"


def test_bad_input_names_the_field(people):
    merged, staying = pair(people, "accepted")
    client = api_as(people.centre_staff)
    url = f"/api/v1/grievances/{merged.pk}/merge/"
    for data in ({}, {"into": "abc"}, {"into": 10**30}):
        answer = client.post(url, data, format="json")
        assert answer.status_code == 400 and "into" in answer.json(), data
    itself = client.post(url, {"into": merged.pk}, format="json")
    assert itself.status_code == 400 and "into" in itself.json()
    closed = advance(new_case(people.grid_worker), "closed", people)
    answer = merge(people.centre_staff, merged, closed)
    assert answer.status_code == 409 and answer.json()["field"] == "into"
    # A chain: into a case already merged elsewhere.
    third = new_case(people.grid_worker)
    assert merge(people.centre_staff, third, staying).status_code == 200
    answer = merge(people.centre_staff, merged, third)
    assert answer.status_code == 409 and answer.json()["field"] == "into"
    assert "merged" in answer.json()["detail"].lower() or "合并" in answer.json()["detail"]
    # A stale If-Match: nothing changes.
    stale = merge(people.centre_staff, merged, staying, HTTP_IF_MATCH='"999"')
    assert stale.status_code == 409
    assert Grievance.objects.get(pk=merged.pk).state == "accepted"


@pytest.mark.parametrize("state", ["handled", "closed"])
def test_a_case_past_handling_is_not_merged(people, state):
    merged, staying = pair(people, state)
    answer = merge(people.centre_staff, merged, staying)
    assert answer.status_code == 409
    assert Grievance.objects.get(pk=merged.pk).state == state


def test_an_unmerge_waits_for_the_case_that_stays_to_be_unmerged_first(people):
    merged, staying = pair(people, "accepted")
    third = advance(new_case(people.grid_worker), "accepted", people)
    assert merge(people.centre_staff, merged, staying).status_code == 200
    staying = Grievance.objects.get(pk=staying.pk)
    assert merge(people.centre_staff, staying, third).status_code == 200
    # The first merge's complainant went on with the staying case, still from its own case.
    moved = Complainant.objects.get(phone=MERGED_PHONE)
    assert (moved.grievance_id, moved.merged_from_id) == (third.pk, merged.pk)
    assert unmerge(people.centre_staff, merged).status_code == 409
    assert unmerge(people.centre_staff, staying).status_code == 200
    assert unmerge(people.centre_staff, merged).status_code == 200
    moved.refresh_from_db()
    assert moved.grievance_id == merged.pk


@pytest.mark.django_db(transaction=True)
def test_two_staff_merging_a_pair_both_ways_at_once(tree, people, require_postgres):
    a = new_case(people.grid_worker, phone=MERGED_PHONE)
    b = new_case(people.grid_worker, phone=STAYING_PHONE)
    other = type(people.centre_staff).objects.get(pk=people.centre_staff.pk)
    barrier = threading.Barrier(2)
    outcomes = []

    def run(user, case, into):
        try:
            barrier.wait()
            merging.grievance_merge(
                Grievance.objects.get(pk=case.pk), Grievance.objects.get(pk=into.pk), user
            )
            outcomes.append("ok")
        except cases.WrongState:
            outcomes.append("refused")
        finally:
            connection.close()

    threads = [
        threading.Thread(target=run, args=(people.centre_staff, a, b)),
        threading.Thread(target=run, args=(other, b, a)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["ok", "refused"]
    states = sorted(Grievance.objects.values_list("state", flat=True))
    assert states == ["rejected", "submitted"]
    assert Complainant.objects.values("grievance").distinct().count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_merge_racing_an_act_on_the_case(tree, people, require_postgres):
    merged = advance(new_case(people.grid_worker, phone=MERGED_PHONE), "accepted", people)
    staying = new_case(people.grid_worker, phone=STAYING_PHONE)
    barrier = threading.Barrier(2)
    outcomes = {}

    def run(name, act):
        try:
            barrier.wait()
            act()
            outcomes[name] = "ok"
        except cases.WrongState:
            outcomes[name] = "refused"
        finally:
            connection.close()

    version = merged.version
    threads = [
        threading.Thread(
            target=run,
            args=(
                "merge",
                lambda: merging.grievance_merge(
                    Grievance.objects.get(pk=merged.pk),
                    Grievance.objects.get(pk=staying.pk),
                    people.centre_staff,
                    versions={version},
                ),
            ),
        ),
        threading.Thread(
            target=run,
            args=(
                "dispatch",
                lambda: cases.grievance_dispatch(
                    Grievance.objects.get(pk=merged.pk),
                    people.centre_staff,
                    to_region=tree.grid_a1,
                ),
            ),
        ),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes.values()) == ["ok", "refused"]
    state = Grievance.objects.get(pk=merged.pk).state
    assert state == ("rejected" if outcomes["merge"] == "ok" else "dispatched")
