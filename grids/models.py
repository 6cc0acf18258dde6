"""The region tree (网格化管理), its boundaries, users and their memberships."""

from __future__ import annotations

from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _
from mptt.models import MPTTModel, TreeForeignKey


class Level(models.TextChoices):
    PROVINCE = "province", _("Province")
    CITY = "city", _("City")
    COUNTY = "county", _("County")
    TOWNSHIP = "township", _("Township")
    VILLAGE = "village", _("Village / community")
    GRID = "grid", _("Grid")


# Depth of each level in the full hierarchy; a child is exactly one step below its parent.
LEVEL_ORDER = [Level.PROVINCE, Level.CITY, Level.COUNTY, Level.TOWNSHIP, Level.VILLAGE, Level.GRID]
LEVEL_DEPTH = {str(level): depth for depth, level in enumerate(LEVEL_ORDER)}
# Administrative levels carry the 12-digit statistical division code; grids extend the
# village code with a 3-digit sequence.
CODE_LENGTH = {str(level): 12 for level in LEVEL_ORDER[:-1]} | {str(Level.GRID): 15}


def child_level(level: str) -> str | None:
    depth = LEVEL_DEPTH[level]
    return str(LEVEL_ORDER[depth + 1]) if depth + 1 < len(LEVEL_ORDER) else None


def level_error(level: str, parent_level: str | None) -> str | None:
    """Why a region of `level` cannot sit under a parent of `parent_level`, or None."""
    if level not in LEVEL_DEPTH:
        return _("unknown level %(level)s") % {"level": level}
    if parent_level is None:
        if level not in (Level.PROVINCE, Level.CITY):
            return _("a %(level)s needs a parent") % {"level": level}
        return None
    if LEVEL_DEPTH[level] != LEVEL_DEPTH[parent_level] + 1:
        return _("a %(level)s cannot sit under a %(parent)s") % {
            "level": level,
            "parent": parent_level,
        }
    return None


class GridKind(models.TextChoices):
    RESIDENTIAL = "residential", _("Residential")
    SCHOOL = "school", _("School")
    HOSPITAL = "hospital", _("Hospital")
    MARKET = "market", _("Market")
    TEMPLE = "temple", _("Temple")
    OTHER = "other", _("Other")


