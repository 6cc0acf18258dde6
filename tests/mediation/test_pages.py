"""The mediation pages: the public roster (/mediators/) with its filters, photos and a query
count that does not grow with the roster; a party's own page through their link (choose,
the recusal rule, send a code, sign, rate); the mediator's and the centre's case page with
its acts; scoping (404) and bad links (404); the printable agreement."""

from __future__ import annotations

import io
import re
from datetime import datetime, timedelta
from html import unescape
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.files.base import ContentFile
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import include, path
from PIL import Image

from config.urls import handler403, handler404, handler500  # noqa: F401
from grievances import sms
from grievances.models import Grievance, State
from mediation import services, tokens
from mediation.models import (
    Agreement,
    CaseStatus,
    ConflictDeclaration,
    MediationCase,
    MediationOrg,
    MediatorRating,
    OrgKind,
    PartyChoice,
    Relation,
    Session,
    Signature,
)
from tests.factories import UserFactory
from tests.mediation.conftest import (
    PHONE_A,
    PHONE_B,
    code_from_outbox,
    make_mediator,
    open_mediation,
    party_data,
    token_of,
)
from tests.mediation.urls import urlpatterns as api_and_site

# The pages, until config.urls includes mediation.urls (then the first match is the same).
urlpatterns = [path("", include("mediation.urls")), *api_and_site]

pytestmark = [pytest.mark.django_db, pytest.mark.urls(__name__)]

SH = ZoneInfo("Asia/Shanghai")


# --- Helpers ---------------------------------------------------------------------------------


def browser(user=None) -> Client:
    """A browser asking for English: the assertions read the source messages."""
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    if user is not None:
        client.force_login(user)
    return client


def text_of(response) -> str:
    return unescape(response.content.decode())


def messages_of(response) -> str:
    return " ".join(re.findall(r'<li class="message[^"]*">(.*?)</li>', text_of(response), re.S))


def card_of(page: str, mediator) -> str:
    """The roster card of one mediator in a page."""
    at = page.index(f'id="mediator-{mediator.pk}"')
    start = page.rindex("<article", 0, at)
    return page[start : page.index("</article>", at)]


def fresh(mcase) -> MediationCase:
    return MediationCase.objects.get(pk=mcase.pk)


def party_url(mcase, index: int) -> str:
    return f"/mediation/p/{token_of(mcase, index)}/"


def post_party(client, mcase, index: int, name: str, data=None, capture=None):
    url = f"{party_url(mcase, index)}{name}/"
    if capture is None:
        return client.post(url, data or {})
    with capture(execute=True):
        return client.post(url, data or {})


def case_url(mcase) -> str:
    return f"/mediation/{mcase.pk}/"


def act_url(mcase, name: str) -> str:
    return f"/mediation/{mcase.pk}/act/{name}/"


def png_bytes(color=(40, 120, 200)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (48, 48), color).save(buf, "PNG")
    return buf.getvalue()


def terms_data(terms: list[dict], text: str = "双方自愿达成如下协议。", extra: int = 2) -> dict:
    """The agreement form's POST: the text and the terms formset."""
    data = {
        "text": text,
        "terms-TOTAL_FORMS": str(len(terms) + extra),
        "terms-INITIAL_FORMS": "0",
        "terms-MIN_NUM_FORMS": "0",
        "terms-MAX_NUM_FORMS": "1000",
    }
    for i, term in enumerate(terms):
        for key, value in term.items():
            data[f"terms-{i}-{key}"] = "" if value is None else str(value)
    return data


@pytest.fixture
def capture(django_capture_on_commit_callbacks):
    return django_capture_on_commit_callbacks


@pytest.fixture
def appointed(roster, people):
    """A mediation with 卓玛 appointed as lead by the centre (and 王建国 assisting)."""
    mcase = open_mediation(people, choice_days=0)
    services.mediation_assign(
        mcase,
        services.Actor.of(people.centre_staff),
        mediator=roster.zhuoma,
        assisting=[roster.wang],
    )
    return fresh(mcase)


def draft_on_page(mcase, user, capture, *, text="双方自愿达成如下协议。"):
    parties = list(mcase.parties.order_by("position"))
    terms = [
        {
            "obligor": parties[0].pk,
            "obligation": "赔偿院墙修缮费",
            "amount": "1200.00",
            "due_date": "2026-12-01",
            "instalment": "1",
        },
        {"obligor": parties[1].pk, "obligation": "拆除越界堆放的柴草", "due_date": "2026-11-30"},
    ]
    with capture(execute=True):
        r = browser(user).post(act_url(mcase, "agreement"), terms_data(terms, text))
    assert r.status_code == 302, text_of(r)
    return Agreement.objects.filter(case=mcase).order_by("-version").first()


