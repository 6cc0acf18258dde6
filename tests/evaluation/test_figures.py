"""Each figure's definition on the hand-computed month of tests/evaluation/conftest.py."""

from __future__ import annotations

from datetime import date

import pytest

from evaluation import figures
from evaluation.models import CaseFigure, FigureCell, FigureState
from grievances import services
from tests.evaluation.conftest import NOW, OCTOBER, step
from tests.grievances.conftest import at

pytestmark = pytest.mark.django_db


def county(tree, **kwargs):
    return figures.figures(region=tree.county, start=OCTOBER[0], end=OCTOBER[1], **kwargs)


def rate(result, name):
    r = result["rates"][name]
    return r["numerator"], r["denominator"], r["value"]


def test_the_county_in_october(tree, october):
    figures.rebuild(now=NOW)
    result = county(tree)
    assert result["source"] == "cells"
    assert result["intake"]["total"] == 5
    assert result["intake"]["by_kind"] == {"dispute": 1, "hardship": 0, "hazard": 4}
    by_category = {c["code"]: c["count"] for c in result["intake"]["by_category"]}
    assert by_category == {"hazard.environment": 3, "hazard.road": 1, "dispute.neighbours": 1}
    # Report-ins: A, B, C on time; D past its deadline unanswered.
    assert rate(result, "response") == (3, 4, 0.75)
    # Handling: A late (Saturday make-up day), B and C on time, D's deadline still ahead.
    assert rate(result, "on_time") == (2, 3, 0.6667)
    # Closed: A (rated not resolved), B (rated resolved), C (return visit: resolved).
    assert rate(result, "resolution") == (2, 3, 0.6667)
    assert rate(result, "satisfaction") == (1, 2, 0.5)
    # No mediation at all: no rate, not 0 and not 100%.
    assert result["rates"]["mediation_success"]["value"] is None
    # C's visit reached; A had none (sample 0, rating came without the relay).
    assert rate(result, "return_visit_reach") == (1, 1, 1.0)


def test_durations_count_working_time(tree, october):
    figures.rebuild(now=NOW)
    d = county(tree)["durations"]
    assert d["accept"] == {"count": 3, "avg_seconds": 1800, "p90_seconds": 1800}
    # A's dispatch waited overnight: Thu 17:30 → Fri 08:30 is 30 working minutes.
    assert d["dispatch"] == {"count": 3, "avg_seconds": 1800, "p90_seconds": 1800}
    # 1800 + 9000 + 3600; p90 is the largest of three (150 minutes is an edge).
    assert d["report_in"] == {"count": 3, "avg_seconds": 4800, "p90_seconds": 9000}
    # A: Fri 08:30 → Sat 09:00 = 7.5 h; B 7 h; C 6 h. 450 minutes round up to the 480 edge.
    assert d["handle"] == {"count": 3, "avg_seconds": 24600, "p90_seconds": 28800}
    # A 9.5 h, B 9 h, C 8 h; 570 minutes round up to 600.
    assert d["close"] == {"count": 3, "avg_seconds": 31800, "p90_seconds": 36000}
    # Deadline Fri 10-09 18:00, handled on the make-up Saturday at 09:00: 30 working minutes.
    assert d["handle_overdue"] == {"count": 1, "avg_seconds": 1800, "p90_seconds": 1800}


def test_townships_and_the_edge_cases(tree, october):
    figures.rebuild(now=NOW)
    a = figures.figures(region=tree.town_a, start=OCTOBER[0], end=OCTOBER[1])
    assert a["intake"]["total"] == 4
    assert rate(a, "response") == (3, 3, 1.0)
    b = figures.figures(region=tree.town_b, start=OCTOBER[0], end=OCTOBER[1])
    assert b["intake"]["total"] == 1
    assert rate(b, "response") == (0, 1, 0.0)
    # Nothing rated, closed or due: None, not 0 and not 100%.
    for name in ("on_time", "resolution", "satisfaction", "mediation_success"):
        assert b["rates"][name]["value"] is None, name
    assert b["durations"]["close"] == {"count": 0, "avg_seconds": None, "p90_seconds": None}


def test_time_attribution_by_period(tree, october):
    figures.rebuild(now=NOW)
    # The first ten days: A reported 10-08, handling due 10-09, closed and rated 10-10.
    early = figures.figures(region=tree.county, start=date(2026, 10, 1), end=date(2026, 10, 11))
    assert early["intake"]["total"] == 1
    assert rate(early, "on_time") == (0, 1, 0.0)
    assert rate(early, "resolution") == (0, 1, 0.0)
    assert rate(early, "satisfaction") == (0, 1, 0.0)
    later = figures.figures(region=tree.county, start=date(2026, 10, 11), end=date(2026, 11, 1))
    assert later["intake"]["total"] == 4
    assert rate(later, "satisfaction") == (1, 1, 1.0)
    # B's and C's handling deadlines (10-19, 10-20) fall later; D's is undecided.
    assert rate(later, "on_time") == (2, 2, 1.0)
    september = figures.figures(region=tree.county, start=date(2026, 9, 1), end=date(2026, 10, 1))
    assert september["intake"]["total"] == 0
    assert all(r["value"] is None for r in september["rates"].values())


