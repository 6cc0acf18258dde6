"""Server-rendered pages of the shell: one home page per role, the auth pages, error pages.

Views stay thin: they pick a template and gather what it shows. Later pages (the centre's
queue, the leader's dashboard, the department inbox, intake and tracking) fill the
placeholders in templates/home/.
"""

from __future__ import annotations

import hashlib
import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass, field

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.db import InterfaceError, OperationalError, connection
from django.db.models import Q
from django.http import HttpResponse, JsonResponse
from django.shortcuts import render
from django.template import loader
from django.templatetags.static import static
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.csrf import requires_csrf_token

from grids import limits, lockout, scoping
from grids.cache import Throttled
from grids.models import Region, Role

log = logging.getLogger(__name__)

GRID_ROLES = frozenset({Role.GRID_WORKER, Role.GRID_POLICE, Role.GRID_LEADER})

# Which home a user gets, first match wins: a person who works in a centre and also holds
# a grid role sees the centre's queue first.
HOME_KINDS = (
    ("admin", frozenset({"superuser"})),
    # A centre administrator works in the centre: its queue is their home, too.
    ("centre_staff", frozenset({Role.CENTRE_STAFF, Role.CENTRE_ADMIN})),
    ("leader", frozenset({Role.LEADER})),
    ("department_staff", frozenset({"department_staff"})),
    ("mediator", frozenset({"mediator"})),
    ("grid", GRID_ROLES),
)

# What each home page shows beyond the shell, filled by the apps that own the data
# (grids imports none of them): kind -> functions of the request returning context.
HomePanel = Callable[..., dict]
_home_panels: dict[str, list[HomePanel]] = {}


def home_panel(*kinds: str):
    """Decorator: `@home_panel("grid")` adds the function's context to that home page."""

    def register(fn: HomePanel) -> HomePanel:
        for kind in kinds:
            panels = _home_panels.setdefault(kind, [])
            if fn not in panels:
                panels.append(fn)
        return fn

    return register


_ROLES_ATTR = "_fengqiao_roles"


def request_roles(request) -> frozenset[str]:
    """The roles of the request's user, asked once per request (see roles_of)."""
    roles = getattr(request, _ROLES_ATTR, None)
    if roles is None:
        roles = frozenset(scoping.roles_of(request.user))
        setattr(request, _ROLES_ATTR, roles)
    return roles


def is_mediator(user) -> bool:
    """An active mediator on the roster linked to this account (a reverse relation: grids
    knows nothing of mediation's models)."""
    profiles = getattr(user, "mediator_profiles", None)
    return profiles is not None and profiles.filter(active=True).exists()


def home_kind(user, roles: frozenset[str]) -> str:
    if not getattr(user, "is_authenticated", False):
        return "public"
    for kind, wanted in HOME_KINDS:
        if kind == "mediator":
            # Asked only of those who would otherwise get a grid or no home of their own.
            if is_mediator(user):
                return kind
            continue
        if roles & wanted:
            return kind
    if user.is_staff:
        return "admin"
    # No role, department or roster place: a resident, who reported with their account or is
    # named on a case. Their home lists their own cases (我的反映).
    return "resident"


@dataclass
class MembershipRow:
    """One membership as a home page shows it: role, region and the region's path."""

    role: str
    role_label: str
    region: Region
    path: list[Region] = field(default_factory=list)

    @property
    def is_grid_role(self) -> bool:
        return self.role in GRID_ROLES


def membership_rows(user) -> list[MembershipRow]:
    """The user's region memberships with each region's ancestors: one query for the
    ancestors of all of them (the memberships themselves are read once per request by
    grids.scoping)."""
    memberships = sorted(
        scoping.memberships(user), key=lambda m: (m.region.tree_id, m.region.lft, m.role)
    )
    if not memberships:
        return []
    ancestors_q = Q(pk__in=[])
    for r in {m.region.pk: m.region for m in memberships}.values():
        ancestors_q |= Q(tree_id=r.tree_id, lft__lt=r.lft, rght__gt=r.rght)
    ancestors = list(
        Region.objects.filter(ancestors_q)
        .only("pk", "name", "code", "level", "tree_id", "lft", "rght")
        .order_by("tree_id", "lft")
    )
    rows = []
    for m in memberships:
        r = m.region
        path = [a for a in ancestors if a.tree_id == r.tree_id and a.lft < r.lft < a.rght]
        rows.append(MembershipRow(m.role, m.get_role_display(), r, path))
    return rows


_KIND_ATTR = "_fengqiao_home_kind"


def request_home_kind(request) -> str:
    """The home kind of the request's user, worked out once per request."""
    kind = getattr(request, _KIND_ATTR, None)
    if kind is None:
        kind = home_kind(request.user, request_roles(request))
        setattr(request, _KIND_ATTR, kind)
    return kind


