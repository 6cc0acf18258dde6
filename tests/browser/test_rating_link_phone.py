"""The one-tap rating link on a phone: the second of two complainants opens the link from the
closing SMS on a 375 px phone, sees the result and the rating form with no code to type,
taps the stars and sends; the rating is theirs."""

from __future__ import annotations

import re

import pytest

from grievances import services, sms
from grievances.models import Category, Rating, Source, State
from grievances.relay import relay_batch
from notifications.tasks import deliver_notifications
from tests.browser_support import PHONE
from tests.grievances.conftest import POINT_A1, advance

pytestmark = pytest.mark.browser


def test_a_complainant_rates_from_the_link_on_a_phone(
    tree, people, live_server, chromium, settings, screenshots_dir
):
    settings.SITE_URL = live_server.url
    case = services.grievance_submit(
        user=None,
        title="楼道水管漏水",
        description="5号楼2单元三楼楼道水管破裂漏水",
        category=Category.objects.get(code="hazard.utilities"),
        source=Source.RESIDENT_WEB,
        lng=POINT_A1[0],
        lat=POINT_A1[1],
        complainants=[
            services.ComplainantData(name="央金", phone="13989012345"),
            services.ComplainantData(name="次仁", phone="13900006789"),
        ],
    )
    settings.SMS_BACKEND = "grievances.sms.LocmemBackend"
    sms.outbox.clear()
    case = advance(case, State.CLOSED, people)
    neighbour = case.complainants.get(name="次仁")
    # The closing message, as the worker sends it: the link is taken from its text.
    relay_batch()
    deliver_notifications()
    closing = [m.text for m in sms.outbox if m.phone == neighbour.phone and "/r/" in m.text]
    assert len(closing) == 1 and "已办结" in closing[0]
    url = re.search(r"https?://\S+/r/[0-9A-Za-z]{10}", closing[0]).group(0)
    assert url.startswith(f"{live_server.url}/r/")

    context = chromium.new_context(
        viewport=PHONE, is_mobile=True, has_touch=True, device_scale_factor=2, locale="zh-CN"
    )
    context.set_default_timeout(15_000)
    try:
        page = context.new_page()
        foreign = []
        page.on(
            "request",
            lambda r: (
                None
                if r.url.startswith((live_server.url, "data:", "blob:"))
                else foreign.append(r.url)
            ),
        )
        page.goto(url)
        assert page.locator("h1").inner_text().strip() == "楼道水管漏水"
        assert "已处理" in page.inner_text(".track-result")
        # No code and no phone digits to type.
        assert page.locator("input[name=last4], input[name=code]").count() == 0
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        page.screenshot(path=str(screenshots_dir / "rating-link-1-form.png"), full_page=True)

        page.click("label[for='id_score_1']")  # the fourth star: the choices run 5…1
        page.check("#id_resolved_1")  # not resolved
        page.fill("#id_comment", "楼上还在渗水")
        with page.expect_navigation():
            page.click(".rate-form button[type=submit]")
        assert page.url == url
        assert page.locator(".message--success").count() == 1
        assert "4 星" in page.inner_text("#rate")
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        page.screenshot(path=str(screenshots_dir / "rating-link-2-rated.png"), full_page=True)
        assert foreign == []
    finally:
        context.close()

    rating = Rating.objects.get()
    assert (rating.grievance, rating.complainant) == (case, neighbour)
    assert (rating.score, rating.resolved, rating.comment) == (4, False, "楼上还在渗水")
