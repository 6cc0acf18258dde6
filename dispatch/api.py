"""Dispatch API: departments, routing rules, a case's whistles, the departments' inbox."""

from __future__ import annotations

from django.db.models import Q
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext_lazy
from django_filters import rest_framework as filters
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_serializer
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.generics import ListAPIView
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from dispatch import selectors, services
from dispatch.models import Assignment, Department, RoutingRule, Whistle
from grids.api_input import MAX_DB_INT
from grids.models import Region
from grids.scoping import sees_everything
from grievances.api import error_response
from grievances.models import Category
from grievances.scoping import cases_for
from grievances.services import CaseError


class DepartmentSerializer(serializers.ModelSerializer):
    region = serializers.CharField(source="region.code")
    region_name = serializers.CharField(source="region.name")

    class Meta:
        model = Department
        fields = ["id", "code", "name", "region", "region_name", "phone", "active"]


class DepartmentFilter(filters.FilterSet):
    region = filters.CharFilter(method="filter_region", label=gettext_lazy("region code"))
    category = filters.CharFilter(method="filter_category", label=gettext_lazy("category code"))

    class Meta:
        model = Department
        fields = ["active"]

    def filter_region(self, qs, name, value):
        """Departments serving this region or one of its ancestors (whose centre may whistle)."""
        region = Region.objects.filter(code=value).first()
        if region is None:
            return qs.none()
        return qs.filter(region__in=region.get_ancestors(include_self=True))

    def filter_category(self, qs, name, value):
        """Departments named by routing rules for this category or its ancestors."""
        category = Category.objects.filter(code=value).first()
        if category is None:
            return qs.none()
        rules = RoutingRule.objects.filter(
            active=True, category__in=category.get_ancestors(include_self=True)
        )
        return qs.filter(
            Q(pk__in=rules.values("lead_id")) | Q(pk__in=rules.values("assisting__id"))
        )


class DepartmentViewSet(viewsets.ReadOnlyModelViewSet):
    """Functional departments (职能部门) that centres whistle."""

    permission_classes = [IsAuthenticated]
    serializer_class = DepartmentSerializer
    filterset_class = DepartmentFilter
    queryset = Department.objects.select_related("region").order_by("region__code", "name")


class RoutingRuleSerializer(serializers.ModelSerializer):
    category = serializers.CharField(source="category.code")
    region = serializers.CharField(source="region.code")
    lead = DepartmentSerializer()
    assisting = DepartmentSerializer(many=True)

    class Meta:
        model = RoutingRule
        fields = [
            "id",
            "category",
            "region",
            "lead",
            "assisting",
            "handling_level",
            "auto_dispatch",
        ]


class RoutingRuleViewSet(viewsets.ReadOnlyModelViewSet):
    permission_classes = [IsAuthenticated]
    serializer_class = RoutingRuleSerializer
    queryset = (
        RoutingRule.objects.filter(active=True)
        .select_related("category", "region", "lead__region")
        .prefetch_related("assisting__region")
        .order_by("region__code", "category__code")
    )


class AssignmentSerializer(serializers.ModelSerializer):
    department = DepartmentSerializer()
    grievance = serializers.IntegerField(source="whistle.grievance_id")
    tracking_code = serializers.CharField(source="whistle.grievance.display_code")
    title = serializers.CharField(source="whistle.grievance.title")
    case_state = serializers.CharField(source="whistle.grievance.state")
    officer = serializers.IntegerField(source="officer_id", read_only=True, allow_null=True)
    officer_name = serializers.CharField(source="officer", read_only=True, allow_null=True)

    class Meta:
        model = Assignment
        fields = [
            "id",
            "grievance",
            "tracking_code",
            "title",
            "case_state",
            "department",
            "role",
            "status",
            "officer",
            "officer_name",
            "report_in_due_at",
            "handle_due_at",
            "reported_in_at",
            "finished_at",
            "reason",
        ]


