"""The page shell: home pages per role, auth pages, languages, error pages, the admin."""

from __future__ import annotations

import re
from html import unescape
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib import messages
from django.contrib.staticfiles import finders
from django.core import mail
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.template import engines
from django.template.loader import get_template
from django.test import Client, RequestFactory
from django.urls import path, reverse
from django.utils import translation

from dispatch.models import Department, DepartmentMembership
from grids import views
from grids.models import RegionBoundary, Role, User
from tests.factories import UserFactory, make_member

BASE_DIR = Path(settings.BASE_DIR)
PO_FILE = BASE_DIR / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"
EN = {"HTTP_ACCEPT_LANGUAGE": "en"}


# --- URLs of this module, for the 403 and 500 pages (used with pytest.mark.urls) -----------


def _forbidden(request):
    raise PermissionDenied


def _boom(request):
    raise RuntimeError("boom")


def _ok(request):
    return HttpResponse("ok")


def _with_message(request):
    messages.success(request, "Saved: 已保存")
    return render(request, "404.html")


urlpatterns = [
    path("forbidden/", _forbidden),
    path("boom/", _boom),
    path("message/", _with_message),
    path("", _ok, name="home"),
    path("accounts/login/", _ok, name="login"),
    path("accounts/password/change/", _ok, name="password_change"),
    path("accounts/password/change/done/", _ok, name="password_change_done"),
    path("accounts/logout/", _ok, name="logout"),
    path("i18n/setlang/", _ok, name="set_language"),
]
handler403 = "grids.views.permission_denied"
handler500 = "grids.views.server_error"


def _text(response) -> str:
    return response.content.decode()


@pytest.fixture
def department_staff(tree):
    department = Department.objects.create(name="乃东区交通运输局", code="NDJT", region=tree.county)
    user = UserFactory(username="dept_staff", full_name="次仁")
    DepartmentMembership.objects.create(user=user, department=department)
    return user


@pytest.fixture
def superuser(db):
    return User.objects.create_superuser("root", "root@example.com", "pass-word-123")


# --- Home pages ------------------------------------------------------------------------


@pytest.mark.django_db
def test_anonymous_sees_the_public_home_in_chinese(client):
    response = client.get("/")
    assert response.status_code == 200
    html = _text(response)
    assert '<html lang="zh-hans">' in html
    assert "我要反映" in html and "查询进度" in html
    assert 'href="/report/"' in html and 'href="/track/"' in html
    assert reverse("login") in html
    assert [t.name for t in response.templates][0] == "home/public.html"


@pytest.mark.django_db
def test_public_home_in_english_by_accept_language(client):
    html = _text(client.get("/", **EN))
    assert '<html lang="en">' in html
    assert "Report a problem" in html and "Track my case" in html


@pytest.mark.django_db
def test_public_home_in_english_by_cookie(client):
    assert settings.LANGUAGE_COOKIE_NAME == "django_language"
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    html = _text(client.get("/"))
    assert "Report a problem" in html and "我要反映" not in html


def test_grid_worker_home(client, people, tree):
    client.force_login(people.grid_worker)
    response = client.get("/")
    html = _text(response)
    assert response.status_code == 200
    assert response.templates[0].name == "home/grid.html"
    assert "我的网格" in html and "网格员" in html
    assert people.grid_worker.display_name in html
    # The grid with its path from the city down.
    for name in ("山南市", "乃东区", "泽当街道", "江塘村", "江塘村第一网格"):
        assert name in html
    assert 'href="/report/"' in html
    assert reverse("admin:index") not in html

    html = _text(client.get("/", **EN))
    assert "My grid" in html and "Grid worker" in html and "江塘村第一网格" in html


def test_grid_leader_gets_the_grid_home(client, people):
    client.force_login(people.grid_leader)
    response = client.get("/")
    assert response.templates[0].name == "home/grid.html"
    assert "网格长" in _text(response)


def test_grid_police_gets_the_grid_home(client, tree):
    user = make_member("police", tree.grid_b1, Role.GRID_POLICE)
    client.force_login(user)
    response = client.get("/")
    assert response.templates[0].name == "home/grid.html"
    html = _text(response)
    assert "网格警" in html and "克松村第一网格" in html and "昌珠镇" in html


