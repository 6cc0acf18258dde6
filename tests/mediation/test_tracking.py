"""What public tracking shows of a mediated case: the outcome and its dates, never the
agreement's terms, the parties' names or the amounts (each party reads those on their own
mediation page, through their personal link)."""

from __future__ import annotations

import json
from html import unescape

import pytest
from django.test import Client
from rest_framework.test import APIClient

from grievances.models import Attachment, Grievance, State
from mediation import services
from mediation.models import MediationCase, Referral
from tests.factories import UserFactory
from tests.grievances.conftest import PHONE
from tests.mediation.conftest import (
    URLS,
    client_for,
    detail,
    open_mediation,
    party_data,
    token_of,
)
from tests.mediation.test_signing import draft, sign_as_mediator, sign_as_party

pytestmark = [pytest.mark.django_db, pytest.mark.urls(URLS)]

# What the agreement of tests.mediation.test_signing.TERMS holds, and who the parties are.
SECRETS = ("甲某", "乙某", "1200", "1,200", "赔偿院墙修缮费", "拆除越界堆放的柴草", "双方自愿达成")


@pytest.fixture
def appointed(roster, people):
    mcase = open_mediation(people, choice_days=0)
    services.mediation_assign(mcase, services.Actor.of(people.centre_staff), mediator=roster.zhuoma)
    return MediationCase.objects.get(pk=mcase.pk)


@pytest.fixture
def settled(roster, appointed, act) -> Grievance:
    """Everyone signed the agreement: the case is handled by mediation."""
    agreement = draft(act, appointed, roster.users.zhuoma)
    for signed in (
        sign_as_party(act, appointed, 0, agreement),
        sign_as_mediator(act, appointed, roster.users.zhuoma, "卓玛", agreement),
        sign_as_party(act, appointed, 1, agreement),
    ):
        assert signed.status_code == 200, signed.json()
    case = Grievance.objects.get(pk=appointed.grievance_id)
    assert case.state == State.HANDLED
    assert "赔偿院墙修缮费" in case.result  # what the staff see: the terms in full
    return case


def tracked_json(case) -> dict:
    r = APIClient(HTTP_ACCEPT_LANGUAGE="en").get(
        f"/api/v1/track/{case.display_code}/", {"phone_last4": PHONE[-4:]}
    )
    assert r.status_code == 200, r.json()
    return r.json()


def tracked_page(case) -> str:
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    r = client.post("/track/", {"act": "lookup", "code": case.display_code, "last4": PHONE[-4:]})
    assert r.status_code == 302, r.content
    r = client.get("/track/")
    assert r.status_code == 200
    return unescape(r.content.decode())


def assert_nothing_of_the_terms(text: str) -> None:
    leaked = [s for s in SECRETS if s in text]
    assert not leaked, leaked


def test_tracking_a_settled_case_shows_the_outcome_not_the_terms(settled):
    body = tracked_json(settled)
    assert_nothing_of_the_terms(json.dumps(body, ensure_ascii=False))
    assert body["state"] == State.HANDLED
    assert body["result"] == (
        "Settled by mediation: the parties reached an agreement and signed it. "
        "Each party reads its terms on their own mediation page."
    )
    actions = [e["action"] for e in body["timeline"]]
    assert "mediation_settled" in actions and "mediate" in actions
    settled_event = next(e for e in body["timeline"] if e["action"] == "mediation_settled")
    assert settled_event["label"] == "Settled by mediation"
    assert settled_event["created_at"] and settled_event["note"] == ""

    page = tracked_page(settled)
    assert_nothing_of_the_terms(page)
    assert "Settled by mediation: the parties reached an agreement and signed it." in page
    assert 'data-action="mediation_settled"' in page


def test_each_party_still_reads_the_terms_on_their_own_page(settled, appointed):
    body = detail(client_for(), appointed, token=token_of(appointed, 0)).json()
    terms = body["agreement"]["terms"]
    assert [t["obligation"] for t in terms] == ["赔偿院墙修缮费", "拆除越界堆放的柴草"]
    assert terms[0]["amount"] == "1200.00"


