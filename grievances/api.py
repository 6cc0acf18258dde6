"""The case API: categories, cases and every move and act, public intake and tracking.

Checks on an act run in this order: 404 outside the caller's scope (the scoped queryset),
403 wrong role, 409 wrong state, 400 field errors.
"""

from __future__ import annotations

from datetime import UTC

from django import forms
from django.conf import settings
from django.core.validators import MaxLengthValidator, RegexValidator
from django.db import transaction
from django.db.models import Prefetch, Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django_filters import rest_framework as filters
from django_filters.fields import IsoDateTimeField
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
)
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, Throttled
from rest_framework.parsers import MultiPartParser
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from grids import limits
from grids.api import LocateQuerySerializer, RegionRefSerializer
from grids.api_input import CursorPages, IdField
from grids.limits import WindowThrottle
from grids.models import Region
from grievances import idempotency, intake, selectors, services, triage
from grievances import ratings as ratings_module
from grievances.attachments import MAX_PER_CASE, UploadError, save_upload
from grievances.etags import CaseVersionMixin
from grievances.forms import PHONE_RE
from grievances.labels import shown
from grievances.models import (
    EXTERNAL_SOURCES,
    Attachment,
    CaseEvent,
    Category,
    Complainant,
    Complexity,
    Grievance,
    HandlingLevel,
    Rating,
    RejectReason,
    RequestType,
    Source,
    State,
    Urgency,
    normalize_tracking_code,
)
from grievances.privacy import mask_id, mask_phone
from grievances.scoping import cases_for

# What one request may carry besides photos (MAX_PER_CASE) and complainants (the setting
# MAX_COMPLAINANTS): one lead and its assisting departments, and the parties of a dispute.
MAX_DEPARTMENTS = 20
# Another system's name for itself, and its ticket numbers (any characters but spaces).
EXTERNAL_SYSTEM_RE = r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$"
EXTERNAL_ID_RE = r"^[^\s\x00-\x1f\x7f]+$"
MAX_PARTIES = 30

# --- Errors ------------------------------------------------------------------------------------


def error_response(exc: services.CaseError) -> Response:
    if isinstance(exc, services.WrongState):
        return Response({"detail": exc.message, "state": exc.state}, status=409)
    if isinstance(exc, services.NotAllowed):
        return Response({"detail": exc.message}, status=403)
    # InvalidInput: 400; an idempotency key used for another report: 422.
    return Response({exc.field or "non_field_errors": exc.message.split("\n")}, status=exc.status)


# --- Serializers ------------------------------------------------------------------------------


class ComplainantSerializer(serializers.ModelSerializer):
    phone = serializers.SerializerMethodField()
    id_number = serializers.SerializerMethodField()

    class Meta:
        model = Complainant
        fields = ["name", "phone", "id_number", "is_reporter"]

    def _full(self) -> bool:
        return bool(self.context.get("show_personal"))

    def get_phone(self, obj) -> str:
        return obj.phone if self._full() else mask_phone(obj.phone)

    def get_id_number(self, obj) -> str:
        if not obj.id_number:
            return ""
        return obj.id_number if self._full() else mask_id(obj.id_number)


class AttachmentSerializer(serializers.ModelSerializer):
    url = serializers.SerializerMethodField()

    class Meta:
        model = Attachment
        fields = ["id", "original_name", "content_type", "size", "public", "url", "created_at"]

    def get_url(self, obj) -> str:
        return f"/cases/attachments/{obj.pk}/"


class EventSerializer(serializers.ModelSerializer):
    actor = serializers.SerializerMethodField()
    actor_label = serializers.SerializerMethodField()
    attachments = serializers.SerializerMethodField()

    class Meta:
        model = CaseEvent
        fields = [
            "id",
            "action",
            "actor",
            "actor_label",
            "from_state",
            "to_state",
            "note",
            "public",
            "data",
            "created_at",
            "attachments",
        ]

    def get_actor_label(self, obj) -> str:
        """For whom the actor acted, in the request's language."""
        return shown(obj.actor_label)

    def get_actor(self, obj) -> str | None:
        return str(obj.actor) if obj.actor_id else None

    def get_attachments(self, obj) -> list[int]:
        return [a.pk for a in obj.attachments.all()]


def _blank(field):
    """The empty value of a field withheld from a reporter, of the field's own type (the
    schema holds either way)."""
    if field.allow_null:
        return None
    if isinstance(field, serializers.ListField | serializers.ListSerializer):
        return []
    if isinstance(field, serializers.BooleanField):
        return False
    if isinstance(field, serializers.IntegerField):
        return 0
    return ""


class ReporterListSerializer(serializers.ListSerializer):
    """Finds, with one query for the page, the rows the caller sees only as their reporter."""

    def to_representation(self, data):
        rows = list(data.all() if hasattr(data, "all") else data)
        user = self.context["request"].user
        self.child.reporter_only_ids = selectors.reporter_only_ids(user, rows)
        return [self.child.to_representation(row) for row in rows]


class GrievanceListSerializer(serializers.ModelSerializer):
    category = serializers.CharField(source="category.code")
    category_name = serializers.CharField(source="category.name")
    region = RegionRefSerializer()
    owning_centre = RegionRefSerializer()
    state_label = serializers.CharField(source="get_state_display")
    tracking_code = serializers.CharField(source="display_code")
    risk_flags = serializers.ListField(child=serializers.CharField())
    is_overdue = serializers.BooleanField()

    class Meta:
        model = Grievance
        fields = [
            "id",
            "tracking_code",
            "title",
            "category",
            "category_name",
            "urgency",
            "state",
            "state_label",
            "region",
            "owning_centre",
            "source",
            "request_type",
            "external_system",
            "external_id",
            "risk_flags",
            "priority",
            "report_in_due_at",
            "handle_due_at",
            "suspended_at",
            "is_overdue",
            "created_at",
        ]
        list_serializer_class = ReporterListSerializer

    # What a resident who reported with an account (and holds no role over the case) reads
    # of it: what public tracking shows, and what they gave themselves. A whitelist: every
    # other field (a new one too) is blanked for them, its key kept.
    REPORTER_FIELDS = frozenset(
        {
            "id",
            "tracking_code",
            "title",
            "category",
            "category_name",
            "urgency",
            "state",
            "state_label",
            "region",
            "owning_centre",
            "source",
            "request_type",
            "handle_due_at",
            "suspended_at",
            "is_overdue",
            "created_at",
        }
    )

    def _reporter_only(self, obj) -> bool:
        user = self.context["request"].user
        ids = getattr(self, "reporter_only_ids", None)
        if ids is None:  # one case, not a page of them
            return selectors.reporter_only(user, obj)
        return obj.pk in ids

    def to_representation(self, obj):
        data = super().to_representation(obj)
        if self._reporter_only(obj):
            data = self.as_tracked(obj, data)
        return data

    def as_tracked(self, obj, data: dict) -> dict:
        for name, field in self.fields.items():
            if name not in self.REPORTER_FIELDS:
                data[name] = _blank(field)
        return data


