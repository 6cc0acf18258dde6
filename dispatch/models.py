"""Departments (职能部门) and their members; whistles and routing build on them."""

from __future__ import annotations

from django.conf import settings
from django.db import models
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
