"""Password guessing slowed down: sign-in lockouts on the login page and the token API.

django-axes counts failed sign-ins in the database (so signing in keeps working while Redis
is away) and locks the PAIR (username, client address): LOGIN_FAILURE_LIMIT wrong passwords
in a row lock that pair, never the account, so a stranger cannot keep a grid worker out by
typing wrong passwords under their name; the worker signs in from their own address. The
address is the client as every limit names it (grids.limits.client_address: an IPv6 /64 is
one address). This module adds what axes does not do on its own:

- The cool-off grows: LOGIN_LOCKOUT_MINUTES for a pair's first lockout, twice as long for
  each further one, up to LOGIN_LOCKOUT_MAX_MINUTES. The strikes live in LoginLockout (one
  row per pair) and are forgotten on a successful sign-in, or once a day has gone by (the
  longest lockout) since the last lockout ended. Axes asks for the cool-off of each request
  (AXES_COOLOFF_TIME is `cool_off`), so the pair's failures count for as long as its current
  lockout runs.
- Axes' own clean-up deletes every attempt older than the cool-off of the request at hand:
  with cool-offs that differ per pair, it would lift another pair's longer lockout. Here a
  request cleans its own pair's expired attempts, and everyone's older than the longest
  cool-off.
- An account tried from many addresses is slowed down, not locked: past
  LOGIN_ACCOUNT_FAILURE_LIMIT wrong passwords (over all addresses) in a window of
  LOGIN_ACCOUNT_WINDOW_MINUTES, sign-ins to it from new addresses are refused for that long,
  then it opens again. An address the account signed in from within LOGIN_KNOWN_ADDRESS_DAYS
  (axes' access log, and the token API's sign-ins recorded in it too) is not slowed down: a
  stranger renewing the slow-down from address after address would otherwise keep the worker
  out all day, even on their own phone. Counted in the shared cache with grids.limits; a
  cache that does not answer lets the sign-in through (the per-pair lockout in the database
  still holds).
- A refused sign-in answers 429 with a Retry-After header and a translated message saying
  how long to wait: a page in the site's look, or JSON on the API.

An administrator lifts a lockout by deleting the pair's access attempt in the admin.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from datetime import datetime, timedelta

from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_client_username
from axes.models import AccessAttempt, AccessLog
from django.conf import settings
from django.core.cache import caches
from django.db import transaction
from django.db.models import Max
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from rest_framework.response import Response

from grids import limits
from grids.models import LoginLockout

log = logging.getLogger(__name__)


# --- Who is signing in --------------------------------------------------------------------------


def client_ip(request) -> str | None:
    """AXES_CLIENT_IP_CALLABLE: the client as every rate limit names it (grids.limits:
    an IPv6 /64 is one client), so that a lockout and a rate limit name the same client."""
    return limits.client_address(request)


def _pair(request, credentials: dict | None = None) -> tuple[str | None, str | None]:
    username = get_client_username(request, credentials) if credentials else None
    if username is None:
        username = getattr(request, "lockout_username", None) or get_client_username(request)
    ip = getattr(request, "axes_ip_address", None) or client_ip(request)
    return username, ip


# --- The cool-off of a pair ---------------------------------------------------------------------


def lock_duration(strikes: int) -> timedelta:
    """The length of a pair's lockout number `strikes` (1 for the first)."""
    first = settings.LOGIN_LOCKOUT_MINUTES
    minutes = min(first * 2 ** max(strikes - 1, 0), settings.LOGIN_LOCKOUT_MAX_MINUTES)
    return timedelta(minutes=minutes)


def _longest() -> timedelta:
    return timedelta(minutes=settings.LOGIN_LOCKOUT_MAX_MINUTES)


def _now(request) -> datetime:
    return getattr(request, "axes_attempt_time", None) or timezone.now()


