"""What the service worker (templates/pwa/sw.js) is told by the server: which pages and API
answers it keeps, which URLs are map tiles, what it fetches ahead for a grid worker who may
lose the connection, and the precache with its revisions.

The rules live here rather than in the script so that the paths are those Django routes and
the tile host is the one configured (settings.MAP_TILE_URL).
"""

from __future__ import annotations

import re
from pathlib import Path

from django.conf import settings
from django.template import loader
from django.urls import reverse

from pwa import precache

# Pages a grid worker opens on the road: kept as they are seen (NetworkFirst), so that they
# open without a connection. Everything else (the admin, /accounts/, the console) is never
# kept. Patterns of the path, as JavaScript regular expressions.
PAGE_PATTERNS = (
    r"^/$",
    r"^/report/$",
    r"^/cases/$",
    r"^/cases/\d+/$",
    r"^/notifications/$",
)

# API answers the report page reads: the categories and the worker's own grids with their
# boundaries (drawn on the map when no tile loads).
API_PATTERNS = (
    r"^/api/v1/categories/$",
    r"^/api/v1/regions/mine/$",
)

# The offline page's templates: its revision changes when one of them does.
OFFLINE_TEMPLATES = (
    "pwa/offline.html",
    "base.html",
    "includes/header.html",
    "includes/footer.html",
    "includes/messages.html",
    "pwa/_head.html",
)

_PLACEHOLDER = re.compile(r"\{([^}]*)\}")
_JS_SPECIAL = re.compile(r"[.*+?^${}()|\[\]\\/]")


def warm_urls() -> list[dict[str, str]]:
    """What the worker fetches ahead after a signed-in page loads (at most once an hour or
    per sign-in, static/js/sw_register.js): the report page works offline even if it was
    never opened, with its map's grids."""
    return [
        {"url": reverse("home"), "cache": "pages"},
        {"url": reverse("report"), "cache": "pages"},
        {"url": reverse("region-mine"), "cache": "api"},
    ]


def _js_escape(text: str) -> str:
    return _JS_SPECIAL.sub(lambda m: "\\" + m.group(0), text)


def tile_pattern(template: str) -> tuple[str | None, bool]:
    """A JavaScript regular expression matching the URLs of a Leaflet tile template, and
    whether those URLs are on this site (the pattern then matches the path only and the
    worker puts its own origin in front).

    `{s}` is a subdomain, `{z}`, `{x}`, `{y}` numbers, `{r}` the retina suffix, anything
    else any text without a slash.
    """
    template = template.strip()
    if not template:
        return None, False
    same_origin = template.startswith("/") and not template.startswith("//")
    parts = []
    last = 0
    for match in _PLACEHOLDER.finditer(template):
        parts.append(_js_escape(template[last : match.start()]))
        name = match.group(1)
        parts.append(
            {"s": "[a-z0-9-]+", "z": r"\d+", "x": r"\d+", "y": r"-?\d+", "r": "(?:@2x)?"}.get(
                name, "[^/?#]*"
            )
        )
        last = match.end()
    parts.append(_js_escape(template[last:]))
    body = "".join(parts)
    return ("" if same_origin else "^") + body + "(?:[?#].*)?$", same_origin


def offline_revision(static_revisions: list[str]) -> str:
    """The offline page changes with its templates, the translations and the shell's files."""
    parts = list(static_revisions)
    for name in OFFLINE_TEMPLATES:
        origin = loader.get_template(name).origin
        parts.append(precache.file_revision(origin.name))
    for folder in getattr(settings, "LOCALE_PATHS", []):
        for mo in sorted(Path(folder).glob("*/LC_MESSAGES/django.mo")):
            parts.append(precache.file_revision(str(mo)))
    return precache.combined_revision(parts)


def config() -> dict:
    """Everything templates/pwa/sw.js reads, as one JSON-able dict."""
    entries = precache.static_entries()
    offline_url = reverse("pwa-offline")
    workbox_sw, modules = precache.workbox_urls()
    tiles, tiles_same_origin = tile_pattern(settings.MAP_TILE_URL)
    return {
        "workboxSw": workbox_sw,
        "modules": modules,
        "queue": precache.queue_url(),
        "precache": [
            *(entry.as_dict() for entry in entries),
            {"url": offline_url, "revision": offline_revision([e.revision for e in entries])},
        ],
        "offline": offline_url,
        "pages": list(PAGE_PATTERNS),
        "api": list(API_PATTERNS),
        "warm": warm_urls(),
        "logout": reverse("logout"),
        "static": settings.STATIC_URL,
        "tiles": tiles,
        "tilesSameOrigin": tiles_same_origin,
    }
