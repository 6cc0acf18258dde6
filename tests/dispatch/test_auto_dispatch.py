"""Automatic dispatch by a routing rule, set-based per relay chunk: the same rows as the
per-case services, a number of queries that does not grow with the chunk, nothing done
twice when the relay runs twice, and a case a centre moved meanwhile left alone."""

from __future__ import annotations

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from dispatch import routing
from dispatch.models import Assignment, RoutingRule, Whistle
from dispatch.services import accept_and_whistle, propose
from grievances import services
from grievances.models import CaseEvent, Category, Grievance
from grievances.relay import relay_batch
from notifications.models import Delivery, Notification
from tests.grievances.conftest import at, new_case

pytestmark = pytest.mark.django_db


@pytest.fixture
def rule(tree, depts):
    rule = RoutingRule.objects.create(
        category=Category.objects.get(code="hazard.road"),
        region=tree.county,
        lead=depts.transport,
        handling_level="township",
        auto_dispatch=True,
    )
    rule.assisting.add(depts.police)
    for user, n in ((depts.staff.transport, 1), (depts.staff.police, 2)):
        user.email = f"{user.username}@example.org"
        user.phone = f"1380000000{n}"
        user.save(update_fields=["email", "phone"])
    return rule


def report(n: int, **extra) -> list[Grievance]:
    return [new_case(None, category="hazard.road", **extra) for _ in range(n)]


def relay_queries() -> int:
    with CaptureQueriesContext(connection) as ctx:
        relay_batch(limit=10_000)
    return len(ctx.captured_queries)


def test_the_queries_of_a_chunk_do_not_grow_with_its_cases(rule, monkeypatch):
    # One chunk for the reports, one for the events the dispatch writes, whatever their number.
    monkeypatch.setattr("grievances.relay.CHUNK", 100)
    small = report(10)
    ten = relay_queries()
    large = report(20)
    twenty = relay_queries()
    for cases in (small, large):
        assert Grievance.objects.filter(
            pk__in=[c.pk for c in cases], state="dispatched"
        ).count() == len(cases)
    assert twenty <= ten
    # Everything for 20 reports: the claims, the routing, the writes, the notifications (the
    # departments' and the reporters' own: about 15 of these).
    assert twenty <= 55
    assert Whistle.objects.count() == 30
    assert Notification.objects.filter(kind="dispatch").count() == 60


def test_a_default_chunk_costs_a_few_queries_per_case(rule):
    report(40)
    assert relay_queries() <= 100  # about 2.3 a case (25 before the set-based path)
    assert Grievance.objects.filter(state="dispatched").count() == 40


def test_run_twice_the_relay_dispatches_once(rule):
    cases = report(5)
    relay_batch()
    rows = {
        "events": list(CaseEvent.objects.order_by("id").values_list("grievance_id", "action")),
        "whistles": Whistle.objects.count(),
        "assignments": Assignment.objects.count(),
        "notifications": Notification.objects.count(),
        "deliveries": Delivery.objects.count(),
    }
    assert rows["whistles"] == 5 and rows["assignments"] == 10
    # The departments' notices (e-mail and SMS each), and each reporter's two messages
    # (registered; accepted, naming the department), by SMS.
    assert rows["notifications"] == 10 + 2 * 5 and rows["deliveries"] == 20 + 2 * 5
    # Every event handed over again (a relay that crashed after its handlers ran, say).
    CaseEvent.objects.update(processed_at=None)
    relay_batch()
    relay_batch()
    assert (
        list(CaseEvent.objects.order_by("id").values_list("grievance_id", "action"))
        == rows["events"]
    )
    assert Whistle.objects.count() == rows["whistles"]
    assert Assignment.objects.count() == rows["assignments"]
    assert Notification.objects.count() == rows["notifications"]
    assert Delivery.objects.count() == rows["deliveries"]
    for case in cases:
        assert [e.action for e in CaseEvent.objects.filter(grievance=case)] == [
            "submit",
            "accept",
            "dispatch",
        ]


def test_a_case_the_centre_moved_first_is_left_alone(rule, people):
    first, second, third = report(3)
    services.grievance_reject(
        second, people.centre_staff, reason_code="out_of_scope", reason="不属于受理范围"
    )
    relay_batch()
    assert Grievance.objects.get(pk=first.pk).state == "dispatched"
    assert Grievance.objects.get(pk=third.pk).state == "dispatched"
    rejected = Grievance.objects.get(pk=second.pk)
    assert rejected.state == "rejected" and rejected.handling_level == ""
    assert not Whistle.objects.filter(grievance=second).exists()


