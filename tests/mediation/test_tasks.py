"""Follow-up on performance: the mediator is reminded of each agreement term on its due
date, once."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core import mail

from grievances import sms
from grievances.labels import shown
from grievances.models import Attachment, CaseEvent
from mediation import services, tasks
from mediation.models import AgreementTerm, MediationCase
from tests.mediation.conftest import URLS, open_mediation

pytestmark = [pytest.mark.django_db, pytest.mark.urls(URLS)]

SH = ZoneInfo("Asia/Shanghai")
MEDIATOR_PHONE = "13900000011"  # 卓玛's account


def settle_with_terms(people, roster, terms, *, settle=True):
    mcase = open_mediation(people, choice_days=0)
    services.mediation_assign(mcase, services.Actor.of(people.centre_staff), mediator=roster.zhuoma)
    mcase = MediationCase.objects.get(pk=mcase.pk)
    actor = services.Actor.of(roster.users.zhuoma)
    payer = mcase.parties.order_by("position").last()
    services.mediation_agreement(mcase, actor, terms=[{"obligor": payer.pk, **t} for t in terms])
    if settle:
        scan = Attachment.objects.create(grievance_id=mcase.grievance_id, file="cases/scan.jpg")
        services.mediation_settle(mcase, actor, paper_signed=True, attachments=[scan])
    return MediationCase.objects.get(pk=mcase.pk)


def test_terms_are_reminded_on_their_due_date_once(
    roster, people, django_capture_on_commit_callbacks
):
    roster.users.zhuoma.email = "zhuoma@example.org"
    roster.users.zhuoma.save()
    mcase = settle_with_terms(
        people,
        roster,
        [
            {
                "obligation": "支付第一期",
                "amount": "3000",
                "due_date": "2026-10-15",
                "instalment": 1,
            },
            {
                "obligation": "支付第二期",
                "amount": "3000",
                "due_date": "2026-11-05",
                "instalment": 2,
            },
        ],
    )
    # Unsettled mediations and terms without a date are not followed up.
    settle_with_terms(
        people, roster, [{"obligation": "草拟中", "due_date": "2026-10-01"}], settle=False
    )
    settle_with_terms(people, roster, [{"obligation": "赔礼道歉"}])
    sms.outbox.clear()
    with (
        time_machine.travel(datetime(2026, 10, 14, 8, 30, tzinfo=SH)),
        django_capture_on_commit_callbacks(execute=True),
    ):
        assert tasks.remind_due_terms.apply().get() == 0
    with (
        time_machine.travel(datetime(2026, 10, 15, 8, 30, tzinfo=SH)),
        django_capture_on_commit_callbacks(execute=True),
    ):
        assert tasks.remind_due_terms.apply().get() == 1
        assert tasks.remind_due_terms.apply().get() == 0  # twice: harmless
    assert [m.phone for m in sms.outbox] == [MEDIATOR_PHONE]
    assert "支付第一期" in sms.outbox[0].text and "2026-10-15" in sms.outbox[0].text
    assert [m.to for m in mail.outbox] == [["zhuoma@example.org"]]
    event = CaseEvent.objects.filter(action="mediation_term_due").get()
    assert event.grievance_id == mcase.grievance_id and shown(event.actor_label) == "System"
    # A missed day is caught up the next time.
    with (
        time_machine.travel(datetime(2026, 11, 9, 8, 30, tzinfo=SH)),
        django_capture_on_commit_callbacks(execute=True),
    ):
        assert tasks.remind_due_terms.apply().get() == 1
    assert AgreementTerm.objects.filter(reminded_at__isnull=False).count() == 2