class RatingSerializer(serializers.Serializer):
    """One complainant's rating."""

    score = serializers.IntegerField()
    resolved = serializers.BooleanField()
    comment = serializers.CharField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class ComplainantRatingSerializer(RatingSerializer):
    """A rating as the staff read it: whose it is (the complainant's name, or null for the
    reporting account's own rating on a case that names no complainant)."""

    complainant = serializers.CharField(source="complainant.name", default=None, allow_null=True)


class RatingSummarySerializer(serializers.Serializer):
    """The case's ratings taken together (grievances.ratings.summary): the mean of the
    complainants' scores, resolved when every one of them says so."""

    score = serializers.FloatField()
    resolved = serializers.BooleanField()
    count = serializers.IntegerField()
    created_at = serializers.DateTimeField(source="first_at")


class GrievanceDetailSerializer(GrievanceListSerializer):
    complainants = serializers.SerializerMethodField()
    events = serializers.SerializerMethodField()
    attachments = AttachmentSerializer(many=True)
    available_transitions = serializers.SerializerMethodField()
    durations = serializers.SerializerMethodField()
    rating = serializers.SerializerMethodField()
    ratings = serializers.SerializerMethodField()
    handler_region = RegionRefSerializer(allow_null=True)
    duplicate_of = serializers.CharField(
        source="duplicate_of.display_code", default=None, allow_null=True
    )

    class Meta(GrievanceListSerializer.Meta):
        fields = [
            *GrievanceListSerializer.Meta.fields,
            "description",
            "suggested_urgency",
            "lng",
            "lat",
            "address",
            "complexity",
            "handling_level",
            "handler_region",
            "result",
            "reject_reason_code",
            "reject_reason",
            "duplicate_of",
            "urge_count",
            "supervise_count",
            "return_count",
            "redo_count",
            "escalation_count",
            "extension_requested_days",
            "extension_reason",
            "accepted_at",
            "dispatched_at",
            "reported_in_at",
            "handled_at",
            "closed_at",
            "complainants",
            "attachments",
            "events",
            "durations",
            "rating",
            "ratings",
            "available_transitions",
        ]

    def get_complainants(self, obj) -> list[dict]:
        user = self.context["request"].user
        show = selectors.may_see_personal_data(user, obj)
        return ComplainantSerializer(
            obj.complainants.all(), many=True, context={"show_personal": show}
        ).data

    def get_events(self, obj) -> list[dict]:
        return EventSerializer(obj.events.all(), many=True).data

    def get_available_transitions(self, obj) -> list[str]:
        return services.available_acts(obj, self.context["request"].user)

    def get_durations(self, obj) -> dict:
        return selectors.durations(obj)

    @extend_schema_field(RatingSummarySerializer(allow_null=True))
    def get_rating(self, obj) -> dict | None:
        return self._summary(obj.ratings.all())

    @staticmethod
    def _summary(ratings) -> dict | None:
        summary = ratings_module.summary_of(ratings)
        if summary is None:
            return None
        return {**RatingSummarySerializer(summary).data, "score": round(summary.score, 2)}

    @extend_schema_field(ComplainantRatingSerializer(many=True))
    def get_ratings(self, obj) -> list[dict]:
        return ComplainantRatingSerializer(obj.ratings.all(), many=True).data

    REPORTER_FIELDS = GrievanceListSerializer.REPORTER_FIELDS | {
        # What they reported.
        "description",
        "lng",
        "lat",
        "address",
        "complainants",
        # Dates of the public timeline's steps, and the spans between them.
        "accepted_at",
        "dispatched_at",
        "reported_in_at",
        "handled_at",
        "closed_at",
        "durations",
        # Their own urges and rating, and the acts they have.
        "urge_count",
        "rating",
        "ratings",
        "available_transitions",
        # Shown in their tracking form below.
        "result",
        "reject_reason_code",
        "reject_reason",
        "attachments",
        "events",
    }

    def as_tracked(self, obj, data: dict) -> dict:
        # A resident with an account reads their case as public tracking shows it: the
        # public events without staff names or withheld notes, and the outcome only.
        data = super().as_tracked(obj, data)
        events = {e.pk: e for e in obj.events.all()}
        timeline = [
            selectors.public_event(e) for e in events.values() if selectors.publicly_shown(e)
        ]
        shown = {e.pk: e for e in timeline}
        data["events"] = [
            {
                **event,
                "actor": None,
                "actor_label": "",
                "note": shown[event["id"]].note,
                "data": shown[event["id"]].data,
                "attachments": [a.pk for a in events[event["id"]].attachments.all() if a.public],
            }
            for event in data["events"]
            if event["id"] in shown
        ]
        data["result"] = selectors.public_result(obj, timeline)
        if obj.state != State.REJECTED:
            data["reject_reason_code"] = data["reject_reason"] = ""
        data["attachments"] = [a for a in data["attachments"] if a["public"]]
        # Their own entry, not the other parties', and their own rating only.
        data["complainants"] = [c for c in data["complainants"] if c["is_reporter"]]
        own = [
            r for r in obj.ratings.all() if r.complainant_id is None or r.complainant.is_reporter
        ]
        data["ratings"] = ComplainantRatingSerializer(own, many=True).data
        data["rating"] = self._summary(own)
        return data


class ComplainantInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    phone = serializers.RegexField(
        r"^\+?[0-9\- ]{5,20}$",
        max_length=20,
        required=False,
        allow_blank=True,
        default="",
        error_messages={"invalid": gettext_lazy("Enter a phone number of digits.")},
    )
    id_number = serializers.RegexField(
        r"^[0-9]{17}[0-9Xx]$",
        required=False,
        allow_blank=True,
        default="",
        error_messages={"invalid": gettext_lazy("An ID number has 18 characters.")},
    )


class GrievanceCreateSerializer(serializers.Serializer):
    title = serializers.CharField(max_length=200)
    description = serializers.CharField(max_length=5000)
    category = serializers.SlugRelatedField(
        slug_field="code", queryset=Category.objects.filter(active=True)
    )
    urgency = serializers.ChoiceField(choices=Urgency.choices, required=False)
    lng = serializers.FloatField(min_value=-180, max_value=180, required=False)
    lat = serializers.FloatField(min_value=-90, max_value=90, required=False)
    region = serializers.SlugRelatedField(
        slug_field="code", queryset=Region.objects.all(), required=False
    )
    address = serializers.CharField(max_length=255, required=False, allow_blank=True, default="")
    source = serializers.ChoiceField(choices=Source.choices, required=False)
    request_type = serializers.ChoiceField(choices=RequestType.choices, required=False)
    complainants = ComplainantInputSerializer(
        many=True,
        required=False,
        max_length=settings.MAX_COMPLAINANTS,
    )
    risk_petition = serializers.BooleanField(required=False, default=False)
    risk_extreme = serializers.BooleanField(required=False, default=False)
    risk_group = serializers.BooleanField(required=False, default=False)
    settled_note = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        help_text=gettext_lazy("A grid worker's report already settled on the spot."),
    )
    photos = serializers.ListField(
        child=serializers.FileField(), required=False, max_length=MAX_PER_CASE
    )
    external_system = serializers.RegexField(
        EXTERNAL_SYSTEM_RE,
        max_length=40,
        required=False,
        allow_blank=True,
        help_text=gettext_lazy(
            "The other system a transferred case comes from; by default the source's "
            "(12345, mayor_mailbox, petition)."
        ),
        error_messages={
            "invalid": gettext_lazy("Name the system in letters, digits, “_”, “.” or “-”.")
        },
    )
    external_id = serializers.RegexField(
        EXTERNAL_ID_RE,
        max_length=64,
        required=False,
        allow_blank=True,
        help_text=gettext_lazy(
            "The case's ticket number in that system: a transfer sent again with it answers "
            "200 with the case it made."
        ),
        error_messages={"invalid": gettext_lazy("A ticket number has no spaces.")},
    )

    def validate(self, attrs):
        ticket_fields(attrs, attrs.get("source", ""))
        has_point = "lng" in attrs or "lat" in attrs
        if has_point and ("lng" not in attrs or "lat" not in attrs):
            missing = "lat" if "lng" in attrs else "lng"
            raise serializers.ValidationError({missing: [_("Give both longitude and latitude.")]})
        if not has_point and "region" not in attrs:
            raise serializers.ValidationError(
                {"region": [_("Give a map point (lng, lat) or a region code.")]}
            )
        return attrs


def ticket_fields(attrs: dict, source: str) -> None:
    """The ticket of another system (external_id) with its system: the one named, else the
    source's (EXTERNAL_SOURCES). Each needs the other."""
    ticket = attrs.pop("external_id", "") or ""
    system = attrs.pop("external_system", "") or ""
    if ticket:
        system = system or EXTERNAL_SOURCES.get(source, "")
        if not system:
            raise serializers.ValidationError(
                {
                    "external_system": [
                        _(
                            "Name the system the ticket number comes from, or send the "
                            "source it comes from (12345, the mayor's mailbox, the "
                            "petition office)."
                        )
                    ]
                }
            )
        attrs["external_id"], attrs["external_system"] = ticket, system
    elif system:
        raise serializers.ValidationError(
            {"external_id": [_("Give the ticket number of that system.")]}
        )


class ActiveCategoryField(serializers.SlugRelatedField):
    """A category by its code, from the in-memory list of active ones (no query)."""

    def __init__(self, **kwargs):
        super().__init__(slug_field="code", queryset=Category.objects.filter(active=True), **kwargs)

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        category = intake.active_category(data)
        if category is None:
            self.fail("does_not_exist", slug_name=self.slug_field, value=data)
        return category


class SharedFieldsMixin:
    """Fields built and bound once per process, for a serializer validated on every request
    of a hot path: DRF deep-copies each declared field for every instance, which cost more
    than the validation itself. Only for input validated without context or partial updates:
    validation keeps no state in the fields."""

    @property
    def fields(self):
        cls = type(self)
        shared = cls.__dict__.get("_shared_fields")
        if shared is None:
            # The fields as DRF builds them, bound to a prototype instance.
            shared = serializers.Serializer.fields.func(cls())
            cls._shared_fields = shared
        return shared

    @classmethod
    def validated(cls, data) -> dict:
        """`validated_data`, or the ValidationError `is_valid(raise_exception=True)` raises.

        A JSON object is first validated by each field's own `run_validation` (and the
        serializer's `validate`), without the serializer's per-request plumbing, which cost
        more than the fields' checks. Anything that step does not take as valid (an error,
        form data, a serializer with per-field hooks) goes through DRF as usual, so errors
        read as they always did and what is accepted is what DRF accepts."""
        if type(data) is dict:
            prototype = cls._prototype()
            if prototype is not None:
                try:
                    return _run_plainly(prototype, data)
                except Exception:  # noqa: BLE001 - DRF decides, and words the errors
                    pass
        serializer = cls(data=data)
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data

    @classmethod
    def _prototype(cls):
        if "_plain" not in cls.__dict__:
            prototype = cls()
            cls._plain = prototype if _plainly_runnable(prototype) else None
        return cls._plain


