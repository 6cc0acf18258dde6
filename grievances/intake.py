"""Intake of a report with its photos, shared by the API and the report page."""

from __future__ import annotations

import threading
import time
from contextlib import nullcontext
from typing import NamedTuple

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.utils.translation import gettext as _

from grievances import idempotency, services
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


class TicketKnown(services.InvalidInput):
    """Another system's ticket that already made a case: a transfer sent again. The API
    answers it with that case (as a repeat), a page names it beside the ticket field."""

    def __init__(self, case: Grievance) -> None:
        # The case is not named: the sender may not see it (their scope decides).
        super().__init__(
            _(
                "This ticket number of the other system is already a case: search the case "
                "list for the number."
            ),
            field="external_id",
        )
        self.case = case


def ticket_case(data: dict) -> Grievance | None:
    """The case already made of the report's ticket of another system, if any."""
    if not data.get("external_id"):
        return None
    return (
        Grievance.objects.filter(
            external_id=data["external_id"], external_system=data.get("external_system", "")
        )
        .only("id", "tracking_code", "title", "state")
        .first()
    )


def _is_ticket_clash(exc: IntegrityError) -> bool:
    constraint = getattr(getattr(exc.__cause__, "diag", None), "constraint_name", None)
    if constraint is not None:
        return constraint == TICKET_CONSTRAINT
    return "external_id" in str(exc)  # SQLite names the columns, not the index


TICKET_CONSTRAINT = "gr_external_unique"


class Submitted(NamedTuple):
    case: Grievance
    repeat: bool = False  # the key's case, made by an earlier try of this report


# The validated fields a report's fingerprint covers (with its source and photos).
FINGERPRINTED = (
    "title",
    "description",
    "category",
    "urgency",
    "request_type",
    "lng",
    "lat",
    "region",
    "address",
    "complainants",
    "risk_petition",
    "risk_extreme",
    "risk_group",
    "settled_note",
)


def submit_report(
    data: dict, user, source: str, key: str | None = None, *, scope=None
) -> Submitted:
    """The one intake path of the API and the report page: every photo checked first, then
    the case, its complainants, its first event and its photos in one transaction.

    With an idempotency `key` (grievances.idempotency, parsed), the case carries it: another
    try of the same report answers the key's case as a repeat; another report with the key
    raises KeyReused (422). The key is `scope`'s (a signed-in sender of a resident's
    report), else `user`'s; anonymous when neither is signed in.

    A ticket of another system (`external_id`) that already made a case raises TicketKnown
    with that case, before anything is written or checked."""
    known = ticket_case(data)
    if known is not None:
        raise TicketKnown(known)
    photos = data.get("photos", [])
    scoped = fingerprint = None
    if key is not None:
        scoped = idempotency.scoped(key, user if scope is None else scope)
        fields = {name: data.get(name) for name in FINGERPRINTED}
        fields["source"] = source
        if data.get("external_id"):
            # Only when set: a report without one keeps the fingerprint it always had.
            fields["ticket"] = [data.get("external_system"), data["external_id"]]
        fingerprint = idempotency.fingerprint(
            fields, [idempotency.photo_digest(photo) for photo in photos]
        )
    check_photos(photos)
    try:
        case = _write(data, user, source, photos, scoped, fingerprint)
    except IntegrityError as exc:
        if data.get("external_id") and _is_ticket_clash(exc):
            # Another send of this ticket made its case first.
            known = ticket_case(data)
            if known is not None:
                raise TicketKnown(known) from None
        if scoped is None or not idempotency.is_clash(exc):
            raise
        # Another try of this key made its case first (it had committed when the unique
        # index refused this one).
        first = (
            Grievance.objects.filter(idempotency_key=scoped)
            .only("id", "tracking_code", "title", "state", "idempotency_fingerprint")
            .first()
        )
        if first is None:
            raise
        if first.idempotency_fingerprint != fingerprint:
            raise idempotency.reused() from None
        return Submitted(first, repeat=True)
    return Submitted(case)


def _write(data: dict, user, source: str, photos, scoped, fingerprint) -> Grievance:
    # Without photos the submit is one write (grievance_submit keeps it atomic): no
    # transaction around it, whose BEGIN and COMMIT would cost two more round trips. Within
    # the caller's transaction, a savepoint: a key's refused second case leaves it usable.
    nested = (scoped is not None or bool(data.get("external_id"))) and connection.in_atomic_block
    with transaction.atomic() if photos or nested else nullcontext():
        case = services.grievance_submit(
            user=user,
            title=data["title"],
            description=data["description"],
            category=data["category"],
            source=source,
            urgency=data.get("urgency"),
            request_type=data.get("request_type") or "",
            lng=data.get("lng"),
            lat=data.get("lat"),
            region=data.get("region"),
            address=data.get("address", ""),
            complainants=_complainants_from(data),
            risk_petition=data.get("risk_petition", False),
            risk_extreme=data.get("risk_extreme", False),
            risk_group=data.get("risk_group", False),
            settled_note=data.get("settled_note", ""),
            idempotency_key=scoped,
            idempotency_fingerprint=fingerprint,
            external_system=data.get("external_system", ""),
            external_id=data.get("external_id"),
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
