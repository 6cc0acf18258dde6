"""Notifications: who hears of which event, never twice when the relay or the delivery task
runs twice, email and SMS sent once with retries for transient errors, the API scoped to the
caller, the unread count and the header bell's context processor."""

from __future__ import annotations

import smtplib
from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from dispatch import notifications
from dispatch.models import Assignment
from dispatch.services import assignment_report_in, whistle_dispatch
from grids.models import Role
from grievances import services, sms
from grievances.models import CaseEvent, Grievance
from grievances.relay import relay_batch
from notifications import services as case_notifications
from notifications.models import Delivery, Notification
from notifications.tasks import deliver_notifications
from tests.factories import make_member
from tests.grievances.conftest import api_as, at, new_case

pytestmark = pytest.mark.django_db

URLS = "config.urls"


@pytest.fixture(autouse=True)
def _channels(settings, depts):
    settings.SMS_BACKEND = "grievances.sms.LocmemBackend"
    sms.outbox.clear()
    for user, n in ((depts.staff.transport, 1), (depts.staff.police, 2)):
        user.email = f"{user.username}@example.org"
        user.phone = f"1380000000{n}"
        user.save(update_fields=["email", "phone"])
    yield
    sms.outbox.clear()


@pytest.fixture
def village_staff(tree):
    """Staff of the village centre, which owns cases reported in its grids."""
    return make_member(
        "village_staff", tree.village_a, Role.CENTRE_STAFF, email="village@example.org"
    )


def dispatched(people, depts) -> Grievance:
    # No phone for the complainant: these tests count the staff's deliveries (complainants'
    # messages: tests/grievances/test_messages.py).
    case = new_case(people.grid_worker, urgency="normal", phone="")
    case = services.grievance_accept(case, people.centre_staff)
    whistle_dispatch(case, people.centre_staff, departments=[depts.transport, depts.police])
    return Grievance.objects.get(pk=case.pk)


def notified(case, action: str) -> set[str]:
    return set(
        Notification.objects.filter(
            grievance=case, kind=action, recipient__isnull=False
        ).values_list("recipient__username", flat=True)
    )


def test_a_whistle_notifies_each_department_once_however_often_the_relay_runs(tree, people, depts):
    case = dispatched(people, depts)
    relay_batch()
    relay_batch()
    assert notified(case, "dispatch") == {"transport_staff", "police_staff"}
    # The handler itself run twice for one event (a relay retried after a crash).
    event = CaseEvent.objects.get(grievance=case, action="dispatch")
    notifications.notify_event(event.pk)
    assert Notification.objects.filter(event=event).count() == 2
    notice = Notification.objects.get(event=event, recipient=depts.staff.transport)
    assert case.display_code in notice.display_title
    assert notice.url == f"/cases/{case.pk}/"
    # Email to both, SMS to both: a whistle to departments is urgent.
    assert Delivery.objects.filter(notification__event=event).count() == 4


def test_each_delivery_is_sent_once(tree, people, depts):
    dispatched(people, depts)
    relay_batch()
    assert deliver_notifications() == 4
    assert deliver_notifications() == 0
    relay_batch()
    assert deliver_notifications() == 0
    assert sorted(m.to[0] for m in mail.outbox) == [
        "police_staff@example.org",
        "transport_staff@example.org",
    ]
    assert sorted(m.phone for m in sms.outbox) == ["13800000001", "13800000002"]
    assert set(Delivery.objects.values_list("status", flat=True)) == {"sent"}
    # Delivering the same ids again (a redelivered task message) sends nothing.
    ids = list(Delivery.objects.values_list("pk", flat=True))
    assert deliver_notifications(ids) == 0
    assert len(mail.outbox) == 2 and len(sms.outbox) == 2


def test_users_without_an_address_get_no_delivery(tree, people, depts):
    depts.staff.police.email = ""
    depts.staff.police.phone = ""
    depts.staff.police.save()
    case = dispatched(people, depts)
    relay_batch()
    police = Notification.objects.get(grievance=case, recipient=depts.staff.police)
    assert police.deliveries.count() == 0


