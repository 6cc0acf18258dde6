"""A resident with an account gets their own home, 我的反映 (My reports): the cases they
reported or are named on as a complainant, newest first, with what is new since their last
visit and what waits for them (a result to rate, a mediator to choose, an agreement to sign).
Never another resident's case; the staff keep their own homes."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from dispatch.services import whistle_dispatch
from grievances import selectors, services
from grievances.models import Complainant, Grievance, Rating, ResidentVisit, Source, State
from mediation.models import Agreement, MediationCase, Party, Signature
from mediation.services import Actor, mediation_agreement, mediation_assign
from tests.factories import UserFactory
from tests.grievances.conftest import PHONE, advance, at, new_case
from tests.mediation import conftest as mediation_fixtures
from tests.mediation.conftest import open_mediation

EN = {"HTTP_ACCEPT_LANGUAGE": "en"}
pytestmark = pytest.mark.django_db
roster = mediation_fixtures.roster


@pytest.fixture
def resident(db):
    return UserFactory(username="caomou", full_name="曹某")


def report(user, title: str) -> Grievance:
    """A resident's report from the phone, signed in."""
    return new_case(user, title=title, source=Source.RESIDENT_WEB)


def named_on(case: Grievance, user) -> Grievance:
    """`user`'s account on one of the case's complainants."""
    Complainant.objects.create(grievance=case, name=user.full_name, user=user, position=9)
    return case


def home(client, user, **extra) -> str:
    client.force_login(user)
    response = client.get("/", **extra)
    assert response.status_code == 200
    assert response.templates[0].name == "home/resident.html"
    return response.content.decode()


def section(html: str, element_id: str) -> str:
    return html.split(f'id="{element_id}"')[1].split("</section>")[0]


def item(html: str, case: Grievance) -> str:
    """The list item of `case` on the home page."""
    at = html.index(f'data-case="{case.display_code}"')
    start = html.rindex("<li", 0, at)
    return html[start : html.index("</li>", at)]


# --- What the page lists ---------------------------------------------------------------------


def test_a_resident_sees_their_own_cases_newest_first(client, tree, people, resident):
    older = report(resident, "楼道灯不亮")
    newer = report(resident, "小区门口积水")
    joined = named_on(new_case(people.grid_worker, title="拖欠工资"), resident)
    other_resident = report(UserFactory(), "别人的反映")
    staff_only = new_case(people.grid_worker, title="网格员上报的井盖缺失")

    html = home(client, resident)
    assert "我的反映" in html and "曹某" in html
    cases = section(html, "resident-cases")
    # Newest first: the one they are named on came last.
    positions = [cases.index(c.display_code) for c in (joined, newer, older)]
    assert positions == sorted(positions)
    assert "待受理" in item(cases, older)
    # The case they reported opens on the case page (which shows it as tracking does), the
    # one they are named on through tracking with its code filled in.
    assert f'href="/cases/{older.pk}/"' in item(cases, older)
    assert f'href="/track/?code={joined.display_code}"' in item(cases, joined)
    for foreign in (other_resident, staff_only):
        assert foreign.display_code not in html and foreign.title not in html
    # Nothing is marked new on the first visit: there is no earlier one to compare with.
    assert "inbox-item--new" not in html


def test_the_page_in_english_and_the_navigation(client, tree, resident):
    report(resident, "楼道灯不亮")
    html = home(client, resident, **EN)
    assert "My reports" in html and "My cases" in html and "Submitted" in html
    assert 'href="/report/"' in html and 'href="/track/"' in html
    assert "My roles" not in html  # a resident holds none: no empty box about it


def test_a_resident_without_cases_is_invited_to_report(client, tree, resident):
    html = home(client, resident, **EN)
    assert "You have not reported anything with this account yet." in html
    assert 'id="resident-waiting"' not in html


def test_the_handler_shows_once_the_case_is_dispatched(client, tree, people, depts, resident):
    to_department = advance(report(resident, "挡墙有垮塌危险"), State.ACCEPTED, people)
    whistle_dispatch(to_department, people.centre_staff, departments=[depts.transport])
    on_the_spot = advance(report(resident, "楼道水管漏水"), State.IN_PROGRESS, people)
    waiting = advance(report(resident, "噪音扰民"), State.ACCEPTED, people)

    html = home(client, resident)
    assert "乃东区交通运输局" in item(html, to_department)
    assert "江塘村第一网格" in item(html, on_the_spot)
    assert "承办" not in item(html, waiting)
    # Sent back to the centre (退单): nobody handles it now.
    services.grievance_return(
        Grievance.objects.get(pk=to_department.pk), depts.staff.transport, reason="不属于本部门"
    )
    html = home(client, resident)
    assert "乃东区交通运输局" not in item(html, to_department)


