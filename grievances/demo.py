"""Demo cases (registered with grids.demo): the scenarios of the domain brief and a few cases
in every state, so that every home page, the console, the inbox and the dashboard have
something to show.

Every case is told as a story of acts through the services, as the people of the demo
would do them on the pages, so its timeline, figures and notifications are the real ones.
The services stamp each act with the present; a story gives each act the time it happened
(`Story`): after the act, the rows it wrote get that time, and a dispatch's deadlines are
counted again from it on the region's calendar. The mediation app tells the stories that
involve a mediation (mediation/demo.py) with the same helpers.

Idempotent: the stories are told once (the cases are found by their titles). The last
step relays the outbox (routing, notifications, return visits), so nothing waits for a
worker, and brings the figures up to date.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date, datetime, time, timedelta

from django.apps import apps
from django.contrib.auth import get_user_model
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _
from shapely.geometry import shape

from grids.demo import DemoError, code_of, demo_step
from grids.models import Region
from grids.workcalendar import WorkCalendar
from grievances import deadlines
from grievances import services as case_services
from grievances.models import (
    CaseEvent,
    Category,
    Complexity,
    Grievance,
    HandlingLevel,
    Source,
    Urgency,
)
from grievances.relay import relay_batch
from grievances.services import ComplainantData

# --- Time ------------------------------------------------------------------------------------

# (model label, path from the model to the case, datetime fields an act stamps with "now").
# Deadlines are not here: they lie ahead of the act (see Story._restart_clocks).
_RETIMED: list[tuple[str, str, tuple[str, ...]]] = [
    (
        "grievances.Grievance",
        "pk",
        (
            "created_at",
            "accepted_at",
            "dispatched_at",
            "reported_in_at",
            "handled_at",
            "closed_at",
            "suspended_at",
        ),
    ),
    ("grievances.CaseEvent", "grievance", ("created_at",)),
    ("grievances.Rating", "grievance", ("created_at",)),
]
# Called with (case id, report-in due, handling due) when a dispatch's clocks restart.
clock_hooks: list[Callable[[int, datetime, datetime], None]] = []
# Called with the ids of the new demo cases once the outbox has been relayed.
after_relay: list[Callable[[list[int]], None]] = []
# The cases told in this process and not yet relayed and counted (see finish_demo).
_told: list[int] = []


def retime_related(label: str, path: str, fields: Iterable[str]) -> None:
    """Another app's rows that an act stamps with the present, reached from the case."""
    _RETIMED.append((label, path, tuple(fields)))


def local_day(back: int, region: Region) -> date:
    """The working day `back` working days before today on the region's calendar (0: today)."""
    calendar = WorkCalendar(region.pk)
    day = timezone.localdate()
    while back > 0:
        day -= timedelta(days=1)
        if calendar.is_working_day(day):
            back -= 1
    return day


def at(day: date, hhmm: str) -> datetime:
    hours, minutes = (int(part) for part in hhmm.split(":"))
    return timezone.make_aware(datetime.combine(day, time(hours, minutes)))


def ago(**delta) -> datetime:
    return timezone.now() - timedelta(**delta)