def cool_off(request=None) -> timedelta:
    """AXES_COOLOFF_TIME: how long the pair's failures count, i.e. the length of its current
    lockout, or of a first one when it is not locked."""
    if request is None:
        return lock_duration(1)
    username, ip = _pair(request)
    row = LoginLockout.objects.filter(username=username or "", ip_address=ip).first()
    if row is not None and row.locked_until > _now(request):
        return lock_duration(row.strikes)
    return lock_duration(1)


def _strike(request, username: str | None, ip: str | None) -> None:
    """Count a new lockout of the pair: twice the previous one, if that ended less than the
    longest cool-off ago."""
    now = _now(request)
    with transaction.atomic():
        row, _created = LoginLockout.objects.select_for_update().get_or_create(
            username=username or "", ip_address=ip, defaults={"locked_until": now}
        )
        remembered = row.strikes and row.locked_until + _longest() > now
        row.strikes = (row.strikes if remembered else 0) + 1
        row.locked_until = now + lock_duration(row.strikes)
        row.save(update_fields=["strikes", "locked_until"])
    log.warning("lockout %s of %r from %s until %s", row.strikes, username, ip, row.locked_until)


def forget(username: str | None, ip: str | None) -> None:
    """Forget the pair's strikes (a successful sign-in, or an administrator lifting it)."""
    LoginLockout.objects.filter(username=username or "", ip_address=ip).delete()


# --- An account tried from many addresses -------------------------------------------------------


def _account_key(username: str) -> str:
    digest = hashlib.sha256(username.casefold().encode()).hexdigest()[:32]
    return f"login-account:{digest}"


def account_wait(username: str | None) -> float:
    """Seconds until the account opens again after too many wrong passwords from all
    addresses; 0 when it is open (or the cache does not answer)."""
    if not username:
        return 0
    try:
        until = caches["default"].get(f"{_account_key(username)}:slowed")
    except Exception:
        log.warning("sign-in slow-down unknown: the cache does not answer", exc_info=True)
        return 0
    return max(0.0, until - time.time()) if until else 0


def known_address(username: str | None, ip: str | None, now: datetime) -> bool:
    """Whether the account signed in from this address (an IPv6 /64) within
    LOGIN_KNOWN_ADDRESS_DAYS: the slow-down of the account lets it through."""
    if not username or not ip:
        return False
    since = now - timedelta(days=settings.LOGIN_KNOWN_ADDRESS_DAYS)
    return AccessLog.objects.filter(
        username=username, ip_address=ip, attempt_time__gte=since
    ).exists()


def _account_refusal(request, username: str | None, ip: str | None) -> float:
    """Seconds the account's slow-down refuses this request for; 0 when it does not (the
    account is open, or the address is one it signs in from)."""
    wait = getattr(request, "lockout_account_wait", None)
    if wait is None:
        wait = account_wait(username)
        # Asked only while the account is slowed down: no query on an ordinary sign-in.
        if wait and known_address(username, ip, _now(request)):
            wait = 0
        request.lockout_account_wait = wait
    return wait


def _count_account_failure(username: str | None) -> None:
    if not username:
        return
    key = _account_key(username)
    seconds = settings.LOGIN_ACCOUNT_WINDOW_MINUTES * 60
    try:
        if limits.over_limit(key, settings.LOGIN_ACCOUNT_FAILURE_LIMIT, seconds):
            # add, not set: the slow-down runs its length and ends, whatever comes meanwhile.
            caches["default"].add(f"{key}:slowed", time.time() + seconds, seconds)
    except Exception:
        log.warning("sign-in failure of %r not counted: the cache does not answer", username)


def token_signed_in(request, user) -> None:
    """A sign-in on the token API counts as the login page's do (which send
    user_logged_in): the address is one the account signs in from, and the pair's
    failures and strikes are forgotten. Without a session: the API does not make one."""
    username = user.get_username()
    ip = client_ip(request)
    AccessLog.objects.create(
        username=username,
        ip_address=ip,
        user_agent=request.META.get("HTTP_USER_AGENT", "")[:255],
        http_accept=request.META.get("HTTP_ACCEPT", "")[:1025],
        path_info=request.path[:255],
    )
    AccessAttempt.objects.filter(username=username, ip_address=ip).delete()
    forget(username, ip)