def party_signs(mcase, index: int, agreement, capture, *, name=None, code=None):
    client = browser()
    if code is None:
        r = post_party(client, mcase, index, "send_code", capture=capture)
        assert r.status_code == 302, text_of(r)
        code = code_from_outbox([PHONE_A, PHONE_B][index])
    return post_party(
        client,
        mcase,
        index,
        "sign",
        {
            "version": agreement.version,
            "sha256": agreement.content_hash,
            "code": code,
            "typed_name": name or ["甲某", "乙某"][index],
        },
        capture=capture,
    )


def mediator_signs(mcase, user, name, agreement, capture):
    with capture(execute=True):
        return browser(user).post(
            act_url(mcase, "sign"),
            {
                "version": agreement.version,
                "sha256": agreement.content_hash,
                "typed_name": name,
                "confirm": "on",
            },
        )


# --- The public roster -------------------------------------------------------------------------


def test_the_roster_is_public_with_figures_and_no_private_data(roster, people):
    roster.zhuoma.bio = "从事人民调解工作十二年，擅长邻里纠纷。"
    roster.zhuoma.phone = "13912345678"
    roster.zhuoma.household = "JT-099"
    roster.zhuoma.save()
    r = browser().get("/mediators/")
    assert r.status_code == 200
    page = text_of(r)
    for name in ("卓玛", "王建国", "次仁", "李劳动", "张家和", "扎西"):
        assert name in page
    assert "泽当街道人民调解委员会" in page
    assert "从事人民调解工作十二年" in page
    # Languages by name; specialties; regions served (the organisation's when none).
    card = card_of(page, roster.zhuoma)
    assert "Tibetan" in card and "Chinese" in card
    assert "12 years of experience" in card
    assert "泽当街道" in card  # the committee's region
    assert "No case concluded yet" in card and "Not rated yet" in card
    assert "13912345678" not in page and "JT-099" not in page
    assert "江塘村" in card_of(page, roster.ciren)


def test_the_roster_shows_success_rate_and_average_rating(roster, people):
    from tests.mediation.test_roster_and_rating import failed_case, settled_case

    won = settled_case(people, roster, roster.zhuoma)
    failed_case(people, roster, roster.zhuoma)
    for party, score in zip(won.parties.all(), (5, 4), strict=True):
        MediatorRating.objects.create(case=won, party=party, mediator=roster.zhuoma, score=score)
    page = text_of(browser().get("/mediators/"))
    card = card_of(page, roster.zhuoma)
    assert "50%" in card and "1 of 2" in card
    assert "4.5" in card and "2 ratings" in card


def test_the_roster_filters(roster, people, tree):
    def names(**params) -> set[str]:
        r = browser().get("/mediators/", params)
        assert r.status_code == 200
        return set(re.findall(r'class="mediator__name"[^>]*>([^<]+?)\s*<', text_of(r)))

    everyone = {"卓玛", "王建国", "次仁", "李劳动", "张家和", "扎西"}
    assert names() == everyone
    assert names(language="bo") == {"卓玛", "次仁", "扎西"}
    assert names(specialty="dispute.wages") == {"李劳动"}
    assert names(region=tree.town_a.code) == {"卓玛", "王建国", "李劳动", "张家和"}
    assert names(region=tree.other_county.code) == {"扎西"}
    assert names(org=roster.labour_org.pk) == {"李劳动"}
    assert names(q="婚姻") == {"张家和"}
    assert names(q="卓玛", language="bo") == {"卓玛"}
    # A value that is not a choice is shown as an error, the rest still filters.
    r = browser().get("/mediators/", {"language": "xx"})
    assert r.status_code == 200 and "field--error" in text_of(r)


def test_the_roster_answers_htmx_with_the_results_only(roster):
    r = browser().get("/mediators/", {"language": "bo"}, HTTP_HX_REQUEST="true")
    assert r.status_code == 200
    assert "<html" not in text_of(r) and "次仁" in text_of(r)
    assert "HX-Request" in r["Vary"]
    full = browser().get("/mediators/", {"language": "bo"})
    assert "<html" in text_of(full) and 'hx-target="#roster-results"' in text_of(full)


def _grow_roster(org, n: int, categories, regions) -> None:
    for i in range(n):
        m = make_mediator(
            f"调解员{org.pk}-{i:02d}",
            org,
            languages="zh,bo,mn",
            years_experience=i,
            bio="长期从事人民调解",
        )
        m.specialties.set(categories)
        m.regions_served.set(regions)
        m.photo.save("p.png", ContentFile(png_bytes()), save=True)


