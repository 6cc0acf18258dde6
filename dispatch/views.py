"""The console (the governance centre's queue) and the department inbox.

/console/ is for centre staff: the open cases owned by a centre inside their centre-staff
subtrees, what needs them first and then by nearest deadline, with the routing proposal of
each accepted case and a button that dispatches the ticked proposals
(POST /console/dispatch/). /inbox/ is for department staff: their departments' assignments
in four groups, those whose officer (承办人) they are first in each (`?officer=me`: only
those), with a form per act that posts to /inbox/<id>/<act>/; the department head's forms
name the officer.

Errors as on the case pages (grievances/views_cases.py): NotAllowed → the 403 page;
WrongState → "this has moved on" and back to the page; invalid input → the page again with
status 400, the form open and the message next to its field.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import Http404, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.http import require_POST

from dispatch import selectors, services
from dispatch.forms import INBOX_FORMS, AssignmentActForm, ConsoleFilter
from dispatch.models import Assignment
from grids.api_input import db_ids
from grids.scoping import sees_everything
from grievances.models import Grievance, State
from grievances.scoping import cases_for
from grievances.services import CaseError, InvalidInput, NotAllowed, WrongState
from grievances.services import check_act as check_case_act

PAGE_SIZE = 25
MAX_PAGES = 40  # 1,000 rows: past that, the filters narrow the queue
MAX_BULK = 100


# --- The console ----------------------------------------------------------------------------------


def _require_centre_staff(request) -> None:
    if not selectors.is_centre_staff(request.user):
        raise PermissionDenied


def _page_number(raw: str | None) -> int:
    try:
        number = int(raw or 1)
    except ValueError:
        return 1
    return min(max(number, 1), MAX_PAGES)


def _console_rows(cases: list[Grievance], user, now) -> list[dict]:
    """What each row shows, read for the whole page at once."""
    accepted = [c for c in cases if c.state == State.ACCEPTED]
    proposals = selectors.proposals_for(accepted)
    leads = selectors.open_leads(c.pk for c in cases if c.state in selectors.WITH_HANDLERS)
    calendars = selectors.calendars_for(c.region for c in cases)
    rows = []
    for case in cases:
        proposal = proposals.get(case.pk)
        can_dispatch = False
        if proposal is not None and proposal.lead and not proposal.conflict:
            try:
                check_case_act("dispatch", case, user)
                can_dispatch = True
            except CaseError:
                pass
        rows.append(
            {
                "case": case,
                "group": case.queue_group,
                "due": selectors.case_countdown(case, calendars[case.region_id], now),
                "proposal": proposal,
                "can_dispatch": can_dispatch,
                "lead": leads.get(case.pk),
            }
        )
    return rows


GROUP_TITLES = {
    selectors.GROUP_NEEDS_YOU: "needs_you",
    selectors.GROUP_WITH_HANDLERS: "with_handlers",
    selectors.GROUP_OTHER: "other",
}


def _grouped(rows: list[dict]) -> list[dict]:
    groups: list[dict] = []
    for row in rows:
        key = GROUP_TITLES[row["group"]]
        if not groups or groups[-1]["key"] != key:
            groups.append({"key": key, "rows": []})
        groups[-1]["rows"].append(row)
    return groups


def _map_points(rows: list[dict]) -> list[dict]:
    """The page's cases that have a point, for the console's map; late as the row's
    countdown says."""
    return [
        {
            "lat": row["case"].lat,
            "lng": row["case"].lng,
            "code": row["case"].display_code,
            "title": row["case"].title,
            "url": reverse("case-detail", args=[row["case"].pk]),
            "late": row["due"].kind == "overdue",
        }
        for row in rows
        if row["case"].lat is not None and row["case"].lng is not None
    ]


@login_required
def console(request):
    _require_centre_staff(request)
    user = request.user
    now = timezone.now()
    base = selectors.console_cases(user)
    console_filter = ConsoleFilter(
        request.GET,
        queryset=base.select_related("category", "region", "owning_centre", "handler_region"),
        request=request,
    )
    console_filter.form.label_suffix = ""
    number = _page_number(request.GET.get("page"))
    start = (number - 1) * PAGE_SIZE
    queue = selectors.queue_order(selectors.without_distinct(console_filter.qs))
    found = list(queue[start : start + PAGE_SIZE + 1])
    cases, has_next = found[:PAGE_SIZE], len(found) > PAGE_SIZE
    rows = _console_rows(cases, user, now)
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "map_points": _map_points(rows),
        "filter": console_filter,
        "form": console_filter.form,
        "rows": rows,
        "groups": _grouped(rows),
        "page": {
            "number": number,
            "previous": number - 1 if number > 1 else None,
            "next": number + 1 if has_next and number < MAX_PAGES else None,
            "capped": has_next and number >= MAX_PAGES,
        },
        "query": query.urlencode(),
        "pickable": any(row["can_dispatch"] for row in rows),
        "filtered": any(v for k, v in request.GET.lists() if k != "page" and any(v)),
    }
    htmx = getattr(request, "htmx", None)
    if htmx and not htmx.history_restore_request:
        response = render(request, "dispatch/console/_results.html", context)
    else:
        context["summary"] = selectors.console_summary(base, now)
        context["conflicts"] = selectors.console_conflicts(user)
        context["region_options"] = selectors.console_region_options(user)
        context["map_tile_url"] = getattr(settings, "MAP_TILE_URL", "")
        context["map_attribution"] = getattr(settings, "MAP_TILE_ATTRIBUTION", "")
        response = render(request, "dispatch/console/console.html", context)
    patch_vary_headers(response, ("HX-Request",))
    return response


def _back_to_console(request):
    """The console with the filters the bulk form was posted from (a query string only)."""
    query = QueryDict(request.POST.get("query", "")).urlencode()
    url = reverse("console")
    return redirect(f"{url}?{query}" if query else url)


@login_required
@require_POST
def console_bulk_dispatch(request):
    """Dispatch the routing proposal of each ticked case; one failing case does not stop
    the others, and each failure is said with its case code."""
    _require_centre_staff(request)
    user = request.user
    ticked = request.POST.getlist("case")
    if len(ticked) > MAX_BULK:
        messages.error(request, _("Tick at most %(n)s cases at once.") % {"n": MAX_BULK})
        return _back_to_console(request)
    ids = db_ids(ticked)
    if not ids:
        messages.warning(request, _("Tick the cases whose proposals you want to dispatch."))
        return _back_to_console(request)
    found = selectors.console_cases(user).select_related("category", "region", "owning_centre")
    cases = found.in_bulk(ids)
    done = []
    for pk in dict.fromkeys(ids):  # in the order ticked, each once
        case = cases.get(pk)
        if case is None:
            messages.error(request, _("Case #%(id)s is not in your queue (any more).") % {"id": pk})
            continue
        try:
            services.whistle_dispatch(case, user, proposed=True)
        except NotAllowed as exc:
            messages.error(request, f"{case.display_code} {case.title}: {exc.message}")
        except WrongState as exc:
            fresh = Grievance.objects.filter(pk=pk).first()
            state = fresh.get_state_display() if fresh else ""
            text = _("This case has moved on.")
            if exc.message and exc.message != text:
                text += " " + exc.message
            if state:
                text += " " + _("It is now “%(state)s”.") % {"state": state}
            messages.error(request, f"{case.display_code} {case.title}: {text}")
        except InvalidInput as exc:
            messages.error(request, f"{case.display_code} {case.title}: {exc.message}")
        else:
            done.append(case.display_code)
    if done:
        messages.success(
            request,
            ngettext(
                "Dispatched %(count)d case as proposed: %(codes)s.",
                "Dispatched %(count)d cases as proposed: %(codes)s.",
                len(done),
            )
            % {"count": len(done), "codes": "、".join(done)},
        )
    return _back_to_console(request)


# --- The inbox ------------------------------------------------------------------------------------


def _require_department_staff(request) -> None:
    if not selectors.is_department_staff(request.user):
        raise PermissionDenied


def acts_for(assignment: Assignment, user) -> list[str]:
    """The acts the inbox offers on an assignment, the main one first; the head of the
    department also names its officer (承办人)."""
    lead = assignment.role == Assignment.Role.LEAD
    if assignment.status == Assignment.Status.PENDING:
        acts = ["report_in", "return" if lead else "refuse", "note"]
    elif assignment.status == Assignment.Status.REPORTED_IN:
        acts = ["return", "note"] if lead else ["note"]
    else:
        return []
    if assignment.department_id in services.head_department_ids(user):
        acts.append("officer")
    return acts


def _assignment_scope(user):
    """Assignments the user may address, scoped as dispatch.api.AssignmentViewSet scopes
    them: their departments' assignments and those of the cases they see as staff."""
    if sees_everything(user):
        return Assignment.objects.all()
    return Assignment.objects.filter(
        Q(department_id__in=services.department_ids(user))
        | Q(whistle__grievance__in=cases_for(user, as_reporter=False).values("pk"))
    )


