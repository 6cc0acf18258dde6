"""Scenarios 3 and 4 (domain.md §4) through the pages, in a real browser, with a real worker.

Scenario 3, the tea-meeting dispute of 台斯砍村: at a household tea meeting 李某 says that 卡某
has not paid for 120 mu of silage corn. The village cadre records it, sends it to mediation
with both parties and, since the cadre and the village police convened the parties on the
spot, appoints them at once (lead and assisting). The police officer writes the record; the
cadre drafts the agreement: 卡某 pays in 3 instalments before 11-28. Both parties sign on
their phones with a code sent by SMS, the cadre signs last: settled within 30 minutes, the
case handled; the cadre verifies it and 李某 follows it on /track/.

Scenario 4, menu mediation (点单式调解) in 拉玉乡: the grid worker reports a pasture boundary
quarrel from the phone; the township centre sends it to mediation. Each party opens the
roster on their own page: 格桑, 扎西's uncle, is marked "must withdraw" (回避) and choosing
him is refused; both pick 普布, who is appointed, holds an online session, drafts the
agreement and settles it after both signed. Both parties rate him; the public roster shows
his figures; the centre verifies and the grid worker hears of it.

Every role acts as itself through the pages on the live server: the grid worker and the
parties on a 375 px phone, the staff and the mediators on a desktop, all in Chinese. A real
Celery worker relays the case events (notifications). The worker is another process, so
the clock is the real one.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from decimal import Decimal
from types import SimpleNamespace

import pytest
from django.core.cache import cache
from django.utils import timezone

from grids.models import Role
from grievances import sms
from grievances.models import CaseEvent, Grievance, State
from mediation.models import (
    CaseStatus,
    ChosenBy,
    ConflictDeclaration,
    MediationCase,
    MediationOrg,
    Mediator,
    MediatorRating,
    OrgKind,
    Relation,
)
from notifications.models import Notification
from tests.browser_support import DESKTOP, PHONE
from tests.factories import UserFactory, make_member, region_with_box
from tests.integration.conftest import wait_for

pytestmark = [pytest.mark.browser, pytest.mark.integration]

PASSWORD = "pass-word-123"
LINK_RE = re.compile(r"https?://\S+/mediation/p/[\w:\-]+/")
CODE_RE = re.compile(r"(?<![0-9A-Za-z])(\d{6})(?![0-9A-Za-z])")


# --- The browser side ------------------------------------------------------------------------


class Tour:
    """Browser contexts for the people of one scenario, each with its own cookies; every
    page records requests leaving the live server and uncaught script errors."""

    def __init__(self, chromium, base: str, shots, prefix: str):
        self.chromium = chromium
        self.base = base
        self.shots = shots
        self.prefix = prefix
        self.contexts = []
        self.foreign: list[str] = []
        self.js_errors: list[str] = []

    def page(self, device: str):
        if device == "phone":
            options = {"viewport": PHONE, "is_mobile": True, "has_touch": True}
        else:
            options = {"viewport": DESKTOP}
        context = self.chromium.new_context(locale="zh-CN", device_scale_factor=2, **options)
        # Generous: the machine may be busy with other work.
        context.set_default_timeout(30_000)
        self.contexts.append(context)
        page = context.new_page()
        page.on("request", self._on_request)
        page.on("pageerror", lambda exc: self.js_errors.append(str(exc)))
        return page

    def _on_request(self, request) -> None:
        if not request.url.startswith((self.base, "data:", "blob:")):
            self.foreign.append(request.url)

    def shot(self, page, name: str, *, also: str = "", full_page: bool = True) -> None:
        path = self.shots / f"{self.prefix}-{name}.png"
        page.screenshot(path=str(path), full_page=full_page)
        if also:
            page.screenshot(path=str(self.shots / also), full_page=full_page)

    def close(self) -> None:
        for context in self.contexts:
            context.close()


def sign_in(page, base: str, username: str, then: str) -> None:
    page.goto(f"{base}/accounts/login/?next={then}")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    with page.expect_navigation():
        page.click("form.form button[type=submit]")
    assert page.url == f"{base}{then}", page.url


def fits_the_phone(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def success(page) -> str:
    assert page.locator(".message--success").count() == 1, page.content()
    return page.inner_text(".message--success").strip()


def report(page, base: str, *, category, title, description, grid, people, source=None):
    """The staff form of /report/: the category, the grid chosen by hand, the complainants."""
    page.goto(f"{base}/report/")
    page.select_option("#id_category", category)
    page.fill("#id_title", title)
    page.fill("#id_description", description)
    page.select_option("#id_grid", grid)
    if source:
        page.select_option("#id_source", source)
    for i, (name, phone) in enumerate(people):
        if i:
            page.click("[data-add-person]")
        page.fill(f"#id_people-{i}-name", name)
        page.fill(f"#id_people-{i}-phone", phone)


def send_report(page, base: str) -> Grievance:
    with page.expect_navigation():
        page.click("[data-submit]")
    assert page.url == f"{base}/report/done/", page.content()
    return Grievance.objects.order_by("-pk").first()


def case_act(page, base: str, case_id: int, name: str, fill=None) -> None:
    """An act on the case page /cases/<id>/: open it, fill it, confirm."""
    page.goto(f"{base}/cases/{case_id}/")
    page.click(f"#act-{name} summary")
    if fill:
        fill(page)
    with page.expect_navigation():
        page.click(f"#act-{name} button[type=submit]")
    assert page.url.startswith(f"{base}/cases/{case_id}/"), page.url
    success(page)


def mediation_act(page, base: str, mcase: MediationCase, name: str, fill=None) -> str:
    """An act on the mediation page /mediation/<id>/; returns the success message."""
    page.goto(f"{base}/mediation/{mcase.pk}/")
    page.click(f"#act-{name} summary")
    if fill:
        fill(page)
    with page.expect_navigation():
        page.click(f"#act-{name} button[type=submit]")
    assert page.url.startswith(f"{base}/mediation/{mcase.pk}/"), page.url
    return success(page)


def open_mediation(
    page, base: str, case: Grievance, other: tuple[str, str], note: str, choice_days=None
):
    """The mediate act of the case page, with the other side of the dispute."""

    def parties(p):
        # The reporter is the first party already.
        assert p.input_value("#act-mediate-party_a_name") == case.complainants.first().name
        p.fill("#act-mediate-party_b_name", other[0])
        p.fill("#act-mediate-party_b_phone", other[1])
        p.fill("#act-mediate-note", note)
        if choice_days is not None:
            p.fill("#act-mediate-choice_days", str(choice_days))

    case_act(page, base, case.pk, "mediate", parties)
    case.refresh_from_db()
    assert case.state == State.MEDIATING
    return MediationCase.objects.get(grievance=case)


def links_by_phone() -> dict[str, str]:
    """The personal link in each party's text message."""
    links = {}
    for message in sms.outbox:
        match = LINK_RE.search(message.text)
        if match:
            links[message.phone] = match.group(0)
    return links