def home(request):
    user = request.user
    if not user.is_authenticated:
        return render(request, "home/public.html", {"home_kind": "public"})
    roles = request_roles(request)
    kind = request_home_kind(request)
    context = {
        "home_kind": kind,
        "roles": roles,
        "memberships": membership_rows(user),
        # Through the reverse relation: grids knows nothing of dispatch's models.
        "department_memberships": list(
            user.department_memberships.select_related("department").order_by("department__name")
        )
        if "department_staff" in roles
        else [],
    }
    for panel in _home_panels.get(kind, ()):
        context.update(panel(request))
    return render(request, f"home/{kind}.html", context)


class PasswordChangeView(auth_views.PasswordChangeView):
    """Django's password change, which also clears the first-login flag."""

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["first_login"] = bool(getattr(self.request.user, "must_change_password", False))
        return context

    def form_valid(self, form):
        # Cleared before the form saves the user: one UPDATE writes both.
        form.user.must_change_password = False
        return super().form_valid(form)


class PasswordResetView(auth_views.PasswordResetView):
    """Django's password reset, limited per e-mail address asked for and per client address
    (each PASSWORD_RESET_PER_* an hour): a script can neither flood one person's mailbox nor
    probe many addresses. The page answers the same whether or not an account has the
    address; past a limit it answers 429 for any address."""

    def post(self, request, *args, **kwargs):
        ip = lockout.client_ip(request) or "unknown"
        if limits.over_limit(f"password-reset-ip:{ip}", settings.PASSWORD_RESET_PER_ADDRESS, 3600):
            return self._refused(self.get_form())
        return super().post(request, *args, **kwargs)

    def form_valid(self, form):
        email = form.cleaned_data["email"].strip().casefold()
        digest = hashlib.sha256(email.encode()).hexdigest()[:32]
        if limits.over_limit(
            f"password-reset-email:{digest}", settings.PASSWORD_RESET_PER_EMAIL, 3600
        ):
            return self._refused(form)
        return super().form_valid(form)

    def _refused(self, form):
        message = _("Too many requests to reset a password. Try again in an hour.")
        context = self.get_context_data(form=form, limited=message)
        response = self.render_to_response(context, status=429)
        response["Retry-After"] = "3600"
        return response


def _is_api(request) -> bool:
    return request.path.startswith("/api/")


def permission_denied(request, exception=None):
    if _is_api(request):
        return JsonResponse({"detail": _("You do not have permission to do this.")}, status=403)
    return render(request, "403.html", status=403)


def page_not_found(request, exception=None):
    if _is_api(request):
        return JsonResponse({"detail": _("Not found.")}, status=404)
    return render(request, "404.html", {"request_path": request.path}, status=404)


RETRY_AFTER_SECONDS = 30
_outage_warning = Throttled(60.0)


def database_unavailable(exc: BaseException | None) -> bool:
    """Whether `exc` means the database is away (restarting, failing over, out of
    connections): the request could not be served, and a retry in a little while will be.
    That is a 503, not a 500.

    OperationalError alone says too little: a deadlock, a statement timeout or SQLite's
    "database is locked" raise it on a connection that works, and those are faults to fix,
    whose traceback the log must keep (config/logs.py drops it for a 503). So an
    OperationalError counts only when there is no connection (PostgreSQL refused it, SQLite
    could not open its file: the connection stays None) or the one there is no longer
    answers (the server went away mid-request)."""
    if isinstance(exc, InterfaceError):
        return True  # the connection was closed under the request
    if not isinstance(exc, OperationalError):
        return False
    if connection.connection is None:
        return True
    try:
        return not connection.is_usable()
    except Exception:  # asking a broken connection can fail in its own way
        return True


@requires_csrf_token
def server_error(request):
    """The 500 page, or a 503 with Retry-After when the database was unreachable; JSON for
    the API. Rendered from a plain context: no context processors, no database (beyond
    asking the connection, after a database error, whether it still answers)."""
    exc = sys.exc_info()[1]
    unavailable = database_unavailable(exc)
    status = 503 if unavailable else 500
    if unavailable:
        _outage_warning(log, "database unavailable (%s): answering 503", str(exc).strip())
    if _is_api(request):
        detail = (
            _("The service is briefly unavailable. Nothing was saved: try again in a minute.")
            if unavailable
            else _("Something went wrong on our side. The error has been recorded.")
        )
        response = JsonResponse({"detail": detail}, status=status)
    else:
        try:
            css_url = static("css/app.css")
        except ValueError:  # a manifest storage without the entry: plain page rather than none
            css_url = ""
        context = {
            "LANGUAGE_CODE": get_language() or "zh-hans",
            "css_url": css_url,
            "unavailable": unavailable,
        }
        response = HttpResponse(loader.get_template("500.html").render(context), status=status)
    if unavailable:
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response