def test_the_roster_query_count_does_not_grow_with_the_roster(tree, people):
    from grievances.models import Category

    categories = list(Category.objects.filter(is_dispute=True)[:3])
    small = MediationOrg.objects.create(name="甲调委会", kind=OrgKind.PEOPLES, region=tree.town_a)
    big = MediationOrg.objects.create(name="乙调委会", kind=OrgKind.PEOPLES, region=tree.town_b)
    _grow_roster(small, 5, categories, [tree.village_a, tree.town_a])

    def count(**params) -> tuple[int, str]:
        client = browser()
        with CaptureQueriesContext(connection) as ctx:
            r = client.get("/mediators/", params)
        assert r.status_code == 200
        return len(ctx.captured_queries), text_of(r)

    five, page = count()
    assert page.count('class="mediator"') + page.count('class="mediator ') == 5
    _grow_roster(big, 15, categories, [tree.village_b])
    twenty, page = count()
    assert "20 mediators" in page
    assert twenty == five, (five, twenty)
    # Filtered too.
    assert count(language="mn", q="调解员")[0] == count(language="mn")[0]


def test_a_photo_is_served_for_an_active_mediator_only(roster):
    roster.zhuoma.photo.save("me.png", ContentFile(png_bytes()), save=True)
    url = f"/mediators/{roster.zhuoma.pk}/photo/"
    page = text_of(browser().get("/mediators/"))
    assert f'src="{url}?v=' in page
    r = browser().get(url)
    assert r.status_code == 200 and r["Content-Type"] == "image/png"
    assert b"".join(r.streaming_content).startswith(b"\x89PNG")
    assert r["X-Content-Type-Options"] == "nosniff"
    # Unchanged: 304.
    assert browser().get(url, HTTP_IF_NONE_MATCH=r["ETag"]).status_code == 304
    # No photo, or off the roster: 404.
    assert browser().get(f"/mediators/{roster.wang.pk}/photo/").status_code == 404
    roster.zhuoma.active = False
    roster.zhuoma.save()
    assert browser().get(url).status_code == 404
    assert "卓玛" not in text_of(browser().get("/mediators/"))


# --- A party's page: choosing --------------------------------------------------------------------


def test_the_party_page_shows_the_dispute_and_the_roster_for_the_case(roster, people):
    mcase = open_mediation(people)
    r = browser().get(party_url(mcase, 0))
    assert r.status_code == 200
    assert r["Cache-Control"] == "private, no-store"
    page = text_of(r)
    assert mcase.grievance.display_code in page and "邻里纠纷" in page
    assert "甲某" in page and "乙某" in page
    # The other party's phone is not shown; one's own only masked.
    assert PHONE_B not in page and PHONE_A not in page and "138****0001" in page
    # The roster for the case: those serving the region, not the other county's.
    assert "卓玛" in page and "李劳动" in page and "扎西" not in page
    assert 'action="/mediation/p/' in page


def test_a_recused_mediator_is_shown_disabled_with_the_reason_and_refused(roster, people):
    mcase = open_mediation(people)
    ConflictDeclaration.objects.create(
        mediator=roster.wang, person_name="甲某", person_phone=PHONE_A, relation=Relation.RELATIVE
    )
    page = text_of(browser().get(party_url(mcase, 0)))
    card = card_of(page, roster.wang)
    assert "mediator--recused" in card
    assert "Must withdraw (回避)" in card and "Declared: Relative of party 甲某." in card
    assert re.search(rf'<option value="{roster.wang.pk}" disabled>', page)
    # Posted anyway: refused with the reason, next to the choice; nothing recorded.
    r = post_party(
        browser(), mcase, 0, "choose", {"first": roster.zhuoma.pk, "second": roster.wang.pk}
    )
    assert r.status_code == 400
    page = text_of(r)
    errors = re.search(
        r'id="act-choose-second".*?<ul class="field__errors"[^>]*>(.*?)</ul>', page, re.S
    )
    assert errors and "Declared: Relative of party 甲某." in errors.group(1)
    assert "王建国 must withdraw (回避)" in errors.group(1)
    assert not PartyChoice.objects.exists()


