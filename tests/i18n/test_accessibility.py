"""Every page of every role can be used with a screen reader and on a phone: one <h1>, a
viewport, every form control named by a label (for=id, or wrapping it), aria-label or
aria-labelledby, every image with alt, ids unique and every id reference pointing at
something; and a form sent with bad data shows each error next to its field, tied to it by
aria-describedby with aria-invalid set."""

from __future__ import annotations

import re

import pytest

from tests.i18n.pages import CJK, Page, client_for, parse

pytestmark = pytest.mark.django_db

UNNAMED_INPUTS = {"hidden", "submit", "button", "reset", "image"}


def _control_name(control: dict) -> str:
    kind = control.get("type", "text") if control["tag"] == "input" else control["tag"]
    name, ident = control.get("name", ""), control.get("id", "")
    return f"<{control['tag']} type={kind} name={name!r} id={ident!r}>"


def problems_of(page: Page) -> list[str]:
    found = []
    ids = set(page.ids)
    if page.h1 != 1:
        found.append(f"{page.h1} <h1> elements, not one")
    if not page.viewport:
        found.append("no <meta name=viewport content=width=device-width…>")
    duplicates = sorted({i for i in page.ids if page.ids.count(i) > 1})
    if duplicates:
        found.append(f"duplicate ids: {duplicates}")
    for target in sorted(page.labels_for - ids):
        found.append(f"<label for={target!r}> points at no element")
    for img in page.images:
        if "alt" not in img:
            found.append(f"<img src={img.get('src', '')!r}> without alt")
    for control in page.controls:
        if control["tag"] == "input" and control.get("type", "text") in UNNAMED_INPUTS:
            continue
        named = (
            control.get("id") in page.labels_for
            or control.get("aria-label", "").strip()
            or control["_in_label"]
        )
        labelledby = control.get("aria-labelledby", "").split()
        if labelledby:
            missing = [i for i in labelledby if i not in ids]
            if missing:
                found.append(f"{_control_name(control)}: aria-labelledby {missing} not found")
            else:
                named = True
        if not named:
            found.append(f"{_control_name(control)} has no label")
        described = [i for i in control.get("aria-describedby", "").split() if i not in ids]
        if described:
            found.append(f"{_control_name(control)}: aria-describedby {described} not found")
    return found


def test_every_page_is_accessible(rendered):
    problems: dict[str, list[str]] = {}
    for who, url, status, html in rendered("zh-hans").pages:
        key = f"{who:<24} {url}"
        if status != 200:
            problems[key] = [f"status {status}"]
            continue
        found = problems_of(parse(html))
        if found:
            problems[key] = list(dict.fromkeys(found))
    report = "\n".join(
        f"  {page}\n" + "\n".join(f"      {p}" for p in found) for page, found in problems.items()
    )
    assert not problems, f"Accessibility problems:\n{report}"


# --- Errors next to their fields ---------------------------------------------------------------


def errors_tied_to_fields(response) -> list[str]:
    """Each field error list has an id that an invalid control names in aria-describedby;
    each invalid control names one. Returns the problems; asserts there were errors."""
    page = parse(response.content.decode())
    assert page.errors or any(c.get("aria-invalid") for c in page.controls), "no field error shown"
    found = problems_of(page)
    for error in page.errors:
        if "nonfield" in error["class"]:
            continue
        if not error["id"]:
            found.append(f"error list <… class={error['class']!r}> has no id")
        elif error["id"] not in page.described:
            found.append(f"error list {error['id']!r} is named by no aria-describedby")
    for control in page.controls:
        if control.get("aria-invalid") == "true":
            error_ids = {e["id"] for e in page.errors}
            if not set(control.get("aria-describedby", "").split()) & error_ids:
                found.append(f"{_control_name(control)} is invalid but names no error list")
    return found


def test_the_login_form_ties_its_errors_to_the_fields(people):
    r = client_for(None, "zh-hans").post("/accounts/login/", {"username": "", "password": ""})
    assert r.status_code == 200
    assert errors_tied_to_fields(r) == []


def test_the_report_form_ties_its_errors_to_the_fields(tree):
    r = client_for(None, "zh-hans").post("/report/", {"title": "", "description": "x"})
    assert r.status_code in (200, 400)
    assert errors_tied_to_fields(r) == []


def test_the_tracking_form_ties_its_errors_to_the_fields(world):
    client = client_for(None, "zh-hans")
    r = client.post("/track/", {"code": "??", "last4": "12"})
    assert r.status_code in (200, 400)
    assert errors_tied_to_fields(r) == []
    # A well-formed code that matches nothing: one message for the form, read out at once.
    r = client.post("/track/", {"code": "ABCD-EFGH", "last4": "1234"})
    assert r.status_code == 200
    html = r.content.decode()
    alert = re.search(r'class="alert alert--error" role="alert"[^>]*>(.*?)</div>', html, re.S)
    assert alert and "No case matches" not in alert.group(1) and CJK.search(alert.group(1))


def test_a_case_act_ties_its_errors_to_the_fields(world, people):
    r = client_for(people.centre_staff, "zh-hans").post(
        f"/cases/{world.submitted.pk}/act/reject/", {"reason_code": "", "reason": ""}
    )
    assert r.status_code == 400
    assert errors_tied_to_fields(r) == []
