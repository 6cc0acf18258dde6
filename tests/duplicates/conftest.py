from __future__ import annotations

import math

import pytest

from grievances import selectors, sms
from grievances.relay import relay_batch
from notifications.tasks import deliver_notifications
from tests.grievances.conftest import (  # noqa: F401  fixtures
    POINT_A1,
    _fresh_cache_and_clients,
    _media_in_tmp,
    api,
)


@pytest.fixture(autouse=True)
def _sms(settings):
    settings.SMS_BACKEND = "grievances.sms.LocmemBackend"
    sms.outbox.clear()
    yield
    sms.outbox.clear()


def east(metres: float, point=POINT_A1) -> tuple[float, float]:
    """The point `metres` east of `point`."""
    lng, lat = point
    return lng + metres / (selectors.METRES_PER_DEGREE * math.cos(math.radians(lat))), lat


def flush() -> None:
    """What a worker does in the background: hand the events over, send what is due."""
    relay_batch()
    deliver_notifications()


def texts(phone: str) -> list[str]:
    return [m.text for m in sms.outbox if m.phone == phone]
