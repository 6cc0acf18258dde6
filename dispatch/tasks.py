"""Celery tasks of the dispatch app: the SLA sweep.

Thin: it calls dispatch.sla, which claims every row it acts on with a conditional update,
so a task that runs twice (a redelivered message, two beats, two workers) does nothing
twice.
"""

from __future__ import annotations

import logging

from celery import shared_task
from django.db import OperationalError

from dispatch import sla

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