# --- The handler -------------------------------------------------------------------------------


class LockoutHandler(AxesDatabaseHandler):
    """Axes' database handler with growing cool-offs and the account slow-down (AXES_HANDLER)."""

    def is_locked(self, request, credentials: dict | None = None) -> bool:
        username, ip = _pair(request, credentials)
        request.lockout_username = username
        if _account_refusal(request, username, ip):
            return True
        return super().is_locked(request, credentials)

    def user_login_failed(self, sender, credentials: dict, request=None, **kwargs):
        if request is None:
            return super().user_login_failed(sender, credentials, request, **kwargs)
        # Set by the backend when the sign-in was refused before the password was checked.
        refused = bool(getattr(request, "axes_locked_out", False))
        super().user_login_failed(sender, credentials, request, **kwargs)
        if refused:
            return
        username, ip = _pair(request, credentials)
        _count_account_failure(username)
        if request.axes_locked_out:  # this wrong password reached the limit
            _strike(request, username, ip)

    def user_logged_in(self, sender, request, user, **kwargs):
        super().user_logged_in(sender, request, user, **kwargs)
        forget(user.get_username(), request.axes_ip_address)

    def clean_expired_user_attempts(self, request=None, credentials: dict | None = None) -> int:
        now = _now(request)
        count = 0
        if request is not None:
            username, ip = _pair(request, credentials)
            count, _ = AccessAttempt.objects.filter(
                username=username, ip_address=ip, attempt_time__lte=now - cool_off(request)
            ).delete()
        older, _ = AccessAttempt.objects.filter(attempt_time__lte=now - _longest()).delete()
        LoginLockout.objects.filter(locked_until__lte=now - _longest()).delete()
        return count + older


# --- The answer to a refused sign-in --------------------------------------------------------------


def _wait_text(seconds: float) -> str:
    minutes = max(1, math.ceil(seconds / 60))
    if minutes < 120:
        return ngettext("%(n)d minute", "%(n)d minutes", minutes) % {"n": minutes}
    hours = math.ceil(minutes / 60)
    return ngettext("%(n)d hour", "%(n)d hours", hours) % {"n": hours}


def refusal(request, credentials: dict | None = None) -> tuple[int, str]:
    """(seconds to wait, message) for a refused sign-in."""
    username, ip = _pair(request, credentials)
    wait = _account_refusal(request, username, ip)
    if wait:
        return math.ceil(wait), _(
            "Too many attempts for this account from new addresses. Try again in %(wait)s, "
            "or sign in from a network you have signed in from before."
        ) % {"wait": _wait_text(wait)}
    last = AccessAttempt.objects.filter(username=username, ip_address=ip).aggregate(
        last=Max("attempt_time")
    )["last"]
    ends = (last or _now(request)) + cool_off(request)
    wait = max(1.0, (ends - timezone.now()).total_seconds())
    return math.ceil(wait), _(
        "Too many wrong passwords for this account from your address. Try again in %(wait)s, "
        "or ask the administrator of your governance centre to reset your password."
    ) % {"wait": _wait_text(wait)}


def lockout_response(request, original_response=None, credentials: dict | None = None):
    """AXES_LOCKOUT_CALLABLE: the login page again, with the wait, as 429."""
    seconds, message = refusal(request, credentials)
    response = render(request, "registration/locked_out.html", {"message": message}, status=429)
    response["Retry-After"] = str(seconds)
    return response


def api_lockout_response(request) -> Response:
    """The token API's 429: {"detail": message} with Retry-After."""
    seconds, message = refusal(request)
    return Response({"detail": message}, status=429, headers={"Retry-After": str(seconds)})
