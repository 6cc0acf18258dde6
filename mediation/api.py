"""Mediation API: the public roster and organisations, mediation cases and their acts.

The roster (调解员信息公示栏) and the organisations are public. A mediation case is seen by
the staff who see its case (grievances' scoping: the centre, and its mediators), by its
parties logged in, and by a party through their personal link (`?token=` or `token` in the
body); anyone else gets 404, as does a wrong or expired link.

Checks on an act run in this order: 404 outside the caller's scope, 403 wrong role, 409 wrong
status, 400 field errors.
"""

from __future__ import annotations

import hashlib

from django.db.models import Prefetch, Q
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django_filters import rest_framework as filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotAuthenticated, NotFound, Throttled
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.throttling import SimpleRateThrottle

from grids.api import RegionRefSerializer
from grids.api_input import IdField
from grids.models import Region
from grievances.api import error_response
from grievances.attachments import MAX_PER_CASE
from grievances.models import Attachment, Category
from grievances.privacy import mask_phone
from grievances.services import CaseError, InvalidInput
from mediation import selectors, services, tokens
from mediation.models import (
    Agreement,
    CaseMediator,
    Language,
    MediationCase,
    MediationOrg,
    Mediator,
    OrgKind,
    PartyChoice,
    Referral,
    Session,
)
from mediation.services import Actor

TOKEN_PARAM = OpenApiParameter(
    "token",
    OpenApiTypes.STR,
    required=False,
    description="a party's personal link token (instead of logging in)",
)


# --- Organisations -----------------------------------------------------------------------------


class MediationOrgSerializer(serializers.ModelSerializer):
    kind_label = serializers.CharField(source="get_kind_display")
    region = RegionRefSerializer()

    class Meta:
        model = MediationOrg
        fields = [
            "id",
            "name",
            "kind",
            "kind_label",
            "region",
            "one_stop_centre",
            "phone",
            "address",
        ]


class MediationOrgFilter(filters.FilterSet):
    region = filters.CharFilter(
        method="filter_region", label=gettext_lazy("region code (organisations serving it)")
    )
    kind = filters.MultipleChoiceFilter(choices=OrgKind.choices)

    class Meta:
        model = MediationOrg
        fields = ["kind", "one_stop_centre"]

    def filter_region(self, qs, name, value):
        region = Region.objects.filter(code=value).first()
        if region is None:
            return qs.none()
        return qs.filter(region__in=region.get_ancestors(include_self=True))


class MediationOrgViewSet(viewsets.ReadOnlyModelViewSet):
    """Mediation organisations (人民调解委员会, specialised ones, one-stop centres): public."""

    permission_classes = [AllowAny]
    serializer_class = MediationOrgSerializer
    filterset_class = MediationOrgFilter
    queryset = MediationOrg.objects.filter(active=True).select_related("region")


# --- The roster --------------------------------------------------------------------------------


class CategoryRefSerializer(serializers.ModelSerializer):
    class Meta:
        model = Category
        fields = ["code", "name"]


class OrgRefSerializer(serializers.ModelSerializer):
    kind_label = serializers.CharField(source="get_kind_display")

    class Meta:
        model = MediationOrg
        fields = ["id", "name", "kind", "kind_label"]