class Region(MPTTModel):
    name = models.CharField(_("name"), max_length=100)
    code = models.CharField(_("code"), max_length=15, unique=True)
    level = models.CharField(_("level"), max_length=10, choices=Level.choices, db_index=True)
    kind = models.CharField(_("grid kind"), max_length=12, choices=GridKind.choices, blank=True)
    parent = TreeForeignKey(
        "self",
        verbose_name=_("parent"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="children",
    )
    # Bounding box and centroid of the boundary, kept here so that tree operations and
    # lists never load geometry.
    min_lng = models.FloatField(null=True, blank=True)
    min_lat = models.FloatField(null=True, blank=True)
    max_lng = models.FloatField(null=True, blank=True)
    max_lat = models.FloatField(null=True, blank=True)
    centroid_lng = models.FloatField(null=True, blank=True)
    centroid_lat = models.FloatField(null=True, blank=True)

    class MPTTMeta:
        level_attr = "mptt_level"
        order_insertion_by = ["code"]

    class Meta:
        verbose_name = _("region")
        verbose_name_plural = _("regions")
        indexes = [models.Index(fields=["min_lng", "max_lng", "min_lat", "max_lat"])]

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"

    @property
    def depth(self) -> int:
        return LEVEL_DEPTH[self.level]

    def clean(self) -> None:
        problem = level_error(self.level, self.parent.level if self.parent_id else None)
        if problem:
            raise ValidationError({"level": problem})
        if self.kind and self.level != Level.GRID:
            raise ValidationError({"kind": _("only grids have a kind")})
        if self.parent_id and self.pk and self.parent.is_descendant_of(self, include_self=True):
            raise ValidationError({"parent": _("a region cannot sit inside itself")})

    def set_bbox(self, geometry) -> None:
        """Copy the bounding box and centroid of a shapely geometry onto the row."""
        if geometry is None or geometry.is_empty:
            self.min_lng = self.min_lat = self.max_lng = self.max_lat = None
            self.centroid_lng = self.centroid_lat = None
            return
        self.min_lng, self.min_lat, self.max_lng, self.max_lat = geometry.bounds
        point = geometry.representative_point()
        self.centroid_lng, self.centroid_lat = point.x, point.y


class RegionBoundary(models.Model):
    """The boundary as GeoJSON (Polygon/MultiPolygon, WGS-84, unsimplified)."""

    region = models.OneToOneField(
        Region,
        verbose_name=_("region"),
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="boundary",
    )
    geometry = models.JSONField(_("boundary"))
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("boundary")
        verbose_name_plural = _("boundaries")

    def __str__(self) -> str:
        return str(self.region)


class BoundaryVersion(models.Model):
    """One row whose number goes up whenever any boundary changes.

    Each process keeps an in-memory index of the boundaries; signals do not cross
    processes and bulk writes send none, so processes compare this number instead.
    """

    # A fresh random stamp on every change, not a counter: a rolled-back transaction must
    # never leave two different sets of boundaries under one stamp.
    stamp = models.CharField(max_length=32, default="")
    changed_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("boundary version")

    def __str__(self) -> str:
        return self.stamp


class User(AbstractUser):
    full_name = models.CharField(_("full name"), max_length=100, blank=True)
    phone = models.CharField(_("phone"), max_length=20, blank=True)
    must_change_password = models.BooleanField(
        _("must change password"),
        default=False,
        help_text=_("Asked to choose a new password at the next login."),
    )

    class Meta(AbstractUser.Meta):
        swappable = "AUTH_USER_MODEL"
        verbose_name = _("user")
        verbose_name_plural = _("users")

    def __str__(self) -> str:
        return self.full_name or self.get_full_name() or self.username

    @property
    def display_name(self) -> str:
        return str(self)


class Role(models.TextChoices):
    GRID_WORKER = "grid_worker", _("Grid worker")
    GRID_POLICE = "grid_police", _("Grid police")
    GRID_LEADER = "grid_leader", _("Grid leader")
    CENTRE_STAFF = "centre_staff", _("Centre staff")
    LEADER = "leader", _("Leader")
    # A county's centre administrator (中心管理员): configures the categories and their time
    # limits for the county's subtree (desk/categories.py); acts on no case.
    CENTRE_ADMIN = "centre_admin", _("Centre administrator")


class Membership(models.Model):
    """A user's role in a region: they see and act on that region's subtree."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    region = models.ForeignKey(Region, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(_("role"), max_length=20, choices=Role.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("membership")
        verbose_name_plural = _("memberships")
        constraints = [
            models.UniqueConstraint(fields=["user", "region", "role"], name="unique_membership")
        ]

    def __str__(self) -> str:
        return f"{self.user} · {self.get_role_display()} · {self.region.name}"


class LoginLockout(models.Model):
    """How many times one (username, address) pair was locked out of signing in, and until
    when the latest lockout runs: each lockout lasts twice the one before (grids.lockout).
    django-axes keeps the failures themselves; this row only remembers the strikes."""

    username = models.CharField(_("username"), max_length=255)
    ip_address = models.GenericIPAddressField(_("IP address"), null=True, blank=True)
    strikes = models.PositiveSmallIntegerField(_("lockouts"), default=0)
    locked_until = models.DateTimeField(_("locked until"), db_index=True)

    class Meta:
        verbose_name = _("sign-in lockout")
        verbose_name_plural = _("sign-in lockouts")
        constraints = [
            models.UniqueConstraint(fields=["username", "ip_address"], name="unique_login_pair")
        ]

    def __str__(self) -> str:
        return f"{self.username} @ {self.ip_address}"


from grids.calendar_models import *  # noqa: E402,F401,F403
