"""/report/'s answers in JSON, for the page's report queue (static/js/report_queue.js).

A report written without a connection waits on the phone and is sent later, by the page or
by the service worker, as the same multipart POST the form makes, with
`Accept: application/json`. The queue needs an answer it can act on without reading a page:

- 201 (a new case) or 200 (a repeat of the idempotency key: the first try's case) with
  `tracking_code`, `title`, `url` (the case page for staff, tracking for residents) and
  `case` (its id, staff only). Only such an answer takes an item out of the queue.
- 400 `{"errors": {"title": [...], "people-0-phone": [...], "__all__": [...]}}`: the field
  names of the form and of the complainant formset. The item stays for the worker to edit.
- 401 when the item was written by another account than this request's (the session
  expired, someone else signed in, or it was written without signing in): a staff member's
  report must not become a resident's anonymous one, nor the other way round. The queue sends
  the writer in `X-Report-User` (the user id, "-" for nobody signed in).
- 429 with Retry-After (the page's rate limit), 422 for a key already used by another
  report (with a fresh key to send it as a report of its own).

The outcome itself (validation, the limit, the write, the done page's session) is
views_intake's, shared with the plain form POST; this module only phrases it.
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.http import JsonResponse
from django.urls import reverse
from django.utils.translation import gettext as _

from grids import limits

USER_HEADER = "X-Report-User"
NOBODY = "-"


def wanted(request) -> bool:
    """Whether the POST asks for JSON (the queue does; a form without JavaScript does not)."""
    return "application/json" in request.headers.get("Accept", "")


def wrong_user(request) -> JsonResponse | None:
    """401 when the report was written by someone other than this request's user."""
    writer = request.headers.get(USER_HEADER, "").strip()
    if not writer:
        return None  # not sent from the queue: nothing to compare
    user = request.user
    current = str(user.pk) if user.is_authenticated else NOBODY
    if writer == current:
        return None
    if writer == NOBODY:
        detail = _("This report was written without signing in. Sign out to send it, or delete it.")
    else:
        detail = _("Sign in again as the person who wrote this report to send it.")
    login = f"{reverse('login')}?{urlencode({'next': reverse('report')})}"
    return JsonResponse({"detail": detail, "sign_in": login}, status=401)


def sent(case, *, repeat: bool, staff: bool) -> JsonResponse:
    """201 for a new case, 200 for the key's earlier case."""
    if staff:
        body = {"case": case.pk, "url": reverse("case-detail", args=[case.pk])}
    else:
        body = {"url": f"{reverse('track')}?{urlencode({'code': case.display_code})}"}
    body.update(
        tracking_code=case.display_code,
        title=case.title,
        done_url=reverse("report-done"),
    )
    return JsonResponse(body, status=200 if repeat else 201)


def errors(form, formset, *, status: int = 400) -> JsonResponse:
    """The form's and the formset's errors by field name, and the key to send next."""
    found: dict[str, list[str]] = {}
    for name, messages in form.errors.items():
        found.setdefault(name, []).extend(str(m) for m in messages)
    if formset is not None:
        for person in formset.forms:
            for name, messages in person.errors.items():
                key = "__all__" if name == "__all__" else person.add_prefix(name)
                found.setdefault(key, []).extend(str(m) for m in messages)
        if formset.is_bound and formset.non_form_errors():
            found.setdefault("__all__", []).extend(str(m) for m in formset.non_form_errors())
    key = form.data.get(form.add_prefix("idempotency_key"), "")
    return JsonResponse({"errors": found, "idempotency_key": key}, status=status)


def limited(scope: str) -> JsonResponse:
    """429, with the seconds until the limit's window ends."""
    wait = limits.scope_wait(scope)
    response = JsonResponse(
        {"detail": _("Too many reports were sent from this connection in a short time.")},
        status=429,
    )
    response["Retry-After"] = str(wait)
    return response
