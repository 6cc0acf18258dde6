"""Forms of the mediation pages: the roster's filters, a party's forms (choose, sign, rate)
and one form per act of the mediator's and the centre's case page.

The roster's filters subclass the API's MediatorFilter and only change labels and widgets:
the filtering is written once, there. Each act form collects what a person types and turns
it into the arguments of the act's service in mediation/services.py; the service checks
everything again and its errors come back next to the field they name (`field_for`).
"""

from __future__ import annotations

from django import forms
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django_filters import rest_framework as filters

from grids.models import Level, Region
from grievances.forms_cases import PhotosField
from grievances.models import Category
from mediation import selectors, services
from mediation.api import MediatorFilter
from mediation.models import (
    Agreement,
    Language,
    MediationCase,
    MediationOrg,
    Mediator,
    Party,
    Referral,
)

# --- The roster's filters ------------------------------------------------------------------------


def specialty_choices() -> list[tuple[str, str]]:
    rows = Category.objects.filter(active=True, is_dispute=True).order_by("tree_id", "lft")
    return [(c.code, c.name) for c in rows]


def region_choices() -> list[tuple[str, str]]:
    """Cities, counties and townships (bounded): a resident picks where they live; the
    filter keeps the mediators serving it or a region above it."""
    rows = (
        Region.objects.filter(level__in=[Level.CITY, Level.COUNTY, Level.TOWNSHIP])
        .only("code", "name", "mptt_level")
        .order_by("tree_id", "lft")[:300]
    )
    return [(r.code, "\u2003" * r.mptt_level + r.name) for r in rows]


def org_choices() -> list[tuple[str, str]]:
    rows = MediationOrg.objects.filter(active=True).order_by("region__code", "name")
    return [(str(o.pk), o.name) for o in rows.only("pk", "name")]


class RosterFilter(MediatorFilter):
    """MediatorFilter with the labels and widgets of a page; same filter methods."""

    q = filters.CharFilter(
        method="filter_text",
        label=gettext_lazy("Search"),
        widget=forms.TextInput(
            attrs={
                "type": "search",
                "placeholder": gettext_lazy("Name, organisation or introduction"),
            }
        ),
    )
    specialty = filters.ChoiceFilter(
        method="filter_specialty",
        choices=specialty_choices,
        label=gettext_lazy("Specialty"),
        empty_label=gettext_lazy("All specialties"),
    )
    region = filters.ChoiceFilter(
        method="filter_region",
        choices=region_choices,
        label=gettext_lazy("Region served"),
        empty_label=gettext_lazy("All regions"),
    )
    language = filters.ChoiceFilter(
        method="filter_language",
        choices=Language.choices,
        label=gettext_lazy("Language"),
        empty_label=gettext_lazy("All languages"),
    )
    org = filters.ChoiceFilter(
        field_name="organisation_id",
        choices=org_choices,
        label=gettext_lazy("Organisation"),
        empty_label=gettext_lazy("All organisations"),
    )


# --- Act forms -----------------------------------------------------------------------------------


def _textarea(rows: int = 3) -> forms.Textarea:
    return forms.Textarea(attrs={"rows": rows})


class ActForm(forms.Form):
    """One act's form. `arguments()` are the keyword arguments of the act's service."""

    name = ""
    # Field names the service may name in an error, mapped to this form's.
    error_fields: dict[str, str] = {}
    submit_label = gettext_lazy("Confirm")
    template = "mediation/acts/_fields.html"

    def __init__(self, *args, case: MediationCase, actor: services.Actor, **kwargs):
        kwargs.setdefault("auto_id", f"act-{self.name}-%s")
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        self.case = case
        self.actor = actor

    def arguments(self) -> dict:
        return dict(self.cleaned_data)

    def field_for(self, name: str | None) -> str | None:
        """The field of this form an error about `name` belongs next to (None: the form)."""
        if not name:
            return None
        name = self.error_fields.get(name, name)
        return name if name in self.fields else None


