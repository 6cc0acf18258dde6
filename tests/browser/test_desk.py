"""The desk on a case page in a real browser (desktop size), under the Content-Security-
Policy: the canned-reply picker puts a reply into the reason for not accepting, where it can
be edited; the knowledge base answers by htmx, and 以此答复并办结 closes the consultation."""

from __future__ import annotations

import pytest

from desk.models import CannedKind, CannedReply, KnowledgeEntry
from grievances.models import Category, Grievance, State
from tests.browser.test_smoke import _sign_in
from tests.browser_support import DESKTOP, wait_until
from tests.desk.conftest import consultation

pytestmark = pytest.mark.browser

ANSWER = "申请低保需准备户口簿、身份证和收入证明，交到村委会。"


def test_canned_reply_and_knowledge_answer_on_the_case_page(
    tree, people, live_server, browser_page
):
    page = browser_page
    page.set_viewport_size(DESKTOP)
    case = consultation(people.grid_worker)
    CannedReply.objects.create(
        region=tree.county, kind=CannedKind.REJECTION, text="经核实，不属于受理范围。"
    )
    KnowledgeEntry.objects.create(
        region=tree.county,
        category=Category.objects.get(code="hardship"),
        title="低保申请材料",
        question="申请低保要什么材料",
        answer=ANSWER,
    )
    _sign_in(page, live_server.url, people.centre_staff.username)
    page.goto(f"{live_server.url}/cases/{case.pk}/")

    # The reason for not accepting: pick the canned reply, then edit it.
    page.click("#act-reject summary")
    page.click("#act-reject .canned__toggle")
    page.click("#act-reject .canned__pick")
    area = page.locator("#act-reject-reason")
    assert area.input_value() == "经核实，不属于受理范围。"
    area.press("End")
    area.type("请拨打12345。")
    assert area.input_value() == "经核实，不属于受理范围。请拨打12345。"

    # The knowledge base's answers load by themselves; answer with one and close.
    wait_until(page, "document.querySelectorAll('.knowledge-entry').length === 1")
    page.click(".knowledge-entry summary")
    with page.expect_navigation():
        page.click(".knowledge-entry__answer button[type=submit]")
    case = Grievance.objects.get(pk=case.pk)
    assert case.state == State.CLOSED and case.result == ANSWER
    assert ANSWER in page.locator(".case-card--description").inner_text()
