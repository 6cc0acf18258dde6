"""Celery tasks of the case core: the outbox relay.

CaseEvent rows are the outbox. The relay hands each unprocessed event to the handlers
registered for its action (routing, notifications: the dispatch app registers them) and
marks it processed with a conditional update, so two relays never hand one event over twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from celery import shared_task
from django.db import transaction
from django.utils import timezone

from grievances.models import CaseEvent

log = logging.getLogger(__name__)

# action -> handlers called with the event id once it is committed ("*" for every event).
event_handlers: dict[str, list[Callable[[int], None]]] = {}


def on_event(*actions: str):
    """Register a handler for events of these actions (run by the relay, in a worker)."""

    def register(func):
        for action in actions:
            event_handlers.setdefault(action, []).append(func)
        return func

    return register


BATCH = 200


def relay_batch(limit: int = BATCH) -> int:
    """Hand over up to `limit` unprocessed events; returns how many this call took."""
    ids = list(
        CaseEvent.objects.filter(processed_at__isnull=True)
        .order_by("id")
        .values_list("id", "action")[:limit]
    )
    taken = 0
    for event_id, action in ids:
        try:
            with transaction.atomic():
                # Claim the row: 0 rows means another relay got there first. The claim and
                # the handlers' writes commit together, or neither does.
                claimed = CaseEvent.objects.filter(id=event_id, processed_at__isnull=True).update(
                    processed_at=timezone.now()
                )
                if not claimed:
                    continue
                for handler in [*event_handlers.get(action, []), *event_handlers.get("*", [])]:
                    handler(event_id)
        except Exception:
            # One failing event must not hold up the others: it stays in the outbox and
            # the next relay (at the latest the sweeper's) tries it again.
            log.exception("relay of case event %s failed; it stays in the outbox", event_id)
            continue
        taken += 1
    return taken


@shared_task(bind=True, acks_late=True, max_retries=5, default_retry_delay=5)
def relay_outbox(self) -> int:
    total = 0
    while True:
        n = relay_batch()
        total += n
        if n < BATCH:
            return total


from grievances.tasks_evaluation import *  # noqa