def test_sms_only_for_urgent_matters(tree, people, depts, village_staff):
    case = dispatched(people, depts)
    lead = Assignment.objects.get(whistle__grievance=case, role="lead")
    assignment_report_in(lead, depts.staff.transport)
    relay_batch()
    # The owning village centre and the township centre that whistled both hear of it.
    assert notified(case, "report_in") == {"village_staff", "centre_staff"}
    notice = Notification.objects.get(grievance=case, kind="report_in", recipient=village_staff)
    assert list(notice.deliveries.values_list("channel", flat=True)) == ["email"]


def test_supervision_reaches_the_lead_department_and_the_centre(tree, people, depts, village_staff):
    with time_machine.travel(at(2026, 3, 2, 9), tick=False):
        case = dispatched(people, depts)
    with time_machine.travel(at(2026, 3, 2, 16), tick=False):
        from dispatch import sla

        sla.sweep()
        relay_batch()
    assert notified(case, "supervise") == {"transport_staff", "village_staff", "centre_staff"}
    notice = Notification.objects.get(grievance=case, kind="supervise", recipient=village_staff)
    assert "2026-03-02 15:30" in notice.display_body


def test_escalation_reaches_the_new_owning_centre(tree, people, depts):
    case = dispatched(people, depts)
    services.grievance_escalate(case, None, reason="村级无法解决", system=True)
    relay_batch()
    # people.centre_staff works at the township centre that owns the case now.
    assert notified(case, "escalate") == {"centre_staff"}


def test_the_reporter_hears_of_a_rejection_and_the_actor_hears_nothing(tree, people):
    case = new_case(people.grid_worker)
    services.grievance_reject(case, people.centre_staff, reason_code="invalid", reason="无效")
    relay_batch()
    assert notified(case, "reject") == {"grid_worker"}
    # The centre that rejected it is not told of its own act.
    assert not Notification.objects.filter(recipient=people.centre_staff).exists()


def test_a_transient_email_error_is_retried_later(tree, people, depts, monkeypatch, settings):
    settings.NOTIFY_SMS_ACTIONS = []
    dispatched(people, depts)
    relay_batch()
    calls = []

    def flaky(subject, message, from_email, recipient_list, **kwargs):
        calls.append(recipient_list[0])
        if len(calls) == 1:
            raise smtplib.SMTPServerDisconnected("connection lost")
        return 1

    monkeypatch.setattr(case_notifications, "send_mail", flaky)
    assert deliver_notifications() == 1
    failed = Delivery.objects.get(status="pending")
    assert failed.attempts == 1 and "SMTPServerDisconnected" in failed.last_error
    assert failed.next_attempt_at > timezone.now()
    assert deliver_notifications() == 0  # not due yet
    with time_machine.travel(timezone.now() + timedelta(minutes=2)):
        assert deliver_notifications() == 1
    failed.refresh_from_db()
    assert (failed.status, failed.attempts) == ("sent", 2)
    assert len(calls) == 3


def test_a_permanent_error_is_not_retried(tree, people, depts, monkeypatch, settings):
    settings.NOTIFY_SMS_ACTIONS = []
    dispatched(people, depts)
    relay_batch()

    def refused(subject, message, from_email, recipient_list, **kwargs):
        raise smtplib.SMTPRecipientsRefused({recipient_list[0]: (550, b"no such user")})

    monkeypatch.setattr(case_notifications, "send_mail", refused)
    deliver_notifications()
    assert set(Delivery.objects.values_list("status", "attempts")) == {("failed", 1)}


