"""The desk's demo (registered with grids.demo, after the cases and before the relay): the
canned replies and the knowledge base of 乃东区 and 乡城县, a resident's consultation (咨询)
waiting for 泽当街道's centre, which the knowledge base answers, and the grid worker's
extension request (延期申请) on 泽当示范村's old wiring. Idempotent: found again by their texts."""

from __future__ import annotations

from contextlib import suppress

from django.utils.translation import gettext as _

from desk.models import CannedKind, CannedReply, KnowledgeEntry
from grids.demo import demo_step
from grievances import demo as case_demo
from grievances import services as case_services
from grievances.models import Grievance, RequestType, Source

T_CONSULTATION = "泽当示范村低保申请需要准备哪些材料"

CANNED = (
    (None, CannedKind.REJECTION, "经核实，该事项不属于综治中心受理范围，请向相关部门反映。"),
    (None, CannedKind.REJECTION, "所反映内容信息不足，无法核实，请补充具体地点和时间后重新上报。"),
    (None, CannedKind.RETURN, "经核实，该事项不属于本单位职责范围，请中心重新分派。"),
    (None, CannedKind.RESULT, "已安排工作人员现场核实并处理完毕，感谢您的反映。"),
    ("hazard", CannedKind.RESULT, "隐患已排除，现场已恢复正常，后续将加强巡查。"),
    (None, CannedKind.VISIT, "已电话回访，群众对处理结果表示满意。"),
)

KNOWLEDGE = (
    (
        "hardship.assistance",
        "低保申请需要哪些材料",
        "家里收入低，想申请最低生活保障，需要准备什么材料？去哪里办？",
        "申请低保需准备：户口簿和身份证复印件、家庭成员收入情况说明、家庭财产申报表、"
        "申请书。材料交到户籍所在村（社区）委员会，经乡镇（街道）审核、县民政局审批，"
        "一般在30个工作日内办结。",
    ),
    (
        "hardship.elderly",
        "高龄津贴如何领取",
        "家中老人满80岁了，高龄津贴怎么申请？",
        "年满80周岁的本县户籍老人可申领高龄津贴：持老人身份证、户口簿和银行卡到村（社区）"
        "登记，经乡镇审核后按月发放到卡。",
    ),
    (
        "dispute.wages",
        "被拖欠工资怎么办",
        "干完活老板不给工资，应该找哪里？",
        "可先与用人单位协商；协商不成，携带劳动合同、考勤或工资凭证到县劳动保障监察大队投诉，"
        "或申请劳动争议仲裁。综治中心可协助调解。",
    ),
)


def _libraries(county) -> int:
    added = 0
    for code, kind, text in CANNED:
        category = case_demo.category(code) if code else None
        _, made = CannedReply.objects.get_or_create(
            region=county, kind=kind, text=text, defaults={"category": category}
        )
        added += made
    for code, title, question, answer in KNOWLEDGE:
        _, made = KnowledgeEntry.objects.get_or_create(
            region=county,
            title=title,
            defaults={
                "category": case_demo.category(code),
                "question": question,
                "answer": answer,
            },
        )
        added += made
    return added


def _consultation() -> None:
    grid = case_demo.place("乃东区", "泽当示范村", "泽当示范村第一网格")
    case_demo.Story()(
        case_demo.ago(hours=2),
        case_services.grievance_submit,
        user=None,
        title=T_CONSULTATION,
        description="家里老人生病后收入很少，想问问申请低保要准备哪些材料，到哪里办理。",
        category=case_demo.category("hardship.assistance"),
        source=Source.RESIDENT_WEB,
        request_type=RequestType.CONSULTATION,
        region=grid,
        complainants=[case_services.ComplainantData(name="卓玛", phone="13989035511")],
        **case_demo.point(grid),
    )


def _extension_request() -> None:
    case = Grievance.objects.filter(title=case_demo.T_WIRES).first()
    if case is None or case.extension_requested_days:
        return
    # Past its deadline or moved on: nothing to ask for.
    with suppress(case_services.CaseError):
        case_services.grievance_extend(
            case,
            case_demo.person("ciren"),
            days=2,
            reason="更换的线路材料需从县城采购，预计两个工作日到货。",
        )


@demo_step(50)
def load_desk() -> dict[str, int]:
    for names in (("乃东区",), ("乡城县",)):
        _libraries(case_demo.place(*names))
    if not case_demo.told(T_CONSULTATION):
        _consultation()
    _extension_request()
    return {
        _("canned replies"): CannedReply.objects.count(),
        _("knowledge base entries"): KnowledgeEntry.objects.count(),
    }