class MediatorSerializer(serializers.ModelSerializer):
    """A roster entry. Phone, household and work unit stay private; the figures are
    computed from the cases and the parties' ratings."""

    organisation = OrgRefSerializer()
    specialties = CategoryRefSerializer(many=True)
    regions_served = RegionRefSerializer(many=True)
    languages = serializers.SerializerMethodField()
    has_photo = serializers.SerializerMethodField()
    cases_handled = serializers.IntegerField()
    cases_settled = serializers.IntegerField()
    open_cases = serializers.IntegerField()
    success_rate = serializers.SerializerMethodField()
    average_rating = serializers.SerializerMethodField()
    rating_count = serializers.IntegerField()
    recused = serializers.SerializerMethodField()
    recusal_reasons = serializers.SerializerMethodField()

    class Meta:
        model = Mediator
        fields = [
            "id",
            "name",
            "has_photo",
            "organisation",
            "specialties",
            "regions_served",
            "bio",
            "years_experience",
            "languages",
            "cases_handled",
            "cases_settled",
            "open_cases",
            "success_rate",
            "average_rating",
            "rating_count",
            "recused",
            "recusal_reasons",
        ]

    def get_languages(self, obj) -> list[str]:
        return obj.language_codes

    def get_has_photo(self, obj) -> bool:
        return bool(obj.photo)

    def get_success_rate(self, obj) -> float | None:
        return selectors.success_rate(obj)

    def get_average_rating(self, obj) -> float | None:
        return None if obj.average_rating is None else round(obj.average_rating, 2)

    def _reasons(self, obj) -> list[str] | None:
        reasons = self.context.get("recusal")
        return None if reasons is None else reasons.get(obj.pk, [])

    def get_recused(self, obj) -> bool | None:
        reasons = self._reasons(obj)
        return None if reasons is None else bool(reasons)

    def get_recusal_reasons(self, obj) -> list[str]:
        return self._reasons(obj) or []


class MediatorFilter(filters.FilterSet):
    specialty = filters.CharFilter(method="filter_specialty", label=gettext_lazy("category code"))
    region = filters.CharFilter(
        method="filter_region", label=gettext_lazy("region code (mediators serving it)")
    )
    language = filters.ChoiceFilter(choices=Language.choices, method="filter_language")
    org = filters.NumberFilter(field_name="organisation_id", label=gettext_lazy("organisation id"))
    q = filters.CharFilter(method="filter_text", label=gettext_lazy("text search"))

    class Meta:
        model = Mediator
        fields = ["specialty", "region", "language", "org", "q"]

    def filter_specialty(self, qs, name, value):
        category = Category.objects.filter(code=value).first()
        if category is None:
            return qs.none()
        return qs.filter(selectors.specialty_q(category))

    def filter_region(self, qs, name, value):
        region = Region.objects.filter(code=value).first()
        if region is None:
            return qs.none()
        return qs.filter(selectors.serving_q(region))

    def filter_language(self, qs, name, value):
        return qs.filter(selectors.language_q(value))

    def filter_text(self, qs, name, value):
        return qs.filter(
            Q(name__icontains=value)
            | Q(bio__icontains=value)
            | Q(organisation__name__icontains=value)
        )


class MediatorViewSet(viewsets.ReadOnlyModelViewSet):
    """The public roster of mediators (调解员信息公示栏) with their figures.

    With `case` (and a party's `token`, or logged in with access to that case): the
    mediators serving the case's region, each marked when they must withdraw (回避) and why.
    """

    permission_classes = [AllowAny]
    serializer_class = MediatorSerializer
    filterset_class = MediatorFilter

    def get_queryset(self):
        return selectors.roster()

    def _case(self, request) -> MediationCase | None:
        raw = request.query_params.get("case")
        if not raw:
            return None
        try:
            case_id = int(raw)
        except ValueError:
            raise NotFound() from None
        token = request.query_params.get("token")
        if token:
            party = tokens.party_from_token(token, case_id)
            if party is None:
                if tokens.miss_over_limit(request):
                    raise Throttled(wait=3600)
                raise NotFound()
            return party.case
        return get_object_or_404(
            selectors.mediation_cases_for(request.user).select_related("grievance__region"),
            pk=case_id,
        )

    @extend_schema(
        parameters=[
            OpenApiParameter("case", OpenApiTypes.INT, description="a mediation case id"),
            TOKEN_PARAM,
        ]
    )
    def list(self, request, *args, **kwargs):
        case = self._case(request)
        qs = self.filter_queryset(self.get_queryset())
        if case is not None:
            qs = qs.filter(selectors.serving_q(case.grievance.region))
        page = self.paginate_queryset(qs)
        rows = list(page if page is not None else qs)
        context = self.get_serializer_context()
        if case is not None:
            context["recusal"] = selectors.recusal_map(rows, case)
        data = MediatorSerializer(rows, many=True, context=context).data
        return self.get_paginated_response(data) if page is not None else Response(data)


