"""The shared cache fails soft: a Redis that refuses or hangs costs a short timeout once,
then the process serves the cache and the limits from its own memory and says so once a
minute. (tests/integration/test_redis_outage.py stops and pauses a real redis-server under
the pages and the API.)"""

from __future__ import annotations

import logging
import socket
import threading
import time

import pytest
from django.core.cache import caches

from grids import limits
from grids.cache import FailSoftRedisCache


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def silent_server():
    """A server that accepts connections and never answers: a hung Redis (SIGSTOP)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept():
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join(2)
    for conn in accepted:
        conn.close()
    listener.close()


def _cache_at(settings, port: int, **options) -> FailSoftRedisCache:
    settings.CACHES = {
        "default": {
            "BACKEND": "grids.cache.FailSoftRedisCache",
            "LOCATION": f"redis://127.0.0.1:{port}/0",
            "OPTIONS": options,
        }
    }
    return caches["default"]


@pytest.mark.parametrize("server", ["refused", "hung"])
def test_a_cache_away_answers_from_memory_quickly(server, settings, request):
    port = _free_port() if server == "refused" else request.getfixturevalue("silent_server")
    cache = _cache_at(settings, port)
    started = time.monotonic()
    assert cache.get("missing", "default") == "default"
    first = time.monotonic() - started
    cache.set("figures", {"rate": 0.9}, 60)
    assert cache.get("figures") == {"rate": 0.9}
    assert cache.add("lock", 1, 60) is True
    assert cache.add("lock", 1, 60) is False
    cache.delete("lock")
    assert cache.add("lock", 1, 60) is True
    # The first call paid the short timeouts; the next ones leave Redis alone.
    started = time.monotonic()
    for n in range(50):
        cache.get(f"key-{n}")
    assert first < 1.5, f"the first call waited {first:.2f}s"
    assert time.monotonic() - started < 0.2


def test_limits_count_per_process_while_redis_is_away(settings):
    _cache_at(settings, _free_port())
    counts = [limits.count_attempt("report:10.0.0.1", 3600)[0] for _ in range(3)]
    assert counts == [1, 2, 3]
    assert limits.over_limit("tracking:ABC", 2, 3600) is False
    assert limits.over_limit("tracking:ABC", 2, 3600) is False
    assert limits.over_limit("tracking:ABC", 2, 3600) is True


def test_the_outage_is_logged_once_a_minute_not_once_a_request(settings, caplog):
    cache = _cache_at(settings, _free_port(), retry=0)
    with caplog.at_level(logging.WARNING, logger="grids.cache"):
        for n in range(20):
            cache.get(f"key-{n}")
            limits.count_attempt("report:10.0.0.2", 3600)
    warnings = [r for r in caplog.records if r.name == "grids.cache"]
    assert len(warnings) == 1
    assert "cache unavailable" in warnings[0].getMessage()
    assert not warnings[0].exc_info


def test_redis_is_tried_again_after_the_retry_window(settings, require_redis):
    import os

    url = os.environ["REDIS_URL"]
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    cache = _cache_at(settings, port, retry=0.3)
    cache.mark_down(ConnectionError("simulated by the test's caller"))
    cache.set("written-while-down", 1, 60)
    # The process serves itself meanwhile: Redis never saw the write.
    assert cache.fallback.get("written-while-down") == 1
    time.sleep(0.35)
    key = f"failsoft-test-{os.getpid()}"
    cache.set(key, "back", 60)
    try:
        assert cache.fallback.get(key) is None
        assert cache.get(key) == "back"
    finally:
        cache.delete(key)


def test_every_thread_of_the_process_shares_the_outage_and_the_fallback(settings):
    # Django makes a cache object per thread: they must not each pay the timeout again, or
    # each count a limit from zero.
    cache = _cache_at(settings, _free_port())
    assert cache.get("x") is None  # pays the timeout, marks the server down
    limits.count_attempt("report:10.0.0.3", 3600)
    seen = {}

    def other_thread():
        other = caches["default"]
        seen["same_object"] = other is cache
        seen["available"] = other.available()
        seen["count"] = limits.count_attempt("report:10.0.0.3", 3600)[0]

    thread = threading.Thread(target=other_thread)
    thread.start()
    thread.join(5)
    assert seen == {"same_object": False, "available": False, "count": 2}


def test_a_server_that_answers_but_will_not_serve_is_away_too(settings, require_redis):
    """A read-only replica after a failover refuses writes with an error reply, not a
    dropped connection: the cache and the limits serve from memory all the same."""
    import os

    url = os.environ["REDIS_URL"]
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    # A database number the server does not have: every command answers an error reply.
    settings.CACHES = {
        "default": {
            "BACKEND": "grids.cache.FailSoftRedisCache",
            "LOCATION": f"redis://127.0.0.1:{port}/4096",
        }
    }
    cache = caches["default"]
    cache.set("k", "v", 60)
    assert cache.get("k") == "v"
    assert not cache.available()
    assert limits.count_attempt("report:10.0.0.4", 3600)[0] == 1
