"""Departments (职能部门) and their members; whistles and routing build on them."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from grids.models import Region


class Department(models.Model):
    """A functional department that a governance centre whistles (吹哨) to."""

    name = models.CharField(_("name"), max_length=100)
    code = models.CharField(_("code"), max_length=40, unique=True)
    region = models.ForeignKey(
        Region,
        verbose_name=_("region served"),
        on_delete=models.PROTECT,
        related_name="departments",
        help_text=_("The region whose governance centre whistles this department."),
    )
    phone = models.CharField(_("duty phone"), max_length=20, blank=True)
    active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("department")
        verbose_name_plural = _("departments")
        ordering = ["region__code", "name"]

    def __str__(self) -> str:
        return self.name


class DepartmentRole(models.TextChoices):
    """A member's role inside their department: the head (科室负责人) names and changes the
    officer (承办人) of the department's assignments; staff handle what they are given."""

    STAFF = "staff", _("Department staff")
    HEAD = "head", _("Department head")


class DepartmentMembership(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="department_memberships"
    )
    department = models.ForeignKey(Department, on_delete=models.CASCADE, related_name="members")
    role = models.CharField(
        _("role"), max_length=10, choices=DepartmentRole.choices, default=DepartmentRole.STAFF
    )

    class Meta:
        verbose_name = _("department membership")
        verbose_name_plural = _("department memberships")
        constraints = [
            models.UniqueConstraint(fields=["user", "department"], name="unique_department_member")
        ]

    def __str__(self) -> str:
        return f"{self.user} · {self.department}"


class HandlingLevelChoice(models.TextChoices):
    VILLAGE = "village", _("Village")
    TOWNSHIP = "township", _("Township")
    COUNTY = "county", _("County")


class RoutingRule(models.Model):
    """Category (and its subtree) × region subtree → lead and assisting departments.

    The most specific rule wins: the deepest region first, then the deepest category. Two
    active rules equally specific for one case are a configuration error.
    """

    category = models.ForeignKey(
        "grievances.Category", verbose_name=_("category"), on_delete=models.CASCADE
    )
    region = models.ForeignKey(
        Region, verbose_name=_("region"), on_delete=models.CASCADE, related_name="routing_rules"
    )
    lead = models.ForeignKey(
        Department,
        verbose_name=_("lead department"),
        on_delete=models.PROTECT,
        related_name="lead_rules",
    )
    assisting = models.ManyToManyField(
        Department, verbose_name=_("assisting departments"), blank=True, related_name="+"
    )
    handling_level = models.CharField(
        _("handling level"), max_length=10, choices=HandlingLevelChoice.choices, blank=True
    )
    auto_dispatch = models.BooleanField(
        _("dispatch automatically"),
        default=False,
        help_text=_("Dispatch the proposal without waiting for the centre to confirm it."),
    )
    active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("routing rule")
        verbose_name_plural = _("routing rules")

    def __str__(self) -> str:
        return f"{self.category} · {self.region.name} → {self.lead}"

    @property
    def specificity(self) -> tuple[int, int]:
        return (self.region.depth, self.category.mptt_level)


class Whistle(models.Model):
    """One dispatch order (派单 / 吹哨) from a centre to one or more departments."""

    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        RETURNED = "returned", _("Returned")
        ESCALATED = "escalated", _("Escalated")
        DONE = "done", _("Done")
        # Ended by the merge of its case into another; an unmerge opens it again.
        MERGED = "merged", _("Merged")

    grievance = models.ForeignKey(
        "grievances.Grievance", on_delete=models.CASCADE, related_name="whistles"
    )
    centre = models.ForeignKey(
        Region, verbose_name=_("centre"), on_delete=models.PROTECT, related_name="whistles"
    )
    issued_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    instructions = models.TextField(_("instructions"), blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    created_at = models.DateTimeField(auto_now_add=True)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("whistle")
        verbose_name_plural = _("whistles")
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.grievance_id} → {self.centre.name}"