def test_attempts_are_bounded(tree, people, depts, monkeypatch, settings):
    settings.NOTIFY_SMS_ACTIONS = []
    settings.NOTIFY_MAX_ATTEMPTS = 2
    dispatched(people, depts)
    relay_batch()

    def down(*args, **kwargs):
        raise ConnectionRefusedError("smtp down")

    monkeypatch.setattr(case_notifications, "send_mail", down)
    deliver_notifications()
    with time_machine.travel(timezone.now() + timedelta(hours=2)):
        deliver_notifications()
        deliver_notifications()
    assert set(Delivery.objects.values_list("status", "attempts")) == {("failed", 2)}


def test_a_delivery_stuck_in_sending_is_sent_again_later(tree, people, depts, settings):
    settings.NOTIFY_SMS_ACTIONS = []
    dispatched(people, depts)
    relay_batch()
    # A worker claimed one and died before it could record the outcome.
    stuck = Delivery.objects.first()
    Delivery.objects.filter(pk=stuck.pk).update(
        status="sending", claimed_at=timezone.now(), attempts=1
    )
    assert deliver_notifications() == 1  # the other one; this one may still be in flight
    with time_machine.travel(timezone.now() + timedelta(minutes=11)):
        assert deliver_notifications() == 1
    stuck.refresh_from_db()
    assert (stuck.status, stuck.attempts) == ("sent", 2)


# --- API and the bell ----------------------------------------------------------------------


def _two_for_transport_one_for_police(people, depts):
    case = dispatched(people, depts)
    lead = Assignment.objects.get(whistle__grievance=case, role="lead")
    services.grievance_urge(case, people.leader, note="请加快")
    relay_batch()
    assert lead.department == depts.transport
    return case


def test_the_list_is_the_callers_own_newest_first_with_the_unread_count(tree, people, depts):
    _two_for_transport_one_for_police(people, depts)
    r = api_as(depts.staff.transport).get("/api/v1/notifications/")
    assert r.status_code == 200, r.content
    body = r.json()
    assert [n["kind"] for n in body["results"]] == ["urge", "dispatch"]
    assert body["count"] == 2 and body["unread_count"] == 2
    assert body["results"][0]["read"] is False
    assert {"id", "title", "body", "url", "case", "tracking_code", "created_at"} <= set(
        body["results"][0]
    )
    police = api_as(depts.staff.police).get("/api/v1/notifications/").json()
    assert [n["kind"] for n in police["results"]] == ["dispatch"]
    assert api_as(people.outsider).get("/api/v1/notifications/").json()["count"] == 0


def test_marking_read_touches_only_the_callers_own(tree, people, depts):
    _two_for_transport_one_for_police(people, depts)
    transport = api_as(depts.staff.transport)
    mine = [n["id"] for n in transport.get("/api/v1/notifications/").json()["results"]]
    theirs = list(
        Notification.objects.filter(recipient=depts.staff.police).values_list("pk", flat=True)
    )

    r = transport.post("/api/v1/notifications/read/", {"ids": [mine[0], *theirs]}, format="json")
    assert r.status_code == 200, r.content
    assert r.json() == {"marked": 1, "unread_count": 1}
    assert Notification.objects.get(pk=theirs[0]).read_at is None

    unread = transport.get("/api/v1/notifications/", {"unread": 1}).json()
    assert [n["id"] for n in unread["results"]] == [mine[1]]
    assert unread["unread_count"] == 1

    r = transport.post("/api/v1/notifications/read/", {"all": True}, format="json")
    assert r.json() == {"marked": 1, "unread_count": 0}
    assert Notification.objects.filter(recipient=depts.staff.police, read_at=None).count() == 1


def test_marking_read_needs_ids_or_all(tree, people, depts):
    client = api_as(depts.staff.transport)
    for payload in ({}, {"ids": []}, {"all": False}):
        r = client.post("/api/v1/notifications/read/", payload, format="json")
        assert r.status_code == 400 and "ids" in r.json(), (payload, r.content)
    r = client.post("/api/v1/notifications/read/", {"ids": ["x"]}, format="json")
    assert r.status_code == 400 and "ids" in r.json()


def test_the_api_needs_a_login(tree):
    api = APIClient()
    assert api.get("/api/v1/notifications/").status_code in (401, 403)
    assert api.post("/api/v1/notifications/read/", {"all": True}).status_code in (401, 403)