# --- Mediation cases ---------------------------------------------------------------------------


class LinkThrottle(SimpleRateThrottle):
    """Requests through a party's link, counted per link (not per address: a village may
    share one)."""

    rate = "240/hour"
    scope = "mediation_link"

    def get_cache_key(self, request, view):
        token = request.query_params.get("token")
        if not token and hasattr(request.data, "get"):
            token = request.data.get("token")
        if not token or not isinstance(token, str):
            return None
        ident = hashlib.sha256(token.encode()).hexdigest()[:32]
        return self.cache_format % {"scope": self.scope, "ident": ident}


class PartySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    phone = serializers.CharField()
    has_chosen = serializers.BooleanField()
    signed_current = serializers.BooleanField()


class CaseMediatorSerializer(serializers.ModelSerializer):
    id = serializers.IntegerField(source="mediator.id")
    name = serializers.CharField(source="mediator.name")
    organisation = serializers.CharField(source="mediator.organisation.name")

    class Meta:
        model = CaseMediator
        fields = ["id", "name", "role", "organisation", "appointed_at"]


class SessionSerializer(serializers.ModelSerializer):
    class Meta:
        model = Session
        fields = [
            "id",
            "starts_at",
            "place",
            "online",
            "online_link",
            "participants",
            "record",
            "recorded_at",
        ]


class TermSerializer(serializers.Serializer):
    position = serializers.IntegerField()
    obligor = serializers.DictField(allow_null=True)
    obligation = serializers.CharField()
    amount = serializers.DecimalField(max_digits=14, decimal_places=2, allow_null=True)
    due_date = serializers.DateField(allow_null=True)
    instalment = serializers.IntegerField(allow_null=True)


class SignatureOutSerializer(serializers.Serializer):
    signer = serializers.CharField()
    kind = serializers.CharField()
    version = serializers.IntegerField()
    sha256 = serializers.CharField()
    signed_at = serializers.DateTimeField()


class AgreementSerializer(serializers.Serializer):
    version = serializers.IntegerField()
    text = serializers.CharField()
    sha256 = serializers.CharField()
    created_at = serializers.DateTimeField()
    terms = TermSerializer(many=True)
    signatures = SignatureOutSerializer(many=True)
    fully_signed = serializers.BooleanField()


class MediationCaseListSerializer(serializers.ModelSerializer):
    grievance = serializers.IntegerField(source="grievance_id")
    tracking_code = serializers.CharField(source="grievance.display_code")
    title = serializers.CharField(source="grievance.title")
    status_label = serializers.CharField(source="get_status_display")
    org = serializers.CharField(source="org.name", default=None)
    lead_mediator = serializers.SerializerMethodField()

    class Meta:
        model = MediationCase
        fields = [
            "id",
            "grievance",
            "tracking_code",
            "title",
            "status",
            "status_label",
            "chosen_by",
            "org",
            "lead_mediator",
            "choice_deadline",
            "created_at",
            "closed_at",
        ]

    def get_lead_mediator(self, obj) -> str | None:
        lead = selectors.lead_appointment(obj)
        return lead.mediator.name if lead else None


