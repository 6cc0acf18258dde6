"""Phone pages a thumb can use: the grid worker's tab bar and the header's menu, tap targets
of at least 44 × 44 CSS px, photo previews with remove, the sticky send button, and the pin's
remove button shown only with a pin. All at the PHONE viewport, in a real browser."""

from __future__ import annotations

import pytest

from grievances.models import Grievance
from tests.browser.tour import Tour
from tests.grievances.conftest import PHONE as COMPLAINANT_PHONE
from tests.grievances.conftest import new_case

pytestmark = pytest.mark.browser

TOUCH = 44  # CSS px, WCAG 2.5.5

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
