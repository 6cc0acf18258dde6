"""A small world for the page checks: the shared tree and people, departments, a mediation
roster, cases in several states (submitted, rejected, whistled to departments, in
progress, closed and rated with a return visit, a resident's report, whose account's home
lists it, a settled mediation with a signed agreement), notifications delivered to the
inboxes, and an export; and the pages of tests/i18n/pages.py rendered from it, once per
language.

The created time of one case is pinned so that the timestamp check knows what to expect.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.cache import cache
from django.test import Client

from dispatch import services as dispatch_services
from evaluation import returnvisits
from evaluation.models import Export
from grievances import services, sms
from grievances.models import Grievance, State
from grievances.relay import relay_batch
from mediation import services as mediation_services
from mediation.models import Agreement, MediationCase
from tests.factories import UserFactory
from tests.grievances.conftest import POINT_A1, advance, new_case
from tests.i18n.pages import Rendered, render_all
from tests.mediation import conftest as mediation_fixtures
from tests.mediation.conftest import PHONE_A, PHONE_B, code_from_outbox, open_mediation, token_of

SH = ZoneInfo("Asia/Shanghai")
# A known instant for the timestamp check: 2026-03-17 09:05 in Beijing (01:05 UTC).
PINNED = datetime(2026, 3, 17, 9, 5, tzinfo=SH)
RESIDENT_PHONE = "13912345678"


@pytest.fixture(autouse=True)
def _quiet_outside_world(settings, tmp_path):
    settings.SMS_BACKEND = "grievances.sms.LocmemBackend"
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.RETURN_VISIT_SAMPLE = 0.0
    sms.outbox.clear()
    cache.clear()
    yield
    sms.outbox.clear()
    cache.clear()


def _sign_agreement(mcase, roster, capture) -> Agreement:
    """The mediator drafts, both parties sign with their SMS codes, the mediator signs:
    the mediation settles and the agreement becomes printable."""
    actor = mediation_services.Actor.of(roster.users.zhuoma)
    parties = list(mcase.parties.order_by("position"))
    with capture(execute=True):
        agreement = mediation_services.mediation_agreement(
            mcase,
            actor,
            text="双方自愿达成如下协议。",
            terms=[
                {"obligor": parties[0].pk, "obligation": "赔偿院墙修缮费", "amount": "1200.00"},
            ],
        )
    agreement = Agreement.objects.filter(case=mcase).order_by("-version").first()
    client = Client()
    for index, (phone, name) in enumerate(((PHONE_A, "甲某"), (PHONE_B, "乙某"))):
        url = f"/mediation/p/{token_of(mcase, index)}/"
        with capture(execute=True):
            r = client.post(f"{url}send_code/")
        assert r.status_code == 302, r.content.decode()[:2000]
        with capture(execute=True):
            r = client.post(
                f"{url}sign/",
                {
                    "version": agreement.version,
                    "sha256": agreement.content_hash,
                    "code": code_from_outbox(phone),
                    "typed_name": name,
                },
            )
        assert r.status_code == 302, r.content.decode()[:2000]
    mediator = Client()
    mediator.force_login(roster.users.zhuoma)
    with capture(execute=True):
        r = mediator.post(
            f"/mediation/{mcase.pk}/act/sign/",
            {
                "version": agreement.version,
                "sha256": agreement.content_hash,
                "typed_name": "卓玛",
                "confirm": "on",
            },
        )
    assert r.status_code == 302, r.content.decode()[:2000]
    return agreement


# The mediation roster of tests/mediation (its organisations and mediators).
roster = mediation_fixtures.roster

# The pages of each language are rendered once per test process: the language test and
# the accessibility test read the same HTML.
_RENDERED: dict[str, Rendered] = {}


@pytest.fixture
def rendered(request):
    """rendered(language) -> Rendered: every page of every role of the world."""

    def get(language: str) -> Rendered:
        if language not in _RENDERED:
            world = request.getfixturevalue("world")
            _RENDERED[language] = render_all(
                world,
                request.getfixturevalue("people"),
                request.getfixturevalue("depts"),
                request.getfixturevalue("roster"),
                language,
            )
        return _RENDERED[language]

    return get


@pytest.fixture
def world(tree, people, depts, roster, django_capture_on_commit_callbacks):
    capture = django_capture_on_commit_callbacks
    admin = UserFactory(username="site_admin", is_staff=True, is_superuser=True)
    with capture(execute=True):
        with time_machine.travel(PINNED, tick=False):
            pinned = new_case(people.grid_worker, title="路灯不亮")
        submitted = new_case(people.grid_worker, title="楼道垃圾堆积")
        rejected = services.grievance_reject(
            new_case(people.grid_worker, title="重复反映"),
            people.centre_staff,
            reason_code="insufficient",
            reason="请补充具体位置",
        )
        whistled = advance(new_case(people.grid_worker, title="挡墙垮塌"), State.ACCEPTED, people)
        dispatch_services.whistle_dispatch(
            whistled, people.centre_staff, departments=[depts.transport, depts.police]
        )
        in_progress = advance(
            new_case(people.grid_worker, title="井盖缺失"), State.IN_PROGRESS, people
        )
        closed = advance(new_case(people.grid_worker, title="水管漏水"), State.CLOSED, people)
        services.grievance_rate(
            closed, None, score=2, resolved=False, comment="还在漏", via_tracking=True
        )
        resident = new_case(
            None, title="小区噪音扰民", phone=RESIDENT_PHONE, name="李四", point=POINT_A1
        )
        # 李四 has an account too, named on their report and on the closed case: their home
        # (我的反映) lists both.
        resident_account = UserFactory(username="lisi", full_name="李四")
        resident.complainants.update(user=resident_account)
        closed.complainants.update(user=resident_account)
    visit = returnvisits.return_visit_schedule(closed.pk)
    mcase = open_mediation(people, choice_days=0)
    mediation_services.mediation_assign(
        mcase,
        mediation_services.Actor.of(people.centre_staff),
        mediator=roster.zhuoma,
        assisting=[roster.wang],
    )
    mcase = MediationCase.objects.get(pk=mcase.pk)
    with time_machine.travel(datetime.now(tz=SH) + timedelta(minutes=1)):
        agreement = _sign_agreement(mcase, roster, capture)
    relay_batch()
    relay_batch()
    export = Export.objects.create(
        owner=people.centre_staff,
        kind=Export.Kind.CASES,
        file_type=Export.FileType.CSV,
        params={"from": "2026-10-01", "to": "2026-11-01"},
        status=Export.Status.RUNNING,
        progress=40,
    )
    return SimpleNamespace(
        admin=admin,
        pinned=Grievance.objects.get(pk=pinned.pk),
        submitted=submitted,
        rejected=rejected,
        whistled=Grievance.objects.get(pk=whistled.pk),
        in_progress=in_progress,
        closed=closed,
        resident=resident,
        resident_phone=RESIDENT_PHONE,
        resident_account=resident_account,
        visit=visit,
        mcase=mcase,
        agreement=agreement,
        export=export,
    )
