"""Uploads held for one browser session between two sends of a form.

A report sent from a phone that comes back with an error (a title missing, a village not
chosen) must not cost the reporter the photos they took: a file input cannot be filled again
by the server. So the photos that were fine are held here, shown again as previews, and the
form carries their tokens; sending it again attaches them without choosing them again.

- Bound to the session: the tokens of a session live in that session (the database row
  of django.contrib.sessions), so only that session can attach or view them. A token seen
  in another session's request is unknown there.
- The bytes are kept as they came (a report's idempotency fingerprint hashes its photos:
  a held photo must hash as the original did), with a small preview beside them.
- Files go through the default storage under `held/<day>/<time>-<token>`, never public
  media; they are served only by `preview` to their session.
- A day at most: a token older than that is refused, and the sweep (grids.tasks, hourly)
  deletes files past the day whatever became of their session.
"""

from __future__ import annotations

import re
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.http import Http404, HttpResponse
from django.urls import reverse

SESSION_KEY = "held_uploads"
FOLDER = "held"
MAX_AGE = timedelta(days=1)
# A session holds a few forms' worth; beyond that the oldest go.
MAX_PER_SESSION = 18
TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


@dataclass(frozen=True)
class Held:
    """A held upload as a page shows it."""

    token: str
    name: str

    @property
    def url(self) -> str:
        return reverse("held-preview", args=[self.token])


def _entries(request) -> dict:
    raw = request.session.get(SESSION_KEY)
    return dict(raw) if isinstance(raw, dict) else {}


def _alive(entry, now: float) -> bool:
    return isinstance(entry, dict) and now - entry.get("at", 0) < MAX_AGE.total_seconds()


def _save(request, entries: dict) -> None:
    request.session[SESSION_KEY] = entries  # a new dict: the session saves it


def _delete(entry: dict) -> None:
    for key in ("path", "preview"):
        path = entry.get(key)
        if path:
            default_storage.delete(path)


def hold(request, upload, preview: bytes, preview_type: str) -> str:
    """Keep `upload` (its bytes as sent) and its preview for this session; its token."""
    now = time.time()
    token = secrets.token_urlsafe(18)
    day = datetime.fromtimestamp(now, UTC).strftime("%Y%m%d")
    base = f"{FOLDER}/{day}/{int(now)}-{token}"
    upload.seek(0)
    data = b"".join(upload.chunks())
    upload.seek(0)
    entry = {
        "name": str(getattr(upload, "name", "") or "photo")[:200],
        "type": str(getattr(upload, "content_type", "") or "application/octet-stream")[:100],
        "path": default_storage.save(base, ContentFile(data)),
        "preview": default_storage.save(f"{base}.preview", ContentFile(preview)),
        "preview_type": preview_type,
        "at": now,
    }
    entries = {t: e for t, e in _entries(request).items() if _alive(e, now)}
    entries[token] = entry
    while len(entries) > MAX_PER_SESSION:
        oldest = min(entries, key=lambda t: entries[t].get("at", 0))
        _delete(entries.pop(oldest))
    _save(request, entries)
    return token


def take(request, tokens) -> list[tuple[str, SimpleUploadedFile]]:
    """The uploads of this session's live `tokens`, in the order given, as new upload objects
    with the original bytes; unknown, foreign or expired tokens are left out."""
    entries, now, found = _entries(request), time.time(), []
    for token in dict.fromkeys(tokens):  # each once, in order
        entry = entries.get(token) if TOKEN_RE.match(token or "") else None
        if not _alive(entry, now):
            continue
        try:
            with default_storage.open(entry["path"], "rb") as stored:
                data = stored.read()
        except OSError:
            continue  # swept meanwhile
        found.append((token, SimpleUploadedFile(entry["name"], data, entry["type"])))
    return found


def describe(request, tokens) -> list[Held]:
    """This session's live `tokens` as a page shows them."""
    entries, now = _entries(request), time.time()
    return [
        Held(token, entries[token]["name"])
        for token in dict.fromkeys(tokens)
        if token in entries and _alive(entries[token], now)
    ]


def release(request, tokens) -> None:
    """Forget `tokens` and delete their files (their form was sent)."""
    entries = _entries(request)
    gone = [entries.pop(token) for token in tokens if token in entries]
    if gone:
        _save(request, entries)
        for entry in gone:
            _delete(entry)


def preview(request, token: str) -> HttpResponse:
    """The preview of a held upload, to its own session only (404 for anyone else)."""
    entry = _entries(request).get(token)
    if not TOKEN_RE.match(token) or not _alive(entry, time.time()):
        raise Http404
    try:
        with default_storage.open(entry["preview"], "rb") as stored:
            data = stored.read()
    except OSError:
        raise Http404 from None
    response = HttpResponse(data, content_type=entry.get("preview_type") or "image/jpeg")
    response["Cache-Control"] = "private, max-age=3600"
    response["X-Content-Type-Options"] = "nosniff"
    return response


def sweep(now: datetime | None = None) -> int:
    """Delete held files older than MAX_AGE; the number deleted. The time is in the name,
    so no storage is asked for dates; whole days before the cut are emptied unread."""
    now = now or datetime.now(UTC)
    cut = (now - MAX_AGE).timestamp()
    cut_day = (now - MAX_AGE).strftime("%Y%m%d")
    try:
        days, _files = default_storage.listdir(FOLDER)
    except (FileNotFoundError, NotADirectoryError):
        return 0
    deleted = 0
    for day in days:
        if not day.isdigit() or day > cut_day:
            continue
        _dirs, files = default_storage.listdir(f"{FOLDER}/{day}")
        for name in files:
            stamp = name.split("-", 1)[0]
            if day < cut_day or (stamp.isdigit() and int(stamp) < cut):
                default_storage.delete(f"{FOLDER}/{day}/{name}")
                deleted += 1
    return deleted