class Story:
    """One case told act by act, each at its own time (`story(when, service, ...)`)."""

    def __init__(self) -> None:
        self.pk: int | None = None
        self.last: datetime | None = None

    @property
    def case(self) -> Grievance:
        # Fresh each time: an act's checks read the row as the previous act left it.
        return Grievance.objects.select_related(
            "category", "region", "owning_centre", "handler_region"
        ).get(pk=self.pk)

    def __call__(self, when: datetime, act: Callable, *args, **kwargs):
        now = timezone.now()
        if when > now or (self.last is not None and when < self.last):
            raise DemoError(f"the demo's acts must keep time order ({act.__name__} at {when})")
        mark = CaseEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0
        result = act(*args, **kwargs)
        if self.pk is None:
            self.pk = result.pk
            _told.append(self.pk)
        self._retime(now, timezone.now(), when)
        dispatched = CaseEvent.objects.filter(grievance_id=self.pk, id__gt=mark, action="dispatch")
        if dispatched.exists():
            self._restart_clocks(when, dispatched)
        self.last = when
        return result

    def _retime(self, start: datetime, end: datetime, when: datetime) -> None:
        for label, path, fields in _RETIMED:
            rows = apps.get_model(label).objects.filter(**{path: self.pk})
            for name in fields:
                stamped = {f"{name}__gte": start, f"{name}__lte": end}
                rows.filter(**stamped).update(**{name: when})

    def _restart_clocks(self, when: datetime, events) -> None:
        """Count the deadlines of a dispatch from the time it happened, as it would have."""
        case = self.case
        report_in = deadlines.report_in_due(case, when)
        handle = deadlines.handle_due(case, when)
        Grievance.objects.filter(pk=case.pk).update(
            report_in_due_at=report_in, handle_due_at=handle, version=F("version") + 1
        )
        for event in events:
            data = {
                **event.data,
                "report_in_due_at": report_in.isoformat(),
                "handle_due_at": handle.isoformat(),
            }
            CaseEvent.objects.filter(pk=event.pk).update(data=data)
        for hook in clock_hooks:
            hook(case.pk, report_in, handle)


# --- Who and where -------------------------------------------------------------------------


def person(username: str):
    return get_user_model().objects.get(username=username)


def place(*names: str) -> Region:
    return Region.objects.get(code=code_of(*names))


def point(region: Region) -> dict[str, float]:
    """A map point inside the region (what a phone's GPS would give there)."""
    inside = shape(region.boundary.geometry).representative_point()
    return {"lng": round(inside.x, 6), "lat": round(inside.y, 6)}


def category(code: str) -> Category:
    return Category.objects.get(code=code)


def department_ids(*codes: str) -> list[int]:
    """Departments by code, in the order given (the lead first)."""
    found = dict(
        apps.get_model("dispatch", "Department")
        .objects.filter(code__in=codes)
        .values_list("code", "id")
    )
    return [found[code] for code in codes]


def whistle(story: Story, when: datetime, user, *codes: str, instructions: str = "") -> None:
    """横向吹哨 through the dispatch app's entry point: the named departments, or the
    routing rule's proposal when none are named."""
    if case_services.department_dispatch is None:
        raise DemoError("the dispatch app is not installed")
    story(
        when,
        case_services.department_dispatch,
        story.case,
        user,
        department_ids=department_ids(*codes) if codes else [],
        proposed=not codes,
        instructions=instructions,
    )


def told(*titles: str) -> bool:
    return Grievance.objects.filter(title__in=titles).exists()


# --- The stories -----------------------------------------------------------------------------

T_WALL = "黑达村通村公路挡土墙垮塌险情"
T_ROCKFALL = "然乌村通村公路边坡落石"
T_HEATING = "黑达村独居老人冬季取暖困难"
T_DITCH = "黑达村巷道排水沟堵塞"
T_WORKERS = "13名务工人员被拖欠工资约20万元"
T_GUARDRAIL = "哈尔莫敦示范村桥梁护栏损坏"
T_HERDERS = "开来村养殖合作社拖欠牧工工资"
T_CANAL = "哈尔莫敦示范村灌溉渠道渗漏"
T_PIPE = "安置小区3号楼楼道水管漏水"
T_WALL_DRAIN = "泽当示范村两户村民因院墙排水发生纠纷"
T_WIRES = "泽当示范村独居老人家中电线老化"
T_FROZEN = "拉玉村饮水管道冻裂"
TITLES = (
    T_WALL,
    T_ROCKFALL,
    T_HEATING,
    T_DITCH,
    T_WORKERS,
    T_GUARDRAIL,
    T_HERDERS,
    T_CANAL,
    T_PIPE,
    T_WALL_DRAIN,
    T_WIRES,
    T_FROZEN,
)