def code_for(phone: str) -> str:
    text = [m.text for m in sms.outbox if m.phone == phone][-1]
    match = CODE_RE.search(text)
    assert match, text
    return match.group(1)


def fill_term(page, i: int, *, obligor: str, obligation: str, amount=None, due=None, no=None):
    page.select_option(f"#id_terms-{i}-obligor", label=obligor)
    page.fill(f"#id_terms-{i}-obligation", obligation)
    if amount is not None:
        page.fill(f"#id_terms-{i}-amount", amount)
    if due is not None:
        page.fill(f"#id_terms-{i}-due_date", due.isoformat())
    if no is not None:
        page.fill(f"#id_terms-{i}-instalment", str(no))


def party_signs(page, link: str, phone: str, name: str, version: int) -> None:
    """On the party's own page: a code by SMS, then the code and the typed name."""
    page.goto(link)
    assert page.get_attribute(".party", "data-status") == CaseStatus.IN_SESSION
    assert page.locator("#sign h3").inner_text().strip() == f"签署第 {version} 版"
    with page.expect_navigation():
        page.click("form.send-code button[type=submit]")
    assert phone[-4:] in success(page)
    page.fill("#act-sign-code", code_for(phone))
    page.fill("#act-sign-typed_name", name)
    with page.expect_navigation():
        page.click("form.sign-form button[type=submit]")
    assert success(page) == "您已签署协议书。"
    assert page.locator("#sign .alert--success").count() == 1


