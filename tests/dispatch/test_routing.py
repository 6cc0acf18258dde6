from __future__ import annotations

import pytest
from django.utils import translation

from dispatch.models import Assignment, RoutingRule
from grievances.labels import shown
from grievances.models import Category, Grievance
from grievances.relay import relay_batch
from grievances.services import SYSTEM_LABEL
from tests.grievances.conftest import as_user

pytestmark = pytest.mark.django_db


def _report(people):
    r = as_user(people.grid_worker).post(
        "/api/v1/grievances/",
        {
            "title": "挡墙险情",
            "description": "d",
            "category": "hazard.road",
            "lng": 91.2,
            "lat": 29.7,
        },
        format="json",
    )
    return Grievance.objects.get(pk=r.json()["id"])


def test_the_rule_proposes_the_handling_level_on_submit(tree, people, depts):
    RoutingRule.objects.create(
        category=Category.objects.get(code="hazard"),
        region=tree.county,
        lead=depts.transport,
        handling_level="county",
    )
    case = _report(people)
    relay_batch()
    case.refresh_from_db()
    assert case.state == "submitted"
    assert case.handling_level == "county"
    # The centre's triage takes the proposal unless it says otherwise.
    r = as_user(people.centre_staff).post(
        f"/api/v1/grievances/{case.pk}/accept/", {}, format="json"
    )
    assert r.json()["handling_level"] == "county"


def test_auto_dispatch_accepts_and_whistles_the_rule_departments(tree, people, depts):
    rule = RoutingRule.objects.create(
        category=Category.objects.get(code="hazard.road"),
        region=tree.county,
        lead=depts.transport,
        auto_dispatch=True,
    )
    rule.assisting.add(depts.police)
    case = _report(people)
    relay_batch()
    case.refresh_from_db()
    assert case.state == "dispatched"
    assert dict(
        Assignment.objects.filter(whistle__grievance=case).values_list("department__code", "role")
    ) == {"nd-transport": "lead", "zd-police": "assisting"}
    actions = [(e.action, e.actor_label) for e in case.events.all()]
    # Saved as the source string, shown in the reader's language.
    assert actions[1:] == [("accept", SYSTEM_LABEL), ("dispatch", SYSTEM_LABEL)]
    with translation.override("zh-hans"):
        assert shown(actions[1][1]) == "系统"
    # Relaying again (a task that runs twice) changes nothing.
    relay_batch()
    relay_batch()
    assert Assignment.objects.filter(whistle__grievance=case).count() == 2


def test_auto_dispatch_after_a_manual_accept(tree, people, depts):
    rule = RoutingRule.objects.create(
        category=Category.objects.get(code="hazard.road"),
        region=tree.county,
        lead=depts.transport,
    )
    case = _report(people)
    relay_batch()
    rule.auto_dispatch = True
    rule.save()
    as_user(people.centre_staff).post(f"/api/v1/grievances/{case.pk}/accept/", {}, format="json")
    relay_batch()
    case.refresh_from_db()
    assert case.state == "dispatched"


def test_no_rule_leaves_the_case_to_the_centre(tree, people, depts):
    case = _report(people)
    relay_batch()
    case.refresh_from_db()
    assert case.state == "submitted" and case.handling_level == ""
