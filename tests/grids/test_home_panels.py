"""Each role's home page shows that role's real work: counts that link to the lists, the
first cases of each list, in a fixed number of queries; nothing of another region."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from dispatch.services import whistle_dispatch
from grievances.models import Grievance, State
from mediation import services as mediation_services
from mediation.models import MediationCase
from tests.grievances.conftest import POINT_B1, advance, new_case
from tests.mediation import conftest as mediation_fixtures
from tests.mediation.conftest import open_mediation

EN = {"HTTP_ACCEPT_LANGUAGE": "en"}
pytestmark = pytest.mark.django_db
roster = mediation_fixtures.roster  # the mediation tests' roster fixture


def _count(html: str, element_id: str) -> int:
    marker = f'id="{element_id}">'
    start = html.index(marker) + len(marker)
    return int(html[start : html.index("<", start)])


def _home(client, user):
    client.force_login(user)
    response = client.get("/", **EN)
    assert response.status_code == 200
    return response.content.decode()


def test_grid_worker_sees_the_open_cases_of_the_grid_and_what_is_due(client, people, tree):
    reported = new_case(people.grid_worker, title="井盖缺失")
    on_the_spot = advance(new_case(people.grid_worker, title="楼道漏水"), State.IN_PROGRESS, people)
    Grievance.objects.filter(pk=on_the_spot.pk).update(
        handle_due_at=timezone.now() + timedelta(minutes=5)
    )
    closed = advance(new_case(people.grid_worker, title="路灯不亮"), State.CLOSED, people)
    elsewhere = new_case(people.sibling_staff, title="克松村的案件", point=POINT_B1)

    html = _home(client, people.grid_worker)
    assert "井盖缺失" in html and "楼道漏水" in html
    assert "路灯不亮" not in html.split('id="grid-open"')[1].split("</section>")[0]
    assert "克松村的案件" not in html
    assert _count(html, "count-open") == 2
    assert _count(html, "count-to-handle") == 1
    assert _count(html, "count-due-today") == 1
    assert _count(html, "count-reported") == 4 - 1  # the last one was not theirs
    to_handle = html.split('id="to-handle"')[1].split("</section>")[0]
    assert f"/cases/{on_the_spot.pk}/" in to_handle and f"/cases/{reported.pk}/" not in to_handle
    assert closed.pk and elsewhere.pk


def test_centre_home_shows_what_waits_for_the_centre(client, people, depts):
    waiting = new_case(people.grid_worker, title="新来的案件")
    to_verify = advance(new_case(people.grid_worker, title="已办结待核查"), State.HANDLED, people)
    late = advance(new_case(people.grid_worker, title="超期的案件"), State.ACCEPTED, people)
    whistle_dispatch(late, people.centre_staff, departments=[depts.police])
    Grievance.objects.filter(pk=late.pk).update(
        report_in_due_at=timezone.now() - timedelta(hours=3),
        handle_due_at=timezone.now() - timedelta(hours=1),
    )
    new_case(people.sibling_staff, title="别的街道的案件", point=POINT_B1)

    html = _home(client, people.centre_staff)
    assert _count(html, "count-submitted") == 1
    assert _count(html, "count-to-verify") == 1
    assert _count(html, "count-overdue") == 1
    waiting_list = html.split('id="centre-waiting"')[1].split("</section>")[0]
    assert f"/cases/{waiting.pk}/" in waiting_list
    assert f"/cases/{to_verify.pk}/" in html.split('id="centre-to-verify"')[1]
    overdue_list = html.split('id="centre-overdue"')[1].split("</section>")[0]
    assert f"/cases/{late.pk}/" in overdue_list and "overdue" in overdue_list
    assert "别的街道的案件" not in html
    assert 'href="/console/?overdue=true"' in html


def test_department_home_shows_the_inbox_groups(client, people, depts):
    case = advance(new_case(people.grid_worker, title="道路塌方"), State.ACCEPTED, people)
    whistle_dispatch(case, people.centre_staff, departments=[depts.transport])
    html = _home(client, depts.staff.transport)
    assert _count(html, "count-report_in") == 1
    assert _count(html, "count-overdue") == 0
    section = html.split('id="home-report_in"')[1].split("</section>")[0]
    assert "道路塌方" in section and f"/cases/{case.pk}/" in section
    # Another department's staff sees none of it.
    html = _home(client, depts.staff.labour)
    assert "道路塌方" not in html and _count(html, "count-report_in") == 0


def test_leader_home_shows_the_rates_and_the_overdue_cases(client, people, depts):
    late = advance(new_case(people.grid_worker, title="超期的案件"), State.ACCEPTED, people)
    whistle_dispatch(late, people.centre_staff, departments=[depts.police])
    Grievance.objects.filter(pk=late.pk).update(report_in_due_at=timezone.now() - timedelta(1))
    html = _home(client, people.leader)
    assert "乃东区" in html
    for label in ("Response rate", "Resolution rate", "Satisfaction rate"):
        assert label in html
    assert _count(html, "count-overdue") == 1
    assert f"/cases/{late.pk}/" in html.split('id="leader-overdue"')[1]


def test_mediator_home_lists_cases_sessions_and_agreements_to_sign(client, people, roster):
    mcase = open_mediation(people)
    MediationCase.objects.filter(pk=mcase.pk).update(choice_deadline=timezone.now() - timedelta(1))
    mcase.refresh_from_db()
    centre, zhuoma = (
        mediation_services.Actor.of(u) for u in (people.centre_staff, roster.users.zhuoma)
    )
    mcase = mediation_services.mediation_assign(mcase, centre, mediator=roster.zhuoma)
    mediation_services.mediation_schedule(
        mcase, zhuoma, starts_at=timezone.now() + timedelta(days=1), place="村委会"
    )
    mediation_services.mediation_agreement(mcase, zhuoma, text="双方和解")

    html = _home(client, roster.users.zhuoma)
    assert "My mediations" in html
    assert f"/mediation/{mcase.pk}/" in html.split('id="mediator-cases"')[1]
    assert "村委会" in html.split('id="mediator-sessions"')[1].split("</section>")[0]
    assert f"/mediation/{mcase.pk}/#agreement" in html
    # Another mediator of the same committee has nothing of it.
    html = _home(client, roster.users.wang)
    assert f"/mediation/{mcase.pk}/" not in html
    assert "No agreement waits for your signature." in html


def _one_of_each(people, depts) -> None:
    """A case in each list a home page shows: new, to verify, overdue, handled on the spot."""
    new_case(people.grid_worker)
    advance(new_case(people.grid_worker), State.HANDLED, people)
    advance(new_case(people.grid_worker), State.IN_PROGRESS, people)
    late = advance(new_case(people.grid_worker), State.ACCEPTED, people)
    whistle_dispatch(late, people.centre_staff, departments=[depts.police])
    Grievance.objects.filter(pk=late.pk).update(report_in_due_at=timezone.now() - timedelta(1))


@pytest.mark.parametrize("who", ["grid_worker", "centre_staff", "leader"])
def test_home_queries_do_not_grow_with_cases(
    client, people, depts, who, django_assert_max_num_queries
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.force_login(getattr(people, who))

    def queries_for_home() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert client.get("/").status_code == 200
        return len(ctx.captured_queries)

    _one_of_each(people, depts)
    few = queries_for_home()
    for _ in range(3):
        _one_of_each(people, depts)
    assert queries_for_home() == few
    with django_assert_max_num_queries(16):
        client.get("/")


def test_department_home_queries_do_not_grow(client, people, depts, django_assert_max_num_queries):
    for i in range(5):
        case = advance(new_case(people.grid_worker, title=f"案件{i}"), State.ACCEPTED, people)
        whistle_dispatch(case, people.centre_staff, departments=[depts.transport])
    client.force_login(depts.staff.transport)
    with django_assert_max_num_queries(14):
        assert client.get("/").status_code == 200
