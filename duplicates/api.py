"""The desk's API of joins (这就是我要反映的): a case's joins, and the centre's confirmation
or refusal of one. The case is read through the scoping function (404 outside the caller's
scope); only its centre decides (403). Confirming adds a complainant, a write to the case:
it takes the case's ETag as If-Match like every act (grievances/etags.py) and answers with
the new one."""

from __future__ import annotations

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
from grievances import selectors as case_selectors
from grievances import services as cases
from grievances.api import error_response
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
