"""The outbox on a real broker and worker: submits never wait for the broker."""

from __future__ import annotations

import time

import pytest

from grievances.models import CaseEvent, Grievance
from grievances.outbox import kicker
from grievances.tasks import relay_outbox
from tests.grievances.conftest import as_user
from tests.integration.conftest import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def submit(client, n: int) -> None:
    r = client.post(
        "/api/v1/grievances/",
        {
            "title": f"楼道漏水 {n}",
            "description": "三单元楼道水管漏水",
            "category": "hazard.utilities",
            "lng": 91.2,
            "lat": 29.7,
        },
        format="json",
    )
    assert r.status_code == 201, r.content


def unprocessed() -> int:
    return CaseEvent.objects.filter(processed_at__isnull=True).count()


def test_a_worker_drains_the_outbox_after_submits(tree, people, worker):
    client = as_user(people.grid_worker)
    for n in range(5):
        submit(client, n)
    wait_for(lambda: unprocessed() == 0, 30, what="the worker to relay every event")
    assert "relay_outbox" in worker.output()


def test_broker_down_submits_succeed_and_the_work_happens_once_it_is_back(
    tree, people, broker, worker
):
    client = as_user(people.grid_worker)
    broker.stop()
    kicker.reset()
    started = time.monotonic()
    for n in range(10):
        submit(client, n)
    elapsed = time.monotonic() - started
    # All saved, none failed, and the outage did not make each request wait for a timeout.
    assert Grievance.objects.count() == 10
    assert elapsed < 10, f"10 submits took {elapsed:.1f}s with the broker down"
    assert unprocessed() == 10

    broker.start()
    kicker.reset()
    # The beat sweeper's tick: publishes the relay like beat does every minute.
    relay_outbox.apply_async()
    wait_for(lambda: unprocessed() == 0, 60, what="the outbox to drain after the outage")
