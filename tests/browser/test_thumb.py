"""Phone pages a thumb can use: the grid worker's tab bar and the header's menu, tap targets
of at least 44 × 44 CSS px, photo previews with remove, the sticky send button, and the pin's
remove button shown only with a pin. All at the PHONE viewport, in a real browser."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from grievances.models import Grievance
from notifications.models import Notification
from tests.browser.tour import Tour
from tests.browser_support import wait_until
from tests.grievances.conftest import PHONE as COMPLAINANT_PHONE
from tests.grievances.conftest import new_case

pytestmark = pytest.mark.browser

GPS = {"latitude": 29.7, "longitude": 91.2}  # inside 江塘村第一网格 (tree.grid_a1)

# Every visible interactive element and the box a finger has to hit: a checkbox or a radio
# button together with its label (tapping either works). Exempt, and nothing else: a link
# laid out inline inside a run of text (its block holds text outside the link), which is
# WCAG 2.5.8's inline exception: its size is set by the line height of the sentence.
SMALL_TARGETS = """
(() => {
  const selector = [
    "a[href]", "button", "input:not([type=hidden])", "select", "textarea", "summary",
    "[role=button]", "[tabindex]:not([tabindex='-1'])",
  ].join(",");
  const shown = (el) => {
    const r = el.getBoundingClientRect();
    if (!r.width || !r.height) return false;
    return el.checkVisibility({ checkOpacity: true, checkVisibilityCSS: true });
  };
  const inlineInText = (el) => {
    if (el.tagName !== "A" || getComputedStyle(el).display !== "inline") return false;
    let block = el.parentElement;
    while (block && getComputedStyle(block).display === "inline") block = block.parentElement;
    if (!block) return false;
    const squash = (text) => text.replace(/\\s+/g, "");
    return squash(block.textContent).length > squash(el.textContent).length;
  };
  const box = (el) => {
    const r = el.getBoundingClientRect();
    if (el.matches("input[type=checkbox], input[type=radio]")) {
      const label = el.closest("label")
        || (el.id && document.querySelector(`label[for="${el.id}"]`));
      if (label) {
        const l = label.getBoundingClientRect();
        const left = Math.min(r.left, l.left), top = Math.min(r.top, l.top);
        return {
          width: Math.max(r.right, l.right) - left,
          height: Math.max(r.bottom, l.bottom) - top,
        };
      }
    }
    return { width: r.width, height: r.height };
  };
  const small = [];
  for (const el of document.querySelectorAll(selector)) {
    if (!shown(el) || inlineInText(el)) continue;
    const b = box(el);
    if (b.width < 43.5 || b.height < 43.5) {
      const name = (el.getAttribute("aria-label") || el.textContent || el.name || "").trim();
      const size = `${Math.round(b.width)}×${Math.round(b.height)}`;
      small.push(`${el.tagName.toLowerCase()}.${el.className} “${name.slice(0, 30)}” ${size}`);
    }
  }
  return small;
})()
"""


def small_targets(page) -> list[str]:
    return page.evaluate(SMALL_TARGETS)


@pytest.fixture
def tour(live_server, chromium, screenshots_dir):
    tour = Tour(chromium, live_server.url, screenshots_dir)
    yield tour
    tour.close()


@pytest.fixture
def no_tiles(settings):
    settings.MAP_TILE_URL = "/no-tiles-here/{z}/{x}/{y}.png"


def test_a_grid_workers_pages_have_no_small_tap_targets(tree, people, tour, no_tiles):
    case = new_case(people.grid_worker, title="路灯损坏")
    page = tour.person(people.grid_worker.username, phone=True)
    small = {}
    for path in ("/", "/report/", f"/cases/{case.pk}/", "/notifications/"):
        page.goto(f"{tour.base}{path}")
        page.wait_for_load_state("load")
        small[path] = small_targets(page)
        # The menu open: its links too.
        page.click(".site-menu__toggle")
        small[f"{path} (menu)"] = small_targets(page)
        if path == "/":
            tour.shot(page, "thumb-grid-menu-phone", full_page=False)
        page.click(".site-menu__toggle")
        if path == "/":
            tour.shot(page, "thumb-grid-home-phone", full_page=False)
    assert {k: v for k, v in small.items() if v} == {}
    assert tour.js_errors == []


def test_a_residents_pages_have_no_small_tap_targets(tree, people, tour, no_tiles):
    case = new_case(people.grid_worker, title="路灯损坏")
    page = tour.page(phone=True)
    small = {}
    for path in ("/", "/report/", "/track/"):
        page.goto(f"{tour.base}{path}")
        page.wait_for_load_state("load")
        small[path] = small_targets(page)
        page.click(".site-menu__toggle")
        small[f"{path} (menu)"] = small_targets(page)
        page.click(".site-menu__toggle")
    page.fill("#id_code", case.display_code)
    page.fill("#id_last4", COMPLAINANT_PHONE[-4:])
    with page.expect_navigation():
        page.click("form.form button[type=submit]")
    assert Grievance.objects.get(pk=case.pk).title in page.inner_text("main")
    small["tracking"] = small_targets(page)
    assert {k: v for k, v in small.items() if v} == {}
    assert tour.js_errors == []


def test_the_tab_bar_takes_a_grid_worker_to_the_four_main_pages(tree, people, tour):
    case = new_case(people.grid_worker, title="路灯损坏")
    Notification.objects.create(
        recipient=people.grid_worker,
        grievance=case,
        event=case.events.first(),
        kind="t",
        title="通知",
    )
    page = tour.person(people.grid_worker.username, phone=True)
    bar = page.locator("nav.tabbar")
    assert bar.is_visible()
    labels = bar.locator(".tabbar__label").all_inner_texts()
    assert [t.strip() for t in labels] == ["首页", "上报", "我的网格", "通知"]
    # The unread count on the bell, and in words for a screen reader.
    assert bar.locator(".tabbar__badge").inner_text() == "1"
    assert "1 条未读通知" in bar.locator(".tabbar__tab").nth(3).inner_text()
    assert bar.locator("[aria-current=page]").inner_text().strip() == "首页"
    # Fixed at the bottom of the screen, and the page's end is not hidden under it.
    box = bar.bounding_box()
    assert abs(box["y"] + box["height"] - 812) < 1
    page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
    footer = page.locator(".site-footer").bounding_box()
    assert footer["y"] + footer["height"] <= box["y"] + 1
    # The header is one row on a phone: no navigation bar.
    assert not page.locator(".site-nav").is_visible()
    assert page.locator(".site-header").bounding_box()["height"] < 80

    with page.expect_navigation():
        bar.get_by_text("我的网格", exact=True).click()
    assert "/cases/?state=submitted" in page.url and f"region={tree.grid_a1.code}" in page.url
    assert page.locator("nav.tabbar [aria-current=page]").inner_text().strip() == "我的网格"
    assert page.get_by_text("路灯损坏").first.is_visible()
    with page.expect_navigation():
        page.locator("nav.tabbar").get_by_text("通知", exact=True).click()
    assert page.url.endswith("/notifications/")
    with page.expect_navigation():
        page.locator("nav.tabbar").get_by_text("上报", exact=True).click()
    assert page.url.endswith("/report/")
    assert page.locator("nav.tabbar [aria-current=page]").inner_text().strip() == "上报"

    # Wide screens: the header's navigation, no tab bar, no menu.
    page.set_viewport_size({"width": 1280, "height": 860})
    assert not page.locator("nav.tabbar").is_visible()
    assert not page.locator(".site-menu").is_visible()
    assert page.locator(".site-nav").is_visible()
    assert tour.js_errors == []


def jpeg(colour) -> dict:
    buffer = io.BytesIO()
    Image.new("RGB", (120, 90), colour).save(buffer, "JPEG")
    return {"name": f"p{colour[0]}.jpg", "mimeType": "image/jpeg", "buffer": buffer.getvalue()}


def previews(page) -> list[str]:
    return page.locator(".photo-preview [data-remove]").evaluate_all(
        "(buttons) => buttons.map((b) => b.getAttribute('aria-label'))"
    )


def chosen_in_input(page) -> int:
    return page.evaluate("document.getElementById('id_photos').files.length")


def test_photo_previews_add_remove_and_survive_a_server_error(tree, tour, no_tiles):
    page = tour.page(phone=True, geolocation=GPS, permissions=["geolocation"])
    page.goto(f"{tour.base}/report/")
    assert "最多 9 张" in page.inner_text("#field-photos") or "9" in page.inner_text("main")
    page.set_input_files("#id_photos", files=[jpeg((10, 90, 160)), jpeg((200, 60, 30))])
    wait_until(page, "document.querySelectorAll('.photo-preview').length === 2")
    # Choosing again adds to the photos instead of replacing them.
    page.set_input_files("#id_photos", files=[jpeg((30, 160, 60))])
    wait_until(page, "document.querySelectorAll('.photo-preview').length === 3")
    assert chosen_in_input(page) == 3
    assert previews(page) == ["移除照片 1", "移除照片 2", "移除照片 3"]
    assert "已选 3 张，最多 9 张" in page.inner_text("[data-photo-count]")
    assert all(
        src.startswith("blob:")
        for src in page.locator(".photo-preview img").evaluate_all("(i) => i.map((x) => x.src)")
    )
    remove = page.get_by_role("button", name="移除照片 2")
    assert remove.bounding_box()["width"] >= 44 and remove.bounding_box()["height"] >= 44
    remove.click()
    assert previews(page) == ["移除照片 1", "移除照片 2"]
    assert chosen_in_input(page) == 2
    assert page.evaluate("[...document.getElementById('id_photos').files].map((f) => f.name)") == [
        "p10.jpg",
        "p30.jpg",
    ]

    # The rest of the report, with a phone number the server refuses: the errors come back
    # into the form (the report queue's answer), the photos still in it.
    fill_the_rest(page, phone="1391234abcd")
    page.click("[data-locate-me]")
    wait_until(page, "document.getElementById('id_lat').value !== ''")
    page.click("[data-submit]")
    wait_until(page, "document.querySelector('#field-phone .field__errors') !== null")
    assert previews(page) == ["移除照片 1", "移除照片 2"]
    assert chosen_in_input(page) == 2
    assert not Grievance.objects.exists()
    page.fill("#id_phone", "13912345678")
    with page.expect_navigation():
        page.click("[data-submit]")
    assert page.url.endswith("/report/done/")
    case = Grievance.objects.get()
    assert sorted(a.original_name for a in case.attachments.all()) == ["p10.jpg", "p30.jpg"]
    assert tour.js_errors == []


def fill_the_rest(page, *, phone: str) -> None:
    page.select_option("#id_category", "hazard.utilities")
    page.fill("#id_title", "楼道水管漏水")
    page.fill("#id_description", "三单元楼道水管漏水")
    page.fill("#id_phone", phone)


def test_photos_survive_a_server_error_without_javascript(tree, tour, no_tiles):
    """A phone without JavaScript: the form goes as a plain POST and comes back with the
    photos held by the server, each with its box to keep it."""
    page = tour.page(phone=True, java_script_enabled=False)
    page.goto(f"{tour.base}/report/")
    page.set_input_files("#id_photos", files=[jpeg((10, 90, 160)), jpeg((30, 160, 60))])
    fill_the_rest(page, phone="1391234abcd")
    page.fill("#id_place", "江塘村")  # without a map, the place by name
    with page.expect_navigation():
        page.click("[data-submit]")
    assert page.locator("#report-errors").is_visible()
    assert "照片已为您保留" in page.inner_text("#report-errors")
    kept = page.locator("[data-held] [data-keep] input")
    assert kept.count() == 2 and all(kept.nth(i).is_checked() for i in range(2))
    page.locator("[data-photo-picker]").scroll_into_view_if_needed()
    tour.shot(page, "thumb-report-held-photos-phone", full_page=False)
    # One held photo left out, one more chosen: the case gets the other held one and the new.
    kept.nth(0).uncheck()
    page.set_input_files("#id_photos", files=[jpeg((90, 90, 90))])
    page.fill("#id_phone", "13912345678")
    with page.expect_navigation():
        page.click("[data-submit]")
    assert page.url.endswith("/report/done/")
    case = Grievance.objects.get()
    assert sorted(a.original_name for a in case.attachments.all()) == ["p30.jpg", "p90.jpg"]


def test_the_send_button_stays_in_reach_above_the_tab_bar(tree, people, tour, no_tiles):
    page = tour.person(people.grid_worker.username, phone=True, goto="/report/")
    button = page.locator("[data-submit]")
    bar = page.locator("nav.tabbar").bounding_box()
    # At the top of the long form the button already sits at the bottom of the screen.
    for scroll in (0, 600):
        page.evaluate(f"window.scrollTo(0, {scroll})")
        box = button.bounding_box()
        assert box["y"] + box["height"] <= bar["y"], scroll
        assert box["y"] > bar["y"] - 120, scroll
    page.screenshot(path=str(tour.shots / "thumb-report-sticky-phone.png"))
    assert tour.js_errors == []


def test_the_remove_pin_button_shows_only_with_a_pin(tree, tour, no_tiles):
    page = tour.page(phone=True, geolocation=GPS, permissions=["geolocation"])
    page.goto(f"{tour.base}/report/")
    clear = page.locator("[data-clear-pin]")
    wait_until(page, "!document.querySelector('[data-map-wrap]').hidden")
    assert clear.is_hidden()
    assert clear.evaluate("(b) => getComputedStyle(b).display") == "none"
    page.click("[data-locate-me]")
    wait_until(page, "document.getElementById('id_lat').value !== ''")
    assert clear.is_visible()
    clear.click()
    assert clear.is_hidden()
    assert page.input_value("#id_lat") == ""
    assert tour.js_errors == []
