"""python manage.py demo_logins: print the demo logins without loading anything."""

from __future__ import annotations

from django.core.management.base import BaseCommand
from django.utils.translation import gettext as _

from grids.demo import DEMO_PASSWORD, demo_loaded, login_table


class Command(BaseCommand):
    help = _("Print the demo logins (username, role, region or department, password).")
    requires_system_checks = []

    def handle(self, *args, **options):
        self.stdout.write(_("Demo logins:"))
        self.stdout.write(login_table())
        self.stdout.write(
            _("Every demo login uses the password %(password)s.") % {"password": DEMO_PASSWORD}
        )
        if not demo_loaded():
            self.stderr.write(
                _("The demo data is not loaded in this database: run `manage.py load_demo`.")
            )
