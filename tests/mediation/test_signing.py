"""The agreement and its signatures (云调解): versions, one-time codes by SMS, the hash that
was shown, and settling once every party and the lead mediator signed the current version."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine

from grievances.labels import shown
from grievances.models import Attachment, CaseEvent, Grievance, State
from mediation import selectors, services
from mediation.models import (
    Agreement,
    CaseStatus,
    MediationCase,
    OneTimeCode,
    Signature,
    content_hash,
)
from tests.factories import UserFactory
from tests.mediation.conftest import (
    PHONE_A,
    PHONE_B,
    URLS,
    client_for,
    code_from_outbox,
    detail,
    open_mediation,
    party_data,
    token_of,
)

pytestmark = [pytest.mark.django_db, pytest.mark.urls(URLS)]

SH = ZoneInfo("Asia/Shanghai")
TERMS = [
    {"obligor": 0, "obligation": "赔偿院墙修缮费", "amount": "1200.00", "due_date": "2026-12-01"},
    {"obligor": 1, "obligation": "拆除越界堆放的柴草", "due_date": "2026-11-30"},
]


def fresh(mcase) -> MediationCase:
    return MediationCase.objects.get(pk=mcase.pk)


@pytest.fixture
def appointed(roster, people):
    """A mediation with 卓玛 appointed as lead (and 王建国 assisting)."""
    mcase = open_mediation(people, choice_days=0)
    services.mediation_assign(
        mcase,
        services.Actor.of(people.centre_staff),
        mediator=roster.zhuoma,
        assisting=[roster.wang],
    )
    return fresh(mcase)


def party_ids(mcase) -> list[int]:
    return list(mcase.parties.order_by("position").values_list("pk", flat=True))


def draft(act, mcase, mediator_user, *, text="双方自愿达成如下协议。", terms=TERMS):
    ids = party_ids(mcase)
    body = {
        "text": text,
        "terms": [{**t, "obligor": ids[t["obligor"]]} for t in terms],
    }
    r = act(client_for(mediator_user), mcase, "agreement", body)
    assert r.status_code == 200, r.json()
    return r.json()["agreement"]


def sign_as_party(act, mcase, index, agreement, *, name=None, code=None, version=None, sha=None):
    token = token_of(mcase, index)
    phone = [PHONE_A, PHONE_B][index]
    if code is None:
        r = act(client_for(), mcase, "send_code", token=token)
        assert r.status_code == 200, r.json()
        code = code_from_outbox(phone)
    return act(
        client_for(),
        mcase,
        "sign",
        {
            "version": version or agreement["version"],
            "sha256": sha or agreement["sha256"],
            "typed_name": name or ["甲某", "乙某"][index],
            "code": code,
        },
        token=token,
    )


def sign_as_mediator(act, mcase, user, name, agreement):
    return act(
        client_for(user),
        mcase,
        "sign",
        {"version": agreement["version"], "sha256": agreement["sha256"], "typed_name": name},
    )


def test_the_agreement_hash_covers_version_terms_and_text(roster, appointed, act):
    agreement = draft(act, appointed, roster.users.zhuoma)
    row = Agreement.objects.get(case=appointed)
    assert agreement["version"] == 1
    assert agreement["sha256"] == row.content_hash == row.compute_hash()
    assert row.content_hash == content_hash(1, row.text, row.canonical_terms())
    assert [t["amount"] for t in agreement["terms"]] == ["1200.00", None]
    # Drafted by an assisting mediator, too; a new version, a new hash.
    again = draft(act, appointed, roster.users.wang)
    assert again["version"] == 2 and again["sha256"] != agreement["sha256"]
    assert again["terms"][0]["obligor"]["name"] == "甲某"


def test_everyone_signs_and_the_case_is_handled(roster, appointed, act):
    agreement = draft(act, appointed, roster.users.zhuoma)
    r = sign_as_party(act, appointed, 0, agreement)
    assert r.status_code == 200, r.json()
    assert r.json()["me"]["signed_current"] is True
    assert r.json()["status"] == "scheduled"
    r = sign_as_mediator(act, appointed, roster.users.zhuoma, "卓玛", agreement)
    assert r.status_code == 200, r.json()
    assert r.json()["status"] == "scheduled"  # the other party has not signed
    r = sign_as_party(act, appointed, 1, agreement)
    assert r.status_code == 200, r.json()
    body = r.json()
    assert body["status"] == "settled"
    assert body["agreement"]["fully_signed"] is True
    mcase = fresh(appointed)
    assert mcase.settled_agreement_id == Agreement.objects.get(case=mcase).pk
    case = Grievance.objects.get(pk=mcase.grievance_id)
    assert case.state == State.HANDLED and case.handled_at
    assert "赔偿院墙修缮费" in case.result and "1,200.00" in case.result
    events = list(CaseEvent.objects.filter(grievance=case).order_by("id"))
    assert [e.action for e in events][-4:] == [
        "mediation_sign",
        "mediation_code_sent",
        "mediation_sign",
        "mediation_settled",
    ]
    settled = events[-1]
    assert (settled.from_state, settled.to_state) == ("mediating", "handled")
    assert settled.actor_label == "泽当街道人民调解委员会" and settled.public
    assert settled.data["agreement_version"] == 1
    signatures = list(Signature.objects.order_by("id"))
    assert [(s.typed_name, s.version, s.via_link) for s in signatures] == [
        ("甲某", 1, True),
        ("卓玛", 1, False),
        ("乙某", 1, True),
    ]
    assert {s.sha256 for s in signatures} == {agreement["sha256"]}
    assert all(s.ip == "127.0.0.1" for s in signatures)
    # A printable agreement has all it needs.
    context = selectors.agreement_context(mcase.settled_agreement)
    assert context["case_code"] == case.display_code
    assert context["org"]["name"] == "泽当街道人民调解委员会"
    assert [p["name"] for p in context["parties"]] == ["甲某", "乙某"]
    assert [s["signer"] for s in context["signatures"]] == ["甲某", "卓玛", "乙某"]
    assert context["fully_signed"] and context["is_current"]
    assert str(context["total_amount"]) == "1200.00"


def test_a_wrong_code_counts_and_five_end_the_code(roster, appointed, act):
    agreement = draft(act, appointed, roster.users.zhuoma)
    token = token_of(appointed, 0)
    r = act(client_for(), appointed, "send_code", token=token)
    assert r.status_code == 200 and r.json()["sent_to"] == "138****0001"
    right = code_from_outbox(PHONE_A)
    wrong = f"{(int(right) + 1) % 1000000:06d}"
    for left in (4, 3, 2, 1):
        r = sign_as_party(act, appointed, 0, agreement, code=wrong)
        assert r.status_code == 400
        assert r.json() == {"code": [f"Wrong code: {left} tries left."]}
    r = sign_as_party(act, appointed, 0, agreement, code=wrong)
    assert r.status_code == 400
    assert OneTimeCode.objects.get().attempts == 5
    # Now even the right code is refused: a new one is needed.
    r = sign_as_party(act, appointed, 0, agreement, code=right)
    assert r.status_code == 400
    assert r.json() == {"code": ["Too many wrong codes: ask for a new one."]}
    assert not Signature.objects.exists()


def test_an_expired_code_is_refused(roster, appointed, act):
    agreement = draft(act, appointed, roster.users.zhuoma)
    start = datetime(2026, 11, 10, 10, 0, tzinfo=SH)
    with time_machine.travel(start, tick=False) as clock:
        r = act(client_for(), appointed, "send_code", token=token_of(appointed, 0))
        assert r.status_code == 200
        code = code_from_outbox(PHONE_A)
        clock.move_to(start + timedelta(minutes=10, seconds=1))
        r = sign_as_party(act, appointed, 0, agreement, code=code)
        assert r.status_code == 400
        assert r.json() == {"code": ["This code has expired: ask for a new one."]}
        # A new code (a minute later is allowed) works.
        r = sign_as_party(act, appointed, 0, agreement)
        assert r.status_code == 200, r.json()


def test_codes_are_limited(roster, appointed, act):
    draft(act, appointed, roster.users.zhuoma)
    token = token_of(appointed, 0)
    start = datetime(2026, 11, 10, 10, 0, tzinfo=SH)
    with time_machine.travel(start, tick=False) as clock:
        assert act(client_for(), appointed, "send_code", token=token).status_code == 200
        r = act(client_for(), appointed, "send_code", token=token)
        assert r.status_code == 400
        assert r.json() == {"code": ["Wait a minute before asking for a new code."]}
        for minute in range(1, 5):
            clock.move_to(start + timedelta(minutes=minute))
            assert act(client_for(), appointed, "send_code", token=token).status_code == 200
        clock.move_to(start + timedelta(minutes=6))
        r = act(client_for(), appointed, "send_code", token=token)
        assert r.status_code == 400
    # The older codes no longer work: only the last one sent.
    assert OneTimeCode.objects.filter(expires_at__gt=start + timedelta(minutes=5)).count() == 1


def test_a_signature_on_an_old_version_is_refused(roster, appointed, act):
    v1 = draft(act, appointed, roster.users.zhuoma)
    assert sign_as_party(act, appointed, 0, v1).status_code == 200
    assert sign_as_mediator(act, appointed, roster.users.zhuoma, "卓玛", v1).status_code == 200
    v2 = draft(act, appointed, roster.users.zhuoma, text="修改后的协议。")
    # 乙某 still has version 1 on screen.
    with time_machine.travel(datetime.now(tz=SH) + timedelta(minutes=2)):
        r = sign_as_party(act, appointed, 1, v1)
    assert r.status_code == 409
    assert r.json()["detail"] == "Version 1 is not the current one: read version 2 and sign it."
    assert r.json()["state"] == "scheduled"
    # Signing version 2: the version-1 signatures of 甲某 and 卓玛 no longer count.
    with time_machine.travel(datetime.now(tz=SH) + timedelta(minutes=4)):
        r = sign_as_party(act, appointed, 1, v2)
    assert r.status_code == 200, r.json()
    body = r.json()
    assert body["status"] == "scheduled" and body["agreement"]["fully_signed"] is False
    assert [p["signed_current"] for p in body["parties"]] == [False, True]
    with time_machine.travel(datetime.now(tz=SH) + timedelta(minutes=6)):
        assert sign_as_party(act, appointed, 0, v2).status_code == 200
    r = sign_as_mediator(act, appointed, roster.users.zhuoma, "卓玛", v2)
    assert r.json()["status"] == "settled"
    assert fresh(appointed).settled_agreement.version == 2


def test_the_fields_of_a_signature_are_checked(roster, appointed, act):
    agreement = draft(act, appointed, roster.users.zhuoma)
    r = sign_as_party(act, appointed, 0, agreement, sha="0" * 64)
    assert r.status_code == 400 and set(r.json()) == {"sha256"}
    r = sign_as_party(act, appointed, 0, agreement, name="乙某", code="000000")
    assert r.status_code == 400 and set(r.json()) == {"typed_name"}
    r = act(
        client_for(),
        appointed,
        "sign",
        {"version": 1, "sha256": agreement["sha256"], "typed_name": "甲某"},
        token=token_of(appointed, 0),
    )
    assert r.status_code == 400 and set(r.json()) == {"code"}
    # The name typed with spaces is the same name.
    with time_machine.travel(datetime.now(tz=SH) + timedelta(minutes=2)):
        assert sign_as_party(act, appointed, 0, agreement, name=" 甲 某 ").status_code == 200
        r = sign_as_party(act, appointed, 0, agreement, code="123456")
    assert r.status_code == 409
    assert r.json()["detail"] == "You have already signed version 1."


def test_who_signs(roster, appointed, people, act):
    agreement = draft(act, appointed, roster.users.zhuoma)
    # Staff who see the case but are neither a party nor its mediator.
    r = sign_as_mediator(act, appointed, people.centre_staff, "centre_staff", agreement)
    assert r.status_code == 403
    # The assisting mediator may sign; only the lead's signature is required.
    r = sign_as_mediator(act, appointed, roster.users.wang, "王建国", agreement)
    assert r.status_code == 200
    r = sign_as_mediator(act, appointed, roster.users.zhuoma, "次仁", agreement)
    assert r.status_code == 400 and set(r.json()) == {"typed_name"}


def test_nothing_to_sign_before_an_agreement(roster, appointed, act):
    r = act(client_for(), appointed, "send_code", token=token_of(appointed, 0))
    assert r.status_code == 409
    assert r.json()["detail"] == "There is no agreement to sign yet."
    r = act(client_for(roster.users.zhuoma), appointed, "settle", {})
    assert r.status_code == 409


def test_a_party_with_an_account_signs_logged_in(roster, people, act):
    resident = UserFactory(username="party_a")
    mcase = open_mediation(people, choice_days=0, parties=party_data(p0={"user": resident.pk}))
    services.mediation_assign(mcase, services.Actor.of(people.centre_staff), mediator=roster.wang)
    agreement = draft(act, mcase, roster.users.wang)
    me = client_for(resident)
    assert act(me, mcase, "send_code").status_code == 200
    r = act(
        me,
        mcase,
        "sign",
        {
            "version": 1,
            "sha256": agreement["sha256"],
            "typed_name": "甲某",
            "code": code_from_outbox(PHONE_A),
        },
    )
    assert r.status_code == 200, r.json()
    signature = Signature.objects.get()
    assert signature.user == resident and not signature.via_link
    event = CaseEvent.objects.filter(action="mediation_sign").get()
    assert event.actor == resident and shown(event.actor_label) == "Party 甲某"


def test_settling_on_paper_needs_the_scans(roster, appointed, people, act):
    draft(act, appointed, roster.users.zhuoma)
    mediator = client_for(roster.users.zhuoma)
    r = act(mediator, appointed, "settle", {})
    assert r.status_code == 409
    assert r.json()["detail"] == (
        "Version 1 is not signed by everyone yet: 甲某, 乙某, the lead mediator."
    )
    r = act(mediator, appointed, "settle", {"paper_signed": True})
    assert r.status_code == 400 and set(r.json()) == {"attachments"}
    scan = Attachment.objects.create(
        grievance_id=appointed.grievance_id, file="cases/2026/11/scan.jpg", original_name="协议.jpg"
    )
    r = act(mediator, appointed, "settle", {"paper_signed": True, "attachments": [scan.pk]})
    assert r.status_code == 200, r.json()
    assert r.json()["status"] == "settled"
    event = CaseEvent.objects.filter(action="mediation_settled").get()
    assert event.data["signed_on_paper"] is True
    assert list(event.attachments.all()) == [scan]
    assert Grievance.objects.get(pk=appointed.grievance_id).state == State.HANDLED
    assert fresh(appointed).status == CaseStatus.SETTLED


def test_the_party_sees_the_agreement_through_the_link(roster, appointed, act):
    agreement = draft(act, appointed, roster.users.zhuoma)
    r = detail(client_for(), appointed, token=token_of(appointed, 1))
    assert r.status_code == 200
    body = r.json()
    assert body["agreement"]["sha256"] == agreement["sha256"]
    assert body["me"]["name"] == "乙某"
    assert body["available_acts"] == ["send_code", "sign"]
    # Phones of the parties are masked for a party; the mediators see them.
    assert [p["phone"] for p in body["parties"]] == ["138****0001", "138****0002"]
    r = detail(client_for(roster.users.zhuoma), appointed)
    assert [p["phone"] for p in r.json()["parties"]] == [PHONE_A, PHONE_B]
    assert r.json()["available_acts"] == [
        "schedule",
        "record",
        "agreement",
        "sign",
        "settle",
        "fail",
    ]
