"""python manage.py import_people FILE.csv: users and their roles in bulk (see grids/people.py)."""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from grids.people import PeopleImportError, import_people, write_passwords


class Command(BaseCommand):
    help = _(
        "Create or update users and their region or department roles from a CSV file "
        "(columns: username, full_name, phone, email, role, region, department, password)."
    )

    def add_arguments(self, parser):
        parser.add_argument("path", help=_("the CSV file (UTF-8, header row)"))
        parser.add_argument(
            "--passwords-out",
            metavar="FILE",
            help=_(
                "write the generated passwords of new users to FILE (CSV, owner-only) "
                "instead of printing them"
            ),
        )
        parser.add_argument(
            "--encoding",
            default="utf-8-sig",
            help=_("the file's encoding (default utf-8 with or without BOM; e.g. gb18030)"),
        )
        parser.add_argument(
            "--dry-run", action="store_true", help=_("check and count, save nothing")
        )

    def handle(self, *args, path, passwords_out, encoding, dry_run, **options):
        started = time.monotonic()
        try:
            summary = import_people(path, encoding=encoding, dry_run=dry_run)
        except PeopleImportError as exc:
            raise CommandError(str(exc)) from None
        elapsed = time.monotonic() - started
        for line in summary.lines():
            self.stdout.write(line)
        self.stdout.write(_("Took %(s).1f s.") % {"s": elapsed})
        if summary.generated_passwords and not dry_run:
            if passwords_out:
                write_passwords(passwords_out, summary.generated_passwords)
                self.stdout.write(
                    _("Generated passwords of %(n)d new users written to %(path)s.")
                    % {"n": len(summary.generated_passwords), "path": passwords_out}
                )
            else:
                self.stdout.write(
                    _("Generated passwords (users must change them at their first login):")
                )
                for username, password in summary.generated_passwords:
                    self.stdout.write(f"  {username}\t{password}")
