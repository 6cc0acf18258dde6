"""The evaluation API: figures, the red/black list, return visits and exports.

Paths (evaluation/urls_api.py, included under /api/v1/):

- GET  figures/?region=CODE&department=ID&from=DATE&to=DATE   login required
- GET  rankings/?month=YYYY-MM[&region=CODE][&size=N]          public
- GET  return-visits/?status=pending|recorded|all             login required, scoped
- POST return-visits/{id}/                                     centre staff
- POST exports/                                                login required
- GET  exports/{id}/                                           the owner only

Errors: a malformed parameter, an unknown region code or department id → 400 naming the
field. A region or department that exists but lies outside the caller's scope → 404 (as
for cases: the answer does not say what exists elsewhere). For a return visit: 404 outside
scope, 403 wrong role, 409 already recorded (or the case cannot be reopened), 400 fields.
Periods are [from, to) in Beijing dates; both default to the current month so far.
"""

from __future__ import annotations

import re
from datetime import date, timedelta

from django.core.cache import cache
from django.http import FileResponse
from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from dispatch.models import Department
from evaluation import exports, figures, returnvisits
from evaluation.models import Export, ReturnVisit
from grids.models import Region
from grids.scoping import can_act_in, scope_regions, sees_everything
from grievances import services
from grievances.api import error_response
from grievances.scoping import cases_for

MAX_PERIOD_DAYS = 3700
RANKING_CACHE_SECONDS = 300

# --- Parameters -----------------------------------------------------------------------------


def _fail(field: str, message: str):
    raise ValidationError({field: [message]})


def parse_date(raw: str, field: str) -> date:
    try:
        return date.fromisoformat(raw)
    except (TypeError, ValueError):
        _fail(field, _("Enter a date as YYYY-MM-DD."))


def parse_period(params) -> tuple[date, date]:
    today = timezone.localdate(timezone=figures.TZ)
    start = parse_date(params["from"], "from") if params.get("from") else today.replace(day=1)
    end = parse_date(params["to"], "to") if params.get("to") else today + timedelta(days=1)
    if end <= start:
        _fail("to", _("The end of the period must come after its start."))
    if (end - start).days > MAX_PERIOD_DAYS:
        _fail("to", _("A period spans at most ten years."))
    return start, end


def parse_region(raw: str | None) -> Region | None:
    if not raw:
        return None
    region = Region.objects.filter(code=raw.strip()).first()
    if region is None:
        _fail("region", _("Unknown region code."))
    return region


def parse_department(raw):
    if raw in (None, ""):
        return None
    try:
        pk = int(raw)
    except (TypeError, ValueError):
        _fail("department", _("Enter a department id."))
    found = Department.objects.select_related("region").filter(pk=pk).first()
    if found is None:
        _fail("department", _("Unknown department."))
    return found


def _member_of(user, department) -> bool:
    return user.department_memberships.filter(department_id=department.pk).exists()


def check_scope(user, region: Region | None, department) -> Region | None:
    """The region to show, after the caller's scope (404 outside it)."""
    if sees_everything(user):
        return region
    member = department is not None and _member_of(user, department)
    if department is not None and not member and not can_act_in(user, department.region):
        raise NotFound(_("No such department in your area."))
    if region is None:
        if member:
            return None  # the department's own work, everywhere
        regions = scope_regions(user)
        if len(regions) != 1:
            _fail("region", _("Choose a region."))
        return regions[0]
    if not member and not can_act_in(user, region):
        raise NotFound(_("No such region in your area."))
    return region


# --- Figures --------------------------------------------------------------------------------

PERIOD_PARAMS = [
    OpenApiParameter("from", OpenApiTypes.DATE, description="First day (Beijing), included."),
    OpenApiParameter("to", OpenApiTypes.DATE, description="Last day (Beijing), excluded."),
]


class RateSerializer(serializers.Serializer):
    value = serializers.FloatField(allow_null=True)
    numerator = serializers.IntegerField(allow_null=True)
    denominator = serializers.IntegerField(allow_null=True)


class DurationSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    avg_seconds = serializers.IntegerField(allow_null=True)
    p90_seconds = serializers.IntegerField(allow_null=True)


class FiguresSerializer(serializers.Serializer):
    period = serializers.DictField(child=serializers.DateField())
    region = serializers.DictField(allow_null=True)
    department = serializers.DictField(allow_null=True)
    source = serializers.CharField()
    as_of = serializers.DateTimeField(allow_null=True)
    intake = serializers.DictField()
    rates = serializers.DictField(child=RateSerializer())
    durations = serializers.DictField(child=DurationSerializer())


