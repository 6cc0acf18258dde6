"""Reading rendered pages as a person sees them: the visible text nodes (no script, style or
template content, no attributes except the ones read aloud or shown), the form controls and
their labels, the headings; the English source strings of the catalogue; and the pages
each role reaches in the world of tests/i18n/conftest.py."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from html.parser import HTMLParser
from pathlib import Path

from django.apps import apps
from django.conf import settings
from django.db import models
from django.test import Client

from grievances.views_intake import DONE_KEY

PO_FILE = Path(settings.BASE_DIR) / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"

# Elements whose content is not shown as text.
HIDDEN_CONTENT = {"script", "style", "template", "noscript"}
VOID = {
    "area",
    "base",
    "br",
    "col",
    "embed",
    "hr",
    "img",
    "input",
    "link",
    "meta",
    "source",
    "track",
    "wbr",
}
# Attributes that people read or hear: checked like text.
SHOWN_ATTRIBUTES = ("placeholder", "aria-label", "alt", "title")
CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff\u3000-\u303f\uff00-\uffef]")


def normal(text: str) -> str:
    return " ".join(text.split())


@dataclass
class Page:
    lang: str = ""
    # (text, lang of its element, inside aria-hidden)
    texts: list[tuple[str, str, bool]] = field(default_factory=list)
    controls: list[dict] = field(default_factory=list)
    labels_for: set[str] = field(default_factory=set)
    ids: list[str] = field(default_factory=list)
    images: list[dict] = field(default_factory=list)
    h1: int = 0
    # Field error lists: (id, role, the first words of its text)
    errors: list[dict] = field(default_factory=list)
    # Ids named by any element's aria-describedby (a control, or the fieldset of a group)
    described: set[str] = field(default_factory=set)
    viewport: bool = False
    title: str = ""


class PageParser(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.page = Page()
        self.stack: list[tuple[str, str, bool, bool]] = []  # (tag, lang, in label, aria-hidden)
        self.skip = 0

    @property
    def lang(self) -> str:
        return self.stack[-1][1] if self.stack else self.page.lang

    @property
    def in_label(self) -> bool:
        return bool(self.stack) and self.stack[-1][2]

    @property
    def hidden(self) -> bool:
        return bool(self.stack) and self.stack[-1][3]

    def handle_starttag(self, tag, attrs):
        a = {k: (v or "") for k, v in attrs}
        if tag == "html":
            self.page.lang = a.get("lang", "")
        if "id" in a:
            self.page.ids.append(a["id"])
        lang = a.get("lang", self.lang)
        hidden = self.hidden or a.get("aria-hidden") == "true"
        if tag == "meta" and a.get("name") == "viewport":
            self.page.viewport = "width=device-width" in a.get("content", "")
        if tag == "label" and a.get("for"):
            self.page.labels_for.add(a["for"])
        if tag in ("input", "select", "textarea"):
            self.page.controls.append({"tag": tag, **a, "_in_label": self.in_label})
        if tag == "img":
            self.page.images.append(a)
        if tag == "h1":
            self.page.h1 += 1
        self.page.described.update(a.get("aria-describedby", "").split())
        classes = a.get("class", "").split()
        if "field__errors" in classes or "errorlist" in classes:
            self.page.errors.append({"id": a.get("id", ""), "class": a.get("class", "")})
        if not self.skip:
            for name in SHOWN_ATTRIBUTES:
                if a.get(name, "").strip() and not (tag == "input" and a.get("type") == "hidden"):
                    self.page.texts.append((normal(a[name]), lang, hidden))
        if tag in VOID:
            return
        if tag in HIDDEN_CONTENT:
            self.skip += 1
        self.stack.append((tag, lang, self.in_label or tag == "label", hidden))

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag not in VOID:
            self.handle_endtag(tag)

    def handle_endtag(self, tag):
        if tag in VOID:
            return
        # Close up to the matching element (browsers forgive unclosed <p>, <li>, …).
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i][0] == tag:
                for closed, *_rest in self.stack[i:]:
                    if closed in HIDDEN_CONTENT:
                        self.skip -= 1
                del self.stack[i:]
                return

    def handle_data(self, data):
        if self.skip:
            return
        text = normal(data)
        if text:
            if self.stack and self.stack[-1][0] == "title":
                self.page.title = text
            self.page.texts.append((text, self.lang, self.hidden))


def parse(html: str) -> Page:
    parser = PageParser()
    parser.feed(html)
    parser.close()
    return parser.page


# --- The catalogue -------------------------------------------------------------------------


def _unquote(s: str) -> str:
    s = s.strip()[1:-1]
    return bytes(s, "utf-8").decode("unicode_escape").encode("latin-1").decode()


def po_entries(path: Path = PO_FILE) -> list[dict]:
    """The catalogue's live entries: {"msgid", "plural", "msgstr": [..], "flags"}."""
    entries, cur, key = [], {}, None

    def flush():
        nonlocal cur, key
        if cur.get("msgid"):
            entries.append(cur)
        cur, key = {}, None

    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line:
            flush()
        elif line.startswith("#~"):
            cur["obsolete"] = True
        elif line.startswith("#,"):
            cur.setdefault("flags", set()).update(f.strip() for f in line[2:].split(","))
        elif line.startswith("#"):
            continue
        elif line.startswith('"') and key:
            cur[key] += _unquote(line)
        else:
            key, _, rest = line.partition(" ")
            cur[key] = _unquote(rest)
    flush()
    return [e for e in entries if not e.get("obsolete")]