def test_the_list_is_bounded(client, tree, people, resident, settings):
    for i in range(23):
        report(resident, f"反映{i}")
    html = home(client, resident, **EN)
    assert section(html, "resident-cases").count("data-case=") == 20
    assert "The newest 20 of your 23 cases are shown." in html
    assert "反映22" in html and "反映2<" not in html


# --- What is new since the last visit --------------------------------------------------------


def test_news_since_the_last_visit_stays_marked_for_the_visit(client, tree, people, resident):
    with time_machine.travel(at(2026, 11, 10, 9), tick=False):
        accepted = report(resident, "楼道灯不亮")
        quiet = report(resident, "小区门口积水")
        home(client, resident)  # the first visit
    with time_machine.travel(at(2026, 11, 10, 10), tick=False):
        accepted = services.grievance_accept(accepted, people.centre_staff)
        services.grievance_note(accepted, people.centre_staff, note="内部记录", public=False)
    with time_machine.travel(at(2026, 11, 10, 11), tick=False):
        html = home(client, resident, **EN)
    assert "inbox-item--new" in item(html, accepted) and ">New<" in item(html, accepted)
    assert "Accepted by the governance centre" in item(html, accepted)
    assert "inbox-item--new" not in item(html, quiet)
    assert "1 case has news since your last visit." in html
    # A reload a little later is the same visit: the marks stay.
    with time_machine.travel(at(2026, 11, 10, 11, 20), tick=False):
        html = home(client, resident, **EN)
    assert "inbox-item--new" in item(html, accepted)
    # The next visit starts from there: nothing new since.
    with time_machine.travel(at(2026, 11, 10, 15), tick=False):
        html = home(client, resident, **EN)
    assert "inbox-item--new" not in html
    assert "Nothing new since your last visit." in html


def test_the_residents_own_acts_are_not_news_to_them(client, tree, people, resident):
    with time_machine.travel(at(2026, 11, 10, 9), tick=False):
        case = advance(report(resident, "楼道灯不亮"), State.DISPATCHED, people)
        home(client, resident)
    with time_machine.travel(at(2026, 11, 10, 10), tick=False):
        services.grievance_urge(case, None, note="请尽快", via_tracking=True)
        mine = report(resident, "新的反映")
    with time_machine.travel(at(2026, 11, 10, 12), tick=False):
        html = home(client, resident)
    assert "inbox-item--new" not in html
    assert mine.display_code in html


def test_the_visit_keeps_its_start_while_it_lasts(resident):
    t0 = at(2026, 11, 10, 9)
    assert services.resident_visit(resident, t0) is None
    assert services.resident_visit(resident, t0 + timedelta(minutes=10)) is None
    later = t0 + timedelta(hours=3)
    assert services.resident_visit(resident, later) == t0 + timedelta(minutes=10)
    assert services.resident_visit(resident, later + timedelta(minutes=29)) == t0 + timedelta(
        minutes=10
    )
    assert services.resident_visit(resident, later + timedelta(hours=1)) == later + timedelta(
        minutes=29
    )
    assert ResidentVisit.objects.get(user=resident).seen_at == later + timedelta(hours=1)


# --- What waits for the resident -------------------------------------------------------------


def test_results_waiting_for_a_rating(client, tree, people, resident):
    to_rate = advance(report(resident, "楼道灯不亮"), State.CLOSED, people)
    rated = advance(report(resident, "小区门口积水"), State.CLOSED, people)
    Rating.objects.create(
        grievance=rated,
        complainant=rated.complainants.get(is_reporter=True),
        score=5,
        resolved=True,
    )
    long_ago = advance(report(resident, "去年的反映"), State.CLOSED, people)
    Grievance.objects.filter(pk=long_ago.pk).update(closed_at=long_ago.closed_at - timedelta(31))
    # Named on a case as a second complainant: each complainant rates for themselves.
    joined = named_on(advance(new_case(people.grid_worker), State.CLOSED, people), resident)
    # Named on the first complainant (the one who tracks the case): theirs to rate.
    tracked = advance(new_case(people.grid_worker, title="路灯不亮"), State.CLOSED, people)
    tracked.complainants.filter(is_reporter=True).update(user=resident)
    others = advance(report(UserFactory(), "别人的反映"), State.CLOSED, people)

    assert list(selectors.awaiting_rating(resident)) == [tracked, joined, to_rate]
    html = home(client, resident)
    waiting = section(html, "resident-waiting")
    assert f'href="/cases/{to_rate.pk}/#rate"' in waiting
    assert f'href="/track/?code={tracked.display_code}#rate"' in waiting
    assert f'href="/track/?code={joined.display_code}#rate"' in waiting
    for case in (rated, long_ago, others):
        assert case.display_code not in waiting
    assert "评价办理结果" in waiting or "Rate the result" in home(client, resident, **EN)


