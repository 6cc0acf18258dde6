"""Scenario 5 (domain.md §4) on a phone, in a real browser.

A resident in a city flat photographs a leaking water pipe in the stairwell and reports it
from the phone: the camera photo, the phone's GPS point on the map (located to its grid at
once), no account. They get the case code on the screen and by text message. The centre
accepts and dispatches the case down to the grid; the grid worker signs for it, calls the
property company, and two hours later reports it fixed with a photo; the centre verifies.
The resident follows the state on /track/ after every step and rates the result at the end.

Everyone acts through the pages on a 375 px phone (the staff through /cases/<id>/). The
clock is fixed on a Tuesday and moved by time-machine between the steps; the map tiles
cannot load (no internet here), and the page still works.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from PIL import Image

from grievances import sms
from grievances.models import Grievance, Rating, State
from grievances.relay import relay_batch
from notifications.tasks import deliver_notifications
from tests.browser_support import PHONE, wait_until

pytestmark = pytest.mark.browser

# Drafts of the report form kept on the phone (static/js/report.js).
DRAFTS = "Object.keys(localStorage).filter((k) => k.startsWith('fengqiao:report-draft')).length"

SH = ZoneInfo("Asia/Shanghai")
PASSWORD = "pass-word-123"
RESIDENT_PHONE = "13989012345"
GPS = {"latitude": 29.7, "longitude": 91.2}  # inside 江塘村第一网格 (tree.grid_a1)


def at(hh: int, mm: int) -> datetime:
    return datetime(2026, 3, 17, hh, mm, tzinfo=SH)  # a Tuesday


def phone_context(chromium, **extra):
    context = chromium.new_context(
        viewport=PHONE,
        is_mobile=True,
        has_touch=True,
        device_scale_factor=2,
        locale="zh-CN",
        **extra,
    )
    context.set_default_timeout(15_000)
    return context


def camera_photo(path, size=(2400, 1800)) -> str:
    """A big noisy JPEG, like a phone camera's (the page makes it smaller before sending)."""
    noise = Image.effect_noise(size, 60).convert("RGB")
    noise.save(path, "JPEG", quality=95)
    return str(path)


