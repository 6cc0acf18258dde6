"""Two parties act on one mediation at the same moment: the last one's act sees the first's
(the grievance and the mediation case are locked in that order), so the appointment and the
settlement happen exactly once, and never not at all.

Real threads with their own connections, as in tests/grievances/test_concurrency.py.
"""

from __future__ import annotations

import time

import pytest

from grievances import services as case_services
from grievances.models import CaseEvent, Grievance, State
from mediation import services, tokens
from mediation.models import CaseStatus, MediationCase, OneTimeCode, Party
from tests.grievances.test_concurrency import race
from tests.mediation.conftest import open_mediation

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def slow_writer():
    """Hold each act's transaction open a little after its event, so the other thread is
    surely waiting on the lock rather than arriving after the commit."""

    def linger(sender, **kwargs):
        time.sleep(0.2)

    case_services.case_event.connect(linger, dispatch_uid="test-mediation-linger")
    yield
    case_services.case_event.disconnect(dispatch_uid="test-mediation-linger")


def as_party(party_pk: int, func, **kwargs):
    """An act by a party through their link, everything read in the acting thread."""

    def prepare():
        party = tokens.party_from_token(tokens.party_token(Party.objects.get(pk=party_pk)))
        case = (
            MediationCase.objects.select_related("grievance__region", "grievance__category")
            .prefetch_related("parties", "appointments__mediator")
            .get(pk=party.case_id)
        )
        party = next(p for p in case.parties.all() if p.pk == party_pk)
        return lambda: func(case, services.Actor(party=party), **kwargs)

    return prepare


def events(mcase, action) -> int:
    return CaseEvent.objects.filter(grievance_id=mcase.grievance_id, action=action).count()


def test_both_parties_choose_at_once(roster, people, slow_writer):
    mcase = open_mediation(people)
    a, b = mcase.parties.order_by("position")
    outcomes = race(
        as_party(a.pk, services.mediation_choose, mediator_ids=[roster.zhuoma.pk]),
        as_party(b.pk, services.mediation_choose, mediator_ids=[roster.zhuoma.pk]),
    )
    assert all(isinstance(o, MediationCase) for o in outcomes), outcomes
    fresh = MediationCase.objects.get(pk=mcase.pk)
    assert fresh.status == CaseStatus.SCHEDULED
    assert events(mcase, "mediation_appoint") == 1
    assert list(fresh.appointments.values_list("mediator", flat=True)) == [roster.zhuoma.pk]


def test_the_last_two_parties_sign_at_once(roster, people, slow_writer):
    mcase = open_mediation(people, choice_days=0)
    services.mediation_assign(mcase, services.Actor.of(people.centre_staff), mediator=roster.wang)
    mcase = MediationCase.objects.get(pk=mcase.pk)
    mediator = services.Actor.of(roster.users.wang)
    agreement = services.mediation_agreement(mcase, mediator, text="协议", terms=[])
    mcase = MediationCase.objects.get(pk=mcase.pk)
    services.mediation_sign(
        mcase, mediator, version=1, sha256=agreement.content_hash, typed_name="王建国"
    )
    a, b = mcase.parties.order_by("position")
    codes = {}
    for party in (a, b):
        mcase = MediationCase.objects.get(pk=mcase.pk)
        services.mediation_send_code(mcase, services.Actor(party=party))
        # The SMS goes on commit (not captured here): set a known code instead.
        OneTimeCode.objects.filter(party=party).update(
            code_hash=tokens.code_hash(party.pk, "246810")
        )
        codes[party.pk] = "246810"

    def sign(party):
        return as_party(
            party.pk,
            services.mediation_sign,
            version=1,
            sha256=agreement.content_hash,
            typed_name=party.name,
            code=codes[party.pk],
        )

    outcomes = race(sign(a), sign(b))
    assert not [o for o in outcomes if isinstance(o, BaseException)], outcomes
    assert MediationCase.objects.get(pk=mcase.pk).status == CaseStatus.SETTLED
    assert Grievance.objects.get(pk=mcase.grievance_id).state == State.HANDLED
    assert events(mcase, "mediation_sign") == 3
    assert events(mcase, "mediation_settled") == 1
