"""The mediation success rate, read through the mediation app's reverse relation."""

from __future__ import annotations

from datetime import date

import pytest

from evaluation import figures
from mediation.models import MediationCase
from tests.evaluation.conftest import NOW, step
from tests.grievances.conftest import at, new_case

pytestmark = pytest.mark.django_db


def test_settled_over_settled_or_failed(tree, people):
    model = MediationCase
    outcomes = [
        ("settled", at(2026, 10, 12, 10)),
        ("settled", at(2026, 10, 13, 10)),
        ("failed", at(2026, 10, 14, 10)),
        ("choosing", None),
        ("settled", at(2026, 11, 2, 10)),
    ]
    for i, (status, closed_at) in enumerate(outcomes):
        case = step(
            at(2026, 10, 9, 9),
            new_case,
            people.grid_worker,
            category="dispute.neighbours",
            title=f"纠纷{i}",
        )
        mediation = model.objects.create(grievance=case)
        model.objects.filter(pk=mediation.pk).update(status=status, closed_at=closed_at)
    figures.rebuild(now=NOW)
    october = figures.figures(region=tree.county, start=date(2026, 10, 1), end=date(2026, 11, 1))
    # Attributed to the day each mediation ended: November's settlement counts later.
    assert october["rates"]["mediation_success"] == {
        "value": 0.6667,
        "numerator": 2,
        "denominator": 3,
    }
    november = figures.figures(region=tree.county, start=date(2026, 11, 1), end=date(2026, 12, 1))
    assert november["rates"]["mediation_success"]["value"] == 1.0
