"""Celery tasks of the case core: the outbox relay (grievances/relay.py).

Thin: the relay claims every row it acts on with a conditional update, so a task that runs
twice (a redelivered message, two beats, two workers) does nothing twice.
"""

from __future__ import annotations

import logging
import time

from celery import shared_task
from django.db import OperationalError

from grievances.relay import relay_batch

log = logging.getLogger(__name__)

# "database is locked" (SQLite) or a dropped connection: worth another try; anything else is
# a bug to see in the log, not to repeat.
TRANSIENT = (OperationalError,)

# How long one relay task keeps going while the outbox refills (submits keep coming, and the
# relay's own acts write events): well inside CELERY_TASK_SOFT_TIME_LIMIT.
RELAY_SECONDS = 20.0


@shared_task(bind=True, acks_late=True, max_retries=5, default_retry_delay=5)
def relay_outbox(self) -> int:
    """Empty the outbox, for up to RELAY_SECONDS; if events remain then, go on in a new task."""
    deadline = time.monotonic() + RELAY_SECONDS
    total = 0
    while True:
        n = relay_batch()
        total += n
        if n == 0:
            return total
        if time.monotonic() > deadline:
            try:
                relay_outbox.apply_async(retry=False)
            except Exception:  # noqa: BLE001 - any broker error: the periodic run catches up
                log.warning("could not enqueue the next relay", exc_info=True)
            return total
