"""The demo's mediation (registered with grids.demo): two organisations and their mediators
on the public roster, two of them with a demo login, and the stories of the domain brief
that go through a mediation, told through the services as grievances/demo.py tells its own.

Idempotent: organisations and mediators are found by name; the stories are told once.
"""

from __future__ import annotations

from datetime import date, timedelta

from django.utils import timezone
from django.utils.translation import gettext as _

from grids.demo import code_of, demo_step
from grids.models import Region
from grids.workcalendar import WorkCalendar
from grievances import deadlines
from grievances import demo as case_demo
from grievances import services as case_services
from grievances.demo import Story, at, local_day, person, place, point, told, whistle
from grievances.models import Category, Complexity, Grievance, HandlingLevel, Source, Urgency
from grievances.services import ComplainantData
from mediation import services, tokens
from mediation.models import (
    ConflictDeclaration,
    Language,
    MediationCase,
    MediationOrg,
    Mediator,
    OneTimeCode,
    OrgKind,
    Relation,
)
from mediation.services import Actor, PartyData, TermData

# --- The roster ------------------------------------------------------------------------------

LAYU = "琼结县拉玉乡人民调解委员会"
HEJING = "和静县矛盾纠纷多元化解中心"

# name, kind, region path, one-stop centre, phone, address
ORGS = (
    (
        LAYU,
        OrgKind.PEOPLES,
        ("琼结县", "拉玉乡"),
        False,
        "0893-7512301",
        "琼结县拉玉乡人民政府院内",
    ),
    (HEJING, OrgKind.OTHER, ("和静县",), True, "0996-5012348", "和静县和静镇东归大道综治中心一楼"),
)

# name, organisation, login, specialties, languages, years, introduction, household
MEDIATORS = (
    (
        "卓玛",
        LAYU,
        "zhuoma",
        ("dispute.land", "dispute.family", "dispute.neighbours"),
        (Language.BO, Language.ZH),
        12,
        "拉玉乡人民调解委员会主任，长期调解草场边界、婚姻家庭和邻里纠纷。",
        "拉玉村1组3号",
    ),
    (
        "次旦",
        LAYU,
        "",
        ("dispute.land", "dispute.neighbours"),
        (Language.BO,),
        8,
        "拉玉村老党员、村调解员，熟悉村里的草场和土地情况。",
        "拉玉村2组7号",
    ),
    (
        "格桑",
        LAYU,
        "",
        ("dispute.family", "dispute.neighbours"),
        (Language.BO, Language.ZH),
        5,
        "白那村妇女主任、兼职调解员。",
        "白那村1组12号",
    ),
    (
        "其米格",
        HEJING,
        "qimige",
        ("dispute.contract", "dispute.neighbours", "dispute.land"),
        (Language.MN, Language.ZH),
        15,
        "哈尔莫敦镇调解员，熟悉农牧区合同、债务和草场纠纷，蒙汉双语调解。",
        "",
    ),
    (
        "阿依古丽",
        HEJING,
        "",
        ("dispute.family", "dispute.neighbours"),
        (Language.UG, Language.ZH),
        9,
        "县妇联选派的婚姻家庭纠纷调解员，维汉双语。",
        "",
    ),
    (
        "王建国",
        HEJING,
        "",
        ("dispute.wages", "dispute.contract"),
        (Language.ZH,),
        20,
        "退休法官，擅长劳动争议、拖欠工资和合同纠纷调解。",
        "",
    ),
)

# 格桑 is a relative of a party of the 拉玉乡 dispute (scenario 4): the recusal rule keeps
# her out when that party picks her from the roster.
SUONANG = ("索朗", "13989031876")


@demo_step(20)
def load_roster() -> dict[str, int]:
    orgs = {}
    for name, kind, path, one_stop, phone, address in ORGS:
        region = Region.objects.get(code=code_of(*path))
        orgs[name], _created = MediationOrg.objects.get_or_create(
            name=name,
            region=region,
            defaults={
                "kind": kind,
                "one_stop_centre": one_stop,
                "phone": phone,
                "address": address,
            },
        )
    specialties = {c.code: c for c in Category.objects.filter(is_dispute=True)}
    for name, org, login, codes, languages, years, bio, household in MEDIATORS:
        mediator, created = Mediator.objects.get_or_create(
            name=name,
            organisation=orgs[org],
            defaults={
                "languages": ",".join(languages),
                "years_experience": years,
                "bio": bio,
                "household": household,
            },
        )
        if created:
            mediator.specialties.set([specialties[c] for c in codes if c in specialties])
        if login and mediator.user_id is None:
            mediator.user = person(login)
            mediator.save(update_fields=["user"])
        if name == "格桑":
            ConflictDeclaration.objects.get_or_create(
                mediator=mediator,
                person_name=SUONANG[0],
                person_phone=SUONANG[1],
                defaults={"relation": Relation.RELATIVE, "note": "索朗是其表兄。"},
            )
    return {
        _("mediation organisations"): len(orgs),
        _("mediators"): Mediator.objects.filter(organisation__in=orgs.values()).count(),
    }