PLACEHOLDER = re.compile(r"%\(\w+\)[sd]|%[sd]|\{\w*\}")


@cache
def english_sources() -> tuple[dict[str, str], list[tuple[re.Pattern, str]]]:
    """English source strings translated into something else, whole, and as patterns for
    those with placeholders: {normalised msgid: msgstr}, [(pattern, msgid)]."""
    whole: dict[str, str] = {}
    patterns: list[tuple[re.Pattern, str]] = []
    for entry in po_entries():
        for key in ("msgid", "msgid_plural"):
            source = normal(entry.get(key, ""))
            target = normal(entry.get("msgstr", entry.get("msgstr[0]", "")))
            if not source or not target or source == target:
                continue
            if PLACEHOLDER.search(source):
                fixed = PLACEHOLDER.sub("", source)
                if len(re.findall(r"[A-Za-z]{2,}", fixed)) < 2:
                    continue
                parts = [re.escape(p) for p in PLACEHOLDER.split(source)]
                patterns.append((re.compile("^" + "(.+?)".join(parts) + "$"), source))
            elif len(re.findall(r"[A-Za-z]", source)) > 3:
                whole[source] = target
    return whole, patterns


@cache
def chinese_targets() -> set[str]:
    """Translations (Chinese) of the catalogue, normalised."""
    out = set()
    for entry in po_entries():
        for key, value in entry.items():
            if key.startswith("msgstr") and CJK.search(value or ""):
                out.add(normal(value))
    return out


def data_strings() -> list[re.Pattern]:
    """Every text value stored in the database (names, titles, notes, labels recorded with
    an event…), except codes of choices and the English source strings of the catalogue:
    what was stored is shown as stored. As patterns, longest first; a value in Latin
    letters matches whole words only."""
    whole, _patterns = english_sources()
    values: set[str] = set()
    for model in apps.get_models():
        fields = [
            f.attname
            for f in model._meta.concrete_fields
            if isinstance(f, models.CharField | models.TextField) and not f.choices
        ]
        if not fields:
            continue
        for row in model._default_manager.values_list(*fields):
            for value in row:
                if isinstance(value, str):
                    for line in value.splitlines():
                        line = normal(line)
                        if len(line) >= 2 and line not in whole:
                            values.add(line)
    patterns = []
    for value in sorted(values, key=len, reverse=True):
        if CJK.search(value):
            patterns.append(re.compile(re.escape(value)))
        elif len(value) >= 3:
            patterns.append(re.compile(rf"(?<![\w-]){re.escape(value)}(?![\w-])"))
    return patterns


