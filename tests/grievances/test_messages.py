"""Every complainant hears back (事事有回音): a message at each public milestone, to every
complainant with a phone, in their language, once, inside the quiet hours, and never again
after they said no."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.test import Client
from rest_framework.test import APIClient

from grievances import services, sms
from grievances.models import CaseEvent, Category, Complainant, Grievance
from grievances.relay import relay_batch
from notifications import messages
from notifications.models import Delivery, Notification, OptOut
from notifications.tasks import deliver_notifications
from tests.grievances.conftest import POINT_A1

pytestmark = pytest.mark.django_db

SH = ZoneInfo("Asia/Shanghai")
PHONES = ["13800001111", "13900002222", "13700003333"]


@pytest.fixture(autouse=True)
def _sms(settings):
    settings.SMS_BACKEND = "grievances.sms.LocmemBackend"
    settings.SITE_URL = "https://fq.example.cn"
    sms.outbox.clear()
    yield
    sms.outbox.clear()


def submit(user=None, *, urgency="normal", category="hazard.environment") -> Grievance:
    """A report with three complainants; the third reads English."""
    case = services.grievance_submit(
        user=user,
        title="楼道漏水",
        description="三楼楼道水管漏水，请尽快处理",
        category=Category.objects.get(code=category),
        source="resident_web" if user is None else "grid_worker",
        lng=POINT_A1[0],
        lat=POINT_A1[1],
        urgency=urgency,
        complainants=[
            services.ComplainantData(name="张三", phone=PHONES[0]),
            services.ComplainantData(name="李四", phone=PHONES[1]),
            services.ComplainantData(name="Tenzin", phone=PHONES[2]),
        ],
    )
    Complainant.objects.filter(grievance=case, phone=PHONES[2]).update(language="en")
    return Grievance.objects.get(pk=case.pk)


def flush() -> None:
    """What a worker does in the background: hand the events over, send what is due."""
    relay_batch()
    deliver_notifications()


def texts(phone: str) -> list[str]:
    return [m.text for m in sms.outbox if m.phone == phone]


def test_each_complainant_hears_of_each_milestone_once_in_their_language(tree, people):
    case = submit()
    flush()
    case = services.grievance_accept(case, people.centre_staff)
    flush()
    case = services.grievance_dispatch(case, people.centre_staff, to_region=tree.grid_a1)
    flush()
    # Internal acts and the handler's own steps tell the complainants nothing.
    case = services.grievance_urge(case, people.leader, note="请加快")
    case = services.grievance_note(case, people.centre_staff, note="已联系物业")
    case = services.grievance_report_in(case, people.grid_worker)
    flush()
    case = services.grievance_handle(case, people.grid_worker, result="已更换水管")
    case = services.grievance_redo(case, people.centre_staff, reason="仍在漏水")
    flush()
    case = services.grievance_handle(case, people.grid_worker, result="已更换整段水管")
    case = services.grievance_verify(case, people.centre_staff)
    flush()
    # The relay and the sender run again (a retried task): nobody is told twice.
    CaseEvent.objects.update(processed_at=None)
    flush()

    code = case.display_code
    for phone in PHONES[:2]:
        got = texts(phone)
        assert len(got) == 5, got
        assert all(t.startswith("【枫桥】") and code in t for t in got)
        registered, accepted, transferred, redo, closed = got
        assert (
            "已登记" in registered
            and f"https://fq.example.cn/t/{case.tracking_code}/" in registered
        )
        assert "已受理" in accepted
        assert tree.grid_a1.name in transferred and "已转" in transferred
        assert "重新办理" in redo and "首次办理结果未获认可" in redo
        assert "已办结" in closed and "评价" in closed and "https://fq.example.cn/" in closed
        for text in (accepted, closed):
            assert len(text) <= messages.ONE_SEGMENT, text
    english = texts(PHONES[2])
    assert len(english) == 5
    assert "registered" in english[0] and "accepted" in english[1]
    assert "Rate the result" in english[4]
    assert Notification.objects.filter(complainant__isnull=False).count() == 15


def test_an_acceptance_with_its_dispatch_names_the_handler_once(tree, people, depts):
    from dispatch.services import whistle_dispatch

    case = submit()
    flush()
    sms.outbox.clear()
    case = services.grievance_accept(case, people.centre_staff)
    whistle_dispatch(case, people.centre_staff, departments=[depts.police])
    flush()  # one relay chunk holds both events
    got = texts(PHONES[0])
    assert len(got) == 1
    assert "已受理" in got[0] and depts.police.name in got[0]


def test_a_rejection_says_why_and_a_duplicate_says_where_to_follow(tree, people):
    first = submit()
    second = submit()
    flush()
    sms.outbox.clear()
    services.grievance_reject(
        first, people.centre_staff, reason_code="invalid", reason="不属于受理范围"
    )
    services.grievance_reject(
        second,
        people.centre_staff,
        reason_code="duplicate",
        duplicate_of=Grievance.objects.get(pk=first.pk),
    )
    flush()
    got = texts(PHONES[0])
    assert any("不予受理" in t and "不属于受理范围" in t for t in got)
    merged = [t for t in got if second.display_code in t]
    assert len(merged) == 1 and "合并" in merged[0]
    assert f"/t/{second.tracking_code}/" in merged[0]


def test_quiet_hours_hold_messages_until_the_morning(tree, people, settings):
    settings.NOTIFY_QUIET_HOURS = "21:00-08:00"
    with time_machine.travel(datetime(2026, 10, 12, 22, 30, tzinfo=SH), tick=False):
        case = submit()
        urgent = submit(urgency="most_urgent", category="hazard.road")
        flush()
        # The urgent safety case goes out at once; the other waits.
        assert {m.text.split("查询码")[1][:9] for m in sms.outbox if "查询码" in m.text} == {
            urgent.display_code
        }
        waiting = Delivery.objects.filter(notification__grievance=case, status="pending")
        assert waiting.count() == 3
        assert {d.next_attempt_at for d in waiting} == {datetime(2026, 10, 13, 8, 0, tzinfo=SH)}
    with time_machine.travel(datetime(2026, 10, 13, 7, 59, tzinfo=SH), tick=False):
        deliver_notifications()
        assert not any(case.display_code in m.text for m in sms.outbox)
    with time_machine.travel(datetime(2026, 10, 13, 8, 0, 30, tzinfo=SH), tick=False):
        deliver_notifications()
        assert sum(case.display_code in m.text for m in sms.outbox) == 3


def test_a_td_reply_stops_the_messages_of_that_number(tree, people, settings):
    settings.SMS_INBOUND_TOKEN = "s3cret"
    api = APIClient()
    url = "/api/v1/sms/inbound/"
    case = submit()
    flush()
    assert api.post(url, {"phone": PHONES[1], "text": "TD"}).status_code == 403
    r = api.post(url, {"text": "TD"}, HTTP_X_INBOUND_TOKEN="s3cret")
    assert r.status_code == 400 and "phone" in r.json()
    r = api.post(url, {"phone": "+86 139 0000 2222", "text": " td "}, HTTP_X_INBOUND_TOKEN="s3cret")
    assert r.status_code == 200 and r.json() == {"opted_out": True}
    assert OptOut.objects.filter(address=PHONES[1], source="sms").exists()
    sms.outbox.clear()
    services.grievance_accept(case, people.centre_staff)
    flush()
    assert texts(PHONES[1]) == []
    assert len(texts(PHONES[0])) == 1
    skipped = Delivery.objects.get(notification__event__action="accept", address=PHONES[1])
    assert skipped.status == "skipped"


def test_the_hook_is_closed_without_a_token(db, settings):
    settings.SMS_INBOUND_TOKEN = ""
    r = APIClient().post("/api/v1/sms/inbound/", {"phone": PHONES[0], "text": "TD"})
    assert r.status_code == 403
    assert not OptOut.objects.exists()


def test_staff_see_the_messages_on_the_case_page_numbers_masked(tree, people):
    case = submit()
    flush()
    centre = Client()
    centre.force_login(people.centre_staff)
    html = centre.get(f"/cases/{case.pk}/").content.decode()
    assert "发给诉求人的消息" in html and PHONES[0] in html
    leader = Client()
    leader.force_login(people.leader)
    html = leader.get(f"/cases/{case.pk}/").content.decode()
    assert "发给诉求人的消息" in html
    assert PHONES[0] not in html and "138****1111" in html
    outsider = Client()
    outsider.force_login(people.outsider)
    assert outsider.get(f"/cases/{case.pk}/").status_code == 404


LONGEST = {
    "code": "ABCD-EFGH",
    "handler": "乃东区住房和城乡建设局",  # a department's name, 11 characters
    "centre": "乃东区社会治理中心",
    "reason": "不属于本平台受理范围，请向法院起诉",
    "date": "2026-12-31T18:00:00+08:00",
}
LINK = "https://fq.example.cn/r/AbCdEfGhIj"  # 34 characters


@pytest.mark.parametrize("message", sorted(messages.RESIDENT))
def test_each_text_fits_its_budget(message):
    spec = messages.RESIDENT[message]
    assert len(LINK) <= messages.LINK_BUDGET
    zh = messages.sms_text(message, LONGEST, "zh-hans", LINK)
    limit = messages.ONE_SEGMENT if spec.segments == 1 else messages.TWO_SEGMENTS
    assert len(zh) <= limit, (message, len(zh), zh)
    if spec.segments == 1:
        assert len(messages.resident_text(message, LONGEST, "zh-hans")) <= messages.TEXT_BUDGET
    en = messages.sms_text(message, LONGEST, "en", LINK)
    assert len(en) <= messages.TWO_SEGMENTS, (message, len(en), en)
    assert en != zh and LINK in en and en.startswith(sms.signature())


def test_the_tracking_page_the_message_links_to_stops_and_resumes_the_messages(tree, people):
    case = submit()
    flush()
    phone = Client()
    # The message's link: the tracking form, the code filled in; the digits prove the person.
    form = phone.get(f"/t/{case.tracking_code}/", follow=True)
    assert case.display_code in form.content.decode() or case.tracking_code in form.content.decode()
    r = phone.post("/track/", {"code": case.tracking_code, "last4": PHONES[1][-4:]}, follow=True)
    html = r.content.decode()
    assert "不再接收短信" in html and "139****2222" in html
    phone.post("/track/", {"act": "messages_stop"})
    assert OptOut.objects.filter(address=PHONES[1], source="link").exists()
    sms.outbox.clear()
    case = services.grievance_accept(case, people.centre_staff)
    flush()
    assert texts(PHONES[1]) == [] and len(texts(PHONES[0])) == 1
    assert "恢复短信通知" in phone.get("/track/").content.decode()
    phone.post("/track/", {"act": "messages_resume"})
    assert not OptOut.objects.exists()
    services.grievance_dispatch(case, people.centre_staff, to_region=tree.grid_a1)
    flush()
    assert len(texts(PHONES[1])) == 1
    # Without a proven case there is nothing to stop.
    stranger = Client()
    stranger.post("/track/", {"act": "messages_stop"})
    assert not OptOut.objects.exists()
