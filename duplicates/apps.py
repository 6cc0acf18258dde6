from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DuplicatesConfig(AppConfig):
    """One problem, one case: a reporter who joins an open case near their pin instead of
    opening another, the centre's confirmation of who joins, and the likely duplicate found
    for each new case at intake. Above grievances and notifications (it reads cases and adds
    complainants through grievances' services)."""

    name = "duplicates"
    verbose_name = _("Duplicates")