# --- The stories -------------------------------------------------------------------------------

case_demo.retime_related("mediation.MediationCase", "grievance", ["created_at", "appointed_at"])
case_demo.retime_related("mediation.MediationCase", "grievance", ["closed_at", "choice_deadline"])
case_demo.retime_related("mediation.CaseMediator", "case__grievance", ["appointed_at"])
case_demo.retime_related("mediation.Party", "case__grievance", ["chose_at"])
case_demo.retime_related("mediation.PartyChoice", "party__case__grievance", ["created_at"])
case_demo.retime_related(
    "mediation.Session", "case__grievance", ["created_at", "recorded_at", "starts_at"]
)
case_demo.retime_related("mediation.Agreement", "case__grievance", ["created_at"])
case_demo.retime_related("mediation.Signature", "agreement__case__grievance", ["signed_at"])
case_demo.retime_related("mediation.OneTimeCode", "party__case__grievance", ["created_at"])
case_demo.retime_related("mediation.OneTimeCode", "party__case__grievance", ["used_at"])
case_demo.retime_related("mediation.MediatorRating", "case__grievance", ["created_at"])

T_WAGES = "某建筑公司拖欠曹某工资7.7万元"
T_CORN = "李某反映卡某拖欠青贮玉米款"
T_PASTURE = "拉玉村两户村民草场边界纠纷"
T_SUPPORT = "白那村兄妹赡养老人费用分担纠纷"
TITLES = (T_WAGES, T_CORN, T_PASTURE, T_SUPPORT)
# The code a party reads from the text message to sign (the demo's messages go nowhere).
SIGNING_CODE = "246810"


def mediation_of(story: Story) -> MediationCase:
    return MediationCase.objects.select_related(
        "grievance__category", "grievance__region", "grievance__owning_centre", "org"
    ).get(grievance_id=story.pk)


def party(story: Story, name: str) -> Actor:
    return Actor(party=mediation_of(story).parties.get(name=name))


def roster(name: str) -> Mediator:
    return Mediator.objects.get(name=name)


def sign_all(story: Story, when, mediator_login: str, *party_names: str) -> None:
    """The lead mediator signs on screen; each party asks for a code and signs with it."""
    agreement = mediation_of(story).agreements.order_by("-version").first()
    mediator = person(mediator_login)
    story(
        when,
        services.mediation_sign,
        mediation_of(story),
        Actor.of(mediator),
        version=agreement.version,
        sha256=agreement.content_hash,
        typed_name=mediator.full_name,
    )
    for n, name in enumerate(party_names, start=1):
        signed = when + timedelta(minutes=2 * n)
        story(signed, services.mediation_send_code, mediation_of(story), party(story, name))
        actor = party(story, name)
        OneTimeCode.objects.filter(party=actor.party, used_at__isnull=True).update(
            code_hash=tokens.code_hash(actor.party.pk, SIGNING_CODE)
        )
        story(
            signed,
            services.mediation_sign,
            mediation_of(story),
            actor,
            version=agreement.version,
            sha256=agreement.content_hash,
            typed_name=name,
            code=SIGNING_CODE,
        )


