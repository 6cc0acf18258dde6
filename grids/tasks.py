"""Periodic housekeeping of the sign-in records."""

from __future__ import annotations

from axes.handlers.proxy import AxesProxyHandler
from celery import shared_task
from django.conf import settings

from grids import held


@shared_task(ignore_result=True)
def trim_access_logs() -> int:
    """Forget successful sign-ins (address and browser) older than the days the account
    slow-down looks back for known addresses: personal data kept no longer than it serves."""
    return AxesProxyHandler.reset_logs(age_days=settings.LOGIN_KNOWN_ADDRESS_DAYS) or 0


@shared_task(ignore_result=True)
def sweep_held_uploads() -> int:
    """Delete uploads held for a form (grids.held) past their day."""
    return held.sweep()
