"""The phone app's three fixed addresses: the web app manifest, the service worker and the
page it shows when neither the network nor its cache has the page asked for.

Each answers anonymously: the browser fetches the manifest and the worker without asking
anyone, and the offline page is kept in every phone's cache, so it must not name the user
who happened to be signed in when it was fetched.
"""

from __future__ import annotations

import json

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.http import HttpResponse
from django.shortcuts import render
from django.templatetags.static import static
from django.utils.translation import get_language
from django.views.decorators.http import require_GET

from config.csp import tile_source
from grids.context_processors import Shell
from pwa import worker

THEME_COLOUR = "#17467a"  # --c-primary of static/css/app.css and base.html's theme-color
BACKGROUND_COLOUR = "#f3f5f8"  # --c-bg


def _no_cache(response):
    # Always asked again: a new release must reach the phones at their next page load.
    response["Cache-Control"] = "no-cache"
    return response


@require_GET
def manifest(request):
    """The web app manifest: installs the site as 枫桥 on the phone's home screen."""
    name = str(Shell.site_name)
    data = {
        "id": "/",
        "name": name,
        "short_name": name,
        "description": str(Shell.tagline),
        "lang": get_language(),
        "start_url": "/",
        "scope": "/",
        "display": "standalone",
        "theme_color": THEME_COLOUR,
        "background_color": BACKGROUND_COLOUR,
        "icons": [
            {"src": static("img/icon-192.png"), "sizes": "192x192", "type": "image/png"},
            {"src": static("img/icon-512.png"), "sizes": "512x512", "type": "image/png"},
            {
                "src": static("img/icon-maskable-512.png"),
                "sizes": "512x512",
                "type": "image/png",
                "purpose": "maskable",
            },
        ],
    }
    response = HttpResponse(
        json.dumps(data, ensure_ascii=False, indent=2),
        content_type="application/manifest+json",
    )
    return _no_cache(response)


@require_GET
def service_worker(request):
    """/sw.js, with scope "/" (templates/pwa/sw.js says what it does)."""
    config = worker.config()
    response = render(
        request,
        "pwa/sw.js",
        {"config": json.dumps(config, ensure_ascii=False, indent=1)},
        content_type="text/javascript; charset=utf-8",
    )
    response["Service-Worker-Allowed"] = "/"
    # The worker's own Content-Security-Policy is this response's: it fetches the map tiles,
    # which may come from another host (connect-src), and imports only this site's scripts.
    tiles = tile_source(settings.MAP_TILE_URL)
    if tiles:
        response._csp_update = {"connect-src": [tiles]}
    return _no_cache(response)


@require_GET
def offline(request):
    """What a page the phone has not kept shows without a connection. Rendered as for a
    visitor: it is cached on the phone beyond any one sign-in."""
    request.user = AnonymousUser()
    return render(request, "pwa/offline.html")
