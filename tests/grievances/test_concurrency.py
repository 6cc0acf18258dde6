"""Two people act on one case at the same moment: exactly one wins, the other is told the case
has moved on, and nothing is done twice or half.

Real threads, each with its own database connection, on the file-based SQLite test database
(IMMEDIATE transactions: the second writer waits for the first) and on PostgreSQL (the row
lock of select_for_update). Both threads read the case before either acts, as two people
looking at the same page would.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
from django.db import connection
from django.utils.translation import gettext
from rest_framework.test import APIClient

from grids.models import Role, User
from grids.scoping import memberships
from grievances import services
from grievances.models import CaseEvent, Grievance, State
from tests.factories import make_member
from tests.grievances.conftest import advance, new_case

pytestmark = pytest.mark.django_db(transaction=True)


def race(*acts: Callable[[], Callable[[], object]]) -> list[object]:
    """Run the acts in threads at once. Each act prepares (reads) first and returns the call
    to make; all calls start together at a barrier. Returns each call's result or error."""
    barrier = threading.Barrier(len(acts), timeout=30)
    outcomes: list[object] = [None] * len(acts)

    def run(i: int, act) -> None:
        try:
            call = act()
            barrier.wait()
            outcomes[i] = call()
        except BaseException as exc:  # noqa: BLE001 - handed back to the test
            barrier.abort()
            outcomes[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, act)) for i, act in enumerate(acts)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a thread hung"
    return outcomes


def service(func, case_pk: int, user_pk: int, **kwargs):
    """An act that calls a service as `user` on `case`, both read in the acting thread."""

    def prepare():
        case = Grievance.objects.select_related("category", "owning_centre", "region").get(
            pk=case_pk
        )
        user = User.objects.get(pk=user_pk)
        memberships(user)  # read the roles now, not in the race
        if case.handler_region_id:
            case.handler_region  # noqa: B018 - loaded before the race
        return lambda: func(case, user, **kwargs)

    return prepare


@pytest.fixture
def slow_writer():
    """Hold the winner's transaction open a little after its event is written, so that the
    other thread is surely waiting on the lock rather than arriving after the commit."""

    def linger(sender, **kwargs):
        time.sleep(0.2)

    services.case_event.connect(linger, dispatch_uid="test-linger")
    yield
    services.case_event.disconnect(dispatch_uid="test-linger")


def split(outcomes):
    wins = [o for o in outcomes if isinstance(o, Grievance)]
    losses = [o for o in outcomes if not isinstance(o, Grievance)]
    return wins, losses


def count(case, action) -> int:
    return CaseEvent.objects.filter(grievance_id=case.pk, action=action).count()


@pytest.fixture
def second_centre(tree):
    return make_member("centre_staff_2", tree.town_a, Role.CENTRE_STAFF)


def test_two_centre_staff_accept_at_once(tree, people, second_centre, slow_writer):
    case = new_case(people.grid_worker)
    outcomes = race(
        service(services.grievance_accept, case.pk, people.centre_staff.pk, complexity="simple"),
        service(services.grievance_accept, case.pk, second_centre.pk, complexity="complex"),
    )
    wins, losses = split(outcomes)
    assert len(wins) == 1, outcomes
    assert len(losses) == 1
    loss = losses[0]
    assert isinstance(loss, services.WrongState), repr(loss)
    assert loss.status == 409
    assert loss.message == gettext("This case has moved on.")
    assert loss.state == State.ACCEPTED
    fresh = Grievance.objects.get(pk=case.pk)
    assert fresh.state == State.ACCEPTED
    assert fresh.complexity == wins[0].complexity
    assert count(case, "accept") == 1
    assert CaseEvent.objects.filter(grievance_id=case.pk).count() == 2  # submit, accept


def test_verify_and_redo_at_once(tree, people, second_centre, slow_writer):
    case = advance(new_case(people.grid_worker), State.HANDLED, people)
    outcomes = race(
        service(services.grievance_verify, case.pk, people.centre_staff.pk),
        service(services.grievance_redo, case.pk, second_centre.pk, reason="现场未清理干净"),
    )
    wins, losses = split(outcomes)
    assert len(wins) == 1 and len(losses) == 1, outcomes
    assert isinstance(losses[0], services.WrongState), repr(losses[0])
    assert losses[0].message == gettext("This case has moved on.")
    fresh = Grievance.objects.get(pk=case.pk)
    if fresh.state == State.CLOSED:
        assert (count(case, "verify"), count(case, "redo"), fresh.redo_count) == (1, 0, 0)
        assert fresh.closed_at is not None
    else:
        assert fresh.state == State.IN_PROGRESS
        assert (count(case, "verify"), count(case, "redo"), fresh.redo_count) == (0, 1, 1)
        assert fresh.closed_at is None
    assert losses[0].state == fresh.state