def test_the_parties_choose_and_the_common_choice_is_appointed(roster, people, capture):
    mcase = open_mediation(people)
    client = browser()
    r = post_party(
        client,
        mcase,
        0,
        "choose",
        {"first": roster.zhuoma.pk, "second": roster.wang.pk},
        capture=capture,
    )
    assert r.status_code == 302 and r["Location"].endswith("#choose")
    page = text_of(client.get(r["Location"].split("#")[0]))
    assert "Your choice is recorded." in page
    assert "Your choice 1" in page and "Your choice 2" in page
    # Preselected when choosing again.
    assert re.search(rf'<option value="{roster.zhuoma.pk}" selected>', page)
    # A choice twice is refused next to the field.
    r = post_party(
        browser(), mcase, 1, "choose", {"first": roster.wang.pk, "second": roster.wang.pk}
    )
    assert r.status_code == 400
    assert "This mediator is already one of your choices." in text_of(r)
    r = post_party(
        browser(),
        mcase,
        1,
        "choose",
        {"first": roster.ciren.pk, "second": roster.wang.pk},
        capture=capture,
    )
    assert r.status_code == 302
    mcase = fresh(mcase)
    assert mcase.status == CaseStatus.SCHEDULED and mcase.chosen_by == "parties"
    assert [a.mediator for a in mcase.appointments.all()] == [roster.wang]
    page = text_of(browser().get(party_url(mcase, 1)))
    assert "Your mediator" in page and "王建国" in page and "Chosen by the parties." in page
    assert 'name="first"' not in page
    # Too late to choose: the page says the mediation moved on.
    r = post_party(client, mcase, 0, "choose", {"first": roster.zhuoma.pk})
    assert r.status_code == 302
    assert "This mediation has moved on." in messages_of(client.get(r["Location"]))


def test_a_bad_link_is_404(roster, people):
    mcase = open_mediation(people)
    other = open_mediation(people)
    token = token_of(mcase, 0)
    client = browser()
    assert client.get("/mediation/p/nothing-here/").status_code == 404
    assert client.get(f"/mediation/p/{token[:-2]}xx/").status_code == 404
    assert client.post(f"/mediation/p/{token}x/choose/", {"first": 1}).status_code == 404
    # A link to one case does not open another's agreement.
    assert client.get(f"/mediation/{other.pk}/agreement/?token={token}").status_code == 404
    # A new nonce revokes the links given out before.
    party = mcase.parties.order_by("position").first()
    party.link_nonce = "0123456789abcdef"
    party.save()
    assert client.get(f"/mediation/p/{token}/").status_code == 404
    assert client.get(f"/mediation/p/{tokens.party_token(party)}/").status_code == 200
    # An unknown act.
    assert client.post(f"/mediation/p/{tokens.party_token(party)}/assign/").status_code == 404
    # An expired link.
    token = tokens.party_token(party)
    with time_machine.travel(datetime.now(tz=SH) + timedelta(days=91)):
        assert client.get(f"/mediation/p/{token}/").status_code == 404


# --- Signing --------------------------------------------------------------------------------------


def test_the_parties_sign_with_codes_and_the_mediator_signs_settling_it(
    roster, people, appointed, capture
):
    agreement = draft_on_page(appointed, roster.users.zhuoma, capture)
    assert agreement.version == 1 and agreement.terms.count() == 2
    page = text_of(browser().get(party_url(appointed, 0)))
    assert "赔偿院墙修缮费" in page and "1,200.00" in page and agreement.content_hash in page
    assert "Send me a code" in page
    # The code, by SMS.
    sms.outbox.clear()
    client = browser()
    r = post_party(client, appointed, 0, "send_code", capture=capture)
    assert r.status_code == 302 and r["Location"].endswith("#sign")
    assert [m.phone for m in sms.outbox] == [PHONE_A]
    page = text_of(client.get(r["Location"].split("#")[0]))
    assert "A code was sent to 138****0001" in page
    right = code_from_outbox(PHONE_A)
    wrong = f"{(int(right) + 1) % 1000000:06d}"
    sign = {"version": 1, "sha256": agreement.content_hash, "typed_name": "甲某"}
    # A wrong code: next to the code field.
    r = post_party(browser(), appointed, 0, "sign", {**sign, "code": wrong}, capture=capture)
    assert r.status_code == 400
    assert re.search(r'id="act-sign-code".*?Wrong code: 4 tries left\.', text_of(r), re.S)
    # Another name: next to the name.
    r = post_party(browser(), appointed, 0, "sign", {**sign, "code": right, "typed_name": "乙某"})
    assert r.status_code == 400
    assert re.search(
        r'id="act-sign-typed_name".*?Type your name as it stands on the agreement\.',
        text_of(r),
        re.S,
    )
    r = post_party(browser(), appointed, 0, "sign", {**sign, "code": right}, capture=capture)
    assert r.status_code == 302, text_of(r)
    page = text_of(browser().get(party_url(appointed, 0)))
    assert "You have signed version 1." in page and "Send me a code" not in page
    # The mediator's page shows who signed; the mediator signs with a confirmation.
    page = text_of(browser(roster.users.zhuoma).get(case_url(appointed)))
    assert "Sign the agreement as mediator" in page
    r = browser(roster.users.zhuoma).post(
        act_url(appointed, "sign"),
        {"version": 1, "sha256": agreement.content_hash, "typed_name": "卓玛"},
    )
    assert r.status_code == 400 and "This field is required." in text_of(r)
    r = mediator_signs(appointed, roster.users.zhuoma, "卓玛", agreement, capture)
    assert r.status_code == 302
    assert fresh(appointed).status == CaseStatus.SCHEDULED
    # The last party signs: settled, the case handled.
    with time_machine.travel(datetime.now(tz=SH) + timedelta(minutes=2)):
        r = party_signs(appointed, 1, agreement, capture)
    assert r.status_code == 302, text_of(r)
    mcase = fresh(appointed)
    assert mcase.status == CaseStatus.SETTLED and mcase.settled_agreement_id == agreement.pk
    assert Grievance.objects.get(pk=mcase.grievance_id).state == State.HANDLED
    assert [(s.typed_name, s.via_link) for s in Signature.objects.order_by("id")] == [
        ("甲某", True),
        ("卓玛", False),
        ("乙某", True),
    ]
    page = text_of(browser().get(party_url(mcase, 1)))
    assert "Settled" in page and "Printable agreement" in page
    assert "Rate the mediator (评单)" in page
    # The printable agreement, through the link and logged in.
    token = token_of(mcase, 1)
    r = browser().get(f"/mediation/{mcase.pk}/agreement/?token={token}")
    assert r.status_code == 200
    sheet = text_of(r)
    assert "Mediation agreement (人民调解协议书)" in sheet and agreement.content_hash in sheet
    assert "赔偿院墙修缮费" in sheet and "泽当街道人民调解委员会" in sheet
    assert f"/mediation/{mcase.pk}/agreement.pdf?token={token}" in sheet
    assert browser(people.centre_staff).get(f"/mediation/{mcase.pk}/agreement/").status_code == 200
    # Anonymous without a link: to the login page.
    r = browser().get(f"/mediation/{mcase.pk}/agreement/")
    assert r.status_code == 302 and "/login" in r["Location"]