class MediationCaseSerializer(MediationCaseListSerializer):
    """One mediation case as the viewer may see it: the centre and the mediators see the
    parties' phones; a party sees their own choices and whether they have signed."""

    mediators = serializers.SerializerMethodField()
    parties = serializers.SerializerMethodField()
    sessions = SessionSerializer(many=True)
    agreement = serializers.SerializerMethodField()
    choices = serializers.SerializerMethodField()
    me = serializers.SerializerMethodField()
    available_acts = serializers.SerializerMethodField()

    class Meta(MediationCaseListSerializer.Meta):
        fields = [
            *MediationCaseListSerializer.Meta.fields,
            "appointed_at",
            "outcome",
            "referral",
            "mediators",
            "parties",
            "sessions",
            "agreement",
            "choices",
            "me",
            "available_acts",
        ]

    @property
    def actor(self) -> Actor:
        return self.context["actor"]

    def _staff(self, obj) -> bool:
        return services.is_centre(self.actor, obj) or services.is_mediator(self.actor, obj)

    def _agreement(self, obj) -> Agreement | None:
        cached = self.context.setdefault("_agreement", {})
        if obj.pk not in cached:
            cached[obj.pk] = selectors.current_agreement(obj)
        return cached[obj.pk]

    def _signed(self, obj) -> set[int]:
        agreement = self._agreement(obj)
        if agreement is None:
            return set()
        return selectors.signature_state(obj, agreement).parties_signed

    def get_mediators(self, obj) -> list[dict]:
        rows = sorted(obj.appointments.all(), key=lambda a: (a.role != "lead", a.pk))
        return CaseMediatorSerializer(rows, many=True).data

    def get_parties(self, obj) -> list[dict]:
        full = self._staff(obj)
        signed = self._signed(obj)
        return PartySerializer(
            [
                {
                    "id": p.pk,
                    "name": p.name,
                    "phone": p.phone if full else mask_phone(p.phone),
                    "has_chosen": bool(p.chose_at),
                    "signed_current": p.pk in signed,
                }
                for p in obj.parties.all()
            ],
            many=True,
        ).data

    def get_agreement(self, obj) -> dict | None:
        agreement = self._agreement(obj)
        if agreement is None:
            return None
        state = selectors.signature_state(obj, agreement)
        signatures = [
            {
                "signer": s.party.name if s.party_id else s.mediator.name,
                "kind": "party" if s.party_id else "mediator",
                "version": s.version,
                "sha256": s.sha256,
                "signed_at": s.signed_at,
            }
            for s in agreement.signatures.all()
        ]
        return AgreementSerializer(
            {
                "version": agreement.version,
                "text": agreement.text,
                "sha256": agreement.content_hash,
                "created_at": agreement.created_at,
                "terms": [
                    {
                        "position": t.position,
                        "obligor": {"id": t.obligor_id, "name": t.obligor.name}
                        if t.obligor_id
                        else None,
                        "obligation": t.obligation,
                        "amount": t.amount,
                        "due_date": t.due_date,
                        "instalment": t.instalment,
                    }
                    for t in agreement.terms.all()
                ],
                "signatures": signatures,
                "fully_signed": state.complete,
            }
        ).data

    def get_choices(self, obj) -> list[dict]:
        # The centre sees every party's picks; nobody else sees the other side's.
        if not services.is_centre(self.actor, obj):
            return []
        return [
            {"party": c.party_id, "mediator": c.mediator_id, "rank": c.rank}
            for c in PartyChoice.objects.filter(party__case=obj).order_by("party_id", "rank")
        ]

    def get_me(self, obj) -> dict | None:
        party = services.acting_party(self.actor, obj)
        if party is None:
            return None
        return {
            "party": party.pk,
            "name": party.name,
            "choices": list(party.choices.order_by("rank").values_list("mediator_id", flat=True)),
            "signed_current": party.pk in self._signed(obj),
            "rated": obj.ratings.filter(party=party).exists(),
        }

    def get_available_acts(self, obj) -> list[str]:
        return services.available_acts(obj, self.actor)


class TokenInput(serializers.Serializer):
    token = serializers.CharField(required=False, help_text=gettext_lazy("a party's link token"))