def _inbox_forms(
    assignment: Assignment, user, bound: AssignmentActForm | None, members: dict
) -> list[dict]:
    """One form per act the assignment offers; the bound one (with its errors) open."""
    forms = []
    for act in acts_for(assignment, user):
        mine = bound is not None and bound.assignment.pk == assignment.pk and bound.act == act
        if mine:
            form = bound
        elif act == "officer":
            form = INBOX_FORMS[act](
                assignment=assignment, members=members.get(assignment.department_id, [])
            )
        else:
            form = INBOX_FORMS[act](assignment=assignment)
        forms.append({"act": act, "form": form, "open": mine})
    return forms


def _render_inbox(request, *, bound: AssignmentActForm | None = None, status: int = 200):
    user = request.user
    now = timezone.now()
    # 我承办的: only the cases the user is the officer (承办人) of; else theirs first.
    officer_only = request.GET.get("officer") == "me"
    found = selectors.inbox(user, now, officer_only=officer_only)
    groups = selectors.inbox_groups(found, now)
    members = selectors.officer_choices(user)
    for group in groups:
        for item in group["items"]:
            item["forms"] = _inbox_forms(item["assignment"], user, bound, members)
    context = {
        "groups": groups,
        "counts": found["counts"],
        "limit": selectors.INBOX_LIMIT,
        "several_departments": len(services.department_ids(user)) != 1,
        "officer_only": officer_only,
    }
    return render(request, "dispatch/inbox/inbox.html", context, status=status)