def test_an_expired_code_is_refused_next_to_the_field(roster, appointed, capture):
    agreement = draft_on_page(appointed, roster.users.zhuoma, capture)
    start = datetime(2026, 11, 10, 10, 0, tzinfo=SH)
    with time_machine.travel(start, tick=False) as clock:
        assert post_party(browser(), appointed, 0, "send_code", capture=capture).status_code == 302
        code = code_from_outbox(PHONE_A)
        # Asking again at once: wait a minute, next to the button.
        r = post_party(browser(), appointed, 0, "send_code", capture=capture)
        assert r.status_code == 400
        assert "Wait a minute before asking for a new code." in text_of(r)
        clock.move_to(start + timedelta(minutes=10, seconds=1))
        r = party_signs(appointed, 0, agreement, capture, code=code)
        assert r.status_code == 400
        assert re.search(
            r'id="act-sign-code".*?This code has expired: ask for a new one\.',
            text_of(r),
            re.S,
        )
        assert "Send me a code" in text_of(r)
        # A new code works.
        r = party_signs(appointed, 0, agreement, capture)
        assert r.status_code == 302, text_of(r)
    assert Signature.objects.filter(party__isnull=False).count() == 1


def test_a_signature_on_an_old_version_shows_the_new_one(roster, appointed, capture):
    v1 = draft_on_page(appointed, roster.users.zhuoma, capture)
    assert post_party(browser(), appointed, 1, "send_code", capture=capture).status_code == 302
    code = code_from_outbox(PHONE_B)
    # Meanwhile the mediator writes version 2.
    v2 = draft_on_page(appointed, roster.users.zhuoma, capture, text="修改后的协议。")
    assert v2.version == 2
    r = party_signs(appointed, 1, v1, capture, code=code)
    assert r.status_code == 409
    page = text_of(r)
    assert "Version 1 is not the current one: read version 2 and sign it." in page
    assert v2.content_hash in page and "修改后的协议。" in page
    assert 'name="version" value="2"' in page
    assert 'value="乙某"' in page  # the typed name is kept
    assert not Signature.objects.exists()
    # The same code signs version 2.
    r = party_signs(appointed, 1, v2, capture, code=code)
    assert r.status_code == 302, text_of(r)


# --- Rating ---------------------------------------------------------------------------------------


def test_both_parties_rate_after_the_mediation(roster, people, capture):
    from tests.mediation.test_roster_and_rating import failed_case

    mcase = failed_case(people, roster, roster.zhuoma)
    page = text_of(browser().get(party_url(mcase, 0)))
    assert "The mediation did not reach an agreement." in page
    assert "Rate the mediator (评单)" in page and "How did 卓玛 mediate?" in page
    r = post_party(browser(), mcase, 0, "rate", {"score": "9"})
    assert r.status_code == 400 and "field--error" in text_of(r)
    client = browser()
    r = post_party(client, mcase, 0, "rate", {"score": "4", "comment": "耐心细致"})
    assert r.status_code == 302 and r["Location"].endswith("#rate")
    page = text_of(client.get(party_url(mcase, 0)))
    assert "Thank you for rating the mediator." in page
    assert "Your rating" in page and "4 stars" in page and "耐心细致" in page
    assert 'name="score"' not in page
    # Once only.
    r = post_party(client, mcase, 0, "rate", {"score": "1"})
    assert r.status_code == 302
    assert "You have already rated this mediation." in messages_of(client.get(r["Location"]))
    assert post_party(browser(), mcase, 1, "rate", {"score": "5"}).status_code == 302
    assert sorted(MediatorRating.objects.values_list("score", flat=True)) == [4, 5]
    # The roster shows it.
    page = text_of(browser().get("/mediators/"))
    assert "4.5" in card_of(page, roster.zhuoma)


