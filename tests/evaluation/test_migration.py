"""Evaluation moved out of grievances with its tables: a database migrated before the move
migrates forward (and back) with every row of return visits, figures and exports kept, the
content types following the models, and beat's rows naming the tasks where they are now."""

from __future__ import annotations

from datetime import date

import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from evaluation.models import CaseFigure, Export, FigureCell, FigureState, ReturnVisit
from tests.grievances.conftest import new_case

BEFORE = [("grievances", "0006_case_version"), ("evaluation", None)]


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    return executor.loader.project_state([t for t in targets if t[1]]).apps


def _latest():
    return MigrationExecutor(connection).loader.graph.leaf_nodes()


@pytest.mark.django_db(transaction=True)
def test_a_database_from_before_the_move_keeps_every_row(people):
    case = new_case(people.grid_worker)
    now = timezone.now()
    ReturnVisit.objects.create(
        grievance=case, reason="sample", closed_at=now, due_at=now, note="已回访"
    )
    CaseFigure.objects.create(
        grievance=case, nodes=[case.region_id], contributions=[[1, 0, "x", 1]]
    )
    FigureCell.objects.create(
        day=date(2026, 10, 1), region_key=0, department_key=0, values={"a": 1}
    )
    FigureState.objects.create(pk=1, last_run_at=now)
    Export.objects.create(owner=people.leader, kind="cases", file_type="csv")
    try:
        old = _migrate(BEFORE)
        # Before the move: the same rows, read through grievances' models; one more is added.
        assert old.get_model("grievances", "ReturnVisit").objects.get().note == "已回访"
        assert old.get_model("grievances", "FigureCell").objects.count() == 1
        old.get_model("grievances", "Export").objects.create(
            owner_id=people.leader.pk, kind="figures", file_type="xlsx", params={"period": "x"}
        )
        ContentType.objects.filter(app_label="evaluation").delete()
        ContentType.objects.get_or_create(app_label="grievances", model="returnvisit")
        every = IntervalSchedule.objects.create(every=60, period=IntervalSchedule.SECONDS)
        PeriodicTask.objects.create(
            name="figures by hand",
            task="grievances.tasks_evaluation.refresh_figures",
            interval=every,
        )
    finally:
        _migrate(_latest())

    visit = ReturnVisit.objects.get()
    assert (visit.grievance_id, visit.note) == (case.pk, "已回访")
    assert CaseFigure.objects.get().contributions == [[1, 0, "x", 1]]
    assert FigureCell.objects.get().values == {"a": 1}
    assert FigureState.objects.get(pk=1).last_run_at is not None
    assert sorted(Export.objects.values_list("kind", "file_type")) == [
        ("cases", "csv"),
        ("figures", "xlsx"),
    ]
    assert ContentType.objects.filter(app_label="evaluation", model="returnvisit").exists()
    assert not ContentType.objects.filter(app_label="grievances", model="returnvisit").exists()
    task = PeriodicTask.objects.get(name="figures by hand").task
    assert task == "evaluation.tasks.refresh_figures"