def unpaid_wages() -> None:
    """Scenario 2 (和静县, closed and rated): 曹某 reports from his phone that a construction
    company owes him 77,000 yuan; the grid worker checks; the township centre's mediation
    fails; it whistles vertically to the county centre, which whistles horizontally to the
    labour inspection brigade; three days later the wages are paid.

    The real case happened in 和硕县特吾里克镇, which the demo's tree does not hold: the demo
    tells it with the 和静县 staff in a village made up for the demo, and its texts name
    no real place for it."""
    grid = place("和静县", "哈尔莫敦示范村", "哈尔莫敦示范村第一网格")
    resident, worker = person("caomou"), person("bateer")
    township, county = person("wangli"), person("chenjing")
    brigade = person("maxiaoyan")
    s = Story()
    s(
        at(local_day(8, grid), "10:12"),
        case_services.grievance_submit,
        user=resident,
        title=T_WAGES,
        description="我在某建筑工地务工8个月，某建筑公司至今拖欠我工资77000元，多次讨要未果。",
        category=Category.objects.get(code="dispute.wages"),
        urgency=Urgency.URGENT,
        source=Source.RESIDENT_WEB,
        region=grid,
        complainants=[ComplainantData(name="曹某", phone="13899907701", user=resident)],
        **point(grid),
    )
    s(
        at(local_day(8, grid), "10:40"),
        case_services.grievance_note,
        s.case,
        worker,
        note="网格员已上门核实：曹某提供了考勤记录和公司出具的欠条。",
        public=True,
    )
    s(
        at(local_day(8, grid), "11:00"),
        case_services.grievance_accept,
        s.case,
        township,
        complexity=Complexity.COMPLEX,
        handling_level=HandlingLevel.TOWNSHIP,
    )
    s(
        at(local_day(8, grid), "11:10"),
        services.mediation_open,
        s.case,
        township,
        parties=[
            PartyData(name="曹某", phone="13899907701", user=resident.pk),
            PartyData(name="某建筑公司", phone="0996-5061122", work_unit="某建筑公司"),
        ],
        choice_days=0,
        note="先由镇综治中心组织调解。",
    )
    s(
        at(local_day(8, grid), "11:15"),
        services.mediation_assign,
        mediation_of(s),
        Actor.of(township),
        mediator=roster("王建国"),
    )
    s(
        at(local_day(7, grid), "10:30"),
        services.mediation_fail,
        mediation_of(s),
        Actor.of(township),
        record="建筑公司负责人称工程款尚未结算，拒绝在调解中承诺支付期限，调解不成。",
        referral="department",
    )
    s(
        at(local_day(7, grid), "11:00"),
        case_services.grievance_escalate,
        s.case,
        township,
        reason="镇级调解未果，涉及金额较大，提请县综治中心协调劳动保障监察大队处理。",
    )
    whistle(s, at(local_day(7, grid), "14:30"), county, instructions="请依法责令支付拖欠工资。")
    s(at(local_day(7, grid), "15:10"), case_services.grievance_report_in, s.case, brigade)
    s(
        at(local_day(4, grid), "16:00"),
        case_services.grievance_handle,
        s.case,
        brigade,
        result="劳动保障监察大队下达责令改正指令书后，该建筑公司已向曹某足额支付"
        "拖欠工资77000元，曹某签字确认。",
    )
    s(at(local_day(4, grid), "17:00"), case_services.grievance_verify, s.case, county)
    s(
        at(local_day(3, grid), "09:30"),
        case_services.grievance_rate,
        s.case,
        resident,
        score=5,
        resolved=True,
        comment="三天就拿到了工资，谢谢网格员和劳动监察大队。",
    )