class RecusalSelect(forms.Select):
    """A select whose mediators who must withdraw (回避) show, disabled, with a mark."""

    def __init__(self, attrs=None, choices=(), disabled=()):
        super().__init__(attrs, choices)
        self.disabled = set(disabled)

    def create_option(self, name, value, label, selected, index, subindex=None, attrs=None):
        option = super().create_option(name, value, label, selected, index, subindex, attrs)
        if value in self.disabled:
            option["attrs"]["disabled"] = True
            option["label"] = _("%(name)s (must withdraw)") % {"name": label}
        return option


def _mediator_label(m: Mediator) -> str:
    return f"{m.name} · {m.organisation.name}"


class ChooseForm(ActForm):
    """Up to three mediators from the roster, best first (点单). A party chooses for
    themselves through their link; the centre enters a party's choice made at its window.

    The choices are the mediators serving the case's region; one who must withdraw (回避)
    is refused here with the reasons, next to the choice that named them."""

    name = "choose"
    submit_label = gettext_lazy("Send my choice")
    template = "mediation/acts/choose.html"
    error_fields = {"mediators": "first"}
    RANKS = ("first", "second", "third")

    first = forms.TypedChoiceField(label=gettext_lazy("First choice"), coerce=int)
    second = forms.TypedChoiceField(
        label=gettext_lazy("Second choice"), coerce=int, required=False, empty_value=None
    )
    third = forms.TypedChoiceField(
        label=gettext_lazy("Third choice"), coerce=int, required=False, empty_value=None
    )

    def __init__(
        self,
        *args,
        mediators: list[Mediator],
        recusal: dict[int, list[str]],
        for_party: bool = True,
        **kwargs,
    ):
        super().__init__(*args, **kwargs)
        self.mediators = {m.pk: m for m in mediators}
        self.recusal = recusal
        options = [(m.pk, _mediator_label(m)) for m in mediators]
        for rank in self.RANKS:
            field = self.fields[rank]
            field.widget = RecusalSelect(disabled=self.recused_ids())
            field.choices = [("", _("— none —")), *options]
        if for_party:
            self.submit_label = gettext_lazy("Send my choice")
            self.legend = _("Your mediators, best first")
        else:
            self.legend = _("The party's mediators, best first")
            self.submit_label = gettext_lazy("Enter the party's choice")
            parties = list(self.case.parties.all())
            self.fields["party"] = forms.TypedChoiceField(
                label=gettext_lazy("Party who chose"),
                coerce=int,
                choices=[("", "—"), *((p.pk, p.name) for p in parties)],
            )
            self.order_fields(["party", *self.RANKS])
            self.error_fields = {**self.error_fields, "party": "party"}
        # Preselect the party's current choices when they choose again.
        party = services.acting_party(self.actor, self.case) if for_party else None
        if party is not None and not self.is_bound:
            for choice in party.choices.all():
                if 1 <= choice.rank <= 3:
                    self.initial[self.RANKS[choice.rank - 1]] = choice.mediator_id

    def recused_ids(self) -> set[int]:
        return {pk for pk, reasons in self.recusal.items() if reasons}

    def clean(self):
        data = super().clean()
        ids: list[int] = []
        for rank in self.RANKS:
            pk = data.get(rank)
            if pk is None:
                continue
            if pk in ids:
                self.add_error(rank, _("This mediator is already one of your choices."))
                continue
            reasons = self.recusal.get(pk) or []
            if reasons:
                name = self.mediators[pk].name
                self.add_error(
                    rank,
                    _("%(name)s must withdraw (回避): %(reasons)s")
                    % {"name": name, "reasons": " ".join(reasons)},
                )
            ids.append(pk)
        data["mediator_ids"] = ids
        return data

    def arguments(self) -> dict:
        args = {"mediator_ids": self.cleaned_data["mediator_ids"]}
        if "party" in self.fields:
            party_id = self.cleaned_data["party"]
            args["party"] = next(p for p in self.case.parties.all() if p.pk == party_id)
        return args


