"""What evaluation keeps: return visits (回访), the figures' daily cells and what each case
adds to them, and exports.

The tables were created by the grievances app and keep their names (each model's
db_table): evaluation/migrations/0001_initial.py takes them over in Django's migration state
only, so a database migrated before the move keeps every row.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from grievances.models import Grievance


class ReturnVisitReason(models.TextChoices):
    UNSATISFIED = "unsatisfied", _("Unsatisfied rating")
    ESCALATED = "escalated", _("Escalated case")
    SAMPLE = "sample", _("Random sample")


class ReturnVisit(models.Model):
    """回访问效: the centre calls the reporter back after a case closes.

    Scheduled by evaluation/returnvisits.py for every unsatisfied rating, every escalated
    case and a deterministic sample of the rest; one per (case, closing, reason), so a case
    reopened and closed again is visited again.
    """

    grievance = models.ForeignKey(
        Grievance, verbose_name=_("case"), on_delete=models.CASCADE, related_name="return_visits"
    )
    reason = models.CharField(_("reason"), max_length=12, choices=ReturnVisitReason.choices)
    # The closing this visit follows up (the case's closed_at when it was scheduled).
    closed_at = models.DateTimeField(_("case closed at"))
    due_at = models.DateTimeField(_("due"), db_index=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("recorded by"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    reached = models.BooleanField(_("reporter reached"), null=True, blank=True)
    satisfied = models.BooleanField(_("satisfied"), null=True, blank=True)
    resolved = models.BooleanField(_("resolved"), null=True, blank=True)
    note = models.TextField(_("note"), blank=True)
    recorded_at = models.DateTimeField(_("recorded at"), null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "grievances_returnvisit"  # created by grievances, kept where it is
        verbose_name = _("return visit")
        verbose_name_plural = _("return visits")
        ordering = ["due_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["grievance", "closed_at", "reason"], name="one_visit_per_closing_reason"
            )
        ]
        indexes = [
            # The centres' work list: visits still to call.
            models.Index(
                fields=["due_at"], name="rv_pending_due", condition=models.Q(recorded_at=None)
            )
        ]

    def __str__(self) -> str:
        return f"{self.grievance_id} {self.reason} {self.due_at:%Y-%m-%d}"

    @property
    def is_recorded(self) -> bool:
        return self.recorded_at is not None


class CaseFigure(models.Model):
    """What one case currently adds to the figure cells (evaluation/figures.py).

    The refresh subtracts the stored contributions and adds the new ones, so the cells
    always equal the sum over the cases' current facts, whatever ran before.
    """

    grievance = models.OneToOneField(
        Grievance, on_delete=models.CASCADE, primary_key=True, related_name="figure"
    )
    nodes = models.JSONField(default=list)  # region ids the contributions went to
    contributions = models.JSONField(default=list)  # [[ordinal day, department, key, amount]]
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "grievances_casefigure"  # created by grievances, kept where it is
        verbose_name = _("case figure")
        verbose_name_plural = _("case figures")

    def __str__(self) -> str:
        return str(self.grievance_id)


class FigureCell(models.Model):
    """Precomputed daily figures of one region node (0: everything) and department (0: all).

    `values` is a flat dict of counters, sums and histogram buckets (see
    evaluation/figures.py); a figure for a period sums the cells of its days.
    """

    day = models.DateField()
    region_key = models.BigIntegerField(help_text="Region id, 0 for all regions.")
    department_key = models.BigIntegerField(help_text="Department id, 0 for all.")
    values = models.JSONField(default=dict)

    class Meta:
        db_table = "grievances_figurecell"  # created by grievances, kept where it is
        verbose_name = _("figure cell")
        verbose_name_plural = _("figure cells")
        constraints = [
            models.UniqueConstraint(
                fields=["region_key", "department_key", "day"], name="one_cell_per_key_day"
            )
        ]

    def __str__(self) -> str:
        return f"{self.day} r{self.region_key} d{self.department_key}"


class FigureState(models.Model):
    """One row: when the figure cells were last refreshed. Locked while refreshing.

    `last_run_at` is None until a full build has completed; while a build is under way,
    `rebuilt_through_id` is the last case id it has done, so the next run goes on from there.
    """

    last_run_at = models.DateTimeField(null=True, blank=True)
    rebuild_started_at = models.DateTimeField(null=True, blank=True)
    rebuilt_through_id = models.BigIntegerField(default=0)

    class Meta:
        db_table = "grievances_figurestate"  # created by grievances, kept where it is
        verbose_name = _("figure refresh state")

    def __str__(self) -> str:
        return f"{self.last_run_at}"


class Export(models.Model):
    """A CSV or Excel file of cases or figures, made for its owner (evaluation/exports.py)."""

    class Kind(models.TextChoices):
        CASES = "cases", _("Case list")
        FIGURES = "figures", _("Figures")

    class FileType(models.TextChoices):
        CSV = "csv", "CSV"
        XLSX = "xlsx", "Excel"

    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting")
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("owner"),
        on_delete=models.CASCADE,
        related_name="exports",
    )
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    file_type = models.CharField(_("file type"), max_length=5, choices=FileType.choices)
    params = models.JSONField(_("parameters"), default=dict)
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.PENDING
    )
    progress = models.PositiveSmallIntegerField(_("progress (%)"), default=0)
    rows = models.PositiveIntegerField(_("rows"), default=0)
    file = models.FileField(_("file"), upload_to="exports/", max_length=200, blank=True)
    error = models.TextField(_("error"), blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "grievances_export"  # created by grievances, kept where it is
        verbose_name = _("export")
        verbose_name_plural = _("exports")
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(
                fields=["created_at"],
                name="ex_unfinished",
                condition=models.Q(status__in=["pending", "running"]),
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind}.{self.file_type} ({self.status})"
