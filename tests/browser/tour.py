"""Helpers of the browser tours: one signed-in browser context per person, screenshots,
the acts of the case page and the inbox, and the timeline as the case page shows it.

A `Tour` watches every page it opens: a request that leaves the live server or an uncaught
JavaScript error is recorded, and the test asserts both lists are empty at the end.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from tests.browser_support import DESKTOP, PHONE

PASSWORD = "pass-word-123"


@dataclass
class Tour:
    chromium: object
    base: str
    shots: Path
    foreign: list[str] = field(default_factory=list)
    js_errors: list[str] = field(default_factory=list)
    contexts: list = field(default_factory=list)

    def _context(self, phone: bool, **extra):
        options = {"locale": "zh-CN", "viewport": PHONE if phone else DESKTOP}
        if phone:
            options.update(is_mobile=True, has_touch=True, device_scale_factor=2)
        context = self.chromium.new_context(**options, **extra)
        context.set_default_timeout(15_000)
        self.contexts.append(context)
        return context

    def page(self, *, phone: bool, **extra):
        """A new page in a context of its own (a person's phone or desk)."""
        page = self._context(phone, **extra).new_page()
        base = self.base

        def on_request(request):
            if not request.url.startswith((base, "data:", "blob:")):
                self.foreign.append(request.url)

        page.on("request", on_request)
        page.on("pageerror", lambda exc: self.js_errors.append(f"{page.url}: {exc}"))
        return page

    def person(self, username: str, *, phone: bool, goto: str = "/", **extra):
        """A page signed in as `username` through the login page, landing on `goto`."""
        page = self.page(phone=phone, **extra)
        page.goto(f"{self.base}/accounts/login/?next={goto}")
        page.fill("#id_username", username)
        page.fill("#id_password", PASSWORD)
        with page.expect_navigation():
            page.click("form.form button[type=submit]")
        assert page.url == f"{self.base}{goto}", page.url
        return page

    def shot(self, page, name: str, *also: str, full_page: bool = True) -> None:
        """Save the page as `name`.png (and under the other names given)."""
        for each in (name, *also):
            page.screenshot(path=str(self.shots / f"{each}.png"), full_page=full_page)

    def close(self) -> None:
        for context in self.contexts:
            context.close()
        self.contexts.clear()


def fits_the_phone(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def success(page) -> str:
    messages = page.locator(".message--success")
    assert messages.count() == 1, page.locator(".messages, .message").all_inner_texts()
    return messages.inner_text().strip()


def open_case(page, base: str, case_id: int) -> None:
    page.goto(f"{base}/cases/{case_id}/")


def open_act(page, name: str) -> None:
    """Open an act of the case page that is on screen."""
    page.click(f"#act-{name} summary")


def submit_act(page, base: str, case_id: int, name: str) -> str:
    """Confirm the open act; the case page comes back with a success message."""
    with page.expect_navigation():
        page.click(f"#act-{name} button[type=submit]")
    assert page.url == f"{base}/cases/{case_id}/", page.url
    return success(page)


def case_act(page, base: str, case_id: int, name: str, fill=None) -> str:
    """Open the case page, open the act, fill it and confirm."""
    open_case(page, base, case_id)
    open_act(page, name)
    if fill:
        fill(page)
    return submit_act(page, base, case_id, name)


def acts_offered(page) -> list[str]:
    return page.eval_on_selector_all(".acts details.act", "els => els.map(e => e.id.slice(4))")


def timeline(page) -> list[dict]:
    """The case page's timeline, oldest first: action, shown time, its instant, actor."""
    return page.eval_on_selector_all(
        ".timeline .timeline__item",
        """items => items.map(item => ({
            action: [...item.classList].find(c => c.startsWith('timeline__item--'))
                .slice('timeline__item--'.length),
            time: item.querySelector('time').textContent.trim(),
            datetime: item.querySelector('time').getAttribute('datetime'),
            label: item.querySelector('.timeline__label').textContent.trim(),
            actor: item.querySelector('.timeline__actor').textContent.trim(),
            details: (item.querySelector('.timeline__details') || {textContent: ''})
                .textContent.trim(),
            note: (item.querySelector('.timeline__note') || {textContent: ''}).textContent.trim(),
        }))""",
    )


def durations(page) -> dict[str, str]:
    """The case page's durations table: label -> time taken, as shown."""
    rows = page.eval_on_selector_all(
        "table.durations tbody tr",
        "rows => rows.map(r => [r.querySelector('th').textContent.trim(),"
        " r.querySelector('td').textContent.trim()])",
    )
    return dict(rows)


def inbox_item(page, case_code: str):
    """The inbox entry of a case, found by the case code it shows."""
    return page.locator(
        ".inbox-item", has=page.locator(f".inbox-item__code:text-is('{case_code}')")
    )