class WhistleSerializer(serializers.ModelSerializer):
    centre = serializers.CharField(source="centre.code")
    centre_name = serializers.CharField(source="centre.name")
    assignments = serializers.SerializerMethodField()

    class Meta:
        model = Whistle
        fields = [
            "id",
            "centre",
            "centre_name",
            "instructions",
            "status",
            "created_at",
            "ended_at",
            "assignments",
        ]

    def get_assignments(self, obj) -> list[dict]:
        when = serializers.DateTimeField()  # the API's time zone and format
        return [
            {
                "id": a.pk,
                "department": a.department.name,
                "department_id": a.department_id,
                "role": a.role,
                "status": a.status,
                "officer": a.officer_id,
                "officer_name": str(a.officer) if a.officer_id else None,
                "report_in_due_at": when.to_representation(a.report_in_due_at)
                if a.report_in_due_at
                else None,
                "handle_due_at": when.to_representation(a.handle_due_at)
                if a.handle_due_at
                else None,
                "reported_in_at": when.to_representation(a.reported_in_at)
                if a.reported_in_at
                else None,
                "finished_at": when.to_representation(a.finished_at) if a.finished_at else None,
                "reason": a.reason,
            }
            for a in obj.assignments.all()
        ]


class GrievanceWhistlesView(ListAPIView):
    """The whistles of a case with their assignments (404 outside the caller's scope)."""

    permission_classes = [IsAuthenticated]
    serializer_class = WhistleSerializer
    pagination_class = None

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Whistle.objects.none()
        # Not through reporting: a reporter follows the case as tracking shows it, not which
        # departments hold it or why.
        user = self.request.user
        case = get_object_or_404(cases_for(user, as_reporter=False), pk=self.kwargs["pk"])
        return (
            Whistle.objects.filter(grievance=case)
            .select_related("centre")
            .prefetch_related("assignments__department", "assignments__officer")
        )


# Named apart from the case acts' inputs of the same name in the schema.
@extend_schema_serializer(component_name="AssignmentReasonInput")
class ReasonInput(serializers.Serializer):
    reason = serializers.CharField(max_length=5000)


# Named apart from the case acts' inputs of the same name in the schema.
@extend_schema_serializer(component_name="AssignmentNoteInput")
class NoteInput(serializers.Serializer):
    note = serializers.CharField(required=False, allow_blank=True, default="", max_length=5000)


class ReportInInput(NoteInput):
    officer = serializers.IntegerField(
        required=False,
        allow_null=True,
        default=None,
        min_value=1,
        max_value=MAX_DB_INT,
        help_text=gettext_lazy(
            "User id of the officer (承办人), a member of the department; another member "
            "than oneself only by the department's head. Default: the one the head named, "
            "else the member who reports in."
        ),
    )


class OfficerInput(serializers.Serializer):
    officer = serializers.IntegerField(
        min_value=1,
        max_value=MAX_DB_INT,
        help_text=gettext_lazy("User id of a member of the department."),
    )


class ProgressInput(serializers.Serializer):
    note = serializers.CharField(max_length=5000)
    public = serializers.BooleanField(required=False, default=False)


# Named apart from the case acts' inputs of the same name in the schema.
@extend_schema_serializer(component_name="AssignmentExtendInput")
class ExtendInput(serializers.Serializer):
    days = serializers.IntegerField(min_value=1, max_value=60)
    reason = serializers.CharField(max_length=2000)


class AssignmentFilter(filters.FilterSet):
    mine = filters.BooleanFilter(
        method="filter_mine",
        label=gettext_lazy("my departments only, those I am the officer of first"),
    )
    assigned_to_me = filters.BooleanFilter(
        method="filter_assigned_to_me", label=gettext_lazy("those I am the officer of")
    )
    status = filters.MultipleChoiceFilter(choices=Assignment.Status.choices)

    class Meta:
        model = Assignment
        fields = ["status", "role"]

    def filter_mine(self, qs, name, value):
        if not value:
            return qs
        user = self.request.user
        return qs.filter(department_id__in=services.department_ids(user)).order_by(
            selectors.mine_first(user), "report_in_due_at", "id"
        )

    def filter_assigned_to_me(self, qs, name, value):
        if value is None:
            return qs
        if value:
            return qs.filter(officer_id=self.request.user.pk)
        return qs.exclude(officer_id=self.request.user.pk)


