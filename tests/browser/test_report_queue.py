"""The report queue on a grid worker's phone (static/js/report_queue.js, report_outbox.js):
a report written without a connection waits on the phone with its photos and is sent by
itself when the connection returns; an answer lost on the way makes no second case; a
report with field errors and one whose session expired stay, with what to do about them."""

from __future__ import annotations

import pytest
from django.test import Client

from grievances.models import Grievance
from tests.browser_support import PHONE, wait_until

pytestmark = pytest.mark.browser

PASSWORD = "pass-word-123"
COUNT = "document.querySelector('[data-outbox-count]').textContent"
QUEUE = "FengqiaoQueue.list().then((items) => items.map((i) => i.status))"


@pytest.fixture
def phone(chromium, live_server, people, settings, tmp_path):
    """A phone-sized context with the grid worker signed in, and its page."""
    settings.MAP_TILE_URL = "/no-tiles-here/{z}/{x}/{y}.png"
    settings.MEDIA_ROOT = tmp_path / "media"
    context = chromium.new_context(
        viewport=PHONE, is_mobile=True, has_touch=True, device_scale_factor=2, locale="zh-CN"
    )
    context.set_default_timeout(15_000)
    client = Client()
    client.force_login(people.grid_worker)
    context.add_cookies(
        [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": live_server.url}]
    )
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{live_server.url}/report/")
    yield page
    assert errors == []
    context.close()


def fill_report(page, tree, photos, title: str) -> None:
    page.select_option("#id_category", "hazard.road")
    page.fill("#id_title", title)
    page.fill("#id_description", "村道旁挡墙开裂，随时可能垮塌")
    page.select_option("#id_grid", tree.grid_a1.code)
    page.set_input_files("#id_photos", photos)


def queue(page) -> list[str]:
    return page.evaluate(QUEUE)


def test_offline_reports_wait_with_their_photos_and_go_once_by_themselves(
    tree, people, live_server, phone, photos, screenshots_dir
):
    page = phone
    context = page.context
    assert page.locator("[data-outbox]").is_hidden()

    # (a) No connection: the report waits on the phone, photos included; the form is free.
    context.set_offline(True)
    fill_report(page, tree, photos, "挡墙垮塌隐患")
    page.click("[data-submit]")
    wait_until(page, f"{COUNT} === '待发送 1 条'")
    assert not Grievance.objects.exists()
    assert page.input_value("#id_title") == ""
    assert page.evaluate("document.getElementById('id_photos').files.length") == 0
    item = page.evaluate(
        "FengqiaoQueue.list().then(([i]) => ({status: i.status, photos: i.photos.length,"
        " user: i.user, key: i.fields.find((p) => p[0] === 'idempotency_key')[1]}))"
    )
    assert item["status"] == "queued" and item["photos"] == 2
    assert item["user"] == str(people.grid_worker.pk)
    assert item["key"] != page.input_value("input[name=idempotency_key]")  # a new key
    row = page.locator("[data-outbox-item]")
    assert "挡墙垮塌隐患" in row.inner_text() and "2 张照片" in row.inner_text()
    assert "等待网络" in row.inner_text()
    page.screenshot(path=str(screenshots_dir / "report-queue-offline-phone.png"), full_page=True)

    # (b) The connection returns: it is sent by itself, once, with both photos.
    context.set_offline(False)
    wait_until(page, "document.querySelectorAll('.outbox__sent-item').length === 1")
    case = Grievance.objects.get()
    assert case.title == "挡墙垮塌隐患" and case.reporter == people.grid_worker
    assert case.attachments.count() == 2
    sent = page.locator(".outbox__sent-item a")
    assert sent.inner_text() == f"已发送 · {case.display_code}"
    assert sent.get_attribute("href") == f"/cases/{case.pk}/"
    assert queue(page) == [] and page.evaluate(COUNT) == ""

    # (c) The answer is lost on the way back: the case is made, the page never hears of it.
    def drop_the_answer(route):
        if route.request.method == "POST":
            route.fetch()
            route.abort()
        else:
            route.continue_()

    page.route("**/report/", drop_the_answer)
    fill_report(page, tree, photos, "路灯损坏")
    page.click("[data-submit]")
    wait_until(page, f"{QUEUE}.then((s) => s.join() === 'retrying')")
    assert page.evaluate(COUNT) == "待发送 1 条"
    assert Grievance.objects.count() == 2
    page.unroute("**/report/")
    # Sent again, here from a worker's scope as the service worker's Background Sync does
    # (the stored CSRF token, no page): the server answers the key's case, no third one, and
    # the page hears of it.
    with page.expect_worker() as started:
        page.evaluate("window.queueWorker = new Worker('/static/js/report_queue.js')")
    summary = started.value.evaluate("self.FengqiaoQueue.flush()")
    assert (summary["sent"], summary["waiting"]) == (1, 0)
    wait_until(page, "document.querySelectorAll('.outbox__sent-item').length === 2")
    assert Grievance.objects.count() == 2
    second = Grievance.objects.get(title="路灯损坏")
    assert second.attachments.count() == 2
    assert page.locator(".outbox__sent-item a").first.inner_text() == (
        f"已发送 · {second.display_code}"
    )
    assert queue(page) == []


def test_field_errors_come_back_into_the_form_and_an_expired_session_asks_to_sign_in(
    tree, people, live_server, phone, photos
):
    page = phone
    base = live_server.url

    # A title too long (the browser's own limit taken off): the errors are shown next to the
    # field, the photos stay in the form, nothing is sent.
    page.evaluate("document.getElementById('id_title').removeAttribute('maxlength')")
    fill_report(page, tree, photos, "长" * 201)
    page.click("[data-submit]")
    wait_until(page, "document.querySelector('#field-title .field__errors') !== null")
    assert "200" in page.inner_text("#field-title .field__errors")
    assert page.locator("#report-errors-live").is_visible()
    assert page.evaluate("document.getElementById('id_photos').files.length") == 2
    assert queue(page) == ["editing"]
    assert not Grievance.objects.exists()
    # Corrected and sent again: the done page.
    page.fill("#id_title", "挡墙垮塌隐患")
    with page.expect_navigation():
        page.click("[data-submit]")
    assert page.url == f"{base}/report/done/"
    case = Grievance.objects.get()
    assert case.attachments.count() == 2
    assert case.display_code in page.inner_text("#case-code")

    # The session is gone (cookies cleared) when the next report is sent: it stays, and the
    # worker is asked to sign in again; it never becomes an anonymous report.
    page.goto(f"{base}/report/")
    page.context.clear_cookies()
    fill_report(page, tree, photos, "路灯损坏")
    page.click("[data-submit]")
    wait_until(page, f"{QUEUE}.then((s) => s.join() === 'needs-sign-in')")
    assert page.evaluate(COUNT) == "待发送 1 条"
    assert Grievance.objects.count() == 1
    link = page.locator("[data-outbox-item] a", has_text="登录")
    assert link.get_attribute("href") == "/accounts/login/?next=/report/"

    # Signed in again, the page sends it with its fresh token.
    with page.expect_navigation():
        link.click()
    page.fill("#id_username", people.grid_worker.username)
    page.fill("#id_password", PASSWORD)
    with page.expect_navigation():
        page.click("form.form button[type=submit]")
    assert page.url == f"{base}/report/"
    wait_until(page, "document.querySelectorAll('.outbox__sent-item').length === 1")
    assert Grievance.objects.count() == 2
    assert Grievance.objects.get(title="路灯损坏").reporter == people.grid_worker
    assert queue(page) == []


def test_a_waiting_report_is_edited_with_its_photos_or_deleted(
    tree, people, live_server, phone, photos
):
    page = phone
    context = page.context
    context.set_offline(True)
    fill_report(page, tree, photos, "挡墙垮塌隐患")
    page.click("[data-submit]")
    wait_until(page, f"{COUNT} === '待发送 1 条'")
    fill_report(page, tree, photos[:1], "路灯损坏")
    page.click("[data-submit]")
    wait_until(page, f"{COUNT} === '待发送 2 条'")

    # Edited: back in the form with its photos, and out of the queue until sent again.
    first = page.locator("[data-outbox-item]", has_text="挡墙垮塌隐患")
    first.locator("[data-outbox-edit]").click()
    wait_until(page, "document.getElementById('id_title').value === '挡墙垮塌隐患'")
    assert page.evaluate("document.getElementById('id_photos').files.length") == 2
    assert page.input_value("#id_grid") == tree.grid_a1.code
    assert page.input_value("#id_category") == "hazard.road"
    wait_until(page, f"{COUNT} === '待发送 1 条'")
    assert sorted(queue(page)) == ["editing", "queued"]

    # Deleted after a confirmation.
    page.once("dialog", lambda dialog: dialog.accept())
    other = page.locator("[data-outbox-item]", has_text="路灯损坏")
    other.locator("[data-outbox-delete]").click()
    wait_until(page, f"{QUEUE}.then((s) => s.join() === 'editing')")

    # The connection back, the edited report sent from the form: one case, both photos.
    context.set_offline(False)
    page.fill("#id_title", "挡墙开裂")
    with page.expect_navigation():
        page.click("[data-submit]")
    assert page.url == f"{live_server.url}/report/done/"
    case = Grievance.objects.get()
    assert case.title == "挡墙开裂" and case.attachments.count() == 2
