"""Intake of a report with its photos, shared by the API and the report page."""

from __future__ import annotations

import threading
import time
from contextlib import nullcontext

from django.conf import settings
from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from grievances import services
from grievances.attachments import UploadError, check_image, save_upload
from grievances.models import Category, Grievance

# --- Active categories, kept in memory ------------------------------------------------------------

_categories_lock = threading.Lock()
_categories: dict = {"by_code": None, "loaded": 0.0}


def active_category(code: str) -> Category | None:
    """The active category with this code, from a per-process copy of the (small) list.

    Looking it up in the database costs as much as writing the case's first event. The copy
    is re-read when it is older than `LOCATE_INDEX_CHECK_SECONDS`, the staleness the locate
    index accepts for boundaries, and at once after a save in this process; so another
    process takes a changed category into account within that interval. The instances are
    shared between requests: read them, never change them.
    """
    by_code = _categories["by_code"]
    if by_code is None or time.monotonic() - _categories["loaded"] >= _check_seconds():
        by_code = _load_categories()
    return by_code.get(code)


def _check_seconds() -> float:
    return getattr(settings, "LOCATE_INDEX_CHECK_SECONDS", 2.0)


def _load_categories() -> dict[str, Category]:
    now = time.monotonic()
    by_code = {c.code: c for c in Category.objects.filter(active=True)}
    with _categories_lock:
        _categories.update(by_code=by_code, loaded=now)
    return by_code


@receiver(post_save, sender=Category, dispatch_uid="intake-categories-saved")
@receiver(post_delete, sender=Category, dispatch_uid="intake-categories-deleted")
def forget_categories(**kwargs) -> None:
    with _categories_lock:
        _categories.update(by_code=None, loaded=0.0)


# --- Intake --------------------------------------------------------------------------------------


def _complainants_from(data) -> list[services.ComplainantData]:
    return [
        services.ComplainantData(name=c["name"], phone=c["phone"], id_number=c["id_number"])
        for c in data.get("complainants", [])
    ]


def check_photos(photos) -> None:
    """Check (and re-encode) every photo before anything is written: a refusal names each
    refused file and leaves nothing behind, not even files in storage."""
    problems = []
    for photo in photos:
        try:
            check_image(photo)
        except UploadError as exc:
            problems.append(str(exc))
    if problems:
        raise services.InvalidInput("\n".join(problems), field="photos")


def submit_report(data: dict, user, source: str) -> Grievance:
    """The one intake path of the API and the report page: every photo checked first, then
    the case, its complainants, its first event and its photos in one transaction."""
    photos = data.get("photos", [])
    check_photos(photos)
    # Without photos the submit is one write (grievance_submit keeps it atomic): no
    # transaction around it, whose BEGIN and COMMIT would cost two more round trips.
    with transaction.atomic() if photos else nullcontext():
        case = services.grievance_submit(
            user=user,
            title=data["title"],
            description=data["description"],
            category=data["category"],
            source=source,
            urgency=data.get("urgency"),
            lng=data.get("lng"),
            lat=data.get("lat"),
            region=data.get("region"),
            address=data.get("address", ""),
            complainants=_complainants_from(data),
            risk_petition=data.get("risk_petition", False),
            risk_extreme=data.get("risk_extreme", False),
            risk_group=data.get("risk_group", False),
            settled_note=data.get("settled_note", ""),
        )
        first = case.events.order_by("id").first() if photos else None
        for photo in photos:
            try:
                attachment = save_upload(case, photo, user, public=True)
            except UploadError as exc:
                raise services.InvalidInput(str(exc), field="photos") from None
            attachment.event = first
            attachment.save(update_fields=["event"])
    return case
