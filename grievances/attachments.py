"""Photos on a case: checked by content, re-encoded without metadata, stored privately.

Every photo is decoded and written anew with Pillow rather than stored as sent:

- The type comes from the content (Pillow's own detection, limited to JPEG, PNG and WebP),
  never from the file name or the client's content type, so a renamed file cannot slip in.
- A new file carries only pixels: no EXIF (GPS above all: a reporter's photo taken at home
  would give away where they live), no XMP, no comments, no ICC profile. The orientation
  tag is applied first, so the photo is upright without it.
- Large photos are scaled down to a sensible edge: the reporter's data and our storage
  matter more than pixels nobody looks at, and a thumbnail is made for lists and timelines.
- Decompression bombs (a small file that declares a huge image) are refused before any
  pixel is decoded.

Output formats: photos (anything opaque) become progressive JPEG, the smallest widely shown
format for pictures, and a progressive file draws early on a weak connection. Images with
real transparency (PNG or WebP with alpha, such as an annotated screenshot) become WebP:
it keeps the alpha at a fraction of PNG's size, and every browser we serve (current Chrome
and Android WebView, Safari 14+, WeChat's built-in browser) shows it. An alpha channel
that is fully opaque (common in Android screenshots) is dropped and the image is a JPEG.

Files go through Django's default storage (STORAGES["default"]): local files by default,
S3-compatible storage through django-storages by settings alone. They are never served as
public media: grievances/views_files.py serves them with the case's scoping.
"""

from __future__ import annotations

import contextlib
import io
import logging
import unicodedata
import warnings
from dataclasses import dataclass
from pathlib import PurePosixPath, PureWindowsPath

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext as _
from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

from grievances.models import Attachment, Grievance

logger = logging.getLogger(__name__)

MAX_BYTES = 10 * 1024 * 1024
MAX_PER_CASE = 9
# 50 megapixels admits the full-resolution modes of current phones (48 and 50 MP, i.e.
# 8000 × 6000 and 8160 × 6144) and refuses anything beyond; decoding such a JPEG stays
# cheap because it is decoded at a reduced scale (see _decode).
MAX_PIXELS = 50_000_000
MAX_EDGE = 2560
THUMBNAIL_EDGE = 400
JPEG_QUALITY = 82
THUMBNAIL_QUALITY = 72
WEBP_QUALITY = 80

ACCEPTED_FORMATS = ("JPEG", "PNG", "WEBP")
# What we store, by the extension we give the file (we write it, so the extension is true).
CONTENT_TYPES = {"jpg": "image/jpeg", "webp": "image/webp", "png": "image/png"}

# The tracking page stores the ids of the cases a resident proved (code + last 4 digits of
# the phone) in their session; a resident may then see the public photos of those cases.
TRACKED_SESSION_KEY = "tracked_cases"
# A session follows a handful of cases at most; the cap keeps the session row small.
TRACKED_KEEP = 20

# For this process: Pillow warns above the limit and raises above twice the limit when it
# opens an image. We turn the warning into an error in _open and check the size ourselves
# too, so the limit holds even if other code changes this global.
Image.MAX_IMAGE_PIXELS = getattr(settings, "PHOTO_MAX_PIXELS", MAX_PIXELS)

_PROCESSED_ATTR = "_fengqiao_photo"


class UploadError(ValueError):
    """A photo we refuse; the message names the file and says why, ready to show."""

    def __init__(self, message: str, *, name: str = ""):
        super().__init__(message)
        self.message = message
        self.name = name

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class ProcessedPhoto:
    """A photo after checking and re-encoding, ready to store."""

    data: bytes
    extension: str
    width: int
    height: int
    thumbnail: bytes
    thumbnail_extension: str
    original_name: str

    @property
    def content_type(self) -> str:
        return CONTENT_TYPES[self.extension]


def _setting(name: str, default: int) -> int:
    return int(getattr(settings, name, default))


