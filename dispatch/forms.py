"""Forms of the console, the department inbox and the case page's dispatch.

The console's filters are the case list's (grievances.forms_cases.CaseFilter, itself the
API's GrievanceFilter) with the queue's own: the states of the queue only, deadlines due
today, and the department a case is open with. The inbox has one small form per act on an
assignment; each names the service it feeds (dispatch.services.assignment_*). The case
page (grievances/views_cases.py) shows DispatchForm for its dispatch act, with the routing
proposal: dispatch/apps.py registers it there.
"""

from __future__ import annotations

from django import forms
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext_lazy
from django_filters import rest_framework as filters

from dispatch import selectors
from dispatch.models import Department
from dispatch.services import propose
from grids.api_input import MAX_DB_INT
from grids.models import Level, Region
from grievances.api import MAX_DEPARTMENTS
from grievances.forms_cases import ActForm, CaseFilter
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


class OfficerForm(AssignmentActForm):
    """The department head names the officer (承办人) among the department's members."""

    act = "officer"
    label = gettext_lazy("Assign the officer")
    submit_label = gettext_lazy("Assign")
    officer = forms.TypedChoiceField(label=gettext_lazy("Officer (承办人)"), coerce=int)

    def __init__(self, *args, assignment, members: list[tuple[int, str]] | None = None, **kw):
        super().__init__(*args, assignment=assignment, **kw)
        if members is None:  # a posted form: this department's members, one query
            members = selectors.officer_choices_of(assignment.department_id)
        field = self.fields["officer"]
        field.choices = [("", "—"), *members]
        field.initial = assignment.officer_id


INBOX_FORMS: dict[str, type[AssignmentActForm]] = {
    form.act: form for form in (ReportInForm, RefuseForm, ReturnForm, NoteForm, OfficerForm)
}


# --- The case page's dispatch -------------------------------------------------------------------


class CappedModelMultipleChoiceField(forms.ModelMultipleChoiceField):
    """Rows ticked by id, at most `max_count`, each an id the database can hold: checked
    before the one `IN (...)` query, which a long list or a 20-digit id made fail."""

    def __init__(self, *args, max_count: int, **kwargs):
        super().__init__(*args, **kwargs)
        self.max_count = max_count

    def clean(self, value):
        if value and len(value) > self.max_count:
            raise forms.ValidationError(
                _("Choose at most %(n)s.") % {"n": self.max_count}, code="max_count"
            )
        for pk in value or []:
            raw = str(pk)
            if not (raw.isascii() and raw.isdigit()) or int(raw) > MAX_DB_INT:
                raise forms.ValidationError(
                    self.error_messages["invalid_pk_value"],
                    code="invalid_pk_value",
                    params={"pk": raw},
                )
        return super().clean(value)


class DispatchForm(ActForm):
    """Whistle departments (a lead and assisting ones), take the routing proposal, or send
    the case down to a grid or village inside the owning centre."""

    name = "dispatch"
    template_name_act = "dispatch/case_dispatch.html"
    MODE_DEPARTMENTS, MODE_PROPOSED, MODE_REGION = "departments", "proposed", "region"
    # A long list of grids becomes a code field rather than a huge select.
    MAX_REGION_OPTIONS = 300
    error_fields = {"departments": "lead", "proposed": "mode"}
    submit_label = pgettext_lazy("act", "Dispatch")

    mode = forms.ChoiceField(label=gettext_lazy("Dispatch to"), widget=forms.RadioSelect)
    lead = forms.ModelChoiceField(
        label=gettext_lazy("Lead department"), queryset=Department.objects.none(), required=False
    )
    assisting = CappedModelMultipleChoiceField(
        label=gettext_lazy("Assisting departments"),
        queryset=Department.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        max_count=MAX_DEPARTMENTS - 1,  # beside the lead
    )
    to_region = forms.ModelChoiceField(
        label=gettext_lazy("Grid or village"),
        queryset=Region.objects.none(),
        required=False,
        to_field_name="code",
    )
    note = forms.CharField(
        label=gettext_lazy("Instructions"), required=False, max_length=5000, widget=_textarea(2)
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        case = self.case
        served = [r.pk for r in case.region.get_ancestors(include_self=True)]
        departments = Department.objects.filter(region_id__in=served, active=True).order_by(
            "region__lft", "name"
        )
        self.fields["lead"].queryset = departments
        self.fields["lead"].empty_label = "—"
        self.fields["assisting"].queryset = departments
        centre = case.owning_centre
        regions = Region.objects.filter(
            tree_id=centre.tree_id,
            lft__gte=centre.lft,
            lft__lte=centre.rght,
            level__in=[Level.VILLAGE, Level.GRID],
        ).order_by("lft")
        field = self.fields["to_region"]
        field.queryset = regions
        field.empty_label = "—"
        field.label_from_instance = lambda r: ("\u2003" if r.level == Level.GRID else "") + r.name
        field.initial = (
            case.region.code if case.region.level in (Level.GRID, Level.VILLAGE) else None
        )
        if regions[: self.MAX_REGION_OPTIONS + 1].count() > self.MAX_REGION_OPTIONS:
            field.widget = forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "off"})
            field.help_text = _("The grid or village code.")
        self.proposal = propose(case)
        modes = [(self.MODE_DEPARTMENTS, _("Departments (横向吹哨)"))]
        if self.proposal.lead:
            modes.insert(0, (self.MODE_PROPOSED, _("The routing proposal")))
        modes.append((self.MODE_REGION, _("A grid or village, on the spot")))
        self.fields["mode"].choices = modes
        self.fields["mode"].initial = modes[0][0]
        self.has_departments = departments.exists()

    def clean(self):
        data = super().clean()
        mode = data.get("mode")
        if mode == self.MODE_DEPARTMENTS:
            lead = data.get("lead")
            if not lead:
                self.add_error("lead", _("Choose the lead department."))
            elif lead in (data.get("assisting") or []):
                self.add_error("assisting", _("The lead department cannot also assist."))
        elif mode == self.MODE_REGION and not data.get("to_region"):
            self.add_error("to_region", _("Choose the grid or village that will handle it."))
        return data

    def api_data(self) -> dict:
        data = self.cleaned_data
        out = {"note": data.get("note", "")}
        if data["mode"] == self.MODE_PROPOSED:
            out["proposed"] = True
        elif data["mode"] == self.MODE_REGION:
            out["to_region"] = data["to_region"].code
        else:
            out["departments"] = [data["lead"].pk, *(d.pk for d in data.get("assisting") or [])]
        return out
