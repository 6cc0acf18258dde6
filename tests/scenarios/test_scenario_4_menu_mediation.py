"""Scenario 4 (domain.md §4): menu mediation (点单式调解) in 拉玉乡, 琼结县.

Monday 2026-06-08. Herders 扎西 and 次旦 quarrel over the boundary of a summer pasture. The
township centre of 拉玉乡 sends the dispute to mediation with both parties; each receives a
personal link by SMS and opens the public roster (调解员信息公示栏) for the case. 格桑 of the
township's people's mediation committee is 扎西's uncle and has declared it: the roster marks
him out with the reason, and 扎西's pick of him is refused by the recusal rule (回避). 扎西
picks 普布 and 达瓦; 次旦 picks 普布 and the county's land mediator 尼玛: 普布, chosen by both,
is appointed. He holds an online session (云调解) two days later, writes the agreement, both
parties sign through their links with SMS codes, and he signs: settled, the case handled.
Both parties rate him (评单), and his figures on the public roster show it: one case, all
settled, an average of 4.5.

The boxes are illustrative; the codes follow the demo data (grids/demo.py).
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.cache import cache
from django.utils import translation

from grids.models import Role
from grievances import sms
from grievances.models import Grievance
from mediation.models import (
    ConflictDeclaration,
    MediationCase,
    MediationOrg,
    Mediator,
    OrgKind,
    Relation,
)
from tests.factories import UserFactory, make_member, region_with_box
from tests.mediation.conftest import URLS, client_for, code_from_outbox, link_token

pytestmark = [pytest.mark.django_db, pytest.mark.urls(URLS)]

SH = ZoneInfo("Asia/Shanghai")
TASHI_PHONE = "13908930001"
TSETEN_PHONE = "13908930002"
POINT = (91.65, 29.05)


def at(day: int, hh: int, mm: int) -> datetime:
    return datetime(2026, 6, day, hh, mm, tzinfo=SH)  # 06-08 is a Monday


@pytest.fixture
def layu(settings):
    settings.SMS_BACKEND = "grievances.sms.LocmemBackend"
    sms.outbox.clear()
    cache.clear()
    city = region_with_box("山南市", "540500000000", "city", None, (90, 28, 93, 30))
    county = region_with_box("琼结县", "540524000000", "county", city, (91.4, 28.8, 91.9, 29.2))
    township = region_with_box(
        "拉玉乡", "540524200000", "township", county, (91.5, 28.9, 91.8, 29.1)
    )
    village = region_with_box("拉玉村", "540524200201", "village", township, (91.6, 29, 91.7, 29.1))
    grid = region_with_box(
        "拉玉村第一网格", "540524200201001", "grid", village, (91.6, 29, 91.7, 29.1), "residential"
    )
    for region in (city, county, township, village, grid):
        region.refresh_from_db()
    committee = MediationOrg.objects.create(
        name="拉玉乡人民调解委员会", kind=OrgKind.PEOPLES, region=township
    )
    land = MediationOrg.objects.create(
        name="琼结县土地林地纠纷调解委员会", kind=OrgKind.LAND_FOREST, region=county
    )

    def mediator(name, username, org, **extra):
        user = UserFactory(username=username, full_name=name, phone=extra.pop("phone", ""))
        return Mediator.objects.create(name=name, user=user, organisation=org, **extra)

    gesang = mediator("格桑", "ly_gesang", committee, languages="bo,zh", years_experience=15)
    ConflictDeclaration.objects.create(
        mediator=gesang, person_name="扎西", person_phone=TASHI_PHONE, relation=Relation.RELATIVE
    )
    with translation.override("en"):
        yield {
            "centre": make_member("ly_centre", township, Role.CENTRE_STAFF, full_name="乡综治中心"),
            "grid_worker": make_member("ly_grid", grid, Role.GRID_WORKER, full_name="拉玉网格员"),
            "gesang": gesang,
            "pubu": mediator(
                "普布",
                "ly_pubu",
                committee,
                languages="bo,zh",
                years_experience=9,
                phone="13908931001",
            ),
            "dawa": mediator("达瓦", "ly_dawa", committee, languages="bo", years_experience=4),
            "nima": mediator("尼玛", "ly_nima", land, languages="bo,zh", years_experience=20),
        }
    sms.outbox.clear()
    cache.clear()


def test_the_parties_pick_from_the_roster_the_relative_is_refused_and_the_chosen_one_settles(
    layu, django_capture_on_commit_callbacks
):
    centre = client_for(layu["centre"])
    worker = client_for(layu["grid_worker"])
    pubu = client_for(layu["pubu"].user)
    phone = client_for()  # the parties' phones: no account, only their links

    def post(client, url, body):
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(url, body, format="json")

    with time_machine.travel(at(8, 10, 0), tick=False) as clock:
        r = post(
            worker,
            "/api/v1/grievances/",
            {
                "title": "夏季牧场草场边界纠纷",
                "description": "扎西与次旦因夏季牧场边界划分发生争执",
                "category": "dispute.land",
                "lng": POINT[0],
                "lat": POINT[1],
                "complainants": [{"name": "扎西", "phone": TASHI_PHONE}],
            },
        )
        assert r.status_code == 201, r.json()
        case_id = r.json()["id"]

        clock.move_to(at(8, 10, 30))
        r = post(
            centre,
            f"/api/v1/grievances/{case_id}/mediate/",
            {
                "note": "点单式调解",
                "parties": [
                    {"name": "扎西", "phone": TASHI_PHONE, "household": "LY-0031"},
                    {"name": "次旦", "phone": TSETEN_PHONE, "household": "LY-0058"},
                ],
            },
        )
        assert r.status_code == 200, r.json()
        mcase = MediationCase.objects.get(grievance_id=case_id)
        base = f"/api/v1/mediation-cases/{mcase.pk}"
        links = {m.phone: link_token(m.text) for m in sms.outbox}
        tashi, tseten = links[TASHI_PHONE], links[TSETEN_PHONE]

        # 扎西 opens the roster for his case: 格桑 is marked out, with the reason.
        clock.move_to(at(8, 14, 0))
        r = phone.get("/api/v1/mediators/", {"case": mcase.pk, "token": tashi})
        assert r.status_code == 200
        rows = {m["name"]: m for m in r.json()["results"]}
        assert set(rows) == {"格桑", "普布", "达瓦", "尼玛"}
        assert rows["格桑"]["recused"] is True
        assert rows["格桑"]["recusal_reasons"] == ["Declared: Relative of party 扎西."]
        assert not any(rows[n]["recused"] for n in ("普布", "达瓦", "尼玛"))

        # He picks his uncle anyway: refused by the recusal rule, with the reason.
        r = post(
            phone,
            f"{base}/choose/",
            {"token": tashi, "mediators": [rows["格桑"]["id"], rows["普布"]["id"]]},
        )
        assert r.status_code == 400
        assert r.json() == {
            "mediators": ["格桑 must withdraw (回避): Declared: Relative of party 扎西."]
        }

        r = post(
            phone,
            f"{base}/choose/",
            {"token": tashi, "mediators": [layu["pubu"].pk, layu["dawa"].pk]},
        )
        assert r.status_code == 200, r.json()
        assert r.json()["status"] == "choosing"

        clock.move_to(at(8, 16, 0))
        r = post(
            phone,
            f"{base}/choose/",
            {"token": tseten, "mediators": [layu["pubu"].pk, layu["nima"].pk]},
        )
        assert r.status_code == 200, r.json()
        body = r.json()
        assert body["status"] == "scheduled" and body["chosen_by"] == "parties"
        assert body["lead_mediator"] == "普布" and body["org"] == "拉玉乡人民调解委员会"

        # 普布 holds an online session two days later and writes the record.
        clock.move_to(at(8, 17, 0))
        r = post(
            pubu,
            f"{base}/schedule/",
            {"starts_at": at(10, 10, 0).isoformat(), "online": True},
        )
        assert r.status_code == 200, r.json()
        clock.move_to(at(10, 11, 30))
        r = post(
            pubu,
            f"{base}/record/",
            {
                "session": r.json()["sessions"][0]["id"],
                "record": "双方通过视频陈述各自放牧范围，"
                "对照草场承包证确认边界在玛曲河北岸石堆处。",
            },
        )
        assert r.status_code == 200, r.json()
        parties = {p["name"]: p["id"] for p in r.json()["parties"]}
        r = post(
            pubu,
            f"{base}/agreement/",
            {
                "text": "双方同意以玛曲河北岸石堆为夏季牧场边界，今后互不越界放牧。",
                "terms": [
                    {
                        "obligor": parties["次旦"],
                        "obligation": "将越界的围栏移回边界石堆处",
                        "due_date": "2026-06-20",
                    },
                    {
                        "obligor": parties["扎西"],
                        "obligation": "协助在边界处设立界桩",
                        "due_date": "2026-06-30",
                    },
                ],
            },
        )
        assert r.status_code == 200, r.json()
        agreement = r.json()["agreement"]

        # Both sign on their phones, each with a one-time code.
        for minute, name, token, number in (
            (40, "扎西", tashi, TASHI_PHONE),
            (45, "次旦", tseten, TSETEN_PHONE),
        ):
            clock.move_to(at(10, 11, minute))
            assert post(phone, f"{base}/send_code/", {"token": token}).status_code == 200
            r = post(
                phone,
                f"{base}/sign/",
                {
                    "token": token,
                    "version": agreement["version"],
                    "sha256": agreement["sha256"],
                    "typed_name": name,
                    "code": code_from_outbox(number),
                },
            )
            assert r.status_code == 200, r.json()
        clock.move_to(at(10, 11, 50))
        r = post(
            pubu,
            f"{base}/sign/",
            {"version": agreement["version"], "sha256": agreement["sha256"], "typed_name": "普布"},
        )
        assert r.status_code == 200, r.json()
        assert r.json()["status"] == "settled"
        assert Grievance.objects.get(pk=case_id).state == "handled"

        # Both rate the mediator, once each.
        clock.move_to(at(10, 12, 0))
        for token, score in ((tashi, 5), (tseten, 4)):
            r = post(phone, f"{base}/rate/", {"token": token, "score": score, "comment": "公道"})
            assert r.status_code == 200, r.json()
        r = post(phone, f"{base}/rate/", {"token": tseten, "score": 1})
        assert r.status_code == 409

    # The public roster shows it in 普布's figures.
    r = client_for().get("/api/v1/mediators/", {"region": "540524200201001"})
    rows = {m["name"]: m for m in r.json()["results"]}
    assert (
        rows["普布"]["cases_handled"],
        rows["普布"]["success_rate"],
        rows["普布"]["average_rating"],
        rows["普布"]["rating_count"],
    ) == (1, 1.0, 4.5, 2)
    assert rows["格桑"]["cases_handled"] == 0 and rows["格桑"]["average_rating"] is None
