"""Forms of the console and the department inbox.

The console's filters are the case list's (grievances.forms_cases.CaseFilter, itself the
API's GrievanceFilter) with the queue's own: the states of the queue only, deadlines due
today, and the department a case is open with. The inbox has one small form per act on an
assignment; each names the service it feeds (dispatch.services.assignment_*).
"""

from __future__ import annotations

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy
from django_filters import rest_framework as filters

from dispatch import selectors
from grievances.forms_cases import CaseFilter
from grievances.models import State

# --- The console's filters ------------------------------------------------------------------------


class ConsoleFilter(CaseFilter):
    state = filters.MultipleChoiceFilter(
        choices=[(s.value, s.label) for s in map(State, selectors.CONSOLE_STATES)],
        label=gettext_lazy("State"),
        widget=forms.CheckboxSelectMultiple,
    )
    due_today = filters.BooleanFilter(
        method="filter_due_today",
        label=gettext_lazy("Due today"),
        widget=forms.CheckboxInput(attrs={"value": "true"}),
    )
    department = filters.ChoiceFilter(
        method="filter_department",
        label=gettext_lazy("Department (open assignment)"),
        empty_label=gettext_lazy("All departments"),
    )

    def __init__(self, *args, request=None, **kwargs):
        super().__init__(*args, request=request, **kwargs)
        user = getattr(request, "user", None)
        departments = selectors.console_departments(user) if user is not None else []
        self.filters["department"].extra["choices"] = [
            (str(d.pk), f"{d.name} · {d.region.name}") for d in departments
        ]

    def filter_due_today(self, qs, name, value):
        if not value:
            return qs
        return qs.filter(selectors.due_today_q(timezone.now()))

    def filter_department(self, qs, name, value):
        return qs.filter(selectors.open_assignment_to(int(value)))


# --- The inbox's acts -----------------------------------------------------------------------------


def _textarea(rows: int = 2) -> forms.Textarea:
    return forms.Textarea(attrs={"rows": rows})


class AssignmentActForm(forms.Form):
    """One act on one assignment; field ids are unique on a page of many assignments."""

    act = ""
    label = ""
    submit_label = gettext_lazy("Confirm")

    def __init__(self, *args, assignment, **kwargs):
        kwargs.setdefault("auto_id", f"as{assignment.pk}-{self.act}-%s")
        super().__init__(*args, **kwargs)
        self.assignment = assignment

    def field_for(self, name: str | None) -> str | None:
        return name if name in self.fields else None


class ReportInForm(AssignmentActForm):
    act = "report_in"
    label = gettext_lazy("Report in")
    submit_label = gettext_lazy("Sign for the case")
    note = forms.CharField(
        label=gettext_lazy("Note"), required=False, max_length=5000, widget=_textarea()
    )


class RefuseForm(AssignmentActForm):
    """An assisting department refuses its part (协同), with a reason."""

    act = "refuse"
    label = gettext_lazy("Refuse our part")
    submit_label = gettext_lazy("Refuse")
    reason = forms.CharField(label=gettext_lazy("Reason"), max_length=5000, widget=_textarea(3))


class ReturnForm(AssignmentActForm):
    """退单: the lead returns a case that is not theirs; the centre re-routes it."""

    act = "return"
    label = gettext_lazy("Return to the centre")
    submit_label = gettext_lazy("Return to the centre")
    reason = forms.CharField(label=gettext_lazy("Reason"), max_length=5000, widget=_textarea(3))


class NoteForm(AssignmentActForm):
    act = "note"
    label = gettext_lazy("Add a note")
    submit_label = gettext_lazy("Add the note")
    note = forms.CharField(label=gettext_lazy("Note"), max_length=5000, widget=_textarea(3))
    public = forms.BooleanField(label=gettext_lazy("Show to the reporter"), required=False)


INBOX_FORMS: dict[str, type[AssignmentActForm]] = {
    form.act: form for form in (ReportInForm, RefuseForm, ReturnForm, NoteForm)
}
