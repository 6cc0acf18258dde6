"""Shared fixtures: a small region tree and one named user per role.

Services: tests that need PostgreSQL, Redis or a real Celery worker ask for the fixtures
below; they skip with a reason when the service is missing, except under CI=true, where a
missing service fails the run.
"""

from __future__ import annotations

import os
import socket
from types import SimpleNamespace
from urllib.parse import urlparse

import pytest
from django.conf import settings
from django.db import connection
from django.test import override_settings
from django.utils import translation

from dispatch.models import Department, DepartmentMembership
from grids.cache import reset_outages
from grids.locate import reset_index
from grids.models import Role
from grievances.outbox import kicker
from tests.factories import UserFactory, make_member, region_with_box

IN_CI = os.environ.get("CI", "").lower() == "true"


def _missing(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"CI=true but {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture
def require_postgres():
    if connection.vendor != "postgresql":
        _missing("needs PostgreSQL: set DATABASE_URL=postgres://…")


def _port_open(url: str, default_port: int) -> bool:
    parsed = urlparse(url)
    try:
        with socket.create_connection(
            (parsed.hostname or "127.0.0.1", parsed.port or default_port), 1
        ):
            return True
    except OSError:
        return False


@pytest.fixture
def require_redis():
    url = os.environ.get("REDIS_URL", "")
    if not url:
        _missing("needs Redis: set REDIS_URL=redis://…")
    elif not _port_open(url, 6379):
        _missing(f"Redis at {url} does not answer")


@pytest.fixture(autouse=True)
def _no_quiet_hours():
    # Complainants' messages wait through the night (NOTIFY_QUIET_HOURS): tests run at any
    # hour, so they send at once unless a test sets the hours itself. Not through the
    # `settings` fixture: a test's own overrides (a cache that does not answer) must be
    # undone before the other fixtures' teardowns.
    with override_settings(NOTIFY_QUIET_HOURS=""):
        yield


@pytest.fixture(autouse=True)
def _default_language():
    # LocaleMiddleware activates a request's language in the thread and leaves it there: a
    # test that asked for English must not leave the next test's thread in English.
    translation.activate(settings.LANGUAGE_CODE)
    yield
    translation.activate(settings.LANGUAGE_CODE)


@pytest.fixture(autouse=True)
def _fresh_process_state():
    # Each test has its own boundaries; the in-process index must not outlive them. The
    # outbox kicker's window and broker back-off are per process, too.
    reset_index()
    kicker.reset()
    reset_outages()
    yield
    reset_index()
    kicker.reset()
    reset_outages()


@pytest.fixture
def tree(db):
    """城市 → 县 → two townships → villages → grids, each a rectangle tiling its parent.

    City 540500000000 spans lng 91..92, lat 29..30. County 540502000000 is the same box.
    Township A (540502001000) is the west half, township B (540502002000) the east half.
    Each township has one village (same box) with two grids split north/south.
    A second tree (another city) lies at lng 100..101.
    """
    city = region_with_box("山南市", "540500000000", "city", None, (91, 29, 92, 30))
    county = region_with_box("乃东区", "540502000000", "county", city, (91, 29, 92, 30))
    town_a = region_with_box("泽当街道", "540502001000", "township", county, (91, 29, 91.5, 30))
    town_b = region_with_box("昌珠镇", "540502002000", "township", county, (91.5, 29, 92, 30))
    village_a = region_with_box("江塘村", "540502001001", "village", town_a, (91, 29, 91.5, 30))
    village_b = region_with_box("克松村", "540502002001", "village", town_b, (91.5, 29, 92, 30))
    grid_a1 = region_with_box(
        "江塘村第一网格", "540502001001001", "grid", village_a, (91, 29.5, 91.5, 30), "residential"
    )
    grid_a2 = region_with_box(
        "江塘村第二网格", "540502001001002", "grid", village_a, (91, 29, 91.5, 29.5), "residential"
    )
    grid_b1 = region_with_box(
        "克松村第一网格", "540502002001001", "grid", village_b, (91.5, 29, 92, 30), "school"
    )
    other_city = region_with_box("甘孜州", "513300000000", "city", None, (100, 29, 101, 30))
    other_county = region_with_box(
        "乡城县", "513336000000", "county", other_city, (100, 29, 101, 30)
    )
    regions = SimpleNamespace(
        city=city,
        county=county,
        town_a=town_a,
        town_b=town_b,
        village_a=village_a,
        village_b=village_b,
        grid_a1=grid_a1,
        grid_a2=grid_a2,
        grid_b1=grid_b1,
        other_city=other_city,
        other_county=other_county,
    )
    # Inserting siblings moved lft/rght in the database: re-read every instance.
    for region in vars(regions).values():
        region.refresh_from_db()
    return regions


@pytest.fixture
def people(tree):
    """One named user per role, placed in the tree."""
    return SimpleNamespace(
        grid_worker=make_member("grid_worker", tree.grid_a1, Role.GRID_WORKER),
        grid_leader=make_member("grid_leader", tree.village_a, Role.GRID_LEADER),
        centre_staff=make_member("centre_staff", tree.town_a, Role.CENTRE_STAFF),
        leader=make_member("leader", tree.county, Role.LEADER),
        outsider=make_member("outsider", tree.other_county, Role.CENTRE_STAFF),
        sibling_staff=make_member("sibling_staff", tree.town_b, Role.CENTRE_STAFF),
    )


@pytest.fixture
def depts(tree):
    """Departments of the tree's county and township, one staff member each."""
    transport = Department.objects.create(
        name="乃东区交通运输局", code="nd-transport", region=tree.county
    )
    labour = Department.objects.create(
        name="乃东区劳动保障监察大队", code="nd-labour", region=tree.county
    )
    police = Department.objects.create(name="泽当派出所", code="zd-police", region=tree.town_a)
    other = Department.objects.create(
        name="乡城县交通运输局", code="xc-transport", region=tree.other_county
    )
    staff = {}
    for key, dept in (
        ("transport", transport),
        ("labour", labour),
        ("police", police),
        ("other", other),
    ):
        user = UserFactory(username=f"{key}_staff")
        DepartmentMembership.objects.create(user=user, department=dept)
        staff[key] = user
    return SimpleNamespace(
        transport=transport,
        labour=labour,
        police=police,
        other=other,
        staff=SimpleNamespace(**staff),
    )