def retaining_wall() -> None:
    """Scenario 1 (乡城县, closed and rated): 割绒彭措 reports a retaining wall about to
    collapse at 11:14; the county centre whistles the transport bureau at 11:23, which
    signs at once; its crew is on site at 11:30; at 14:24 the hazard is cleared."""
    grid = place("乡城县", "黑达村", "黑达村第一网格")
    worker, centre, bureau = person("gerongpengcuo"), person("silanglamu"), person("lijun")
    day = local_day(3, grid)
    s = Story()
    s(
        at(day, "11:14"),
        case_services.grievance_submit,
        user=worker,
        title=T_WALL,
        description="黑达村通村公路K3+200处挡土墙出现裂缝并向外倾斜，随时可能垮塌，"
        "影响过往车辆和行人安全。现场已拍照，请尽快处置。",
        category=category("hazard.road"),
        urgency=Urgency.MOST_URGENT,
        source=Source.GRID_WORKER,
        region=grid,
        address="乡城县青德镇黑达村通村公路K3+200",
        **point(grid),
    )
    s(
        at(day, "11:20"),
        case_services.grievance_accept,
        s.case,
        centre,
        complexity=Complexity.SIMPLE,
        handling_level=HandlingLevel.COUNTY,
        note="险情紧急，立即派单。",
    )
    whistle(s, at(day, "11:23"), centre, instructions="请立即派员到场处置，先设置警示标志。")
    s(at(day, "11:23"), case_services.grievance_report_in, s.case, bureau, note="收到，马上出发。")
    s(
        at(day, "11:30"),
        case_services.grievance_note,
        s.case,
        bureau,
        note="抢修队伍已到达现场，设置警示标志并实施交通管制。",
        public=True,
    )
    s(
        at(day, "14:24"),
        case_services.grievance_handle,
        s.case,
        bureau,
        result="险情排除：已清除松动石块，重新砌筑挡土墙约12立方米，道路恢复通行。",
    )
    s(
        at(day, "15:10"),
        case_services.grievance_verify,
        s.case,
        centre,
        note="现场核查：挡土墙修复完好，道路通行正常。",
    )
    s(
        at(day, "17:40"),
        case_services.grievance_rate,
        s.case,
        worker,
        score=5,
        resolved=True,
        comment="交通运输局响应很快，当天就修好了。",
    )


def _latest_overdue_dispatch(case_like: Grievance) -> datetime:
    """The latest dispatch time whose report-in deadline has just passed: overdue now, and
    still far from the automatic escalation the SLA sweep makes later."""
    now = timezone.now()
    when = now - timedelta(minutes=60)
    limit = deadlines.limits(case_like).report_in
    cal = deadlines.calendar_for(case_like)
    for _step in range(7 * 24 * 4):
        if deadlines.due_after(cal, when, limit) <= now - timedelta(minutes=20):
            return when.replace(second=0, microsecond=0)
        when -= timedelta(minutes=15)
    raise DemoError("no overdue dispatch time found")


def rockfall() -> None:
    """Dispatched and overdue (乡城县): a hotline call, the transport bureau has not signed."""
    village = place("乡城县", "然乌村")
    centre, leader = person("silanglamu"), person("gongbu")
    road = category("hazard.road")
    dispatched = _latest_overdue_dispatch(
        Grievance(category=road, urgency=Urgency.URGENT, region=village)
    )
    s = Story()
    s(
        dispatched - timedelta(minutes=40),
        case_services.grievance_submit,
        user=centre,
        title=T_ROCKFALL,
        description="群众来电反映：然乌村通村公路边坡有落石滚落路面，已有一处护坡松动，"
        "雨雪天气可能继续塌落。",
        category=road,
        urgency=Urgency.URGENT,
        source=Source.HOTLINE,
        region=village,
        address="乡城县然乌乡然乌村通村公路",
        complainants=[ComplainantData(name="邓珠", phone="13908361275")],
    )
    s(dispatched - timedelta(minutes=20), case_services.grievance_accept, s.case, centre)
    whistle(s, dispatched, centre, instructions="请尽快清理落石并排查边坡。")
    report_in_due = s.case.report_in_due_at
    s(
        min(report_in_due + timedelta(minutes=10), timezone.now()),
        case_services.grievance_urge,
        s.case,
        leader,
        note="请交通运输局尽快签收并安排人员清理。",
    )


