"""Rate limits counted per window, on the local cache and on Redis (one round trip)."""

from __future__ import annotations

import os

import pytest
from django.core.cache import caches
from rest_framework.test import APIClient

from grids import limits
from grievances.api import PublicCreateThrottle

REDIS_CACHE = {
    "default": {
        "BACKEND": "grids.cache.FailSoftRedisCache",
        "LOCATION": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
        "KEY_PREFIX": "fengqiao-test-limits",
    }
}
LOCAL_CACHE = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}


@pytest.fixture(params=["local", "redis"])
def backend(request, settings):
    if request.param == "redis":
        request.getfixturevalue("require_redis")
        settings.CACHES = REDIS_CACHE
    else:
        settings.CACHES = LOCAL_CACHE
    caches["default"].clear()
    yield request.param
    caches["default"].clear()


def test_attempts_count_up_to_the_limit_then_refuse_until_the_next_window(backend):
    start = 1_000_000 * 60.0  # the start of a minute
    counts = [limits.count_attempt("report:1.2.3.4", 60, now=start + i)[0] for i in range(4)]
    assert counts == [1, 2, 3, 4]
    # Another client and another window start afresh.
    assert limits.count_attempt("report:5.6.7.8", 60, now=start + 5)[0] == 1
    count, left = limits.count_attempt("report:1.2.3.4", 60, now=start + 61)
    assert count == 1 and left == pytest.approx(59)


def test_the_counter_expires_with_its_window(require_redis, settings):
    settings.CACHES = REDIS_CACHE
    caches["default"].clear()
    limits.count_attempt("expiring", 60)
    client = caches["default"]._cache.get_client(write=False)
    keys = client.keys("*limit:expiring:*")
    assert len(keys) == 1
    assert 0 < client.ttl(keys[0]) <= 65


@pytest.mark.django_db
def test_the_public_report_is_refused_past_its_rate_with_a_retry_after(backend, tree, monkeypatch):
    monkeypatch.setattr(PublicCreateThrottle, "rate", "1/minute", raising=False)
    body = {
        "title": "路灯不亮",
        "description": "村口路灯坏了",
        "category": "hazard.utilities",
        "lng": 91.2,
        "lat": 29.7,
    }
    client = APIClient()
    assert client.post("/api/v1/public/grievances/", body, format="json").status_code == 201
    refused = client.post("/api/v1/public/grievances/", body, format="json")
    assert refused.status_code == 429
    assert 0 < int(refused["Retry-After"]) <= 60
    # Another address still reports.
    other = APIClient(REMOTE_ADDR="10.0.0.9")
    assert other.post("/api/v1/public/grievances/", body, format="json").status_code == 201


@pytest.mark.django_db
def test_signed_in_clients_are_not_limited_on_the_public_report(backend, people, monkeypatch):
    monkeypatch.setattr(PublicCreateThrottle, "rate", "1/minute", raising=False)
    body = {"title": "路灯不亮", "description": "村口路灯坏了", "category": "hazard.utilities"}
    client = APIClient()
    client.force_login(people.centre_staff)
    for _ in range(3):
        r = client.post("/api/v1/public/grievances/", {**body, "lng": 91.2, "lat": 29.7})
        assert r.status_code == 201, r.content


def test_counting_survives_a_dropped_connection_and_a_flushed_script(require_redis, settings):
    # The counting connection is held between requests: a server that closed it (a restart,
    # an idle timeout) or forgot the script (SCRIPT FLUSH) costs a retry, never an error.
    settings.CACHES = REDIS_CACHE
    caches["default"].clear()
    start = 2_000_000 * 60.0
    assert limits.count_attempt("held", 60, now=start)[0] == 1
    admin = caches["default"]._cache.get_client(write=True)
    admin.script_flush()
    assert limits.count_attempt("held", 60, now=start + 1)[0] == 2
    assert admin.client_kill_filter(_type="normal", skipme=True) >= 1
    assert limits.count_attempt("held", 60, now=start + 2)[0] == 3