# --- The mediator's and the centre's page ---------------------------------------------------------


def test_the_centre_assigns_on_the_page(roster, people, capture):
    mcase = open_mediation(people, choice_days=0)
    ConflictDeclaration.objects.create(mediator=roster.ciren, case=mcase, relation=Relation.OTHER)
    centre = browser(people.centre_staff)
    page = text_of(centre.get(case_url(mcase)))
    assert "Assign a mediator (派单)" in page and "Enter a party's choice" in page
    assert PHONE_A in page  # the centre sees the parties' phones
    assign = page[page.index('id="act-assign"') :]
    assign = assign[: assign.index("</details>")]
    assert "卓玛" in assign and "次仁" not in assign  # recused: not offered
    # Posted anyway: refused next to the field.
    r = centre.post(act_url(mcase, "assign"), {"mediator": roster.ciren.pk})
    assert r.status_code == 400
    assert "Select a valid choice." in text_of(r)
    with capture(execute=True):
        r = centre.post(
            act_url(mcase, "assign"),
            {"mediator": roster.zhuoma.pk, "assisting": [roster.wang.pk], "note": "派单"},
        )
    assert r.status_code == 302 and r["Location"].endswith("#mediators")
    mcase = fresh(mcase)
    assert mcase.status == CaseStatus.SCHEDULED and mcase.chosen_by == "centre"
    page = text_of(centre.get(case_url(mcase)))
    assert "Done: Assign a mediator." in page


def test_the_centre_enters_a_party_choice(roster, people, capture):
    mcase = open_mediation(people)
    parties = list(mcase.parties.order_by("position"))
    centre = browser(people.centre_staff)
    with capture(execute=True):
        r = centre.post(
            act_url(mcase, "choose"), {"party": parties[0].pk, "first": roster.zhuoma.pk}
        )
    assert r.status_code == 302, text_of(r)
    assert list(PartyChoice.objects.values_list("party", "mediator")) == [
        (parties[0].pk, roster.zhuoma.pk)
    ]
    page = text_of(centre.get(case_url(mcase)))
    assert "Choices: 1. 卓玛" in page


def test_the_mediator_schedules_records_drafts_and_fails_with_a_referral(
    roster, people, appointed, capture
):
    mediator = browser(roster.users.zhuoma)
    page = text_of(mediator.get(case_url(appointed)))
    for label in ("Schedule a session", "Draft the agreement (new version)", "Mediation failed"):
        assert label in page
    # A session without a place, not online: refused next to the place.
    r = mediator.post(act_url(appointed, "schedule"), {"starts_at": "2026-12-01T10:00"})
    assert r.status_code == 400
    assert re.search(
        r'id="act-schedule-place".*?Give the place, or hold it online\.', text_of(r), re.S
    )
    sms.outbox.clear()
    with capture(execute=True):
        r = mediator.post(
            act_url(appointed, "schedule"),
            {
                "starts_at": "2026-12-01T10:00",
                "online": "on",
                "online_link": "https://meet.example.cn/room/1",
            },
        )
    assert r.status_code == 302, text_of(r)
    session = Session.objects.get(case=appointed)
    assert session.online and session.starts_at == datetime(2026, 12, 1, 10, 0, tzinfo=SH)
    assert sorted(m.phone for m in sms.outbox) == [PHONE_A, PHONE_B]
    # The record of that session.
    with capture(execute=True):
        r = mediator.post(
            act_url(appointed, "record"),
            {"session": session.pk, "record": "双方陈述了各自意见。", "participants": "甲某、乙某"},
        )
    assert r.status_code == 302, text_of(r)
    assert fresh(appointed).status == CaseStatus.IN_SESSION
    page = text_of(mediator.get(case_url(appointed)))
    assert "双方陈述了各自意见。" in page
    # A term without its obligation: next to it.
    r = mediator.post(
        act_url(appointed, "agreement"),
        terms_data([{"amount": "100", "obligation": ""}], text=""),
    )
    assert r.status_code == 400 and "Say what is owed." in text_of(r)
    # The failure, referred to the court.
    r = mediator.post(act_url(appointed, "fail"), {"record": "", "referral": "court"})
    assert r.status_code == 400
    with capture(execute=True):
        r = mediator.post(
            act_url(appointed, "fail"), {"record": "双方分歧过大", "referral": "court"}
        )
    assert r.status_code == 302
    mcase = fresh(appointed)
    assert mcase.status == CaseStatus.FAILED and mcase.referral == "court"
    assert Grievance.objects.get(pk=mcase.grievance_id).state == State.ACCEPTED
    page = text_of(mediator.get(case_url(mcase)))
    assert "Referred to The court (诉调对接)." in page or "Referred to the court" in page.lower()
    assert "Nothing for you to do on this mediation now." in page
    # An act no longer possible: moved on.
    r = mediator.post(
        act_url(mcase, "schedule"), {"starts_at": "2026-12-02T10:00", "place": "村委会"}
    )
    assert r.status_code == 302
    assert "This mediation has moved on." in messages_of(mediator.get(r["Location"]))


