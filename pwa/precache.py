"""What the service worker keeps before it is needed: the shell's static files, each with a
content hash as its revision.

Workbox's precache fetches a URL again only when its revision changes, so the revision must
change exactly when the file does. With the manifest storage of production
(`CompressedManifestStaticFilesStorage`) the URL itself carries a hash; in development
(`StaticFilesStorage`, DEBUG) it does not, so the revision is always the hash of the file's
bytes, whichever storage runs. Hashing 25 files on every request of /sw.js would cost a few
milliseconds: a file's hash is kept per process and computed again only when its size or
modification time changes (a `stat` each, a few microseconds in all).
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass

from django.contrib.staticfiles import finders
from django.contrib.staticfiles.storage import staticfiles_storage
from django.core.signals import setting_changed
from django.dispatch import receiver

log = logging.getLogger(__name__)

# The files every page of the grid worker's phone needs (templates/base.html, the report
# page, the case pages and their maps). The dashboards' charts stay out: they are big and no
# grid worker opens them on the road.
SHELL_FILES = (
    "css/app.css",
    "css/intake.css",
    "css/outbox.css",
    "js/sw_register.js",
    "js/report.js",
    "js/photo_picker.js",
    "js/report_outbox.js",
    "js/join.js",
    "js/case_map.js",
    "vendor/htmx/htmx.min.js",
    "img/favicon.svg",
    "img/icon-192.png",
    "img/icon-512.png",
    "img/icon-maskable-512.png",
    "img/apple-touch-icon.png",
    "leaflet/leaflet.js",
    "leaflet/leaflet.css",
    "leaflet/images/marker-icon.png",
    "leaflet/images/marker-icon-2x.png",
    "leaflet/images/marker-shadow.png",
    "leaflet/images/layers.png",
    "leaflet/images/layers-2x.png",
)

# The queue of reports waiting for a connection (static/js/report_queue.js): precached and
# imported by the worker once it exists.
QUEUE_FILE = "js/report_queue.js"
OPTIONAL_FILES = (QUEUE_FILE,)

# The Workbox modules the worker loads, by the name workbox-sw asks for.
WORKBOX_MODULES = (
    "workbox-core",
    "workbox-routing",
    "workbox-strategies",
    "workbox-precaching",
    "workbox-expiration",
    "workbox-cacheable-response",
)
WORKBOX_SW = "vendor/workbox/workbox-sw.js"


@dataclass(frozen=True)
class Entry:
    url: str
    revision: str

    def as_dict(self) -> dict[str, str]:
        return {"url": self.url, "revision": self.revision}


_paths: dict[str, str | None] = {}
_digests: dict[str, tuple[int, int, str]] = {}


@receiver(setting_changed)
def _forget(setting, **kwargs) -> None:
    if setting in ("STATICFILES_DIRS", "STATICFILES_FINDERS", "STATIC_ROOT", "STORAGES"):
        _paths.clear()


def source_path(name: str) -> str | None:
    """The file on disk behind a static name: the finders' (the sources, as in development),
    else the collected copy in STATIC_ROOT; None when there is none."""
    if name not in _paths:
        found = finders.find(name)
        if not found:
            try:
                candidate = staticfiles_storage.path(name)
            except NotImplementedError:  # a remote storage: nothing on this disk
                candidate = None
            found = candidate if candidate and os.path.exists(candidate) else None
        _paths[name] = found
    return _paths[name]


def file_revision(path: str) -> str:
    """The first 16 hex digits of the SHA-256 of the file, kept while it stays unchanged."""
    stat = os.stat(path)
    cached = _digests.get(path)
    if cached and cached[0] == stat.st_mtime_ns and cached[1] == stat.st_size:
        return cached[2]
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(65536), b""):
            digest.update(block)
    revision = digest.hexdigest()[:16]
    _digests[path] = (stat.st_mtime_ns, stat.st_size, revision)
    return revision


def static_entries() -> list[Entry]:
    """The shell's static files that exist, with their URLs as the storage gives them.

    A shell file that has gone (renamed in a release) is left out with a warning rather
    than failing /sw.js: a worker that cannot install keeps no page at all.
    tests/pwa/test_shell.py fails on it."""
    entries = []
    for name in SHELL_FILES + OPTIONAL_FILES:
        path = source_path(name)
        if path is None:
            if name not in OPTIONAL_FILES:
                log.warning("static file %r of the phone app's shell is missing", name)
            continue
        entries.append(Entry(staticfiles_storage.url(name), file_revision(path)))
    return entries


def queue_url() -> str | None:
    """The URL of the reports' queue script, when that file exists."""
    return staticfiles_storage.url(QUEUE_FILE) if source_path(QUEUE_FILE) else None


def workbox_urls() -> tuple[str, dict[str, str]]:
    """workbox-sw's URL and each module's, as the storage serves them (hashed names in
    production), so that workbox-sw never builds a URL of its own (its default is a CDN)."""
    modules = {
        name: staticfiles_storage.url(f"vendor/workbox/{name}.prod.js") for name in WORKBOX_MODULES
    }
    return staticfiles_storage.url(WORKBOX_SW), modules


def combined_revision(parts: list[str]) -> str:
    """One revision for a page made of several parts (the offline page: its templates and
    the shell's files)."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode())
        digest.update(b"\0")
    return digest.hexdigest()[:16]
