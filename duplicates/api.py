"""The desk's API of joins (这就是我要反映的) and of merges: a case's joins, the centre's
confirmation or refusal of one, and merging a case into another and undoing it
(grievances/merging.py). The case is read through the scoping function (404 outside the caller's
scope); only its centre decides (403). Confirming adds a complainant, a write to the case:
it takes the case's ETag as If-Match like every act (grievances/etags.py) and answers with
the new one."""

from __future__ import annotations

from django.http import Http404
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.generics import ListAPIView
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from duplicates import selectors, services
from duplicates.models import Join
from grievances import merging
from grievances import selectors as case_selectors
from grievances import services as cases
from grievances.api import IF_MATCH, GrievanceDetailSerializer, error_response
from grievances.etags import etag, wanted_versions
from grievances.models import Grievance
from grievances.privacy import mask_phone
from grievances.scoping import cases_for


class JoinSerializer(serializers.ModelSerializer):
    phone = serializers.SerializerMethodField()
    complainant = serializers.IntegerField(source="complainant_id", read_only=True, allow_null=True)
    submitted_by_staff = serializers.SerializerMethodField()

    class Meta:
        model = Join
        fields = [
            "id",
            "name",
            "phone",
            "state",
            "created_at",
            "decided_at",
            "complainant",
            "submitted_by_staff",
        ]

    def get_phone(self, obj) -> str:
        # In full for those who see the case's personal data, masked for anyone else.
        return obj.phone if self.context.get("show_personal") else mask_phone(obj.phone)

    def get_submitted_by_staff(self, obj) -> bool:
        """Sent by a grid worker on the resident's behalf (not by the resident)."""
        return obj.submitted_by_id is not None


def _case(request, pk: int) -> Grievance:
    """The case, in the caller's scope (404), whose centre the caller is (403)."""
    case = get_object_or_404(
        cases_for(request.user, as_reporter=False).select_related("owning_centre"), pk=pk
    )
    if not services.may_decide(request.user, case):
        raise cases.NotAllowed(_("Only the case's governance centre decides on joins."))
    return case


class GrievanceJoinsView(ListAPIView):
    """The joins of a case, waiting ones first (its centre only)."""

    permission_classes = [IsAuthenticated]
    serializer_class = JoinSerializer
    pagination_class = None
    filter_backends: list = []

    def list(self, request, *args, **kwargs):
        try:
            case = _case(request, kwargs["pk"])
        except cases.CaseError as exc:
            return error_response(exc)
        context = {"show_personal": case_selectors.may_see_personal_data(request.user, case)}
        return Response(JoinSerializer(selectors.joins_of(case), many=True, context=context).data)


DECISION_RESPONSES = {
    200: JoinSerializer,
    403: OpenApiResponse(description="Not the case's centre."),
    404: OpenApiResponse(description="No such case or join in your scope."),
    409: OpenApiResponse(description="Decided already, the case closed, or a stale If-Match."),
}


class _DecisionView(APIView):
    permission_classes = [IsAuthenticated]
    serializer_class = JoinSerializer
    decision = ""

    def post(self, request, pk: int, join_id: int):
        try:
            case = _case(request, pk)
            join = get_object_or_404(Join.objects.filter(grievance=case), pk=join_id)
            join.grievance = case
            if self.decision == "confirm":
                versions = wanted_versions(request.headers.get("If-Match"))
                join = services.join_confirm(join, request.user, versions=versions)
            else:
                join = services.join_decline(join, request.user)
        except cases.CaseError as exc:
            return error_response(exc)
        context = {"show_personal": case_selectors.may_see_personal_data(request.user, case)}
        response = Response(JoinSerializer(join, context=context).data)
        case.refresh_from_db(fields=["version"])
        response["ETag"] = etag(case)
        return response


class JoinConfirmView(_DecisionView):
    decision = "confirm"

    @extend_schema(request=None, responses=DECISION_RESPONSES)
    def post(self, request, pk: int, join_id: int):
        """Confirm a waiting join: the person becomes a complainant of the case and gets its
        tracking code by SMS. Send the case's ETag as If-Match to act only on what you read."""
        return super().post(request, pk, join_id)