def heating() -> None:
    """Submitted (乡城县): waiting for the centre to accept it."""
    grid = place("乡城县", "黑达村", "黑达村第一网格")
    s = Story()
    s(
        ago(hours=2),
        case_services.grievance_submit,
        user=person("gerongpengcuo"),
        title=T_HEATING,
        description="黑达村五保户泽仁老人独居，家中火炉损坏、取暖用柴不足，入冬后生活困难，"
        "申请社会救助。",
        category=category("hardship.elderly"),
        source=Source.GRID_WORKER,
        region=grid,
        **point(grid),
    )


def ditch() -> None:
    """Handled on the spot by the grid worker (乡城县): waiting for the centre to verify."""
    grid = place("乡城县", "黑达村", "黑达村第一网格")
    day = local_day(1, grid)
    s = Story()
    s(
        at(day, "16:05"),
        case_services.grievance_submit,
        user=person("gerongpengcuo"),
        title=T_DITCH,
        description="黑达村二组巷道排水沟被淤泥和垃圾堵塞，雨后积水漫进两户村民院内。",
        category=category("hazard.environment"),
        source=Source.GRID_WORKER,
        region=grid,
        settled_note="已组织村民清理排水沟淤泥约2立方米，排水恢复畅通。",
        **point(grid),
    )


WORKERS = (
    ("买买提·吐尔逊", "13999612301"),
    ("巴图", "13999612302"),
    ("张建华", "13999612303"),
    ("艾尔肯·热合曼", "13999612304"),
    ("刘志强", "13999612305"),
    ("阿不都热依木", "13999612306"),
    ("孟克", "13999612307"),
    ("王德福", "13999612308"),
    ("吐尔洪·卡德尔", "13999612309"),
    ("李春生", "13999612310"),
    ("斯琴", "13999612311"),
    ("马福林", "13999612312"),
    ("赵永平", "13999612313"),
)


def workers_wages() -> None:
    """Scenario 6 (和静县, closed and rated): 13 workers owed about 200,000 yuan come to
    the county centre; it whistles the transport bureau (the road project's owner), which
    convenes the contractor and the subcontractor; paid on the spot."""
    county = place("和静县")
    centre, bureau = person("chenjing"), person("liuwei")
    day = local_day(6, county)
    s = Story()
    s(
        at(day, "09:40"),
        case_services.grievance_submit,
        user=centre,
        title=T_WORKERS,
        description="13名务工人员反映：在和静县某公路建设项目务工，分包单位拖欠工资约20万元，"
        "春节前急需用钱，情绪激动。",
        category=category("dispute.wages"),
        urgency=Urgency.URGENT,
        source=Source.WALK_IN,
        region=county,
        address="和静县矛盾纠纷多元化解中心",
        risk_group=True,
        complainants=[ComplainantData(name=name, phone=phone) for name, phone in WORKERS],
    )
    s(
        at(day, "09:50"),
        case_services.grievance_accept,
        s.case,
        centre,
        complexity=Complexity.COMPLEX,
        handling_level=HandlingLevel.COUNTY,
        note="涉及人数多，县级统筹处理。",
    )
    whistle(
        s,
        at(day, "10:05"),
        centre,
        "652827-transport",
        "652827-labour-inspection",
        instructions="请交通运输局召集总包单位、分包单位到县矛盾纠纷多元化解中心现场协调，"
        "劳动保障监察大队协同核实工资数额。",
    )
    s(at(day, "10:20"), case_services.grievance_report_in, s.case, bureau)
    s(
        at(day, "15:30"),
        case_services.grievance_handle,
        s.case,
        bureau,
        result="经召集总包单位和分包单位现场协调，分包单位当场通过银行转账支付13名务工人员"
        "工资共计198,600元，务工人员签字确认。",
    )
    s(at(day, "16:10"), case_services.grievance_verify, s.case, centre, note="已电话回访3名工人。")
    s(
        at(local_day(5, county), "10:00"),
        case_services.grievance_rate,
        s.case,
        None,
        score=5,
        resolved=True,
        comment="工资当天就拿到了，感谢政府。",
        via_tracking=True,
    )


