"""Exports: case lists and figures as CSV or Excel (openpyxl), for their owner only.

`export_request` checks and records the request; an export of at most
`settings.EXPORT_INLINE_MAX` rows (default 2,000) is written at once, a larger one by the
Celery task `run_export`, which reports its progress on the Export row. Files go to the
default storage under exports/<random>.<ext> and are served only through the API's
download view, which checks the owner.

Personal data: a case's reporter name and phone appear in full only to the centre that
owns the case (or a centre above it) and to superusers — the phone only when the request
asks for phones (`include_phones`); everyone else gets them masked. The case list is built
from the owner's scoped queryset when the file is written, so a role lost meanwhile
narrows the file too.
"""

from __future__ import annotations

import csv
import logging
import secrets
import tempfile
from datetime import date, datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import OuterRef, Prefetch, Subquery
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from dispatch.models import Assignment, Department
from evaluation import figures as figures_module
from evaluation.models import Export, ReturnVisit
from grids.models import Level, Region
from grids.scoping import sees_everything
from grievances import services
from grievances.models import Complainant, Grievance, Rating
from grievances.ratings import summary_of
from grievances.scoping import cases_for

log = logging.getLogger(__name__)

DEFAULT_INLINE_MAX = 2000
PROGRESS_EVERY = 500
# A running export older than this is taken to be lost with its worker and runs again.
STALE_AFTER = timedelta(minutes=45)
PENDING_GRACE = timedelta(minutes=2)
# The task that writes a large export, by name: evaluation.tasks imports this module.
RUN_TASK = "evaluation.tasks.run_export"


def inline_max() -> int:
    return int(getattr(settings, "EXPORT_INLINE_MAX", DEFAULT_INLINE_MAX))


# --- Parameters -----------------------------------------------------------------------------


def _region(params: dict) -> Region | None:
    code = params.get("region")
    return Region.objects.get(code=code) if code else None


def _department(params: dict):
    dept_id = params.get("department")
    if not dept_id:
        return None
    return Department.objects.get(pk=dept_id)


def _period(params: dict) -> tuple[date, date]:
    return date.fromisoformat(params["from"]), date.fromisoformat(params["to"])


def _instant(day: date) -> datetime:
    return datetime.combine(day, datetime.min.time(), tzinfo=figures_module.TZ)


def case_queryset(user, params: dict):
    """The owner's cases reported in the period, in the region and of the department."""
    start, end = _period(params)
    # The staff's cases (with their internal fields), not those the owner only reported.
    qs = cases_for(user, as_reporter=False).filter(
        created_at__gte=_instant(start), created_at__lt=_instant(end)
    )
    region = _region(params)
    if region is not None:
        qs = qs.filter(**{f"{region.level}_id": region.pk})
    dept = params.get("department")
    if dept:
        qs = qs.filter(
            pk__in=Grievance.objects.filter(whistles__assignments__department_id=dept).values("pk")
        )
    return qs


def estimate_rows(user, kind: str, params: dict) -> int:
    if kind == Export.Kind.CASES:
        return case_queryset(user, params).count()
    region = _region(params)
    return 1 + (region.get_children().count() if region is not None else 0)


# --- Rows -----------------------------------------------------------------------------------


def _local(dt: datetime | None) -> str:
    return timezone.localtime(dt, figures_module.TZ).strftime("%Y-%m-%d %H:%M") if dt else ""


def _yes_no(value: bool | None) -> str:
    if value is None:
        return ""
    return _("yes") if value else _("no")


def _mean(score: float) -> int | float:
    """A mean score as a spreadsheet reads it: 5, or 4.5."""
    return int(score) if score == int(score) else round(score, 2)


def _mask_name(name: str) -> str:
    return (name[0] + "*" * max(len(name) - 1, 1)) if name else ""


def case_header() -> list[str]:
    return [
        _("Tracking code"),
        _("Title"),
        _("Category"),
        _("Kind"),
        _("Urgency"),
        _("State"),
        _("Source"),
        _("Township"),
        _("Village"),
        _("Grid"),
        _("Owning centre"),
        _("Lead department"),
        _("Reporter"),
        _("Phone"),
        _("Reported at"),
        _("Accepted at"),
        _("Dispatched at"),
        _("Report in by"),
        _("Reported in at"),
        _("Handle by"),
        _("Handled at"),
        _("Handled on time"),
        _("Closed at"),
        _("Rating"),
        _("Resolved (rating)"),
        _("Ratings"),
        _("Return visit"),
        _("Urged"),
        _("Supervised"),
        _("Escalated"),
        _("Returned"),
        _("Redone"),
    ]