def without(text: str, patterns: list[re.Pattern]) -> str:
    for pattern in patterns:
        text = pattern.sub(" ", text)
    return text


# --- The pages each role reaches ----------------------------------------------------------------


def client_for(user, language: str) -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE=language)
    if user is not None:
        client.force_login(user)
    return client


def tracked_client(world, language: str) -> Client:
    """A resident who looked up their case with its code and phone."""
    client = client_for(None, language)
    r = client.post(
        "/track/",
        {"code": world.resident.display_code, "last4": world.resident_phone[-4:]},
    )
    assert r.status_code == 302, r.content.decode()[:3000]
    return client


def report_done_client(world, language: str) -> Client:
    client = client_for(None, language)
    session = client.session
    case = world.resident
    session[DONE_KEY] = {
        "case": case.pk,
        "code": case.display_code,
        "title": case.title,
        "state": case.state,
        "sms_to": "139****5678",
        "staff": False,
    }
    session.save()
    return client


def visits(world, people, depts, roster) -> list[tuple[str, object, list[str]]]:
    """(who, user or a client maker, [urls]) for every role."""
    w = world
    m = w.mcase
    case_pages = [
        f"/cases/{c.pk}/"
        for c in (w.pinned, w.submitted, w.rejected, w.whistled, w.in_progress, w.closed)
    ]
    own_cases = [f"/cases/{w.in_progress.pk}/", f"/cases/{w.closed.pk}/"]
    common_staff = ["/", "/notifications/", "/accounts/password/change/"]
    from tests.mediation.conftest import token_of

    return [
        (
            "anonymous",
            None,
            [
                "/",
                "/report/",
                "/track/",
                "/rankings/",
                "/mediators/",
                f"/mediation/p/{token_of(m, 0)}/",
                f"/mediation/{m.pk}/agreement/?token={token_of(m, 0)}",
                "/accounts/login/",
                "/accounts/password/reset/",
                "/accounts/password/reset/done/",
                "/accounts/reset/done/",
                "/offline/",
            ],
        ),
        ("resident (tracking)", "track", ["/track/"]),
        ("resident (report sent)", "done", ["/report/done/"]),
        ("resident (account)", w.resident_account, ["/"]),
        (
            "grid worker",
            people.grid_worker,
            [*common_staff, "/report/", "/cases/", *own_cases, "/accounts/password/change/done/"],
        ),
        (
            "centre staff",
            people.centre_staff,
            [
                *common_staff,
                "/cases/",
                *case_pages,
                "/console/",
                "/dashboard/",
                "/return-visits/",
                f"/dashboard/exports/{w.export.pk}/",
                f"/mediation/{m.pk}/",
                f"/mediation/{m.pk}/agreement/",
            ],
        ),
        (
            "department staff",
            depts.staff.transport,
            ["/", "/notifications/", "/inbox/", "/cases/", f"/cases/{w.whistled.pk}/"],
        ),
        (
            "mediator",
            roster.users.zhuoma,
            ["/", "/notifications/", f"/mediation/{m.pk}/", f"/mediation/{m.pk}/agreement/"],
        ),
        ("leader", people.leader, ["/", "/notifications/", "/dashboard/", "/cases/"]),
        (
            "admin",
            w.admin,
            ["/", "/cases/", "/console/", "/desk/canned/manage/", "/desk/knowledge/manage/"],
        ),
    ]


@dataclass
class Rendered:
    """Every page of every role in one language: [(who, url, status, html)], and the
    stored data of the world they were rendered from."""

    pages: list[tuple[str, str, int, str]]
    data: list[re.Pattern]


def render_all(world, people, depts, roster, language: str) -> Rendered:
    pages = []
    for who, user, urls in visits(world, people, depts, roster):
        if user == "track":
            client = tracked_client(world, language)
        elif user == "done":
            client = report_done_client(world, language)
        else:
            client = client_for(user, language)
        for url in urls:
            response = client.get(url)
            pages.append((who, url, response.status_code, response.content.decode()))
    return Rendered(pages, data_strings())