class FiguresView(APIView):
    """三率 and the other figures of a region subtree, a department and a period.

    Definitions: evaluation/figures.py. Rates are fractions (0–1) with their numerator and
    denominator; None when the denominator is empty. Durations are working time, seconds.
    """

    permission_classes = [IsAuthenticated]

    @extend_schema(
        parameters=[
            OpenApiParameter("region", str, description="Region code (default: your area)."),
            OpenApiParameter("department", int, description="Department id."),
            *PERIOD_PARAMS,
        ],
        responses={
            200: FiguresSerializer,
            400: OpenApiResponse(description="a bad parameter, named"),
            404: OpenApiResponse(description="region or department outside your area"),
        },
    )
    def get(self, request):
        params = request.query_params
        region = parse_region(params.get("region"))
        department = parse_department(params.get("department"))
        start, end = parse_period(params)
        region = check_scope(request.user, region, department)
        return Response(figures.figures(region=region, department=department, start=start, end=end))


# --- The red/black list ---------------------------------------------------------------------

MONTH = re.compile(r"^(\d{4})-(\d{2})$")


def parse_month(raw: str | None) -> date:
    match = MONTH.match((raw or "").strip())
    if not match or not 1 <= int(match.group(2)) <= 12 or int(match.group(1)) < 1900:
        _fail("month", _("Enter a month as YYYY-MM."))
    return date(int(match.group(1)), int(match.group(2)), 1)


class RankingsView(APIView):
    """红黑榜: townships and departments ranked on the weighted rates of a month (public).

    The weights (settings.RANKING_WEIGHTS) come with the answer; a rate without data drops
    out of an entry's score and the other weights count in its place. No personal data:
    names of townships and departments and their figures only.
    """

    permission_classes = [AllowAny]
    authentication_classes = []

    @extend_schema(
        parameters=[
            OpenApiParameter("month", str, required=True, description="YYYY-MM"),
            OpenApiParameter("region", str, description="Rank within this region's subtree."),
            OpenApiParameter("size", int, description="Entries on each list (default 5)."),
        ],
        responses={200: OpenApiTypes.OBJECT, 400: OpenApiResponse(description="bad parameter")},
    )
    def get(self, request):
        params = request.query_params
        month = parse_month(params.get("month"))
        within = parse_region(params.get("region"))
        size = None
        if params.get("size"):
            try:
                size = int(params["size"])
            except ValueError:
                size = 0
            if not 1 <= size <= 50:
                _fail("size", _("Enter a number from 1 to 50."))
        key = f"fengqiao:ranking:{month:%Y-%m}:{within.pk if within else 0}:{size or 0}"
        result = cache.get(key)
        if result is None:
            result = figures.ranking(month, within=within, size=size)
            cache.set(key, result, RANKING_CACHE_SECONDS)
        return Response(result)


# --- Return visits --------------------------------------------------------------------------


class ReturnVisitSerializer(serializers.ModelSerializer):
    case = serializers.SerializerMethodField()
    recorded_by = serializers.SerializerMethodField()

    class Meta:
        model = ReturnVisit
        fields = [
            "id",
            "case",
            "reason",
            "closed_at",
            "due_at",
            "reached",
            "satisfied",
            "resolved",
            "note",
            "recorded_by",
            "recorded_at",
        ]

    def get_case(self, obj) -> dict:
        case = obj.grievance
        return {
            "id": case.pk,
            "tracking_code": case.display_code,
            "title": case.title,
            "state": case.state,
        }

    def get_recorded_by(self, obj) -> str | None:
        return str(obj.recorded_by) if obj.recorded_by_id else None


class ReturnVisitInput(serializers.Serializer):
    reached = serializers.BooleanField()
    satisfied = serializers.BooleanField(required=False, allow_null=True, default=None)
    resolved = serializers.BooleanField(required=False, allow_null=True, default=None)
    note = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)
    reopen = serializers.BooleanField(required=False, default=False)


def _visits(user):
    # The staff's calls to the reporter, not the reporter's to read.
    staff_cases = cases_for(user, as_reporter=False)
    return ReturnVisit.objects.filter(grievance__in=staff_cases).select_related(
        "grievance", "grievance__owning_centre", "recorded_by"
    )


