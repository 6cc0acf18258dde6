"""A caller's earlier cases at the desk (重复来电): typing a complainant's phone on the desk's
report form shows the cases that number already brought, before the new one is saved.

GET /desk/callers/?phone=… is the htmx fragment (templates/desk/_caller_history.html) that
static/js/caller_history.js asks for, debounced, while the phone is typed; the API's list
of cases answers the same question with ?phone=. Only the cases of the user's scope
(grievances.scoping.cases_for), their phone masked unless the user may see it; counted per
user against the `caller_history` rate. A number that is no phone shows nothing.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Prefetch
from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from dispatch.selectors import open_leads
from grids import limits
from grids.views import GRID_ROLES, request_roles
from grievances import selectors
from grievances.privacy import mask_phone
from grievances.scoping import cases_for
from grievances.views_intake import INTAKE_ROLES

# The newest earlier cases listed; the count covers them all.
SHOWN = 10
PANEL = "desk/_caller_history_panel.html"


def earlier_cases(user, phone: str) -> tuple[int, list]:
    """How many cases of the user's scope the number is on, and the newest SHOWN of them,
    each with `callers`: its complainants of that number, their phone as the user may see
    it (`shown_phone`). Four queries whatever the count."""
    scoped = selectors.cases_with_phone(cases_for(user), phone)
    count = scoped.count()
    if not count:
        return 0, []
    rows = list(
        scoped.select_related("category", "owning_centre", "handler_region")
        .prefetch_related(
            Prefetch(
                "complainants", queryset=selectors.complainants_with_phone(phone), to_attr="callers"
            )
        )
        .order_by("-created_at", "-id")[:SHOWN]
    )
    _prime_open_leads(rows)
    for case in rows:
        full = selectors.may_see_personal_data(user, case)
        for person in case.callers:
            person.shown_phone = person.phone if full else mask_phone(person.phone)
    return count, rows


def _prime_open_leads(rows: list) -> None:
    # may_see_personal_data asks whether the user's department leads the case
    # (dispatch.services.open_lead, read once per case object): one query for the page.
    leads = open_leads([case.pk for case in rows])
    for case in rows:
        case._open_lead = leads.get(case.pk)


def _desk(request) -> bool:
    """The desk's form: intake roles but the grid's (grid workers report from the road)."""
    roles = request_roles(request)
    return bool(roles & INTAKE_ROLES) and not roles & GRID_ROLES


@require_GET
@login_required
def caller_history(request):
    if not _desk(request):
        raise PermissionDenied
    phone = request.GET.get("phone", "")[:40]
    count, rows = 0, []
    if selectors.phone_variants(phone):
        if limits.over_scope_limit(selectors.CALLER_HISTORY, f"user:{request.user.pk}"):
            # htmx swaps no error answer: the list already shown stays.
            return HttpResponse(status=429)
        count, rows = earlier_cases(request.user, phone)
    return render(request, "desk/_caller_history.html", {"count": count, "cases": rows})
