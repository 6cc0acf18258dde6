"""Notifications: who hears of a case event, and how it reached them.

notifications/services.py writes and sends them; the apps that choose recipients are the
complainants' messages (notifications/complainants.py) and the apps above for their own acts
(dispatch: departments and centres). The notification and delivery tables were created by
dispatch and keep their names.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy as _

from grievances.models import CaseEvent, Complainant, Grievance
from notifications import messages


class Notification(models.Model):
    """One person's notice of one case event: a staff user (in the app, by e-mail and SMS)
    or a complainant (by SMS or e-mail, and on their tracking page).

    Stored as a message id with its parameters (notifications/messages.py) and rendered in the
    reader's language when it is sent or shown. Rows from before message ids keep their
    title and text as written then. Unique per (recipient, event) and per (complainant,
    event): the relay that writes these may run an event twice, and a person is still told
    once.
    """

    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("recipient"),
        on_delete=models.CASCADE,
        related_name="notifications",
        null=True,
        blank=True,
        db_index=False,  # the composite indexes below start with it
    )
    complainant = models.ForeignKey(
        Complainant,
        verbose_name=_("complainant"),
        on_delete=models.CASCADE,
        related_name="notifications",
        null=True,
        blank=True,
        db_index=False,  # the unique (complainant, event) index starts with it
    )
    grievance = models.ForeignKey(
        Grievance,
        verbose_name=_("case"),
        on_delete=models.CASCADE,
        related_name="notifications",
    )
    event = models.ForeignKey(
        CaseEvent,
        verbose_name=_("case event"),
        on_delete=models.CASCADE,
        related_name="notifications",
    )
    kind = models.CharField(_("kind"), max_length=30)
    message = models.CharField(_("message"), max_length=40, blank=True)
    params = models.JSONField(_("parameters"), default=dict, blank=True)
    language = models.CharField(_("language"), max_length=10, blank=True)
    title = models.CharField(_("title"), max_length=255, blank=True)
    body = models.TextField(_("text"), blank=True)
    url = models.CharField(_("link"), max_length=255, blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    read_at = models.DateTimeField(_("read"), null=True, blank=True)

    class Meta:
        db_table = "dispatch_notification"  # created by dispatch, kept where it is
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["recipient", "event"], name="one_notice_per_event"),
            # Not partial: a conflict target must match it whole (rows of staff have no
            # complainant, and NULLs never conflict).
            models.UniqueConstraint(
                fields=["complainant", "event"], name="one_notice_per_complainant_event"
            ),
            models.CheckConstraint(
                condition=models.Q(recipient__isnull=True) | models.Q(complainant__isnull=True),
                name="notice_to_one_reader",
            ),
        ]
        indexes = [
            models.Index(fields=["recipient", "-created_at", "-id"], name="nt_recipient_created"),
            # The header bell counts these on every page: unread rows only.
            models.Index(
                fields=["recipient", "-created_at"],
                name="nt_recipient_unread",
                condition=models.Q(read_at__isnull=True),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.recipient or self.complainant} · {self.message or self.title}"

    @property
    def display_title(self) -> str:
        """The title in the active language (the reader's page or the API's answer)."""
        return messages.rendered(self, translation.get_language())[0]

    @property
    def display_body(self) -> str:
        return messages.rendered(self, translation.get_language())[1]


class Delivery(models.Model):
    """Sending one notification by e-mail or SMS: claimed, sent, retried; each try is a
    DeliveryAttempt."""

    class Channel(models.TextChoices):
        EMAIL = "email", _("Email")
        SMS = "sms", _("SMS")

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        SENDING = "sending", _("Sending")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")
        SKIPPED = "skipped", _("Skipped")

    notification = models.ForeignKey(
        Notification,
        on_delete=models.CASCADE,
        related_name="deliveries",
        db_index=False,  # the unique (notification, channel) index starts with it
    )
    channel = models.CharField(_("channel"), max_length=10, choices=Channel.choices)
    address = models.CharField(_("address"), max_length=254)
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.PENDING
    )
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    last_error = models.TextField(_("last error"), blank=True)
    next_attempt_at = models.DateTimeField(_("next attempt"), default=timezone.now)
    claimed_at = models.DateTimeField(_("claimed"), null=True, blank=True)
    sent_at = models.DateTimeField(_("sent"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)

    class Meta:
        db_table = "dispatch_delivery"  # created by dispatch, kept where it is
        verbose_name = _("delivery")
        verbose_name_plural = _("deliveries")
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["notification", "channel"], name="one_delivery_per_channel"
            )
        ]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                name="dl_pending_due",
                condition=models.Q(status="pending"),
            ),
            models.Index(
                fields=["claimed_at"],
                name="dl_sending_claimed",
                condition=models.Q(status="sending"),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_channel_display()} → {self.address} ({self.get_status_display()})"


class DeliveryAttempt(models.Model):
    """One try at sending a delivery, and what came of it."""

    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="tries")
    at = models.DateTimeField(_("at"), default=timezone.now)
    ok = models.BooleanField(_("sent"))
    error = models.TextField(_("error"), blank=True)

    class Meta:
        verbose_name = _("delivery attempt")
        verbose_name_plural = _("delivery attempts")
        ordering = ["delivery", "at", "id"]

    def __str__(self) -> str:
        return f"{self.delivery_id} {self.at:%Y-%m-%d %H:%M} {'ok' if self.ok else 'failed'}"


class OptOut(models.Model):
    """A phone number or e-mail address that said no to messages about cases (a "TD" reply
    to the SMS gateway, or the link in a message). One-time codes still reach it."""

    address = models.CharField(_("address"), max_length=254, unique=True)
    source = models.CharField(_("how"), max_length=10)  # "sms" reply or "link"
    created_at = models.DateTimeField(_("since"), default=timezone.now)

    class Meta:
        verbose_name = _("opt-out")
        verbose_name_plural = _("opt-outs")

    def __str__(self) -> str:
        return self.address