class ChooseInput(TokenInput):
    mediators = serializers.ListField(
        child=IdField(),
        min_length=1,
        max_length=services.MAX_CHOICES,
        help_text=gettext_lazy("Mediator ids from the roster, first choice first."),
    )
    party = serializers.IntegerField(
        required=False, help_text=gettext_lazy("The centre entering a party's choice: its id.")
    )


class AssignInput(serializers.Serializer):
    mediator = serializers.IntegerField(
        required=False,
        help_text=gettext_lazy("The lead mediator; without it the best by dispute type."),
    )
    assisting = serializers.ListField(
        child=IdField(), required=False, default=list, max_length=services.MAX_ASSISTING
    )
    note = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)


class ScheduleInput(serializers.Serializer):
    starts_at = serializers.DateTimeField()
    place = serializers.CharField(required=False, allow_blank=True, default="", max_length=255)
    online = serializers.BooleanField(required=False, default=False)
    online_link = serializers.URLField(required=False, allow_blank=True, default="")
    participants = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=2000
    )


class RecordInput(serializers.Serializer):
    record = serializers.CharField(max_length=20000)
    session = serializers.IntegerField(required=False)
    participants = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=2000
    )
    place = serializers.CharField(required=False, allow_blank=True, default="", max_length=255)


class TermInput(serializers.Serializer):
    obligor = serializers.IntegerField(required=False, allow_null=True, default=None)
    obligation = serializers.CharField(max_length=2000)
    amount = serializers.DecimalField(
        max_digits=14, decimal_places=2, min_value=0, required=False, allow_null=True
    )
    due_date = serializers.DateField(required=False, allow_null=True)
    instalment = serializers.IntegerField(min_value=1, required=False, allow_null=True)


class AgreementInput(serializers.Serializer):
    text = serializers.CharField(required=False, allow_blank=True, default="", max_length=20000)
    terms = TermInput(many=True, required=False, max_length=services.MAX_TERMS)


class SignInput(TokenInput):
    version = serializers.IntegerField(min_value=1)
    sha256 = serializers.CharField(max_length=64)
    typed_name = serializers.CharField(max_length=100)
    code = serializers.CharField(required=False, allow_blank=True, default="", max_length=10)


class SettleInput(serializers.Serializer):
    paper_signed = serializers.BooleanField(required=False, default=False)
    attachments = serializers.ListField(
        child=IdField(),
        required=False,
        default=list,
        max_length=MAX_PER_CASE,
        help_text=gettext_lazy("Scans of the agreement signed on paper (the case's photos)."),
    )


class FailInput(serializers.Serializer):
    record = serializers.CharField(max_length=20000)
    referral = serializers.ChoiceField(choices=Referral.choices, required=False, default="")


class RateInput(TokenInput):
    score = serializers.IntegerField(min_value=1, max_value=5)
    comment = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)


class CodeSentSerializer(serializers.Serializer):
    sent_to = serializers.CharField()
    expires_at = serializers.DateTimeField()


def _mediator(pk: int | None, field: str) -> Mediator | None:
    if pk is None:
        return None
    found = Mediator.objects.select_related("organisation").filter(pk=pk).first()
    if found is None:
        raise InvalidInput(_("Unknown mediator: %(ids)s.") % {"ids": pk}, field=field)
    return found


def _assign(case, actor, d):
    assisting = [_mediator(pk, "assisting") for pk in d["assisting"]]
    return services.mediation_assign(
        case,
        actor,
        mediator=_mediator(d.get("mediator"), "mediator"),
        assisting=assisting,
        note=d["note"],
    )


def _choose(case, actor, d):
    party = None
    if d.get("party") is not None:
        party = next((p for p in case.parties.all() if p.pk == d["party"]), None)
        if party is None:
            raise InvalidInput(_("Unknown party for this mediation."), field="party")
    return services.mediation_choose(case, actor, mediator_ids=d["mediators"], party=party)


