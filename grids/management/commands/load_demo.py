"""python manage.py load_demo: the demo tree, departments, logins and what the other apps add
(routing rules, the mediation roster, cases); idempotent."""

from __future__ import annotations

import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from grids.demo import DEMO_PASSWORD, DemoError, load_demo, login_table
from grids.importing import RegionImportError
from grids.models import Level

BASE_COUNTS = {*Level.values, "departments", "users"}


class Command(BaseCommand):
    help = _(
        "Load the demo data: three prefectures and their counties with real boundaries, "
        "made-up townships, villages and grids below 乃东区, 乡城县, 和静县 and 琼结县, "
        "departments, one login per role, all with the password fengqiao-demo "
        "(an existing user with a demo username gets it too), routing rules, a mediation "
        "roster and demo cases in every state. Running it again changes nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--force",
            action="store_true",
            help=_("load even with DJANGO_PRODUCTION on (creates a superuser 'admin')"),
        )

    def handle(self, *args, force=False, **options):
        if getattr(settings, "PRODUCTION", False) and not force:
            raise CommandError(
                _(
                    "DJANGO_PRODUCTION is on: the demo creates a superuser 'admin' with a "
                    "published password. Use --force if you really mean it."
                )
            )
        started = time.monotonic()
        try:
            counts = load_demo()
        except (DemoError, RegionImportError) as exc:
            raise CommandError(str(exc)) from exc
        elapsed = time.monotonic() - started
        self.stdout.write(
            _(
                "Demo loaded in %(s).1f s: %(township)d townships, %(village)d villages, "
                "%(grid)d grids, %(departments)d departments, %(users)d users."
            )
            % {"s": elapsed, **counts}
        )
        for label, count in counts.items():
            if label not in BASE_COUNTS:
                self.stdout.write(f"  {label}: {count}")
        self.stdout.write("")
        self.stdout.write(login_table())
        self.stdout.write("")
        self.stdout.write(
            _("Every demo login uses the password %(password)s.") % {"password": DEMO_PASSWORD}
        )
