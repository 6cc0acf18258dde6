"""The Content-Security-Policy's sources that depend on configuration (config/settings.py).

Kept out of the settings module so that the derivation of the tile hosts can be tested on
its own: the map tiles are the one thing every map page loads from another origin.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured


def tile_source(template: str) -> str | None:
    """The CSP source that admits the tiles of a Leaflet URL template, or None for our own.

    `https://tile.openstreetmap.org/{z}/{x}/{y}.png` gives `https://tile.openstreetmap.org`;
    a templated subdomain (`https://{s}.tile.example.org/…`, Tianditu's
    `https://t{s}.tianditu.gov.cn/…`) gives `https://*.tile.example.org` and
    `https://*.tianditu.gov.cn`, since CSP only allows a wildcard as the leftmost label.
    A path on this site (`/tiles/{z}/{x}/{y}.png`) needs nothing beyond 'self'.
    """
    template = template.strip()
    if not template:
        return None
    parts = urlsplit(template)
    if not parts.netloc:
        if parts.scheme:
            raise ImproperlyConfigured(f"MAP_TILE_URL={template!r}: expected an http(s) URL")
        return None  # a path of this site
    if parts.scheme not in ("http", "https", ""):
        raise ImproperlyConfigured(f"MAP_TILE_URL={template!r}: expected an http(s) URL")
    netloc = parts.netloc.rsplit("@", 1)[-1]
    host, _, port = netloc.partition(":") if not netloc.startswith("[") else (netloc, "", "")
    labels = host.split(".")
    templated = [i for i, label in enumerate(labels) if "{" in label]
    if templated:
        rest = labels[templated[-1] + 1 :]
        if len(rest) < 2:
            # `https://{s}.org/…` would admit a whole top-level domain.
            raise ImproperlyConfigured(
                f"MAP_TILE_URL={template!r}: a templated part of the host must be followed "
                "by a domain of its own"
            )
        host = "*." + ".".join(rest)
    if "{" in port:
        raise ImproperlyConfigured(f"MAP_TILE_URL={template!r}: the port cannot be templated")
    source = host + (f":{port}" if port else "")
    return f"{parts.scheme}://{source}" if parts.scheme else source


def extra_sources(name: str, values: list[str]) -> list[str]:
    """Sources an operator adds by environment variable, e.g. `https://tiles.example.org`.

    A `;` would end the directive and start another, a quote would add a keyword such as
    'unsafe-inline': neither can come in through a host list.
    """
    for value in values:
        if any(ch in value for ch in " \t;,'\""):
            raise ImproperlyConfigured(
                f"{name}: {value!r} is not a host such as https://tiles.example.org"
            )
    return values
