"""The Content-Security-Policy: the header and its directives on the pages, every inline
script of the main pages carrying the header's nonce, no event-handler attribute left in a
template, and the map tiles' host derived from MAP_TILE_URL.

The browser tests (tests/browser_support.py) check that nothing the pages do at run time
breaks the policy; these tests check what the server sends.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.urls import reverse

from config.csp import extra_sources, tile_source
from grids.models import User
from grievances.models import State
from tests.grievances.conftest import PHONE, advance, new_case
from tests.mediation import conftest as mediation_fixtures

roster = mediation_fixtures.roster


def _policy(response) -> dict[str, list[str]]:
    header = response.headers.get("Content-Security-Policy")
    assert header, f"no Content-Security-Policy on {response.request['PATH_INFO']}"
    policy = {}
    for part in header.split(";"):
        name, *values = part.split()
        policy[name] = values
    return policy


class _Inline(HTMLParser):
    """The inline <script> elements a browser would run and the <style> elements, with
    their nonces."""

    def __init__(self):
        super().__init__()
        self.scripts: list[tuple[str | None, str]] = []
        self.styles: list[tuple[str | None, str]] = []
        self._open: tuple[list, str | None] | None = None
        self._text = ""

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "script":
            kind = (attrs.get("type") or "text/javascript").lower()
            runs = kind in ("text/javascript", "application/javascript", "module")
            if runs and not attrs.get("src"):
                self._open, self._text = (self.scripts, attrs.get("nonce")), ""
        elif tag == "style":
            self._open, self._text = (self.styles, attrs.get("nonce")), ""

    def handle_data(self, data):
        if self._open is not None:
            self._text += data

    def handle_endtag(self, tag):
        if tag in ("script", "style") and self._open is not None:
            found, nonce = self._open
            found.append((nonce, self._text))
            self._open = None


def _nonces(values: list[str]) -> set[str]:
    return {v[len("'nonce-") : -1] for v in values if v.startswith("'nonce-")}


def _check_page(response) -> list[str]:
    """The page's policy holds its directives, and each inline script and style its nonce;
    the inline scripts' text."""
    assert response.status_code == 200, response.status_code
    policy = _policy(response)
    script_src = policy["script-src"]
    assert "'unsafe-inline'" not in script_src and "'unsafe-eval'" not in script_src
    assert "'self'" in script_src
    assert policy["default-src"] == ["'self'"]
    assert policy["object-src"] == ["'none'"]
    assert policy["base-uri"] == ["'self'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["form-action"] == ["'self'"]
    assert policy["connect-src"] == ["'self'"]
    assert policy["worker-src"] == ["'self'"] and policy["manifest-src"] == ["'self'"]
    assert "'unsafe-inline'" not in policy["style-src"]
    assert "'unsafe-inline'" not in policy["style-src-elem"]
    assert {"'self'", "data:", "blob:"} <= set(policy["img-src"])

    parser = _Inline()
    parser.feed(response.content.decode())
    for found, directive in ((parser.scripts, "script-src"), (parser.styles, "style-src-elem")):
        for nonce, text in found:
            assert nonce, f"an inline {directive} element without a nonce: {text[:200]!r}"
            assert nonce in _nonces(policy[directive]), f"{nonce!r} is not in {directive}"
    return [text for _, text in parser.scripts]


@pytest.fixture
def cases(people):
    handled = advance(new_case(people.grid_worker, title="路灯不亮"), State.HANDLED, people)
    return {"open": new_case(people.grid_worker), "handled": handled}


@pytest.mark.parametrize(
    "who", ["grid_worker", "centre_staff", "leader", "department", "mediator", "admin", "public"]
)
def test_each_home_sends_the_policy(who, client, tree, people, depts, roster):
    if who == "admin":
        client.force_login(User.objects.create_superuser("root", "root@example.com", "x"))
    elif who == "department":
        client.force_login(depts.staff.labour)
    elif who == "mediator":
        client.force_login(roster.users.zhuoma)
    elif who != "public":
        client.force_login(getattr(people, who))
    _check_page(client.get("/"))


def test_the_working_pages_send_the_policy(client, tree, people, cases):
    client.force_login(people.centre_staff)
    for url in ("/console/", f"/cases/{cases['open'].pk}/", "/cases/"):
        _check_page(client.get(url))
    client.force_login(people.grid_worker)
    _check_page(client.get("/report/"))
    client.force_login(people.leader)
    _check_page(client.get("/dashboard/"))


def test_the_track_page_sends_the_policy(client, tree, people, cases):
    _check_page(client.get("/track/"))
    code = cases["handled"].tracking_code
    response = client.post("/track/", {"act": "lookup", "code": code, "last4": PHONE[-4:]})
    assert response.status_code == 302
    page = client.get("/track/")
    _check_page(page)
    assert "路灯不亮" in page.content.decode()


def test_the_boundary_map_in_the_admin_runs_with_the_nonce(admin_client, tree):
    url = reverse("admin:grids_regionboundary_change", args=[tree.grid_a1.pk])
    scripts = _check_page(admin_client.get(url))
    # The map widget's own scripts are the ones that need it.
    assert any("_map_callback" in text for text in scripts)
    assert any("L.Map.djangoMap" in text for text in scripts)


def test_the_periodic_task_form_runs_its_script_with_the_nonce(admin_client):
    scripts = _check_page(admin_client.get("/admin/django_celery_beat/periodictask/add/"))
    assert any("readableCrontabs" in text for text in scripts)


def test_the_browsable_api_styles_with_the_nonce(client, tree):
    page = client.get("/api/v1/regions/", HTTP_ACCEPT="text/html")
    _check_page(page)
    assert "<style nonce=" in page.content.decode()


def test_the_api_docs_need_no_inline_script(client):
    page = client.get("/api/docs/")
    assert _check_page(page) == []
    assert "<style" not in page.content.decode()
    script = re.search(r'<script src="([^"]*\?[^"]*script[^"]*)"', page.content.decode())
    assert script, "Swagger UI's start-up script is not a file of its own"
    start = client.get(script.group(1).replace("&amp;", "&"))
    assert start.status_code == 200
    assert "SwaggerUIBundle" in start.content.decode()


def test_no_template_has_an_event_handler_attribute_or_a_javascript_url():
    roots = [Path(settings.BASE_DIR) / "templates"]
    roots += [Path(settings.BASE_DIR) / app / "templates" for app in ("grids", "grievances")]
    roots += [Path(settings.BASE_DIR) / app / "templates" for app in ("dispatch", "mediation")]
    handler = re.compile(r"""<[^>]*\son[a-z]+\s*=|javascript:|\shx-on[:-]""", re.IGNORECASE)
    found = []
    for root in roots:
        for path in root.rglob("*.html") if root.exists() else ():
            for number, line in enumerate(path.read_text().splitlines(), 1):
                if handler.search(line):
                    found.append(f"{path.relative_to(settings.BASE_DIR)}:{number}: {line.strip()}")
    assert found == []


@pytest.mark.parametrize(
    "template,source",
    [
        ("https://tile.openstreetmap.org/{z}/{x}/{y}.png", "https://tile.openstreetmap.org"),
        ("https://{s}.tile.example.org/{z}/{x}/{y}.png", "https://*.tile.example.org"),
        (
            "https://t{s}.tianditu.gov.cn/vec_w/wmts?SERVICE=WMTS&tk=KEY&TILEMATRIX={z}",
            "https://*.tianditu.gov.cn",
        ),
        ("http://tiles.internal:8080/{z}/{x}/{y}.png", "http://tiles.internal:8080"),
        ("//tiles.example.org/{z}/{x}/{y}.png", "tiles.example.org"),
        ("/no-tiles-here/{z}/{x}/{y}.png", None),
        ("", None),
    ],
)
def test_the_tile_host_comes_from_the_tile_url(template, source):
    assert tile_source(template) == source


@pytest.mark.parametrize("template", ["ftp://tiles.example.org/{z}.png", "https://{s}.org/{z}.png"])
def test_a_tile_url_that_cannot_be_admitted_is_refused(template):
    with pytest.raises(ImproperlyConfigured):
        tile_source(template)


def test_the_default_tiles_are_admitted(client):
    policy = _policy(client.get("/"))
    assert "https://tile.openstreetmap.org" in policy["img-src"]


def test_an_operator_adds_image_hosts_but_no_keyword_or_directive():
    hosts = ["https://tiles.example.org", "https://*.cdn.example.org:8443"]
    assert extra_sources("CSP_EXTRA_IMG_SRC", hosts) == hosts
    for bad in ["'unsafe-inline'", "https://x.org; script-src *", "https://x.org https://y.org"]:
        with pytest.raises(ImproperlyConfigured):
            extra_sources("CSP_EXTRA_IMG_SRC", [bad])


def test_the_extra_image_hosts_reach_the_header():
    # The settings read the environment once, at start-up: a process of its own.
    code = (
        "import django; django.setup(); from django.conf import settings; "
        "print(settings.CONTENT_SECURITY_POLICY['DIRECTIVES']['img-src'])"
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "CSP_EXTRA_IMG_SRC": "https://a.example.org, https://b.example.org",
        "MAP_TILE_URL": "https://t{s}.tianditu.gov.cn/vec_w/wmts?tk=KEY",
    }
    out = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for source in ("https://*.tianditu.gov.cn", "https://a.example.org", "https://b.example.org"):
        assert f"'{source}'" in out


def test_the_policy_built_once_is_the_one_django_csp_builds(client, settings, db):
    """config.csp_fast serves a response without a nonce a policy built once: the same
    header django-csp would build, and a new one when the settings change."""
    from csp.utils import build_policy

    r = client.get("/api/v1/regions/")
    assert r["Content-Security-Policy"] == build_policy()
    settings.CONTENT_SECURITY_POLICY = {"DIRECTIVES": {"default-src": ["'none'"]}}
    r = client.get("/api/v1/regions/")
    assert r["Content-Security-Policy"] == "default-src 'none'"