def silage_corn() -> None:
    """Scenario 3 (和静县, handled): at a household tea meeting 李某 says 卡某 has not paid
    for 100+ mu of silage corn; the village cadre convenes both parties with the mediator;
    within 30 minutes they agree on three instalments. Waiting for the centre to verify."""
    village = place("和静县", "哈尔莫敦示范村")
    cadre, township = person("menghe"), person("wangli")
    day = local_day(5, village)
    s = Story()
    s(
        at(day, "15:00"),
        case_services.grievance_submit,
        user=cadre,
        title=T_CORN,
        description="联户茶会上，李某反映卡某收购其100余亩青贮玉米后一直未付款，约28500元。",
        category=Category.objects.get(code="dispute.contract"),
        source=Source.TEA_MEETING,
        region=village,
        complainants=[ComplainantData(name="李某", phone="13899562211")],
    )
    s(
        at(day, "15:03"),
        services.mediation_open,
        s.case,
        cadre,
        parties=[
            PartyData(name="李某", phone="13899562211"),
            PartyData(name="卡某", phone="13899563322"),
        ],
        choice_days=0,
        note="村干部和村警当场召集双方调解。",
    )
    s(
        at(day, "15:05"),
        services.mediation_assign,
        mediation_of(s),
        Actor.of(township),
        mediator=roster("其米格"),
        note="其米格到场主持调解。",
    )
    mediator = Actor.of(person("qimige"))
    s(
        at(day, "15:30"),
        services.mediation_record,
        mediation_of(s),
        mediator,
        record="卡某承认收购李某青贮玉米100余亩、欠款28500元，因资金周转困难未付；"
        "经调解，双方同意分三期付清。",
        participants="李某、卡某、村干部孟和、村警艾力",
        place="哈尔莫敦示范村村委会",
    )
    mcase = mediation_of(s)
    li, ka = (mcase.parties.get(name=n).pk for n in ("李某", "卡某"))
    first = day + timedelta(days=7)
    s(
        at(day, "15:33"),
        services.mediation_agreement,
        mcase,
        mediator,
        text="卡某于约定日期前分三期付清李某青贮玉米款共计28500元。",
        terms=[
            TermData(
                "支付第一期青贮玉米款", obligor=ka, amount="10000", due_date=first, instalment=1
            ),
            TermData(
                "支付第二期青贮玉米款",
                obligor=ka,
                amount="10000",
                due_date=first + timedelta(days=7),
                instalment=2,
            ),
            TermData(
                "支付第三期青贮玉米款",
                obligor=ka,
                amount="8500",
                due_date=first + timedelta(days=14),
                instalment=3,
            ),
            TermData("收到全部款项后出具收条，不再就此事主张权利", obligor=li),
        ],
    )
    sign_all(s, at(day, "15:36"), "qimige", "李某", "卡某")
    for n, (name, score) in enumerate((("李某", 5), ("卡某", 4))):
        s(
            at(day, "15:45") + timedelta(minutes=n),
            services.mediation_rate,
            mediation_of(s),
            party(s, name),
            score=score,
            comment="调解员说话公道。" if score == 5 else "",
        )


def pasture() -> None:
    """Scenario 4 (琼结县拉玉乡, closed): the parties each pick from the roster (格桑, a
    relative of 索朗, is kept out by the recusal rule); the mediator both chose settles it;
    both parties rate the mediator."""
    village = place("琼结县", "拉玉村")
    centre = person("lamu")
    s = Story()
    day = local_day(6, village)
    s(
        at(day, "10:00"),
        case_services.grievance_submit,
        user=centre,
        title=T_PASTURE,
        description="拉玉村3组旺堆与索朗两户因冬季草场边界围栏位置发生争执，双方各执一词。",
        category=Category.objects.get(code="dispute.land"),
        source=Source.WALK_IN,
        region=village,
        complainants=[ComplainantData(name="旺堆", phone="13989031520")],
    )
    s(
        at(day, "10:10"),
        case_services.grievance_accept,
        s.case,
        centre,
        complexity=Complexity.COMPLEX,
        handling_level=HandlingLevel.TOWNSHIP,
    )
    s(
        at(day, "10:20"),
        services.mediation_open,
        s.case,
        centre,
        parties=[
            PartyData(name="旺堆", phone="13989031520", household="拉玉村3组15号"),
            PartyData(name=SUONANG[0], phone=SUONANG[1], household="拉玉村3组18号"),
        ],
        choice_days=3,
        note="请双方从调解员信息公示栏中选择调解员。",
    )
    # The choice deadline counts from the opening, as it would have.
    MediationCase.objects.filter(grievance_id=s.pk).update(
        choice_deadline=deadlines.add_days(s.case, at(day, "10:20"), 3)
    )
    s(
        at(day, "11:00"),
        services.mediation_choose,
        mediation_of(s),
        party(s, "旺堆"),
        mediator_ids=[roster("卓玛").pk, roster("次旦").pk],
    )
    s(
        at(local_day(5, village), "09:30"),
        services.mediation_choose,
        mediation_of(s),
        party(s, SUONANG[0]),
        mediator_ids=[roster("卓玛").pk],
    )
    mediator = Actor.of(person("zhuoma"))
    session_day = local_day(4, village)
    session = s(
        at(local_day(5, village), "10:00"),
        services.mediation_schedule,
        mediation_of(s),
        mediator,
        starts_at=at(session_day, "15:00"),
        place="拉玉乡人民调解委员会调解室",
        participants="旺堆、索朗、拉玉村村委会主任",
    )
    s(
        at(session_day, "16:30"),
        services.mediation_record,
        mediation_of(s),
        mediator,
        session=session,
        record="双方到现场查看界桩，确认以2019年村委会划定的界桩为准；"
        "旺堆同意拆除越界围栏，索朗同意补偿旺堆往年草场使用费。",
    )
    mcase = mediation_of(s)
    wangdui, suonang = (mcase.parties.get(name=n).pk for n in ("旺堆", SUONANG[0]))
    s(
        at(session_day, "16:40"),
        services.mediation_agreement,
        mcase,
        mediator,
        text="双方以2019年村委会划定的界桩为草场边界，今后互不越界放牧。",
        terms=[
            TermData(
                "拆除越界围栏约80米", obligor=wangdui, due_date=session_day + timedelta(days=10)
            ),
            TermData(
                "补偿旺堆往年草场使用费",
                obligor=suonang,
                amount="3000",
                due_date=session_day + timedelta(days=15),
            ),
        ],
    )
    sign_all(s, at(session_day, "16:50"), "zhuoma", "旺堆", SUONANG[0])
    s(
        at(local_day(3, village), "10:00"),
        case_services.grievance_verify,
        s.case,
        centre,
        note="电话回访双方，围栏已开始拆除。",
    )
    for n, name in enumerate(("旺堆", SUONANG[0])):
        s(
            at(local_day(3, village), "10:30") + timedelta(minutes=n),
            services.mediation_rate,
            mediation_of(s),
            party(s, name),
            score=5,
            comment="卓玛调解公平，大家都信服。",
        )