def test_cells_stored_cases_and_live_agree(tree, october):
    figures.rebuild(now=NOW)
    for region in (tree.county, tree.town_a, tree.town_b, tree.village_a, tree.grid_a1, None):
        cells = figures.figures(region=region, start=OCTOBER[0], end=OCTOBER[1])
        live = figures.figures(
            region=region, start=OCTOBER[0], end=OCTOBER[1], source="live", now=NOW
        )
        for key in ("intake", "rates", "durations"):
            assert cells[key] == live[key], (region, key)
    grid = figures.figures(region=tree.grid_a1, start=OCTOBER[0], end=OCTOBER[1])
    assert grid["source"] == "cases"
    assert grid["intake"]["total"] == 4


def test_incremental_refresh_equals_a_rebuild(tree, october, worker_b):
    figures.rebuild(now=at(2026, 10, 15, 12))
    before = county(tree)
    # D's report-in deadline (10-14 16:30) had passed already; its handling one has not.
    assert rate(before, "response") == (3, 4, 0.75)
    # D reported in late, then handled on 10-21 after its deadline at 10:00.
    d = step(at(2026, 10, 16, 9), services.grievance_report_in, october.d, worker_b)
    step(at(2026, 10, 21, 11), services.grievance_handle, d, worker_b, result="已补齐")
    later = at(2026, 10, 21, 12)
    FigureState.objects.filter(pk=1).update(last_run_at=at(2026, 10, 15, 12))
    figures.refresh_recent(now=later)
    incremental = county(tree)
    cells = sorted(FigureCell.objects.values_list("region_key", "department_key", "day", "values"))
    facts = sorted(CaseFigure.objects.values_list("grievance_id", "contributions"))
    figures.rebuild(now=later)
    assert county(tree)["rates"] == incremental["rates"]
    assert rate(incremental, "response") == (3, 4, 0.75)
    assert rate(incremental, "on_time") == (2, 4, 0.5)
    assert (
        sorted(FigureCell.objects.values_list("region_key", "department_key", "day", "values"))
        == cells
    )
    assert sorted(CaseFigure.objects.values_list("grievance_id", "contributions")) == facts


def test_a_deadline_passing_counts_without_an_event(tree, october):
    figures.rebuild(now=at(2026, 10, 14, 12))
    assert rate(county(tree), "response") == (3, 3, 1.0)  # D's deadline 16:30 still ahead
    FigureState.objects.filter(pk=1).update(last_run_at=at(2026, 10, 14, 12))
    figures.refresh_recent(now=at(2026, 10, 14, 17))
    assert rate(county(tree), "response") == (3, 4, 0.75)


def test_refresh_is_idempotent(tree, october):
    figures.rebuild(now=NOW)
    cells = sorted(FigureCell.objects.values_list("region_key", "department_key", "day", "values"))
    ids = list(CaseFigure.objects.values_list("grievance_id", flat=True))
    figures.refresh_cases(ids, now=NOW)
    figures.refresh_cases(ids, now=NOW)
    after = sorted(FigureCell.objects.values_list("region_key", "department_key", "day", "values"))
    assert after == cells


def test_p90_nearest_rank_over_bucket_edges():
    values = {"n:x": 10, "s:x": 10 * 600}
    # Nine values at 10 minutes, one at 100: the 90th percentile is the ninth, 10 minutes.
    values.update({"h:x:10": 9, "h:x:105": 1})
    assert figures._duration(values, "x") == {"count": 10, "avg_seconds": 600, "p90_seconds": 600}
    assert figures._bucket(0) == 0
    assert figures._bucket(1) == 1
    assert figures._bucket(61 * 60) == 75
    assert figures._bucket(10**9) == figures.DURATION_EDGES_MINUTES[-1]


def test_a_period_must_end_after_it_starts(tree):
    with pytest.raises(ValueError):
        figures.figures(region=tree.county, start=date(2026, 10, 2), end=date(2026, 10, 1))


def test_a_first_build_goes_on_where_it_stopped(tree, october, monkeypatch):
    monkeypatch.setattr(figures, "REBUILD_BATCH", 2)
    # The first beat runs: a budget of 0 seconds does one batch of two cases per run.
    first = figures.refresh_recent(now=NOW, rebuild_budget=0)
    assert first == {"rebuilt": True, "cases": 2, "complete": False}
    assert figures.as_of() is None
    assert CaseFigure.objects.count() == 2
    assert figures.refresh_recent(now=NOW, rebuild_budget=0)["cases"] == 2
    last = figures.refresh_recent(now=NOW, rebuild_budget=0)
    assert last == {"rebuilt": True, "cases": 1, "complete": True}
    assert figures.as_of() == NOW
    built = sorted(FigureCell.objects.values_list("region_key", "department_key", "day", "values"))
    figures.rebuild(now=NOW)
    assert (
        sorted(FigureCell.objects.values_list("region_key", "department_key", "day", "values"))
        == built
    )
    # Complete: the next run refreshes instead.
    assert figures.refresh_recent(now=NOW)["rebuilt"] is False
