"""What the dispatch app shows and does on the staff case page (/cases/<id>/): the dispatch
form with the routing proposal, and the lead department's report-in through its
assignment."""

from __future__ import annotations

import re
from html import unescape

import pytest
from django.test import Client

from dispatch.models import Assignment, RoutingRule, Whistle
from grievances.models import CaseEvent, Category, Grievance, State
from tests.grievances.conftest import advance, new_case

pytestmark = pytest.mark.django_db


def detail_url(case) -> str:
    return f"/cases/{case.pk}/"


def act_url(case, name: str) -> str:
    return f"/cases/{case.pk}/act/{name}/"


def client_as(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def text_of(response) -> str:
    return unescape(response.content.decode())


def mode_block(page: str, mode: str) -> str:
    """The part of the dispatch form under one "dispatch to" choice."""
    found = re.search(
        rf'<div class="dispatch-mode dispatch-mode--{mode}">(.*?)<div class="dispatch-mode ',
        page + '<div class="dispatch-mode ',
        re.S,
    )
    assert found, f"no {mode} choice on the page"
    return found.group(1)


def checked_mode(page: str) -> str:
    found = re.search(r'<input type="radio" name="mode" value="(\w+)"[^>]*\bchecked\b', page)
    assert found, "no dispatch choice is ticked"
    return found.group(1)


def road_rule(tree, lead, *assisting) -> RoutingRule:
    rule = RoutingRule.objects.create(
        category=Category.objects.get(code="hazard.road"), region=tree.county, lead=lead
    )
    rule.assisting.add(*assisting)
    return rule


def test_the_case_page_shows_the_routing_proposal_and_dispatches_with_it(tree, people, depts):
    road_rule(tree, depts.transport, depts.police)
    case = advance(new_case(people.grid_worker, category="hazard.road"), State.ACCEPTED, people)
    centre = client_as(people.centre_staff)

    page = text_of(centre.get(detail_url(case)))
    proposal = mode_block(page, "proposed")
    assert "<strong>乃东区交通运输局</strong>" in proposal and "泽当派出所" in proposal
    assert "乃东区劳动保障监察大队" not in proposal
    assert checked_mode(page) == "proposed"  # the proposal comes first and is ticked

    r = centre.post(act_url(case, "dispatch"), {"mode": "proposed", "note": "请立即处置"})
    assert r.status_code == 302 and r.url == detail_url(case)
    case.refresh_from_db()
    assert case.state == State.DISPATCHED
    whistle = Whistle.objects.get(grievance=case)
    assert whistle.instructions == "请立即处置"
    assert dict(whistle.assignments.values_list("department__code", "role")) == {
        "nd-transport": "lead",
        "zd-police": "assisting",
    }


def test_without_a_proposal_the_departments_come_first(tree, people, depts):
    case = advance(new_case(people.grid_worker, category="hazard.road"), State.ACCEPTED, people)
    page = text_of(client_as(people.centre_staff).get(detail_url(case)))
    assert 'value="proposed"' not in page
    assert checked_mode(page) == "departments"
    departments = mode_block(page, "departments")
    assert "乃东区交通运输局" in departments and "泽当派出所" in departments
    assert "乡城县交通运输局" not in departments  # serves another county


def test_equally_specific_rules_are_shown_instead_of_a_proposal(tree, people, depts):
    road_rule(tree, depts.transport)
    road_rule(tree, depts.labour)
    case = advance(new_case(people.grid_worker, category="hazard.road"), State.ACCEPTED, people)
    centre = client_as(people.centre_staff)
    page = text_of(centre.get(detail_url(case)))
    assert 'value="proposed"' not in page
    assert "有两条同样具体的分流规则" in mode_block(page, "departments")

    # Asking for the proposal all the same: the error stands next to the choices.
    r = centre.post(act_url(case, "dispatch"), {"mode": "proposed"})
    assert r.status_code == 400
    assert re.search(r'<details class="act act--dispatch" id="act-dispatch" open>', text_of(r))
    assert Grievance.objects.get(pk=case.pk).state == State.ACCEPTED


def test_the_lead_departments_report_in_on_the_case_page_signs_its_assignment(tree, people, depts):
    road_rule(tree, depts.transport, depts.police)
    case = advance(new_case(people.grid_worker, category="hazard.road"), State.ACCEPTED, people)
    client_as(people.centre_staff).post(act_url(case, "dispatch"), {"mode": "proposed"})

    r = client_as(depts.staff.transport).post(act_url(case, "report_in"), {"note": "马上出发"})
    assert r.status_code == 302
    case.refresh_from_db()
    assert case.state == State.IN_PROGRESS
    lead = Assignment.objects.get(whistle__grievance=case, role="lead")
    assert lead.status == Assignment.Status.REPORTED_IN and lead.reported_in_at is not None
    event = CaseEvent.objects.get(grievance=case, action="report_in")
    assert event.note == "马上出发"
    # The assisting department answers its own part, in its inbox.
    assisting = Assignment.objects.get(whistle__grievance=case, role="assisting")
    assert assisting.status == Assignment.Status.PENDING
