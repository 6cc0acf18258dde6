from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class EvaluationConfig(AppConfig):
    """Return visits, figures and their daily cells, the dashboard, the red and black lists
    and exports. It reads cases, whistles and mediations; no app below imports it."""

    name = "evaluation"
    verbose_name = _("Evaluation")

    def ready(self) -> None:
        # The relay's handlers for "verify" and "rate" (return visits) are registered when
        # the tasks module is imported: in every process, not only where Celery autodiscovers
        # tasks, so that a relay run by the web process or the demo loader schedules visits.
        from evaluation import demo, home, tasks  # noqa: F401
