"""manage.py import_holidays FILE.csv: holidays and make-up days for years the package lacks."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from grids.workcalendar import import_calendar_csv


class Command(BaseCommand):
    help = (
        "Import calendar days from a CSV file with the columns date,kind,name,region_code "
        "(kind: holiday or workday; empty region_code: national). Idempotent."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("file", help="CSV file, UTF-8, with a header row")
        parser.add_argument(
            "--complete",
            action="store_true",
            help="Mark the years of the file's national rows as complete.",
        )
        parser.add_argument(
            "--replace",
            action="store_true",
            help="Delete rows of the same year and region that the file does not list.",
        )

    def handle(self, *args, file: str, complete: bool, replace: bool, **options) -> None:
        try:
            # utf-8-sig: spreadsheets on Windows save a byte-order mark.
            with open(file, encoding="utf-8-sig", newline="") as handle:
                result = import_calendar_csv(handle, complete=complete, replace=replace)
        except OSError as exc:
            raise CommandError(str(exc)) from exc
        if result.errors:
            raise CommandError("nothing imported:\n" + "\n".join(result.errors))
        self.stdout.write(
            self.style.SUCCESS(
                f"created {result.created}, updated {result.updated}, "
                f"unchanged {result.unchanged}, deleted {result.deleted}"
            )
        )
