"""Who sees a mediation case: the centre's staff (through the case scoping), its mediators,
its parties (logged in, or through their link). Everyone else gets 404, as does a wrong or
expired link; then the role (403), the status (409) and the fields (400)."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from mediation import services, tokens
from mediation.api import ACTS
from mediation.models import MediationCase
from tests.factories import UserFactory
from tests.mediation.conftest import (
    URLS,
    client_for,
    detail,
    open_mediation,
    party_data,
    token_of,
)

pytestmark = [pytest.mark.django_db, pytest.mark.urls(URLS)]

ALL_ACTS = [*ACTS, "send_code"]


@pytest.fixture
def two(roster, people):
    """Two mediations: 卓玛 mediates the first; the second's parties have other links."""
    resident = UserFactory(username="party_user")
    first = open_mediation(people, choice_days=0, parties=party_data(p0={"user": resident.pk}))
    services.mediation_assign(first, services.Actor.of(people.centre_staff), mediator=roster.zhuoma)
    second = open_mediation(people)
    return MediationCase.objects.get(pk=first.pk), second, resident


def test_who_sees_a_mediation_case(roster, people, two):
    first, second, resident = two
    for user in (people.centre_staff, people.leader, roster.users.zhuoma, resident):
        assert detail(client_for(user), first).status_code == 200, user
    # A mediator of the committee who is not on this case, and outsiders.
    mediator_elsewhere = roster.users.labour
    for user in (people.outsider, people.sibling_staff, mediator_elsewhere):
        assert detail(client_for(user), first).status_code == 404, user
    # The party's own case only.
    assert detail(client_for(resident), second).status_code == 404
    # A mediator sees the case through the case scoping too (its grievance).
    r = client_for(roster.users.zhuoma).get(f"/api/v1/grievances/{first.grievance_id}/")
    assert r.status_code == 200


def test_the_lists(roster, people, two):
    first, second, resident = two

    def ids(user):
        r = client_for(user).get("/api/v1/mediation-cases/")
        assert r.status_code == 200
        return sorted(row["id"] for row in r.json()["results"])

    assert ids(people.centre_staff) == sorted([first.pk, second.pk])
    assert ids(roster.users.zhuoma) == [first.pk]
    assert ids(resident) == [first.pk]
    assert ids(people.outsider) == []
    r = client_for(people.centre_staff).get("/api/v1/mediation-cases/", {"status": "scheduled"})
    assert [row["id"] for row in r.json()["results"]] == [first.pk]
    assert r.json()["results"][0]["lead_mediator"] == "卓玛"
    assert ids(roster.users.labour) == []
    assert client_for().get("/api/v1/mediation-cases/").status_code in (401, 403)


def test_links(roster, people, two):
    first, second, _resident = two
    anon = client_for()
    assert detail(anon, first).status_code in (401, 403, 404)
    assert detail(anon, first, token=token_of(first, 1)).status_code == 200
    # The link of another case's party, a forged one, a revoked one: 404.
    assert detail(anon, first, token=token_of(second, 0)).status_code == 404
    assert detail(anon, first, token=token_of(first, 1) + "x").status_code == 404
    assert detail(anon, first, token="nonsense").status_code == 404
    party = first.parties.get(position=1)
    old = tokens.party_token(party)
    party.link_nonce = "renewed"
    party.save()
    assert detail(anon, first, token=old).status_code == 404
    assert detail(anon, first, token=tokens.party_token(party)).status_code == 200
    # Expired after MEDIATION_LINK_MAX_AGE_DAYS (90 by default).
    with time_machine.travel(timezone.now() + timedelta(days=91)):
        assert detail(anon, first, token=tokens.party_token(party)).status_code == 200
        assert detail(anon, first, token=old).status_code == 404
    token = tokens.party_token(party)
    with time_machine.travel(timezone.now() + timedelta(days=91)):
        assert detail(anon, first, token=token).status_code == 404
    # The roster for a case needs access to that case too.
    r = anon.get("/api/v1/mediators/", {"case": first.pk, "token": token_of(second, 0)})
    assert r.status_code == 404
    r = client_for(people.outsider).get("/api/v1/mediators/", {"case": first.pk})
    assert r.status_code == 404


@pytest.mark.parametrize("name", ALL_ACTS)
def test_every_act_is_404_outside_scope(roster, people, two, act, name):
    first, second, _ = two
    before = first.grievance.events.count()
    assert act(client_for(people.outsider), first, name, {}).status_code == 404
    assert act(client_for(), first, name, {}, token=token_of(second, 0)).status_code == 404
    assert act(client_for(), first, name, {}, token="forged").status_code == 404
    assert first.grievance.events.count() == before


# act -> who sees the first case (status scheduled) but may not do it
FORBIDDEN = {
    "choose": "mediator",
    "assign": "mediator",
    "schedule": "party",
    "record": "centre",
    "agreement": "party",
    "send_code": "centre",
    "sign": "centre",
    "settle": "party",
    "fail": "party",
    "rate": "mediator",
}


@pytest.mark.parametrize("name", ALL_ACTS)
def test_every_act_is_403_for_a_role_that_may_not(roster, people, two, act, name):
    first, _second, resident = two
    who = {
        "mediator": roster.users.zhuoma,
        "party": resident,
        "centre": people.centre_staff,
    }[FORBIDDEN[name]]
    r = act(client_for(who), first, name, {})
    assert r.status_code == 403, r.json()
    assert set(r.json()) == {"detail"}


# act -> who may do it, in a status where it is not possible (the second case is choosing;
# the first is scheduled)
WRONG_STATUS = {
    "choose": ("first", "party"),
    "assign": ("first", "centre"),
    "schedule": ("settled", "mediator"),
    "record": ("settled", "mediator"),
    "agreement": ("settled", "mediator"),
    "send_code": ("settled", "party"),
    "sign": ("settled", "party"),
    "settle": ("settled", "mediator"),
    "fail": ("settled", "mediator"),
    "rate": ("first", "party"),
}


@pytest.mark.parametrize("name", ALL_ACTS)
def test_every_act_is_409_in_the_wrong_status(roster, people, two, act, name):
    first, _second, resident = two
    which, who = WRONG_STATUS[name]
    if which == "settled":
        services.mediation_agreement(
            first, services.Actor.of(roster.users.zhuoma), text="协议", terms=[]
        )
        services.mediation_settle(
            first,
            services.Actor.of(roster.users.zhuoma),
            paper_signed=True,
            attachments=[_scan(first)],
        )
    user = {"mediator": roster.users.zhuoma, "party": resident, "centre": people.centre_staff}[who]
    r = act(client_for(user), first, name, {})
    assert r.status_code == 409, r.json()
    assert set(r.json()) == {"detail", "state"}


def _scan(mcase):
    from grievances.models import Attachment

    return Attachment.objects.create(grievance_id=mcase.grievance_id, file="cases/scan.jpg")


def test_fields_are_checked_last(roster, people, two, act):
    first, _second, _ = two
    r = act(client_for(roster.users.zhuoma), first, "schedule", {"starts_at": "tomorrow"})
    assert r.status_code == 400 and set(r.json()) == {"starts_at"}
