"""What every page of the shell needs: the site's name and the navigation for the user's roles.

Everything is computed on first use in a template, so pages that do not show the shell
(the admin, API responses) cost no queries.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from grids.models import Role
from grids.views import request_home_kind, request_roles


@dataclass(frozen=True)
class NavItem:
    label: str
    url: str
    key: str


# The tab bar's pages by the start of their paths; "/" alone is the home tab.
TAB_PREFIXES = (("/report/", "report"), ("/cases/", "grid"), ("/notifications/", "notifications"))
# Nav items the tab bar already offers (kept out of the menu for those who have it).
TAB_KEYS = frozenset({"home", "report"})


class Shell:
    site_name = _("Fengqiao")
    tagline = _("Grid governance and grievance handling")

    def __init__(self, request):
        self.request = request

    @cached_property
    def roles(self) -> frozenset[str]:
        return request_roles(self.request)

    @cached_property
    def home_kind(self) -> str:
        user = getattr(self.request, "user", None)
        if user is None or not user.is_authenticated:
            return "public"
        return request_home_kind(self.request)

    @cached_property
    def nav(self) -> list[NavItem]:
        """The main navigation; later issues point these at their own pages."""
        kind = self.home_kind
        home = reverse("home")
        home_label = {
            "admin": _("Administration"),
            "centre_staff": _("Queue"),
            "leader": _("Home"),
            "department_staff": _("Home"),
            "grid": _("My grid"),
            "mediator": _("My mediations"),
            "resident": _("My reports"),
        }.get(kind, _("Home"))
        items = [NavItem(home_label, home, "home")]
        if kind in ("public", "resident", "grid"):
            items.append(NavItem(_("Report a problem"), "/report/", "report"))
        if kind in ("public", "resident"):
            items.append(NavItem(_("Track my case"), "/track/", "track"))
        if kind == "centre_staff":
            # The desk's intake (登记): walk-ins, the village desk, tea meetings, transfers.
            items.append(NavItem(pgettext_lazy("nav", "Intake"), "/report/", "report"))
        if kind in ("admin", "centre_staff"):
            items.append(NavItem(_("Console"), reverse("console"), "console"))
        if kind == "department_staff" or "department_staff" in self.roles:
            items.append(NavItem(_("Inbox"), reverse("inbox"), "inbox"))
        if kind in ("admin", "centre_staff", "leader", "department_staff", "grid"):
            items.append(NavItem(_("Cases"), "/cases/", "cases"))
        if kind in ("admin", "centre_staff", "leader"):
            items.append(NavItem(_("Dashboard"), "/dashboard/", "dashboard"))
        if kind in ("admin", "centre_staff"):
            items.append(NavItem(_("Return visits"), "/return-visits/", "return-visits"))
        if "superuser" in self.roles or Role.CENTRE_ADMIN in self.roles:
            items.append(NavItem(_("Categories"), "/desk/categories/", "categories"))
        items.append(NavItem(_("Mediators"), "/mediators/", "mediators"))
        items.append(NavItem(_("Red and black list"), "/rankings/", "rankings"))
        user = getattr(self.request, "user", None)
        if user is not None and user.is_authenticated and user.is_staff:
            items.append(NavItem(_("Django admin"), reverse("admin:index"), "admin"))
            items.append(NavItem(_("API docs"), reverse("api-docs"), "api-docs"))
        return items

    @cached_property
    def has_tabbar(self) -> bool:
        """Grid workers walk their grid with the phone in one hand: their four main pages sit
        in a tab bar at the bottom of a phone's screen (templates/includes/tabbar.html)."""
        return self.home_kind == "grid"

    @cached_property
    def menu(self) -> list[NavItem]:
        """The navigation in the phone's header menu: what the tab bar does not already hold."""
        if not self.has_tabbar:
            return self.nav
        return [item for item in self.nav if item.key not in TAB_KEYS]

    @cached_property
    def tab(self) -> str:
        """The tab of the current page, for aria-current ("" when none is)."""
        path = self.request.path
        if path == "/":
            return "home"
        for prefix, key in TAB_PREFIXES:
            if path.startswith(prefix):
                return key
        return ""

    @cached_property
    def current(self) -> str:
        """The key of the nav item matching the current page, for aria-current."""
        path = self.request.path
        best, best_len = "", 0
        for item in self.nav:
            if item.url == "/":
                if path == "/":
                    return item.key
            elif path.startswith(item.url) and len(item.url) > best_len:
                best, best_len = item.key, len(item.url)
        return best


def shell(request):
    return {"shell": Shell(request)}
