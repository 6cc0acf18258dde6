"""manage.py import_regions PATH: create or update regions and boundaries from GeoJSON/CSV."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from grids.importing import FORMATS, RegionImportError, import_regions
from grids.models import LEVEL_ORDER


class Command(BaseCommand):
    help = _(
        "Import regions from a GeoJSON FeatureCollection or a CSV file, creating or updating "
        "them by code. Rows that cannot be used are skipped and listed with their reason."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("path", help=_("a .geojson/.json or .csv file"))
        parser.add_argument(
            "--format",
            dest="fmt",
            choices=FORMATS,
            help=_("the file's format (default: from its extension)"),
        )
        parser.add_argument(
            "--level",
            choices=[str(level) for level in LEVEL_ORDER],
            help=_("give every row this level (default: each row's level field)"),
        )
        parser.add_argument(
            "--parent", default="", help=_("parent code for rows that name no parent")
        )
        parser.add_argument("--name-field", default="name", help=_("default: %(default)s"))
        parser.add_argument("--code-field", default="code", help=_("default: %(default)s"))
        parser.add_argument("--parent-field", default="parent", help=_("default: %(default)s"))
        parser.add_argument("--level-field", default="level", help=_("default: %(default)s"))

    def handle(self, *args, **options) -> None:
        try:
            report = import_regions(
                options["path"],
                fmt=options["fmt"],
                level=options["level"],
                parent=options["parent"],
                name_field=options["name_field"],
                code_field=options["code_field"],
                parent_field=options["parent_field"],
                level_field=options["level_field"],
                # The raw stream: the bar redraws its line with \r, which the wrapper's
                # line endings would break. Off by itself when stderr is not a terminal.
                progress=getattr(self.stderr, "_out", True),
            )
        except RegionImportError as exc:
            raise CommandError(str(exc)) from exc
        if report.skipped:
            self.stdout.write(_("Skipped rows:"))
            for skipped in report.skipped:
                self.stdout.write(f"  {skipped}")
        self.stdout.write(report.summary())
