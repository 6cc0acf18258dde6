"""Rate limits: attempts counted per fixed window in the shared cache.

One counter per (what, who, window): the first attempt in a window creates it with an
expiry, each attempt adds one, and the caller compares the count with its limit. Refused
attempts count too, so a client that keeps trying stays refused until the window ends. A
fixed window lets a client spend its allowance at the end of one window and again at the
start of the next: twice the rate at most, for a moment, which these limits accept.

On Redis an attempt is one round trip (a script: INCR, and EXPIRE on a window's first
attempt): on the public report, the hot path of intake, the sliding history DRF keeps (a GET
and a SET of a list) cost two round trips and more Python than the write of the case. Other
caches (the file cache of a development machine, tests' local memory) take add() and incr().

While Redis is away (grids/cache.py), an attempt is counted in this process's memory
instead: the limit holds per process and fails open, and the request goes on.
"""

from __future__ import annotations

import hashlib
import ipaddress
import math
import os
import threading
import time

from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rest_framework.throttling import BaseThrottle, SimpleRateThrottle

from grids.cache import UNAVAILABLE, FailSoftRedisCache

# INCR, and the expiry on the first attempt of a window, atomically: one command (EVALSHA).
INCR_WITH_EXPIRY = """
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return n
"""
INCR_SHA = hashlib.sha1(INCR_WITH_EXPIRY.encode(), usedforsecurity=False).hexdigest()

# One connection per thread and pool, held between requests: checking a connection out of
# redis-py's pool and back, and its client and script wrappers, cost more CPU than the
# command itself on the hot path of intake.
_held = threading.local()


def _run_script(pool, full_key: str, ttl: int) -> int:
    conns = getattr(_held, "conns", None)
    if conns is None or _held.pid != os.getpid():
        # A new thread, or a forked child: never share a parent's socket.
        conns = _held.conns = {}
        _held.pid = os.getpid()
    conn = conns.get(pool)
    if conn is None:
        conn = conns[pool] = pool.connection_class(**pool.connection_kwargs)
    for attempt in (1, 2):
        try:
            try:
                conn.send_command("EVALSHA", INCR_SHA, 1, full_key, ttl)
                return int(conn.read_response())
            except NoScriptError:
                # A restarted or flushed server: EVAL loads the script again.
                conn.send_command("EVAL", INCR_WITH_EXPIRY, 1, full_key, ttl)
                return int(conn.read_response())
        except (RedisConnectionError, RedisTimeoutError):
            # A dropped connection (a restarted server, an idle timeout): once more, anew.
            conn.disconnect()
            if attempt == 2:
                raise
        except BaseException:
            conn.disconnect()  # never leave an unread answer on the held connection
            raise
    raise AssertionError("unreachable")


def address_key(address: str | None) -> str | None:
    """The client an address stands for, in every limit and lockout: an IPv4 address as it is,
    an IPv6 address as its /64 (the network one subscriber is given, where any address is
    theirs to use: counted one by one, each would be a fresh allowance), an IPv4-mapped IPv6
    address as the IPv4 address. The /64 is written as its first address, so that it still
    fits an address column. None when `address` is not an address."""
    try:
        ip = ipaddress.ip_address((address or "").strip())
    except ValueError:
        return None
    if ip.version == 6:
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((int(ip), 64), strict=False).network_address)
    return str(ip)


def client_address(request) -> str | None:
    """The client of a request for its limits and lockouts: DRF's rule (REMOTE_ADDR, or the
    address the trusted proxy put in X-Forwarded-For when NUM_PROXIES says there is one),
    through address_key()."""
    key = address_key(BaseThrottle().get_ident(request))
    if key is None:
        # Not an address (a malformed forwarded header): the connection's own address.
        key = address_key(request.META.get("REMOTE_ADDR"))
    return key


def count_attempt(name: str, seconds: int, now: float | None = None) -> tuple[int, float]:
    """Count one attempt for `name` in the current window of `seconds`.

    Returns the attempts counted in this window so far (this one included) and the seconds
    left until the window ends.
    """
    now = time.time() if now is None else now
    window = int(now // seconds)
    key = f"limit:{name}:{window}"
    left = (window + 1) * seconds - now
    ttl = seconds + 5
    backend = caches["default"]
    if isinstance(backend, RedisCache):
        fail_soft = isinstance(backend, FailSoftRedisCache)
        if not fail_soft or backend.available():
            full_key = backend.make_and_validate_key(key)
            pool = backend._cache.get_client(full_key, write=True).connection_pool
            try:
                return _run_script(pool, full_key, ttl), left
            except UNAVAILABLE as exc:
                if not fail_soft:
                    raise
                backend.mark_down(exc)
        backend = backend.fallback
    backend.add(key, 0, ttl)
    try:
        count = backend.incr(key)
    except ValueError:  # evicted between add and incr
        backend.set(key, 1, ttl)
        count = 1
    return count, left


def over_limit(name: str, limit: int, seconds: int) -> bool:
    """Count one attempt; True once more than `limit` were made in this window."""
    count, _ = count_attempt(name, seconds)
    return count > limit


def scope_rate(scope: str) -> tuple[int, int] | None:
    """(requests, seconds) of a throttle scope of the API (DEFAULT_THROTTLE_RATES), read now
    (tests change it); None when the scope has no rate."""
    rate = settings.REST_FRAMEWORK.get("DEFAULT_THROTTLE_RATES", {}).get(scope)
    if not rate:
        return None
    count, period = rate.split("/")
    seconds = {"s": 1, "m": 60, "h": 3600, "d": 86400}[period.strip()[0]]
    return int(count), seconds


def over_scope_limit(scope: str, ident: str) -> bool:
    """Count one attempt of `ident` at an API throttle `scope`; True once the scope's rate is
    exceeded. The counter is the API throttle's (WindowThrottle's key): a page and the API
    endpoint of one scope share one allowance."""
    rate = scope_rate(scope)
    if rate is None:
        return False
    limit, seconds = rate
    return over_limit(f"{scope}:{ident}", limit, seconds)


def scope_wait(scope: str, now: float | None = None) -> int:
    """Whole seconds until the current window of an API throttle `scope` ends: when a client
    refused by over_scope_limit may try again (its Retry-After)."""
    rate = scope_rate(scope)
    if rate is None:
        return 0
    seconds = rate[1]
    now = time.time() if now is None else now
    return max(1, math.ceil(seconds - now % seconds))


class WindowThrottle(SimpleRateThrottle):
    """DRF's throttle on the counters above: the rate of `scope` (DEFAULT_THROTTLE_RATES, or
    a `rate` attribute) per client address (client_address(): an IPv6 /64 is one client),
    one round trip per request."""

    def get_ident(self, request) -> str:
        return client_address(request) or "unknown"

    def get_cache_key(self, request, view) -> str | None:
        return f"{self.scope}:{self.get_ident(request)}"

    def allow_request(self, request, view) -> bool:
        if self.rate is None:
            return True
        self.key = self.get_cache_key(request, view)
        if self.key is None:
            return True
        count, self._left = count_attempt(self.key, self.duration)
        return count <= self.num_requests

    def wait(self) -> float | None:
        return getattr(self, "_left", None)