def guardrail() -> None:
    """In progress (和静县): the transport bureau has signed and is working on it."""
    grid = place("和静县", "哈尔莫敦示范村", "哈尔莫敦示范村第一网格")
    worker, centre, bureau = person("bateer"), person("wangli"), person("liuwei")
    day = local_day(1, grid)
    s = Story()
    s(
        at(day, "09:30"),
        case_services.grievance_submit,
        user=worker,
        title=T_GUARDRAIL,
        description="哈尔莫敦示范村村口便桥东侧护栏被车辆撞断约6米，桥下为灌溉渠，夜间通行危险。",
        category=category("hazard.road"),
        urgency=Urgency.NORMAL,
        source=Source.GRID_WORKER,
        region=grid,
        **point(grid),
    )
    s(at(day, "10:10"), case_services.grievance_accept, s.case, centre)
    whistle(s, at(day, "10:30"), centre)
    s(at(day, "11:05"), case_services.grievance_report_in, s.case, bureau)
    s(
        at(day, "16:00"),
        case_services.grievance_note,
        s.case,
        bureau,
        note="已设置临时警示桩，施工队明天进场更换护栏。",
        public=True,
    )


def herders() -> None:
    """Dispatched (和静县): the labour inspection brigade has yet to sign."""
    village = place("和静县", "开来村")
    centre = person("chenjing")
    s = Story()
    s(
        ago(minutes=50),
        case_services.grievance_submit,
        user=centre,
        title=T_HERDERS,
        description="群众来电反映：开来村某养殖合作社拖欠7名牧工半年工资共约4.2万元。",
        category=category("dispute.wages"),
        urgency=Urgency.NORMAL,
        source=Source.HOTLINE,
        region=village,
        complainants=[ComplainantData(name="那仁", phone="13899561204")],
    )
    s(ago(minutes=30), case_services.grievance_accept, s.case, centre)
    whistle(s, ago(minutes=20), centre, instructions="请核实拖欠情况并督促支付。")


def canal() -> None:
    """Submitted (和静县): reported by the grid worker this morning."""
    grid = place("和静县", "哈尔莫敦示范村", "哈尔莫敦示范村第一网格")
    s = Story()
    s(
        ago(hours=3),
        case_services.grievance_submit,
        user=person("bateer"),
        title=T_CANAL,
        description="哈尔莫敦示范村一组灌溉渠道多处渗漏，冬灌用水浪费严重，部分农田被淹。",
        category=category("hazard.utilities"),
        urgency=Urgency.NORMAL,
        source=Source.GRID_WORKER,
        region=grid,
        **point(grid),
    )


def leaking_pipe() -> None:
    """Scenario 5 (乃东区, closed and rated): a resident reports a leaking pipe from the
    phone; the street centre sends it down to the grid; the grid worker calls the property
    company; two hours later it is fixed; the resident rates it through the tracking page."""
    grid = place("乃东区", "泽当示范村", "泽当示范村第一网格")
    centre, worker = person("yangzong"), person("ciren")
    day = local_day(2, grid)
    s = Story()
    s(
        at(day, "08:50"),
        case_services.grievance_submit,
        user=None,
        title=T_PIPE,
        description="3号楼2单元楼道水管破裂漏水，楼梯积水结冰，老人孩子上下楼很危险。",
        category=category("hazard.utilities"),
        source=Source.RESIDENT_WEB,
        region=grid,
        address="乃东区泽当街道泽当示范村安置小区3号楼2单元",
        complainants=[ComplainantData(name="王女士", phone="13908931234")],
        **point(grid),
    )
    s(at(day, "09:05"), case_services.grievance_accept, s.case, centre)
    s(
        at(day, "09:10"),
        case_services.grievance_dispatch,
        s.case,
        centre,
        to_region=grid,
        note="请网格员联系物业公司处理。",
    )
    s(at(day, "09:15"), case_services.grievance_report_in, s.case, worker)
    s(
        at(day, "09:20"),
        case_services.grievance_note,
        s.case,
        worker,
        note="已联系物业公司，维修人员正在赶来。",
        public=True,
    )
    s(
        at(day, "11:05"),
        case_services.grievance_handle,
        s.case,
        worker,
        result="物业公司已更换破裂的水管接头，楼道积水和结冰已清理。",
    )
    s(at(day, "11:30"), case_services.grievance_verify, s.case, centre)
    s(
        at(day, "12:10"),
        case_services.grievance_rate,
        s.case,
        None,
        score=5,
        resolved=True,
        comment="两个小时就修好了，很满意。",
        via_tracking=True,
    )


