"""Celery tasks and relay handlers of evaluation: return visits, figures, exports.

Imported by EvaluationConfig.ready(), so that every process (web, worker, the demo loader)
registers the relay handlers, and found by Celery's autodiscovery in the worker.

- "verify" and "rate" events (the outbox relay, grievances.relay.on_event): schedule the
  return visit a closed case calls for (idempotent, in the relay's transaction).
- refresh_figures (beat, every minute): the figure cells follow the cases.
- refresh_figures_wide (beat, nightly): the same over the last two days, a safety net.
- run_export: one requested export; sweep_exports (beat): re-enqueue exports a lost
  message or a dead worker left behind.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from celery import shared_task
from django.db import OperationalError
from django.utils import timezone

from evaluation import exports, figures, returnvisits
from grievances.models import CaseEvent
from grievances.relay import on_event

log = logging.getLogger(__name__)

TRANSIENT = (OperationalError,)


@on_event("verify", "rate")
def schedule_return_visit(event_id: int) -> None:
    grievance_id = (
        CaseEvent.objects.filter(pk=event_id).values_list("grievance_id", flat=True).first()
    )
    if grievance_id is not None:
        returnvisits.return_visit_schedule(grievance_id)


@shared_task(
    bind=True,
    acks_late=True,
    autoretry_for=TRANSIENT,
    max_retries=3,
    default_retry_delay=10,
    ignore_result=True,
    soft_time_limit=600,
    time_limit=900,
)
def refresh_figures(self) -> dict:
    """Recompute the figures of the cases that changed or came due since the last run (the
    first runs build every case's figures, five minutes at a time)."""
    return figures.refresh_recent(rebuild_budget=300)


@shared_task(
    bind=True,
    acks_late=True,
    autoretry_for=TRANSIENT,
    max_retries=3,
    default_retry_delay=60,
    ignore_result=True,
    soft_time_limit=3000,
    time_limit=3600,
)
def refresh_figures_wide(self) -> dict:
    """Nightly: the cases with events in the last two days, whatever the last run saw."""
    return figures.refresh_recent(margin=timedelta(days=2))


@shared_task(
    bind=True,
    acks_late=True,
    autoretry_for=TRANSIENT,
    max_retries=3,
    default_retry_delay=10,
    ignore_result=True,
    soft_time_limit=1800,
    time_limit=2400,
)
def run_export(self, export_id: int) -> str | None:
    """Write one export's file; does nothing if another run already took it."""
    return exports.run(export_id)


@shared_task(bind=True, acks_late=True, ignore_result=True)
def sweep_exports(self) -> int:
    """Re-enqueue exports left pending, or running past the task's time limit."""
    ids = exports.stale(timezone.now())
    for export_id in ids:
        try:
            run_export.apply_async(args=[export_id], retry=False)
        except Exception:  # noqa: BLE001 - any broker error: the next sweep tries again
            log.warning("could not enqueue export %s", export_id, exc_info=True)
            break
    return len(ids)


__all__ = [
    "refresh_figures",
    "refresh_figures_wide",
    "run_export",
    "schedule_return_visit",
    "sweep_exports",
]