def test_a_case_moved_between_the_read_and_the_lock_is_left_alone(rule, people):
    stale, fresh = report(2)
    proposal = propose(stale)
    # The centre accepts one while the relay holds its (now stale) copy.
    services.grievance_accept(Grievance.objects.get(pk=stale.pk), people.centre_staff)
    moved = accept_and_whistle(
        [(stale, proposal), (fresh, proposal)], note="auto", calendar_for=routing._calendar
    )
    assert [c.pk for c in moved] == [fresh.pk]
    assert Grievance.objects.get(pk=stale.pk).state == "accepted"
    assert not Whistle.objects.filter(grievance=stale).exists()
    assert CaseEvent.objects.filter(grievance=stale, action="dispatch").count() == 0


def _rows(case: Grievance) -> dict:
    case = Grievance.objects.get(pk=case.pk)
    fields = (
        "state",
        "complexity",
        "handling_level",
        "priority",
        "handler_region_id",
        "owning_centre_id",
        "accepted_at",
        "dispatched_at",
        "report_in_due_at",
        "handle_due_at",
        "updated_at",
        "version",
    )
    whistles = list(
        Whistle.objects.filter(grievance=case).values(
            "centre_id", "issued_by_id", "instructions", "status", "created_at", "ended_at"
        )
    )
    assignments = list(
        Assignment.objects.filter(whistle__grievance=case)
        .order_by("id")
        .values("department_id", "role", "status", "report_in_due_at", "handle_due_at")
    )
    events = []
    for event in CaseEvent.objects.filter(grievance=case).exclude(action="submit"):
        data = dict(event.data)
        data.pop("whistle", None)
        events.append(
            (
                event.action,
                event.actor_id,
                event.actor_label,
                event.from_state,
                event.to_state,
                event.note,
                event.public,
                data,
                event.created_at,
            )
        )
    return {
        "case": {f: getattr(case, f) for f in fields},
        "whistles": whistles,
        "assignments": assignments,
        "events": events,
    }


@pytest.mark.parametrize("urgency", ["normal", "urgent", "most_urgent"])
def test_the_set_based_path_writes_what_the_services_write_one_by_one(rule, urgency):
    with time_machine.travel(at(2026, 9, 30, 10, 0), tick=False):
        one, many = report(2, urgency=urgency)
        # One by one: the services as the routing called them before.
        proposal = propose(one)
        assert routing._accept_and_whistle_one(one, proposal)
        by_one = _rows(one)
        # The set-based path, for the same report.
        moved = accept_and_whistle(
            [(many, propose(many))],
            note=routing._auto_note(),
            calendar_for=routing._calendar,
        )
        assert [c.pk for c in moved] == [many.pk]
        by_set = _rows(many)
    assert by_set == by_one
    assert by_set["case"]["state"] == "dispatched"
    assert by_set["case"]["handling_level"] == "township"
    # The event data points at the case's own whistle.
    event = CaseEvent.objects.get(grievance=many, action="dispatch")
    assert event.data["whistle"] == Whistle.objects.get(grievance=many).pk


def test_a_chunk_of_mixed_reports(rule, tree, depts, people):
    # A rule that only proposes a level, and a report no rule matches.
    RoutingRule.objects.create(
        category=Category.objects.get(code="hazard.environment"),
        region=tree.county,
        lead=depts.labour,
        handling_level="county",
    )
    auto = report(3)
    proposed = new_case(None, category="hazard.environment")
    unrouted = new_case(None, category="dispute.neighbours")
    relay_batch()
    assert {c.state for c in Grievance.objects.filter(pk__in=[c.pk for c in auto])} == {
        "dispatched"
    }
    proposed.refresh_from_db()
    assert (proposed.state, proposed.handling_level) == ("submitted", "county")
    assert proposed.version == 2  # the proposal's level is a write to the case too
    unrouted.refresh_from_db()
    assert (unrouted.state, unrouted.handling_level) == ("submitted", "")


def test_an_inactive_department_falls_back_to_the_services(rule, depts):
    depts.police.active = False
    depts.police.save(update_fields=["active"])
    (case,) = report(1)
    relay_batch()
    case.refresh_from_db()
    # As before: accepted by the rule, the whistle refused (the centre dispatches by hand).
    assert case.state == "accepted"
    assert not Whistle.objects.filter(grievance=case).exists()
