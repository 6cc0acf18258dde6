"""Intake of a report with its photos, shared by the API and the report page."""

from __future__ import annotations

from django.db import transaction

from grievances import services
from grievances.attachments import UploadError, check_image, save_upload
from grievances.models import Grievance


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
    with transaction.atomic():
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
