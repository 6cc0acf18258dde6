"""The demo's figures: once the demo cases' events are relayed, their daily cells are
brought up to date (the backdated events are older than the periodic refresh looks)."""

from __future__ import annotations

from evaluation import figures
from evaluation.models import FigureState
from grievances import demo as case_demo


def _refresh_figures(case_ids: list[int]) -> None:
    if FigureState.objects.filter(pk=1, last_run_at__isnull=False).exists():
        figures.refresh_cases(case_ids)
    else:
        figures.rebuild(fresh=False)


case_demo.after_relay.append(_refresh_figures)