def test_an_agreement_not_fully_signed_is_not_printable(roster, people, appointed, capture):
    draft_on_page(appointed, roster.users.zhuoma, capture)
    r = browser(roster.users.zhuoma).get(f"/mediation/{appointed.pk}/agreement/")
    assert r.status_code == 409 and "not signed yet" in text_of(r)
    r = browser(roster.users.zhuoma).get(f"/mediation/{appointed.pk}/agreement.pdf")
    assert r.status_code == 409
    open_case = open_mediation(people)
    r = browser(people.centre_staff).get(f"/mediation/{open_case.pk}/agreement/")
    assert r.status_code == 404


# --- Who sees what --------------------------------------------------------------------------------


def test_the_case_page_is_scoped_like_the_api(roster, people, appointed):
    for user in (people.centre_staff, people.leader, roster.users.zhuoma, roster.users.wang):
        assert browser(user).get(case_url(appointed)).status_code == 200, user
    for user in (people.outsider, people.sibling_staff, roster.users.labour):
        assert browser(user).get(case_url(appointed)).status_code == 404, user
        r = browser(user).post(act_url(appointed, "fail"), {"record": "x"})
        assert r.status_code == 404
    assert browser().get(case_url(appointed)).status_code == 302  # to the login page
    assert browser(people.centre_staff).get("/mediation/999999/").status_code == 404
    assert browser(people.centre_staff).post(act_url(appointed, "nothing")).status_code == 404


def test_a_role_that_may_not_act_gets_the_403_page(roster, people, appointed):
    # The centre may schedule but only a mediator of the case writes the agreement.
    r = browser(people.centre_staff).post(act_url(appointed, "agreement"), terms_data([], text="x"))
    assert r.status_code == 403
    assert "Access denied" in text_of(r) or "403" in text_of(r)


def test_a_party_logged_in_goes_to_their_own_page(roster, people):
    resident = UserFactory(username="party_resident")
    mcase = open_mediation(people, parties=party_data(p0={"user": resident.pk}))
    r = browser(resident).get(case_url(mcase))
    assert r.status_code == 302
    party = mcase.parties.get(user=resident)
    token = r["Location"].removeprefix("/mediation/p/").removesuffix("/")
    assert tokens.party_from_token(token, mcase.pk) == party
    assert browser(resident).get(r["Location"]).status_code == 200


def test_the_page_flow_of_scenario_4(roster, people, capture):
    """Both parties pick through their links, 王建国 (the common pick) settles it, both rate."""
    mcase = open_mediation(people)
    ConflictDeclaration.objects.create(
        mediator=roster.zhuoma, person_name="乙某", person_phone=PHONE_B, relation=Relation.RELATIVE
    )
    r = post_party(browser(), mcase, 1, "choose", {"first": roster.zhuoma.pk})
    assert r.status_code == 400 and "Declared: Relative of party 乙某." in text_of(r)
    for index, picks in ((0, [roster.wang, roster.ciren]), (1, [roster.labour, roster.wang])):
        data = dict(zip(("first", "second"), (m.pk for m in picks), strict=False))
        assert (
            post_party(browser(), mcase, index, "choose", data, capture=capture).status_code == 302
        )
    mcase = fresh(mcase)
    assert [a.mediator for a in mcase.appointments.all()] == [roster.wang]
    agreement = draft_on_page(mcase, roster.users.wang, capture)
    assert party_signs(mcase, 0, agreement, capture).status_code == 302
    assert party_signs(mcase, 1, agreement, capture).status_code == 302
    assert mediator_signs(mcase, roster.users.wang, "王建国", agreement, capture).status_code == 302
    mcase = fresh(mcase)
    assert mcase.status == CaseStatus.SETTLED
    for index, score in ((0, 5), (1, 4)):
        assert post_party(browser(), mcase, index, "rate", {"score": score}).status_code == 302
    assert MediatorRating.objects.filter(mediator=roster.wang).count() == 2


