"""Celery tasks of mediation (beat): assignment after the choice deadline, and reminders of
agreement terms falling due.

Thin and safe to run twice: each case or term is re-read and claimed (the status check of
the assignment; a conditional update of `reminded_at`), so a redelivered message, two beats
or two workers do nothing twice.
"""

from __future__ import annotations

import logging

from celery import shared_task
from django.db import OperationalError
from django.utils import timezone

from mediation import services
from mediation.models import AgreementTerm, CaseStatus, MediationCase

log = logging.getLogger(__name__)

# "database is locked" (SQLite) or a dropped connection: worth another try.
TRANSIENT = (OperationalError,)
BATCH = 100


def overdue_choice_ids(now=None, limit: int = BATCH) -> list[int]:
    now = now or timezone.now()
    return list(
        MediationCase.objects.filter(
            status=CaseStatus.CHOOSING,
            choice_deadline__lte=now,
            auto_assign_failed_at__isnull=True,
        )
        .order_by("choice_deadline", "id")
        .values_list("pk", flat=True)[:limit]
    )


def due_term_ids(today=None, limit: int = BATCH) -> list[int]:
    """Unreminded terms due today or earlier, of agreements that settled a mediation."""
    today = today or timezone.localdate()
    settled = MediationCase.objects.filter(status=CaseStatus.SETTLED).values("settled_agreement")
    return list(
        AgreementTerm.objects.filter(
            reminded_at__isnull=True, due_date__lte=today, agreement_id__in=settled
        )
        .order_by("due_date", "id")
        .values_list("pk", flat=True)[:limit]
    )


@shared_task(
    bind=True,
    acks_late=True,
    autoretry_for=TRANSIENT,
    max_retries=3,
    default_retry_delay=10,
    ignore_result=True,
)
def assign_overdue_choices(self) -> dict:
    """派单 after the choice deadline: the best mediator by dispute type, not recused, least
    loaded (beat: every few minutes). A case no mediator fits is recorded once and left to
    the centre."""
    counts = {"assigned": 0, "no_mediator": 0, "skipped": 0}
    for case_id in overdue_choice_ids():
        counts[services.assign_overdue(case_id)] += 1
    if counts["assigned"]:
        log.info("assigned mediators to %s cases past their choice deadline", counts["assigned"])
    return counts


@shared_task(
    bind=True,
    acks_late=True,
    autoretry_for=TRANSIENT,
    max_retries=3,
    default_retry_delay=10,
    ignore_result=True,
)
def remind_due_terms(self) -> int:
    """Remind the mediator of each agreement term on its due date (beat: daily, morning)."""
    reminded = 0
    while True:
        ids = due_term_ids()
        # Each term is claimed as it is reminded, so the next batch holds only new ones.
        done = sum(services.remind_term(term_id) for term_id in ids)
        reminded += done
        if len(ids) < BATCH or not done:
            return reminded
