"""Mediation fixtures: organisations and mediators around the shared region tree, a dispute
in 江塘村 sent to mediation with two parties, and helpers that act through the API with the
messages sent on commit (SMS to the locmem outbox)."""

from __future__ import annotations

import re
from types import SimpleNamespace

import pytest
from django.core.cache import cache
from django.utils import translation
from rest_framework.test import APIClient

from grievances import sms
from grievances.models import Category, State
from mediation import services, tokens
from mediation.models import MediationCase, MediationOrg, Mediator, OrgKind
from tests.factories import UserFactory
from tests.grievances.conftest import POINT_A1, new_case

# The mediation API is mounted by tests/mediation/urls.py until config.urls includes it.
URLS = "tests.mediation.urls"

PHONE_A = "13800000001"
PHONE_B = "13800000002"


@pytest.fixture(autouse=True)
def _sms_cache_media(settings, tmp_path):
    settings.SMS_BACKEND = "grievances.sms.LocmemBackend"
    settings.MEDIA_ROOT = str(tmp_path / "media")
    sms.outbox.clear()
    cache.clear()
    # Services called directly speak English too (the API clients ask for it).
    with translation.override("en"):
        yield
    sms.outbox.clear()
    cache.clear()


def client_for(user=None) -> APIClient:
    # English answers: the assertions read the source messages, whatever locale/ holds.
    client = APIClient(HTTP_ACCEPT_LANGUAGE="en")
    if user is not None:
        client.force_authenticate(user)
    return client


def make_mediator(name: str, org: MediationOrg, *, user=None, **extra) -> Mediator:
    specialties = extra.pop("specialties", [])
    regions = extra.pop("regions", [])
    mediator = Mediator.objects.create(name=name, organisation=org, user=user, **extra)
    if specialties:
        mediator.specialties.set(Category.objects.filter(code__in=specialties))
    if regions:
        mediator.regions_served.set(regions)
    return mediator


@pytest.fixture
def roster(tree, people):
    """泽当街道's people's mediation committee (serving the township) with three mediators,
    the county's labour and marriage-family organisations with one each, and a mediator of
    the other county (serving nothing here)."""
    committee = MediationOrg.objects.create(
        name="泽当街道人民调解委员会", kind=OrgKind.PEOPLES, region=tree.town_a
    )
    labour = MediationOrg.objects.create(
        name="乃东区劳动争议调解中心", kind=OrgKind.LABOUR, region=tree.county, one_stop_centre=True
    )
    family = MediationOrg.objects.create(
        name="乃东区婚姻家庭纠纷调解委员会", kind=OrgKind.MARRIAGE_FAMILY, region=tree.county
    )
    elsewhere = MediationOrg.objects.create(
        name="乡城县人民调解委员会", kind=OrgKind.PEOPLES, region=tree.other_county
    )
    users = SimpleNamespace(
        zhuoma=UserFactory(username="med_zhuoma", full_name="卓玛", phone="13900000011"),
        wang=UserFactory(username="med_wang", full_name="王建国", phone="13900000012"),
        ciren=UserFactory(username="med_ciren", full_name="次仁", phone="13900000013"),
        labour=UserFactory(username="med_labour", full_name="李劳动", phone="13900000014"),
    )
    return SimpleNamespace(
        committee=committee,
        labour_org=labour,
        family_org=family,
        elsewhere_org=elsewhere,
        users=users,
        zhuoma=make_mediator(
            "卓玛",
            committee,
            user=users.zhuoma,
            languages="zh,bo",
            years_experience=12,
            specialties=["dispute.neighbours"],
        ),
        wang=make_mediator(
            "王建国",
            committee,
            user=users.wang,
            years_experience=5,
            specialties=["dispute.contract"],
        ),
        ciren=make_mediator(
            "次仁",
            committee,
            user=users.ciren,
            languages="bo",
            years_experience=3,
            regions=[tree.village_a],
        ),
        labour=make_mediator(
            "李劳动",
            labour,
            user=users.labour,
            years_experience=8,
            specialties=["dispute.wages"],
        ),
        family=make_mediator("张家和", family, years_experience=20),
        far=make_mediator("扎西", elsewhere, languages="bo"),
    )


def party_data(**overrides) -> list[dict]:
    parties = [
        {"name": "甲某", "phone": PHONE_A, "household": "JT-001", "work_unit": "江塘村合作社"},
        {"name": "乙某", "phone": PHONE_B, "household": "JT-002", "work_unit": "乃东区供销社"},
    ]
    for i, extra in overrides.items():
        parties[int(i[1:])].update(extra)
    return parties


def open_mediation(people, *, category="dispute.neighbours", parties=None, choice_days=3):
    """A dispute reported by the grid worker of 江塘村第一网格, sent to mediation by the
    township centre with its parties."""
    case = new_case(people.grid_worker, category=category, point=POINT_A1, title="邻里纠纷")
    services.mediation_open(
        case,
        people.centre_staff,
        parties=parties or party_data(),
        note="转人民调解",
        choice_days=choice_days,
    )
    mcase = MediationCase.objects.get(grievance=case)
    assert mcase.grievance.state == State.MEDIATING
    return mcase


def token_of(mcase: MediationCase, index: int) -> str:
    return tokens.party_token(mcase.parties.order_by("position")[index])


def link_token(text: str) -> str:
    # The party page (/mediation/p/<token>/) or, without the pages, the API's ?token=.
    match = re.search(r"(?:token=|/mediation/p/)([\w:\-]+)", text)
    assert match, text
    return match.group(1)


CODE_RE = re.compile(r"(?<![0-9A-Za-z])(\d{6})(?![0-9A-Za-z])")


def code_from_outbox(phone: str) -> str:
    """The code of the latest message to `phone`."""
    text = [m.text for m in sms.outbox if m.phone == phone][-1]
    match = CODE_RE.search(text)
    assert match, text
    return match.group(1)


@pytest.fixture
def act(django_capture_on_commit_callbacks):
    """POST an act on a mediation case; messages sent on commit land in the SMS outbox."""

    def post(client: APIClient, mcase, name: str, data: dict | None = None, token=None):
        body = dict(data or {})
        if token:
            body["token"] = token
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(f"/api/v1/mediation-cases/{mcase.pk}/{name}/", body, format="json")

    return post


def detail(client: APIClient, mcase, token=None):
    params = {"token": token} if token else {}
    return client.get(f"/api/v1/mediation-cases/{mcase.pk}/", params)
