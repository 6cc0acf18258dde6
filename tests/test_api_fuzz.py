"""The API fuzzed from its own OpenAPI schema: no input makes a server error.

Schemathesis draws requests for every operation of /api/schema/ (valid ones and, as often,
invalid ones: wrong types, missing fields, odd strings, numbers out of range) and sends them
to the Django WSGI application in this process: anonymously and as a centre worker with an
API token, all operations; as a department worker and as a mediator, their own. No answer
may be a 5xx, and every answer the schema describes (2xx) must match it. Statuses the schema
does not list (401, 403, 404, 409, 429 and most 400s) are not checked: the schema documents
the successes. Each example runs inside a savepoint that is rolled back, and the throttles'
counters are cleared, so what one example writes does not change what the next one meets.

Every request is sent twice: as drawn, and with its path's id or code replaced by one of a
real row (a case in each main state, its whistle's assignment, its mediation, a region, a
category, a tracking code), so the fuzzed bodies and queries reach the code past the 404.

A fixed seed keeps a run reproducible; `FUZZ_SEED=random` (or a number) and
`FUZZ_EXAMPLES=n` explore further by hand.
"""

from __future__ import annotations

import functools
import json
import os

import hypothesis
import pytest
import schemathesis
from django.core.cache import cache
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections, transaction
from django.test import Client
from hypothesis import strategies as st
from rest_framework.authtoken.models import Token
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from grievances import services
from grievances.models import Grievance, State
from mediation.models import MediationOrg, Mediator
from mediation.services import Actor, mediation_assign
from tests.factories import UserFactory
from tests.grievances.conftest import advance, new_case

pytestmark = [pytest.mark.fuzz, pytest.mark.django_db]

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "15"))
_seed = os.environ.get("FUZZ_SEED", "20261207")
SEED = None if _seed == "random" else int(_seed)


@functools.cache
def _schema_document() -> dict:
    # The schema as drf-spectacular serves it, fetched once per run.
    response = Client().get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    return json.loads(response.content)


@pytest.fixture
def operations(db) -> list:
    document = _schema_document()
    # The WSGI handler closes the database connection around each request, which would end
    # the test's transaction: Django's test client turns that off for its requests (and on
    # again after each), so this comes after the schema was fetched.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    schema = schemathesis.openapi.from_dict(document)
    schema.app = get_wsgi_application()
    yield [result.ok() for result in schema.get_all_operations()]
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def world(tree, people, depts):
    """Rows for the path parameters: a case in each main state, one sent to departments
    (its assignment), one in mediation, and their codes."""
    submitted = new_case(people.grid_worker)
    accepted = advance(new_case(people.grid_worker), State.ACCEPTED, people)
    handled = advance(new_case(people.grid_worker), State.HANDLED, people)
    to_depts = advance(new_case(people.grid_worker), State.ACCEPTED, people)
    services.department_dispatch(
        to_depts,
        people.centre_staff,
        department_ids=[depts.police.pk],
        proposed=False,
        instructions="",
    )
    dispute = advance(
        new_case(people.grid_worker, category="dispute.neighbours"), State.ACCEPTED, people
    )
    services.mediation_opener(
        dispute,
        people.centre_staff,
        note="",
        parties=[{"name": "甲某", "phone": "13800000001"}, {"name": "乙某"}],
        choice_days=0,
    )
    assignment = to_depts.whistles.get().assignments.get()
    mediation = dispute.mediation_case
    org = MediationOrg.objects.create(
        name="泽当街道人民调解委员会", kind="peoples", region=tree.town_a
    )
    mediator_user = UserFactory(username="fuzz_mediator")
    mediator = Mediator.objects.create(name="卓玛", organisation=org, user=mediator_user)
    mediation_assign(mediation, Actor.of(people.centre_staff), mediator=mediator)
    ids = {
        "grievances": [submitted.pk, accepted.pk, handled.pk, to_depts.pk, dispute.pk],
        "assignments": [assignment.pk],
        "mediation-cases": [mediation.pk],
        "departments": [depts.police.pk],
        "mediators": [mediator.pk],
        "mediation-orgs": [org.pk],
        "return-visits": [],
        "routing-rules": [],
        "exports": [],
    }
    codes = {
        "regions": [tree.village_a.code, tree.grid_a1.code],
        "categories": ["hazard.road", "dispute"],
        "track": [c.display_code for c in Grievance.objects.order_by("pk")],
    }
    tokens = {
        who: Token.objects.create(user=user).key
        for who, user in (
            ("centre", people.centre_staff),
            ("department", depts.staff.police),
            ("mediator", mediator_user),
        )
    }
    return {"ids": ids, "codes": codes, "tokens": tokens}


def _real_path_parameters(case, world) -> dict | None:
    """The drawn path parameters with the id or code of a real row, if there is one."""
    params = dict(case.path_parameters or {})
    collection = case.path.split("/")[3] if case.path.count("/") > 3 else ""
    if "id" in params and world["ids"].get(collection):
        rows = world["ids"][collection]
        params["id"] = rows[hash(repr(case.body)) % len(rows)]
        return params
    if "code" in params and world["codes"].get(collection):
        rows = world["codes"][collection]
        params["code"] = rows[hash(repr(case.query)) % len(rows)]
        return params
    return None


def _call(case, headers: dict | None = None):
    """The request in a savepoint that is rolled back, with fresh throttle counters."""
    cache.clear()
    with transaction.atomic():
        response = case.call(headers=headers)
        transaction.set_rollback(True)
    return response


def _check(case, response) -> None:
    label = f"{case.method} {case.formatted_path} query={case.query!r} body={case.body!r}"
    assert response.status_code < 500, f"{response.status_code} on {label}: {response.text[:500]}"
    case.validate_response(response, checks=[not_a_server_error, response_schema_conformance])


def _run(case, world, headers: dict | None = None) -> None:
    _check(case, _call(case, headers))
    real = _real_path_parameters(case, world)
    if real is not None:
        case.path_parameters = real
        _check(case, _call(case, headers))


def _fuzz(operations, world, who: str | None = None, under: str = "/api/v1/") -> None:
    """Every operation under `under` with EXAMPLES drawn requests, valid and invalid alike,
    anonymously or with the token of `who`; the failures are reported together."""
    headers = {"Authorization": f"Token {world['tokens'][who]}"} if who else None
    failures = []
    for operation in operations:
        if not operation.path.startswith(under):
            continue
        drawn = st.one_of(
            operation.as_strategy(generation_mode=GenerationMode.POSITIVE),
            operation.as_strategy(generation_mode=GenerationMode.NEGATIVE),
        )

        @hypothesis.seed(SEED)
        @hypothesis.settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=list(hypothesis.HealthCheck),
            phases=[hypothesis.Phase.generate],
        )
        @hypothesis.given(case=drawn)
        def fuzz_one(case):
            _run(case, world, headers)

        try:
            fuzz_one()
        except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - every operation runs
            failures.append(f"{operation.label}: {exc}")
    assert not failures, "\n\n".join(failures)


def test_no_server_error_for_anyone(operations, world):
    _fuzz(operations, world)


def test_no_server_error_for_a_centre_worker(operations, world):
    _fuzz(operations, world, "centre")


def test_no_server_error_for_a_department_worker(operations, world):
    # The department's side: its whistles' assignments and its notifications.
    _fuzz(operations, world, "department", under="/api/v1/assignments/")


def test_no_server_error_for_a_mediator(operations, world):
    _fuzz(operations, world, "mediator", under="/api/v1/mediation-cases/")
