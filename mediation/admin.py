"""Django admin: mediation organisations and the roster, conflicts of interest, and the
mediation cases (read-only: their acts go through mediation/services.py)."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from mediation import selectors
from mediation.models import (
    Agreement,
    AgreementTerm,
    CaseMediator,
    ConflictDeclaration,
    Language,
    MediationCase,
    MediationOrg,
    Mediator,
    MediatorRating,
    Party,
    Session,
    Signature,
    split_codes,
)


@admin.register(MediationOrg)
class MediationOrgAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "region", "one_stop_centre", "active"]
    list_filter = ["kind", "one_stop_centre", "active", "region__level"]
    list_select_related = ["region"]
    search_fields = ["name", "region__name", "region__code"]
    autocomplete_fields = ["region"]


class MediatorForm(forms.ModelForm):
    # The model keeps a comma-separated list (portable); people tick boxes.
    languages = forms.MultipleChoiceField(
        label=_("languages"),
        choices=Language.choices,
        widget=forms.CheckboxSelectMultiple,
        required=False,
    )

    class Meta:
        model = Mediator
        fields = [
            "user",
            "name",
            "photo",
            "organisation",
            "specialties",
            "regions_served",
            "bio",
            "years_experience",
            "languages",
            "phone",
            "household",
            "work_unit",
            "active",
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.initial["languages"] = split_codes(self.instance.languages)

    def clean_languages(self) -> str:
        return ",".join(self.cleaned_data["languages"]) or Language.ZH


class ConflictInline(admin.TabularInline):
    model = ConflictDeclaration
    extra = 0
    fields = ["relation", "person_name", "person_phone", "person_user", "case", "note"]
    raw_id_fields = ["person_user", "case"]


@admin.register(Mediator)
class MediatorAdmin(admin.ModelAdmin):
    form = MediatorForm
    list_display = [
        "name",
        "organisation",
        "years_experience",
        "languages",
        "active",
        "cases_handled",
        "success_rate",
        "average_rating",
    ]
    list_filter = ["active", "organisation__kind", "languages"]
    list_select_related = ["organisation"]
    search_fields = ["name", "organisation__name", "user__username", "user__full_name"]
    autocomplete_fields = ["user", "organisation", "regions_served"]
    filter_horizontal = ["specialties"]
    inlines = [ConflictInline]

    def get_queryset(self, request):
        return selectors.with_figures(super().get_queryset(request))

    @admin.display(description=_("cases handled"), ordering="cases_handled")
    def cases_handled(self, obj):
        return obj.cases_handled

    @admin.display(description=_("success rate"))
    def success_rate(self, obj):
        rate = selectors.success_rate(obj)
        return "—" if rate is None else f"{rate:.0%}"

    @admin.display(description=_("average rating"), ordering="average_rating")
    def average_rating(self, obj):
        return "—" if obj.average_rating is None else f"{obj.average_rating:.1f}"


@admin.register(ConflictDeclaration)
class ConflictDeclarationAdmin(admin.ModelAdmin):
    list_display = ["mediator", "relation", "person_name", "person_user", "case", "declared_at"]
    list_filter = ["relation"]
    list_select_related = ["mediator", "person_user"]
    search_fields = ["mediator__name", "person_name", "person_phone"]
    autocomplete_fields = ["mediator", "person_user"]
    raw_id_fields = ["case"]


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class CaseMediatorInline(ReadOnlyInline):
    model = CaseMediator
    fields = ["mediator", "role", "appointed_at"]


class PartyInline(ReadOnlyInline):
    model = Party
    fields = ["name", "phone", "household", "work_unit", "user", "chose_at"]


class SessionInline(ReadOnlyInline):
    model = Session
    fields = ["starts_at", "place", "online", "participants", "record", "recorded_at"]


@admin.register(MediationCase)
class MediationCaseAdmin(admin.ModelAdmin):
    """Read-only: every change is an act with its CaseEvent (mediation/services.py)."""

    list_display = ["grievance", "status", "chosen_by", "org", "created_at", "closed_at"]
    list_filter = ["status", "chosen_by", "org__kind"]
    list_select_related = ["grievance", "org"]
    search_fields = ["grievance__tracking_code", "grievance__title", "parties__name"]
    inlines = [CaseMediatorInline, PartyInline, SessionInline]

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class TermInline(ReadOnlyInline):
    model = AgreementTerm
    fields = [
        "position",
        "obligor",
        "obligation",
        "amount",
        "due_date",
        "instalment",
        "reminded_at",
    ]


class SignatureInline(ReadOnlyInline):
    model = Signature
    fields = ["party", "mediator", "version", "typed_name", "sha256", "signed_at", "ip", "via_link"]


@admin.register(Agreement)
class AgreementAdmin(admin.ModelAdmin):
    list_display = ["case", "version", "content_hash", "created_at"]
    list_select_related = ["case__grievance"]
    search_fields = ["case__grievance__tracking_code"]
    inlines = [TermInline, SignatureInline]

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(MediatorRating)
class MediatorRatingAdmin(admin.ModelAdmin):
    list_display = ["mediator", "score", "case", "party", "created_at"]
    list_filter = ["score"]
    list_select_related = ["mediator", "case__grievance", "party"]
    search_fields = ["mediator__name", "comment"]

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]

    def has_add_permission(self, request):
        return False