def mediator_signs(page, base: str, mcase: MediationCase, name: str) -> str:
    def confirm(p):
        p.fill("#act-sign-typed_name", name)
        p.check("#act-sign-confirm")

    return mediation_act(page, base, mcase, "sign", confirm)


def party_rates(page, link: str, stars: int, comment: str) -> None:
    page.goto(link)
    # The stars run 5…1: the n-th radio is 5 - n stars.
    page.click(f"label[for='act-rate-score_{5 - stars}']")
    page.fill("#act-rate-comment", comment)
    with page.expect_navigation():
        page.click(".rate-form button[type=submit]")
    assert success(page) == "感谢您对调解员的评价。"
    assert page.locator("#rated-title").count() == 1


def events_relayed(case: Grievance) -> bool:
    """The worker has relayed every event of the case (the outbox is empty for it)."""
    events = CaseEvent.objects.filter(grievance=case)
    return events.exists() and not events.filter(processed_at__isnull=True).exists()


def wait_for_worker(worker, predicate, what: str):
    """Poll until the worker has done it; on a timeout, show the end of its log."""
    try:
        return wait_for(predicate, 60, what=what)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n--- worker log ---\n{worker.output()[-4000:]}") from None


@pytest.fixture
def site(settings, live_server, screenshots_dir):
    settings.SMS_BACKEND = "grievances.sms.LocmemBackend"
    # The personal links in the text messages open on this server.
    settings.SITE_URL = live_server.url
    # No internet: map tiles come from a path of the live server that answers 404.
    settings.MAP_TILE_URL = "/no-tiles-here/{z}/{x}/{y}.png"
    sms.outbox.clear()
    cache.clear()
    yield SimpleNamespace(base=live_server.url, shots=screenshots_dir)
    sms.outbox.clear()
    cache.clear()


# --- Scenario 3: the tea-meeting dispute --------------------------------------------------------

LI_PHONE = "13899010001"  # 李某, the seller
KA_PHONE = "13899010002"  # 卡某, the buyer


@pytest.fixture
def taisikan(transactional_db):
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
    cadre = make_member(
        "tsk_cadre", village, Role.CENTRE_STAFF, full_name="村干部阿依古丽", phone="13899020001"
    )
    police = make_member(
        "tsk_police", village, Role.GRID_POLICE, full_name="村警艾力", phone="13899020002"
    )
    committee = MediationOrg.objects.create(
        name="台斯砍村人民调解委员会", kind=OrgKind.PEOPLES, region=village
    )
    return SimpleNamespace(
        village=village,
        grid=grid,
        cadre=cadre,
        police=police,
        lead=Mediator.objects.create(
            name="阿依古丽", user=cadre, organisation=committee, languages="zh,ug"
        ),
        assisting=Mediator.objects.create(
            name="艾力", user=police, organisation=committee, languages="zh,ug,kk"
        ),
    )


def instalment_dates() -> list[date]:
    """Three instalments before the coming 11-28."""
    today = timezone.localdate()
    year = today.year if today < date(today.year, 10, 1) else today.year + 1
    return [date(year, 10, 10), date(year, 11, 5), date(year, 11, 27)]


