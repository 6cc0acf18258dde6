"""The shared cache, failing soft: Redis when it answers, this process's memory when not.

Redis carries the cache, the rate limits and DRF's throttles. When it is stopped or hangs,
none of them may take a report, a tracking page, a login or a staff page down with it: a
cache is an optimisation and a limit is a brake, and both can be held per process for a
while. So every operation of `FailSoftRedisCache` that meets a connection error or a timeout
is served by a local-memory cache of the process instead (a limit then counts per process:
it fails open, not shut), and Redis is left alone for `retry` seconds before the next try,
so that a hung server costs one short timeout per process and window, not one per request.
The outage is logged once a minute per process, not once per request.

Timeouts are short on purpose (OPTIONS `socket_connect_timeout` and `socket_timeout`, 0.2 s
by default): a cache that answers in more than that is worth less than no cache.
"""

from __future__ import annotations

import logging
import threading
import time

from django.core.cache.backends.locmem import LocMemCache
from django.core.cache.backends.redis import RedisCache
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

# What counts as "Redis is away": refused, reset, timed out, still loading its data set, and
# a server that answers but will not serve (a read-only replica after a failover, out of
# memory, a failed save that blocks writes).
UNAVAILABLE = (RedisError, OSError)

DEFAULT_SOCKET_TIMEOUT = 0.2
DEFAULT_RETRY_SECONDS = 5.0


class Throttled:
    """Say something at most once per `seconds` (per process), whatever the callers' rate."""

    def __init__(self, seconds: float = 60.0) -> None:
        self.seconds = seconds
        self._lock = threading.Lock()
        self._next = 0.0
        self.suppressed = 0

    def __call__(self, logger: logging.Logger, message: str, *args) -> bool:
        now = time.monotonic()
        with self._lock:
            if now < self._next:
                self.suppressed += 1
                return False
            self._next = now + self.seconds
            suppressed, self.suppressed = self.suppressed, 0
        if suppressed:
            message += " (%d more since the last warning)"
            args = (*args, suppressed)
        logger.warning(message, *args)
        return True


class Outage:
    """What the whole process knows of one server: Django makes a cache object per thread,
    and they must share one retry window, one warning a minute and one fallback store."""

    def __init__(self, retry: float) -> None:
        self.retry = retry
        self.down_until = 0.0
        self.warn = Throttled(60.0)


_outages: dict[str, Outage] = {}
_outages_lock = threading.Lock()


def _outage(location: str, retry: float) -> Outage:
    with _outages_lock:
        outage = _outages.get(location)
        if outage is None:
            outage = _outages[location] = Outage(retry)
        outage.retry = retry
        return outage


def reset_outages() -> None:
    """Forget every outage and clear the fallback stores (tests)."""
    with _outages_lock:
        for location in _outages:
            LocMemCache(f"failsoft:{location}", {}).clear()
        _outages.clear()


class FailSoftRedisCache(RedisCache):
    """Django's Redis cache that falls back to this process's memory while Redis is away.

    Extra OPTIONS (besides redis-py's): `retry` (seconds to leave Redis alone after a
    failure, 5 by default) and `fallback_max_entries` (10,000).
    """

    def __init__(self, server, params):
        params = dict(params)
        options = dict(params.get("OPTIONS") or {})
        retry = float(options.pop("retry", DEFAULT_RETRY_SECONDS))
        max_entries = int(options.pop("fallback_max_entries", 10_000))
        options.setdefault("socket_connect_timeout", DEFAULT_SOCKET_TIMEOUT)
        options.setdefault("socket_timeout", DEFAULT_SOCKET_TIMEOUT)
        params["OPTIONS"] = options
        super().__init__(server, params)
        location = f"{server}|{params.get('KEY_PREFIX', '')}"
        self.outage = _outage(location, retry)
        # A local-memory cache of one name shares its store across instances (threads).
        self.fallback = LocMemCache(
            f"failsoft:{location}",
            {
                "TIMEOUT": params.get("TIMEOUT", 300),
                "KEY_PREFIX": params.get("KEY_PREFIX", ""),
                "VERSION": params.get("VERSION", 1),
                "OPTIONS": {"MAX_ENTRIES": max_entries},
            },
        )

    # --- the state of the server, as this process sees it ---------------------------------

    def available(self) -> bool:
        return time.monotonic() >= self.outage.down_until

    def mark_down(self, exc: BaseException) -> None:
        """Leave Redis alone for a while; say so once a minute."""
        self.outage.down_until = time.monotonic() + self.outage.retry
        self.outage.warn(
            log,
            "cache unavailable (%s: %s): serving from this process's memory",
            type(exc).__name__,
            exc,
        )

    def _call(self, name: str, *args, **kwargs):
        if self.available():
            try:
                return getattr(super(), name)(*args, **kwargs)
            except UNAVAILABLE as exc:
                self.mark_down(exc)
        return getattr(self.fallback, name)(*args, **kwargs)


def _fail_soft(name: str):
    def operation(self, *args, **kwargs):
        return self._call(name, *args, **kwargs)

    operation.__name__ = operation.__qualname__ = name
    return operation


# Every operation of BaseCache that RedisCache implements; the rest (get_or_set, decr,
# the async variants...) are built on these.
for _name in (
    "add",
    "get",
    "set",
    "touch",
    "delete",
    "get_many",
    "has_key",
    "incr",
    "set_many",
    "delete_many",
    "clear",
):
    setattr(FailSoftRedisCache, _name, _fail_soft(_name))