def test_two_suspends_at_once(tree, people, second_centre, slow_writer):
    # Suspend keeps the state: the lock and the re-read of `suspended_at` catch the second.
    case = advance(new_case(people.grid_worker), State.DISPATCHED, people)
    outcomes = race(
        service(services.grievance_suspend, case.pk, people.centre_staff.pk, reason="等待鉴定"),
        service(services.grievance_suspend, case.pk, second_centre.pk, reason="等待判决"),
    )
    wins, losses = split(outcomes)
    assert len(wins) == 1 and len(losses) == 1, outcomes
    assert isinstance(losses[0], services.WrongState), repr(losses[0])
    assert losses[0].status == 409
    assert losses[0].state == State.DISPATCHED
    fresh = Grievance.objects.get(pk=case.pk)
    assert fresh.suspended_at is not None
    assert fresh.suspend_reason == wins[0].suspend_reason
    assert count(case, "suspend") == 1


def test_two_escalations_at_once_climb_one_level(tree, people, second_centre, slow_writer):
    # Escalate from accepted keeps the state too: only one may move the owning centre up.
    case = advance(new_case(people.grid_worker), State.ACCEPTED, people)
    outcomes = race(
        service(services.grievance_escalate, case.pk, people.centre_staff.pk, reason="上报"),
        service(services.grievance_escalate, case.pk, second_centre.pk, reason="上报"),
    )
    wins, losses = split(outcomes)
    fresh = Grievance.objects.get(pk=case.pk)
    assert len(wins) == 1, (outcomes, fresh.owning_centre)
    assert isinstance(losses[0], services.WrongState), repr(losses[0])
    assert losses[0].message == gettext("This case has moved on.")
    # Both act for the township centre: the winner hands the case to the county above it.
    assert fresh.owning_centre == tree.county
    assert fresh.escalation_count == 1
    assert count(case, "escalate") == 1


def test_two_urges_at_once_both_count(tree, people, slow_writer):
    # Not a conflict: both are recorded and neither increment is lost.
    case = advance(new_case(people.grid_worker), State.DISPATCHED, people)
    outcomes = race(
        service(services.grievance_urge, case.pk, people.grid_worker.pk, note="请加快"),
        service(services.grievance_urge, case.pk, people.leader.pk, note="请加快"),
    )
    wins, _losses = split(outcomes)
    assert len(wins) == 2, outcomes
    assert Grievance.objects.get(pk=case.pk).urge_count == 2
    assert count(case, "urge") == 2


def test_two_accepts_through_the_api(tree, people, second_centre, slow_writer):
    case = new_case(people.grid_worker)

    def post_as(user_pk):
        def prepare():
            client = APIClient()
            client.force_authenticate(User.objects.get(pk=user_pk))
            return lambda: client.post(f"/api/v1/grievances/{case.pk}/accept/", {}, format="json")

        return prepare

    outcomes = race(post_as(people.centre_staff.pk), post_as(second_centre.pk))
    assert sorted(r.status_code for r in outcomes) == [200, 409], outcomes
    conflict = next(r for r in outcomes if r.status_code == 409).json()
    assert set(conflict) == {"detail", "state"}
    assert conflict["state"] == "accepted"
    assert count(case, "accept") == 1


# --- A village centre and its township centre escalate one case at once (PostgreSQL) -------------


@pytest.fixture
def village_staff(tree):
    return make_member("village_staff", tree.village_a, Role.CENTRE_STAFF)


def escalate_through_the_api(case_pk: int, user_pk: int, *, if_match: bool):
    """Read the case (and its ETag) as `user`, then escalate it: the POST is the call."""

    def prepare():
        client = APIClient()
        client.force_authenticate(User.objects.get(pk=user_pk))
        read = client.get(f"/api/v1/grievances/{case_pk}/")
        assert read.status_code == 200
        headers = {"HTTP_IF_MATCH": read["ETag"]} if if_match else {}
        return lambda: client.post(
            f"/api/v1/grievances/{case_pk}/escalate/",
            {"reason": "需上级协调"},
            format="json",
            **headers,
        )

    return prepare


@pytest.mark.parametrize("if_match", [True, False], ids=["if-match", "plain"])
def test_a_village_and_its_township_escalate_at_once_through_the_api(
    tree, people, village_staff, slow_writer, require_postgres, if_match
):
    # Both may escalate a case the village owns: the village hands it to the township, the
    # township (acting for itself, above the village) to the county. One of them only.
    case = advance(new_case(people.grid_worker), State.ACCEPTED, people)
    assert case.owning_centre == tree.village_a
    outcomes = race(
        escalate_through_the_api(case.pk, village_staff.pk, if_match=if_match),
        escalate_through_the_api(case.pk, people.centre_staff.pk, if_match=if_match),
    )
    assert sorted(r.status_code for r in outcomes) == [200, 409], outcomes
    won = outcomes.index(next(r for r in outcomes if r.status_code == 200))
    conflict = outcomes[1 - won].json()
    assert conflict["state"] == State.ACCEPTED and conflict["detail"]
    fresh = Grievance.objects.get(pk=case.pk)
    # One escalation, by the winner: one step above the centre it acted for.
    assert fresh.escalation_count == 1
    assert count(case, "escalate") == 1
    assert fresh.owning_centre == (tree.town_a if won == 0 else tree.county)
    assert outcomes[won]["ETag"] == f'"{fresh.version}"'
