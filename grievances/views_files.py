"""Photos of a case, served through the case's scoping, never as public media.

Who sees a photo:

- a logged-in user (session, or an API token for the phone app) whose case queryset
  (grievances.scoping.cases_for) holds the photo's case;
- a resident who proved the case on the tracking page in this session (code + last four
  phone digits, see attachments.remember_tracked), and then only the photos marked public.

Everyone else gets 404, the same answer as for a photo that does not exist, so ids cannot
be probed for existence.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import PurePosixPath

from django.core.exceptions import SuspiciousFileOperation
from django.db.models.fields.files import FieldFile
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.utils.cache import get_conditional_response, patch_vary_headers
from django.utils.text import get_valid_filename
from django.views.decorators.http import require_safe
from rest_framework.authentication import TokenAuthentication
from rest_framework.exceptions import AuthenticationFailed

from grievances.attachments import CONTENT_TYPES, content_type_of, tracked_case_ids
from grievances.models import Attachment
from grievances.scoping import cases_for

logger = logging.getLogger(__name__)

# Private: only the viewer's browser may keep a copy, never a shared proxy. An hour spares
# a reporter on a weak connection the same download while they move between pages.
CACHE_CONTROL = "private, max-age=3600"
# Only what attachments.py writes is shown inline; anything else (an old row stored before
# re-encoding existed) is offered as a download and never rendered by the browser.
INLINE_TYPES = frozenset(CONTENT_TYPES.values())
_EXTENSIONS = {content_type: ext for ext, content_type in CONTENT_TYPES.items()}


def _user(request: HttpRequest):
    """The session's user, or the API token's (the phone app sends a token, not a cookie)."""
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return user
    try:
        found = TokenAuthentication().authenticate(request)
    except AuthenticationFailed:
        # A wrong or expired token is the same as none: the answer is 404 either way.
        return None
    return found[0] if found else None


def may_view(request: HttpRequest, attachment: Attachment) -> bool:
    """Whether this request may see the photo (the rules in the module docstring)."""
    if attachment.public and attachment.grievance_id in tracked_case_ids(request):
        return True
    user = _user(request)
    if user is None:
        return False
    # The reporter of a case they see only as its reporter gets its public photos alone, as
    # tracking shows them.
    return (
        cases_for(user, as_reporter=attachment.public).filter(pk=attachment.grievance_id).exists()
    )


def _visible_attachment(request: HttpRequest, pk: int) -> Attachment:
    attachment = Attachment.objects.filter(pk=pk).first()
    if attachment is None or not may_view(request, attachment):
        # One answer for "missing" and "not yours": existence stays hidden.
        raise Http404
    return attachment


def _download_name(attachment: Attachment, content_type: str, suffix: str) -> str:
    """The reporter's file name with the extension of what we actually serve.

    A photo sent as "IMG_1.png" is stored as JPEG; the name must not promise a PNG.
    Characters other than letters (any script), digits, dots, dashes and underscores go.
    """
    stem = PurePosixPath(attachment.original_name or "").stem
    try:
        stem = get_valid_filename(stem)[:80] if stem else ""
    except SuspiciousFileOperation:
        stem = ""
    stem = stem or f"photo-{attachment.pk}"
    return f"{stem}{suffix}.{_EXTENSIONS.get(content_type, 'bin')}"


def _protect(response: HttpResponse, etag: str) -> HttpResponse:
    response["Cache-Control"] = CACHE_CONTROL
    response["X-Content-Type-Options"] = "nosniff"
    # Another site may not embed our photos with the viewer's cookies.
    response["Cross-Origin-Resource-Policy"] = "same-origin"
    response["ETag"] = etag
    # A shared phone: after another worker logs in, the browser must ask again.
    patch_vary_headers(response, ("Cookie", "Authorization"))
    return response


def _serve(
    request: HttpRequest, attachment: Attachment, field: FieldFile, content_type: str, suffix: str
) -> HttpResponse:
    # Stored names are random and never rewritten, so the name identifies the content.
    etag = f'"{hashlib.sha256(field.name.encode()).hexdigest()[:32]}"'
    # Checked after the access decision: a 304 to a stranger would reveal the photo exists.
    unchanged = get_conditional_response(request, etag=etag)
    if unchanged is not None:
        return _protect(unchanged, etag)
    try:
        handle = field.storage.open(field.name, "rb")
    except FileNotFoundError:
        logger.error("attachment %s: %s is missing from storage", attachment.pk, field.name)
        raise Http404 from None
    inline = content_type in INLINE_TYPES
    response = FileResponse(
        handle,
        content_type=content_type if inline else "application/octet-stream",
        as_attachment=not inline,
        filename=_download_name(attachment, content_type, suffix),
    )
    return _protect(response, etag)


@require_safe
def attachment(request: HttpRequest, pk: int) -> HttpResponse:
    """The re-encoded photo."""
    found = _visible_attachment(request, pk)
    content_type = found.content_type or content_type_of(found.file.name)
    return _serve(request, found, found.file, content_type, "")


@require_safe
def thumbnail(request: HttpRequest, pk: int) -> HttpResponse:
    """The photo's thumbnail; the photo itself when it has none (older rows)."""
    found = _visible_attachment(request, pk)
    if found.thumbnail and found.thumbnail.name:
        return _serve(
            request, found, found.thumbnail, content_type_of(found.thumbnail.name), "-thumb"
        )
    content_type = found.content_type or content_type_of(found.file.name)
    return _serve(request, found, found.file, content_type, "")
