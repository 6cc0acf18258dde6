"""Idempotency keys of reports: a report sent twice (the answer lost on the way back, a
button pressed twice, a phone between Wi-Fi and 4G) is saved once.

The client makes a key (a UUID) per report and sends it with every try: the API in the
`Idempotency-Key` header, the report page in a hidden field (static/js/report.js keeps it
with the draft). The key goes on the case row, scoped, with a fingerprint of what was
reported, in the case's one write (grievances/newcase.py); the unique index on the scoped
key refuses a second case. The try that meets it reads the case the key made: the same
report is a repeat (answered as the first), another report with the key is refused (422).

Scope: a key sent without an account is the key alone (a phone changes address between
networks); a signed-in one is the user's (another user's same key is their own report).
Keys stay on their case as long as it exists.
"""

from __future__ import annotations

import hashlib
import json
import uuid

from django.db import IntegrityError
from django.utils.translation import gettext as _

from grievances.services import CaseError, InvalidInput

HEADER = "Idempotency-Key"
FIELD = "idempotency_key"
CONSTRAINT = "gr_idempotency_unique"
# The longest key taken: a UUID's 36 characters, with braces or a urn:uuid: prefix at most.
MAX_LENGTH = 45


class KeyReused(CaseError):
    """The key already made a case of another report."""

    status = 422


def parse(raw: str | None) -> str | None:
    """The key's canonical form (lowercase, hyphenated), None when none was sent;
    InvalidInput naming the header for anything but a UUID."""
    if raw is None:
        return None
    raw = raw.strip()
    if not raw:
        return None
    try:
        if len(raw) > MAX_LENGTH:
            raise ValueError
        return str(uuid.UUID(raw))
    except ValueError:
        raise InvalidInput(_("Send a UUID as the Idempotency-Key."), field=HEADER) from None


def scoped(key: str, user) -> str:
    """The key as stored: the key alone without an account, else the user's."""
    if user is not None and getattr(user, "is_authenticated", False):
        return f"u:{user.pk}:{key}"
    return f"a:{key}"


def photo_digest(upload) -> str:
    """SHA-256 of an uploaded file's content (whatever multipart body carried it)."""
    digest = hashlib.sha256()
    upload.seek(0)
    for chunk in upload.chunks():
        digest.update(chunk)
    upload.seek(0)
    return digest.hexdigest()


def _plain(value):
    """Validated values as JSON: models by their code (or id), numbers and text as they are."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    code = getattr(value, "code", None)
    if code is not None:
        return code
    pk = getattr(value, "pk", None)
    if pk is not None:
        return pk
    return str(value)


def fingerprint(fields: dict, photos: list[str]) -> str:
    """SHA-256 of a canonical JSON of the report's validated fields and its photos' digests
    (sorted): two tries of one report agree whatever their bytes on the wire."""
    canonical = json.dumps(
        {"fields": _plain(fields), "photos": sorted(photos)},
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def is_clash(exc: IntegrityError) -> bool:
    """Whether `exc` is the unique index of idempotency keys refusing a second case."""
    constraint = getattr(getattr(exc.__cause__, "diag", None), "constraint_name", None)
    if constraint is not None:
        return constraint == CONSTRAINT
    return "idempotency_key" in str(exc)  # SQLite names the column, not the index


def reused() -> KeyReused:
    return KeyReused(
        _("This Idempotency-Key was already used for a different report."), field=HEADER
    )
