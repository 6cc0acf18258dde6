from __future__ import annotations

import pytest
from kombu.exceptions import OperationalError

from grievances.models import CaseEvent
from grievances.outbox import RelayKicker
from grievances.relay import event_handlers, on_event, relay_batch
from tests.grievances.conftest import as_user

pytestmark = pytest.mark.django_db


def test_one_publish_per_window_per_process(settings, monkeypatch):
    settings.OUTBOX_KICK_WINDOW = 60
    sent = []
    monkeypatch.setattr("grievances.tasks.relay_outbox.apply_async", lambda **kw: sent.append(kw))
    k = RelayKicker()
    assert k.kick() is True
    assert k.kick() is False
    assert k.kick() is False
    assert len(sent) == 1 and sent[0]["countdown"] == 60


def test_a_broker_failure_pauses_publishing_instead_of_failing(settings, monkeypatch):
    settings.OUTBOX_BROKER_BACKOFF = 60

    def down(**kw):
        raise OperationalError("connection refused")

    monkeypatch.setattr("grievances.tasks.relay_outbox.apply_async", down)
    k = RelayKicker()
    assert k.kick() is False
    calls = []
    monkeypatch.setattr("grievances.tasks.relay_outbox.apply_async", lambda **kw: calls.append(1))
    assert k.kick() is False and calls == []  # still backing off


def _report(user, count: int) -> None:
    """`count` reports by this grid worker, through the API."""
    client = as_user(user)
    for n in range(count):
        body = {"title": f"t{n}", "description": "d", "category": "hazard.road"}
        client.post("/api/v1/grievances/", {**body, "lng": 91.2, "lat": 29.7}, format="json")


def test_a_failing_handler_leaves_its_event_in_the_outbox_and_the_rest_go_on(
    tree, people, monkeypatch
):
    _report(people.grid_worker, 3)
    first = CaseEvent.objects.order_by("id").first()
    seen = []

    def handler(event_id):
        if event_id == first.pk:
            raise RuntimeError("downstream hiccup")
        seen.append(event_id)

    monkeypatch.setitem(event_handlers, "submit", [handler])
    assert relay_batch() == 2
    assert len(seen) == 2
    assert CaseEvent.objects.filter(processed_at__isnull=True).get() == first
    # Run twice: nothing handed over twice.
    monkeypatch.setitem(event_handlers, "submit", [lambda event_id: seen.append(event_id)])
    assert relay_batch() == 1
    assert sorted(seen) == sorted(CaseEvent.objects.values_list("id", flat=True))


def test_a_batch_handler_takes_the_chunk_and_a_failure_falls_back_to_one_by_one(
    tree, people, monkeypatch
):
    _report(people.grid_worker, 4)
    ids = list(CaseEvent.objects.order_by("id").values_list("id", flat=True))
    calls = []
    monkeypatch.setitem(event_handlers, "test-only", [])  # registered below, then restored

    @on_event("test-only", batch=True)
    def batch(event_ids):
        calls.append(list(event_ids))

    monkeypatch.setitem(event_handlers, "submit", [batch])
    assert relay_batch() == 4
    assert calls == [ids]  # one call for the chunk's four events

    # A batch that fails is handed over again one event at a time: only the bad one stays.
    CaseEvent.objects.update(processed_at=None)
    calls.clear()
    bad = ids[1]

    @on_event("test-only", batch=True)
    def failing(event_ids):
        if bad in event_ids:
            raise RuntimeError("downstream hiccup")
        calls.append(list(event_ids))

    monkeypatch.setitem(event_handlers, "submit", [failing])
    assert relay_batch() == 3
    assert calls == [[i] for i in ids if i != bad]
    assert list(
        CaseEvent.objects.filter(processed_at__isnull=True).values_list("id", flat=True)
    ) == [bad]