class JoinDeclineView(_DecisionView):
    decision = "decline"

    @extend_schema(request=None, responses=DECISION_RESPONSES)
    def post(self, request, pk: int, join_id: int):
        """Decline a waiting join: kept as declined; the case does not change."""
        return super().post(request, pk, join_id)


# --- Merging (合并) and undoing it -------------------------------------------------------------


class MergeInput(serializers.Serializer):
    into = serializers.IntegerField(
        min_value=1, max_value=2**63 - 1, help_text="The id of the case that stays."
    )
    note = serializers.CharField(required=False, allow_blank=True, max_length=2000, default="")


class UnmergeInput(serializers.Serializer):
    note = serializers.CharField(required=False, allow_blank=True, max_length=2000, default="")


MERGE_RESPONSES = {
    200: GrievanceDetailSerializer,
    400: OpenApiResponse(description='field errors, e.g. {"into": ["…"]}'),
    403: OpenApiResponse(description="Not the centre of both cases."),
    404: OpenApiResponse(description="No such case in your scope (either of the two)."),
    409: OpenApiResponse(
        description='{"detail", "state", "field"}: a case not in a state for this (the one '
        "that stays closed or merged itself, the merge older than 24 hours), or a stale If-Match"
    ),
}


def _refused(exc: cases.CaseError) -> Response:
    """The act's error; a 409 about the other case names its field as a 400 does."""
    response = error_response(exc)
    if exc.field and response.status_code == 409:
        response.data["field"] = exc.field
    return response


def _case_answer(request, pk: int) -> Response:
    """The case as the case API shows it, with its new ETag."""
    case = (
        cases_for(request.user)
        .select_related("category", "region", "owning_centre__parent", "handler_region")
        .select_related("duplicate_of")
        .get(pk=pk)
    )
    response = Response(GrievanceDetailSerializer(case, context={"request": request}).data)
    response["ETag"] = etag(case)
    return response


class GrievanceMergeView(APIView):
    permission_classes = [IsAuthenticated]
    serializer_class = MergeInput

    @extend_schema(request=MergeInput, parameters=[IF_MATCH], responses=MERGE_RESPONSES)
    def post(self, request, pk: int):
        """Merge this case (submitted, accepted, dispatched or in progress) into the case
        that stays (`into`): its complainants and photos move there, it ends as rejected
        (a duplicate pointing to it) and its open whistles end. The centre of both cases
        only; If-Match names the version of this case."""
        scope = cases_for(request.user, as_reporter=False)
        case = get_object_or_404(scope.select_related("owning_centre"), pk=pk)
        try:
            merging.check("merge", case, request.user)
        except cases.CaseError as exc:
            return _refused(exc)
        data = MergeInput(data=request.data)
        data.is_valid(raise_exception=True)
        into = scope.select_related("owning_centre").filter(pk=data.validated_data["into"]).first()
        if into is None:
            return Response({"into": [_("No such case in your scope.")]}, status=404)
        try:
            merging.grievance_merge(
                case,
                into,
                request.user,
                note=data.validated_data["note"],
                versions=wanted_versions(request.headers.get("If-Match")),
            )
        except cases.CaseError as exc:
            return _refused(exc)
        return _case_answer(request, pk)


class GrievanceUnmergeView(APIView):
    permission_classes = [IsAuthenticated]
    serializer_class = UnmergeInput

    @extend_schema(request=UnmergeInput, parameters=[IF_MATCH], responses=MERGE_RESPONSES)
    def post(self, request, pk: int):
        """Undo the merge of this case within 24 hours of it: its previous state, its
        complainants, its photos and its whistles (deadlines as they were) come back. The
        centre of both cases only; after 24 hours a 409 says when the merge was made."""
        scope = cases_for(request.user, as_reporter=False)
        case = get_object_or_404(scope.select_related("owning_centre"), pk=pk)
        try:
            merging.check("unmerge", case, request.user)
            other = merging.last_merge(case).data["other_id"]
            if not scope.filter(pk=other).exists():
                raise Http404
            data = UnmergeInput(data=request.data)
            data.is_valid(raise_exception=True)
            merging.grievance_unmerge(
                case,
                request.user,
                note=data.validated_data["note"],
                versions=wanted_versions(request.headers.get("If-Match")),
            )
        except cases.CaseError as exc:
            return _refused(exc)
        return _case_answer(request, pk)
