from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from grievances import services
from grievances.models import Category, Grievance, Source, State

SH = ZoneInfo("Asia/Shanghai")
PHONE = "13800001234"
POINT_A1 = (91.2, 29.7)  # inside 江塘村第一网格 (tree.grid_a1)
POINT_B1 = (91.7, 29.5)  # inside 克松村第一网格 (tree.grid_b1)


def at(y, m, d, hh=0, mm=0, ss=0) -> datetime:
    """An instant in Beijing time."""
    return datetime(y, m, d, hh, mm, ss, tzinfo=SH)


@pytest.fixture
def api():
    return APIClient()


def as_user(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


# One client per user object within a test: a new client loads the middleware again, and
# WhiteNoise then scans the static files (tens of milliseconds each time).
_clients: dict[int, tuple[object, APIClient]] = {}


def api_as(user) -> APIClient:
    """The test's client logged in as `user` (made once per user and test)."""
    kept = _clients.get(id(user))
    if kept is None or kept[0] is not user:
        kept = (user, as_user(user))
        _clients[id(user)] = kept
    return kept[1]


@pytest.fixture(autouse=True)
def _fresh_cache_and_clients():
    # Throttles count in the cache; every test starts with fresh counters.
    cache.clear()
    _clients.clear()
    yield
    cache.clear()
    _clients.clear()


@pytest.fixture
def road_category(db):
    return Category.objects.get(code="hazard.road")


@pytest.fixture
def dispute_category(db):
    return Category.objects.get(code="dispute.neighbours")


def new_case(
    user,
    *,
    category: str = "hazard.environment",
    point: tuple[float, float] | None = POINT_A1,
    region=None,
    phone: str = PHONE,
    name: str = "张三",
    title: str = "楼道垃圾堆积",
    source: str | None = None,
    **extra,
) -> Grievance:
    """Submit a case through the service (a grid worker's report unless `user` is None)."""
    if region is not None:
        point = None
    if source is None:
        source = Source.GRID_WORKER if user is not None else Source.RESIDENT_WEB
    return services.grievance_submit(
        user=user,
        title=title,
        description=f"{title}，请尽快处理",
        category=Category.objects.get(code=category),
        source=source,
        lng=point[0] if point else None,
        lat=point[1] if point else None,
        region=region,
        complainants=[services.ComplainantData(name=name, phone=phone)],
        **extra,
    )


# The main line of the loop, and who takes each step for a case in tree.grid_a1: the
# township centre (泽当街道) triages and dispatches down to the grid, whose worker handles.
_PATH = [State.ACCEPTED, State.DISPATCHED, State.IN_PROGRESS, State.HANDLED, State.CLOSED]


def advance(case: Grievance, target: str, people) -> Grievance:
    """Walk `case` along submitted → … → `target` through the services."""
    steps = {
        State.ACCEPTED: lambda c: services.grievance_accept(c, people.centre_staff),
        State.DISPATCHED: lambda c: services.grievance_dispatch(
            c, people.centre_staff, to_region=c.region
        ),
        State.IN_PROGRESS: lambda c: services.grievance_report_in(c, people.grid_worker),
        State.HANDLED: lambda c: services.grievance_handle(c, people.grid_worker, result="已处理"),
        State.CLOSED: lambda c: services.grievance_verify(c, people.centre_staff),
    }
    if case.state == target:
        return case
    for state in _PATH[_PATH.index(case.state) + 1 if case.state in _PATH else 0 :]:
        case = steps[state](case)
        if state == target:
            break
    assert case.state == target
    return Grievance.objects.get(pk=case.pk)


def post_act(client: APIClient, case: Grievance, action: str, data: dict | None = None):
    return client.post(f"/api/v1/grievances/{case.pk}/{action}/", data or {}, format="json")


@pytest.fixture(autouse=True)
def _media_in_tmp(settings, tmp_path):
    # Uploaded photos go to the test's own folder, never var/media.
    settings.MEDIA_ROOT = str(tmp_path / "media")