def test_scenario_3_the_tea_meeting_dispute_settled_in_instalments_through_the_pages(
    taisikan, site, worker, chromium, settings
):
    base = site.base
    tour = Tour(chromium, base, site.shots, "s3")
    try:
        cadre = tour.page("desktop")
        police = tour.page("desktop")
        li = tour.page("phone")
        ka = tour.page("phone")

        # --- 1. The cadre records what 李某 said at the tea meeting ------------------------
        sign_in(cadre, base, taisikan.cadre.username, "/report/")
        report(
            cadre,
            base,
            category="dispute.contract",
            title="青贮玉米款未付",
            description="联户茶会上李某反映：卡某收购其120余亩青贮玉米，货款至今未付",
            grid=taisikan.grid.code,
            people=[("李某", LI_PHONE)],
            source="tea_meeting",
        )
        tour.shot(cadre, "01-report-desktop")
        case = send_report(cadre, base)
        assert (case.title, case.source, case.state) == (
            "青贮玉米款未付",
            "tea_meeting",
            "submitted",
        )
        assert case.region == taisikan.grid and case.owning_centre == taisikan.village
        started = timezone.now()

        # --- 2. To mediation with both parties; each gets a personal link by SMS -----------
        # The cadre and the police convened both parties at the tea table: no roster to
        # choose from (0 days), the centre appoints at once.
        mcase = open_mediation(
            cadre, base, case, ("卡某", KA_PHONE), "村干部、村警召集双方当场调解", choice_days=0
        )
        links = links_by_phone()
        assert set(links) == {LI_PHONE, KA_PHONE}
        assert all(link.startswith(f"{base}/mediation/p/") for link in links.values())
        with cadre.expect_navigation():
            cadre.click(f"a[href='/mediation/{mcase.pk}/']")
        assert cadre.inner_text(".med-status").strip() == "当事人选择调解员中"
        tour.shot(cadre, "02-mediation-opened-desktop")

        # --- 3. The centre appoints the cadre (lead) and the village police (assisting) ----
        def team(p):
            p.select_option("#act-assign-mediator", str(taisikan.lead.pk))
            p.check(f"#act-assign input[name=assisting][value='{taisikan.assisting.pk}']")
            p.fill("#act-assign-note", "村干部、村警当场召集双方")

        mediation_act(cadre, base, mcase, "assign", team)
        mcase.refresh_from_db()
        assert (mcase.status, mcase.chosen_by) == (CaseStatus.SCHEDULED, ChosenBy.CENTRE)
        roles = [(a.mediator.name, a.role) for a in mcase.appointments.all()]
        assert sorted(roles) == [("艾力", "assisting"), ("阿依古丽", "lead")]
        assert cadre.locator("#mediators .person").count() == 2

        # --- 4. The police officer writes the record of the talk at the tea table ----------
        sign_in(police, base, taisikan.police.username, f"/mediation/{mcase.pk}/")

        def record(p):
            # No session was scheduled: the record is of a session held now.
            assert p.input_value("#act-record-session") == ""
            p.fill("#act-record-place", "台斯砍村联户茶会（李某家）")
            p.fill("#act-record-participants", "李某、卡某、村干部阿依古丽、村警艾力")
            p.fill(
                "#act-record-record",
                "卡某承认收购李某青贮玉米120亩，每亩280元，共33600元未付；"
                "卡某称资金周转困难，愿分期支付。李某同意分三期。",
            )

        mediation_act(police, base, mcase, "record", record)
        assert "每亩280元" in police.inner_text("#sessions")
        tour.shot(police, "03-record-police-desktop")

        # --- 5. The agreement: three instalments before 11-28 -----------------------------
        first, second, third = instalment_dates()
        text = (
            "经村调解委员会调解，双方自愿达成如下协议：卡某分三期向李某支付青贮玉米款"
            f"共计33600元，于{third.year}年11月28日前付清。"
        )

        def three_instalments(p):
            p.fill("#act-agreement-text", text)
            # Two empty rows come with the form; "Add a term" opens the third.
            p.click("#act-agreement [data-term-add]")
            assert p.locator("#act-agreement .term-form").count() == 3
            dues = (("12000", first), ("12000", second), ("9600", third))
            for i, (amount, due) in enumerate(dues):
                fill_term(
                    p,
                    i,
                    obligor="卡某",
                    obligation=f"向李某支付青贮玉米款第{i + 1}期",
                    amount=amount,
                    due=due,
                    no=i + 1,
                )

        mediation_act(cadre, base, mcase, "agreement", three_instalments)
        agreement = mcase.agreements.order_by("-version").first()
        assert agreement.version == 1
        terms = list(agreement.terms.order_by("position"))
        assert [(t.instalment, t.amount, t.due_date, t.obligor.name) for t in terms] == [
            (1, Decimal("12000.00"), first, "卡某"),
            (2, Decimal("12000.00"), second, "卡某"),
            (3, Decimal("9600.00"), third, "卡某"),
        ]
        assert sum(t.amount for t in terms) == Decimal("33600")
        assert all(t.due_date < date(third.year, 11, 28) for t in terms)
        shown = cadre.locator("#agreement .term")
        assert shown.count() == 3
        assert cadre.locator("#agreement .term__instalment").all_inner_texts() == [
            "第 1 期",
            "第 2 期",
            "第 3 期",
        ]
        assert cadre.inner_text("#agreement tfoot .term__amount").strip() == "33,600.00"
        tour.shot(cadre, "04-agreement-drafted-desktop")

        # --- 6. Each party reads it on the phone and signs with the code sent by SMS -------
        for page, phone, name in ((li, LI_PHONE, "李某"), (ka, KA_PHONE, "卡某")):
            page.goto(links[phone])
            assert page.inner_text(".party-head .facts strong").strip() == name
            assert page.locator("#agreement .term").count() == 3
            assert fits_the_phone(page)
            tour.shot(page, f"05-party-{phone[-1]}-agreement-phone")
            party_signs(page, links[phone], phone, name, version=1)
        tour.shot(ka, "06-party-signed-phone")
        mcase.refresh_from_db()
        assert mcase.status == CaseStatus.IN_SESSION  # the lead mediator has not signed yet

        # --- 7. The cadre signs last, as lead mediator: settled, the case handled ----------
        assert mediator_signs(cadre, base, mcase, "阿依古丽") == "已完成：签署协议书。"
        mcase.refresh_from_db()
        case.refresh_from_db()
        assert mcase.status == CaseStatus.SETTLED
        assert mcase.settled_agreement == agreement
        assert case.state == State.HANDLED
        assert f"{third.isoformat()}" in case.result
        settled = CaseEvent.objects.get(grievance=case, action="mediation_settled")
        mediated = CaseEvent.objects.get(grievance=case, action="mediate")
        assert settled.created_at - mediated.created_at <= timedelta(minutes=30)
        assert timezone.now() - started < timedelta(minutes=30)
        assert cadre.inner_text(".med-head .med-status").strip() == "调解成功"
        assert cadre.locator("#agreement .signer--signed").count() == 3
        cadre.locator("#agreement").scroll_into_view_if_needed()
        tour.shot(cadre, "07-settled-desktop", also="mediation-case.png")

        # --- 8. The printed agreement -------------------------------------------------------
        with cadre.expect_navigation():
            cadre.click("#outcome a[href$='/agreement/']")
        assert cadre.url == f"{base}/mediation/{mcase.pk}/agreement/"
        sheet = cadre.inner_text(".sheet")
        for needed in ("李某", "卡某", "33,600.00", third.isoformat(), "阿依古丽"):
            assert needed in sheet, needed
        assert cadre.locator(".sheet__table--terms tbody tr").count() == 3
        assert agreement.content_hash in sheet
        tour.shot(cadre, "08-agreement-print-desktop", also="agreement.png")

        # --- 9. The village centre verifies; 李某 follows the case on /track/ -------------
        case_act(cadre, base, case.pk, "verify", lambda p: p.fill("#act-verify-note", "协议已签署"))
        case.refresh_from_db()
        assert case.state == State.CLOSED
        li.goto(f"{base}/track/?code={case.display_code}")
        li.fill("#id_last4", LI_PHONE[-4:])
        with li.expect_navigation():
            li.click("form.form button[type=submit]")
        assert li.get_attribute("#case-state", "data-state") == State.CLOSED
        actions = li.eval_on_selector_all(
            ".public-timeline__item", "items => items.map(i => i.dataset.action)"
        )
        assert {"mediate", "mediation_appoint", "mediation_settled", "verify"} <= set(actions)
        assert fits_the_phone(li)
        tour.shot(li, "09-track-phone")

        # The real worker relayed every event of the case.
        wait_for_worker(
            worker, lambda: events_relayed(case), "the worker to relay the case's events"
        )

        assert tour.foreign == []
        assert tour.js_errors == []
    finally:
        tour.close()