ACT_RESPONSES = {
    200: AssignmentSerializer,
    400: OpenApiResponse(description="field errors"),
    403: OpenApiResponse(
        description="not a member (for the officer: not the head) of this department"
    ),
    404: OpenApiResponse(description="no such assignment in your scope"),
    409: OpenApiResponse(description='{"detail", "state"}: already answered or closed'),
}


class AssignmentViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Departments' assignments: their inbox (`?mine=1`) and their acts."""

    permission_classes = [IsAuthenticated]
    serializer_class = AssignmentSerializer
    filterset_class = AssignmentFilter

    def get_queryset(self):
        user = self.request.user
        qs = Assignment.objects.select_related(
            "department__region", "whistle__grievance", "officer"
        ).order_by("report_in_due_at", "id")
        if sees_everything(user):
            return qs
        # Their departments' assignments, and those of cases in their scope (the centre), not
        # of the cases they only reported.
        return qs.filter(
            Q(department_id__in=services.department_ids(user))
            | Q(whistle__grievance__in=cases_for(user, as_reporter=False).values("pk"))
        )

    def _run(self, request, name, input_class, call):
        assignment = self.get_object()
        try:
            services.check_assignment_act(name, assignment, request.user)
            data = input_class(data=request.data)
            data.is_valid(raise_exception=True)
            call(assignment, request.user, data.validated_data)
        except CaseError as exc:
            return error_response(exc)
        return Response(AssignmentSerializer(self.get_queryset().get(pk=assignment.pk)).data)

    @extend_schema(request=ReportInInput, responses=ACT_RESPONSES)
    @action(detail=True, methods=["post"], url_path="report_in")
    def report_in(self, request, pk=None):
        """签收: the lead moves the case to in progress; an assisting department accepts.
        The officer (承办人) is the member who reports in unless one is named."""
        return self._run(
            request,
            "report_in",
            ReportInInput,
            lambda a, u, d: services.assignment_report_in(
                a, u, note=d["note"], officer_id=d["officer"]
            ),
        )

    @extend_schema(request=OfficerInput, responses=ACT_RESPONSES)
    @action(detail=True, methods=["post"])
    def officer(self, request, pk=None):
        """The department head names or changes the officer (承办人) of an open assignment;
        the change is an event on the case's timeline."""
        return self._run(
            request,
            "officer",
            OfficerInput,
            lambda a, u, d: services.assignment_set_officer(a, u, officer_id=d["officer"]),
        )

    @extend_schema(request=ReasonInput, responses=ACT_RESPONSES)
    @action(detail=True, methods=["post"])
    def refuse(self, request, pk=None):
        """An assisting department refuses its part (协同), with a reason."""
        return self._run(
            request,
            "refuse",
            ReasonInput,
            lambda a, u, d: services.assignment_refuse(a, u, reason=d["reason"]),
        )

    @extend_schema(request=ReasonInput, responses=ACT_RESPONSES)
    @action(detail=True, methods=["post"], url_path="return")
    def return_assignment(self, request, pk=None):
        """退单: the lead returns a case that is not theirs; the centre re-routes it."""
        return self._run(
            request,
            "return",
            ReasonInput,
            lambda a, u, d: services.assignment_return(a, u, reason=d["reason"]),
        )

    @extend_schema(request=ExtendInput, responses=ACT_RESPONSES)
    @action(detail=True, methods=["post"])
    def extend(self, request, pk=None):
        """延期申请: the lead asks for more working days before its deadline."""
        return self._run(
            request,
            "extend",
            ExtendInput,
            lambda a, u, d: services.assignment_extend(a, u, days=d["days"], reason=d["reason"]),
        )

    @extend_schema(request=ProgressInput, responses=ACT_RESPONSES)
    @action(detail=True, methods=["post"])
    def note(self, request, pk=None):
        """A progress note on the case from this department."""
        return self._run(
            request,
            "note",
            ProgressInput,
            lambda a, u, d: services.assignment_note(a, u, note=d["note"], public=d["public"]),
        )
