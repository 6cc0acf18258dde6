"""Uploaded files on a case: checked by content, not by name."""

from __future__ import annotations

from django.core.files.uploadedfile import UploadedFile
from django.utils.translation import gettext as _
from PIL import Image, UnidentifiedImageError

from grievances.models import Attachment, Grievance

MAX_BYTES = 10 * 1024 * 1024
MAX_PER_CASE = 9
ALLOWED_FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}


class UploadError(ValueError):
    pass


def check_image(upload: UploadedFile) -> str:
    """The content type of an acceptable image, or UploadError with a readable reason."""
    if upload.size > MAX_BYTES:
        raise UploadError(_("%(name)s is larger than 10 MB.") % {"name": upload.name})
    try:
        upload.seek(0)
        with Image.open(upload) as img:
            fmt = img.format
            img.verify()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        raise UploadError(
            _("%(name)s is not a photo we can read.") % {"name": upload.name}
        ) from None
    finally:
        upload.seek(0)
    if fmt not in ALLOWED_FORMATS:
        raise UploadError(_("%(name)s: only JPEG, PNG or WebP photos.") % {"name": upload.name})
    return ALLOWED_FORMATS[fmt]


def save_upload(case: Grievance, upload: UploadedFile, user, *, public: bool = False) -> Attachment:
    content_type = check_image(upload)
    return Attachment.objects.create(
        grievance=case,
        file=upload,
        original_name=upload.name[:200],
        content_type=content_type,
        size=upload.size,
        public=public,
        uploaded_by=user if getattr(user, "is_authenticated", False) else None,
    )