# --- Scenario 4: menu mediation -----------------------------------------------------------------

TASHI_PHONE = "13908930001"
TSETEN_PHONE = "13908930002"


@pytest.fixture
def layu(transactional_db):
    city = region_with_box("山南市", "540500000000", "city", None, (90, 28, 93, 30))
    county = region_with_box("琼结县", "540524000000", "county", city, (91.4, 28.8, 91.9, 29.2))
    township = region_with_box(
        "拉玉乡", "540524200000", "township", county, (91.5, 28.9, 91.8, 29.1)
    )
    village = region_with_box("拉玉村", "540524200201", "village", township, (91.6, 29, 91.7, 29.1))
    grid = region_with_box(
        "拉玉村第一网格", "540524200201001", "grid", village, (91.6, 29, 91.7, 29.1), "residential"
    )
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
    return SimpleNamespace(
        township=township,
        grid=grid,
        centre=make_member("ly_centre", township, Role.CENTRE_STAFF, full_name="乡综治中心"),
        grid_worker=make_member("ly_grid", grid, Role.GRID_WORKER, full_name="拉玉网格员"),
        gesang=gesang,
        pubu=mediator(
            "普布", "ly_pubu", committee, languages="bo,zh", years_experience=9, phone="13908931001"
        ),
        dawa=mediator("达瓦", "ly_dawa", committee, languages="bo", years_experience=4),
        nima=mediator("尼玛", "ly_nima", land, languages="bo,zh", years_experience=20),
    )