def test_centre_staff_home(client, people):
    client.force_login(people.centre_staff)
    response = client.get("/")
    html = _text(response)
    assert response.templates[0].name == "home/centre_staff.html"
    assert "待办案件" in html and "综治中心工作人员" in html
    assert "泽当街道" in html
    # The desk's intake (登记) is in the nav.
    assert 'href="/report/"' in html and ">登记</a>" in html
    html = _text(client.get("/", **EN))
    assert "The queue" in html and "To accept" in html and "Centre staff" in html


def test_leader_home(client, people):
    client.force_login(people.leader)
    response = client.get("/")
    html = _text(response)
    assert response.templates[0].name == "home/leader.html"
    assert "数据看板" in html and "满意率" in html and "乃东区" in html
    assert "Dashboard" in _text(client.get("/", **EN))


def test_department_staff_home(client, department_staff):
    client.force_login(department_staff)
    response = client.get("/")
    html = _text(response)
    assert response.templates[0].name == "home/department_staff.html"
    assert "部门待办" in html and "乃东区交通运输局" in html and "次仁" in html
    assert "Inbox" in _text(client.get("/", **EN))


def test_superuser_home_links_admin_and_api_docs(client, superuser):
    client.force_login(superuser)
    response = client.get("/")
    html = _text(response)
    assert response.templates[0].name == "home/admin.html"
    assert f'href="{reverse("admin:index")}"' in html
    assert f'href="{reverse("api-docs")}"' in html
    assert "系统管理" in html and "全部区域" in html


def test_user_without_roles_gets_the_resident_home(client, db):
    client.force_login(UserFactory(username="resident", full_name="曹某"))
    response = client.get("/")
    html = _text(response)
    assert response.templates[0].name == "home/resident.html"
    assert "曹某" in html and "我的反映" in html and "我要反映" in html


@pytest.mark.parametrize(
    "who", ["grid_worker", "grid_leader", "centre_staff", "leader", "outsider"]
)
def test_home_query_count_is_bounded(client, people, who, django_assert_max_num_queries):
    client.force_login(getattr(people, who))
    # session, user, memberships, department check, mediator check, ancestors, and the
    # role's panel (counts, then the first rows of each list: see test_home_panels.py)
    with django_assert_max_num_queries(16):
        response = client.get("/")
    assert response.status_code == 200


def test_home_query_count_does_not_grow_with_memberships(
    client, tree, django_assert_max_num_queries
):
    from grids.models import Membership

    user = make_member("many", tree.grid_a1, Role.GRID_WORKER)
    for region in (tree.grid_a2, tree.grid_b1, tree.village_b):
        Membership.objects.create(user=user, region=region, role=Role.GRID_WORKER)
    client.force_login(user)
    with django_assert_max_num_queries(16):
        html = _text(client.get("/"))
    for name in ("江塘村第二网格", "克松村第一网格", "克松村"):
        assert name in html


def test_department_home_query_count(client, department_staff, django_assert_max_num_queries):
    client.force_login(department_staff)
    with django_assert_max_num_queries(16):
        assert client.get("/").status_code == 200


@pytest.mark.django_db
def test_anonymous_home_needs_no_query(client, django_assert_max_num_queries):
    with django_assert_max_num_queries(0):
        assert client.get("/").status_code == 200


# --- Navigation ------------------------------------------------------------------------


def test_nav_depends_on_roles(client, people, superuser):
    client.force_login(people.grid_worker)
    html = _text(client.get("/"))
    nav = html[html.index('class="site-nav"') : html.index("</nav>", html.index("site-nav"))]
    assert "我的网格" in nav and "/report/" in nav and "/admin/" not in nav
    assert 'aria-current="page"' in nav

    client.force_login(superuser)
    html = _text(client.get("/"))
    nav = html[html.index('class="site-nav"') : html.index("</nav>", html.index("site-nav"))]
    assert "/admin/" in nav and "/api/docs/" in nav and "/report/" not in nav


# --- Login, logout, passwords ----------------------------------------------------------