def _plainly_runnable(serializer: serializers.Serializer) -> bool:
    """Whether validating `serializer` is only its fields' run_validation, set under their
    own names, then `validate`: no per-field hooks, sources or serializer validators."""
    if serializer.validators:
        return False
    for name, field in serializer.fields.items():
        if field.read_only:
            continue
        if field.source != name or hasattr(serializer, f"validate_{name}"):
            return False
        if isinstance(field, serializers.ListSerializer):
            if not isinstance(field.child, serializers.Serializer):
                return False
            if field.validators or type(field).validate is not serializers.ListSerializer.validate:
                return False
            if not _plainly_runnable(field.child):
                return False
        elif isinstance(field, serializers.BaseSerializer):
            return False
    return True


def _run_plainly(serializer: serializers.Serializer, data: dict) -> dict:
    """What DRF's Serializer.run_validation returns for the JSON object `data` (raising on
    anything it would refuse), for a serializer `_plainly_runnable` allows."""
    if type(data) is not dict:
        raise TypeError("not a JSON object")
    attrs = {}
    for name, field in serializer.fields.items():
        if field.read_only:
            continue
        value = data.get(name, serializers.empty)
        if isinstance(field, serializers.ListSerializer) and value is not serializers.empty:
            if type(value) is not list or not value and not field.allow_empty:
                raise TypeError("not a list DRF would take")
            if field.max_length is not None and len(value) > field.max_length:
                raise TypeError("too long")
            if field.min_length is not None and len(value) < field.min_length:
                raise TypeError("too short")
            attrs[name] = [_run_plainly(field.child, item) for item in value]
            continue
        try:
            validated = field.run_validation(value)
        except serializers.SkipField:
            continue
        attrs[name] = validated
    return serializer.validate(attrs)


class PublicGrievanceCreateSerializer(SharedFieldsMixin, GrievanceCreateSerializer):
    category = ActiveCategoryField()
    settled_note = None
    source = None
    external_system = None
    external_id = None


class TrackedSerializer(serializers.Serializer):
    tracking_code = serializers.CharField()
    title = serializers.CharField()


# --- Filters ------------------------------------------------------------------------------------


class UtcIsoDateTimeField(IsoDateTimeField):
    """An ISO 8601 instant, sent to the database in UTC: PostgreSQL refuses an offset past
    ±15:59 (a 500 for ?created_after=2026-05-10T10:30:13+23:37), which ISO 8601 allows."""

    def to_python(self, value):
        value = super().to_python(value)
        if value is None:
            return None
        try:
            return value.astimezone(UTC)
        except OverflowError:  # the first or last day of year 1 or 9999, moved past it
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid") from None


class UtcDateTimeFilter(filters.IsoDateTimeFilter):
    field_class = UtcIsoDateTimeField


class GrievanceFilter(filters.FilterSet):
    state = filters.MultipleChoiceFilter(choices=State.choices)
    category = filters.CharFilter(method="filter_category", label=gettext_lazy("category code"))
    region = filters.CharFilter(method="filter_region", label=gettext_lazy("region code (subtree)"))
    overdue = filters.BooleanFilter(method="filter_overdue")
    source = filters.MultipleChoiceFilter(choices=Source.choices)
    request_type = filters.MultipleChoiceFilter(choices=RequestType.choices)
    extension_pending = filters.BooleanFilter(
        method="filter_extension_pending",
        label=gettext_lazy("an extension request (延期申请) waits for the centre"),
    )
    urgency = filters.MultipleChoiceFilter(choices=Urgency.choices)
    risk = filters.MultipleChoiceFilter(
        method="filter_risk",
        choices=[("petition", "petition"), ("extreme", "extreme"), ("group", "group")],
    )
    created_after = UtcDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = UtcDateTimeFilter(field_name="created_at", lookup_expr="lt")
    q = filters.CharFilter(method="filter_text", label=gettext_lazy("text search"))
    phone = filters.CharFilter(
        method="filter_phone",
        label=gettext_lazy("a complainant's phone: a caller's earlier cases (rate-limited)"),
        validators=[
            RegexValidator(PHONE_RE, gettext_lazy("Enter a phone number of digits.")),
            MaxLengthValidator(20),
        ],
    )

    class Meta:
        model = Grievance
        fields = ["state", "source", "urgency"]

    def filter_category(self, qs, name, value):
        category = Category.objects.filter(code=value).first()
        if category is None:
            return qs.none()
        return qs.filter(category__in=category.get_descendants(include_self=True))

    def filter_region(self, qs, name, value):
        region = Region.objects.filter(code=value).first()
        if region is None:
            return qs.none()
        return qs.filter(**{f"{region.level}_id": region.pk})

    def filter_overdue(self, qs, name, value):
        overdue = selectors.overdue_q(timezone.now())
        return qs.filter(overdue) if value else qs.exclude(overdue)

    def filter_extension_pending(self, qs, name, value):
        pending = Q(extension_requested_days__isnull=False)
        return qs.filter(pending) if value else qs.exclude(pending)

    def filter_risk(self, qs, name, values):
        q = Q()
        for flag in values:
            q |= Q(**{f"risk_{flag}": True})
        return qs.filter(q)

    def filter_phone(self, qs, name, value):
        # Counted per user: a list by phone is how numbers would be tried one by one.
        user = getattr(self.request, "user", None)
        if limits.over_scope_limit(selectors.CALLER_HISTORY, f"user:{getattr(user, 'pk', None)}"):
            raise Throttled(wait=limits.scope_wait(selectors.CALLER_HISTORY))
        return selectors.cases_with_phone(qs, value)

    def filter_text(self, qs, name, value):
        code = normalize_tracking_code(value)
        return qs.filter(
            Q(title__icontains=value)
            | Q(description__icontains=value)
            | Q(address__icontains=value)
            | Q(tracking_code=code)
            | Q(external_id=value.strip())  # another system's ticket number
        )


class UploadInput(serializers.Serializer):
    photos = serializers.ListField(
        child=serializers.FileField(), min_length=1, max_length=MAX_PER_CASE
    )
    public = serializers.BooleanField(required=False, default=False)


class CasePagination(CursorPages):
    page_size = 25
    max_page_size = 100
    ordering = ("-created_at", "-id")


# --- Act input serializers ------------------------------------------------------------------------


class NoteInput(serializers.Serializer):
    note = serializers.CharField(required=False, allow_blank=True, default="", max_length=5000)