def test_the_schema_documents_both_paths():
    schema = SchemaGenerator(urlconf=URLS).get_schema(request=None, public=True)
    listing = schema["paths"]["/api/v1/notifications/"]["get"]
    assert {p["name"] for p in listing["parameters"]} >= {"unread", "limit", "offset"}
    page = listing["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    component = schema["components"]["schemas"][page.rsplit("/", 1)[-1]]
    assert "unread_count" in component["properties"]
    assert "post" in schema["paths"]["/api/v1/notifications/read/"]


def test_the_bell_counts_unread_in_one_query(tree, people, depts, rf, django_assert_num_queries):
    from django.contrib.auth.models import AnonymousUser

    _two_for_transport_one_for_police(people, depts)
    request = rf.get("/")
    request.user = AnonymousUser()
    with django_assert_num_queries(0):
        assert case_notifications.unread_count(request) == {"unread_notifications": 0}
    request.user = depts.staff.transport
    with django_assert_num_queries(1):
        assert case_notifications.unread_count(request) == {"unread_notifications": 2}


def test_the_bell_shows_the_unread_count_and_the_page_marks_read(tree, people, depts):
    from django.test import Client

    case = dispatched(people, depts)
    relay_batch()
    staff = depts.staff.transport
    assert Notification.objects.filter(recipient=staff, read_at__isnull=True).count() == 1
    client = Client()
    client.force_login(staff)
    home = client.get("/").content.decode()
    assert 'class="account__badge">1<' in home
    page = client.get("/notifications/")
    assert page.status_code == 200
    notice = Notification.objects.get(recipient=staff)
    assert notice.display_title in page.content.decode()
    r = client.post("/notifications/", {"ids": [notice.pk], "next": f"/cases/{case.pk}/"})
    assert r.status_code == 302 and r["Location"] == f"/cases/{case.pk}/"
    assert Notification.objects.get(pk=notice.pk).read_at is not None
    assert "account__badge" not in client.get("/").content.decode()
    # Another user's notice is not theirs to mark.
    other = Notification.objects.exclude(recipient=staff).first()
    if other is not None:
        client.post("/notifications/", {"ids": [other.pk]})
        assert Notification.objects.get(pk=other.pk).read_at is None
    assert Client().get("/notifications/").status_code == 302


def test_a_backlog_is_sent_in_short_runs_one_at_a_time(tree, people, depts, monkeypatch):
    """A run sends for a bounded time and queues the next one for the rest, so the relay on
    the same worker waits for one short run at most; a second run meanwhile ends at once."""
    from django.core.cache import cache

    from notifications import tasks

    for _ in range(3):
        dispatched(people, depts)
    relay_batch()
    assert Delivery.objects.filter(status="pending").count() == 12
    queued = []
    monkeypatch.setattr(tasks, "BATCH", 5)
    monkeypatch.setattr(tasks, "DELIVER_SECONDS", 0)  # the time is up after one send
    monkeypatch.setattr(tasks.deliver_notifications, "apply_async", lambda **kw: queued.append(kw))

    cache.add(tasks.DELIVERING_KEY, 1, 60)  # another run is sending
    assert deliver_notifications() == 0
    assert queued == []
    cache.delete(tasks.DELIVERING_KEY)

    assert deliver_notifications() == 1
    assert queued == [{"retry": False}]  # the rest is left to the next run
    # The other four claimed with it went back, their attempt not counted.
    assert Delivery.objects.filter(status="pending").count() == 11
    assert set(Delivery.objects.filter(status="pending").values_list("attempts", flat=True)) == {0}
    runs = 1
    while deliver_notifications():
        runs += 1
    assert runs == 12 and len(queued) == 11  # nothing due after the last: no further run
    assert len(mail.outbox) + len(sms.outbox) == 12
    assert set(Delivery.objects.values_list("status", "attempts")) == {("sent", 1)}
