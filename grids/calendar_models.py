"""Rows of the working-day calendar that admins enter: holidays, make-up days, whole years.

The chinese-calendar package supplies the State Council's arrangement for the years it
knows; these rows override it (national rows, region empty) and add the statutory holidays
of autonomous regions (region set: that region and its whole subtree). The arithmetic lives
in grids/workcalendar.py. grids/models.py imports this module so Django sees the models.
"""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.utils.translation import gettext_lazy as _

__all__ = [
    "CalendarDay",
    "CalendarVersion",
    "CalendarYear",
    "DayKind",
    "bump_calendar_version",
]


class DayKind(models.TextChoices):
    HOLIDAY = "holiday", _("Holiday (no work)")
    WORKDAY = "workday", _("Working day (make-up day)")


class CalendarDay(models.Model):
    """One day that differs from Monday–Friday, or that overrides the package's answer."""

    date = models.DateField(_("date"), db_index=True)
    kind = models.CharField(_("kind"), max_length=10, choices=DayKind.choices)
    name = models.CharField(
        _("name"), max_length=100, blank=True, help_text=_("For example 春节 or 藏历新年.")
    )
    region = models.ForeignKey(
        "grids.Region",
        verbose_name=_("region"),
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="calendar_days",
        help_text=_(
            "Empty: a national day (overrides the built-in State Council data). Set: a day "
            "of this region and every region below it (autonomous regions' own holidays)."
        ),
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("calendar day")
        verbose_name_plural = _("calendar days")
        ordering = ["date"]
        constraints = [
            # A NULL region never collides in a plain unique constraint, so national rows
            # need their own partial one.
            models.UniqueConstraint(fields=["date", "region"], name="unique_calendar_day_region"),
            models.UniqueConstraint(
                fields=["date"],
                condition=models.Q(region__isnull=True),
                name="unique_calendar_day_national",
            ),
        ]

    def __str__(self) -> str:
        where = self.region.name if self.region_id else _("national")
        return f"{self.date} {self.get_kind_display()} {self.name} ({where})"


class CalendarYear(models.Model):
    """An admin's statement that a year's national arrangement has been entered in full.

    Without it a year with some national rows still counts as having data, but the
    calendar warns that the data may be partial.
    """

    year = models.PositiveSmallIntegerField(_("year"), unique=True)
    complete = models.BooleanField(
        _("national data complete"),
        default=True,
        help_text=_("All of the State Council's holidays and make-up days of this year are in."),
    )
    note = models.CharField(_("note"), max_length=200, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("calendar year")
        verbose_name_plural = _("calendar years")
        ordering = ["year"]

    def __str__(self) -> str:
        return str(self.year)


class CalendarVersion(models.Model):
    """One row whose stamp changes whenever any calendar row changes.

    Every process caches the working days per year; signals do not cross processes and
    bulk writes send none, so processes compare this stamp instead.
    """

    # A fresh random stamp, not a counter: a rolled-back transaction must never leave two
    # different calendars under one stamp.
    stamp = models.CharField(max_length=32, default="")
    changed_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("calendar version")

    def __str__(self) -> str:
        return self.stamp


def bump_calendar_version() -> None:
    """Tell every process that the calendar changed (call inside the writing transaction)."""
    CalendarVersion.objects.update_or_create(pk=1, defaults={"stamp": uuid.uuid4().hex})


@receiver(post_save, sender=CalendarDay)
@receiver(post_delete, sender=CalendarDay)
@receiver(post_save, sender=CalendarYear)
@receiver(post_delete, sender=CalendarYear)
def calendar_changed(sender, **kwargs) -> None:
    # Also on raw saves (loaddata): a fixture of holidays changes the calendar too.
    bump_calendar_version()