def test_scenario_4_menu_mediation_the_relative_refused_the_chosen_one_rated_through_the_pages(
    layu, site, worker, chromium
):
    base = site.base
    tour = Tour(chromium, base, site.shots, "s4")
    try:
        grid_worker = tour.page("phone")
        centre = tour.page("desktop")
        pubu = tour.page("desktop")
        tashi = tour.page("phone")
        tseten = tour.page("phone")
        public = tour.page("phone")

        # --- 1. The grid worker reports the quarrel from the phone -------------------------
        sign_in(grid_worker, base, layu.grid_worker.username, "/report/")
        report(
            grid_worker,
            base,
            category="dispute.land",
            title="夏季牧场草场边界纠纷",
            description="扎西与次旦因夏季牧场边界划分发生争执",
            grid=layu.grid.code,
            people=[("扎西", TASHI_PHONE)],
        )
        assert fits_the_phone(grid_worker)
        tour.shot(grid_worker, "01-report-phone")
        case = send_report(grid_worker, base)
        assert case.reporter == layu.grid_worker and case.region == layu.grid

        # --- 2. The township centre sends it to mediation with both parties ---------------
        sign_in(centre, base, layu.centre.username, f"/cases/{case.pk}/")
        mcase = open_mediation(centre, base, case, ("次旦", TSETEN_PHONE), "点单式调解")
        assert mcase.status == CaseStatus.CHOOSING
        links = links_by_phone()
        assert set(links) == {TASHI_PHONE, TSETEN_PHONE}
        tour.shot(centre, "02-case-mediating-desktop")

        # --- 3. 扎西 opens his page: the roster of his case, his uncle marked out ---------
        tashi.goto(links[TASHI_PHONE])
        assert tashi.get_attribute(".party", "data-status") == CaseStatus.CHOOSING
        cards = tashi.locator("#choose .mediator")
        assert sorted(cards.locator(".mediator__name").all_inner_texts()) == sorted(
            ["格桑", "普布", "达瓦", "尼玛"]
        )
        uncle = tashi.locator(f"#mediator-{layu.gesang.pk}")
        assert "mediator--recused" in uncle.get_attribute("class")
        assert uncle.locator(".mediator__recusal").inner_text().split() == [
            "须回避",
            "已申报：系当事人",
            "扎西",
            "的亲属。",
        ]
        option = tashi.locator(f"#act-choose-first option[value='{layu.gesang.pk}']")
        assert option.is_disabled()
        assert option.inner_text() == "格桑 · 拉玉乡人民调解委员会（须回避）"
        assert fits_the_phone(tashi)
        tour.shot(tashi, "03-party-roster-phone", also="party-phone.png")
        uncle.scroll_into_view_if_needed()
        tour.shot(tashi, "04-party-uncle-must-withdraw-phone", full_page=False)

        # A form that still offers him (a page opened before he declared it, or one altered
        # in the browser) is refused by the recusal rule, with the reason.
        tashi.eval_on_selector_all(
            "#choose-form option[disabled]", "options => options.forEach(o => o.disabled = false)"
        )
        tashi.select_option("#act-choose-first", str(layu.gesang.pk))
        tashi.select_option("#act-choose-second", str(layu.pubu.pk))
        with tashi.expect_navigation():
            tashi.click("#choose-form button[type=submit]")
        errors = tashi.inner_text("#choose-form .field__errors")
        assert errors.strip() == "格桑 须回避：已申报：系当事人 扎西 的亲属。"
        assert not mcase.parties.get(name="扎西").choices.exists()
        tashi.locator("#choose-form").scroll_into_view_if_needed()
        tour.shot(tashi, "05-party-recusal-refused-phone", full_page=False)

        # He picks 普布, then 达瓦.
        tashi.select_option("#act-choose-first", str(layu.pubu.pk))
        tashi.select_option("#act-choose-second", str(layu.dawa.pk))
        with tashi.expect_navigation():
            tashi.click("#choose-form button[type=submit]")
        assert success(tashi) == "已记录您的选择。"
        assert tashi.locator(f"#mediator-{layu.pubu.pk} .mediator__rank").count() == 1

        # --- 4. 次旦 picks 普布 and the county's land mediator: 普布 is appointed ----------
        tseten.goto(links[TSETEN_PHONE])
        assert "扎西 (已选择)" in tseten.inner_text(".party-head .facts").replace("（", " (")
        tseten.select_option("#act-choose-first", str(layu.pubu.pk))
        tseten.select_option("#act-choose-second", str(layu.nima.pk))
        with tseten.expect_navigation():
            tseten.click("#choose-form button[type=submit]")
        success(tseten)
        mcase.refresh_from_db()
        assert (mcase.status, mcase.chosen_by) == (CaseStatus.SCHEDULED, ChosenBy.PARTIES)
        assert mcase.org.name == "拉玉乡人民调解委员会"
        assert tseten.inner_text("#mediator .person__name").strip() == "普布"
        assert fits_the_phone(tseten)
        tour.shot(tseten, "06-party-mediator-appointed-phone")

        # --- 5. 普布 holds an online session, writes the record and the agreement ---------
        sign_in(pubu, base, layu.pubu.user.username, f"/mediation/{mcase.pk}/")
        assert "普布" in pubu.inner_text("#mediators")
        now = timezone.localtime()

        def online_session(p):
            p.fill("#act-schedule-starts_at", now.strftime("%Y-%m-%dT%H:%M"))
            p.check("#act-schedule-online")
            p.fill("#act-schedule-participants", "扎西、次旦、调解员普布")

        mediation_act(pubu, base, mcase, "schedule", online_session)
        session = mcase.sessions.get()
        assert session.online

        def record(p):
            assert p.input_value("#act-record-session") == str(session.pk)
            p.fill(
                "#act-record-record",
                "双方通过视频陈述各自放牧范围，对照草场承包证确认边界在玛曲河北岸石堆处。",
            )

        mediation_act(pubu, base, mcase, "record", record)
        today = timezone.localdate()

        def terms(p):
            p.fill(
                "#act-agreement-text",
                "双方同意以玛曲河北岸石堆为夏季牧场边界，今后互不越界放牧。",
            )
            fill_term(
                p,
                0,
                obligor="次旦",
                obligation="将越界的围栏移回边界石堆处",
                due=today + timedelta(days=12),
            )
            fill_term(
                p,
                1,
                obligor="扎西",
                obligation="协助在边界处设立界桩",
                due=today + timedelta(days=22),
            )

        mediation_act(pubu, base, mcase, "agreement", terms)
        assert pubu.locator("#agreement .term").count() == 2
        tour.shot(pubu, "07-mediator-case-desktop")

        # --- 6. Both sign on their phones, then 普布: settled, the case handled ------------
        party_signs(tashi, links[TASHI_PHONE], TASHI_PHONE, "扎西", version=1)
        party_signs(tseten, links[TSETEN_PHONE], TSETEN_PHONE, "次旦", version=1)
        mediator_signs(pubu, base, mcase, "普布")
        mcase.refresh_from_db()
        assert mcase.status == CaseStatus.SETTLED
        assert Grievance.objects.get(pk=case.pk).state == State.HANDLED
        tour.shot(pubu, "08-mediator-settled-desktop")

        # --- 7. Both parties rate the mediator (评单), once each ----------------------------
        party_rates(tashi, links[TASHI_PHONE], 5, "公道")
        party_rates(tseten, links[TSETEN_PHONE], 4, "公道")
        assert tseten.locator("#rate form").count() == 0  # rated: no second form
        assert fits_the_phone(tseten)
        tour.shot(tseten, "09-party-rated-phone")
        assert sorted(
            MediatorRating.objects.filter(case=mcase).values_list("mediator__name", "score")
        ) == [("普布", 4), ("普布", 5)]

        # The printable agreement from a party's page.
        with tseten.expect_navigation():
            tseten.click("#outcome a[href*='/agreement/?token=']")
        assert tseten.locator(".sheet__table--terms tbody tr").count() == 2
        tour.shot(tseten, "10-agreement-print-phone")

        # --- 8. The public roster shows it in 普布's figures -------------------------------
        public.goto(f"{base}/mediators/?region={layu.township.code}")
        card = public.locator(f"#mediator-{layu.pubu.pk}")
        figures = card.locator(".mediator__figures").inner_text()
        assert "100%" in figures and "4.5" in figures and "(2 条评价)" in figures.replace("（", "(")
        assert "暂无评价" in public.locator(f"#mediator-{layu.gesang.pk}").inner_text()
        # The public roster names no conflict of interest: that is for a case's parties.
        assert public.locator(".mediator--recused").count() == 0
        assert fits_the_phone(public)
        tour.shot(public, "11-roster-phone", also="roster-phone.png")

        # --- 9. The centre verifies; the grid worker who reported it hears of it ----------
        case_act(centre, base, case.pk, "verify")
        assert Grievance.objects.get(pk=case.pk).state == State.CLOSED
        notice = wait_for_worker(
            worker,
            lambda: Notification.objects.filter(
                recipient=layu.grid_worker, grievance=case, kind="verify"
            ).first(),
            "the worker's notification of the verified case",
        )
        grid_worker.goto(f"{base}/notifications/")
        assert notice.display_title in grid_worker.inner_text("main")
        assert fits_the_phone(grid_worker)
        tour.shot(grid_worker, "12-grid-worker-notified-phone")
        wait_for_worker(
            worker, lambda: events_relayed(case), "the worker to relay the case's events"
        )

        assert tour.foreign == []
        assert tour.js_errors == []
    finally:
        tour.close()