def elder_support() -> None:
    """In mediation (琼结县拉玉乡): the centre assigned 卓玛; a session is on record, the
    draft agreement waits for her signature and the next session is booked."""
    village = place("琼结县", "白那村")
    centre, mediator = person("lamu"), Actor.of(person("zhuoma"))
    s = Story()
    day = local_day(2, village)
    s(
        at(day, "09:30"),
        case_services.grievance_submit,
        user=centre,
        title=T_SUPPORT,
        description="白那村扎西与妹妹白玛因母亲赡养费用和照料分工发生争执，老人到乡里求助。",
        category=Category.objects.get(code="dispute.family"),
        source=Source.WALK_IN,
        region=village,
        complainants=[ComplainantData(name="扎西", phone="13989036612")],
    )
    s(at(day, "09:40"), case_services.grievance_accept, s.case, centre)
    s(
        at(day, "09:50"),
        services.mediation_open,
        s.case,
        centre,
        parties=[
            PartyData(name="扎西", phone="13989036612"),
            PartyData(name="白玛", phone="13989036613"),
        ],
        choice_days=0,
    )
    s(
        at(day, "10:00"),
        services.mediation_assign,
        mediation_of(s),
        Actor.of(centre),
        mediator=roster("卓玛"),
    )
    yesterday = local_day(1, village)
    s(
        at(yesterday, "15:00"),
        services.mediation_record,
        mediation_of(s),
        mediator,
        record="双方同意共同承担母亲的赡养义务，对费用比例和照料时间初步达成一致。",
        participants="扎西、白玛、村妇女主任",
        place="白那村村委会",
    )
    mcase = mediation_of(s)
    tashi, pema = (mcase.parties.get(name=n).pk for n in ("扎西", "白玛"))
    month = _next_month(timezone.localdate())
    s(
        at(yesterday, "16:00"),
        services.mediation_agreement,
        mcase,
        mediator,
        text="扎西、白玛共同赡养母亲，母亲由扎西照料，费用按下列约定分担。",
        terms=[
            TermData("每月支付母亲生活费800元", obligor=tashi, amount="800", due_date=month),
            TermData("每月支付母亲生活费600元", obligor=pema, amount="600", due_date=month),
            TermData("每周至少两天到扎西家照料母亲", obligor=pema),
        ],
    )
    s(
        timezone.now() - timedelta(minutes=10),
        services.mediation_schedule,
        mediation_of(s),
        mediator,
        starts_at=at(_next_working_day(village), "10:00"),
        place="白那村村委会",
        participants="扎西、白玛",
    )


def _next_month(day: date) -> date:
    return (day.replace(day=1) + timedelta(days=32)).replace(day=5)


def _next_working_day(region: Region) -> date:
    calendar = WorkCalendar(region.pk)
    day = timezone.localdate() + timedelta(days=1)
    while not calendar.is_working_day(day):
        day += timedelta(days=1)
    return day


STORIES = (unpaid_wages, silage_corn, pasture, elder_support)


@demo_step(40)
def load_mediation_cases() -> dict[str, int]:
    if not told(*TITLES):
        for story in STORIES:
            story()
    return {_("demo mediations"): Grievance.objects.filter(title__in=TITLES).count()}
