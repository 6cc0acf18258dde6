"""The duplicates app's pages: the join form under each case of the report page's nearby
list (htmx, in place), the centre's card of joins on the case page with its confirm and
decline buttons, the side-by-side comparison of a case and its likely duplicate, and the
centre's merge and unmerge buttons there and on the case page (grievances/merging.py).

Writes go through duplicates.services; cases are read through grievances.scoping.cases_for
(404 outside the scope). A join form's errors come back in the form (a fragment that htmx
swaps in: 200 for htmx, the error's status without it); the centre's decisions come back
to the case page with a message.
"""

from __future__ import annotations

import hashlib

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from duplicates import selectors, services
from duplicates.forms import JoinForm
from duplicates.models import Join
from grids import limits
from grids.views import request_roles
from grievances import merging
from grievances import services as cases
from grievances.etags import version_number
from grievances.models import MERGEABLE_STATES, State, format_tracking_code
from grievances.privacy import mask_phone
from grievances.scoping import cases_for
from grievances.views_intake import INTAKE_ROLES

# --- The nearby list's join button ------------------------------------------------------------


def nearby_extra(request, found: list, staff: bool) -> list[dict]:
    """Per case of the nearby list: the token its join button names it by (no query)."""
    return [{"token": services.join_token(case.case_id)} for case in found]


def _staff(request) -> bool:
    return bool(request.user.is_authenticated and request_roles(request) & INTAKE_ROLES)


def _join_page(request, template: str, context: dict, status: int = 200):
    # htmx swaps only a 2xx answer: the error is in the fragment it swaps in.
    htmx = getattr(request, "htmx", None)
    return render(request, template, context, status=200 if htmx else status)


def join(request, token: str):
    """GET: the join form in place of the button; POST: a pending join, or the form again
    with what is wrong."""
    staff = _staff(request)
    case = services.case_of_token(token)
    context = {"token": token, "staff": staff}
    if case is None:
        return _join_page(request, "duplicates/_join_gone.html", context, status=404)
    prefix = "join-" + hashlib.sha256(token.encode()).hexdigest()[:8] + "-%s"
    if request.method != "POST":
        form = JoinForm(staff=staff, auto_id=prefix)
        return _join_page(request, "duplicates/_join_form.html", {**context, "form": form})
    address = limits.client_address(request) or "unknown"
    if not request.user.is_authenticated and limits.over_scope_limit("join", address):
        return _join_page(request, "duplicates/_join_limited.html", context, status=429)
    form = JoinForm(request.POST, staff=staff, auto_id=prefix)
    context["form"] = form
    if not form.is_valid():
        return _join_page(request, "duplicates/_join_form.html", context, status=400)
    try:
        services.join_submit(
            case,
            name=form.cleaned_data["join_name"],
            phone=form.cleaned_data["join_phone"],
            user=request.user,
            client_address=address,
        )
    except cases.CaseError as exc:
        field = exc.field if exc.field in form.fields else None
        form.add_error(field, exc.message)
        return _join_page(request, "duplicates/_join_form.html", context, status=exc.status)
    return _join_page(request, "duplicates/_join_done.html", context, status=201)


# --- The case page's card ------------------------------------------------------------------------


def case_card(user, case, show_personal: bool) -> dict:
    """The joins of the case for its centre (with the buttons), and the likely duplicate for
    whoever sees the case: one query each, none when there is nothing to show."""
    card: dict = {"joins": [], "may_decide": False, "likely": None}
    card["merge"] = merge_card(user, case)
    if case.likely_duplicate_of_id:
        card["likely"] = (
            cases_for(user, as_reporter=False)
            .filter(pk=case.likely_duplicate_of_id)
            .values("pk", "tracking_code")
            .first()
        )
        if card["likely"] is not None:
            card["likely"]["metres"] = case.likely_duplicate_m
            card["likely"]["display_code"] = format_tracking_code(card["likely"]["tracking_code"])
    if services.may_decide(user, case):
        card["may_decide"] = selectors.joinable(case)
        joins = selectors.joins_of(case)
        for j in joins:
            j.shown_phone = j.phone if show_personal else mask_phone(j.phone)
        card["joins"] = joins
    return card


def _shown_version(request) -> set[int] | None:
    raw = request.POST.get("version")
    if raw is None:
        return None
    version = version_number(raw.strip())
    return set() if version is None else {version}


