"""Forms of the staff case pages: the list's filters and one form per act.

The filters subclass the API's GrievanceFilter and only change labels and widgets: the
filtering itself is written once, there. Each act form collects what a person types and
turns it into the input of the API's act serializer (grievances.api.ACTS), so the page and
the API run the same validation and the same service. A higher app adds its own act forms
and ways to carry out an act through the registry at the end (ACT_FORMS, act_takeovers).
"""

from __future__ import annotations

from collections.abc import Callable

from django import forms
from django.conf import settings
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django_filters import rest_framework as filters
from django_filters.widgets import BooleanWidget

from grids.scoping import sees_everything
from grievances import services
from grievances.api import GrievanceFilter
from grievances.attachments import MAX_PER_CASE
from grievances.models import (
    Category,
    Complexity,
    Grievance,
    HandlingLevel,
    RejectReason,
    RequestType,
    Source,
    State,
    Urgency,
)

# --- Filters of the case list -------------------------------------------------------------------


class OverdueWidget(BooleanWidget):
    def __init__(self, attrs=None):
        super().__init__(attrs)
        self.choices = (
            ("", gettext_lazy("Any")),
            ("true", gettext_lazy("Overdue only")),
            ("false", gettext_lazy("Not overdue")),
        )


def category_choices() -> list[tuple[str, str]]:
    rows = Category.objects.filter(active=True).order_by("tree_id", "lft")
    return [(c.code, "\u2003" * c.mptt_level + c.name) for c in rows]


class CaseFilter(GrievanceFilter):
    """GrievanceFilter with the labels and widgets of a page; same filter methods."""

    phone = None  # a caller's cases: the desk's panel and the API, rate-limited there

    q = filters.CharFilter(
        method="filter_text",
        label=gettext_lazy("Search"),
        widget=forms.TextInput(
            attrs={
                "type": "search",
                "placeholder": gettext_lazy(
                    "Title, description, address, case code or ticket number"
                ),
            }
        ),
    )
    state = filters.MultipleChoiceFilter(
        choices=State.choices, label=gettext_lazy("State"), widget=forms.CheckboxSelectMultiple
    )
    category = filters.ChoiceFilter(
        method="filter_category",
        choices=category_choices,
        label=gettext_lazy("Category"),
        empty_label=gettext_lazy("All categories"),
    )
    urgency = filters.MultipleChoiceFilter(
        choices=Urgency.choices, label=gettext_lazy("Urgency"), widget=forms.CheckboxSelectMultiple
    )
    overdue = filters.BooleanFilter(
        method="filter_overdue", label=gettext_lazy("Deadline"), widget=OverdueWidget
    )
    risk = filters.MultipleChoiceFilter(
        method="filter_risk",
        choices=[
            ("petition", gettext_lazy("Petition risk")),
            ("extreme", gettext_lazy("Risk of extreme acts")),
            ("group", gettext_lazy("Group incident risk")),
        ],
        label=gettext_lazy("Risk"),
        widget=forms.CheckboxSelectMultiple,
    )
    source = filters.MultipleChoiceFilter(
        choices=Source.choices, label=gettext_lazy("Source"), widget=forms.CheckboxSelectMultiple
    )
    request_type = filters.MultipleChoiceFilter(
        choices=RequestType.choices,
        label=gettext_lazy("Request type"),
        widget=forms.CheckboxSelectMultiple,
    )
    extension_pending = filters.BooleanFilter(
        method="filter_extension_pending",
        label=gettext_lazy("Extension request waiting"),
        widget=forms.CheckboxInput(attrs={"value": "true"}),
    )
    region = filters.CharFilter(
        method="filter_region",
        label=gettext_lazy("Region (code, with everything inside it)"),
        widget=forms.TextInput(
            attrs={"list": "case-region-options", "inputmode": "numeric", "autocomplete": "off"}
        ),
    )

    def filter_extension_pending(self, qs, name, value):
        # A checkbox: unticked means "any", not "none waiting".
        return super().filter_extension_pending(qs, name, value) if value else qs


