"""Waking the outbox relay after a commit, cheaply.

The case's events are the outbox (grievances.tasks). A submit must not pay a broker publish
each time: under load one publish per request costs as much as the insert itself. So each
process publishes at most one relay per window, delayed by that window; every event
committed in the window is already in the database when that relay runs. When the broker
is down, publishing pauses for a while instead of making every request wait for a
connection timeout; the beat sweeper drains the outbox once the broker is back.
"""

from __future__ import annotations

import logging
import threading
import time

from django.conf import settings

log = logging.getLogger(__name__)


class RelayKicker:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._next_allowed = 0.0
        self._paused_until = 0.0

    @property
    def window(self) -> float:
        return getattr(settings, "OUTBOX_KICK_WINDOW", 0.1)

    @property
    def backoff(self) -> float:
        return getattr(settings, "OUTBOX_BROKER_BACKOFF", 15.0)

    def kick(self) -> bool:
        """Publish a relay unless one is already due from this process; True if published."""
        now = time.monotonic()
        with self._lock:
            if now < self._paused_until or now < self._next_allowed:
                return False
            self._next_allowed = now + self.window
        try:
            from grievances.tasks import relay_outbox

            relay_outbox.apply_async(countdown=self.window or None, retry=False)
        except Exception:  # noqa: BLE001 - any broker error: the sweeper catches up
            with self._lock:
                self._paused_until = time.monotonic() + self.backoff
                self._next_allowed = 0.0
            log.warning("broker unreachable: the outbox waits for the sweeper", exc_info=True)
            return False
        return True

    def reset(self) -> None:
        with self._lock:
            self._next_allowed = self._paused_until = 0.0


kicker = RelayKicker()
