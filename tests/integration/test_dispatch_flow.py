"""吹哨报到 on a real broker, worker and beat."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from dispatch.models import Assignment, RoutingRule
from grievances.models import Category, Grievance
from grievances.services import SYSTEM_LABEL
from tests.grievances.conftest import as_user
from tests.integration.conftest import Worker, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def report(client) -> int:
    r = client.post(
        "/api/v1/grievances/",
        {
            "title": "挡墙险情",
            "description": "路边挡墙有垮塌风险",
            "category": "hazard.road",
            "lng": 91.2,
            "lat": 29.7,
        },
        format="json",
    )
    assert r.status_code == 201, r.content
    return r.json()["id"]


def state_of(pk: int) -> str:
    return Grievance.objects.values_list("state", flat=True).get(pk=pk)


@pytest.fixture
def auto_rule(tree, depts):
    return RoutingRule.objects.create(
        category=Category.objects.get(code="hazard.road"),
        region=tree.county,
        lead=depts.transport,
        auto_dispatch=True,
    )


def test_submit_is_auto_dispatched_within_seconds(tree, people, depts, auto_rule, worker):
    pk = report(as_user(people.grid_worker))
    wait_for(lambda: state_of(pk) == "dispatched", 20, what="auto-dispatch by the worker")
    lead = Assignment.objects.get(whistle__grievance_id=pk)
    assert lead.department == depts.transport and lead.status == "pending"


def test_a_missed_deadline_is_supervised_then_escalated_by_beat(tree, people, depts, worker, beat):
    pk = report(as_user(people.grid_worker))
    centre = as_user(people.centre_staff)
    centre.post(f"/api/v1/grievances/{pk}/accept/", {}, format="json")
    centre.post(
        f"/api/v1/grievances/{pk}/dispatch/", {"departments": [depts.transport.pk]}, format="json"
    )
    # The report-in deadline passed ten days ago and nobody signed.
    past = timezone.now() - timedelta(days=10)
    Grievance.objects.filter(pk=pk).update(report_in_due_at=past, handle_due_at=past)
    Assignment.objects.filter(whistle__grievance_id=pk).update(
        report_in_due_at=past, handle_due_at=past
    )
    wait_for(
        lambda: Grievance.objects.get(pk=pk).supervise_count >= 1, 30, what="a supervise notice"
    )
    wait_for(lambda: Grievance.objects.get(pk=pk).escalation_count == 1, 30, what="escalation")
    case = Grievance.objects.get(pk=pk)
    assert case.state == "accepted"
    assert case.owning_centre == tree.town_a
    assert Assignment.objects.get(whistle__grievance_id=pk).status == "escalated"
    assert case.events.filter(action="escalate", actor_label=SYSTEM_LABEL).count() == 1


def test_worker_killed_mid_task_the_sweeper_still_moves_the_case(
    tree, people, depts, auto_rule, broker, beat, tmp_path
):
    first = Worker(broker, tmp_path / "first-worker.log")
    first.start()
    pk = report(as_user(people.grid_worker))
    first.kill()  # kill -9, whatever it was doing: an unacknowledged message stays hidden
    if state_of(pk) != "dispatched":
        second = Worker(broker, tmp_path / "second-worker.log")
        second.start()
        try:
            wait_for(lambda: state_of(pk) == "dispatched", 30, what="the sweeper's relay")
        finally:
            second.stop()
    assert Assignment.objects.filter(whistle__grievance_id=pk).count() == 1


def test_broker_stopped_during_submits_all_saved_all_dispatched_once_back(
    tree, people, depts, auto_rule, broker, worker, beat
):
    client = as_user(people.grid_worker)
    broker.stop()
    pks = [report(client) for _ in range(5)]
    assert all(state_of(pk) == "submitted" for pk in pks)
    broker.start()
    wait_for(
        lambda: all(state_of(pk) == "dispatched" for pk in pks),
        60,
        what="every case dispatched after the outage",
    )
    assert Assignment.objects.filter(whistle__grievance_id__in=pks).count() == 5
