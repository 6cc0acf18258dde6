"""Joining an open case (这就是我要反映的): the limits of a join, the centre's confirmation
(a complainant, the tracking code by SMS to them alone) or refusal, and who may decide."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from duplicates import services
from duplicates.models import Join
from grievances import services as cases
from grievances.models import CaseEvent, Complainant, Grievance
from tests.duplicates.conftest import flush, texts
from tests.grievances.conftest import PHONE, advance, new_case

pytestmark = pytest.mark.django_db

JOINER = "13911112222"


def join(case, phone=JOINER, name="李四", **extra) -> Join | None:
    return services.join_submit(case, name=name, phone=phone, **extra)


def test_a_confirmed_joiner_becomes_a_complainant_and_alone_gets_the_code(people):
    case = new_case(people.grid_worker)
    flush()
    assert len(texts(PHONE)) == 1  # the reporter's code
    pending = join(case)
    assert pending.state == Join.State.PENDING
    # Waiting joins do not count.
    assert Complainant.objects.filter(grievance=case).count() == 1

    done = services.join_confirm(pending, people.centre_staff)
    assert done.state == Join.State.CONFIRMED
    assert done.decided_by == people.centre_staff and done.decided_at is not None
    person = Complainant.objects.get(grievance=case, phone=JOINER)
    assert done.complainant == person and not person.is_reporter and person.position == 1
    event = CaseEvent.objects.get(grievance=case, action="join")
    assert event.public and event.data["complainant"] == person.pk
    assert Grievance.objects.get(pk=case.pk).version > case.version

    flush()
    [message] = texts(JOINER)
    assert case.display_code in message
    assert len(texts(PHONE)) == 1  # the reporter is not told again


def test_a_declined_join_changes_nothing_and_sends_nothing(people):
    case = new_case(people.grid_worker)
    flush()
    version = Grievance.objects.get(pk=case.pk).version
    declined = services.join_decline(join(case), people.centre_staff)
    assert declined.state == Join.State.DECLINED
    assert declined.decided_by == people.centre_staff
    flush()
    assert texts(JOINER) == []
    assert Complainant.objects.filter(grievance=case).count() == 1
    assert Grievance.objects.get(pk=case.pk).version == version
    with pytest.raises(cases.WrongState):
        services.join_confirm(declined, people.centre_staff)


def test_one_phone_joins_a_case_once(people):
    case = new_case(people.grid_worker)
    join(case)
    # The same digits typed otherwise: no second join, and no error that would tell the
    # sender the phone follows the case.
    assert join(case, phone="139 1111 2222") is None
    # The reporter's own phone follows the case already.
    assert join(case, phone=PHONE) is None
    assert Join.objects.filter(grievance=case).count() == 1


def test_joins_waiting_on_one_case_are_limited(people):
    case = new_case(people.grid_worker)
    for i in range(services.MAX_PENDING_PER_CASE):
        join(case, phone=f"1390000{i:04d}")
    with pytest.raises(cases.WrongState):
        join(case, phone="13999999999")
    # A decision makes room.
    services.join_decline(Join.objects.filter(grievance=case).first(), people.centre_staff)
    join(case, phone="13999999999")


def test_a_case_no_longer_open_cannot_be_joined_or_confirmed(people):
    case = new_case(people.grid_worker)
    pending = join(case)
    closed = advance(case, "closed", people)
    with pytest.raises(cases.WrongState) as refused:
        join(closed, phone="13922223333")
    assert refused.value.message == "该事项已办结，已不能加入。请单独反映。"
    with pytest.raises(cases.WrongState):
        services.join_confirm(pending, people.centre_staff)
    assert Join.objects.get(pk=pending.pk).state == Join.State.PENDING  # rolled back


def test_only_the_centre_of_the_case_decides(people, depts):
    case = new_case(people.grid_worker)
    pending = join(case)
    for user in (people.grid_worker, people.outsider, people.sibling_staff, depts.staff.transport):
        with pytest.raises(cases.NotAllowed):
            services.join_confirm(pending, user)
        with pytest.raises(cases.NotAllowed):
            services.join_decline(pending, user)
    assert Join.objects.get(pk=pending.pk).state == Join.State.PENDING


def test_a_stale_version_confirms_nothing(people):
    case = new_case(people.grid_worker)
    pending = join(case)
    with pytest.raises(cases.Stale):
        services.join_confirm(pending, people.centre_staff, versions={case.version + 5})
    assert Join.objects.get(pk=pending.pk).state == Join.State.PENDING
    services.join_confirm(pending, people.centre_staff, versions={case.version})


def test_a_forged_or_expired_token_names_no_case(people, settings):
    case = new_case(people.grid_worker)
    token = services.join_token(case.pk)
    assert services.case_of_token(token) == case
    assert services.case_of_token(token[:-2] + "xx") is None
    assert services.case_of_token("123") is None
    # Another salt (another feature's signature) does not pass.
    from django.core import signing

    assert services.case_of_token(signing.dumps(case.pk, salt="other")) is None
    settings.SECRET_KEY = "another-key-for-this-test-only-0123456789"
    assert services.case_of_token(token) is None


@pytest.mark.django_db(transaction=True)
def test_two_staff_confirming_at_once_add_one_complainant(tree, people, require_postgres):
    case = new_case(people.grid_worker)
    pending = join(case)
    other = type(people.centre_staff).objects.get(pk=people.centre_staff.pk)
    barrier = threading.Barrier(2)
    outcomes = []

    def confirm(user):
        try:
            barrier.wait()
            services.join_confirm(Join.objects.select_related("grievance").get(pk=pending.pk), user)
            outcomes.append("ok")
        except cases.WrongState:
            outcomes.append("refused")
        finally:
            connection.close()

    threads = [threading.Thread(target=confirm, args=(u,)) for u in (people.centre_staff, other)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["ok", "refused"]
    assert Complainant.objects.filter(grievance=case, phone=JOINER).count() == 1
    assert CaseEvent.objects.filter(grievance=case, action="join").count() == 1