def test_tracking_a_failed_mediation_shows_that_it_failed_not_why(roster, appointed, act):
    r = act(
        client_for(roster.users.zhuoma),
        appointed,
        "fail",
        {"record": "乙某拒绝赔偿1200元，甲某坚持诉讼", "referral": Referral.COURT},
    )
    assert r.status_code == 200, r.json()
    case = Grievance.objects.get(pk=appointed.grievance_id)
    body = tracked_json(case)
    assert_nothing_of_the_terms(json.dumps(body, ensure_ascii=False))
    assert body["state"] == State.ACCEPTED and body["result"] == ""
    failed = next(e for e in body["timeline"] if e["action"] == "mediation_failed")
    assert failed["label"] == "Mediation failed" and failed["note"] == ""

    page = tracked_page(case)
    assert_nothing_of_the_terms(page)
    assert 'data-action="mediation_failed"' in page and "Mediation failed" in page


def test_scans_of_an_agreement_signed_on_paper_are_not_public(roster, appointed, act):
    draft(act, appointed, roster.users.zhuoma)
    # Uploaded as public by mistake (the API's upload takes the flag as given).
    scan = Attachment.objects.create(
        grievance_id=appointed.grievance_id,
        file="cases/2026/11/scan.jpg",
        original_name="协议.jpg",
        public=True,
    )
    r = act(
        client_for(roster.users.zhuoma),
        appointed,
        "settle",
        {"paper_signed": True, "attachments": [scan.pk]},
    )
    assert r.status_code == 200, r.json()
    scan.refresh_from_db()
    assert scan.public is False
    case = Grievance.objects.get(pk=appointed.grievance_id)
    assert f"/cases/attachments/{scan.pk}/" not in tracked_page(case)


def test_a_reporter_with_an_account_reads_the_outcome_not_the_terms(settled):
    """A resident who reported through their account (and holds no role over the case)
    reads it as tracking shows it, on the API and on the case page."""
    resident = UserFactory()
    Grievance.objects.filter(pk=settled.pk).update(reporter=resident)
    api = APIClient(HTTP_ACCEPT_LANGUAGE="en")
    api.force_authenticate(resident)
    body = api.get(f"/api/v1/grievances/{settled.pk}/").json()
    assert_nothing_of_the_terms(json.dumps(body, ensure_ascii=False))
    assert body["result"].startswith("Settled by mediation")
    assert body["events"] and all(e["public"] and e["actor"] is None for e in body["events"])

    page = Client(HTTP_ACCEPT_LANGUAGE="en")
    page.force_login(resident)
    r = page.get(f"/cases/{settled.pk}/")
    assert r.status_code == 302 and r["Location"] == "/track/"
    text = unescape(page.get("/track/").content.decode())
    assert settled.display_code in text
    assert "Settled by mediation" in text
    assert_nothing_of_the_terms(text)


def test_a_reporter_who_is_no_party_does_not_reach_the_mediation_case(settled, appointed, people):
    """Reporting the dispute does not make a resident a party: the mediation API and pages
    (the parties' names, phones, the agreement's terms) stay closed to them."""
    resident = UserFactory()
    Grievance.objects.filter(pk=settled.pk).update(reporter=resident)
    api = client_for(resident)
    listed = api.get("/api/v1/mediation-cases/")
    assert listed.status_code == 200
    assert_nothing_of_the_terms(json.dumps(listed.json(), ensure_ascii=False))
    assert detail(api, appointed).status_code == 404
    page = Client(HTTP_ACCEPT_LANGUAGE="en")
    page.force_login(resident)
    assert page.get(f"/mediation/{appointed.pk}/").status_code == 404
    assert page.get(f"/mediation/{appointed.pk}/agreement/").status_code == 404
    # The centre still reads it all.
    staff = detail(client_for(people.centre_staff), appointed)
    assert staff.status_code == 200
    assert "赔偿院墙修缮费" in json.dumps(staff.json(), ensure_ascii=False)


def test_a_party_who_reported_still_reaches_their_mediation_case(roster, people):
    resident = UserFactory()
    mcase = open_mediation(people, parties=party_data(p0={"user": resident.pk}))
    Grievance.objects.filter(pk=mcase.grievance_id).update(reporter=resident)
    body = detail(client_for(resident), mcase)
    assert body.status_code == 200, body.json()
    assert body.json()["me"] is not None
