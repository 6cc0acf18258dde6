"""Ratings become one per complainant: a database from before keeps every rating, each given
to its case's reporter complainant (or the first complainant), or left to the reporting
account on a case that names nobody."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from grievances.models import Complainant, Rating
from tests.grievances.conftest import new_case

BEFORE = [("grievances", "0007_evaluation_moves_out")]


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


def _latest():
    return MigrationExecutor(connection).loader.graph.leaf_nodes()


@pytest.mark.django_db(transaction=True)
def test_existing_ratings_go_to_the_reporter_complainant(people):
    with_reporter = new_case(None, name="张三", phone="13800001234")
    Complainant.objects.create(grievance=with_reporter, name="李四", phone="139", position=1)
    # A duplicate's reporter moved in: nobody is marked as the reporter any more.
    unmarked = new_case(None, name="王五", phone="13700001234")
    Complainant.objects.filter(grievance=unmarked).update(is_reporter=False, position=3)
    Complainant.objects.create(grievance=unmarked, name="赵六", phone="136", position=5)
    nobody = new_case(people.grid_worker, name="", phone="")
    Complainant.objects.filter(grievance=nobody).delete()
    try:
        old = _migrate(BEFORE)
        OldRating = old.get_model("grievances", "Rating")
        now = timezone.now()
        for case, score in ((with_reporter, 5), (unmarked, 2), (nobody, 4)):
            OldRating.objects.create(
                grievance_id=case.pk, score=score, resolved=True, created_at=now
            )
    finally:
        _migrate(_latest())

    by_case = {r.grievance_id: r for r in Rating.objects.select_related("complainant")}
    assert len(by_case) == 3
    assert by_case[with_reporter.pk].complainant.name == "张三"
    assert by_case[with_reporter.pk].score == 5
    assert by_case[unmarked.pk].complainant.name == "王五"
    assert by_case[nobody.pk].complainant is None
