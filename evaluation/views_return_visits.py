"""The centre's return visits (/return-visits/, centre staff, superusers): the visits of the
cases in their area, with a form to record the call and, when the reporter says the matter
is not resolved, to reopen the case. Errors as on the case pages
(grievances/views_cases.py): NotAllowed → the 403 page; WrongState → "this has moved on"
and back to the list; invalid input → the list again with status 400 and the message next
to the field. The visits themselves are evaluation.returnvisits'.
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Prefetch
from django.http import QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from evaluation import returnvisits
from evaluation.models import ReturnVisit
from grids.models import Role
from grids.scoping import role_regions, sees_everything
from grievances import selectors, services
from grievances.models import Complainant, Grievance, Rating, State
from grievances.scoping import cases_for

VISIT_PAGE_SIZE = 30
VISIT_MAX_PAGES = 40
VISIT_ROLES = frozenset({Role.CENTRE_STAFF})


# --- Return visits --------------------------------------------------------------------------

YES_NO = [("yes", gettext_lazy("Yes")), ("no", gettext_lazy("No"))]


def _yes_no(value: str | None) -> bool | None:
    return {"yes": True, "no": False}.get(value or "")


class VisitForm(forms.Form):
    """The record of a return call (回访问效)."""

    reached = forms.ChoiceField(
        label=gettext_lazy("Reporter reached"), choices=YES_NO, widget=forms.RadioSelect
    )
    satisfied = forms.ChoiceField(
        label=gettext_lazy("Satisfied"), choices=YES_NO, widget=forms.RadioSelect, required=False
    )
    resolved = forms.ChoiceField(
        label=gettext_lazy("Resolved"), choices=YES_NO, widget=forms.RadioSelect, required=False
    )
    note = forms.CharField(
        label=gettext_lazy("Note"),
        required=False,
        max_length=2000,
        widget=forms.Textarea({"rows": 2}),
    )

    def __init__(self, *args, visit: ReturnVisit, **kwargs):
        kwargs.setdefault("prefix", f"visit-{visit.pk}")
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        self.visit = visit

    def clean(self):
        data = super().clean()
        if data.get("reached") == "yes":
            for name in ("satisfied", "resolved"):
                if not data.get(name):
                    self.add_error(name, _("Choose yes or no."))
        return data

    def values(self) -> dict:
        data = self.cleaned_data
        reached = data["reached"] == "yes"
        return {
            "reached": reached,
            "satisfied": _yes_no(data.get("satisfied")) if reached else None,
            "resolved": _yes_no(data.get("resolved")) if reached else None,
            "note": data.get("note", ""),
        }


class ReopenForm(forms.Form):
    reason = forms.CharField(
        label=gettext_lazy("Why reopen"), max_length=2000, widget=forms.Textarea({"rows": 2})
    )

    def __init__(self, *args, visit: ReturnVisit, **kwargs):
        kwargs.setdefault("prefix", f"reopen-{visit.pk}")
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        self.visit = visit


VISIT_FILTERS = [
    ("pending", gettext_lazy("To call")),
    ("recorded", gettext_lazy("Recorded")),
    ("all", gettext_lazy("All")),
]


def _require_visit_staff(user) -> None:
    if not (sees_everything(user) or role_regions(user, VISIT_ROLES)):
        raise PermissionDenied


def _visits(user):
    return (
        ReturnVisit.objects.filter(grievance__in=cases_for(user, as_reporter=False))
        .select_related(
            "grievance",
            "grievance__category",
            "grievance__region",
            "grievance__owning_centre",
            "recorded_by",
        )
        .prefetch_related(
            Prefetch(
                "grievance__ratings",
                queryset=Rating.objects.select_related("complainant"),
                to_attr="rated",
            ),
            Prefetch(
                "grievance__complainants",
                queryset=Complainant.objects.filter(is_reporter=True),
                to_attr="reporters",
            ),
        )
    )


def _can_reopen(visit: ReturnVisit, user) -> bool:
    try:
        services.check_act("reopen", visit.grievance, user)
    except services.CaseError:
        return False
    return True


def _visit_rows(visits: list[ReturnVisit], user, now, bound: forms.Form | None) -> list[dict]:
    rows = []
    for visit in visits:
        case = visit.grievance
        can_record = returnvisits.can_record(user, visit)
        reporter = case.reporters[0] if case.reporters else None
        row = {
            "visit": visit,
            "case": case,
            "reporter": reporter,
            "personal": can_record or selectors.may_see_personal_data(user, case),
            "can_record": can_record and not visit.is_recorded,
            "overdue": not visit.is_recorded and visit.due_at < now,
            "ratings": case.rated,
            "form": None,
            "reopen_form": None,
            "open": False,
        }
        if row["can_record"]:
            if isinstance(bound, VisitForm) and bound.visit.pk == visit.pk:
                row["form"], row["open"] = bound, True
            else:
                row["form"] = VisitForm(visit=visit)
        elif (
            visit.is_recorded
            and visit.resolved is False
            and case.state == State.CLOSED
            and _can_reopen(visit, user)
        ):
            if isinstance(bound, ReopenForm) and bound.visit.pk == visit.pk:
                row["reopen_form"], row["open"] = bound, True
            else:
                row["reopen_form"] = ReopenForm(
                    visit=visit,
                    initial={"reason": visit.note or _("Not resolved, the reporter said.")},
                )
        rows.append(row)
    return rows


def _page_number(raw: str | None) -> int:
    try:
        number = int(raw or 1)
    except ValueError:
        return 1
    return min(max(number, 1), VISIT_MAX_PAGES)


def _render_visits(request, *, bound: forms.Form | None = None, status: int = 200):
    user = request.user
    now = timezone.now()
    wanted = request.GET.get("status", "pending")
    if wanted not in dict(VISIT_FILTERS):
        wanted = "pending"
    qs = _visits(user)
    if wanted == "pending":
        qs = qs.filter(recorded_at=None).order_by("due_at", "id")
    elif wanted == "recorded":
        qs = qs.exclude(recorded_at=None).order_by("-recorded_at", "-id")
    else:
        qs = qs.order_by("-due_at", "-id")
    number = _page_number(request.GET.get("page"))
    start = (number - 1) * VISIT_PAGE_SIZE
    found = list(qs[start : start + VISIT_PAGE_SIZE + 1])
    visits, has_next = found[:VISIT_PAGE_SIZE], len(found) > VISIT_PAGE_SIZE
    if bound is not None and all(v.pk != bound.visit.pk for v in visits):
        # The visit posted to is not on this page (any more): show it first.
        visits.insert(0, bound.visit)
    context = {
        "rows": _visit_rows(visits, user, now, bound),
        "filters": VISIT_FILTERS,
        "status": wanted,
        "page": {
            "number": number,
            "previous": number - 1 if number > 1 else None,
            "next": number + 1 if has_next and number < VISIT_MAX_PAGES else None,
        },
    }
    return render(request, "evaluation/return_visits.html", context, status=status)


@login_required
@require_GET
def return_visits(request):
    _require_visit_staff(request.user)
    return _render_visits(request)


def _visit_or_404(request, pk: int) -> ReturnVisit:
    return get_object_or_404(_visits(request.user), pk=pk)


def _back_to_visits(request):
    query = QueryDict(request.POST.get("query", "")).urlencode()
    url = reverse("return-visits")
    return redirect(f"{url}?{query}" if query else url)


def _moved_on(request, case: Grievance, exc: services.WrongState):
    fresh = Grievance.objects.filter(pk=case.pk).first()
    parts = [_("This has moved on."), _("Nothing was saved.")]
    if exc.message:
        parts.insert(1, exc.message)
    if fresh is not None:
        parts.append(_("The case is now “%(state)s”.") % {"state": fresh.get_state_display()})
    messages.warning(request, f"{case.display_code}: {' '.join(parts)}")
    return _back_to_visits(request)


@login_required
@require_POST
def return_visit_record(request, pk: int):
    """Record the call; "record and reopen" reopens the case in the same transaction."""
    _require_visit_staff(request.user)
    visit = _visit_or_404(request, pk)
    user = request.user
    if not returnvisits.can_record(user, visit):
        raise PermissionDenied
    form = VisitForm(request.POST, visit=visit)
    if not form.is_valid():
        return _render_visits(request, bound=form, status=400)
    reopen = request.POST.get("reopen") == "1"
    try:
        returnvisits.return_visit_record(visit, user, **form.values(), reopen=reopen)
    except services.NotAllowed:
        raise PermissionDenied from None
    except services.WrongState as exc:
        return _moved_on(request, visit.grievance, exc)
    except services.InvalidInput as exc:
        field = exc.field if exc.field in form.fields else None
        form.add_error(field, exc.message)
        return _render_visits(request, bound=form, status=400)
    case = visit.grievance
    if reopen:
        messages.success(
            request,
            _("Recorded the return visit of %(code)s and reopened the case.")
            % {"code": case.display_code},
        )
    else:
        messages.success(
            request, _("Recorded the return visit of %(code)s.") % {"code": case.display_code}
        )
    return _back_to_visits(request)


@login_required
@require_POST
def return_visit_reopen(request, pk: int):
    """Reopen the case of a recorded visit whose reporter said it is not resolved."""
    _require_visit_staff(request.user)
    visit = _visit_or_404(request, pk)
    user = request.user
    case = visit.grievance
    form = ReopenForm(request.POST, visit=visit)
    try:
        services.check_act("reopen", case, user)
    except services.NotAllowed:
        raise PermissionDenied from None
    except services.WrongState as exc:
        return _moved_on(request, case, exc)
    if not form.is_valid():
        return _render_visits(request, bound=form, status=400)
    try:
        services.grievance_reopen(case, user, reason=form.cleaned_data["reason"])
    except services.NotAllowed:
        raise PermissionDenied from None
    except services.WrongState as exc:
        return _moved_on(request, case, exc)
    except services.InvalidInput as exc:
        form.add_error("reason" if exc.field == "reason" else None, exc.message)
        return _render_visits(request, bound=form, status=400)
    messages.success(request, _("Reopened %(code)s.") % {"code": case.display_code})
    return _back_to_visits(request)
