"""Notifications API: the caller's own notifications and marking them read; the SMS
gateway's inbound hook (a "TD" reply stops messages to that number)."""

from __future__ import annotations

from django.conf import settings
from django.utils.crypto import constant_time_compare
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.generics import ListAPIView
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from grids.api_input import IdField, LimitOffsetPages
from notifications import services as notifications
from notifications.models import Notification


class NotificationSerializer(serializers.ModelSerializer):
    case = serializers.IntegerField(source="grievance_id", read_only=True)
    tracking_code = serializers.CharField(source="grievance.display_code", read_only=True)
    # Rendered from the stored message id and parameters, in the caller's language.
    title = serializers.CharField(source="display_title", read_only=True)
    body = serializers.CharField(source="display_body", read_only=True)
    read = serializers.SerializerMethodField()

    class Meta:
        model = Notification
        fields = [
            "id",
            "kind",
            "title",
            "body",
            "url",
            "case",
            "tracking_code",
            "created_at",
            "read_at",
            "read",
        ]

    def get_read(self, obj) -> bool:
        return obj.read_at is not None


class NotificationPagination(LimitOffsetPages):
    """Limit/offset pages that also carry the caller's unread count (for the bell)."""

    unread_count = 0

    def get_paginated_response(self, data):
        return Response(
            {
                "count": self.count,
                "unread_count": self.unread_count,
                "next": self.get_next_link(),
                "previous": self.get_previous_link(),
                "results": data,
            }
        )

    def get_paginated_response_schema(self, schema):
        schema = super().get_paginated_response_schema(schema)
        schema["properties"]["unread_count"] = {
            "type": "integer",
            "example": 3,
            "description": "How many of the caller's notifications are unread (all pages).",
        }
        schema["required"] = [*schema.get("required", []), "unread_count"]
        return schema


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


class NotificationListView(ListAPIView):
    """The caller's own notifications, newest first."""

    permission_classes = [IsAuthenticated]
    serializer_class = NotificationSerializer
    pagination_class = NotificationPagination
    filter_backends: list = []

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Notification.objects.none()
        qs = Notification.objects.filter(recipient=self.request.user)
        if _truthy(self.request.query_params.get("unread")):
            qs = qs.filter(read_at__isnull=True)
        return qs.select_related("grievance").order_by("-created_at", "-id")

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "unread",
                OpenApiTypes.BOOL,
                description="1: only the unread ones.",
                required=False,
            )
        ],
        description=(
            "The caller's own notifications, newest first. The page carries `unread_count`, "
            "the number of unread notifications over all pages."
        ),
    )
    def get(self, request, *args, **kwargs):
        self.paginator.unread_count = notifications.unread_total(request.user)
        return super().get(request, *args, **kwargs)


# Ids in one "mark read" request: a page of notifications at the API's largest page size.
MAX_MARK_READ = 200


class MarkReadInput(serializers.Serializer):
    ids = serializers.ListField(
        child=IdField(),
        required=False,
        max_length=MAX_MARK_READ,
        help_text="The notifications to mark read (the caller's own; other ids are ignored).",
    )
    all = serializers.BooleanField(
        required=False, default=False, help_text="true: mark every notification read."
    )

    def validate(self, attrs):
        if not attrs.get("all") and not attrs.get("ids"):
            raise serializers.ValidationError(
                {"ids": [_('Give the ids to mark as read, or "all": true.')]}
            )
        return attrs


class MarkReadResult(serializers.Serializer):
    marked = serializers.IntegerField(help_text="How many were unread and are read now.")
    unread_count = serializers.IntegerField()


class MarkNotificationsReadView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        request=MarkReadInput,
        responses={
            200: MarkReadResult,
            400: OpenApiResponse(description='{"ids": [...]}: neither ids nor all given'),
        },
        description='Mark the caller\'s notifications read: `{"ids": [...]}` or `{"all": true}`.',
    )
    def post(self, request):
        data = MarkReadInput(data=request.data)
        data.is_valid(raise_exception=True)
        marked = notifications.mark_read(
            request.user,
            ids=data.validated_data.get("ids"),
            everything=data.validated_data["all"],
        )
        return Response(
            {"marked": marked, "unread_count": notifications.unread_total(request.user)}
        )


# --- The SMS gateway's inbound hook -------------------------------------------------------------


class SmsInboundInput(serializers.Serializer):
    phone = serializers.CharField(max_length=30)
    text = serializers.CharField(max_length=500, allow_blank=True)


class SmsInboundResult(serializers.Serializer):
    opted_out = serializers.BooleanField()


class SmsInboundView(APIView):
    """A reply to one of the platform's text messages, posted by the SMS gateway: "TD" (or
    退订, STOP) stops messages about cases to that number. The gateway authenticates with
    settings.SMS_INBOUND_TOKEN, in the `X-Inbound-Token` header or a `token` parameter."""

    permission_classes = [AllowAny]
    authentication_classes: list = []
    throttle_classes: list = []  # the gateway's own replies; the token guards the door

    @extend_schema(
        request=SmsInboundInput,
        responses={200: SmsInboundResult, 403: OpenApiResponse(description="Wrong token")},
    )
    def post(self, request):
        expected = getattr(settings, "SMS_INBOUND_TOKEN", "")
        given = request.headers.get("X-Inbound-Token") or request.query_params.get("token", "")
        if not expected or not constant_time_compare(given, expected):
            return Response({"detail": _("Wrong token.")}, status=status.HTTP_403_FORBIDDEN)
        serializer = SmsInboundInput(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        return Response({"opted_out": notifications.inbound_sms(data["phone"], data["text"])})
