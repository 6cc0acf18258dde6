"""load_demo's content: routing rules, the mediation roster and cases in every state, told
through the services, that every role's pages show; a second run adds nothing."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.http import HttpRequest
from django.utils import timezone

from dispatch.models import Assignment, Department, RoutingRule, Whistle
from evaluation import figures
from evaluation.models import CaseFigure
from grids import demo
from grids.models import Region
from grievances.models import CaseEvent, Grievance, Rating, State
from mediation.models import (
    Agreement,
    CaseStatus,
    MediationCase,
    MediationOrg,
    Mediator,
    MediatorRating,
)
from notifications.models import Notification

pytestmark = pytest.mark.django_db


@pytest.fixture
def loaded():
    out = io.StringIO()
    call_command("load_demo", stdout=out)
    return out.getvalue()


def login(client, username: str):
    assert client.login(request=HttpRequest(), username=username, password=demo.DEMO_PASSWORD), (
        username
    )
    return client


def test_cases_in_every_state_with_real_timelines(loaded):
    states = set(Grievance.objects.values_list("state", flat=True))
    assert {
        State.SUBMITTED,
        State.ACCEPTED,
        State.DISPATCHED,
        State.MEDIATING,
        State.IN_PROGRESS,
        State.HANDLED,
        State.CLOSED,
    } <= states
    now = timezone.now()
    overdue = [c for c in Grievance.objects.filter(state=State.DISPATCHED) if c.is_overdue]
    assert len(overdue) == 1
    assert Rating.objects.filter(grievance__state=State.CLOSED).count() >= 3
    for case in Grievance.objects.all():
        events = list(case.events.order_by("id"))
        assert events[0].action == "submit"
        times = [e.created_at for e in events]
        assert times == sorted(times), case.title
        assert times[-1] <= now
        assert case.created_at == times[0]
    # Scenario 1: each step with its time and actor, the department reporting in at once.
    wall = Grievance.objects.get(title__contains="挡土墙")
    steps = {
        e.action: timezone.localtime(e.created_at).strftime("%H:%M") for e in wall.events.all()
    }
    assert steps["submit"] == "11:14"
    assert steps["dispatch"] == steps["report_in"] == "11:23"
    assert steps["handle"] == "14:24"
    assert wall.events.get(action="handle").actor_label == "乡城县交通运输局"
    assert Whistle.objects.get(grievance=wall).created_at == wall.dispatched_at
    # Scenario 2: the escalation and both whistles are on the timeline.
    wages = Grievance.objects.get(title__contains="曹某")
    actions = list(wages.events.values_list("action", flat=True))
    for action in ("mediate", "mediation_failed", "escalate", "dispatch", "verify", "rate"):
        assert action in actions
    assert wages.owning_centre.name == "和静县"
    # No text of it names a place it did not happen in (it happened in 和硕县特吾里克镇).
    texts = [wages.title, wages.description, *wages.events.values_list("note", flat=True)]
    assert not any(name in text for text in texts for name in ("哈拉玉宫", "和静县某"))
    # Scenario 6: one case, thirteen complainants, a lead and an assisting department.
    workers = Grievance.objects.get(title__startswith="13名")
    assert workers.complainants.count() == 13
    assert Assignment.objects.filter(whistle__grievance=workers).count() == 2
    # The deadlines count from the dispatch as it happened.
    for assignment in Assignment.objects.filter(status="pending", role="lead"):
        assert assignment.report_in_due_at == assignment.whistle.grievance.report_in_due_at
    # Mediations: parties' choice, agreements with instalments, ratings of the mediator.
    statuses = set(MediationCase.objects.values_list("status", flat=True))
    assert {CaseStatus.IN_SESSION, CaseStatus.SETTLED, CaseStatus.FAILED} <= statuses
    assert MediationCase.objects.filter(chosen_by="parties").exists()
    assert Agreement.objects.filter(terms__instalment=3).exists()
    assert MediatorRating.objects.count() >= 4
    langs = ",".join(Mediator.objects.values_list("languages", flat=True))
    assert {"bo", "ug", "mn"} <= set(langs.split(","))
    assert RoutingRule.objects.filter(lead__code="513336-transport").exists()
    # The outbox is relayed, the figures are built and count the cases.
    assert not CaseEvent.objects.filter(processed_at__isnull=True).exists()
    assert Notification.objects.exists()
    assert not Notification.objects.filter(created_at__gt=now).exists()
    assert CaseFigure.objects.count() == Grievance.objects.count()
    assert figures.as_of() is not None


def test_the_mediator_sees_their_case_and_the_agreement_to_sign(loaded, client):
    login(client, "zhuoma")
    page = client.get("/").content.decode()
    case = MediationCase.objects.get(
        status=CaseStatus.IN_SESSION, mediators__user__username="zhuoma"
    )
    assert case.grievance.title in page
    assert case.grievance.display_code in page
    assert demo.role_label(demo.MEDIATOR) in demo.login_table()
    assert "zhuoma" in loaded


def test_every_role_finds_work_on_their_pages(loaded, client):
    titles = list(Grievance.objects.values_list("title", flat=True))
    for username, url in (
        ("silanglamu", "/console/"),
        ("silanglamu", "/"),
        ("maxiaoyan", "/inbox/"),
        ("maxiaoyan", "/"),
        ("gerongpengcuo", "/"),
        ("gongbu", "/"),
        ("lijun", "/"),
        ("ciren", "/"),
        ("lamu", "/"),
        ("caomou", "/"),  # the resident: 我的反映 lists his wages case
    ):
        login(client, username)
        response = client.get(url)
        assert response.status_code == 200, (username, url)
        page = response.content.decode()
        assert any(title in page for title in titles), (username, url)
        client.logout()


def test_the_leaders_dashboard_has_figures(loaded):
    region = Grievance.objects.get(title__contains="挡土墙").county
    day = timezone.localdate()
    found = figures.figures(region=region, start=day - timedelta(days=40), end=day + timedelta(1))
    assert found["source"] == "cells"
    assert found["intake"]["total"] == Grievance.objects.filter(county=region).count()
    assert found["rates"]["satisfaction"]["denominator"] >= 1


def _snapshot():
    return {
        model.__name__: model.objects.count()
        for model in (
            Grievance,
            CaseEvent,
            Rating,
            Whistle,
            Assignment,
            Notification,
            RoutingRule,
            MediationCase,
            Mediator,
            Agreement,
            MediatorRating,
            CaseFigure,
        )
    } | {"states": sorted(Grievance.objects.values_list("title", "state"))}


def test_a_second_run_adds_nothing(loaded):
    before = _snapshot()
    call_command("load_demo", stdout=io.StringIO())
    assert _snapshot() == before


# Real places that lie elsewhere than the demo's tree once put them (江塘村 is in 加查县,
# 台斯砍村 and 哈拉玉宫 in 库尔勒市): the demo names its made-up villages as made up.
MISPLACED = ("江塘村", "台斯砍村", "哈拉玉宫")


def test_the_demo_places_are_where_they_are(loaded):
    def path(name: str) -> list[str]:
        region = Region.objects.get(name=name)
        return [r.name for r in region.get_ancestors()] + [region.name]

    # The codes are kept; the names under them are corrected in place.
    assert Region.objects.get(code="540502001201").name == "泽当示范村"
    assert path("泽当示范村") == ["山南市", "乃东区", "泽当街道", "泽当示范村"]
    assert Region.objects.get(code="652827101000").name == "哈尔莫敦镇"
    assert path("哈尔莫敦示范村")[-3:] == ["和静县", "哈尔莫敦镇", "哈尔莫敦示范村"]
    assert Region.objects.get(code="652827101201001").name == "哈尔莫敦示范村第一网格"
    for name in MISPLACED:
        assert not Region.objects.filter(name__contains=name).exists(), name
        assert not Grievance.objects.filter(title__contains=name).exists(), name
        assert not Grievance.objects.filter(description__contains=name).exists(), name
        assert not CaseEvent.objects.filter(note__contains=name).exists(), name
        assert not Mediator.objects.filter(bio__contains=name).exists(), name
        assert not Department.objects.filter(name__contains=name).exists(), name
        assert not MediationOrg.objects.filter(name__contains=name).exists(), name
        assert name not in demo.login_table(), name


def test_the_desk_has_its_libraries_a_consultation_and_an_extension_request(loaded, client):
    from desk.demo import T_CONSULTATION
    from desk.models import CannedReply, KnowledgeEntry

    assert CannedReply.objects.filter(region__name="乃东区").count() >= 4
    assert KnowledgeEntry.objects.filter(region__name="乃东区", published=True).exists()
    asked = Grievance.objects.get(title=T_CONSULTATION)
    assert (asked.state, asked.request_type) == (State.SUBMITTED, "consultation")
    waiting = Grievance.objects.filter(extension_requested_days__isnull=False)
    assert waiting.count() == 1
    login(client, "yangzong")
    assert (
        asked.display_code
        in client.get("/cases/", {"request_type": "consultation"}).content.decode()
    )
    r = client.get("/desk/knowledge/search/", {"case": asked.pk})
    assert "以此答复并办结" in r.content.decode()
    assert (
        waiting.get().display_code
        in client.get("/console/", {"extension_pending": "true"}).content.decode()
    )