# --- Act forms ------------------------------------------------------------------------------------


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class PhotosField(forms.FileField):
    """Several photos in one input; each is checked by content when it is saved."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault(
            "widget", MultipleFileInput(attrs={"accept": "image/jpeg,image/png,image/webp"})
        )
        kwargs.setdefault("required", False)
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        single = super().clean
        if isinstance(data, (list, tuple)):
            files = [single(d, initial) for d in data if d]
        else:
            files = [single(data, initial)] if data else []
        if len(files) > MAX_PER_CASE:
            raise forms.ValidationError(_("At most %(n)s photos per case.") % {"n": MAX_PER_CASE})
        return files


def _textarea(rows: int = 3, canned: str = "") -> forms.Textarea:
    """`canned`: the kind of canned replies (常用语) a higher app may offer for the text; the
    form adds its case, and the case page's script (the desk app's) the picker."""
    attrs = {"rows": rows}
    if canned:
        attrs["data-canned"] = canned
    return forms.Textarea(attrs=attrs)


class ActForm(forms.Form):
    """One act's form. `api_data()` is the input of the act's serializer in api.ACTS."""

    name = ""
    template_name_act = "grievances/cases/acts/_fields.html"
    # Field names the service or the serializer may name in an error, mapped to this form's.
    error_fields: dict[str, str] = {}
    submit_label = gettext_lazy("Confirm")

    def __init__(self, *args, case: Grievance, user, **kwargs):
        kwargs.setdefault("auto_id", f"act-{self.name}-%s")
        super().__init__(*args, **kwargs)
        self.case = case
        self.user = user
        for field in self.fields.values():
            if "data-canned" in field.widget.attrs:
                field.widget.attrs["data-canned-case"] = case.pk

    def api_data(self) -> dict:
        return {k: v for k, v in self.cleaned_data.items() if k != "photos"}

    @property
    def photos(self) -> list:
        return self.cleaned_data.get("photos") or [] if hasattr(self, "cleaned_data") else []

    def photos_public(self) -> bool:
        return False

    def field_for(self, name: str | None) -> str | None:
        """The field of this form an error about `name` belongs next to (None: the form)."""
        if not name:
            return None
        name = self.error_fields.get(name, name)
        return name if name in self.fields else None


class NoteForm(ActForm):
    note = forms.CharField(
        label=gettext_lazy("Note"), required=False, max_length=5000, widget=_textarea(2)
    )


class ReasonForm(ActForm):
    reason = forms.CharField(label=gettext_lazy("Reason"), max_length=5000, widget=_textarea())


class OptionalReasonForm(ActForm):
    reason = forms.CharField(
        label=gettext_lazy("Reason"), required=False, max_length=5000, widget=_textarea(2)
    )


class AcceptForm(NoteForm):
    name = "accept"
    complexity = forms.ChoiceField(
        label=gettext_lazy("Complexity"),
        choices=Complexity.choices,
        initial=Complexity.SIMPLE,
        widget=forms.RadioSelect,
    )
    handling_level = forms.ChoiceField(
        label=gettext_lazy("Handling level"),
        choices=[
            (services.BY_COMPLEXITY, gettext_lazy("By complexity (小事不出村、大事不出乡)")),
            *HandlingLevel.choices,
        ],
        initial=services.BY_COMPLEXITY,
        required=False,
        help_text=gettext_lazy("Simple: village; complex: township; difficult: county."),
    )
    urgency = forms.ChoiceField(
        label=gettext_lazy("Urgency"), choices=Urgency.choices, required=False
    )
    field_order = ["complexity", "handling_level", "urgency", "note"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        case = self.case
        # Before acceptance the case's level is the routing rule's proposal: offered first.
        if case.handling_level and not case.accepted_at:
            proposed = _("As the routing rule proposes (%(level)s)") % {
                "level": case.get_handling_level_display()
            }
            self.fields["handling_level"].choices = [
                ("", proposed),
                *self.fields["handling_level"].choices,
            ]
            self.fields["handling_level"].initial = ""
        self.fields["urgency"].initial = case.urgency
        if case.suggested_urgency:
            self.fields["urgency"].help_text = _(
                "The reporter suggested: %(urgency)s. The deadlines follow the urgency set here."
            ) % {"urgency": case.get_suggested_urgency_display()}

    def api_data(self) -> dict:
        data = super().api_data()
        for name in ("handling_level", "urgency"):
            if not data.get(name):
                data.pop(name, None)  # omitted: the proposal, the case's urgency
        return data


class RejectForm(ActForm):
    name = "reject"
    submit_label = gettext_lazy("Reject the case")
    reason_code = forms.ChoiceField(
        label=gettext_lazy("Reason"),
        choices=[("", "—"), *RejectReason.choices],
    )
    reason = forms.CharField(
        label=gettext_lazy("Explanation shown to the reporter"),
        required=False,
        max_length=5000,
        widget=_textarea(canned="rejection"),
    )
    duplicate_of = forms.CharField(
        label=gettext_lazy("Duplicate of (case code)"),
        required=False,
        max_length=40,
        help_text=gettext_lazy("For a duplicate: the code of the case it repeats."),
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )

    def api_data(self) -> dict:
        data = super().api_data()
        if not data.get("duplicate_of"):
            data.pop("duplicate_of", None)
        return data


class ReportInForm(NoteForm):
    name = "report_in"
    submit_label = gettext_lazy("Sign for the case")


class ReturnForm(ReasonForm):
    name = "return"
    submit_label = gettext_lazy("Return to the centre")
    reason = forms.CharField(
        label=gettext_lazy("Reason"), max_length=5000, widget=_textarea(canned="return")
    )


class HandleForm(ActForm):
    name = "handle"
    submit_label = gettext_lazy("Report the result")
    error_fields = {"attachments": "photos"}
    result = forms.CharField(
        label=gettext_lazy("What was done"), max_length=5000, widget=_textarea(4, "result")
    )
    photos = PhotosField(label=gettext_lazy("Photos (evidence)"))

    def photos_public(self) -> bool:
        # The result is shown to the reporter, and so is its evidence.
        return True


class AnswerForm(ActForm):
    """答复: a consultation answered by the centre, the answer shown to the reporter as the
    result, and the case closed."""

    name = "answer"
    submit_label = gettext_lazy("Answer and close")
    answer = forms.CharField(
        label=gettext_lazy("Answer (shown to the reporter)"),
        max_length=5000,
        widget=_textarea(4, "result"),
    )


class RedoForm(ReasonForm):
    name = "redo"


class VerifyForm(NoteForm):
    name = "verify"
    submit_label = gettext_lazy("Verify and close")


class ReopenForm(ReasonForm):
    name = "reopen"


class EscalateForm(ReasonForm):
    name = "escalate"
    submit_label = gettext_lazy("Escalate to the centre above")


class WithdrawForm(OptionalReasonForm):
    name = "withdraw"


class MediateForm(NoteForm):
    """The two sides of the dispute; each gets a personal link (by SMS) to choose a mediator
    from the roster and to sign the agreement."""

    name = "mediate"
    error_fields = {"parties": "party_a_name"}

    party_a_name = forms.CharField(label=gettext_lazy("First party"), max_length=100)
    party_a_phone = forms.CharField(
        label=gettext_lazy("First party's phone"), max_length=20, required=False
    )
    party_b_name = forms.CharField(label=gettext_lazy("Second party"), max_length=100)
    party_b_phone = forms.CharField(
        label=gettext_lazy("Second party's phone"), max_length=20, required=False
    )
    party_a_household = forms.CharField(
        label=gettext_lazy("First party's household number (户号)"),
        max_length=50,
        required=False,
        help_text=gettext_lazy("For recusal: a mediator of the same household is out."),
    )
    party_b_household = forms.CharField(
        label=gettext_lazy("Second party's household number (户号)"), max_length=50, required=False
    )
    choice_days = forms.IntegerField(
        label=gettext_lazy("Working days to choose a mediator"),
        min_value=0,
        max_value=30,
        required=False,
        help_text=gettext_lazy(
            "The parties choose from the public roster within these working days. 0: they "
            "are convened on the spot and the centre appoints a mediator at once."
        ),
    )

    def __init__(self, *args, case: Grievance, user, **kwargs):
        super().__init__(*args, case=case, user=user, **kwargs)
        # The reporter is usually one side: start from them.
        first = next(iter(case.complainants.all()), None)
        if first is not None and not self.is_bound:
            self.initial.setdefault("party_a_name", first.name)
            self.initial.setdefault("party_a_phone", first.phone)
        if not self.is_bound:
            self.initial.setdefault("choice_days", getattr(settings, "MEDIATION_CHOICE_DAYS", 3))

    def api_data(self) -> dict:
        data = self.cleaned_data
        result = {
            "note": data.get("note", ""),
            "parties": [
                {
                    "name": data[f"party_{side}_name"],
                    "phone": data.get(f"party_{side}_phone", ""),
                    "household": data.get(f"party_{side}_household", ""),
                }
                for side in ("a", "b")
            ],
        }
        if data.get("choice_days") is not None:
            result["choice_days"] = data["choice_days"]
        return result


class SuspendForm(ReasonForm):
    name = "suspend"


class ResumeForm(NoteForm):
    name = "resume"


class ExtendForm(ActForm):
    """The handler asks for days (with a reason); the centre approves or refuses a pending
    request, or grants days itself."""

    name = "extend"
    template_name_act = "grievances/cases/acts/extend.html"
    DECIDE, GRANT, REQUEST = "decide", "grant", "request"

    days = forms.IntegerField(
        label=gettext_lazy("Working days"), min_value=1, max_value=60, required=False
    )
    reason = forms.CharField(
        label=gettext_lazy("Reason"), required=False, max_length=2000, widget=_textarea(2)
    )
    decision = forms.ChoiceField(
        choices=[("approve", "approve"), ("refuse", "refuse")],
        required=False,
        widget=forms.HiddenInput,
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        case, user = self.case, self.user
        centre = services.is_centre(user, case) or sees_everything(user)
        if centre and case.extension_requested_days:
            self.mode = self.DECIDE
            self.fields["days"].help_text = _("Leave empty to grant the days asked for.")
            self.fields["reason"].label = _("Note")
        elif centre:
            self.mode = self.GRANT
            self.fields["days"].required = True
        else:
            self.mode = self.REQUEST
            self.fields["days"].required = True
            self.fields["reason"].required = True

    def clean(self):
        data = super().clean()
        if self.mode == self.DECIDE and data.get("decision") not in ("approve", "refuse"):
            raise forms.ValidationError(_("Approve or refuse the request."))
        return data

    def api_data(self) -> dict:
        data = self.cleaned_data
        out = {"reason": data.get("reason", "")}
        if data.get("days"):
            out["days"] = data["days"]
        if self.mode == self.DECIDE:
            out["approve"] = data["decision"] == "approve"
        return out


class UrgeForm(NoteForm):
    name = "urge"


class SuperviseForm(NoteForm):
    name = "supervise"


class ProgressNoteForm(ActForm):
    name = "note"
    submit_label = gettext_lazy("Add the note")
    error_fields = {"attachments": "photos"}
    note = forms.CharField(label=gettext_lazy("Note"), max_length=5000, widget=_textarea(3))
    public = forms.BooleanField(label=gettext_lazy("Show to the reporter"), required=False)
    photos = PhotosField(label=gettext_lazy("Photos"))

    def photos_public(self) -> bool:
        return bool(self.cleaned_data.get("public"))


# --- The case page's acts: a registry -------------------------------------------------------------

# name -> the form the case page shows for the act; an act without one is not offered there.
# A higher app adds or replaces a form (its template comes with it: `template_name_act`) from
# its AppConfig.ready(): the dispatch app gives the dispatch form with its routing proposal.
ACT_FORMS: dict[str, type[ActForm]] = {
    form.name: form
    for form in (
        AcceptForm,
        RejectForm,
        ReportInForm,
        ReturnForm,
        HandleForm,
        AnswerForm,
        RedoForm,
        VerifyForm,
        ReopenForm,
        EscalateForm,
        WithdrawForm,
        MediateForm,
        SuspendForm,
        ResumeForm,
        ExtendForm,
        UrgeForm,
        SuperviseForm,
        ProgressNoteForm,
    )
}


def register_act_form(form: type[ActForm]) -> None:
    """Show `form` on the case page for the act `form.name`, in place of any before it."""
    ACT_FORMS[form.name] = form


# name -> functions (case, user, data) that may carry out the act for this case in their own
# way, inside the page's transaction, with the data the act's serializer validated. Each
# returns None to leave the case to the next one and finally to the act's own call
# (grievances.api.ACTS). The dispatch app: the lead department reports in through its
# assignment, so that the assignment and the case move together.
ActTakeover = Callable[..., object]
act_takeovers: dict[str, list[ActTakeover]] = {}


def register_act_takeover(name: str, func: ActTakeover) -> None:
    takeovers = act_takeovers.setdefault(name, [])
    if func not in takeovers:
        takeovers.append(func)