@login_required
@require_POST
def decide(request, pk: int, join_id: int, decision: str):
    """Confirm or decline one join, from the case page's card."""
    if decision not in ("confirm", "decline"):
        raise Http404
    case = get_object_or_404(cases_for(request.user, as_reporter=False), pk=pk)
    found = get_object_or_404(Join.objects.select_related("grievance"), pk=join_id, grievance=case)
    try:
        if decision == "confirm":
            services.join_confirm(found, request.user, versions=_shown_version(request))
            messages.success(
                request,
                _("Confirmed: %(name)s is now a complainant of this case.")
                % {"name": found.name or _("Anonymous")},
            )
        else:
            services.join_decline(found, request.user)
            messages.success(request, _("Declined: the case stays as it was."))
    except cases.NotAllowed:
        raise PermissionDenied from None
    except cases.CaseError as exc:
        messages.warning(request, exc.message)
    return redirect("case-detail", pk=case.pk)


# --- The comparison --------------------------------------------------------------------------


@login_required
def compare(request, pk: int, other: int):
    """Two cases side by side (a case and its likely duplicate): 404 unless both are in the
    user's scope."""
    pair = selectors.compared(request.user, pk, other)
    if pair is None:
        raise Http404
    first, second = pair
    sides = []
    for case in pair:
        people = list(case.complainants.all())
        reporter = people[0] if people else None
        sides.append(
            {
                "case": case,
                # The reporter masked: comparing two reports needs no one's full number.
                "reporter_name": reporter.name if reporter else "",
                "reporter_phone": mask_phone(reporter.phone) if reporter else "",
                "complainant_count": len(people),
                "photos": list(case.attachments.all()),
            }
        )
    if services.may_decide(request.user, first) and services.may_decide(request.user, second):
        # "Merge the other one into this one" under each side where that may be done.
        for side, other in zip(sides, (second, first), strict=True):
            if other.state in MERGEABLE_STATES and selectors.joinable(side["case"]):
                side["merge_from"] = other
    return render(
        request,
        "duplicates/compare.html",
        {
            "sides": sides,
            "first": first,
            "second": second,
            "distance_m": selectors.distance_between(first, second),
            "hours_apart": abs(first.created_at - second.created_at).total_seconds() / 3600,
        },
    )


# --- Merging (合并) --------------------------------------------------------------------------


def merge_card(user, case) -> dict:
    """What the case page shows its centre of merges: the case it was merged into (with the
    undo button while it may be undone), the cases merged into it that may still be undone,
    and whether it may be merged into its likely duplicate. A query at most for each."""
    if not services.may_decide(user, case):
        return {}
    card: dict = {"mergeable": case.state in MERGEABLE_STATES}
    if case.state == State.REJECTED and case.duplicate_of_id:
        merge = merging.last_merge(case)
        if merge is not None:
            card["merged"] = {
                "code": format_tracking_code(merge.data.get("other", "")),
                "pk": merge.data.get("other_id"),
                "at": merge.created_at,
                "until": merging.undo_until(merge),
                "undo": merging.unmerge_refusal(case) is None,
            }
    elif case.state not in (State.CLOSED, State.WITHDRAWN):
        card["merged_in"] = selectors.merged_in(case, since=timezone.now() - merging.UNDO_WINDOW)
    return card


def _back(request, fallback: int):
    """Back to the page the form was on (the comparison or a case page), else the case."""
    target = request.POST.get("next", "")
    if url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
        return redirect(target)
    return redirect("case-detail", pk=fallback)


@login_required
@require_POST
def merge(request, pk: int):
    """Merge the case into the one named by `into` (both in the user's scope, else 404)."""
    scope = cases_for(request.user, as_reporter=False).select_related("owning_centre")
    case = get_object_or_404(scope, pk=pk)
    into = get_object_or_404(scope, pk=version_number(request.POST.get("into", "")) or 0)
    try:
        merging.grievance_merge(
            case,
            into,
            request.user,
            note=request.POST.get("note", "")[:2000],
            versions=_shown_version(request),
        )
    except cases.NotAllowed:
        raise PermissionDenied from None
    except cases.CaseError as exc:
        messages.warning(request, exc.message)
        return _back(request, case.pk)
    messages.success(
        request,
        _("Merged: %(code)s now follows %(into)s.")
        % {"code": case.display_code, "into": into.display_code},
    )
    return redirect("case-detail", pk=into.pk)


@login_required
@require_POST
def unmerge(request, pk: int):
    """Undo the merge of the case (from its own page or the page of the case it went to)."""
    scope = cases_for(request.user, as_reporter=False).select_related("owning_centre")
    case = get_object_or_404(scope, pk=pk)
    try:
        merging.grievance_unmerge(case, request.user, versions=_shown_version(request))
    except cases.NotAllowed:
        raise PermissionDenied from None
    except cases.CaseError as exc:
        messages.warning(request, exc.message)
        return _back(request, case.pk)
    text = _("Merge undone: %(code)s is a case of its own again.")
    messages.success(request, text % {"code": case.display_code})
    return redirect("case-detail", pk=case.pk)
