"""The demo's duplicates: two neighbours who report what is already reported (flagged as
likely duplicates once the relay hands their reports over) and one resident waiting for the
centre to confirm that they join a case. Told through the services, after the cases
(grievances.demo, step 30) and before the relay runs (step 90); found by title again, so a
second run adds nothing."""

from __future__ import annotations

from django.utils.translation import gettext as _

from duplicates import services
from duplicates.models import Join
from grids.demo import demo_step
from grievances import demo as case_demo
from grievances import services as case_services
from grievances.models import Grievance, Source

T_HEATING_AGAIN = "泽仁老人家里太冷了，火炉坏了没人修"
T_DITCH_AGAIN = "黑达村二组排水沟又堵了，院子进水"
# About 30 m east of the grid's point, where the first reports were pinned.
OFFSET_LNG = 0.0003


def _again(original: str, title: str, description: str, name: str, phone: str) -> None:
    case = Grievance.objects.filter(title=original).first()
    if case is None or case.lng is None:
        return
    story = case_demo.Story()
    story(
        case_demo.ago(minutes=40),
        case_services.grievance_submit,
        user=None,
        title=title,
        description=description,
        category=case.category,
        source=Source.RESIDENT_WEB,
        lng=case.lng + OFFSET_LNG,
        lat=case.lat,
        complainants=[case_services.ComplainantData(name=name, phone=phone)],
    )


@demo_step(35)
def load_duplicates() -> dict[str, int]:
    if not case_demo.told(T_HEATING_AGAIN, T_DITCH_AGAIN):
        _again(
            case_demo.T_HEATING,
            T_HEATING_AGAIN,
            "隔壁独居的泽仁老人火炉坏了，这几天晚上零下十几度，请政府帮帮他。",
            "次仁卓玛",
            "13908361101",
        )
        _again(
            case_demo.T_DITCH,
            T_DITCH_AGAIN,
            "二组巷道的排水沟昨天刚清过，今天下雨又堵了，水流进我家院子。",
            "扎西",
            "13908361102",
        )
    heating = Grievance.objects.filter(title=case_demo.T_HEATING).first()
    if heating is not None and not Join.objects.filter(grievance=heating).exists():
        services.join_submit(heating, name="洛桑", phone="13908361103")
    return {_("joins"): Join.objects.count()}
