"""答复: the centre answers a consultation (咨询) itself and closes it (grievances'
`answer` act): accepted if it was waiting, handled with the answer as the public result,
verified and closed, in one transaction; the complainant hears of the acceptance and of the
closing with the rating link, as for any case. Only consultations, only the centre."""

from __future__ import annotations

import pytest

from grievances import services, sms
from grievances.models import CaseEvent, Grievance, RequestType, State
from grievances.relay import relay_batch
from notifications.tasks import deliver_notifications
from tests.grievances.conftest import PHONE, advance, api_as, new_case, post_act

pytestmark = pytest.mark.django_db

ANSWER = "申请低保需准备户口簿、身份证和收入证明，交到村委会。"


def consultation(user, **extra):
    return new_case(
        user, category="hardship.assistance", request_type=RequestType.CONSULTATION, **extra
    )


def test_the_api_answers_a_submitted_consultation_and_closes_it(tree, people, settings):
    settings.SMS_BACKEND = "grievances.sms.LocmemBackend"
    sms.outbox.clear()
    case = consultation(people.grid_worker)
    r = post_act(api_as(people.centre_staff), case, "answer", {"answer": ANSWER})
    assert r.status_code == 200, r.content
    body = r.json()
    assert body["state"] == "closed" and body["result"] == ANSWER
    events = CaseEvent.objects.filter(grievance=case).order_by("id")
    assert [(e.action, e.to_state) for e in events] == [
        ("submit", "submitted"),
        ("accept", "accepted"),
        ("answer", "handled"),
        ("verify", "closed"),
    ]
    relay_batch()
    deliver_notifications()
    got = [m.text for m in sms.outbox if m.phone == PHONE]
    assert len(got) == 3 and "已受理" in got[1] and "已办结" in got[2], got


def test_an_accepted_consultation_is_answered_too(tree, people):
    case = advance(consultation(people.grid_worker), State.ACCEPTED, people)
    case = services.grievance_answer(case, people.centre_staff, answer=ANSWER)
    assert case.state == State.CLOSED
    assert CaseEvent.objects.filter(grievance=case, action="accept").count() == 1


def test_refusals(tree, people):
    complaint = new_case(people.grid_worker)
    centre = api_as(people.centre_staff)
    r = post_act(centre, complaint, "answer", {"answer": ANSWER})
    assert r.status_code == 409
    asked = consultation(people.grid_worker, title="另一件")
    r = post_act(centre, asked, "answer", {"answer": "   "})
    assert r.status_code == 400 and "answer" in r.json()
    r = post_act(api_as(people.grid_worker), asked, "answer", {"answer": ANSWER})
    assert r.status_code == 403
    r = post_act(api_as(people.outsider), asked, "answer", {"answer": ANSWER})
    assert r.status_code == 404
    dispatched = advance(consultation(people.grid_worker, title="第三件"), State.DISPATCHED, people)
    assert post_act(centre, dispatched, "answer", {"answer": ANSWER}).status_code == 409
    assert Grievance.objects.get(pk=asked.pk).state == State.SUBMITTED


def test_the_case_page_offers_the_act_to_the_centre_for_consultations_only(tree, people):
    from django.test import Client

    client = Client()
    client.force_login(people.centre_staff)
    asked = consultation(people.grid_worker)
    complaint = new_case(people.grid_worker, title="投诉")
    assert 'id="act-answer"' in client.get(f"/cases/{asked.pk}/").content.decode()
    assert 'id="act-answer"' not in client.get(f"/cases/{complaint.pk}/").content.decode()
    r = client.post(f"/cases/{asked.pk}/act/answer/", {"answer": ""})
    assert r.status_code == 400 and "act-answer-answer_error" in r.content.decode()