class ReasonInput(serializers.Serializer):
    reason = serializers.CharField(max_length=5000)


class OptionalReasonInput(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=5000)


class AcceptInput(NoteInput):
    complexity = serializers.ChoiceField(choices=Complexity.choices, required=False)
    handling_level = serializers.ChoiceField(
        choices=[*HandlingLevel.choices, (services.BY_COMPLEXITY, "by complexity")],
        required=False,
        help_text=gettext_lazy(
            "by_complexity: simple → village, complex → township, difficult → county; "
            "omitted: the routing rule's proposal."
        ),
    )
    urgency = serializers.ChoiceField(
        choices=Urgency.choices,
        required=False,
        help_text=gettext_lazy("The urgency the deadlines follow (omitted: the case's)."),
    )


class RejectInput(serializers.Serializer):
    reason_code = serializers.ChoiceField(choices=RejectReason.choices)
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=5000)
    duplicate_of = serializers.CharField(
        required=False,
        max_length=40,
        help_text=gettext_lazy("tracking code or id of the original case"),
    )


class DispatchInput(NoteInput):
    departments = serializers.ListField(
        child=IdField(),
        required=False,
        max_length=MAX_DEPARTMENTS,
        help_text=gettext_lazy("Department ids, the lead first (吹哨 to departments)."),
    )
    proposed = serializers.BooleanField(
        required=False, default=False, help_text=gettext_lazy("Take the routing rule's proposal.")
    )
    to_region = serializers.SlugRelatedField(
        slug_field="code",
        queryset=Region.objects.all(),
        required=False,
        help_text=gettext_lazy("A grid or village code, for handling on the spot."),
    )

    def validate(self, attrs):
        chosen = [bool(attrs.get("departments")), attrs.get("proposed"), "to_region" in attrs]
        if sum(bool(c) for c in chosen) != 1:
            raise serializers.ValidationError(
                {"departments": [_("Give departments, proposed: true, or to_region.")]}
            )
        return attrs


def _dispatch(case, user, data):
    if data.get("departments") or data.get("proposed"):
        if services.department_dispatch is None:
            raise services.InvalidInput(_("Departments are not available."), field="departments")
        return services.department_dispatch(
            case,
            user,
            department_ids=data.get("departments") or [],
            proposed=data.get("proposed", False),
            instructions=data["note"],
        )
    return services.grievance_dispatch(
        case, user, to_region=data.get("to_region"), note=data["note"]
    )


class AttachmentIdsMixin(serializers.Serializer):
    attachments = serializers.ListField(
        child=IdField(), required=False, default=list, max_length=MAX_PER_CASE
    )


class HandleInput(AttachmentIdsMixin):
    result = serializers.CharField(max_length=5000)
    note = serializers.CharField(required=False, allow_blank=True, default="")


class AnswerInput(NoteInput):
    answer = serializers.CharField(max_length=5000)


class ExtendInput(serializers.Serializer):
    days = serializers.IntegerField(min_value=1, max_value=60, required=False)
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)
    approve = serializers.BooleanField(required=False, allow_null=True, default=None)


class ProgressNoteInput(AttachmentIdsMixin):
    note = serializers.CharField(max_length=5000)
    public = serializers.BooleanField(required=False, default=False)


