"""Smoke test of the page shell in a real browser: each role signs in through the login
page, sees its home in Chinese, switches to English with the language switch."""

from __future__ import annotations

import pytest

from dispatch.models import Department, DepartmentMembership
from grids.models import Role, User
from tests.factories import UserFactory, make_member

pytestmark = pytest.mark.browser

PASSWORD = "pass-word-123"

# role -> (Chinese heading, English heading)
HEADINGS = {
    "grid_worker": ("我的网格", "My grid"),
    "grid_police": ("我的网格", "My grid"),
    "grid_leader": ("我的网格", "My grid"),
    "centre_staff": ("待办案件", "The queue"),
    "leader": ("数据看板", "Dashboard"),
    "department_staff": ("部门待办", "Inbox"),
    "superuser": ("系统管理", "Administration"),
}


def _make_user(role: str, tree) -> User:
    if role == "superuser":
        return User.objects.create_superuser(
            "root", "root@example.com", PASSWORD, full_name="管理员"
        )
    if role == "department_staff":
        department = Department.objects.create(
            name="乃东区交通运输局", code="ND-JT", region=tree.county
        )
        user = UserFactory(username="dept", full_name="次仁")
        DepartmentMembership.objects.create(user=user, department=department)
        return user
    region = {
        "grid_worker": tree.grid_a1,
        "grid_police": tree.grid_a1,
        "grid_leader": tree.village_a,
        "centre_staff": tree.town_a,
        "leader": tree.county,
    }[role]
    return make_member(role, region, getattr(Role, role.upper()), full_name=f"测试{role}")


def _sign_in(page, base_url: str, username: str, password: str = PASSWORD) -> None:
    page.goto(f"{base_url}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    with page.expect_navigation():
        page.click("form.form button[type=submit]")


def _heading(page) -> str:
    return page.locator("h1").first.inner_text().strip()


def _fits_the_phone(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def _header_control(page, selector: str):
    """A control of the header: on a phone it sits in the menu, opened first."""
    toggle = page.locator(".site-menu__toggle")
    if toggle.is_visible() and page.locator(".site-menu[open]").count() == 0:
        toggle.click()
    return page.locator(selector).locator("visible=true").first


def _switch_to(page, language: str) -> None:
    with page.expect_navigation():
        _header_control(page, f".lang-switch button[value='{language}']").click()


@pytest.mark.parametrize("role", list(HEADINGS))
def test_each_role_signs_in_and_switches_language(
    role, tree, live_server, browser_page, screenshots_dir
):
    page = browser_page
    user = _make_user(role, tree)
    zh, en = HEADINGS[role]

    _sign_in(page, live_server.url, user.username)
    assert page.url == f"{live_server.url}/"
    assert page.locator("html").get_attribute("lang") == "zh-hans"
    assert _heading(page) == zh
    assert user.display_name in page.locator(".account__name").inner_text()
    assert _fits_the_phone(page)
    page.screenshot(path=str(screenshots_dir / f"{role}-zh.png"), full_page=True)

    _switch_to(page, "en")
    assert page.url == f"{live_server.url}/"  # no language prefix
    assert page.locator("html").get_attribute("lang") == "en"
    assert _heading(page) == en
    assert _fits_the_phone(page)
    page.screenshot(path=str(screenshots_dir / f"{role}-en.png"), full_page=True)

    # Log out through the POST form in the navigation (the menu on a phone).
    with page.expect_navigation():
        _header_control(page, ".account__logout button, .site-menu__logout button").click()
    assert page.locator(".account__name").count() == 0
    assert page.foreign_requests == []
    assert page.console_errors == []


def test_public_home_in_both_languages_and_on_desktop(
    db, live_server, browser_page, screenshots_dir
):
    page = browser_page
    page.goto(f"{live_server.url}/")
    assert _heading(page) == "有事您反映，全程可查询"
    assert page.locator("a.big-action[href='/report/']").is_visible()
    assert page.locator("a.big-action[href='/track/']").is_visible()
    assert _fits_the_phone(page)
    page.screenshot(path=str(screenshots_dir / "public-zh.png"), full_page=True)

    _switch_to(page, "en")
    assert _heading(page) == "Report a problem, follow it to the end"
    page.set_viewport_size({"width": 1280, "height": 860})
    page.screenshot(path=str(screenshots_dir / "public-en-desktop.png"), full_page=True)

    # The choice sticks (cookie) and the 404 page follows it.
    page.goto(f"{live_server.url}/no-such-page/")
    assert _heading(page) == "Page not found"
    _switch_to(page, "zh-hans")
    assert _heading(page) == "页面不存在"
    assert page.foreign_requests == []


def test_first_login_goes_to_the_password_change(tree, live_server, browser_page, screenshots_dir):
    page = browser_page
    make_member("newbie", tree.grid_a1, Role.GRID_WORKER, must_change_password=True)
    _sign_in(page, live_server.url, "newbie")
    assert page.url == f"{live_server.url}/accounts/password/change/"
    assert page.locator(".first-login").is_visible()
    page.screenshot(path=str(screenshots_dir / "first-login-zh.png"), full_page=True)
    page.fill("#id_old_password", PASSWORD)
    page.fill("#id_new_password1", "a-much-better-secret-42")
    page.fill("#id_new_password2", "a-much-better-secret-42")
    with page.expect_navigation():
        page.click("form.form button[type=submit]")
    assert page.url == f"{live_server.url}/accounts/password/change/done/"
    page.goto(f"{live_server.url}/")
    assert _heading(page) == "我的网格"
    assert User.objects.get(username="newbie").must_change_password is False


def test_desktop_layout(tree, live_server, chromium, screenshots_dir):
    context = chromium.new_context(viewport={"width": 1280, "height": 860}, locale="zh-CN")
    try:
        page = context.new_page()
        user = make_member("gw", tree.grid_a1, Role.GRID_WORKER, full_name="割绒彭措")
        _sign_in(page, live_server.url, user.username)
        assert _heading(page) == "我的网格"
        page.screenshot(path=str(screenshots_dir / "grid_worker-zh-desktop.png"), full_page=True)
    finally:
        context.close()