OPEN_ASSIGNMENT = ["pending", "reported_in"]
# Conditions of the SLA sweep's partial indexes (see Assignment.Meta.indexes).
SLA_REPORT_IN_OPEN = Q(status="pending", role="lead") & (
    Q(report_in_supervised_for__isnull=True) | Q(report_in_supervised_for__lt=F("report_in_due_at"))
)
SLA_HANDLE_OPEN = Q(status__in=OPEN_ASSIGNMENT, role="lead") & (
    Q(handle_supervised_for__isnull=True) | Q(handle_supervised_for__lt=F("handle_due_at"))
)
SLA_ESCALATE_OPEN = Q(status__in=OPEN_ASSIGNMENT, role="lead", escalate_at__isnull=False)


class Assignment(models.Model):
    class Role(models.TextChoices):
        LEAD = "lead", _("Lead")
        ASSISTING = "assisting", _("Assisting")

    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting for report-in")
        REPORTED_IN = "reported_in", _("Reported in")
        REFUSED = "refused", _("Refused")
        RETURNED = "returned", _("Returned")
        DONE = "done", _("Done")
        ESCALATED = "escalated", _("Escalated")
        MERGED = "merged", _("Merged")

    whistle = models.ForeignKey(Whistle, on_delete=models.CASCADE, related_name="assignments")
    department = models.ForeignKey(
        Department,
        verbose_name=_("department"),
        on_delete=models.PROTECT,
        related_name="assignments",
    )
    role = models.CharField(_("role"), max_length=10, choices=Role.choices)
    status = models.CharField(
        _("status"), max_length=12, choices=Status.choices, default=Status.PENDING
    )
    report_in_due_at = models.DateTimeField(_("report in by"), null=True, blank=True)
    handle_due_at = models.DateTimeField(_("handle by"), null=True, blank=True)
    reported_in_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    reason = models.TextField(_("reason"), blank=True)
    # 承办人: the named member of the department who handles its part. Set when the
    # department reports in (the member who signs, or one the department head names) and
    # changed by the head afterwards; every change is an event on the case's timeline.
    officer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("officer"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="officer_assignments",
        help_text=_("The department's member who handles this case (承办人)."),
    )
    # What the SLA sweep (dispatch/sla.py) has done. A mark holds the deadline value that
    # was supervised, not a flag: an extension or a resume moves the deadline past the mark,
    # the row re-enters the sweep's partial index, and the new deadline can be supervised
    # when it is missed in turn. Never twice for one value, whoever runs the sweep.
    report_in_supervised_for = models.DateTimeField(
        _("report-in deadline supervised"), null=True, blank=True, editable=False
    )
    handle_supervised_for = models.DateTimeField(
        _("handling deadline supervised"), null=True, blank=True, editable=False
    )
    escalate_at = models.DateTimeField(
        _("escalate automatically at"),
        null=True,
        blank=True,
        editable=False,
        help_text=_("Set when a missed deadline is supervised; checked again before escalating."),
    )
    escalated_at = models.DateTimeField(
        _("escalated automatically at"), null=True, blank=True, editable=False
    )

    class Meta:
        verbose_name = _("assignment")
        verbose_name_plural = _("assignments")
        ordering = ["whistle_id", "id"]  # the lead first: it is created first
        constraints = [
            models.UniqueConstraint(
                fields=["whistle", "department"], name="one_assignment_per_department"
            )
        ]
        indexes = [
            # Open assignments only: the SLA sweep and the inbox walk these.
            models.Index(
                fields=["report_in_due_at"],
                name="as_open_report_in_due",
                condition=models.Q(status="pending"),
            ),
            models.Index(
                fields=["department", "status"],
                name="as_department_status",
            ),
            # The SLA sweep's candidates: open lead assignments whose current deadline has
            # not been supervised yet, and those waiting for automatic escalation. The sweep
            # filters with these very conditions so that the planner can use the indexes.
            models.Index(
                fields=["report_in_due_at"], name="as_sla_report_in", condition=SLA_REPORT_IN_OPEN
            ),
            models.Index(fields=["handle_due_at"], name="as_sla_handle", condition=SLA_HANDLE_OPEN),
            models.Index(
                fields=["escalate_at"], name="as_sla_escalate", condition=SLA_ESCALATE_OPEN
            ),
        ]

    def __str__(self) -> str:
        return f"{self.department} ({self.get_role_display()})"

    @property
    def is_open(self) -> bool:
        return self.status in (self.Status.PENDING, self.Status.REPORTED_IN)
