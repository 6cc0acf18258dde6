"""django-csp's middleware with the policy of a response without a nonce built once.

django-csp 4 builds the Content-Security-Policy header anew for every response: it walks
the configured directives, merges a view's overrides, adds the nonce and joins it all. For a
response that used no nonce and no per-view override (every API answer, every redirect,
every file) that work always gives the same string, and it cost about 0.24 ms of CPU per
request in the WSGI handler, a fifth of a small API request's time. So that string is built
once per process (and again when the settings change, as tests do); anything else (a page
that used its nonce, a view's csp_update/csp_replace/csp_exempt, a report-only policy, the
debug pages' exemption) goes through django-csp unchanged.
"""

from __future__ import annotations

from csp.constants import HEADER
from csp.middleware import CheckableLazyObject, CSPMiddleware
from csp.utils import build_policy
from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

_cached: dict[str, str] = {}

_OVERRIDES = ("_csp_config", "_csp_update", "_csp_replace", "_csp_exempt", "_csp_exempt_ro")


@receiver(setting_changed)
def _forget(setting, **kwargs) -> None:
    if setting.startswith("CONTENT_SECURITY_POLICY") or setting == "DEBUG":
        _cached.clear()


def _plain_policy() -> str:
    policy = _cached.get("plain")
    if policy is None:
        policy = _cached["plain"] = build_policy()
    return policy


class CachedPolicyMiddleware(CSPMiddleware):
    def process_response(self, request, response):
        plain = (
            getattr(request, "_csp_nonce", None) is None
            and not any(hasattr(response, name) for name in _OVERRIDES)
            and HEADER not in response
            and not (settings.DEBUG and response.status_code in (404, 500))
            and not getattr(settings, "CONTENT_SECURITY_POLICY_REPORT_ONLY", None)
            and not (getattr(settings, "CONTENT_SECURITY_POLICY", None) or {}).get(
                "EXCLUDE_URL_PREFIXES"
            )
        )
        if not plain:
            return super().process_response(request, response)
        policy = _plain_policy()
        if policy:
            response[HEADER] = policy
        # As django-csp does: a nonce asked for after the header is written is an error.
        request.csp_nonce = CheckableLazyObject(self._csp_nonce_post_response)
        return response