class MediatePartyInput(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    phone = serializers.RegexField(
        r"^\+?[0-9\- ]{5,20}$",
        max_length=20,
        required=False,
        allow_blank=True,
        default="",
        error_messages={"invalid": gettext_lazy("Enter a phone number of digits.")},
    )
    id_number = serializers.RegexField(
        r"^[0-9]{17}[0-9Xx]$",
        required=False,
        allow_blank=True,
        default="",
        error_messages={"invalid": gettext_lazy("An ID number has 18 characters.")},
    )
    household = serializers.CharField(
        max_length=50,
        required=False,
        allow_blank=True,
        default="",
        help_text=gettext_lazy("Household number (户号), for the recusal rule."),
    )
    work_unit = serializers.CharField(max_length=120, required=False, allow_blank=True, default="")
    user = IdField(
        required=False, allow_null=True, default=None, help_text=gettext_lazy("Account id.")
    )


class MediateInput(NoteInput):
    """Without parties the case only goes to mediating; with them (two or more) the
    mediation app opens its mediation case, each party with a personal link."""

    parties = MediatePartyInput(many=True, required=False, max_length=MAX_PARTIES)
    choice_days = serializers.IntegerField(
        min_value=0,
        max_value=30,
        required=False,
        help_text=gettext_lazy(
            "Working days the parties have to choose from the roster (0: the centre assigns)."
        ),
    )


def _mediate(case, user, data):
    if not data.get("parties"):
        if services.mediation_opener is not None:
            # Without its parties a mediation could never be chosen, signed or ended.
            raise services.InvalidInput(
                _("Name the parties of the dispute (at least two)."), field="parties"
            )
        return services.grievance_mediate(case, user, note=data["note"])
    if services.mediation_opener is None:
        raise services.InvalidInput(_("Mediation is not available."), field="parties")
    return services.mediation_opener(
        case,
        user,
        note=data["note"],
        parties=data["parties"],
        choice_days=data.get("choice_days"),
    )


def _attachments(case, ids):
    found = list(Attachment.objects.filter(grievance=case, pk__in=ids))
    if len(found) != len(set(ids)):
        raise services.InvalidInput(_("Unknown attachment for this case."), field="attachments")
    return found


def _duplicate_of(case, user, ref):
    if not ref:
        return None
    qs = cases_for(user, as_reporter=False)
    code = normalize_tracking_code(str(ref))
    found = qs.filter(tracking_code=code).first()
    if found is None and str(ref).isascii() and str(ref).isdigit():
        found = qs.filter(pk=int(ref)).first()
    if found is None:
        raise services.InvalidInput(_("No such case in your area."), field="duplicate_of")
    return found


# name -> (input serializer, call(case, user, data))
ACTS = {
    "accept": (
        AcceptInput,
        lambda c, u, d: services.grievance_accept(
            c,
            u,
            complexity=d.get("complexity", ""),
            handling_level=d.get("handling_level", ""),
            urgency=d.get("urgency", ""),
            note=d["note"],
        ),
    ),
    "reject": (
        RejectInput,
        lambda c, u, d: services.grievance_reject(
            c,
            u,
            reason_code=d["reason_code"],
            reason=d["reason"],
            duplicate_of=_duplicate_of(c, u, d.get("duplicate_of")),
        ),
    ),
    "triage": (triage.TriageInput, triage.run),
    "dispatch": (DispatchInput, _dispatch),
    "report_in": (NoteInput, lambda c, u, d: services.grievance_report_in(c, u, note=d["note"])),
    "return": (ReasonInput, lambda c, u, d: services.grievance_return(c, u, reason=d["reason"])),
    "handle": (
        HandleInput,
        lambda c, u, d: services.grievance_handle(
            c, u, result=d["result"], note=d["note"], attachments=_attachments(c, d["attachments"])
        ),
    ),
    "answer": (
        AnswerInput,
        lambda c, u, d: services.grievance_answer(c, u, answer=d["answer"], note=d["note"]),
    ),
    "redo": (ReasonInput, lambda c, u, d: services.grievance_redo(c, u, reason=d["reason"])),
    "verify": (NoteInput, lambda c, u, d: services.grievance_verify(c, u, note=d["note"])),
    "reopen": (ReasonInput, lambda c, u, d: services.grievance_reopen(c, u, reason=d["reason"])),
    "escalate": (
        ReasonInput,
        lambda c, u, d: services.grievance_escalate(c, u, reason=d["reason"]),
    ),
    "withdraw": (
        OptionalReasonInput,
        lambda c, u, d: services.grievance_withdraw(c, u, reason=d["reason"]),
    ),
    "mediate": (MediateInput, _mediate),
    "suspend": (ReasonInput, lambda c, u, d: services.grievance_suspend(c, u, reason=d["reason"])),
    "resume": (NoteInput, lambda c, u, d: services.grievance_resume(c, u, note=d["note"])),
    "extend": (
        ExtendInput,
        lambda c, u, d: services.grievance_extend(
            c, u, days=d.get("days"), reason=d["reason"], approve=d.get("approve")
        ),
    ),
    "urge": (NoteInput, lambda c, u, d: services.grievance_urge(c, u, note=d["note"])),
    "supervise": (NoteInput, lambda c, u, d: services.grievance_supervise(c, u, note=d["note"])),
    "note": (
        ProgressNoteInput,
        lambda c, u, d: services.grievance_note(
            c, u, note=d["note"], public=d["public"], attachments=_attachments(c, d["attachments"])
        ),
    ),
}


IDEMPOTENCY_KEY = OpenApiParameter(
    idempotency.HEADER,
    OpenApiTypes.UUID,
    OpenApiParameter.HEADER,
    required=False,
    description="A UUID the client makes per report and sends with every try of it: a "
    "repeat answers 200 with the first answer's case instead of making a second one; the "
    "same key with a different report answers 422. Without an account the key alone "
    "scopes it; signed in, it is yours. Kept as long as the case.",
)


class GrievanceViewSet(
    CaseVersionMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet,
):
    """Cases in the caller's scope, and every move and act on them."""

    permission_classes = [IsAuthenticated]
    filterset_class = GrievanceFilter
    pagination_class = CasePagination

    def get_queryset(self):
        qs = cases_for(self.request.user).select_related(
            "category", "region", "owning_centre__parent", "handler_region"
        )
        if self.action == "retrieve" or self.action in ACTS:
            qs = qs.select_related("duplicate_of").prefetch_related(
                "complainants",
                Prefetch("ratings", queryset=Rating.objects.select_related("complainant")),
                "attachments",
                Prefetch(
                    "events",
                    queryset=CaseEvent.objects.select_related("actor").prefetch_related(
                        "attachments"
                    ),
                ),
            )
        return qs

    def get_serializer_class(self):
        if self.action == "create":
            return GrievanceCreateSerializer
        if self.action == "list":
            return GrievanceListSerializer
        return GrievanceDetailSerializer

    def _detail(self, case_id: int) -> Response:
        case = self.get_queryset().get(pk=case_id)
        data = GrievanceDetailSerializer(case, context={"request": self.request}).data
        return self.with_etag(Response(data), case)

    @extend_schema(
        request=GrievanceCreateSerializer,
        parameters=[IDEMPOTENCY_KEY],
        responses={
            201: GrievanceDetailSerializer,
            200: OpenApiResponse(
                GrievanceDetailSerializer,
                description="a repeat of a key, or a ticket of another system sent again: "
                "the case it made",
            ),
            400: OpenApiResponse(description="field errors, or a malformed Idempotency-Key"),
            422: OpenApiResponse(description="the Idempotency-Key made a different report"),
        },
    )
    def create(self, request, *args, **kwargs):
        """Report a case as staff (in your own area); JSON or multipart with photos."""
        try:
            key = idempotency.parse(request.headers.get(idempotency.HEADER))
        except services.CaseError as exc:
            return error_response(exc)
        serializer = GrievanceCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        source = serializer.validated_data.get("source") or (
            Source.GRID_WORKER if services.GRID_ROLES & _roles(request.user) else Source.API
        )
        try:
            case, repeat = intake.submit_report(
                serializer.validated_data, request.user, source, key
            )
        except intake.TicketKnown as exc:
            # A transfer sent again: its case, as a repeat, when the sender may see it.
            if not cases_for(request.user).filter(pk=exc.case.pk).exists():
                return error_response(exc)
            case, repeat = exc.case, True
        except services.CaseError as exc:
            return error_response(exc)
        response = self._detail(case.pk)
        response.status_code = status.HTTP_200_OK if repeat else status.HTTP_201_CREATED
        return response

    @extend_schema(
        request={"multipart/form-data": UploadInput},
        responses={
            201: AttachmentSerializer(many=True),
            400: OpenApiResponse(description="photos"),
        },
    )
    @action(
        detail=True,
        methods=["post"],
        url_path="attachments",
        parser_classes=[MultiPartParser],
        pagination_class=None,  # the photos saved, as a plain list
    )
    def upload(self, request, pk=None):
        """Upload photos to a case (then name their ids in `handle` or `note`)."""
        case = self.get_object()
        try:
            services.check_act("note", case, request.user)
        except services.CaseError as exc:
            return error_response(exc)
        data = UploadInput(data=request.data)
        data.is_valid(raise_exception=True)
        photos = data.validated_data["photos"]
        if case.attachments.count() + len(photos) > MAX_PER_CASE:
            return Response(
                {"photos": [_("At most %(n)s photos per case.") % {"n": MAX_PER_CASE}]}, status=400
            )
        try:
            intake.check_photos(photos)
        except services.CaseError as exc:
            return error_response(exc)
        saved = []
        try:
            with transaction.atomic():
                for photo in photos:
                    saved.append(
                        save_upload(case, photo, request.user, public=data.validated_data["public"])
                    )
                # The case shows its photos: one write for the upload, however many.
                services.touch(case)
        except UploadError as exc:
            return Response({"photos": [str(exc)]}, status=400)
        # The new tag, for the act that names the photos next (its If-Match).
        return self.with_etag(
            Response(AttachmentSerializer(saved, many=True).data, status=201), case
        )

    def _act(self, request, name: str):
        case = self.get_object()
        input_class, call = ACTS[name]
        try:
            services.check_act(name, case, request.user)
        except services.CaseError as exc:
            return error_response(exc)
        data = input_class(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            with self.if_match(request, case):
                call(case, request.user, data.validated_data)
        except services.CaseError as exc:
            return error_response(exc)
        return self._detail(case.pk)


def _roles(user) -> set[str]:
    from grids.scoping import roles_of

    return roles_of(user)


IF_MATCH = OpenApiParameter(
    "If-Match",
    str,
    OpenApiParameter.HEADER,
    required=False,
    description="The case's ETag as read (GET sends it): the act runs only if the case has "
    "not changed since, else 409 and nothing changes.",
)


def _make_act(name: str, input_class):
    def act(self, request, pk=None):
        return self._act(request, name)

    act.__name__ = f"act_{name}"
    act.__doc__ = f"{services.RULES[name].label}: the `{name}` act on a case."
    # The schema after the action: @action replaces the function's kwargs, where
    # extend_schema keeps its annotation.
    act = action(detail=True, methods=["post"], url_path=name, url_name=name)(act)
    return extend_schema(
        request=input_class,
        parameters=[IF_MATCH],
        responses={
            200: GrievanceDetailSerializer,
            400: OpenApiResponse(description='field errors, e.g. {"reason": ["…"]}'),
            403: OpenApiResponse(description="your role may not do this"),
            404: OpenApiResponse(description="no such case in your scope"),
            409: OpenApiResponse(
                description='{"detail", "state"}: the case is not in a state for this, or '
                "it changed since the version named in If-Match"
            ),
        },
        operation_id=f"grievances_{name}",
    )(act)


for _name, (_input, _call) in ACTS.items():
    setattr(GrievanceViewSet, f"act_{_name}", _make_act(_name, _input))


# --- Public intake and tracking -----------------------------------------------------------------


class PublicCreateThrottle(WindowThrottle):
    """Reports per client address; signed-in clients (a session, an API token) are not
    limited."""

    scope = "public_create"

    def get_cache_key(self, request, view):
        if request.user and request.user.is_authenticated:
            return None
        return super().get_cache_key(request, view)


class PublicGrievanceCreateView(APIView):
    """A resident's report, no login needed; returns the tracking code."""

    permission_classes = [AllowAny]
    throttle_classes = [PublicCreateThrottle]

    @extend_schema(
        request=PublicGrievanceCreateSerializer,
        parameters=[IDEMPOTENCY_KEY],
        responses={
            201: TrackedSerializer,
            200: OpenApiResponse(TrackedSerializer, description="a repeat of a key: its case"),
            400: OpenApiResponse(description="field errors, or a malformed Idempotency-Key"),
            422: OpenApiResponse(description="the Idempotency-Key made a different report"),
        },
    )
    def post(self, request):
        try:
            key = idempotency.parse(request.headers.get(idempotency.HEADER))
        except services.CaseError as exc:
            return error_response(exc)
        data = PublicGrievanceCreateSerializer.validated(request.data)
        # The report is the resident's (no reporter); a signed-in sender's key is theirs.
        user = request.user if request.user.is_authenticated else None
        try:
            case, repeat = intake.submit_report(data, None, Source.RESIDENT_WEB, key, scope=user)
        except services.CaseError as exc:
            return error_response(exc)
        return Response(
            {"tracking_code": case.display_code, "title": case.title},
            status=status.HTTP_200_OK if repeat else status.HTTP_201_CREATED,
        )


class NearbyThrottle(WindowThrottle):
    """Nearby lookups per client address, whoever asks (a pin dragged about asks often)."""

    scope = "nearby"


class NearbyQuerySerializer(LocateQuerySerializer):
    category = serializers.CharField(max_length=40)


class NearbyCaseSerializer(serializers.Serializer):
    """The public facts of an open case near a point: nothing that names or quotes anyone."""

    category = serializers.CharField(help_text=gettext_lazy("The category's code."))
    state = serializers.ChoiceField(choices=State.choices)
    distance_m = serializers.IntegerField(
        min_value=0, help_text=gettext_lazy("Metres from the point, rounded.")
    )
    created_at = serializers.DateTimeField()


class PublicNearbyView(APIView):
    """Open cases already reported near a point (重复提示), before one reports it again."""

    permission_classes = [AllowAny]
    authentication_classes: list = []
    throttle_classes = [NearbyThrottle]

    @extend_schema(
        parameters=[
            OpenApiParameter("lng", float, required=True, description="longitude (WGS84)"),
            OpenApiParameter("lat", float, required=True, description="latitude (WGS84)"),
            OpenApiParameter("category", str, required=True, description="a category's code"),
        ],
        responses={
            200: NearbyCaseSerializer(many=True),
            400: OpenApiResponse(description="lng, lat or category missing, bad or unknown"),
        },
    )
    def get(self, request):
        """The open cases within 100 m of the point reported in the last 30 days, in the
        category or its siblings under the same parent: nearest first, 20 at most. Public
        facts only: category, state, distance in metres, date reported."""
        query = NearbyQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        data = query.validated_data
        try:
            found = selectors.nearby_cases(data["lng"], data["lat"], data["category"])
        except services.CaseError as exc:
            return error_response(exc)
        return Response(
            NearbyCaseSerializer(
                [
                    {
                        "category": case.category.code,
                        "state": case.state,
                        "distance_m": case.distance_m,
                        "created_at": case.created_at,
                    }
                    for case in found
                ],
                many=True,
            ).data
        )


class TrackingThrottle(WindowThrottle):
    """Attempts are limited per tracking code (whoever asks), so a code cannot be brute-forced
    for its phone digits."""

    scope = "tracking"

    def get_cache_key(self, request, view):
        code = normalize_tracking_code(view.kwargs.get("code", ""))
        return f"{self.scope}:{code or self.get_ident(request)}"


class PublicEventSerializer(serializers.ModelSerializer):
    label = serializers.SerializerMethodField()

    class Meta:
        model = CaseEvent
        fields = ["action", "label", "to_state", "note", "created_at"]

    def get_label(self, obj) -> str:
        return selectors.event_label(obj)


class MergedIntoSerializer(serializers.Serializer):
    """The case a duplicate was merged into: follow it with its code and the same digits
    (GET /api/v1/track/<tracking_code>/)."""

    note = serializers.CharField()
    tracking_code = serializers.CharField()
    state = serializers.CharField()
    state_label = serializers.CharField()


class TrackResultSerializer(serializers.Serializer):
    tracking_code = serializers.CharField()
    title = serializers.CharField()
    category = serializers.CharField()
    state = serializers.CharField()
    state_label = serializers.CharField()
    created_at = serializers.DateTimeField()
    handle_due_at = serializers.DateTimeField(allow_null=True)
    handler = serializers.CharField(
        help_text=gettext_lazy("Who handles the case once dispatched: a department, a grid.")
    )
    result = serializers.CharField()
    redo_note = serializers.CharField()
    reject_reason = serializers.CharField()
    merged_into = MergedIntoSerializer(allow_null=True)
    timeline = PublicEventSerializer(many=True)
    can_withdraw = serializers.BooleanField()
    can_urge = serializers.BooleanField()
    urge_refusal = serializers.CharField()
    urge_again_at = serializers.DateTimeField(allow_null=True)
    can_rate = serializers.BooleanField()
    rate_until = serializers.DateTimeField(allow_null=True)
    rating = RatingSerializer(allow_null=True, help_text=gettext_lazy("Your own rating."))


class TrackQuerySerializer(serializers.Serializer):
    phone_last4 = serializers.RegexField(
        r"^[0-9]{4}$",
        error_messages={"invalid": gettext_lazy("Give the last 4 digits of your phone.")},
    )


class TrackRateInput(TrackQuerySerializer):
    score = serializers.IntegerField(min_value=1, max_value=5)
    resolved = serializers.BooleanField()
    comment = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)


class TrackNoteInput(TrackQuerySerializer):
    note = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)


