"""Celery tasks of the dispatch app: the SLA sweep and notification deliveries.

Thin: they call dispatch.sla and dispatch.notifications, which claim every row they act on
with a conditional update, so a task that runs twice (a redelivered message, two beats, two
workers) does nothing twice. Importing this module also registers the notification handler
with the outbox relay (grievances.tasks.on_event), in every worker.
"""

from __future__ import annotations

import logging
import time

from celery import shared_task
from django.db import OperationalError

from dispatch import notifications, sla

log = logging.getLogger(__name__)

# "database is locked" (SQLite) or a dropped connection: worth another try; anything else is
# a bug to see in the log, not to repeat.
TRANSIENT = (OperationalError,)


@shared_task(
    bind=True,
    acks_late=True,
    autoretry_for=TRANSIENT,
    max_retries=3,
    default_retry_delay=10,
    ignore_result=True,
)
def sweep_sla(self) -> dict:
    """督办 on missed deadlines, escalation past the second threshold (beat: every minute)."""
    result = sla.sweep()
    if result.full and result.progress:
        # A backlog (the sweep was down, a burst of deadlines): go on now rather than in a
        # minute. Each run is bounded; a run that made no progress waits for beat.
        sweep_sla.apply_async(retry=False)
    return {
        "supervised": result.supervised,
        "escalated": result.escalated,
        "updated": result.updated,
        "busy": result.busy,
    }


BATCH = 100
DELIVER_SECONDS = 20.0


@shared_task(
    bind=True,
    acks_late=True,
    autoretry_for=TRANSIENT,
    max_retries=3,
    default_retry_delay=10,
    ignore_result=True,
)
def deliver_notifications(self, delivery_ids: list[int] | None = None) -> int:
    """Send these deliveries; without ids (a relay chunk, beat), requeue stuck ones and send
    every delivery that is due, a batch at a time, for up to DELIVER_SECONDS.

    A transient error leaves a delivery pending with its next attempt later; a follow-up run
    is scheduled for then (beat's run every minute would find it too).
    """
    if delivery_ids is None:
        notifications.requeue_stuck()
    deadline = time.monotonic() + DELIVER_SECONDS
    sent = 0
    retry = []
    while True:
        batch = notifications.claim(delivery_ids, BATCH)
        for delivery in batch:
            status = notifications.send_claimed(delivery)
            if status == "sent":
                sent += 1
            elif status == "pending":
                retry.append(delivery.pk)
        if delivery_ids is not None or len(batch) < BATCH or time.monotonic() > deadline:
            break
    if retry:
        delay = notifications.next_retry_in(retry)
        if delay is not None:
            try:
                deliver_notifications.apply_async(args=[retry], countdown=delay, retry=False)
            except Exception:  # noqa: BLE001 - any broker error; beat's run picks them up
                log.warning("could not schedule the retry of deliveries", exc_info=True)
    return sent