@pytest.mark.django_db
def test_login_page_and_login(client, people):
    response = client.get(reverse("login"))
    assert response.status_code == 200
    html = _text(response)
    assert "登录" in html and 'name="username"' in html and "csrfmiddlewaretoken" in html
    response = client.post(
        reverse("login"), {"username": "grid_worker", "password": "pass-word-123"}
    )
    assert response.status_code == 302 and response["Location"] == "/"
    assert "我的网格" in _text(client.get("/"))


@pytest.mark.django_db
def test_login_with_a_wrong_password_shows_an_error(client, people):
    response = client.post(reverse("login"), {"username": "grid_worker", "password": "nope"})
    assert response.status_code == 200
    assert 'class="alert alert--error"' in _text(response)


def test_logout_is_a_post(client, people):
    client.force_login(people.grid_worker)
    html = _text(client.get("/"))
    assert re.search(
        r'<form class="account__logout" method="post" action="/accounts/logout/"', html
    )
    assert client.get(reverse("logout")).status_code == 405
    response = client.post(reverse("logout"))
    assert response.status_code == 302 and response["Location"] == "/"
    assert "_auth_user_id" not in client.session
    assert "我要反映" in _text(client.get("/"))


def test_first_login_must_change_password(client, tree):
    user = make_member("newbie", tree.grid_a1, Role.GRID_WORKER, must_change_password=True)
    assert client.login(request=HttpRequest(), username="newbie", password="pass-word-123")
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"] == reverse("password_change")

    html = _text(client.get(reverse("password_change")))
    assert "临时密码" in html  # why the page appeared
    html = _text(client.get(reverse("password_change"), **EN))
    assert "temporary password" in html

    response = client.post(
        reverse("password_change"),
        {
            "old_password": "pass-word-123",
            "new_password1": "a-much-better-secret-42",
            "new_password2": "a-much-better-secret-42",
        },
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("password_change_done")
    user.refresh_from_db()
    assert user.must_change_password is False
    assert user.check_password("a-much-better-secret-42")
    # Still signed in (the session hash was updated), and free to go anywhere.
    assert client.get("/").status_code == 200
    assert "临时密码" not in _text(client.get(reverse("password_change")))


def test_password_change_form_shows_errors(client, people):
    client.force_login(people.grid_worker)
    response = client.post(
        reverse("password_change"),
        {"old_password": "wrong", "new_password1": "x", "new_password2": "y"},
    )
    assert response.status_code == 200
    assert "field__errors" in _text(response)


@pytest.mark.django_db
def test_password_reset_flow(client, people):
    people.grid_worker.email = "gw@example.com"
    people.grid_worker.save()
    assert "重置密码" in _text(client.get(reverse("password_reset")))
    response = client.post(reverse("password_reset"), {"email": "gw@example.com"})
    assert response.status_code == 302
    assert response["Location"] == reverse("password_reset_done")
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert "\n" not in message.subject and "枫桥" in message.subject
    link = re.search(r"http://testserver(/accounts/reset/\S+/)", message.body).group(1)
    assert "grid_worker" in message.body

    response = client.get(link, follow=True)
    assert response.status_code == 200 and "new_password1" in _text(response)
    set_url = response.redirect_chain[-1][0]
    response = client.post(
        set_url, {"new_password1": "another-good-one-77", "new_password2": "another-good-one-77"}
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("password_reset_complete")
    assert "密码已保存" in _text(client.get(reverse("password_reset_complete")))
    assert "链接已失效" in _text(client.get("/accounts/reset/MQ/bad-token/"))


@pytest.mark.django_db
def test_password_reset_done_page(client):
    assert client.get(reverse("password_reset_done")).status_code == 200


def test_password_change_done_page(client, people):
    client.force_login(people.grid_worker)
    assert "密码已修改" in _text(client.get(reverse("password_change_done")))


# --- Languages -------------------------------------------------------------------------


@pytest.mark.django_db
def test_set_language_switches_to_english_and_back(client):
    html = _text(client.get("/"))
    assert 'action="/i18n/setlang/"' in html and 'name="language" value="en"' in html
    response = client.post("/i18n/setlang/", {"language": "en", "next": "/"})
    assert response.status_code == 302 and response["Location"] == "/"
    assert client.cookies[settings.LANGUAGE_COOKIE_NAME].value == "en"
    assert "Report a problem" in _text(client.get("/"))
    response = client.post("/i18n/setlang/", {"language": "zh-hans", "next": "/accounts/login/"})
    assert response["Location"] == "/accounts/login/"
    assert "登录" in _text(client.get("/accounts/login/"))


@pytest.mark.django_db
@pytest.mark.parametrize("url", ["/", "/accounts/login/", "/accounts/password/reset/"])
@pytest.mark.parametrize("language", ["en", "zh-hans", "zh-CN", "fr"])
def test_no_language_prefix_redirects(client, url, language):
    response = client.get(url, HTTP_ACCEPT_LANGUAGE=language)
    assert response.status_code == 200
    assert client.get(f"/{language.lower()}{url}").status_code == 404


@pytest.mark.django_db
def test_unknown_language_falls_back_to_chinese(client):
    assert '<html lang="zh-hans">' in _text(client.get("/", HTTP_ACCEPT_LANGUAGE="fr"))


# --- Error pages -----------------------------------------------------------------------


@pytest.mark.django_db
def test_404_page_in_both_languages(client):
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    html = _text(response)
    assert "页面不存在" in html and "site-header" in html
    response = client.get("/no-such-page/", **EN)
    assert response.status_code == 404 and "Page not found" in _text(response)


@pytest.mark.django_db
@pytest.mark.urls(__name__)
def test_403_page_in_both_languages(client):
    response = client.get("/forbidden/")
    assert response.status_code == 403 and "无权访问" in _text(response)
    assert "Access denied" in _text(client.get("/forbidden/", **EN))


@pytest.mark.django_db
@pytest.mark.urls(__name__)
def test_500_page_in_both_languages():
    client = Client(raise_request_exception=False)
    response = client.get("/boom/")
    assert response.status_code == 500
    assert "出错了" in _text(response)
    response = client.get("/boom/", **EN)
    assert response.status_code == 500 and "Something went wrong" in _text(response)


def test_500_renders_without_request_context():
    # No database, no context processors: the view renders from a plain dict.
    request = RequestFactory().get("/")
    with translation.override("zh-hans"):
        response = views.server_error(request)
    assert response.status_code == 500 and "出错了" in response.content.decode()
    with translation.override("en"):
        response = views.server_error(request)
    assert "Something went wrong" in response.content.decode()
    # The template itself renders from an empty context too.
    assert "500" in get_template("500.html").render({})


@pytest.mark.django_db
@pytest.mark.urls(__name__)
def test_messages_are_shown(client):
    html = _text(client.get("/message/"))
    assert '<li class="message message--success">Saved: 已保存</li>' in html


@pytest.mark.django_db
def test_csrf_failure_page(db):
    client = Client(enforce_csrf_checks=True)
    response = client.post(reverse("login"), {"username": "x", "password": "y"})
    assert response.status_code == 403 and "表单已过期" in _text(response)


# --- Assets and templates --------------------------------------------------------------


@pytest.mark.django_db
def test_assets_are_local_and_htmx_is_loaded(client):
    html = _text(client.get("/"))
    assert '<script src="/static/vendor/htmx/htmx.min.js" defer></script>' in html
    assert finders.find("vendor/htmx/htmx.min.js")
    assert finders.find("css/app.css")
    assert client.get("/static/css/app.css").status_code == 200


def test_no_cdn_in_templates():
    pattern = re.compile(r"""(?:src|href)\s*=\s*["'](?:https?:)?//""", re.IGNORECASE)
    for template in (BASE_DIR / "templates").rglob("*.html"):
        assert not pattern.search(template.read_text()), template


def test_every_template_compiles():
    engine = engines["django"]
    for template in (BASE_DIR / "templates").rglob("*"):
        if template.suffix in (".html", ".txt"):
            engine.get_template(str(template.relative_to(BASE_DIR / "templates")))


# --- The admin -------------------------------------------------------------------------


def _boundary_post(region, geometry: str) -> dict:
    return {"region": region.pk, "geometry": geometry}


@pytest.mark.parametrize(
    "geometry, message",
    [
        ("{not json", "Enter a valid JSON"),
        ('{"type": "Point", "coordinates": [91.2, 29.3]}', "must be a Polygon or a MultiPolygon"),
        ('{"type": "Polygon", "coordinates": "nonsense"}', "cannot be read"),
        ('{"type": "Polygon", "coordinates": [[[1, 2]]]}', "cannot be read"),
        ('"just a string"', "must be a GeoJSON object"),
        (
            '{"type": "Polygon", "coordinates": [[[500, 0], [501, 0], [501, 1], [500, 0]]]}',
            "outside longitude",
        ),
    ],
)
def test_admin_malformed_boundary_is_a_form_error(admin_client, tree, geometry, message):
    region = tree.other_county
    RegionBoundary.objects.filter(region=region).delete()
    url = reverse("admin:grids_regionboundary_add")
    response = admin_client.post(url, _boundary_post(region, geometry), **EN)
    assert response.status_code == 200
    html = _text(response)
    assert "errorlist" in html and message in html
    assert not RegionBoundary.objects.filter(region=region).exists()
    # The raw value comes back in the text area for correction.
    textarea = re.search(r'<textarea id="id_geometry"[^>]*>(.*?)</textarea>', html, re.S)
    assert textarea is not None
    assert unescape(textarea.group(1)).replace(" ", "") == geometry.replace(" ", "")


def test_admin_malformed_boundary_on_change(admin_client, tree):
    url = reverse("admin:grids_regionboundary_change", args=[tree.grid_a1.pk])
    response = admin_client.get(url)
    assert response.status_code == 200
    html = _text(response)
    assert "江塘村第一网格" in html and "coordinates" in html
    # The region is the primary key: shown, not editable.
    assert re.search(r'<select name="region"[^>]* disabled', html)
    response = admin_client.post(url, {"geometry": '{"type": "Polygon", "coordinates": 7}'})
    assert response.status_code == 200 and "errorlist" in _text(response)


def test_admin_saves_a_boundary_and_the_bounding_box(admin_client, tree):
    region = tree.other_county
    RegionBoundary.objects.filter(region=region).delete()
    polygon = (
        '{"type": "Polygon", "coordinates": [[[100, 29], [100.5, 29], [100.5, 29.5], [100, 29]]]}'
    )
    response = admin_client.post(
        reverse("admin:grids_regionboundary_add"), _boundary_post(region, polygon)
    )
    assert response.status_code == 302, _text(response)
    region.refresh_from_db()
    assert (region.min_lng, region.min_lat, region.max_lng, region.max_lat) == (
        100,
        29,
        100.5,
        29.5,
    )
    assert region.boundary.geometry["type"] == "Polygon"


def test_admin_pages_render(admin_client, tree, department_staff):
    department = Department.objects.get()
    urls = [
        reverse("admin:index"),
        reverse("admin:grids_region_changelist"),
        reverse("admin:grids_region_changelist") + "?q=江塘",
        reverse("admin:grids_region_changelist") + "?level__exact=grid",
        reverse("admin:grids_region_change", args=[tree.grid_a1.pk]),
        reverse("admin:grids_region_add"),
        reverse("admin:grids_regionboundary_changelist"),
        reverse("admin:grids_regionboundary_add") + f"?region={tree.other_county.pk}",
        reverse("admin:grids_user_changelist"),
        reverse("admin:grids_user_add"),
        reverse("admin:grids_user_change", args=[department_staff.pk]),
        reverse("admin:grids_membership_changelist"),
        reverse("admin:dispatch_department_changelist"),
        reverse("admin:dispatch_department_changelist") + "?region__level__exact=county",
        reverse("admin:dispatch_department_change", args=[department.pk]),
        reverse("admin:dispatch_department_add"),
    ]
    for url in urls:
        response = admin_client.get(url)
        assert response.status_code == 200, url
    html = _text(admin_client.get(reverse("admin:grids_user_change", args=[department_staff.pk])))
    assert "must_change_password" in html and "乃东区交通运输局" in html
    html = _text(admin_client.get(reverse("admin:grids_user_add")))
    assert re.search(r'<input type="checkbox" name="must_change_password"[^>]* checked>', html)


def test_admin_creates_a_user_who_must_change_the_password(admin_client, tree):
    response = admin_client.post(
        reverse("admin:grids_user_add"),
        {
            "username": "gerong",
            "full_name": "割绒彭措",
            "phone": "13800000000",
            "email": "",
            "usable_password": "true",
            "password1": "first-pass-word-9",
            "password2": "first-pass-word-9",
            "must_change_password": "on",
            **{
                f"{prefix}-{key}": value
                for prefix in ("memberships", "department_memberships")
                for key, value in (("TOTAL_FORMS", "0"), ("INITIAL_FORMS", "0"))
            },
        },
    )
    assert response.status_code == 302, _text(response)
    user = User.objects.get(username="gerong")
    assert user.must_change_password and user.full_name == "割绒彭措"
    assert user.check_password("first-pass-word-9")


def test_admin_region_move_keeps_levels(admin_client, tree):
    # A grid cannot be moved under a township: the form refuses it.
    url = reverse("admin:grids_region_change", args=[tree.grid_a1.pk])
    data = {
        "name": tree.grid_a1.name,
        "code": tree.grid_a1.code,
        "level": "grid",
        "kind": "residential",
        "parent": tree.town_b.pk,
    }
    response = admin_client.post(url, data)
    assert response.status_code == 200 and "errorlist" in _text(response)
    data["parent"] = tree.village_b.pk
    response = admin_client.post(url, data)
    assert response.status_code == 302
    tree.grid_a1.refresh_from_db()
    assert tree.grid_a1.parent_id == tree.village_b.pk


# --- The translation catalogue ---------------------------------------------------------


def _po_entries(text: str) -> list[dict]:
    """A small .po parser: msgctxt/msgid/msgid_plural/msgstr[n] with flags, per entry."""
    entries: list[dict] = []
    entry: dict = {"flags": set(), "strings": {}}
    key = None

    def unquote(s: str) -> str:
        return bytes(s.strip()[1:-1], "utf-8").decode("unicode_escape").encode("latin-1").decode()

    def flush():
        nonlocal entry, key
        if entry["strings"]:
            entries.append(entry)
        entry = {"flags": set(), "strings": {}}
        key = None

    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            flush()
        elif line.startswith("#,"):
            entry["flags"].update(f.strip() for f in line[2:].split(","))
        elif line.startswith("#~"):
            entry["obsolete"] = True
        elif line.startswith("#"):
            continue
        elif line.startswith('"'):
            entry["strings"][key] += unquote(line)
        else:
            key, _, rest = line.partition(" ")
            entry["strings"][key] = unquote(rest)
    flush()
    return entries


def test_translation_catalogue_is_complete():
    text = PO_FILE.read_text(encoding="utf-8")
    # No fuzzy flag anywhere, not even on the header or an obsolete entry.
    assert not re.search(r"^#,.*\bfuzzy\b", text, re.MULTILINE)
    entries = _po_entries(text)
    assert len(entries) > 100
    problems = []
    for entry in entries:
        strings = entry["strings"]
        msgid = strings.get("msgid", "")
        if msgid == "" or entry.get("obsolete"):
            continue
        if "fuzzy" in entry["flags"]:
            problems.append(f"fuzzy: {msgid!r}")
        translations = [v for k, v in strings.items() if k.startswith("msgstr")]
        if not translations or any(not t.strip() for t in translations):
            problems.append(f"untranslated: {msgid!r}")
    assert not problems, "\n".join(problems)


def test_catalogue_has_the_domain_terms():
    entries = _po_entries(PO_FILE.read_text(encoding="utf-8"))
    catalogue = {e["strings"].get("msgid"): e["strings"].get("msgstr") for e in entries}
    assert catalogue["Grid worker"] == "网格员"
    assert catalogue["Submitted"] == "待受理"


def test_compiled_catalogue_is_used():
    with translation.override("zh-hans"):
        assert translation.gettext("Report a problem") == "我要反映"
        assert translation.gettext("Grid worker") == "网格员"


def test_admin_boundary_nested_thousands_deep_is_a_form_error(admin_client, tree):
    region = tree.other_county
    RegionBoundary.objects.filter(region=region).delete()
    url = reverse("admin:grids_regionboundary_add")
    deep = '{"type": "Polygon", "coordinates": ' + "[" * 3000 + "]" * 3000 + "}"
    response = admin_client.post(url, _boundary_post(region, deep), **EN)
    assert response.status_code == 200
    assert "errorlist" in _text(response)
    assert not RegionBoundary.objects.filter(region=region).exists()
