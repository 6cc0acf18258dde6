"""Celery tasks of the notifications: sending the deliveries.

Thin: notifications.services claims every row it sends with a conditional update, so a
task that runs twice (a redelivered message, two beats, two workers) sends nothing twice.
"""

from __future__ import annotations

import logging
import time

from celery import shared_task
from django.core.cache import cache
from django.db import OperationalError

from notifications import services as notifications

log = logging.getLogger(__name__)

# "database is locked" (SQLite) or a dropped connection: worth another try; anything else is
# a bug to see in the log, not to repeat.
TRANSIENT = (OperationalError,)


BATCH = 100
# A run without ids sends for about this long, then leaves the rest to a follow-up run queued
# behind the tasks already waiting: the relay, on the same worker, is not held up for long
# by a backlog of e-mails and text messages.
DELIVER_SECONDS = 1.0
# One run without ids at a time (each relay chunk asks for one): the others end at once.
DELIVERING_KEY = "dispatch:delivering"  # the name it had; one run across versions
DELIVERING_TTL = 60  # a run that died frees the key by then


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
    the deliveries that are due, a batch at a time, for about DELIVER_SECONDS, then queue a
    follow-up run if some are still due.

    A transient error leaves a delivery pending with its next attempt later; a follow-up run
    is scheduled for then (beat's run every minute would find it too).
    """
    if delivery_ids is not None:
        sent, retry = _send(delivery_ids)
    elif not cache.add(DELIVERING_KEY, 1, DELIVERING_TTL):
        # Another run is sending; it looks for due deliveries again once it has let go.
        return 0
    else:
        try:
            notifications.requeue_stuck()
            sent, retry = _send(None)
        finally:
            cache.delete(DELIVERING_KEY)
        if notifications.any_due():
            _follow_up()
    if retry:
        delay = notifications.next_retry_in(retry)
        if delay is not None:
            try:
                deliver_notifications.apply_async(args=[retry], countdown=delay, retry=False)
            except Exception:  # noqa: BLE001 - any broker error; beat's run picks them up
                log.warning("could not schedule the retry of deliveries", exc_info=True)
    return sent


def _send(delivery_ids: list[int] | None) -> tuple[int, list[int]]:
    """Claim and send (these, or the due ones for DELIVER_SECONDS): (sent, to retry)."""
    deadline = time.monotonic() + DELIVER_SECONDS
    sent = 0
    retry = []
    while True:
        batch = notifications.claim(delivery_ids, BATCH)
        for i, delivery in enumerate(batch):
            if delivery_ids is None and i and time.monotonic() > deadline:
                # A slow gateway: the rest of the batch goes back for the next run.
                notifications.release([d.pk for d in batch[i:]])
                return sent, retry
            status = notifications.send_claimed(delivery)
            if status == "sent":
                sent += 1
            elif status == "pending":
                retry.append(delivery.pk)
        if delivery_ids is not None or len(batch) < BATCH or time.monotonic() > deadline:
            return sent, retry


def _follow_up() -> None:
    try:
        deliver_notifications.apply_async(retry=False)
    except Exception:  # noqa: BLE001 - any broker error; beat's run picks them up
        log.warning("could not queue the next run of deliveries", exc_info=True)