class AssignForm(ActForm):
    """派单: the centre names the lead mediator among those fitting the dispute type and not
    recused (or lets the rule pick the best), and any assisting ones."""

    name = "assign"
    submit_label = gettext_lazy("Assign")
    template = "mediation/acts/assign.html"

    mediator = forms.TypedChoiceField(
        label=gettext_lazy("Lead mediator"), coerce=int, required=False, empty_value=None
    )
    assisting = forms.TypedMultipleChoiceField(
        label=gettext_lazy("Assisting mediators"),
        coerce=int,
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    note = forms.CharField(
        label=gettext_lazy("Note"), required=False, max_length=2000, widget=_textarea(2)
    )

    def __init__(self, *args, candidates: list[Mediator], **kwargs):
        super().__init__(*args, **kwargs)
        self.candidates = {m.pk: m for m in candidates}

        def label(m: Mediator) -> str:
            load = _("%(n)s open") % {"n": getattr(m, "open_cases", 0)}
            return f"{m.name} · {m.organisation.name} · {load}"

        options = [(m.pk, label(m)) for m in candidates]
        self.fields["mediator"].choices = [
            ("", _("The best fit by dispute type, least loaded")),
            *options,
        ]
        self.fields["assisting"].choices = options

    def arguments(self) -> dict:
        d = self.cleaned_data
        lead = self.candidates.get(d["mediator"]) if d["mediator"] else None
        assisting = [self.candidates[pk] for pk in d["assisting"]]
        return {"mediator": lead, "assisting": assisting, "note": d["note"]}


class DateTimeLocalInput(forms.DateTimeInput):
    input_type = "datetime-local"

    def __init__(self, attrs=None):
        super().__init__(attrs, format="%Y-%m-%dT%H:%M")


class ScheduleForm(ActForm):
    name = "schedule"
    submit_label = gettext_lazy("Schedule")
    error_fields = {"starts_at": "starts_at", "place": "place"}

    starts_at = forms.DateTimeField(
        label=gettext_lazy("Time"),
        widget=DateTimeLocalInput(),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S"],
    )
    place = forms.CharField(label=gettext_lazy("Place"), required=False, max_length=255)
    online = forms.BooleanField(label=gettext_lazy("Online (云调解)"), required=False)
    online_link = forms.URLField(
        label=gettext_lazy("Online meeting link"), required=False, assume_scheme="https"
    )
    participants = forms.CharField(
        label=gettext_lazy("Participants"), required=False, max_length=2000, widget=_textarea(2)
    )


class RecordForm(ActForm):
    name = "record"
    submit_label = gettext_lazy("Save the record")

    session = forms.TypedChoiceField(
        label=gettext_lazy("Session"), coerce=int, required=False, empty_value=None
    )
    record = forms.CharField(
        label=gettext_lazy("Record (调解笔录)"), max_length=20000, widget=_textarea(6)
    )
    participants = forms.CharField(
        label=gettext_lazy("Participants"), required=False, max_length=2000, widget=_textarea(2)
    )
    place = forms.CharField(
        label=gettext_lazy("Place (for a session held now)"), required=False, max_length=255
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.sessions = {s.pk: s for s in self.case.sessions.all()}
        when = lambda s: timezone.localtime(s.starts_at).strftime("%Y-%m-%d %H:%M")  # noqa: E731
        self.fields["session"].choices = [
            ("", _("A session held now (convened on the spot)")),
            *(
                (s.pk, f"{when(s)} · {s.place or _('online')}")
                for s in sorted(self.sessions.values(), key=lambda s: s.starts_at, reverse=True)
            ),
        ]
        unrecorded = [s for s in self.sessions.values() if not s.record]
        if unrecorded and not self.is_bound:
            self.initial["session"] = max(unrecorded, key=lambda s: s.starts_at).pk

    def arguments(self) -> dict:
        d = self.cleaned_data
        return {
            "record": d["record"],
            "session": self.sessions.get(d["session"]) if d["session"] else None,
            "participants": d["participants"],
            "place": d["place"],
        }


class TermForm(forms.Form):
    obligor = forms.TypedChoiceField(
        label=gettext_lazy("Obligor party"), coerce=int, required=False, empty_value=None
    )
    obligation = forms.CharField(
        label=gettext_lazy("Obligation"), required=False, max_length=2000, widget=_textarea(2)
    )
    amount = forms.DecimalField(
        label=gettext_lazy("Amount (yuan)"),
        required=False,
        min_value=0,
        max_digits=14,
        decimal_places=2,
        widget=forms.NumberInput(attrs={"step": "0.01", "inputmode": "decimal"}),
    )
    due_date = forms.DateField(
        label=gettext_lazy("Due date"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )
    instalment = forms.IntegerField(
        label=gettext_lazy("Instalment no."),
        required=False,
        min_value=1,
        max_value=99,
        widget=forms.NumberInput(attrs={"inputmode": "numeric"}),
    )

    def __init__(self, *args, parties: list[Party] = (), **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        self.fields["obligor"].choices = [("", "—"), *((p.pk, p.name) for p in parties)]

    def clean(self):
        data = super().clean()
        filled = any(
            data.get(k) not in (None, "") for k in ("obligor", "amount", "due_date", "instalment")
        )
        if filled and not (data.get("obligation") or "").strip():
            self.add_error("obligation", _("Say what is owed."))
        return data


class BaseTermFormSet(forms.BaseFormSet):
    def __init__(self, *args, parties: list[Party] = (), **kwargs):
        self.parties = list(parties)
        super().__init__(*args, **kwargs)

    def get_form_kwargs(self, index):
        return {**super().get_form_kwargs(index), "parties": self.parties}

    @property
    def empty_form(self):
        form = self.form(
            auto_id=self.auto_id,
            prefix=self.add_prefix("__prefix__"),
            empty_permitted=True,
            use_required_attribute=False,
            parties=self.parties,
            renderer=self.renderer,
        )
        self.add_fields(form, None)
        return form


TermFormSet = forms.formset_factory(
    TermForm, formset=BaseTermFormSet, extra=2, max_num=services.MAX_TERMS, validate_max=True
)


class AgreementForm(ActForm):
    """A new version of the agreement: its terms and free text. It starts from the current
    version; empty rows are left out."""

    name = "agreement"
    submit_label = gettext_lazy("Save as a new version")
    template = "mediation/acts/agreement.html"
    error_fields = {"text": "text"}

    text = forms.CharField(
        label=gettext_lazy("Text of the agreement"),
        required=False,
        max_length=20000,
        widget=_textarea(5),
    )

    def __init__(self, *args, agreement: Agreement | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        parties = list(self.case.parties.all())
        initial = None
        if agreement is not None and not self.is_bound:
            self.initial["text"] = agreement.text
            initial = [
                {
                    "obligor": t.obligor_id,
                    "obligation": t.obligation,
                    "amount": t.amount,
                    "due_date": t.due_date,
                    "instalment": t.instalment,
                }
                for t in agreement.terms.all()
            ]
        self.terms = TermFormSet(
            self.data if self.is_bound else None,
            initial=initial,
            prefix="terms",
            parties=parties,
        )
        self.terms_errors: list[str] = []

    def is_valid(self) -> bool:
        own = super().is_valid()
        return self.terms.is_valid() and own

    def add_error(self, field, error):
        # The service names "terms" for a problem in one of them ("Term 2: …").
        if field == "terms":
            self.terms_errors.append(str(error))
            return
        super().add_error(field, error)

    def field_for(self, name: str | None) -> str | None:
        if name == "terms":
            return "terms"
        return super().field_for(name)

    def arguments(self) -> dict:
        terms = []
        for form in self.terms.forms:
            d = getattr(form, "cleaned_data", None) or {}
            if not (d.get("obligation") or "").strip():
                continue
            terms.append(
                services.TermData(
                    obligation=d["obligation"],
                    obligor=d.get("obligor"),
                    amount=d.get("amount"),
                    due_date=d.get("due_date"),
                    instalment=d.get("instalment"),
                )
            )
        return {"text": self.cleaned_data["text"], "terms": terms}


class SignForm(ActForm):
    """Sign the version shown: its number and SHA-256 travel with the form, so a signature
    on a version that changed meanwhile is refused. A party confirms with the code sent to
    their phone; a mediator with their own confirmation."""

    name = "sign"
    submit_label = gettext_lazy("Sign")
    template = "mediation/acts/sign.html"
    error_fields = {"sha256": "typed_name", "version": "typed_name"}

    version = forms.IntegerField(widget=forms.HiddenInput, min_value=1)
    sha256 = forms.CharField(widget=forms.HiddenInput, max_length=64)
    code = forms.CharField(
        label=gettext_lazy("Code from the text message"),
        max_length=10,
        widget=forms.TextInput(
            attrs={
                "inputmode": "numeric",
                "autocomplete": "one-time-code",
                "pattern": "[0-9]{6}",
                "maxlength": "6",
            }
        ),
    )
    typed_name = forms.CharField(
        label=gettext_lazy("Type your name"),
        max_length=100,
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )
    confirm = forms.BooleanField(label="", required=True)

    def __init__(self, *args, agreement: Agreement, as_party: bool, **kwargs):
        super().__init__(*args, **kwargs)
        self.agreement = agreement
        self.as_party = as_party
        if not self.is_bound:
            self.initial.update({"version": agreement.version, "sha256": agreement.content_hash})
        if as_party:
            del self.fields["confirm"]
            self.fields["typed_name"].help_text = _("As it stands on the agreement.")
        else:
            del self.fields["code"]
            self.fields["confirm"].label = _(
                "I have read version %(v)s of the agreement and sign it as the mediator."
            ) % {"v": agreement.version}

    def arguments(self) -> dict:
        d = self.cleaned_data
        return {
            "version": d["version"],
            "sha256": d["sha256"],
            "typed_name": d["typed_name"],
            "code": d.get("code", ""),
        }


class SettleForm(ActForm):
    """Settle on the current agreement: a retry when everyone signed online, or signed on
    paper with the scans attached (photos of the case, or new ones)."""

    name = "settle"
    submit_label = gettext_lazy("Settle")
    template = "mediation/acts/settle.html"
    error_fields = {"attachments": "photos"}

    paper_signed = forms.BooleanField(
        label=gettext_lazy("Signed on paper (attach the scans)"), required=False
    )
    attachments = forms.TypedMultipleChoiceField(
        label=gettext_lazy("Photos of the case"),
        coerce=int,
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    photos = PhotosField(label=gettext_lazy("Scans or photos of the signed agreement"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.photo_rows = {a.pk: a for a in self.case.grievance.attachments.all()}
        self.fields["attachments"].choices = [
            (a.pk, a.original_name or _("Photo %(n)s") % {"n": i})
            for i, a in enumerate(self.photo_rows.values(), start=1)
        ]
        if not self.photo_rows:
            del self.fields["attachments"]

    @property
    def uploads(self) -> list:
        return (self.cleaned_data.get("photos") or []) if hasattr(self, "cleaned_data") else []

    def chosen_attachments(self) -> list:
        return [self.photo_rows[pk] for pk in self.cleaned_data.get("attachments") or []]


class FailForm(ActForm):
    name = "fail"
    submit_label = gettext_lazy("Record the failure")
    template = "mediation/acts/fail.html"

    record = forms.CharField(
        label=gettext_lazy("Why the mediation failed"), max_length=20000, widget=_textarea(4)
    )
    referral = forms.ChoiceField(
        label=gettext_lazy("Refer to (诉调对接)"),
        choices=[
            ("", gettext_lazy("No referral now")),
            *((v, label) for v, label in Referral.choices if v),
        ],
        required=False,
        widget=forms.RadioSelect,
    )


class RateForm(ActForm):
    name = "rate"
    submit_label = gettext_lazy("Send the rating")
    template = "mediation/acts/rate.html"

    score = forms.TypedChoiceField(
        label=gettext_lazy("Your rating of the mediator"),
        coerce=int,
        choices=[(n, str(n)) for n in (5, 4, 3, 2, 1)],
        widget=forms.RadioSelect,
    )
    comment = forms.CharField(
        label=gettext_lazy("Comment"), required=False, max_length=2000, widget=_textarea(3)
    )


STAFF_FORMS = {
    "choose": ChooseForm,
    "assign": AssignForm,
    "schedule": ScheduleForm,
    "record": RecordForm,
    "agreement": AgreementForm,
    "sign": SignForm,
    "settle": SettleForm,
    "fail": FailForm,
}

PARTY_ACTS = ("choose", "send_code", "sign", "rate")


def serving_roster(case: MediationCase) -> list[Mediator]:
    """The roster for a case: active mediators serving the case's region, with figures."""
    qs = Mediator.objects.filter(
        selectors.serving_q(case.grievance.region), active=True, organisation__active=True
    )
    return list(selectors.roster(qs))
