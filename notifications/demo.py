"""The demo's notifications: dated by their events, and the complainants' messages of the
demo's past counted as sent then (no text message leaves while the demo loads, and none
should leave later for events of weeks ago)."""

from __future__ import annotations

from django.db.models import OuterRef, Subquery

from grievances import demo as case_demo
from grievances.models import CaseEvent
from notifications.models import Delivery, Notification


def _date_notifications(case_ids: list[int]) -> None:
    Notification.objects.filter(grievance_id__in=case_ids).update(
        created_at=Subquery(CaseEvent.objects.filter(pk=OuterRef("event_id")).values("created_at"))
    )
    Delivery.objects.filter(
        notification__grievance_id__in=case_ids,
        notification__complainant__isnull=False,
        status=Delivery.Status.PENDING,
    ).update(
        status=Delivery.Status.SENT,
        attempts=1,
        sent_at=Subquery(
            Notification.objects.filter(pk=OuterRef("notification_id")).values("created_at")
        ),
    )


case_demo.after_relay.append(_date_notifications)