def test_the_link_sent_by_sms_opens_the_party_page(roster, people, capture):
    sms.outbox.clear()
    with capture(execute=True):
        mcase = open_mediation(people)
    links = {m.phone: re.search(r"https?://\S+", m.text).group(0) for m in sms.outbox}
    assert set(links) == {PHONE_A, PHONE_B}
    path_a = "/" + links[PHONE_A].split("/", 3)[3]
    # The token carries its time: compare what it names, not the string.
    token = path_a.removeprefix("/mediation/p/").removesuffix("/")
    assert path_a == f"/mediation/p/{token}/"
    assert tokens.party_from_token(token, mcase.pk) == mcase.parties.get(name="甲某")
    r = browser().get(path_a)
    assert r.status_code == 200 and "甲某" in text_of(r)


def test_the_mediator_settles_on_paper_with_the_scans(roster, people, appointed, capture):
    draft_on_page(appointed, roster.users.zhuoma, capture)
    mediator = browser(roster.users.zhuoma)
    page = text_of(mediator.get(case_url(appointed)))
    assert 'enctype="multipart/form-data"' in page
    r = mediator.post(act_url(appointed, "settle"), {"paper_signed": "on"})
    assert r.status_code == 400
    assert re.search(
        r'id="act-settle-photos".*?Attach the scans or photos of the agreement signed on paper\.',
        text_of(r),
        re.S,
    )
    # Not signed and not on paper: the mediation has not moved, the message says why.
    r = mediator.post(act_url(appointed, "settle"), {})
    assert r.status_code == 302
    assert "is not signed by everyone yet" in messages_of(mediator.get(r["Location"]))
    scan = ContentFile(png_bytes((250, 250, 250)), name="signed.png")
    with capture(execute=True):
        r = mediator.post(act_url(appointed, "settle"), {"paper_signed": "on", "photos": [scan]})
    assert r.status_code == 302, text_of(r)
    mcase = fresh(appointed)
    assert mcase.status == CaseStatus.SETTLED
    assert mcase.grievance.attachments.count() == 1
    # Signed on paper: the online agreement is not a printable one.
    assert mediator.get(f"/mediation/{mcase.pk}/agreement/").status_code == 409
    page = text_of(mediator.get(case_url(mcase)))
    assert "Printable agreement" not in page


def test_the_case_page_opens_a_mediation_convened_on_the_spot(roster, people, capture):
    """The mediate act of /cases/<id>/ with 0 days to choose: the centre appoints at once;
    the households recorded there feed the recusal rule."""
    from tests.grievances.conftest import new_case

    case = new_case(people.grid_worker, category="dispute.neighbours", title="院墙纠纷")
    roster.ciren.household = "JT-009"
    roster.ciren.save(update_fields=["household"])
    client = browser(people.centre_staff)
    page = text_of(client.get(f"/cases/{case.pk}/"))
    assert 'name="choice_days"' in page and 'value="3"' in page
    with capture(execute=True):
        r = client.post(
            f"/cases/{case.pk}/act/mediate/",
            {
                "party_a_name": "甲某",
                "party_a_phone": "13900001111",
                "party_a_household": "JT-009",
                "party_b_name": "乙某",
                "party_b_phone": "13900002222",
                "choice_days": "0",
                "note": "当场召集双方",
            },
        )
    assert r.status_code == 302, text_of(r)
    mcase = MediationCase.objects.get(grievance=case)
    assert [p.household for p in mcase.parties.order_by("id")] == ["JT-009", ""]
    # No waiting for the parties: the centre may assign now, and 次仁 (same household) is out.
    centre = services.Actor.of(people.centre_staff)
    assert "assign" in services.available_acts(mcase, centre)
    assert selectors_recusal(roster.ciren, mcase) == ["Same household as party 甲某."]
    # A bad number of days is a message next to the field, and nothing is opened twice.
    other = new_case(people.grid_worker, category="dispute.neighbours", title="另一起纠纷")
    r = client.post(
        f"/cases/{other.pk}/act/mediate/",
        {"party_a_name": "甲", "party_b_name": "乙", "choice_days": "99"},
    )
    assert r.status_code == 400
    error = re.search(r'id="[^"]*choice_days_error"[^>]*>(.*?)</', text_of(r), re.S)
    assert error and "less than or equal to 30" in text_of(r)
    assert not MediationCase.objects.filter(grievance=other).exists()


def selectors_recusal(mediator, mcase) -> list[str]:
    from mediation.selectors import recusal_reasons

    return [str(reason) for reason in recusal_reasons(mediator, mcase)]