def case_rows(user, params: dict):
    """Yield one list per case, in the order of case_header()."""
    include_phones = bool(params.get("include_phones"))
    superuser = sees_everything(user)
    qs = case_queryset(user, params).select_related(
        "category", "owning_centre", "township", "village", "grid"
    )
    lead = (
        Assignment.objects.filter(whistle__grievance=OuterRef("pk"), role="lead")
        .exclude(status__in=["returned", "refused", "escalated"])
        .order_by("-id")
        .values("department__name")[:1]
    )
    qs = qs.annotate(lead_department=Subquery(lead))
    qs = qs.prefetch_related(
        Prefetch(
            "complainants", queryset=Complainant.objects.filter(is_reporter=True), to_attr="reps"
        ),
        Prefetch("return_visits", queryset=ReturnVisit.objects.order_by("-id"), to_attr="rvs"),
        Prefetch("ratings", queryset=Rating.objects.order_by(), to_attr="rated"),
    ).order_by("created_at", "id")
    from grievances.privacy import mask_phone

    for case in qs.iterator(chunk_size=PROGRESS_EVERY):
        personal = superuser or services.is_centre(user, case)
        reporter = case.reps[0] if case.reps else None
        name = reporter.name if reporter else ""
        phone = reporter.phone if reporter else ""
        # The case's ratings taken together, as the figures count them.
        rating = summary_of(case.rated)
        visit = next((v for v in case.rvs if v.is_recorded), None)
        if visit is None:
            visit_text = (
                _("due %(date)s") % {"date": _local(case.rvs[0].due_at)} if case.rvs else ""
            )
        elif not visit.reached:
            visit_text = _("not reached")
        else:
            visit_text = _("satisfied: %(s)s, resolved: %(r)s") % {
                "s": _yes_no(visit.satisfied),
                "r": _yes_no(visit.resolved),
            }
        on_time = (
            case.handled_at <= case.handle_due_at
            if case.handled_at and case.handle_due_at
            else None
        )
        yield [
            case.display_code,
            case.title,
            case.category.name,
            case.category.get_kind_display(),
            case.get_urgency_display(),
            case.get_state_display(),
            case.get_source_display(),
            case.township.name if case.township_id else "",
            case.village.name if case.village_id else "",
            case.grid.name if case.grid_id else "",
            case.owning_centre.name,
            getattr(case, "lead_department", None) or "",
            name if personal else _mask_name(name),
            phone if personal and include_phones else mask_phone(phone),
            _local(case.created_at),
            _local(case.accepted_at),
            _local(case.dispatched_at),
            _local(case.report_in_due_at),
            _local(case.reported_in_at),
            _local(case.handle_due_at),
            _local(case.handled_at),
            _yes_no(on_time),
            _local(case.closed_at),
            _mean(rating.score) if rating else "",
            _yes_no(rating.resolved) if rating else "",
            rating.count if rating else 0,
            visit_text,
            case.urge_count,
            case.supervise_count,
            case.escalation_count,
            case.return_count,
            case.redo_count,
        ]


RATE_LABELS = {
    "response": gettext_lazy("Response rate"),
    "on_time": gettext_lazy("On-time handling rate"),
    "resolution": gettext_lazy("Resolution rate"),
    "satisfaction": gettext_lazy("Satisfaction rate"),
    "mediation_success": gettext_lazy("Mediation success rate"),
    "return_visit_reach": gettext_lazy("Return-visit reach rate"),
}
DURATION_LABELS = {
    "accept": gettext_lazy("Time to accept"),
    "dispatch": gettext_lazy("Time to dispatch"),
    "report_in": gettext_lazy("Time to report in"),
    "handle": gettext_lazy("Time to handle"),
    "close": gettext_lazy("Time to close"),
    "handle_overdue": gettext_lazy("Handling overdue by"),
}


def figures_header() -> list[str]:
    header = [_("Code"), _("Region"), _("Level"), _("Cases reported")]
    for key in figures_module.RATES:
        header.append(str(RATE_LABELS[key]))
    for key in figures_module.DURATIONS:
        what = str(DURATION_LABELS[key])
        header.append(_("%(what)s, average (working hours)") % {"what": what})
        header.append(_("%(what)s, 90th percentile (working hours)") % {"what": what})
    return header


def _hours(seconds: int | None):
    return round(seconds / 3600, 2) if seconds is not None else ""


