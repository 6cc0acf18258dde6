"""Every page of every role is complete in both languages.

In Chinese (zh-Hans): no English source string of the catalogue shows verbatim as a whole
text node (a string left out of the catalogue, or one translated at import time), and no
run of three or more English words shows outside stored data. In English: no Chinese
interface text shows, only data (region, user, category, organisation names, what people
typed). Both: <html lang> names the language. And a case page shows its times in Beijing
time in the Chinese date format.

A failure lists each page with what showed. To fix one: wrap the string in gettext /
{% translate %}, then `manage.py makemessages -l zh_Hans --no-obsolete` and translate it
in locale/zh_Hans/LC_MESSAGES/django.po, then `manage.py compilemessages`.
"""

from __future__ import annotations

import re

import pytest

from tests.i18n.conftest import PINNED
from tests.i18n.pages import (
    CJK,
    client_for,
    english_sources,
    parse,
    without,
)

pytestmark = pytest.mark.django_db

# Three or more English words in a row.
ENGLISH_RUN = re.compile(r"[A-Za-z][A-Za-z'’]*(?:[ ,;:.&/-]+[A-Za-z][A-Za-z'’]*){2,}")
# Names and codes that stay in English in Chinese text.
ALLOWED_ENGLISH = (
    "OpenStreetMap",
    "Leaflet",
    "API",
    "CSV",
    "Excel",
    "PDF",
    "SHA-256",
    "fengqiao",
)
# A Chinese term quoted after its English name, as in "Mediation agreement (人民调解协议书)".
GLOSS = re.compile(r"[(（][^()（）]*[(（]?[^()（）]*[)）]?[^()（）]*[)）]")


def _report(problems: dict[str, list[str]], what: str) -> str:
    lines = [what]
    for page, found in problems.items():
        lines.append(f"  {page}")
        lines.extend(f"      {item!r}" for item in found)
    return "\n".join(lines)


def _english_in(text: str) -> list[str]:
    whole, patterns = english_sources()
    if text in whole:
        return [f"{text}  (catalogue: {whole[text]})"]
    for pattern, source in patterns:
        if pattern.match(text):
            return [f"{text}  (catalogue: {source})"]
    return []


def test_chinese_pages_show_no_english_interface_text(rendered):
    zh = rendered("zh-hans")
    data = zh.data
    problems: dict[str, list[str]] = {}
    for who, url, status, html in zh.pages:
        key = f"{who:<24} {url}"
        if status != 200:
            problems.setdefault(key, []).append(f"status {status}")
            continue
        page = parse(html)
        found = []
        if page.lang != "zh-hans":
            found.append(f'<html lang="{page.lang}">')
        for text, lang, hidden in page.texts:
            if hidden and len(text) <= 2:
                continue  # a decorative mark or an initial, not read aloud
            if lang and not lang.startswith("zh"):
                continue  # marked as another language, such as "English" in the switch
            hits = _english_in(text)
            if not hits:
                rest = without(text, data)
                for allowed in ALLOWED_ENGLISH:
                    rest = rest.replace(allowed, " ")
                hits = [f"{run}  (in: {text[:120]})" for run in ENGLISH_RUN.findall(rest)]
            found.extend(hits)
        if found:
            problems[key] = list(dict.fromkeys(found))
    assert not problems, _report(problems, "English text on zh-Hans pages:")


def test_english_pages_show_no_chinese_interface_text(rendered):
    en = rendered("en")
    data = en.data
    problems: dict[str, list[str]] = {}
    for who, url, status, html in en.pages:
        key = f"{who:<24} {url}"
        if status != 200:
            problems.setdefault(key, []).append(f"status {status}")
            continue
        page = parse(html)
        found = []
        if page.lang != "en":
            found.append(f'<html lang="{page.lang}">')
        for text, lang, hidden in page.texts:
            if hidden and len(text) <= 2:
                continue  # a decorative mark or an initial, not read aloud
            if lang and not lang.startswith("en"):
                continue  # marked as another language, such as 简体中文 in the switch
            rest = GLOSS.sub(" ", without(text, data))
            if CJK.search(rest.replace("·", "").replace("…", "")):
                found.append(text[:160])
        if found:
            problems[key] = list(dict.fromkeys(found))
    assert not problems, _report(problems, "Chinese interface text on English pages:")


def test_a_case_page_shows_beijing_time_in_the_chinese_format(world, people):
    html = client_for(people.centre_staff, "zh-hans").get(f"/cases/{world.pinned.pk}/")
    text = " ".join(t for t, _lang, _hidden in parse(html.content.decode()).texts)
    assert world.pinned.created_at == PINNED
    shown = re.findall(r"2026年3月17日 ?09:05|2026-03-17 09:05", text)
    assert shown, (
        f"2026-03-17 09:05 (Beijing) not shown in the Chinese format on the case page:\n{text}"
    )
    # Neither UTC nor an English month.
    assert "01:05" not in text and "March" not in text and "Mar." not in text
    english = " ".join(
        t
        for t, _lang, _hidden in parse(
            client_for(people.centre_staff, "en").get(f"/cases/{world.pinned.pk}/").content.decode()
        ).texts
    )
    assert re.search(r"09:05", english) and "01:05" not in english