def wall_drain() -> None:
    """Accepted (乃东区): a neighbours' dispute waiting for the centre to dispatch it or
    send it to mediation."""
    village = place("乃东区", "泽当示范村")
    centre = person("yangzong")
    day = local_day(1, village)
    s = Story()
    s(
        at(day, "15:20"),
        case_services.grievance_submit,
        user=person("pubu"),
        title=T_WALL_DRAIN,
        description="泽当示范村三组两户村民因新建院墙排水口朝向对方院落发生争执，双方多次争吵。",
        category=category("dispute.neighbours"),
        source=Source.GRID_WORKER,
        region=village,
        complainants=[ComplainantData(name="平措"), ComplainantData(name="旦增")],
    )
    s(
        at(day, "16:00"),
        case_services.grievance_accept,
        s.case,
        centre,
        complexity=Complexity.SIMPLE,
        handling_level=HandlingLevel.VILLAGE,
    )


def old_wires() -> None:
    """In progress on the spot (乃东区): sent down to the grid, the grid worker handles it."""
    grid = place("乃东区", "泽当示范村", "泽当示范村第一网格")
    centre, worker = person("yangzong"), person("ciren")
    day = local_day(1, grid)
    s = Story()
    s(
        at(day, "14:40"),
        case_services.grievance_submit,
        user=worker,
        title=T_WIRES,
        description="泽当示范村独居老人次珍家中电线老化裸露，冬季使用电暖器存在火灾隐患。",
        category=category("hazard.fire"),
        urgency=Urgency.NORMAL,
        source=Source.GRID_WORKER,
        region=grid,
        **point(grid),
    )
    s(at(day, "15:00"), case_services.grievance_accept, s.case, centre)
    s(
        at(day, "15:05"),
        case_services.grievance_dispatch,
        s.case,
        centre,
        to_region=grid,
        note="请网格员联系村电工上门更换线路。",
    )
    s(at(day, "15:30"), case_services.grievance_report_in, s.case, worker)


def frozen_pipe() -> None:
    """Submitted (琼结县拉玉乡): a resident's one-click report from the phone."""
    grid = place("琼结县", "拉玉村", "拉玉村第一网格")
    s = Story()
    s(
        ago(hours=1, minutes=20),
        case_services.grievance_submit,
        user=None,
        title=T_FROZEN,
        description="拉玉村1组入户饮水管道冻裂，5户村民家中停水两天。",
        category=category("hazard.utilities"),
        source=Source.RESIDENT_WEB,
        region=grid,
        complainants=[ComplainantData(name="次仁央金", phone="13989035507")],
        **point(grid),
    )


STORIES = (
    retaining_wall,
    rockfall,
    heating,
    ditch,
    workers_wages,
    guardrail,
    herders,
    canal,
    leaking_pipe,
    wall_drain,
    old_wires,
    frozen_pipe,
)


@demo_step(30)
def load_cases() -> dict[str, int]:
    if not told(*TITLES):
        _told.clear()
        for story in STORIES:
            story()
    return {_("demo cases"): Grievance.objects.filter(title__in=TITLES).count()}


@demo_step(90)
def finish_demo() -> dict[str, int]:
    """Relay the new cases' events (routing, notifications, return visits), then hand the
    new cases to the apps above (`after_relay`: notifications dates its notices, evaluation
    brings the figures up to date)."""
    if not _told:
        return {}
    new = sorted(set(_told))
    _told.clear()
    for _round in range(100):
        if not relay_batch():
            break
    for hook in after_relay:
        hook(new)
    return {}