def figures_rows(user, params: dict):
    """The region's figures, then each child region's (everywhere: each root region)."""
    start, end = _period(params)
    region = _region(params)
    department = _department(params)
    if region is None:
        regions = [None, *Region.objects.filter(parent=None).order_by("code")]
    elif region.level == Level.GRID:
        regions = [region]
    else:
        regions = [region, *region.get_children().order_by("code")]
    for r in regions:
        data = figures_module.figures(region=r, department=department, start=start, end=end)
        row = [
            r.code if r else "",
            r.name if r else _("All regions"),
            r.get_level_display() if r else "",
            data["intake"]["total"],
        ]
        for key in figures_module.RATES:
            value = data["rates"][key]["value"]
            row.append(value if value is not None else "")
        for key in figures_module.DURATIONS:
            row.append(_hours(data["durations"][key]["avg_seconds"]))
            row.append(_hours(data["durations"][key]["p90_seconds"]))
        yield row


# --- Writing --------------------------------------------------------------------------------


def _write(path: Path, file_type: str, title: str, header: list[str], rows, on_row) -> int:
    count = 0
    if file_type == Export.FileType.CSV:
        # UTF-8 with a byte-order mark: Excel opens Chinese text right.
        with path.open("w", encoding="utf-8-sig", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(header)
            for row in rows:
                writer.writerow(row)
                count += 1
                on_row(count)
        return count
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title=title[:31])
    sheet.append(header)
    for row in rows:
        sheet.append(row)
        count += 1
        on_row(count)
    workbook.save(path)
    return count


def run(export_id: int) -> str | None:
    """Write the file of a pending export; returns the file name, or None if not claimed."""
    now = timezone.now()
    claimed = Export.objects.filter(pk=export_id, status=Export.Status.PENDING).update(
        status=Export.Status.RUNNING, started_at=now, progress=0
    )
    if not claimed:
        return None
    export = Export.objects.select_related("owner").get(pk=export_id)
    try:
        total = max(estimate_rows(export.owner, export.kind, export.params), 1)

        def on_row(count: int) -> None:
            if count % PROGRESS_EVERY == 0:
                Export.objects.filter(pk=export_id).update(
                    progress=min(99, count * 100 // total), rows=count
                )

        if export.kind == Export.Kind.CASES:
            header, rows, title = case_header(), case_rows(export.owner, export.params), _("Cases")
        else:
            header = figures_header()
            rows, title = figures_rows(export.owner, export.params), _("Figures")
        ext = export.file_type
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / f"export.{ext}"
            count = _write(path, ext, title, header, rows, on_row)
            with path.open("rb") as fh:
                name = default_storage.save(f"exports/{secrets.token_hex(16)}.{ext}", File(fh))
    except Exception as exc:
        log.exception("export %s failed", export_id)
        Export.objects.filter(pk=export_id).update(
            status=Export.Status.FAILED, error=str(exc)[:500], finished_at=timezone.now()
        )
        return None
    Export.objects.filter(pk=export_id).update(
        status=Export.Status.DONE,
        file=name,
        rows=count,
        progress=100,
        finished_at=timezone.now(),
    )
    return name


def export_request(user, *, kind: str, file_type: str, params: dict) -> Export:
    """Record an export for `user`; small ones are written at once, large ones queued."""
    export = Export.objects.create(owner=user, kind=kind, file_type=file_type, params=params)
    if estimate_rows(user, kind, params) <= inline_max():
        run(export.pk)
    else:
        transaction.on_commit(lambda: _enqueue(export.pk))
    export.refresh_from_db()
    return export


def _enqueue(export_id: int) -> None:
    from config.celery import task

    try:
        task(RUN_TASK).apply_async(args=[export_id], retry=False)
    except Exception:  # noqa: BLE001 - any broker error: sweep_exports picks it up
        log.warning("could not enqueue export %s: the sweep will", export_id, exc_info=True)


def stale(now: datetime) -> list[int]:
    """Exports to run again: pending past a grace period, or running past the time limit
    (put back to pending first, so that `run` can claim them)."""
    lost = list(
        Export.objects.filter(
            status=Export.Status.RUNNING, started_at__lt=now - STALE_AFTER
        ).values_list("pk", flat=True)
    )
    if lost:
        Export.objects.filter(pk__in=lost, status=Export.Status.RUNNING).update(
            status=Export.Status.PENDING
        )
    pending = Export.objects.filter(
        status=Export.Status.PENDING, created_at__lt=now - PENDING_GRACE
    ).values_list("pk", flat=True)
    return sorted(set(pending) | set(lost))