@login_required
def inbox(request):
    _require_department_staff(request)
    return _render_inbox(request)


def _assignment_moved_on(request, assignment: Assignment, exc: WrongState):
    fresh = Assignment.objects.filter(pk=assignment.pk).first()
    moved_on = _("This assignment has moved on.")
    parts = [moved_on]
    if exc.message and exc.message != moved_on:
        parts.append(exc.message)
    if fresh is not None:
        parts.append(_("It is now “%(state)s”.") % {"state": fresh.get_status_display()})
    messages.warning(request, " ".join(parts))
    return redirect("inbox")


def _run_assignment_act(act: str, assignment: Assignment, user, data: dict) -> None:
    if act == "report_in":
        services.assignment_report_in(assignment, user, note=data["note"])
    elif act == "refuse":
        services.assignment_refuse(assignment, user, reason=data["reason"])
    elif act == "return":
        services.assignment_return(assignment, user, reason=data["reason"])
    elif act == "officer":
        services.assignment_set_officer(assignment, user, officer_id=data["officer"])
    else:
        services.assignment_note(assignment, user, note=data["note"], public=data["public"])


DONE_MESSAGES = {
    "report_in": gettext_lazy("Reported in: %(case)s."),
    "refuse": gettext_lazy("Refused your part of %(case)s."),
    "return": gettext_lazy("Returned %(case)s to the centre."),
    "note": gettext_lazy("Note added to %(case)s."),
    "officer": gettext_lazy("Officer assigned for %(case)s."),
}


@login_required
@require_POST
def inbox_act(request, pk: int, act: str):
    if act not in INBOX_FORMS:
        raise Http404
    user = request.user
    # A centre's staff find the assignment and are refused (403); others do not find it.
    assignment = get_object_or_404(
        _assignment_scope(user).select_related("department", "whistle__grievance"), pk=pk
    )
    try:
        services.check_assignment_act(act, assignment, user)
    except NotAllowed:
        raise PermissionDenied from None
    except WrongState as exc:
        return _assignment_moved_on(request, assignment, exc)
    form = INBOX_FORMS[act](request.POST, assignment=assignment)
    if not form.is_valid():
        return _render_inbox(request, bound=form, status=400)
    try:
        _run_assignment_act(act, assignment, user, form.cleaned_data)
    except NotAllowed:
        raise PermissionDenied from None
    except WrongState as exc:
        return _assignment_moved_on(request, assignment, exc)
    except InvalidInput as exc:
        form.add_error(form.field_for(exc.field), exc.message)
        return _render_inbox(request, bound=form, status=400)
    case = assignment.whistle.grievance
    messages.success(request, str(DONE_MESSAGES[act]) % {"case": case.display_code})
    return redirect("inbox")