def display_name(upload) -> str:
    """The file's name as the reporter knows it, safe to put in a message or a header.

    Browsers on Windows may send a full path; control and format characters could disturb
    a message or a log line; a very long name is shortened.
    """
    raw = str(getattr(upload, "name", "") or "")
    base = PureWindowsPath(PurePosixPath(raw).name).name
    clean = "".join(ch for ch in base if unicodedata.category(ch)[0] != "C").strip()
    if len(clean) > 100:
        clean = clean[:60] + "…" + clean[-20:]
    return clean or _("unnamed file")


def _refuse(message: str, name: str) -> UploadError:
    return UploadError(message, name=name)


def _not_a_photo(name: str) -> UploadError:
    return _refuse(
        _("“%(name)s” is not a photo we can read. Send a JPEG, PNG or WebP image.")
        % {"name": name},
        name,
    )


def _damaged(name: str) -> UploadError:
    # Weak connections cut uploads short: say so, so the reporter sends it again.
    return _refuse(
        _("“%(name)s” is damaged or incomplete. Please send it again.") % {"name": name}, name
    )


def _too_many_pixels(name: str, size: tuple[int, int] | None, limit: int) -> UploadError:
    if size is None:
        return _refuse(
            _("“%(name)s” is too large an image (limit: %(mp)s megapixels).")
            % {"name": name, "mp": limit // 1_000_000},
            name,
        )
    return _refuse(
        _("“%(name)s” is too large an image: %(w)s × %(h)s pixels (limit: %(mp)s megapixels).")
        % {"name": name, "w": size[0], "h": size[1], "mp": limit // 1_000_000},
        name,
    )


def _check_size(size: int, name: str) -> None:
    if size == 0:
        raise _refuse(_("“%(name)s” is empty.") % {"name": name}, name)
    if size > MAX_BYTES:
        raise _refuse(
            _("“%(name)s” is %(size)s; a photo may be at most %(limit)s.")
            % {"name": name, "size": filesizeformat(size), "limit": filesizeformat(MAX_BYTES)},
            name,
        )


def _read(upload, name: str) -> bytes:
    """The upload's bytes (at most MAX_BYTES), so Pillow never holds the upload's file.

    The declared size is checked first (cheap); the bytes read are what count.
    """
    _check_size(upload.size or 0, name)
    upload.seek(0)
    try:
        data = upload.read(MAX_BYTES + 1)
    finally:
        upload.seek(0)
    _check_size(len(data), name)
    return data


def _open(data: bytes, name: str) -> Image.Image:
    """Open the image (header only) and refuse what we will not decode."""
    limit = _setting("PHOTO_MAX_PIXELS", MAX_PIXELS)
    try:
        with warnings.catch_warnings():
            # A bomb between the limit and twice the limit only warns in Pillow: refuse it.
            # (catch_warnings is process-wide; a thread racing it could at worst leave this
            # filter on, which is the behaviour we want anyway.)
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            # Only the formats we accept: Pillow then never tries its other parsers (some,
            # like EPS, hand the file to external programs).
            img = Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise _too_many_pixels(name, None, limit) from None
    except UnidentifiedImageError:
        raise _not_a_photo(name) from None
    except (OSError, SyntaxError, ValueError, EOFError):
        # The header was recognised but is broken.
        raise _damaged(name) from None
    if img.format not in ACCEPTED_FORMATS:
        img.close()
        raise _not_a_photo(name)
    width, height = img.size
    if width < 1 or height < 1:
        img.close()
        raise _damaged(name)
    if width * height > limit:
        img.close()
        raise _too_many_pixels(name, (width, height), limit)
    return img


def _decode(img: Image.Image, max_edge: int, name: str) -> Image.Image:
    """Decode the first frame, upright; a JPEG at the smallest scale that still fits max_edge."""
    if img.format == "JPEG":
        # libjpeg can decode at 1/2, 1/4 or 1/8 scale: a 50 MP photo bound for 2560 px then
        # never takes 150 MB of memory. draft() keeps the decoded size >= the requested one.
        width, height = img.size
        factor = min(1.0, max_edge / max(width, height))
        target = (max(1, int(width * factor)), max(1, int(height * factor)))
        img.draft("RGB", target)
    try:
        img.load()
    except (OSError, SyntaxError, ValueError, EOFError):
        raise _damaged(name) from None
    try:
        upright = ImageOps.exif_transpose(img)
    except Exception:
        # A malformed EXIF block must not cost the reporter the photo: keep it as stored.
        logger.warning("could not read the EXIF orientation of %r", name, exc_info=True)
        upright = img
    return upright if upright is not None else img


def _to_srgb(img: Image.Image) -> Image.Image:
    """Convert colours from an embedded ICC profile to sRGB, as we drop the profile.

    iPhones shoot in Display P3 and some cameras save CMYK JPEGs: without the conversion,
    dropping the profile would leave the colours dull or wrong.
    """
    icc = img.info.get("icc_profile")
    if not icc or img.mode not in ("RGB", "CMYK"):
        return img
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        target = ImageCms.createProfile("sRGB")
        return ImageCms.profileToProfile(img, source, target, outputMode="RGB") or img
    except Exception:
        # An unreadable profile: plain conversion; the photo matters more than exact colour.
        logger.info("ignoring an unusable ICC profile", exc_info=True)
        return img


def _normalise_mode(img: Image.Image) -> Image.Image:
    """RGB or L for a JPEG; RGBA only when some pixel is actually transparent."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16-bit greyscale PNG: scale to 8 bits instead of clipping everything to white.
        return img.convert("I").point(lambda v: v * (1 / 256)).convert("L")
    if img.mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    elif img.mode in ("LA", "La", "PA", "RGBa"):
        img = img.convert("RGBA")
    elif img.mode == "1":
        img = img.convert("L")
    if img.mode == "RGBA":
        low, _high = img.getchannel("A").getextrema()
        if low == 255:
            img = img.convert("RGB")
    elif img.mode not in ("RGB", "L"):
        img = _to_srgb(img)
        if img.mode not in ("RGB", "L"):
            img = img.convert("RGB")
    return img


def _encode(img: Image.Image, *, quality: int, progressive: bool) -> tuple[bytes, str]:
    """The image as bytes with nothing but pixels, and the extension of its format."""
    # Pillow copies the source's info (EXIF, ICC, comments, XMP) from image to image and
    # writes some of it back on save: start from an empty info and pass only what we mean.
    img.info = {}
    out = io.BytesIO()
    if img.mode == "RGBA":
        img.save(out, "WEBP", quality=WEBP_QUALITY, method=4)
        return out.getvalue(), "webp"
    img.save(out, "JPEG", quality=quality, optimize=True, progressive=progressive)
    return out.getvalue(), "jpg"


def process(upload) -> ProcessedPhoto:
    """Check and re-encode an upload; UploadError (naming the file) when we refuse it."""
    cached = getattr(upload, _PROCESSED_ATTR, None)
    if cached is not None:
        return cached
    name = display_name(upload)
    data = _read(upload, name)
    max_edge = _setting("PHOTO_MAX_EDGE", MAX_EDGE)
    thumb_edge = _setting("PHOTO_THUMBNAIL_EDGE", THUMBNAIL_EDGE)
    try:
        img = _open(data, name)
        try:
            photo = _decode(img, max_edge, name)
            if photo.mode != "RGBA":
                photo = _to_srgb(photo)
            photo = _normalise_mode(photo)
            photo.thumbnail((max_edge, max_edge), Image.Resampling.LANCZOS)
            encoded, ext = _encode(photo, quality=JPEG_QUALITY, progressive=True)
            thumb = photo.copy()
            thumb.thumbnail((thumb_edge, thumb_edge), Image.Resampling.LANCZOS)
            thumb_data, thumb_ext = _encode(thumb, quality=THUMBNAIL_QUALITY, progressive=False)
        finally:
            img.close()
    except UploadError:
        raise
    except (MemoryError, Image.DecompressionBombError):
        raise _too_many_pixels(name, None, _setting("PHOTO_MAX_PIXELS", MAX_PIXELS)) from None
    except (OSError, SyntaxError, ValueError, EOFError):
        raise _damaged(name) from None
    result = ProcessedPhoto(
        data=encoded,
        extension=ext,
        width=photo.width,
        height=photo.height,
        thumbnail=thumb_data,
        thumbnail_extension=thumb_ext,
        original_name=name[:200],
    )
    # Kept on the upload: a caller that checks every photo first and saves them afterwards
    # does the work once.
    with contextlib.suppress(AttributeError):
        setattr(upload, _PROCESSED_ATTR, result)
    return result


def check_image(upload) -> str:
    """The content type the upload will be stored as, or UploadError with a readable reason.

    Checking is the full work (decode and re-encode), remembered on the upload: check every
    photo of a report before saving any, and a refusal leaves no file behind.
    """
    return process(upload).content_type


def _too_many(name: str) -> UploadError:
    return _refuse(
        _("“%(name)s” was not added: a case has at most %(n)s photos.")
        % {"name": name, "n": MAX_PER_CASE},
        name,
    )


def save_upload(case: Grievance, upload, user, *, public: bool = False) -> Attachment:
    """Check, re-encode and store one photo on `case`; UploadError when refused.

    Nothing is stored for a refused photo. The caller's transaction decides about the row;
    the files are written to storage at once (storage is not transactional).
    """
    name = display_name(upload)
    # Cheap refusal before the expensive work.
    if Attachment.objects.filter(grievance=case).count() >= MAX_PER_CASE:
        raise _too_many(name)
    photo = process(upload)
    attachment = Attachment(
        grievance=case,
        original_name=photo.original_name,
        content_type=photo.content_type,
        size=len(photo.data),
        public=public,
        uploaded_by=user if getattr(user, "is_authenticated", False) else None,
    )
    # Files first, the lock afterwards: a remote storage write must not hold the case row.
    attachment.file.save(f"photo.{photo.extension}", ContentFile(photo.data), save=False)
    try:
        attachment.thumbnail.save(
            f"thumb.{photo.thumbnail_extension}", ContentFile(photo.thumbnail), save=False
        )
        with transaction.atomic():
            # Two uploads at once must not pass the limit together: count under the case's
            # row lock (PostgreSQL; SQLite's IMMEDIATE transactions already serialise writers).
            list(Grievance.objects.select_for_update().filter(pk=case.pk).values_list("pk"))
            if Attachment.objects.filter(grievance=case).count() >= MAX_PER_CASE:
                raise _too_many(name)
            attachment.save()
    except BaseException:
        _delete_files(attachment)
        raise
    return attachment


def _delete_files(attachment: Attachment) -> None:
    for field in (attachment.file, attachment.thumbnail):
        if field and field.name:
            try:
                field.storage.delete(field.name)
            except Exception:
                logger.exception("could not delete %s after a failed upload", field.name)


def content_type_of(name: str) -> str:
    """The type of a file we wrote, by its extension (thumbnails have no stored type)."""
    ext = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    return CONTENT_TYPES.get(ext, "application/octet-stream")


# --- Residents following their case ---------------------------------------------------------


def remember_tracked(request, case: Grievance) -> None:
    """Note in the session that this visitor proved `case` (tracking code + phone digits).

    The tracking page calls this after selectors.find_tracked found the case; the photo
    view then shows that case's public photos to this session.
    """
    kept = [pk for pk in tracked_case_ids(request) if pk != case.pk]
    kept.append(case.pk)
    # A new list object: the session notices the change and saves it.
    request.session[TRACKED_SESSION_KEY] = kept[-TRACKED_KEEP:]


def tracked_case_ids(request) -> list[int]:
    """The ids of the cases this session proved on the tracking page, oldest first."""
    session = getattr(request, "session", None)
    if session is None:
        return []
    raw = session.get(TRACKED_SESSION_KEY, [])
    if not isinstance(raw, list):
        return []
    # bool is an int subclass; a True in the session must not read as case 1.
    return [pk for pk in raw if isinstance(pk, int) and not isinstance(pk, bool)]