class _TrackBase(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list = []
    throttle_classes = [TrackingThrottle]

    def find(self, code: str, last4: str) -> tuple[Grievance, Complainant]:
        """The case and the complainant whose own phone ends in `last4`."""
        found = selectors.find_tracked_person(code, last4)
        if found is None:
            # A wrong code and a wrong phone give the same answer.
            raise NotFound(_("No case matches this code and phone number."))
        return found

    def respond(self, case: Grievance, person: Complainant) -> Response:
        return Response(
            TrackResultSerializer(selectors.public_view(case, selectors.Viewer.of(person))).data
        )

    def act(self, request, code, input_class, call) -> Response:
        """Validate the body, find the case by code and phone, run the act, answer the view."""
        data = input_class(data=request.data)
        data.is_valid(raise_exception=True)
        case, person = self.find(code, data.validated_data["phone_last4"])
        try:
            call(case, person, data.validated_data)
        except services.CaseError as exc:
            return error_response(exc)
        fresh = Grievance.objects.select_related(*selectors.PUBLIC_RELATED).get(pk=case.pk)
        return self.respond(fresh, person)


TRACK_PARAMS = [
    OpenApiParameter("phone_last4", str, required=True, description="last 4 digits of the phone")
]


class TrackView(_TrackBase):
    """A complainant follows their case with its code and the last 4 digits of their own
    phone: state, who handles it, public timeline, deadline, result, their own rating. A
    duplicate names the case it was merged into (`merged_into`), which the same digits
    open."""

    @extend_schema(parameters=TRACK_PARAMS, responses={200: TrackResultSerializer})
    def get(self, request, code):
        query = TrackQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        return self.respond(*self.find(code, query.validated_data["phone_last4"]))


class TrackRateView(_TrackBase):
    @extend_schema(request=TrackRateInput, responses={200: TrackResultSerializer})
    def post(self, request, code):
        """Rate the result for yourself (the complainant whose digits these are), once the
        case is closed and within 30 days of its closing; changeable until then."""
        return self.act(
            request,
            code,
            TrackRateInput,
            lambda case, person, d: services.grievance_rate(
                case,
                None,
                complainant=person,
                score=d["score"],
                resolved=d["resolved"],
                comment=d["comment"],
                via_tracking=True,
            ),
        )


class TrackWithdrawView(_TrackBase):
    @extend_schema(request=TrackNoteInput, responses={200: TrackResultSerializer})
    def post(self, request, code):
        """Withdraw the case, any time before it is handled: its reporter only (403 for the
        other complainants)."""
        return self.act(
            request,
            code,
            TrackNoteInput,
            lambda case, person, d: services.grievance_withdraw(
                case, None, reason=d["note"], via_tracking=True, complainant=person
            ),
        )


class TrackUrgeView(_TrackBase):
    @extend_schema(request=TrackNoteInput, responses={200: TrackResultSerializer})
    def post(self, request, code):
        """Urge the case (催办): once the centre has accepted it, at most once in 24 hours
        per case from the public (409 otherwise, with the reason)."""
        return self.act(
            request,
            code,
            TrackNoteInput,
            lambda case, person, d: services.grievance_urge(
                case, None, note=d["note"], via_tracking=True
            ),
        )
