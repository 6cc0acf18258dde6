from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class GrievancesConfig(AppConfig):
    name = "grievances"
    verbose_name = _("Cases")

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        # Demo cases; the grid worker's home; the merge's labels and precondition.
        from grievances import demo, home, merging  # noqa: F401
        from grievances.forms_cases import register_act_form
        from grievances.forms_triage import TriageForm

        register_act_form(TriageForm)  # the case page's 研判

        post_migrate.connect(_seed, sender=self, dispatch_uid="grievances-seed-categories")


def _seed(sender, **kwargs) -> None:
    from grievances.categories import seed_categories

    seed_categories()
