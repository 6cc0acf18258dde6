"""Scenario 3 (domain.md §4): the tea-meeting dispute of 台斯砍村, 库尔勒市.

Wednesday 2026-09-16, evening. At a household tea meeting (联户茶会) villager 李某 says that
卡某 has not paid him for the silage corn of his 120 mu. The village cadre (the village
centre's staff, who also sits on the village's people's mediation committee) records the
case and sends it to mediation with both parties; the cadre and the village police (警调
联动), both on the roster, convene the parties on the spot: the centre assigns the cadre as
lead mediator and the police officer as assisting. Within 30 minutes they agree that 卡某
pays 33,600 yuan in 3 instalments before 11-28: an agreement with three instalment terms,
each with its amount and date. Both parties sign "face to face on screen" through the links
they received by SMS, each with a one-time code from the SMS outbox, and the cadre signs as
lead mediator: the mediation is settled and the case handled; the village centre verifies.
On the first instalment's date the mediator is reminded to follow up.

The boxes and the codes below 库尔勒市 (652801000000) are illustrative.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.cache import cache
from django.utils import translation

from grids.models import Role
from grievances import sms
from grievances.models import CaseEvent, Grievance
from mediation.models import MediationCase, MediationOrg, Mediator, OrgKind
from tests.factories import make_member, region_with_box
from tests.mediation.conftest import URLS, client_for, code_from_outbox, link_token

pytestmark = [pytest.mark.django_db, pytest.mark.urls(URLS)]

SH = ZoneInfo("Asia/Shanghai")
LI_PHONE = "13899010001"  # 李某, the seller
KA_PHONE = "13899010002"  # 卡某, the buyer
POINT = (85.7, 43.2)  # inside the village's grid


def at(hh: int, mm: int, day: int = 16, month: int = 9) -> datetime:
    return datetime(2026, month, day, hh, mm, tzinfo=SH)  # 09-16 is a Wednesday


@pytest.fixture
def taisikan(settings):
    settings.SMS_BACKEND = "grievances.sms.LocmemBackend"
    sms.outbox.clear()
    cache.clear()
    prefecture = region_with_box(
        "巴音郭楞蒙古自治州", "652800000000", "city", None, (82, 40, 90, 44)
    )
    county = region_with_box("库尔勒市", "652801000000", "county", prefecture, (84, 42, 87, 44))
    township = region_with_box(
        "哈拉玉宫镇", "652801101000", "township", county, (85, 42.5, 86, 43.5)
    )
    village = region_with_box("台斯砍村", "652801101201", "village", township, (85.5, 43, 86, 43.5))
    grid = region_with_box(
        "台斯砍村第一网格", "652801101201001", "grid", village, (85.5, 43, 86, 43.5), "residential"
    )
    for region in (prefecture, county, township, village, grid):
        region.refresh_from_db()
    cadre = make_member(
        "tsk_cadre", village, Role.CENTRE_STAFF, full_name="村干部阿依古丽", phone="13899020001"
    )
    police = make_member(
        "tsk_police", village, Role.GRID_POLICE, full_name="村警艾力", phone="13899020002"
    )
    committee = MediationOrg.objects.create(
        name="台斯砍村人民调解委员会", kind=OrgKind.PEOPLES, region=village
    )
    lead = Mediator.objects.create(
        name="阿依古丽", user=cadre, organisation=committee, languages="zh,ug"
    )
    assisting = Mediator.objects.create(
        name="艾力", user=police, organisation=committee, languages="zh,ug,kk"
    )
    with translation.override("en"):
        yield {
            "village": village,
            "cadre": cadre,
            "police": police,
            "lead": lead,
            "assisting": assisting,
        }
    sms.outbox.clear()
    cache.clear()


def test_the_tea_meeting_dispute_is_settled_in_30_minutes_with_three_instalments(
    taisikan, django_capture_on_commit_callbacks
):
    cadre = client_for(taisikan["cadre"])
    police = client_for(taisikan["police"])
    resident = client_for()

    def post(client, url, body):
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(url, body, format="json")

    with time_machine.travel(at(20, 0), tick=False) as clock:
        # The cadre records what 李某 said at the tea meeting.
        r = post(
            cadre,
            "/api/v1/grievances/",
            {
                "title": "青贮玉米款未付",
                "description": "联户茶会上李某反映：卡某收购其120余亩青贮玉米，货款至今未付",
                "category": "dispute.contract",
                "source": "tea_meeting",
                "lng": POINT[0],
                "lat": POINT[1],
                "complainants": [{"name": "李某", "phone": LI_PHONE}],
            },
        )
        assert r.status_code == 201, r.json()
        case_id = r.json()["id"]
        assert r.json()["source"] == "tea_meeting"
        assert r.json()["owning_centre"]["name"] == "台斯砍村"

        # To mediation with both parties, convened on the spot: no menu to choose from.
        clock.move_to(at(20, 3))
        r = post(
            cadre,
            f"/api/v1/grievances/{case_id}/mediate/",
            {
                "note": "村干部、村警召集双方当场调解",
                "choice_days": 0,
                "parties": [
                    {"name": "李某", "phone": LI_PHONE, "household": "TSK-017"},
                    {"name": "卡某", "phone": KA_PHONE, "household": "TSK-042"},
                ],
            },
        )
        assert r.status_code == 200, r.json()
        assert r.json()["state"] == "mediating"
        mcase = MediationCase.objects.get(grievance_id=case_id)
        links = {m.phone: link_token(m.text) for m in sms.outbox}
        assert set(links) == {LI_PHONE, KA_PHONE}
        base = f"/api/v1/mediation-cases/{mcase.pk}"

        # The centre appoints the cadre (lead) and the village police (assisting).
        clock.move_to(at(20, 4))
        r = post(
            cadre,
            f"{base}/assign/",
            {"mediator": taisikan["lead"].pk, "assisting": [taisikan["assisting"].pk]},
        )
        assert r.status_code == 200, r.json()
        assert r.json()["status"] == "scheduled" and r.json()["chosen_by"] == "centre"
        assert [m["role"] for m in r.json()["mediators"]] == ["lead", "assisting"]

        # The record of the talk at the tea table (the police officer writes it).
        clock.move_to(at(20, 20))
        r = post(
            police,
            f"{base}/record/",
            {
                "place": "台斯砍村联户茶会（李某家）",
                "participants": "李某、卡某、村干部阿依古丽、村警艾力",
                "record": "卡某承认收购李某青贮玉米120亩，每亩280元，共33600元未付；"
                "卡某称资金周转困难，愿分期支付。李某同意分三期。",
            },
        )
        assert r.status_code == 200, r.json()
        assert r.json()["status"] == "in_session"

        # The agreement: three instalments before 11-28.
        clock.move_to(at(20, 24))
        li, ka = (p["id"] for p in r.json()["parties"])
        instalments = [
            ("12000.00", "2026-10-10"),
            ("12000.00", "2026-11-05"),
            ("9600.00", "2026-11-27"),
        ]
        r = post(
            cadre,
            f"{base}/agreement/",
            {
                "text": "经村调解委员会调解，双方自愿达成如下协议：卡某分三期向李某支付"
                "青贮玉米款共计33600元，于2026年11月28日前付清。",
                "terms": [
                    {
                        "obligor": ka,
                        "obligation": f"向李某支付青贮玉米款第{n}期",
                        "amount": amount,
                        "due_date": due,
                        "instalment": n,
                    }
                    for n, (amount, due) in enumerate(instalments, start=1)
                ],
            },
        )
        assert r.status_code == 200, r.json()
        agreement = r.json()["agreement"]
        assert agreement["version"] == 1
        assert [(t["instalment"], t["amount"], t["due_date"]) for t in agreement["terms"]] == [
            (1, "12000.00", "2026-10-10"),
            (2, "12000.00", "2026-11-05"),
            (3, "9600.00", "2026-11-27"),
        ]
        assert all(t["obligor"]["name"] == "卡某" for t in agreement["terms"])
        assert sum(Decimal(t["amount"]) for t in agreement["terms"]) == Decimal("33600")
        assert all(t["due_date"] < "2026-11-28" for t in agreement["terms"])

        # Each party reads it through their link and signs with the code sent to the phone.
        for minute, name, phone in ((26, "李某", LI_PHONE), (28, "卡某", KA_PHONE)):
            clock.move_to(at(20, minute))
            token = links[phone]
            r = resident.get(f"{base}/", {"token": token})
            assert r.status_code == 200 and r.json()["me"]["name"] == name
            shown = r.json()["agreement"]
            r = post(resident, f"{base}/send_code/", {"token": token})
            assert r.status_code == 200, r.json()
            r = post(
                resident,
                f"{base}/sign/",
                {
                    "token": token,
                    "version": shown["version"],
                    "sha256": shown["sha256"],
                    "typed_name": name,
                    "code": code_from_outbox(phone),
                },
            )
            assert r.status_code == 200, r.json()
            # Not settled yet: the lead mediator has not signed.
            assert r.json()["status"] == "in_session"
            assert r.json()["me"]["signed_current"] is True

        # The lead mediator signs last: settled, and the case is handled.
        clock.move_to(at(20, 30))
        r = post(
            cadre,
            f"{base}/sign/",
            {"version": 1, "sha256": agreement["sha256"], "typed_name": "阿依古丽"},
        )
        assert r.status_code == 200, r.json()
        assert r.json()["status"] == "settled"

        case = Grievance.objects.get(pk=case_id)
        assert case.state == "handled"
        assert "12,000.00" in case.result and "2026-11-27" in case.result
        events = {e.action: e for e in CaseEvent.objects.filter(grievance=case)}
        mediated, settled = events["mediate"], events["mediation_settled"]
        assert settled.created_at - mediated.created_at <= timedelta(minutes=30)
        assert settled.actor_label == "台斯砍村人民调解委员会"
        assert (settled.from_state, settled.to_state) == ("mediating", "handled")

        # The village centre verifies: closed.
        clock.move_to(at(20, 40))
        r = post(cadre, f"/api/v1/grievances/{case_id}/verify/", {"note": "协议已签署"})
        assert r.status_code == 200, r.json()
        assert r.json()["state"] == "closed"
        # The reporter's public timeline shows the mediation's steps.
        public = [
            e["label"]
            for e in resident.get(
                f"/api/v1/track/{case.tracking_code}/", {"phone_last4": LI_PHONE[-4:]}
            ).json()["timeline"]
        ]
        assert "Mediator appointed" in public and "Settled by mediation" in public

    # Follow-up on performance: the first instalment's day reminds the mediator.
    from mediation.tasks import remind_due_terms

    sms.outbox.clear()
    with (
        time_machine.travel(at(8, 30, day=10, month=10)),
        django_capture_on_commit_callbacks(execute=True),
    ):
        assert remind_due_terms.apply().get() == 1
    assert [m.phone for m in sms.outbox] == ["13899020001"]
    assert "第1期" in sms.outbox[0].text
