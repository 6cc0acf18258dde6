"""Sign-in records are personal data (an address, a browser): kept as long as the account
slow-down needs them to recognise a known address, then forgotten."""

from __future__ import annotations

from datetime import timedelta

import pytest
from axes.models import AccessLog
from django.utils import timezone

from grids.tasks import trim_access_logs

pytestmark = pytest.mark.django_db


def test_old_sign_ins_are_forgotten_and_recent_ones_kept(settings):
    settings.LOGIN_KNOWN_ADDRESS_DAYS = 30
    now = timezone.now()
    for days, name in ((40, "old"), (5, "recent")):
        row = AccessLog.objects.create(username=name, ip_address="10.0.0.1", user_agent="x")
        AccessLog.objects.filter(pk=row.pk).update(attempt_time=now - timedelta(days=days))
    trim_access_logs()
    assert list(AccessLog.objects.values_list("username", flat=True)) == ["recent"]
