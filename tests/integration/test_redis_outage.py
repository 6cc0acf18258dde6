"""A Redis outage loses no report: with the cache, the rate limits, the throttles and the
broker on one real redis-server, the server is stopped, then paused (SIGSTOP: a hung server,
worse than a dead one), while residents report through the API and the /report/ page, track
their case, sign in, and a centre accepts a case. Every report is saved, every page answers
at once, and the outbox hands every case on once the server is back."""

from __future__ import annotations

import signal
import time

import pytest
from django.core.cache import caches
from django.test import Client
from rest_framework.test import APIClient

from grids.cache import FailSoftRedisCache
from grievances.models import CaseEvent, Grievance, State, normalize_tracking_code
from grievances.outbox import kicker
from grievances.tasks import relay_outbox
from tests.grievances.conftest import POINT_A1
from tests.integration.conftest import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

PHONE = "13912345678"
# Slower than this and a page is not "working" for a person on the other end.
SLOW = 2.0


@pytest.fixture
def redis_everywhere(broker, settings):
    """The cache (and so the limits and throttles) on the broker's own server."""
    settings.CACHES = {
        "default": {
            "BACKEND": "grids.cache.FailSoftRedisCache",
            "LOCATION": broker.url.replace("/0", "/1"),
            "KEY_PREFIX": "outage",
            "OPTIONS": {"retry": 1.0},
        }
    }
    cache = caches["default"]
    assert isinstance(cache, FailSoftRedisCache)
    cache.set("probe", 1, 60)
    assert cache.fallback.get("probe") is None  # really on Redis while it is up
    yield broker


def _timed(call):
    started = time.monotonic()
    response = call()
    return response, time.monotonic() - started


def public_report(n: int):
    return APIClient().post(
        "/api/v1/public/grievances/",
        {
            "title": f"楼道水管漏水 {n}",
            "description": "三单元楼道水管漏水，地面积水",
            "category": "hazard.utilities",
            "lng": POINT_A1[0],
            "lat": POINT_A1[1],
            "complainants": [{"name": "赵六", "phone": PHONE}],
        },
        format="json",
        # Thirty residents, not one resident thirty times: the per-address limit still holds.
        REMOTE_ADDR=f"10.9.{n // 200}.{n % 200 + 1}",
    )


def page_report(n: int):
    return Client().post(
        "/report/",
        {
            "category": "hazard.utilities",
            "title": f"路灯不亮 {n}",
            "description": "村口路灯连续三晚不亮",
            "lng": POINT_A1[0],
            "lat": POINT_A1[1],
            "address": "江塘村村口",
            "name": "央金",
            "phone": PHONE,
        },
        REMOTE_ADDR=f"10.8.0.{n + 1}",
    )


def check_everything_works(tree, people, *, reports: int, start: int) -> list[str]:
    """Reports through the API and the page, tracking, sign-in and a staff act; returns
    the tracking codes it got."""
    codes = []
    for n in range(start, start + reports):
        r, took = _timed(lambda n=n: public_report(n))
        assert r.status_code == 201, r.content
        assert took < SLOW, f"a public report took {took:.2f}s"
        codes.append(r.json()["tracking_code"])

    r, took = _timed(lambda: page_report(start))
    assert r.status_code == 302, r.content[:2000]
    assert took < SLOW

    # Tracking, on the API and on the page.
    code = codes[0]
    r, took = _timed(lambda: APIClient().get(f"/api/v1/track/{code}/", {"phone_last4": PHONE[-4:]}))
    assert r.status_code == 200, r.content
    assert took < SLOW
    r = Client().post("/track/", {"act": "lookup", "code": code, "last4": PHONE[-4:]})
    assert r.status_code in (200, 302), r.content[:2000]
    assert r.status_code == 200 or r["Location"].startswith("/track/")

    # Signing in with a password, and a staff page.
    staff = Client()
    r, took = _timed(
        lambda: staff.post(
            "/accounts/login/",
            {"username": people.centre_staff.username, "password": "pass-word-123"},
        )
    )
    assert r.status_code == 302, r.content[:2000]
    assert took < SLOW
    r, took = _timed(lambda: staff.get("/console/"))
    assert r.status_code == 200
    assert took < SLOW

    # A staff act on one of the new cases.
    case = Grievance.objects.get(tracking_code=normalize_tracking_code(code))
    r, took = _timed(
        lambda: staff.post(
            f"/api/v1/grievances/{case.pk}/accept/",
            {"complexity": "simple", "handling_level": "village", "note": "受理"},
            content_type="application/json",
        )
    )
    assert r.status_code == 200, r.content
    assert took < SLOW
    case.refresh_from_db()
    assert case.state == State.ACCEPTED
    return codes


def test_a_redis_outage_loses_no_report_and_the_work_resumes(
    tree, people, redis_everywhere, worker
):
    server = redis_everywhere
    # Up: the baseline, relayed by the worker.
    check_everything_works(tree, people, reports=3, start=0)
    wait_for(
        lambda: not CaseEvent.objects.filter(processed_at__isnull=True).exists(),
        30,
        what="the worker to relay the baseline",
    )

    # Stopped: refused connections.
    server.stop()
    kicker.reset()
    check_everything_works(tree, people, reports=30, start=100)

    # Back, then hung: a paused server accepts connections and never answers.
    server.start()
    server.proc.send_signal(signal.SIGSTOP)
    try:
        kicker.reset()
        time.sleep(1.1)  # past the cache's retry window: Redis is tried again, and hangs
        check_everything_works(tree, people, reports=10, start=300)
    finally:
        server.proc.send_signal(signal.SIGCONT)

    # Nothing lost: 3 + 30 + 10 public reports, one page report per round.
    assert Grievance.objects.count() == 43 + 3
    assert Grievance.objects.filter(state=State.SUBMITTED).count() == 43
    # ...and every case is handed on once the broker answers again (beat's sweeper tick).
    if worker.proc.poll() is not None:
        # A worker that lost the broker while acknowledging a task exits (a known fault of
        # kombu's Redis transport); production runs it under a supervisor that restarts it,
        # as here. Its task was never acknowledged, and the outbox still holds the events.
        worker.start()
    kicker.reset()
    relay_outbox.apply_async()
    try:
        wait_for(
            lambda: not CaseEvent.objects.filter(processed_at__isnull=True).exists(),
            60,
            what="the outbox to drain after the outage",
        )
    except AssertionError:
        raise AssertionError(worker.output()[-4000:]) from None
    assert "relay_outbox" in worker.output()
