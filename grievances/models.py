"""Cases (grievances), their complainants, attachments, timeline and ratings.

The state graph is declared once here with django-fsm-2; grievances/services.py is the only
place that calls the transitions (with the actor, the lock and the CaseEvent).
"""

from __future__ import annotations

import re
import secrets

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models.functions import Coalesce, Least, Replace
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_fsm import RETURN_VALUE, ConcurrentTransitionMixin, FSMField, transition
from mptt.models import MPTTModel, TreeForeignKey

from grids.models import LEVEL_ORDER, Region


class Kind(models.TextChoices):
    DISPUTE = "dispute", _("Dispute")
    HARDSHIP = "hardship", _("Hardship or request")
    HAZARD = "hazard", _("Hazard or problem")


class Urgency(models.TextChoices):
    MOST_URGENT = "most_urgent", _("Most urgent")
    URGENT = "urgent", _("Urgent")
    NORMAL = "normal", _("Normal")


class Unit(models.TextChoices):
    WORKING_DAYS = "working_days", _("working days")
    WORKING_HOURS = "working_hours", _("working hours")
    CALENDAR_HOURS = "calendar_hours", _("calendar hours")


CATEGORY_CODE = re.compile(r"[a-z][a-z0-9_]*(\.[a-z0-9_]+)*")