def _record(case, actor, d):
    session = None
    if d.get("session") is not None:
        session = Session.objects.filter(case=case, pk=d["session"]).first()
        if session is None:
            raise InvalidInput(_("Unknown session for this mediation."), field="session")
    return services.mediation_record(
        case,
        actor,
        record=d["record"],
        session=session,
        participants=d["participants"],
        place=d["place"],
    )


def _settle(case, actor, d):
    ids = d["attachments"]
    found = list(Attachment.objects.filter(grievance_id=case.grievance_id, pk__in=ids))
    if len(found) != len(set(ids)):
        raise InvalidInput(_("Unknown attachment for this case."), field="attachments")
    return services.mediation_settle(case, actor, paper_signed=d["paper_signed"], attachments=found)


def _sign(case, actor, d, request):
    return services.mediation_sign(
        case,
        actor,
        version=d["version"],
        sha256=d["sha256"],
        typed_name=d["typed_name"],
        code=d["code"],
        ip=request.META.get("REMOTE_ADDR"),
    )


# name -> (input serializer, call(case, actor, data, request), description)
ACTS = {
    "choose": (
        ChooseInput,
        lambda c, a, d, r: _choose(c, a, d),
        gettext_lazy("A party picks up to 3 mediators from the roster (点单)."),
    ),
    "assign": (
        AssignInput,
        lambda c, a, d, r: _assign(c, a, d),
        gettext_lazy("The centre assigns a mediator by dispute type (派单)."),
    ),
    "schedule": (
        ScheduleInput,
        lambda c, a, d, r: services.mediation_schedule(
            c,
            a,
            starts_at=d["starts_at"],
            place=d["place"],
            online=d["online"],
            online_link=d["online_link"],
            participants=d["participants"],
        ),
        gettext_lazy("Schedule a session, on site or online (云调解)."),
    ),
    "record": (
        RecordInput,
        lambda c, a, d, r: _record(c, a, d),
        gettext_lazy("Write a session's record (调解笔录)."),
    ),
    "agreement": (
        AgreementInput,
        lambda c, a, d, r: services.mediation_agreement(
            c, a, text=d["text"], terms=d.get("terms", [])
        ),
        gettext_lazy("A new version of the agreement: terms and text."),
    ),
    "sign": (
        SignInput,
        lambda c, a, d, r: _sign(c, a, d, r),
        gettext_lazy("Sign the current version (a party needs the code sent by SMS)."),
    ),
    "settle": (
        SettleInput,
        lambda c, a, d, r: _settle(c, a, d),
        gettext_lazy("Settle on the current agreement (signed online, or on paper with scans)."),
    ),
    "fail": (
        FailInput,
        lambda c, a, d, r: services.mediation_fail(
            c, a, record=d["record"], referral=d["referral"]
        ),
        gettext_lazy("The mediation failed: back to the centre (诉调对接)."),
    ),
    "rate": (
        RateInput,
        lambda c, a, d, r: services.mediation_rate(c, a, score=d["score"], comment=d["comment"]),
        gettext_lazy("A party rates the mediator once (评单)."),
    ),
}

ACT_RESPONSES = {
    400: OpenApiResponse(description='field errors, e.g. {"code": ["…"]}'),
    403: OpenApiResponse(description="your role may not do this"),
    404: OpenApiResponse(description="no such mediation case in your scope, or a bad link"),
    409: OpenApiResponse(description='{"detail", "state"}: not possible in this status'),
}


class MediationCaseViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Mediation cases: the centre's staff, the mediators and the parties (logged in, or
    through their link)."""

    permission_classes = [AllowAny]
    throttle_classes = [LinkThrottle]
    serializer_class = MediationCaseSerializer
    filterset_fields = ["status"]

    def _base(self):
        return MediationCase.objects.select_related(
            "grievance__category", "grievance__region", "grievance__owning_centre", "org"
        ).prefetch_related(
            "parties",
            "sessions",
            Prefetch(
                "appointments",
                queryset=CaseMediator.objects.select_related(
                    "mediator__organisation", "mediator__user"
                ),
            ),
        )

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return MediationCase.objects.none()
        return selectors.mediation_cases_for(self.request.user, self._base())

    def get_serializer_class(self):
        return MediationCaseListSerializer if self.action == "list" else MediationCaseSerializer

    def _token(self, request) -> str | None:
        token = request.query_params.get("token")
        if not token and request.method == "POST" and hasattr(request.data, "get"):
            token = request.data.get("token")
        return token or None

    def _case_and_actor(self, request, pk) -> tuple[MediationCase, Actor]:
        try:
            case_id = int(pk)
        except (TypeError, ValueError):
            raise NotFound() from None
        token = self._token(request)
        if token:
            party = tokens.party_from_token(token, case_id)
            if party is None:
                if tokens.miss_over_limit(request):
                    raise Throttled(wait=3600)
                raise NotFound()
            case = self._base().get(pk=case_id)
            # The party row of the prefetched case, so checks and the view see the same rows.
            party = next(p for p in case.parties.all() if p.pk == party.pk)
            return case, Actor(party=party)
        case = get_object_or_404(self.get_queryset(), pk=case_id)
        return case, Actor.of(request.user)

    def _detail(self, case_id: int, actor: Actor) -> Response:
        case = self._base().get(pk=case_id)
        if actor.party is not None:
            party = next(p for p in case.parties.all() if p.pk == actor.party.pk)
            actor = Actor(party=party)
        return Response(MediationCaseSerializer(case, context={"actor": actor}).data)

    def list(self, request, *args, **kwargs):
        """The mediation cases the caller sees (logged in)."""
        if not request.user.is_authenticated:
            raise NotAuthenticated()
        return super().list(request, *args, **kwargs)

    @extend_schema(parameters=[TOKEN_PARAM])
    def retrieve(self, request, pk=None):
        """One mediation case (a party may use their link's token)."""
        case, actor = self._case_and_actor(request, pk)
        return self._detail(case.pk, actor)

    def _act(self, request, pk, name: str):
        case, actor = self._case_and_actor(request, pk)
        input_class, call, _doc = ACTS[name]
        try:
            services.check(name, case, actor)
        except CaseError as exc:
            return error_response(exc)
        data = input_class(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            call(case, actor, data.validated_data, request)
        except CaseError as exc:
            return error_response(exc)
        return self._detail(case.pk, actor)

    @extend_schema(
        request=TokenInput,
        parameters=[TOKEN_PARAM],
        responses={200: CodeSentSerializer, **ACT_RESPONSES},
        operation_id="mediation_cases_send_code",
    )
    @action(detail=True, methods=["post"], url_path="send_code")
    def send_code(self, request, pk=None):
        """A party asks for the one-time code to sign, sent by SMS (valid 10 minutes)."""
        case, actor = self._case_and_actor(request, pk)
        try:
            services.check("send_code", case, actor)
            otp = services.mediation_send_code(case, actor)
        except CaseError as exc:
            return error_response(exc)
        return Response(
            CodeSentSerializer({"sent_to": otp.sent_to, "expires_at": otp.expires_at}).data
        )


def _make_act(name: str, input_class, doc):
    def act(self, request, pk=None):
        return self._act(request, pk, name)

    act.__name__ = f"act_{name}"
    act.__doc__ = str(doc)
    act = extend_schema(
        request=input_class,
        parameters=[TOKEN_PARAM],
        responses={200: MediationCaseSerializer, **ACT_RESPONSES},
        operation_id=f"mediation_cases_{name}",
    )(act)
    return action(detail=True, methods=["post"], url_path=name, url_name=name)(act)


for _name, (_input, _call, _doc) in ACTS.items():
    setattr(MediationCaseViewSet, f"act_{_name}", _make_act(_name, _input, _doc))
