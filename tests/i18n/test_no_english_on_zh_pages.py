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


def _problems(bundle, lang: str, find) -> dict[str, list[str]]:
    """For each page of `bundle` in `lang`: what `find(text, data)` reports of its visible
    text (text marked as another language and decorative marks left out)."""
    problems: dict[str, list[str]] = {}
    for who, url, status, html in bundle.pages:
        key = f"{who:<24} {url}"
        if status != 200:
            problems.setdefault(key, []).append(f"status {status}")
            continue
        page = parse(html)
        found = []
        if page.lang != lang:
            found.append(f'<html lang="{page.lang}">')
        for text, text_lang, hidden in page.texts:
            if hidden and len(text) <= 2:
                continue  # a decorative mark or an initial, not read aloud
            if text_lang and not text_lang.startswith(lang[:2]):
                continue  # marked as another language, such as the language switch's
            found.extend(find(text, bundle.data))
        if found:
            problems[key] = list(dict.fromkeys(found))
    return problems


def _english(text: str, data) -> list[str]:
    hits = _english_in(text)
    if not hits:
        rest = without(text, data)
        for allowed in ALLOWED_ENGLISH:
            rest = rest.replace(allowed, " ")
        hits = [f"{run}  (in: {text[:120]})" for run in ENGLISH_RUN.findall(rest)]
    return hits


def _chinese(text: str, data) -> list[str]:
    rest = GLOSS.sub(" ", without(text, data))
    return [text[:160]] if CJK.search(rest.replace("·", "").replace("…", "")) else []


def test_chinese_pages_show_no_english_interface_text(rendered):
    problems = _problems(rendered("zh-hans"), "zh-hans", _english)
    assert not problems, _report(problems, "English text on zh-Hans pages:")


def test_english_pages_show_no_chinese_interface_text(rendered):
    problems = _problems(rendered("en"), "en", _chinese)
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
