"""A resident who joins an open case near their pin (这就是我要反映的) instead of opening
another: the join waits for the centre, and counts (as a complainant) once confirmed."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from grievances.models import Complainant, Grievance


class Join(models.Model):
    """One person's wish to be a complainant of a case, as sent from the report page.

    Pending until the case's centre confirms it (a Complainant is then added through
    grievances' services) or declines it; both are kept, with who decided and when."""

    class State(models.TextChoices):
        PENDING = "pending", _("Waiting for the centre")
        CONFIRMED = "confirmed", _("Confirmed")
        DECLINED = "declined", _("Declined")

    grievance = models.ForeignKey(
        Grievance, verbose_name=_("case"), on_delete=models.CASCADE, related_name="joins"
    )
    name = models.CharField(_("name"), max_length=100, blank=True)
    phone = models.CharField(_("phone"), max_length=20, blank=True)
    # The language of their messages once confirmed (as a complainant's: "" or "en").
    language = models.CharField(_("language"), max_length=10, blank=True)
    # A grid worker who joins on behalf of the resident before them; None for a resident.
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("submitted by"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    # The client as the limits count it (grids.limits.client_address: an IPv6 /64 is one).
    client_address = models.CharField(_("client address"), max_length=64, blank=True)
    created_at = models.DateTimeField(_("sent at"), default=timezone.now)
    state = models.CharField(
        _("state"), max_length=10, choices=State.choices, default=State.PENDING
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("decided by"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    # The complainant the confirmation added.
    complainant = models.ForeignKey(
        Complainant,
        verbose_name=_("complainant"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )

    class Meta:
        verbose_name = _("join")
        verbose_name_plural = _("joins")
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["grievance", "state"], name="dj_case_state")]
        constraints = [
            # One phone joins a case once (while waiting or once confirmed): a second tap,
            # or two tabs, make no second join.
            models.UniqueConstraint(
                fields=["grievance", "phone"],
                name="dj_one_join_per_phone",
                condition=models.Q(state__in=["pending", "confirmed"]) & ~models.Q(phone=""),
            )
        ]

    def __str__(self) -> str:
        return f"{self.name or '—'} → {self.grievance_id} ({self.state})"