def test_the_rate_link_opens_the_rating_form(client, tree, people, resident):
    case = advance(report(resident, "楼道灯不亮"), State.CLOSED, people)
    client.force_login(resident)
    response = client.get(f"/cases/{case.pk}/", follow=True)
    assert response.redirect_chain[-1][0] == "/track/"
    assert 'id="rate"' in response.content.decode()


def test_mediation_things_wait_for_a_party_with_an_account(client, tree, people, roster, resident):
    mcase = open_mediation(people)
    Party.objects.filter(case=mcase, position=0).update(user=resident)
    html = home(client, resident, **EN)
    waiting = section(html, "resident-waiting")
    assert "Choose your mediator" in waiting
    assert f'href="/mediation/{mcase.pk}/#choose"' in waiting
    assert "Sign the agreement" not in waiting

    MediationCase.objects.filter(pk=mcase.pk).update(choice_deadline=timezone.now() - timedelta(1))
    mcase.refresh_from_db()
    mcase = mediation_assign(mcase, Actor.of(people.centre_staff), mediator=roster.zhuoma)
    agreement = mediation_agreement(mcase, Actor.of(roster.users.zhuoma), text="双方和解")
    html = home(client, resident, **EN)
    waiting = section(html, "resident-waiting")
    assert "Choose your mediator" not in waiting
    assert f'href="/mediation/{mcase.pk}/#agreement"' in waiting
    # Signed: nothing waits any more; a newer version waits again.
    party = Party.objects.get(case=mcase, position=0)
    Signature.objects.create(
        agreement=agreement,
        party=party,
        version=agreement.version,
        sha256=agreement.content_hash,
        typed_name=party.name,
    )
    assert 'id="resident-waiting"' not in home(client, resident)
    mediation_agreement(mcase, Actor.of(roster.users.zhuoma), text="双方和解，补充条款")
    assert Agreement.objects.filter(case=mcase).count() == 2
    assert "version 2" in section(home(client, resident, **EN), "resident-waiting")
    # The other party's account, had it one, would not see this party's items.
    assert 'id="resident-waiting"' not in home(client, UserFactory())


def test_the_mediation_link_opens_the_partys_own_page(client, tree, people, roster, resident):
    mcase = open_mediation(people)
    Party.objects.filter(case=mcase, position=0).update(user=resident)
    client.force_login(resident)
    response = client.get(f"/mediation/{mcase.pk}/")
    assert response.status_code == 302 and "/mediation/p/" in response["Location"]


# --- Scoping and the staff -------------------------------------------------------------------


def test_staff_who_report_keep_their_own_home(client, tree, people):
    new_case(people.grid_worker, title="井盖缺失")
    client.force_login(people.grid_worker)
    response = client.get("/")
    assert response.templates[0].name == "home/grid.html"
    assert ResidentVisit.objects.count() == 0


def test_another_residents_case_never_shows(client, tree, people, resident):
    neighbour = UserFactory(username="neighbour")
    theirs = report(neighbour, "邻居的反映")
    named_on(new_case(people.grid_worker, title="邻居被列为投诉人"), neighbour)
    html = home(client, resident)
    assert theirs.display_code not in html and "邻居" not in html
    assert list(selectors.awaiting_rating(resident)) == []


# --- Queries ---------------------------------------------------------------------------------


def _a_few_cases(people, resident) -> None:
    """One of each kind the page shows: submitted, handled by a department, closed to rate,
    and one they are named on."""
    report(resident, "楼道灯不亮")
    advance(report(resident, "水管漏水"), State.CLOSED, people)
    advance(report(resident, "路灯不亮"), State.IN_PROGRESS, people)
    named_on(new_case(people.grid_worker, phone=PHONE), resident)


def test_the_home_reads_a_fixed_number_of_queries(
    client, tree, people, roster, resident, django_assert_max_num_queries
):
    mcase = open_mediation(people)
    Party.objects.filter(case=mcase, position=0).update(user=resident)
    client.force_login(resident)

    def queries() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert client.get("/").status_code == 200
        return len(ctx.captured_queries)

    _a_few_cases(people, resident)
    client.get("/")  # the first visit writes the visit's row
    few = queries()
    for _ in range(6):
        _a_few_cases(people, resident)
    assert queries() == few
    with django_assert_max_num_queries(14):
        client.get("/")
