"""`{% pwa_head %}` in templates/base.html: the manifest, the home-screen icon and the
script that registers the service worker, told who is signed in."""

from __future__ import annotations

import hashlib

from django import template
from django.urls import NoReverseMatch, reverse

register = template.Library()


def session_mark(user) -> str:
    """Changes with each sign-in of each user, and says nothing about who it is: the page's
    script fetches ahead again for a new sign-in and forgets when nobody is signed in."""
    if user is None or not user.is_authenticated:
        return ""
    signed_in = user.last_login.isoformat() if user.last_login else ""
    return hashlib.sha256(f"{user.pk}:{signed_in}".encode()).hexdigest()[:16]


@register.inclusion_tag("pwa/_head.html", takes_context=True)
def pwa_head(context):
    try:
        manifest, worker = reverse("pwa-manifest"), reverse("pwa-sw")
    except NoReverseMatch:
        return {}  # a URLconf without the phone app (a test's own): no app then
    request = context.get("request")
    user = getattr(request, "user", None)
    match = getattr(request, "resolver_match", None)
    return {
        "manifest": manifest,
        "worker": worker,
        "session": session_mark(user),
        # The offline page is rendered for nobody but shown to whoever is signed in: it must
        # not make the phone forget their pages.
        "offline_page": bool(match and match.url_name == "pwa-offline"),
    }