class ReturnVisitListView(generics.ListAPIView):
    """Return visits of the caller's cases, by due date (default: still to call)."""

    permission_classes = [IsAuthenticated]
    serializer_class = ReturnVisitSerializer
    filter_backends = []

    @extend_schema(
        parameters=[
            OpenApiParameter("status", str, enum=["pending", "recorded", "all"]),
        ]
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        wanted = self.request.query_params.get("status", "pending")
        qs = _visits(self.request.user).order_by("due_at", "id")
        if wanted == "pending":
            return qs.filter(recorded_at=None)
        if wanted == "recorded":
            return qs.exclude(recorded_at=None)
        if wanted != "all":
            _fail("status", _("Choose pending, recorded or all."))
        return qs


class ReturnVisitRecordView(APIView):
    """Record the call of a return visit (centre staff of the owning centre or above).

    With `reopen` and an answer "not resolved", the case is reopened (within 30 days).
    """

    permission_classes = [IsAuthenticated]

    @extend_schema(
        request=ReturnVisitInput,
        responses={
            200: ReturnVisitSerializer,
            400: OpenApiResponse(description="field errors"),
            403: OpenApiResponse(description="not the case's centre"),
            404: OpenApiResponse(description="outside your area"),
            409: OpenApiResponse(description="already recorded, or cannot reopen now"),
        },
    )
    def post(self, request, pk: int):
        visit = _visits(request.user).filter(pk=pk).first()
        if visit is None:
            raise NotFound()
        if not returnvisits.can_record(request.user, visit):
            return Response({"detail": _("Only the case's centre records its visit.")}, 403)
        if visit.is_recorded:
            return Response(
                {"detail": _("This return visit has already been recorded.")}, status=409
            )
        data = ReturnVisitInput(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            visit = returnvisits.return_visit_record(visit, request.user, **data.validated_data)
        except services.CaseError as exc:
            return error_response(exc)
        visit = _visits(request.user).get(pk=visit.pk)
        return Response(ReturnVisitSerializer(visit).data)


# --- Exports --------------------------------------------------------------------------------


class ExportInput(serializers.Serializer):
    kind = serializers.ChoiceField(choices=Export.Kind.choices)
    file_type = serializers.ChoiceField(choices=Export.FileType.choices)
    region = serializers.CharField(required=False, allow_blank=True, default="")
    department = serializers.IntegerField(required=False, allow_null=True, default=None)
    include_phones = serializers.BooleanField(required=False, default=False)
    # "from" is a keyword: declared below.


ExportInput._declared_fields["from"] = serializers.DateField(required=False, allow_null=True)
ExportInput._declared_fields["to"] = serializers.DateField(required=False, allow_null=True)


class ExportSerializer(serializers.ModelSerializer):
    download_url = serializers.SerializerMethodField()

    class Meta:
        model = Export
        fields = [
            "id",
            "kind",
            "file_type",
            "params",
            "status",
            "progress",
            "rows",
            "error",
            "created_at",
            "finished_at",
            "download_url",
        ]

    def get_download_url(self, obj) -> str | None:
        return f"/api/v1/exports/{obj.pk}/" if obj.status == Export.Status.DONE else None


class ExportCreateView(APIView):
    """Ask for a CSV or Excel file of cases (reported in the period) or of figures (the
    region and each of its children). Small ones are ready at once (201), larger ones are
    written in the background (202): follow `progress` at GET exports/{id}/."""

    permission_classes = [IsAuthenticated]

    @extend_schema(
        request=ExportInput,
        responses={
            201: ExportSerializer,
            202: ExportSerializer,
            400: OpenApiResponse(description="field errors"),
            404: OpenApiResponse(description="region or department outside your area"),
        },
    )
    def post(self, request):
        data = ExportInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        region = parse_region(values.get("region"))
        department = parse_department(values.get("department"))
        start, end = parse_period(
            {
                "from": values["from"].isoformat() if values.get("from") else None,
                "to": values["to"].isoformat() if values.get("to") else None,
            }
        )
        region = check_scope(request.user, region, department)
        params = {
            "region": region.code if region else None,
            "department": department.pk if department else None,
            "from": start.isoformat(),
            "to": end.isoformat(),
            "include_phones": values["include_phones"],
        }
        export = exports.export_request(
            request.user, kind=values["kind"], file_type=values["file_type"], params=params
        )
        done = export.status in (Export.Status.DONE, Export.Status.FAILED)
        return Response(
            ExportSerializer(export).data,
            status=status.HTTP_201_CREATED if done else status.HTTP_202_ACCEPTED,
        )


CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


class ExportDetailView(APIView):
    """The file of a finished export (its owner only); its status while it runs (202)."""

    permission_classes = [IsAuthenticated]

    @extend_schema(
        responses={
            (200, "application/octet-stream"): OpenApiTypes.BINARY,
            202: ExportSerializer,
            404: OpenApiResponse(description="not yours, or no such export"),
        }
    )
    def get(self, request, pk: int):
        export = Export.objects.filter(pk=pk, owner=request.user).first()
        if export is None:
            raise NotFound()
        if export.status != Export.Status.DONE:
            code = 200 if export.status == Export.Status.FAILED else 202
            return Response(ExportSerializer(export).data, status=code)
        name = f"{export.kind}-{export.params.get('from', '')}-{export.params.get('to', '')}"
        return FileResponse(
            export.file.open("rb"),
            as_attachment=True,
            filename=f"{name}.{export.file_type}",
            content_type=CONTENT_TYPES[export.file_type],
        )