class Category(MPTTModel):
    """A case category, in a small tree under the three kinds."""

    code = models.CharField(_("code"), max_length=40, unique=True)
    name = models.CharField(_("name"), max_length=100)
    name_en = models.CharField(_("English name"), max_length=100, blank=True)
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    parent = TreeForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="children"
    )
    default_urgency = models.CharField(
        _("default urgency"), max_length=12, choices=Urgency.choices, default=Urgency.NORMAL
    )
    # Handling deadlines by urgency. 特急 counts calendar hours; the others working time.
    handle_most_urgent_hours = models.PositiveSmallIntegerField(
        _("handling limit, most urgent (calendar hours)"), default=4
    )
    handle_urgent_days = models.PositiveSmallIntegerField(
        _("handling limit, urgent (working days)"), default=1
    )
    handle_normal_days = models.PositiveSmallIntegerField(
        _("handling limit, normal (working days)"), default=5
    )
    # Report-in (签收) limits counted from the whistle.
    report_in_most_urgent_minutes = models.PositiveSmallIntegerField(
        _("report-in limit, most urgent (calendar minutes)"), default=30
    )
    report_in_urgent_hours = models.PositiveSmallIntegerField(
        _("report-in limit, urgent (working hours)"), default=1
    )
    report_in_normal_hours = models.PositiveSmallIntegerField(
        _("report-in limit, normal (working hours)"), default=4
    )
    is_dispute = models.BooleanField(
        _("dispute (eligible for mediation)"), default=False, db_index=True
    )
    active = models.BooleanField(_("active"), default=True)
    # 小事不出村、大事不出乡: where a matter of this category is handled when neither a routing
    # rule nor the centre says otherwise (blank: by the case's complexity).
    default_handling_level = models.CharField(
        _("default handling level"),
        max_length=10,
        blank=True,
        choices=[
            ("village", _("Village")),
            ("township", _("Township")),
            ("county", _("County")),
        ],
    )
    # A county's own category (虫草采集纠纷 in 甘孜) belongs to that region's subtree: its
    # centre administrator edits it, and only cases there may take it. Blank: everywhere.
    region = models.ForeignKey(
        Region,
        verbose_name=_("region"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text=_("Limit the category to this region's subtree; blank for everywhere."),
    )

    class MPTTMeta:
        level_attr = "mptt_level"
        order_insertion_by = ["code"]

    class Meta:
        verbose_name = _("category")
        verbose_name_plural = _("categories")

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        """A child keeps its parent's kind and code prefix (dispute.wages under dispute) and
        stays within the parent's region: the tree is what routing and the figures group by."""
        errors = {}
        if self.code and not CATEGORY_CODE.fullmatch(self.code):
            errors["code"] = _("Lower-case letters, digits and _, parts joined by dots.")
        parent = self.parent
        if parent is not None:
            if self.pk and (parent.pk == self.pk or parent.is_descendant_of(self)):
                errors["parent"] = _("A category cannot sit under itself.")
            elif self.code and not self.code.startswith(f"{parent.code}."):
                errors["code"] = _("The code must start with the parent's code and a dot: %s.") % (
                    f"{parent.code}."
                )
            if self.kind and self.kind != parent.kind:
                errors["kind"] = _("A category keeps its parent's kind.")
            inside = parent.region is None or (
                self.region is not None
                and self.region.tree_id == parent.region.tree_id
                and parent.region.lft <= self.region.lft <= parent.region.rght
            )
            if not inside:
                errors["region"] = _("The region must lie within the parent's region.")
        if errors:
            raise ValidationError(errors)

    def handle_limit(self, urgency: str) -> tuple[float, str]:
        """(amount, unit) of the handling deadline for an urgency."""
        if urgency == Urgency.MOST_URGENT:
            return self.handle_most_urgent_hours, Unit.CALENDAR_HOURS
        if urgency == Urgency.URGENT:
            return self.handle_urgent_days, Unit.WORKING_DAYS
        return self.handle_normal_days, Unit.WORKING_DAYS

    def report_in_limit(self, urgency: str) -> tuple[float, str]:
        if urgency == Urgency.MOST_URGENT:
            return self.report_in_most_urgent_minutes / 60, Unit.CALENDAR_HOURS
        if urgency == Urgency.URGENT:
            return self.report_in_urgent_hours, Unit.WORKING_HOURS
        return self.report_in_normal_hours, Unit.WORKING_HOURS


class CategoryLimit(models.Model):
    """A region's own time limits for a category at one urgency, for the region's whole
    subtree; the nearest region's override wins (grievances.deadlines.limits).

    The amounts are in the category's units for that urgency (特急: calendar minutes to
    report in, calendar hours to handle; the others: working hours and working days). A
    change counts for dispatches made after it: a whistle keeps the deadlines it was given.
    """

    category = models.ForeignKey(
        Category, verbose_name=_("category"), on_delete=models.CASCADE, related_name="limits"
    )
    region = models.ForeignKey(
        Region, verbose_name=_("region"), on_delete=models.CASCADE, related_name="+"
    )
    urgency = models.CharField(_("urgency"), max_length=12, choices=Urgency.choices)
    report_in = models.PositiveIntegerField(
        _("report-in limit"),
        validators=[MinValueValidator(1), MaxValueValidator(10_000)],
        help_text=_("Most urgent: calendar minutes; otherwise working hours."),
    )
    handling = models.PositiveIntegerField(
        _("handling limit"),
        validators=[MinValueValidator(1), MaxValueValidator(10_000)],
        help_text=_("Most urgent: calendar hours; otherwise working days."),
    )

    class Meta:
        verbose_name = _("region's time limit")
        verbose_name_plural = _("regions' time limits")
        ordering = ["category__code", "region__code", "urgency"]
        constraints = [
            models.UniqueConstraint(
                fields=["category", "region", "urgency"], name="one_limit_per_region_urgency"
            )
        ]

    def __str__(self) -> str:
        return f"{self.category} · {self.region.name} · {self.get_urgency_display()}"

    def report_in_amount(self) -> float:
        """The report-in limit in the unit Category.report_in_limit gives for the urgency."""
        if self.urgency == Urgency.MOST_URGENT:
            return self.report_in / 60
        return self.report_in


class State(models.TextChoices):
    SUBMITTED = "submitted", _("Submitted")
    ACCEPTED = "accepted", _("Accepted")
    REJECTED = "rejected", _("Rejected")
    DISPATCHED = "dispatched", _("Dispatched")
    MEDIATING = "mediating", _("Mediating")
    IN_PROGRESS = "in_progress", _("In progress")
    HANDLED = "handled", _("Handled")
    CLOSED = "closed", _("Closed")
    WITHDRAWN = "withdrawn", _("Withdrawn")


OPEN_STATES = [
    State.SUBMITTED,
    State.ACCEPTED,
    State.DISPATCHED,
    State.MEDIATING,
    State.IN_PROGRESS,
    State.HANDLED,
]
TERMINAL_STATES = [State.REJECTED, State.CLOSED, State.WITHDRAWN]
# A case the centre may merge into another (grievances/merging.py): not yet with a mediator
# nor handled, so nothing of its own is lost in the merge.
MERGEABLE_STATES = [State.SUBMITTED, State.ACCEPTED, State.DISPATCHED, State.IN_PROGRESS]


class Source(models.TextChoices):
    GRID_WORKER = "grid_worker", _("Grid worker")
    RESIDENT_WEB = "resident_web", _("Resident (web)")
    # 民情110: the village's desk where residents bring matters in person or by phone (the
    # value keeps its old name; it is no hotline of its own).
    HOTLINE = "hotline", _("Village desk (民情110)")
    TEA_MEETING = "tea_meeting", _("Household tea meeting")
    PETITION_VISIT = "petition_visit", _("Petition visit")
    WALK_IN = "walk_in", _("Walk-in window")
    API = "api", _("API")
    HOTLINE_12345 = "hotline_12345", _("12345 hotline transfer")
    MAYOR_MAILBOX = "mayor_mailbox", _("Mayor's mailbox")
    VIDEO_PATROL = "video_patrol", _("Video patrol")
    PETITION_TRANSFER = "petition_transfer", _("Petition office transfer")


# Sources whose cases come from another system with a ticket number of its own
# (Grievance.external_id), and the system the number belongs to when the sender names none.
EXTERNAL_SOURCES = {
    Source.HOTLINE_12345.value: "12345",
    Source.MAYOR_MAILBOX.value: "mayor_mailbox",
    Source.PETITION_TRANSFER.value: "petition",
}


class RequestType(models.TextChoices):
    """What the person asks for (诉求类型): a consultation (咨询) wants an answer, a request
    for help (求助) a service, a complaint (投诉) or a tip-off (举报) a handling, a suggestion
    (建议) a hearing. The centre may answer a consultation itself and close it (答复)."""

    CONSULTATION = "consultation", _("Consultation")
    HELP = "help", _("Request for help")
    COMPLAINT = "complaint", _("Complaint")
    TIP_OFF = "tip_off", _("Tip-off")
    SUGGESTION = "suggestion", _("Suggestion")


class Complexity(models.TextChoices):
    SIMPLE = "simple", _("Simple")
    COMPLEX = "complex", _("Complex")
    DIFFICULT = "difficult", _("Difficult")


class HandlingLevel(models.TextChoices):
    GRID = "grid", _("Grid")
    VILLAGE = "village", _("Village")
    TOWNSHIP = "township", _("Township")
    COUNTY = "county", _("County")
    CITY = "city", _("City")


class RejectReason(models.TextChoices):
    DUPLICATE = "duplicate", _("Duplicate of another case")
    INVALID = "invalid", _("Invalid or malicious report")
    OUT_OF_SCOPE = "out_of_scope", _("Not a matter for the governance centre")
    COURT = "court", _("Belongs to the courts or another procedure")
    INSUFFICIENT = "insufficient", _("Insufficient information")
    OTHER = "other", _("Other")


# Tracking codes: 8 characters from an alphabet without look-alikes (0/O, 1/I/L, U/V),
# easy to read aloud on the phone, shown as XXXX-XXXX. 29^8 ≈ 5×10^11 codes.
CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTWXYZ"
CODE_LENGTH = 8


def new_tracking_code() -> str:
    # One draw from the system's random source, written in base 29: as uniform as a draw
    # per character, and a fraction of the time.
    number = secrets.randbelow(len(CODE_ALPHABET) ** CODE_LENGTH)
    chars = []
    for _position in range(CODE_LENGTH):
        number, digit = divmod(number, len(CODE_ALPHABET))
        chars.append(CODE_ALPHABET[digit])
    return "".join(chars)


def normalize_tracking_code(raw: str) -> str:
    return "".join(ch for ch in (raw or "").upper() if ch.isalnum())


def format_tracking_code(code: str) -> str:
    return f"{code[:4]}-{code[4:]}" if len(code) == CODE_LENGTH else code


ANCESTOR_FIELDS = [f"{level}_id" for level in LEVEL_ORDER]


# --- The console's queue --------------------------------------------------------------------------
# The order of a centre's queue (dispatch.selectors.queue_order) and the indexes that serve it
# (Grievance.Meta.indexes) are built from the same expressions: PostgreSQL then reads a page of
# a subtree's queue in index order (an equality on the per-level column first) instead of
# sorting the whole subtree. Change one and the other follows.

QUEUE_STATES = [
    State.SUBMITTED.value,
    State.ACCEPTED.value,
    State.DISPATCHED.value,
    State.IN_PROGRESS.value,
    State.HANDLED.value,
    State.MEDIATING.value,
]
QUEUE_NEEDS_CENTRE = [State.SUBMITTED.value, State.ACCEPTED.value, State.HANDLED.value]
QUEUE_WITH_HANDLERS = [State.DISPATCHED.value, State.IN_PROGRESS.value]
QUEUE_GROUP_NEEDS_CENTRE, QUEUE_GROUP_WITH_HANDLERS, QUEUE_GROUP_OTHER = 0, 1, 2
# The levels whose centres get an index of their own; a centre above them walks the index
# of the whole queue and keeps the rows of its subtree (a large share of it).
QUEUE_INDEXED_LEVELS = ["county", "township", "village"]


def queue_group_expression() -> models.Case:
    """What needs the centre (0), cases whose clock runs (1), the rest (2: suspended,
    mediating)."""
    return models.Case(
        models.When(state__in=QUEUE_NEEDS_CENTRE, then=models.Value(QUEUE_GROUP_NEEDS_CENTRE)),
        models.When(
            state__in=QUEUE_WITH_HANDLERS,
            suspended_at__isnull=True,
            then=models.Value(QUEUE_GROUP_WITH_HANDLERS),
        ),
        default=models.Value(QUEUE_GROUP_OTHER),
        output_field=models.IntegerField(),
    )


def queue_rank_expression() -> models.Case:
    """The priority of what needs the centre; 0 for the rest."""
    return models.Case(
        models.When(state__in=QUEUE_NEEDS_CENTRE, then=models.F("priority")),
        default=models.Value(0),
        output_field=models.IntegerField(),
    )


def queue_deadline_expression() -> models.Case:
    """The running deadline as due_for() reads it: the earlier of report-in and handling
    while dispatched, handling while in progress, none otherwise."""
    return models.Case(
        models.When(
            state=State.DISPATCHED.value,
            then=Least(
                Coalesce("report_in_due_at", "handle_due_at"),
                Coalesce("handle_due_at", "report_in_due_at"),
            ),
        ),
        models.When(state=State.IN_PROGRESS.value, then=models.F("handle_due_at")),
        default=models.Value(None),
        output_field=models.DateTimeField(),
    )


def queue_index(level: str | None) -> models.Index:
    """The queue's order over the open cases, after an equality on `level`'s column."""
    leading = [models.F(level)] if level else []
    return models.Index(
        *leading,
        queue_group_expression(),
        queue_rank_expression().desc(),
        # Ascending puts nulls last in PostgreSQL, as the queue wants (SQLite refuses
        # NULLS LAST in an index).
        queue_deadline_expression(),
        models.F("created_at"),
        models.F("id"),
        name=f"gr_queue_{level}" if level else "gr_queue",
        condition=models.Q(state__in=QUEUE_STATES),
    )


def ancestor_column() -> models.ForeignKey:
    """A per-level ancestor column of a case (see Grievance.province)."""
    return models.ForeignKey(
        Region,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )


def not_null_indexes(prefix: str, fields: list[str]) -> list[models.Index]:
    """Indexes of nullable foreign keys over the rows that have one (lookups by a value and
    the deletion of the row referred to use them; rows without one cost no index entry)."""
    return [
        models.Index(
            fields=[field],
            name=f"{prefix}_{field}_set",
            condition=models.Q(**{f"{field}__isnull": False}),
        )
        for field in fields
    ]


class Grievance(ConcurrentTransitionMixin, models.Model):
    # Unique through Meta.constraints: a unique field would get a second index for LIKE
    # queries, which nothing runs on codes.
    tracking_code = models.CharField(
        _("tracking code"), max_length=CODE_LENGTH, default=new_tracking_code
    )
    title = models.CharField(_("title"), max_length=200)
    description = models.TextField(_("description"))
    category = models.ForeignKey(
        Category, verbose_name=_("category"), on_delete=models.PROTECT, related_name="grievances"
    )
    urgency = models.CharField(
        _("urgency"), max_length=12, choices=Urgency.choices, default=Urgency.NORMAL
    )
    # What a resident asked for when reporting: a suggestion shown to the centre, which sets
    # `urgency` (the one deadlines follow) at acceptance or triage. Blank for staff reports.
    suggested_urgency = models.CharField(
        _("urgency suggested by the reporter"),
        max_length=12,
        choices=Urgency.choices,
        blank=True,
    )
    lng = models.FloatField(_("longitude"), null=True, blank=True)
    lat = models.FloatField(_("latitude"), null=True, blank=True)
    address = models.CharField(_("address"), max_length=255, blank=True)
    region = models.ForeignKey(
        Region,
        verbose_name=_("region"),
        on_delete=models.PROTECT,
        related_name="grievances",
        help_text=_("The located grid, or the region chosen by hand."),
    )
    # The region's ancestors per level (and itself at its own level): a subtree filter is
    # an equality on one indexed column that pairs with the sort key. They are copies of the
    # region's path, set with it (set_region), so the database does not check them: each
    # check locks the region's row for the transaction, and every report from a county
    # locked the same county, township and village rows (a third of the insert's cost).
    # `region` keeps its constraint; PROTECT still guards deletion through the ORM.
    # Each is the leading column of its gr_<level>_created index: no index of its own.
    province = ancestor_column()
    city = ancestor_column()
    county = ancestor_column()
    township = ancestor_column()
    village = ancestor_column()
    grid = ancestor_column()

    source = models.CharField(_("source"), max_length=20, choices=Source.choices)
    request_type = models.CharField(
        _("request type"),
        max_length=12,
        choices=RequestType.choices,
        default=RequestType.COMPLAINT,
    )
    reporter = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("reporter"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="reported_grievances",
        db_index=False,  # partial index in Meta: residents' reports have none
    )
    state = FSMField(_("state"), default=State.SUBMITTED, choices=State.choices, protected=True)
    owning_centre = models.ForeignKey(
        Region,
        verbose_name=_("owning centre"),
        on_delete=models.PROTECT,
        related_name="owned_grievances",
        help_text=_("The region whose governance centre owns the case."),
        db_index=False,  # gr_centre_state leads with it
    )
    handling_level = models.CharField(
        _("handling level"), max_length=10, choices=HandlingLevel.choices, blank=True
    )
    complexity = models.CharField(
        _("complexity"), max_length=10, choices=Complexity.choices, blank=True
    )
    # On-the-spot handling by a grid or village (dispatch down); departments come through
    # the dispatch app's whistles.
    handler_region = models.ForeignKey(
        Region,
        verbose_name=_("handled by"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="handled_grievances",
        db_index=False,  # partial index in Meta
    )
    risk_petition = models.BooleanField(_("petition risk (涉访)"), default=False)
    risk_extreme = models.BooleanField(_("risk of extreme acts (极端)"), default=False)
    risk_group = models.BooleanField(_("group incident risk (群体)"), default=False)
    priority = models.PositiveSmallIntegerField(_("priority"), default=0)

    report_in_due_at = models.DateTimeField(_("report in by"), null=True, blank=True)
    handle_due_at = models.DateTimeField(_("handle by"), null=True, blank=True)
    suspended_at = models.DateTimeField(_("suspended since"), null=True, blank=True)
    suspend_reason = models.CharField(_("suspension reason"), max_length=255, blank=True)
    extension_requested_days = models.PositiveSmallIntegerField(null=True, blank=True)
    extension_reason = models.CharField(max_length=255, blank=True)

    urge_count = models.PositiveIntegerField(_("urged"), default=0)
    supervise_count = models.PositiveIntegerField(_("supervised"), default=0)
    return_count = models.PositiveIntegerField(_("returned"), default=0)
    redo_count = models.PositiveIntegerField(_("redone"), default=0)
    escalation_count = models.PositiveIntegerField(_("escalated"), default=0)

    result = models.TextField(_("result"), blank=True)
    reject_reason_code = models.CharField(
        _("rejection reason"), max_length=20, choices=RejectReason.choices, blank=True
    )
    reject_reason = models.TextField(_("rejection reason shown to the reporter"), blank=True)
    duplicate_of = models.ForeignKey(
        "self",
        verbose_name=_("duplicate of"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="duplicates",
        db_index=False,  # partial index in Meta
    )

    # The open case nearest to this one's point (within 100 m, in the category's family,
    # reported in the 30 days before it) and how far it lies: a likely duplicate (疑似重复),
    # found by the duplicates app once the report is in (the outbox relay, never the intake
    # request) and stored, so that a queue shows the flag from the row it already reads.
    # Cases without a point are not compared by place. Not counted in `version`: a hint to
    # the centre, not a change an act depends on.
    likely_duplicate_of = models.ForeignKey(
        "self",
        verbose_name=_("likely duplicate of"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,  # partial index in Meta
    )
    likely_duplicate_m = models.PositiveIntegerField(
        _("distance to the likely duplicate (m)"), null=True, blank=True
    )

    # Counts the writes to the case: every save adds one, so do the statements that move
    # many cases at once (they say so where they write), and so does every other write that
    # changes what the case's page and API show without saving the row (services.touch:
    # an event, a rating, a photo, complainants moved in). The API sends it as the case's ETag
    # and an act sent with If-Match runs only on the version its sender read, so that two
    # people acting on what they saw cannot both act (grievances/etags.py).
    version = models.PositiveIntegerField(_("version"), default=1, editable=False)

    # The client's Idempotency-Key of the report that made the case, scoped ("a:<uuid>" for
    # a key sent without an account, "u:<user id>:<uuid>" for a signed-in one), and the
    # fingerprint of what was reported with it (grievances/idempotency.py). Written with the
    # case in its one statement and kept as long as the case: the unique index where it is
    # set makes a report sent twice one case.
    idempotency_key = models.CharField(max_length=64, null=True, blank=True, editable=False)
    idempotency_fingerprint = models.CharField(max_length=64, null=True, blank=True, editable=False)

    # A case transferred from another system (12345, the mayor's mailbox, the petition
    # office) keeps that system's ticket number, unique per system: a transfer sent again
    # finds its case instead of making a second one (grievances.intake). Null for the rest.
    external_system = models.CharField(_("external system"), max_length=40, blank=True)
    external_id = models.CharField(
        _("external ticket number"), max_length=64, null=True, blank=True
    )

    created_at = models.DateTimeField(_("reported at"), default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    accepted_at = models.DateTimeField(null=True, blank=True)
    dispatched_at = models.DateTimeField(null=True, blank=True)
    reported_in_at = models.DateTimeField(null=True, blank=True)
    handled_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("case")
        verbose_name_plural = _("cases")
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["province", "-created_at"], name="gr_province_created"),
            models.Index(fields=["city", "-created_at"], name="gr_city_created"),
            models.Index(fields=["county", "-created_at"], name="gr_county_created"),
            models.Index(fields=["township", "-created_at"], name="gr_township_created"),
            models.Index(fields=["village", "-created_at"], name="gr_village_created"),
            models.Index(fields=["grid", "-created_at"], name="gr_grid_created"),
            models.Index(fields=["owning_centre", "state"], name="gr_centre_state"),
            models.Index(fields=["state", "-created_at"], name="gr_state_created"),
            # Open cases with a deadline: the SLA sweep walks only these.
            models.Index(
                fields=["handle_due_at"],
                name="gr_open_handle_due",
                condition=models.Q(state__in=["dispatched", "in_progress"]),
            ),
            models.Index(
                fields=["report_in_due_at"],
                name="gr_open_report_in_due",
                condition=models.Q(state="dispatched"),
            ),
            # The console's queue: of a subtree (per level), and of everything.
            *(queue_index(level) for level in QUEUE_INDEXED_LEVELS),
            queue_index(None),
            # Nearby open cases at a pin (selectors.nearby_cases): an index range on the
            # latitude per category of the family, the longitude and the date read from the
            # index; closed cases and cases without a point write no entry.
            models.Index(
                fields=["category", "lat", "lng", "created_at"],
                name="gr_open_nearby",
                condition=models.Q(state__in=QUEUE_STATES, lat__isnull=False),
            ),
            # Columns most cases leave empty are indexed where they are set: a new case
            # writes no entry for them (intake writes every index of the row).
            *not_null_indexes(
                "gr", ["reporter", "handler_region", "duplicate_of", "likely_duplicate_of"]
            ),
        ]
        constraints = [
            models.UniqueConstraint(fields=["tracking_code"], name="gr_tracking_code_unique"),
            models.UniqueConstraint(
                fields=["idempotency_key"],
                name="gr_idempotency_unique",
                condition=models.Q(idempotency_key__isnull=False),
            ),
            # The ticket number leads: a search by the number alone uses it too.
            models.UniqueConstraint(
                fields=["external_id", "external_system"],
                name="gr_external_unique",
                condition=models.Q(external_id__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"{format_tracking_code(self.tracking_code)} {self.title}"

    def save(self, *args, **kwargs):
        if self._state.adding:
            super().save(*args, **kwargs)
            return
        self.version += 1
        if kwargs.get("update_fields") is not None:
            kwargs["update_fields"] = {*kwargs["update_fields"], "version"}
        try:
            super().save(*args, **kwargs)
        except BaseException:
            # Nothing was written (a refused transition, a lost connection): the object
            # keeps the version the row has, or a retry would claim one it never reached.
            self.version -= 1
            raise

    @property
    def display_code(self) -> str:
        return format_tracking_code(self.tracking_code)

    @property
    def external_system_label(self) -> str:
        """The system of the ticket number by the name of its source, else as it was sent."""
        for source, system in EXTERNAL_SOURCES.items():
            if system == self.external_system:
                return str(Source(source).label)
        return self.external_system

    @property
    def risk_flags(self) -> list[str]:
        return [
            name
            for name, on in (
                ("petition", self.risk_petition),
                ("extreme", self.risk_extreme),
                ("group", self.risk_group),
            )
            if on
        ]

    @property
    def state_fields(self):
        # django-fsm filters every field for its state fields on each instance built and
        # each save; the answer is the same for the class.
        cls = type(self)
        if "_state_fields" not in cls.__dict__:
            cls._state_fields = tuple(super().state_fields)
        return cls._state_fields

    def compute_priority(self) -> int:
        """Urgency first, then each risk flag (the flags raise priority, domain §5)."""
        base = {Urgency.MOST_URGENT: 30, Urgency.URGENT: 20, Urgency.NORMAL: 10}[self.urgency]
        return base + 5 * self.risk_extreme + 3 * self.risk_group + 2 * self.risk_petition

    def set_region(self, region: Region) -> None:
        """Set the region and its per-level ancestor columns."""
        self.region = region
        path = [(node.level, node.pk) for node in region.get_ancestors(include_self=True)]
        self.set_region_path(region.pk, path)

    def set_region_path(self, region_id: int, path) -> None:
        """Set the region by id and the ancestor columns from its ((level, id), …) path."""
        self.region_id = region_id
        for field in ANCESTOR_FIELDS:
            setattr(self, field, None)
        for level, pk in path:
            setattr(self, f"{level}_id", pk)

    @property
    def is_overdue(self) -> bool:
        if self.suspended_at or self.state not in (State.DISPATCHED, State.IN_PROGRESS):
            return False
        now = timezone.now()
        if self.state == State.DISPATCHED and self.report_in_due_at and self.report_in_due_at < now:
            return True
        return bool(self.handle_due_at and self.handle_due_at < now)

    # --- The state graph (django-fsm-2). Only grievances/services.py calls these. ---------

    @transition(field=state, source=State.SUBMITTED, target=State.ACCEPTED)
    def accept(self):
        pass

    @transition(field=state, source=State.SUBMITTED, target=State.REJECTED)
    def reject(self):
        pass

    @transition(field=state, source=State.ACCEPTED, target=State.DISPATCHED)
    def dispatch(self):
        pass

    @transition(field=state, source=[State.SUBMITTED, State.ACCEPTED], target=State.MEDIATING)
    def mediate(self):
        pass

    @transition(field=state, source=State.MEDIATING, target=State.ACCEPTED)
    def mediation_failed(self):
        pass

    @transition(field=state, source=State.MEDIATING, target=State.HANDLED)
    def mediation_settled(self):
        pass

    @transition(field=state, source=State.DISPATCHED, target=State.IN_PROGRESS)
    def report_in(self):
        pass

    @transition(field=state, source=[State.DISPATCHED, State.IN_PROGRESS], target=State.ACCEPTED)
    def return_case(self):
        pass

    @transition(field=state, source=State.IN_PROGRESS, target=State.HANDLED)
    def handle(self):
        pass

    @transition(field=state, source=State.SUBMITTED, target=State.HANDLED)
    def settle_on_the_spot(self):
        pass

    # 答复: the centre answers a consultation itself. Offered on a submitted case too, where
    # services.grievance_answer accepts it first (the acceptance counts as the response).
    @transition(field=state, source=[State.SUBMITTED, State.ACCEPTED], target=State.HANDLED)
    def answer(self):
        pass

    @transition(field=state, source=State.HANDLED, target=State.IN_PROGRESS)
    def redo(self):
        pass

    @transition(field=state, source=State.HANDLED, target=State.CLOSED)
    def verify(self):
        pass

    @transition(field=state, source=State.CLOSED, target=State.IN_PROGRESS)
    def reopen(self):
        pass

    @transition(
        field=state,
        source=[State.ACCEPTED, State.DISPATCHED, State.IN_PROGRESS],
        target=State.ACCEPTED,
    )
    def escalate(self):
        pass

    @transition(
        field=state,
        source=[
            State.SUBMITTED,
            State.ACCEPTED,
            State.DISPATCHED,
            State.MEDIATING,
            State.IN_PROGRESS,
        ],
        target=State.WITHDRAWN,
    )
    def withdraw(self):
        pass

    @transition(field=state, source=MERGEABLE_STATES, target=State.REJECTED)
    def merge(self):
        pass

    # Back to the state the merge ended, which the service sets as `restore_state` first.
    @transition(field=state, source=State.REJECTED, target=RETURN_VALUE(*MERGEABLE_STATES))
    def unmerge(self):
        return self.restore_state


def phone_key(field: str = "phone") -> Replace:
    """A stored phone as it is compared: without the spaces and hyphens it was typed with
    (selectors.phone_variants gives the forms of a typed one)."""
    return Replace(
        Replace(models.F(field), models.Value(" "), models.Value("")),
        models.Value("-"),
        models.Value(""),
    )


class Complainant(models.Model):
    """A person who brought the matter. Each one follows the case with its tracking code and
    the last 4 digits of their own phone, and rates its result; the first is the reporter."""

    grievance = models.ForeignKey(Grievance, on_delete=models.CASCADE, related_name="complainants")
    name = models.CharField(_("name"), max_length=100, blank=True)
    phone = models.CharField(_("phone"), max_length=20, blank=True)
    id_number = models.CharField(_("ID number"), max_length=18, blank=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,  # partial index in Meta
    )
    is_reporter = models.BooleanField(_("reporter"), default=False)
    # The language of their messages: the one they reported in ("zh-hans" or "en").
    language = models.CharField(_("language"), max_length=10, blank=True)
    position = models.PositiveSmallIntegerField(default=0)
    merged_from = models.ForeignKey(
        Grievance,
        verbose_name=_("merged from"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,  # partial index in Meta
    )

    class Meta:
        verbose_name = _("complainant")
        verbose_name_plural = _("complainants")
        ordering = ["position", "id"]
        indexes = [
            *not_null_indexes("co", ["user", "merged_from"]),
            # A caller's earlier cases by their phone (重复来电), whatever its spacing.
            models.Index(phone_key(), name="co_phone_key", condition=~models.Q(phone="")),
        ]

    def __str__(self) -> str:
        return self.name or str(_("Anonymous"))

    @property
    def phone_last4(self) -> str:
        digits = "".join(ch for ch in self.phone if ch.isdigit())
        return digits[-4:]


def attachment_path(instance, filename: str) -> str:
    # Random names: the path reveals nothing and cannot be guessed.
    ext = filename.rsplit(".", 1)[-1].lower()[:5] if "." in filename else "bin"
    return f"cases/{timezone.now():%Y/%m}/{secrets.token_hex(16)}.{ext}"


class CaseEvent(models.Model):
    """One immutable row of the timeline per move and act.

    The rows double as an outbox: `processed_at` is set by the relay once the follow-up
    work (routing, notifications) has been handed over.
    """

    grievance = models.ForeignKey(Grievance, on_delete=models.CASCADE, related_name="events")
    action = models.CharField(_("action"), max_length=30)  # indexed in Meta (no LIKE index)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("actor"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,  # partial index in Meta: the system's and residents' events have none
    )
    actor_label = models.CharField(
        _("acting as"),
        max_length=120,
        blank=True,
        help_text=_("The role or body the actor acted for (a centre, a department, the system)."),
    )
    from_state = models.CharField(max_length=20, blank=True)
    to_state = models.CharField(max_length=20, blank=True)
    note = models.TextField(_("note"), blank=True)
    public = models.BooleanField(_("shown to the reporter"), default=False)
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("case event")
        verbose_name_plural = _("case events")
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(
                fields=["id"], name="ev_unprocessed", condition=models.Q(processed_at__isnull=True)
            ),
            models.Index(fields=["action"], name="ev_action"),
            *not_null_indexes("ev", ["actor"]),
        ]

    def __str__(self) -> str:
        return f"{self.grievance_id} {self.action}"

    def save(self, *args, **kwargs):
        if self.pk and not kwargs.get("update_fields") == ["processed_at"]:
            raise ValidationError("case events are immutable")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValidationError("case events are immutable")


class Attachment(models.Model):
    grievance = models.ForeignKey(Grievance, on_delete=models.CASCADE, related_name="attachments")
    event = models.ForeignKey(
        CaseEvent, on_delete=models.SET_NULL, null=True, blank=True, related_name="attachments"
    )
    file = models.FileField(_("file"), upload_to=attachment_path, max_length=200)
    thumbnail = models.FileField(upload_to=attachment_path, max_length=200, blank=True)
    original_name = models.CharField(max_length=200, blank=True)
    content_type = models.CharField(max_length=100, blank=True)
    size = models.PositiveIntegerField(default=0)
    public = models.BooleanField(_("public"), default=False)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("attachment")
        verbose_name_plural = _("attachments")
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return self.original_name or self.file.name


class Rating(models.Model):
    """A complainant's rating of the result (末端评价): one per complainant and case, given
    and changeable within 30 days of the closing (grievances.services.RATING_WINDOW).

    A rating without a complainant is the reporting account's own, on a case that names no
    complainant (a grid worker's report): at most one per case."""

    grievance = models.ForeignKey(
        Grievance,
        on_delete=models.CASCADE,
        related_name="ratings",
        db_index=False,  # rating_once_per_complainant leads with it
    )
    complainant = models.ForeignKey(
        Complainant,
        verbose_name=_("complainant"),
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="ratings",
    )
    score = models.PositiveSmallIntegerField(
        _("score"), validators=[MinValueValidator(1), MaxValueValidator(5)]
    )
    resolved = models.BooleanField(_("resolved"))
    comment = models.TextField(_("comment"), blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("rating")
        verbose_name_plural = _("ratings")
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["grievance", "complainant"], name="rating_once_per_complainant"
            ),
            models.UniqueConstraint(
                fields=["grievance"],
                condition=models.Q(complainant__isnull=True),
                name="rating_once_per_account",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.grievance_id}: {self.score}"

    @property
    def satisfied(self) -> bool:
        return self.score >= 4


class ResidentVisit(models.Model):
    """When a resident last opened their home page (我的反映), so that it can mark what is new
    on their cases since their previous visit.

    Loads closer together than grievances.services.VISIT_GAP make one visit: `since` (the last
    load of the visit before) stays put while they last, so a reload keeps the marks that the
    visit opened with."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        verbose_name=_("user"),
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="+",
    )
    seen_at = models.DateTimeField(_("last seen"))
    since = models.DateTimeField(_("news since"), null=True, blank=True)

    class Meta:
        verbose_name = _("resident's visit")
        verbose_name_plural = _("residents' visits")

    def __str__(self) -> str:
        return f"{self.user_id}: {self.seen_at:%Y-%m-%d %H:%M}"


class RatingLink(models.Model):
    """A one-tap rating link (/r/<token>) sent to one complainant of one case when it closes.

    Only the SHA-256 of the token is stored: a copy of the database gives no working link.
    Issued by grievances.ratings.issue_rating_link; valid for 30 days."""

    token_hash = models.CharField(max_length=64)  # unique through Meta.constraints
    grievance = models.ForeignKey(Grievance, on_delete=models.CASCADE, related_name="+")
    complainant = models.ForeignKey(
        Complainant, on_delete=models.CASCADE, related_name="rating_links"
    )
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()

    class Meta:
        verbose_name = _("rating link")
        verbose_name_plural = _("rating links")
        constraints = [
            models.UniqueConstraint(fields=["token_hash"], name="rating_link_token_unique")
        ]

    def __str__(self) -> str:
        return f"{self.grievance_id}/{self.complainant_id}"