def fits_the_phone(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def sign_in(page, base: str, username: str) -> None:
    page.goto(f"{base}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    with page.expect_navigation():
        page.click("form.form button[type=submit]")


def staff_act(page, base: str, case_id: int, name: str, fill=None) -> None:
    """Open the case page, open the act, fill it, confirm; the page reloads with a success."""
    page.goto(f"{base}/cases/{case_id}/")
    page.click(f"#act-{name} summary")
    if fill:
        fill(page)
    with page.expect_navigation():
        page.click(f"#act-{name} button[type=submit]")
    assert page.url == f"{base}/cases/{case_id}/"
    assert page.locator(".message--success").count() == 1, page.content()


def state_on_track_page(page, base: str) -> str:
    page.goto(f"{base}/track/")
    return page.get_attribute("#case-state", "data-state")


def test_scenario_5_leaking_pipe_reported_tracked_and_rated_on_a_phone(
    tree, people, live_server, chromium, settings, screenshots_dir, tmp_path
):
    settings.SMS_BACKEND = "grievances.sms.LocmemBackend"
    settings.MEDIA_ROOT = tmp_path / "media"
    # No internet: tiles come from a path of the live server that answers 404.
    settings.MAP_TILE_URL = "/no-tiles-here/{z}/{x}/{y}.png"
    sms.outbox.clear()
    base = live_server.url
    shots = screenshots_dir
    big_photo = camera_photo(tmp_path / "pipe.jpg")

    resident_context = phone_context(chromium, geolocation=GPS, permissions=["geolocation"])
    centre_context = phone_context(chromium)
    worker_context = phone_context(chromium)
    try:
        page = resident_context.new_page()
        foreign, js_errors = [], []
        page.on(
            "request",
            lambda r: None if r.url.startswith((base, "data:", "blob:")) else foreign.append(r.url),
        )
        page.on("pageerror", lambda exc: js_errors.append(str(exc)))

        with time_machine.travel(at(9, 5), tick=True) as clock:
            # --- 09:05 the resident reports from the stairwell -----------------------------
            page.goto(f"{base}/")
            with page.expect_navigation():
                page.click("a.big-action[href='/report/']")
            assert page.url == f"{base}/report/"
            assert page.locator("h1").inner_text().strip() == "我要反映"
            # Residents get the simple form.
            assert page.locator("#id_risk_petition").count() == 0
            assert page.locator("#id_settled").count() == 0

            # The category by searching its name.
            page.fill("#category-filter", "供水")
            assert page.input_value("#id_category") == "hazard.utilities"
            page.fill("#id_title", "楼道水管漏水")
            page.fill("#id_description", "5号楼2单元三楼楼道水管破裂漏水，楼梯积水")

            # The phone's GPS point on the map, located to its grid at once.
            page.click("[data-locate-me]")
            wait_until(
                page,
                "document.querySelector('[data-located]').textContent.includes('江塘村第一网格')",
            )
            assert page.input_value("#id_lng") == "91.2"
            assert page.input_value("#id_lat") == "29.7"
            assert page.locator(".leaflet-marker-icon").count() == 1
            page.fill("#id_address", "江塘村5号楼2单元")

            # A photo from the camera, made smaller before it leaves the phone.
            page.set_input_files("#id_photos", big_photo)
            wait_until(
                page, "document.querySelector('[data-photo-status]').textContent.includes('→')"
            )
            sent_size = page.evaluate("document.getElementById('id_photos').files[0].size")
            assert sent_size < 1_000_000

            page.fill("#id_name", "央金")
            page.fill("#id_phone", RESIDENT_PHONE)
            # The typed text is kept on the phone in case the connection drops.
            wait_until(page, "Object.keys(localStorage).length === 1")
            draft = page.evaluate("JSON.parse(localStorage.getItem(Object.keys(localStorage)[0]))")
            assert draft["fields"]["title"] == "楼道水管漏水"
            assert fits_the_phone(page)
            page.screenshot(path=str(shots / "scenario5-1-report.png"), full_page=True)

            with page.expect_navigation():
                page.click("[data-submit]")
            assert page.url == f"{base}/report/done/"
            case = Grievance.objects.get()
            code = page.inner_text("#case-code").strip()
            assert re.fullmatch(r"[0-9A-Z]{4}-[0-9A-Z]{4}", code)
            assert code == case.display_code
            assert code not in page.url
            assert case.region == tree.grid_a1
            assert (case.lng, case.lat) == (91.2, 29.7)
            assert case.attachments.filter(public=True).count() == 1
            # The code by text message too (once a worker relays the report); the draft is gone.
            relay_batch()
            deliver_notifications()
            assert [(m.phone, code in m.text) for m in sms.outbox] == [(RESIDENT_PHONE, True)]
            assert page.evaluate(DRAFTS) == 0
            assert fits_the_phone(page)
            page.screenshot(path=str(shots / "scenario5-2-done.png"), full_page=True)

            with page.expect_navigation():
                page.click(".done__actions a[href='/track/']")
            assert page.get_attribute("#case-state", "data-state") == State.SUBMITTED
            assert page.inner_text("#case-state .track-state__label").strip() == "待受理"
            # Her photo, as a thumbnail through the photo view.
            thumb = page.locator(".public-timeline img").first
            assert thumb.get_attribute("src").endswith("/thumbnail/")
            # The thumbnails load lazily: once in view, the image arrives and draws.
            thumb.scroll_into_view_if_needed()
            wait_until(
                page,
                "(() => { const img = document.querySelector('.public-timeline img');"
                " return img.complete && img.naturalWidth > 0; })()",
            )
            page.screenshot(path=str(shots / "scenario5-3-track-submitted.png"), full_page=True)

            # --- 09:20 the community centre accepts and dispatches down to the grid ----------
            clock.move_to(at(9, 20))
            centre = centre_context.new_page()
            sign_in(centre, base, people.centre_staff.username)
            staff_act(centre, base, case.pk, "accept")
            assert state_on_track_page(page, base) == State.ACCEPTED

            def down_to_the_grid(p):
                p.check("#act-dispatch input[name=mode][value=region]")
                assert p.input_value("#act-dispatch select[name=to_region]") == tree.grid_a1.code

            staff_act(centre, base, case.pk, "dispatch", down_to_the_grid)
            assert state_on_track_page(page, base) == State.DISPATCHED

            # --- 09:25 the grid worker signs for it and calls the property company ------------
            clock.move_to(at(9, 25))
            worker = worker_context.new_page()
            sign_in(worker, base, people.grid_worker.username)
            staff_act(worker, base, case.pk, "report_in")
            assert state_on_track_page(page, base) == State.IN_PROGRESS
            assert page.locator(".track-progress__step--done").count() == 4
            page.screenshot(path=str(shots / "scenario5-4-track-in-progress.png"), full_page=True)

            # --- 11:25, two hours later: fixed, with a photo ---------------------------------
            clock.move_to(at(11, 25))
            fixed = tmp_path / "fixed.jpg"
            Image.new("RGB", (800, 600), (200, 200, 200)).save(fixed, "JPEG")

            def result(p):
                p.fill("#act-handle textarea[name=result]", "物业已更换破裂水管，楼道积水已清理")
                p.set_input_files("#act-handle input[type=file]", str(fixed))

            staff_act(worker, base, case.pk, "handle", result)
            assert state_on_track_page(page, base) == State.HANDLED
            assert "物业已更换破裂水管" in page.inner_text(".track-result")
            # Once handled the resident can no longer withdraw.
            assert page.locator("#withdraw").count() == 0

            # --- 14:40 the centre verifies and closes ----------------------------------------
            clock.move_to(at(14, 40))
            staff_act(centre, base, case.pk, "verify")
            assert state_on_track_page(page, base) == State.CLOSED
            page.screenshot(path=str(shots / "scenario5-5-track-closed.png"), full_page=True)

            # --- 19:30 the resident rates the result ---------------------------------------
            clock.move_to(at(19, 30))
            page.click("label[for='id_score_0']")  # the fifth star: the choices run 5…1
            page.check("#id_resolved_0")
            page.fill("#id_comment", "修得很快，谢谢")
            with page.expect_navigation():
                page.click(".rate-form button[type=submit]")
            rating = Rating.objects.get()
            assert (rating.score, rating.resolved, rating.comment) == (5, True, "修得很快，谢谢")
            assert page.locator(".message--success").count() == 1
            assert fits_the_phone(page)
            page.screenshot(path=str(shots / "scenario5-6-rated.png"), full_page=True)

            # The public public-timeline: every step with its Beijing time, newest first.
            times = page.locator(".public-timeline__time").all_inner_texts()
            assert times[0] == "2026年3月17日 19:30"
            assert times[-1] == "2026年3月17日 09:05"
            actions = page.eval_on_selector_all(
                ".public-timeline__item", "items => items.map(i => i.dataset.action)"
            )
            assert actions == [
                "rate",
                "verify",
                "handle",
                "report_in",
                "dispatch",
                "accept",
                "submit",
            ]
            # The evidence photo of the result is public: two thumbnails now.
            assert page.locator(".public-timeline img").count() == 2
            # Nothing of the staff reaches the resident.
            html = page.content()
            for secret in (people.centre_staff.username, people.grid_worker.username):
                assert secret not in html

        # Another phone: the code and the last 4 digits find the case.
        other = phone_context(chromium)
        try:
            p2 = other.new_page()
            p2.goto(f"{base}/track/?code={code}")
            assert p2.input_value("#id_code") == code
            p2.fill("#id_last4", "0000")
            with p2.expect_navigation():
                p2.click("form.form button[type=submit]")
            assert p2.locator("#track-error").is_visible()
            assert p2.locator("#case-state").count() == 0
            assert fits_the_phone(p2)
            p2.screenshot(path=str(shots / "scenario5-8-track-wrong-phone.png"), full_page=True)
            p2.fill("#id_last4", RESIDENT_PHONE[-4:])
            with p2.expect_navigation():
                p2.click("form.form button[type=submit]")
            assert p2.get_attribute("#case-state", "data-state") == State.CLOSED
        finally:
            other.close()

        assert foreign == []
        assert js_errors == []
        case.refresh_from_db()
        assert case.state == State.CLOSED
        # The clock ticks between the moves: two hours, give or take the page loads.
        assert abs(case.handled_at - case.reported_in_at - timedelta(hours=2)) < timedelta(
            minutes=1
        )
    finally:
        for context in (resident_context, centre_context, worker_context):
            context.close()


def test_a_grid_workers_report_survives_a_lost_connection(
    tree, people, live_server, chromium, settings, screenshots_dir
):
    """On the road: the typed text is still on the phone when the page is opened again (a
    draft); the connection drops as the worker sends, and the report waits on the phone
    until the connection returns, then goes by itself, ID number and settling included."""
    settings.SMS_BACKEND = "grievances.sms.LocmemBackend"
    settings.MAP_TILE_URL = "/no-tiles-here/{z}/{x}/{y}.png"
    sms.outbox.clear()
    base = live_server.url
    context = phone_context(chromium)
    try:
        page = context.new_page()
        js_errors = []
        page.on("pageerror", lambda exc: js_errors.append(str(exc)))
        sign_in(page, base, people.grid_worker.username)
        page.goto(f"{base}/report/")
        # The grid worker's form: risk flags, complainants, their grid, settling on the spot.
        for selector in ("#id_risk_group", "#id_settled", "#id_grid", "[data-add-person]"):
            assert page.locator(selector).is_visible(), selector
        page.select_option("#id_category", "dispute.neighbours")
        page.fill("#id_title", "邻里噪音纠纷")
        page.fill("#id_description", "楼上住户深夜装修，楼下老人无法休息")
        page.select_option("#id_grid", tree.grid_a1.code)
        page.check("#id_risk_group")
        page.fill("#id_people-0-name", "张三")
        page.fill("#id_people-0-phone", "13800001111")
        page.click("[data-add-person]")
        assert page.evaluate("document.activeElement.id") == "id_people-1-name"
        page.fill("#id_people-1-name", "李四")
        page.fill("#id_people-1-id_number", "54010219800101123X")

        # The report's idempotency key, made on the phone and kept with the draft.
        sent_key = page.input_value("input[name=idempotency_key]")
        assert re.fullmatch(r"[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}", sent_key)

        # The page opened again: the text is there, the ID number is not.
        wait_until(page, DRAFTS + " === 1")
        page.goto(f"{base}/report/")
        assert page.locator("[data-draft-note]").is_visible()
        assert page.input_value("#id_title") == "邻里噪音纠纷"
        assert page.input_value("#id_category") == "dispute.neighbours"
        assert page.input_value("#id_grid") == tree.grid_a1.code
        assert page.is_checked("#id_risk_group")
        assert page.input_value("#id_people-1-name") == "李四"
        assert page.input_value("#id_people-1-id_number") == ""
        # The same report, the same key: had a first send arrived, this one would repeat it.
        assert page.input_value("input[name=idempotency_key]") == sent_key
        page.fill("#id_people-1-id_number", "54010219800101123X")
        page.check("#id_settled")
        page.fill("#id_settled_note", "当场调解，楼上住户同意晚上八点后停工")
        assert fits_the_phone(page)
        page.screenshot(path=str(screenshots_dir / "scenario5-7-worker-draft.png"), full_page=True)

        # The connection drops as the worker sends: the report waits on the phone.
        context.set_offline(True)
        page.click("[data-submit]")
        wait_until(
            page, "document.querySelector('[data-outbox-count]').textContent === '待发送 1 条'"
        )
        assert not Grievance.objects.exists()
        assert page.input_value("#id_title") == ""
        assert page.evaluate(DRAFTS) == 0

        # Back in coverage, it goes by itself.
        context.set_offline(False)
        wait_until(page, "document.querySelectorAll('.outbox__sent-item').length === 1")
        case = Grievance.objects.get()
        assert case.state == State.HANDLED
        assert case.region == tree.grid_a1
        assert case.risk_group is True
        assert [(c.name, c.id_number) for c in case.complainants.all()] == [
            ("张三", ""),
            ("李四", "54010219800101123X"),
        ]
        assert page.locator(f".outbox__sent-item a[href='/cases/{case.pk}/']").count() == 1
        page.goto(f"{base}/report/")
        assert page.locator("[data-draft-note]").is_hidden()
        assert page.input_value("#id_title") == ""
        # A new report, a new key.
        assert page.input_value("input[name=idempotency_key]") not in ("", sent_key)
        assert js_errors == []
    finally:
        context.close()
