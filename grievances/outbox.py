"""Waking the outbox relay after a commit, cheaply.

The case's events are the outbox (grievances.relay). A submit must not pay a broker publish
each time: under load one publish per request costs as much as the insert itself. So each
process publishes at most one relay per window, delayed by that window; every event
committed in the window is already in the database when that relay runs. When the broker
is down, publishing pauses for a while instead of making every request wait for a
connection timeout; the beat sweeper drains the outbox once the broker is back. A hung
broker (one that accepts connections and never answers) is worse than a dead one, so the
relay is published on a connection of the process's own whose socket timeouts are short
(OUTBOX_PUBLISH_TIMEOUT): the request that meets the outage waits that long, once per back-off.
"""

from __future__ import annotations

import logging
import os
import threading
import time

from django.conf import settings

log = logging.getLogger(__name__)

# The relay task, by name: it lives in grievances.tasks, above the services that kick it.
RELAY_TASK = "grievances.tasks.relay_outbox"


class RelayKicker:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._next_allowed = 0.0
        self._paused_until = 0.0
        self._publish_lock = threading.Lock()
        self._conn = None
        self._conn_pid = 0

    @property
    def window(self) -> float:
        return getattr(settings, "OUTBOX_KICK_WINDOW", 0.1)

    @property
    def backoff(self) -> float:
        return getattr(settings, "OUTBOX_BROKER_BACKOFF", 15.0)

    @property
    def publish_timeout(self) -> float:
        return getattr(settings, "OUTBOX_PUBLISH_TIMEOUT", 0.5)

    def _connection(self):
        """The process's own broker connection for the relay, opened on first use."""
        pid = os.getpid()
        if self._conn is None or self._conn_pid != pid:
            from config.celery import app

            timeout = self.publish_timeout
            self._conn = app.connection_for_write(
                # Merged over the broker's own transport options; no reconnect loop (kombu
                # would sleep 2 s between attempts): the sweeper is the retry.
                transport_options={
                    "socket_timeout": timeout,
                    "socket_connect_timeout": timeout,
                    "max_retries": 0,
                },
                connect_timeout=timeout,
            )
            self._conn_pid = pid
        return self._conn

    def _drop_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and self._conn_pid == os.getpid():
            try:
                conn.release()
            except Exception:  # noqa: BLE001 - a broken connection may fail to close, too
                log.debug("closing the relay's broker connection failed", exc_info=True)

    def kick(self) -> bool:
        """Publish a relay unless one is already due from this process; True if published."""
        now = time.monotonic()
        with self._lock:
            if now < self._paused_until or now < self._next_allowed:
                return False
            self._next_allowed = now + self.window
        try:
            from config.celery import task

            with self._publish_lock:
                task(RELAY_TASK).apply_async(
                    countdown=self.window or None, retry=False, connection=self._connection()
                )
        except Exception as exc:  # noqa: BLE001 - any broker error: the sweeper catches up
            with self._publish_lock:
                self._drop_connection()
            with self._lock:
                self._paused_until = time.monotonic() + self.backoff
                self._next_allowed = 0.0
            log.warning(
                "broker unreachable (%s: %s): the outbox waits for the sweeper",
                type(exc).__name__,
                exc,
            )
            return False
        return True

    def reset(self) -> None:
        with self._publish_lock:
            self._drop_connection()
        with self._lock:
            self._next_allowed = self._paused_until = 0.0


kicker = RelayKicker()
