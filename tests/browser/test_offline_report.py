"""The grid worker's report without a connection, end to end on a phone: the service worker
opens /report/ offline, the report with its photos waits in the phone's queue, and it is
sent once when the connection returns: by the page's `online` event while the page is open,
by Background Sync in the service worker when no page of ours is open.

The service worker (templates/pwa/sw.js) imports the queue (static/js/report_queue.js);
the report page (static/js/report_outbox.js) registers the sync when a report waits.
"""

from __future__ import annotations

import time

import pytest

from grievances.models import Grievance
from tests.browser.test_offline_shell import phone, sign_in, wait_for_the_worker
from tests.browser_support import wait_until

pytestmark = pytest.mark.browser

NO_TILES = "/no-tiles-here/{z}/{x}/{y}.png"
COUNT = "document.querySelector('[data-outbox-count]').textContent"


@pytest.fixture
def offline_phone(chromium, live_server, settings, tmp_path):
    settings.MAP_TILE_URL = NO_TILES
    settings.MEDIA_ROOT = tmp_path / "media"
    context = phone(chromium)
    yield context
    context.close()


def write_offline(page, base: str, tree, photos, title: str) -> None:
    """Signed in and online once; then, with no connection, /report/ opened again from the
    service worker and a report with two photos written and sent: it waits."""
    sign_in(page, base, "grid_worker")
    wait_for_the_worker(page)
    wait_until(page, "caches.has('fengqiao-pages')", 20)
    page.goto(f"{base}/report/")
    page.context.set_offline(True)
    page.reload()
    assert page.locator("#report-form").is_visible()
    page.select_option("#id_category", "hazard.road")
    page.fill("#id_title", title)
    page.fill("#id_description", "村道旁挡墙开裂，随时可能垮塌")
    page.select_option("#id_grid", tree.grid_a1.code)
    page.set_input_files("#id_photos", photos)
    wait_until(page, "document.querySelectorAll('.photo-preview').length === 2")
    page.click("[data-submit]")
    wait_until(page, f"{COUNT} === '待发送 1 条'")
    assert not Grievance.objects.exists()


def one_case_with_both_photos(title: str) -> None:
    case = Grievance.objects.get()
    assert case.title == title
    assert sorted(a.original_name for a in case.attachments.all()) == ["crack.jpg", "wall.jpg"]


def test_a_report_written_offline_after_a_reload_is_sent_once_when_online(
    tree, people, live_server, offline_phone, photos
):
    page = offline_phone.new_page()
    write_offline(page, live_server.url, tree, photos, "挡墙开裂")
    offline_phone.set_offline(False)
    wait_until(page, "document.querySelector('[data-outbox-sent] li') !== null", 20)
    wait_until(page, "FengqiaoQueue.count().then((n) => n === 0)", 20)
    one_case_with_both_photos("挡墙开裂")
    assert "已发送" in page.inner_text("[data-outbox]")


def test_background_sync_sends_the_report_with_no_page_open(
    tree, people, live_server, offline_phone, photos
):
    page = offline_phone.new_page()
    write_offline(page, live_server.url, tree, photos, "护栏缺失")
    # Nothing of ours stays open: only the service worker can send it now.
    blank = offline_phone.new_page()
    page.close()
    offline_phone.set_offline(False)
    deadline = time.monotonic() + 8
    while not Grievance.objects.exists() and time.monotonic() < deadline:
        blank.wait_for_timeout(250)
    if not Grievance.objects.exists():
        # The browser did not fire the sync on its own yet: fire the registered one, as the
        # browser does when it sees the connection return (DevTools protocol).
        fire_sync(blank, live_server.url)
        deadline = time.monotonic() + 20
        while not Grievance.objects.exists() and time.monotonic() < deadline:
            blank.wait_for_timeout(250)
    one_case_with_both_photos("护栏缺失")


def fire_sync(page, origin: str) -> None:
    cdp = page.context.new_cdp_session(page)
    registrations = []
    cdp.on(
        "ServiceWorker.workerRegistrationUpdated",
        lambda event: registrations.extend(event["registrations"]),
    )
    cdp.send("ServiceWorker.enable")
    deadline = time.monotonic() + 5
    while not registrations and time.monotonic() < deadline:
        page.wait_for_timeout(100)
    ours = [r for r in registrations if r["scopeURL"].startswith(origin) and not r["isDeleted"]]
    assert ours, registrations
    cdp.send(
        "ServiceWorker.dispatchSyncEvent",
        {
            "origin": origin,
            "registrationId": ours[0]["registrationId"],
            "tag": "report-queue",
            "lastChance": False,
        },
    )
