"""The one-statement write of a new case (PostgreSQL) writes what the ORM writes, all or
nothing, in one round trip."""

from __future__ import annotations

from contextlib import nullcontext

import pytest
from django.db import DataError, connection, transaction
from django.forms.models import model_to_dict
from django.test.utils import CaptureQueriesContext
from django.utils.translation import gettext_lazy

from grievances import models, newcase, services
from grievances.models import CaseEvent, Category, Complainant, Grievance, Urgency
from grievances.services import ComplainantData

pytestmark = pytest.mark.django_db(transaction=True)

SKIP = {"id", "tracking_code", "created_at", "updated_at", "grievance"}


def _submit(tree, **changes):
    report = {
        "user": None,
        "title": "  楼道水管漏水 ",
        "description": "三单元楼道水管漏水",
        "category": Category.objects.get(code="hazard.utilities"),
        "source": "resident_web",
        "lng": 91.2,
        "lat": 29.7,
        "address": "江塘村3号楼",
        "complainants": [
            ComplainantData(name="赵六", phone="13912345678"),
            ComplainantData(name="钱七", phone="13800001111", id_number="11010519491231002X"),
        ],
        "risk_group": True,
    }
    return services.grievance_submit(**{**report, **changes})


def _rows(case: Grievance) -> tuple[dict, list[dict], list[dict]]:
    def plain(obj):
        return {k: v for k, v in model_to_dict(obj).items() if k not in SKIP}

    return (
        plain(Grievance.objects.get(pk=case.pk)),
        [plain(c) for c in Complainant.objects.filter(grievance=case).order_by("position")],
        [plain(e) for e in CaseEvent.objects.filter(grievance=case)],
    )


@pytest.mark.parametrize(
    "changes",
    [
        {},
        # Fields at their defaults are written into the statement, the others bound: other
        # shapes of report take other statements, which must write the same rows.
        {"address": "", "risk_group": False, "risk_petition": True, "urgency": "most_urgent"},
        {"complainants": [ComplainantData(name="", phone="", id_number="")], "lng": 91.25},
    ],
    ids=["usual", "other-defaults", "blank-complainant"],
)
def test_the_one_statement_write_matches_the_orm(tree, require_postgres, monkeypatch, changes):
    with CaptureQueriesContext(connection) as fast_queries:
        fast = _submit(tree, **changes)
    # One statement writes the case, both complainants and the event.
    writes = [q for q in fast_queries.captured_queries if "INSERT" in q["sql"]]
    assert len(writes) == 1, [q["sql"][:80] for q in fast_queries.captured_queries]
    assert fast.pk and not fast._state.adding

    monkeypatch.setattr(newcase, "available", lambda: False)
    slow = _submit(tree, **changes)

    assert _rows(fast) == _rows(slow)
    case, people, events = _rows(fast)
    assert case["title"] == "楼道水管漏水" and case["grid"] == tree.grid_a1.pk
    if not changes:
        assert [p["name"] for p in people] == ["赵六", "钱七"]
        assert [p["is_reporter"] for p in people] == [True, False]
    assert [e["action"] for e in events] == ["submit"]
    # The instances returned are the saved rows, with their ids.
    reread = Grievance.objects.get(pk=fast.pk)
    assert reread.tracking_code == fast.tracking_code
    assert fast.events.get().action == "submit"


def test_a_refused_row_writes_nothing(tree, require_postgres):
    before = (Grievance.objects.count(), Complainant.objects.count(), CaseEvent.objects.count())
    with pytest.raises(DataError):
        # Longer than the column: the database refuses the second complainant's row.
        _submit(tree, complainants=[ComplainantData(name="赵六"), ComplainantData(name="名" * 101)])
    after = (Grievance.objects.count(), Complainant.objects.count(), CaseEvent.objects.count())
    assert after == before


def test_inside_a_transaction_it_rolls_back_with_it(tree, require_postgres):
    with pytest.raises(RuntimeError), transaction.atomic():
        _submit(tree)
        assert Grievance.objects.count() == 1
        raise RuntimeError
    assert Grievance.objects.count() == 0
    assert CaseEvent.objects.count() == 0


@pytest.mark.parametrize("write", ["one-statement", "orm", "in-a-transaction"])
def test_a_tracking_code_taken_already_is_drawn_again(tree, monkeypatch, request, write):
    # A draw that repeats a case's code: the unique index refuses the row, and the report is
    # written again with the next draw (in autocommit, and by a savepoint inside the
    # caller's transaction), all three kinds of rows once.
    if write == "orm":
        monkeypatch.setattr(newcase, "available", lambda: False)
    else:
        request.getfixturevalue("require_postgres")  # the one-statement write is PostgreSQL's
    draws = iter([3, 3, 4])
    monkeypatch.setattr(models.secrets, "randbelow", lambda _n: next(draws))
    first = _submit(tree)
    with transaction.atomic() if write == "in-a-transaction" else nullcontext():
        second = _submit(tree, complainants=[ComplainantData(name="孙八", phone="13700002222")])
    assert first.tracking_code != second.tracking_code
    assert Grievance.objects.get(pk=second.pk).tracking_code == second.tracking_code
    assert [c.name for c in Complainant.objects.filter(grievance=second)] == ["孙八"]
    assert Complainant.objects.count() == 3
    assert [e.action for e in CaseEvent.objects.filter(grievance=second)] == ["submit"]


def test_another_refusal_is_not_retried(tree, require_postgres, monkeypatch):
    # Only a clash of codes draws again: any other refusal is the caller's, at once.
    draws = []
    real = models.secrets.randbelow
    monkeypatch.setattr(models.secrets, "randbelow", lambda n: draws.append(n) or real(n))
    with pytest.raises(DataError):
        _submit(tree, complainants=[ComplainantData(name="名" * 101)])
    assert len(draws) == 1
    assert Grievance.objects.count() == 0


def test_a_report_without_an_account_is_the_residents(tree):
    case = _submit(tree)
    event = case.events.get()
    assert event.actor_id is None
    assert "Resident" in event.actor_label


def test_a_region_with_cases_cannot_be_deleted(tree):
    # The per-level columns have no constraint in the database; the ORM still protects them.
    from django.db.models import ProtectedError

    _submit(tree)
    with pytest.raises(ProtectedError):
        tree.town_a.delete()
    assert Grievance.objects.get().township_id == tree.town_a.pk


def test_the_prepared_statement_survives_a_session_reset(tree, require_postgres, settings):
    first = _submit(tree)
    with connection.cursor() as cursor:
        cursor.execute("SELECT name FROM pg_prepared_statements")
        assert any(row[0].startswith("fq_newcase_2_") for row in cursor.fetchall())
        # What a connection pool does between clients.
        cursor.execute("DEALLOCATE ALL")
    second = _submit(tree, complainants=[])
    third = _submit(tree)
    settings.NEWCASE_PREPARED = False
    fourth = _submit(tree)
    cases = Grievance.objects.filter(pk__in=[first.pk, second.pk, third.pk, fourth.pk])
    assert cases.count() == 4
    assert [c.complainants.count() for c in cases.order_by("pk")] == [2, 0, 2, 2]
    assert CaseEvent.objects.filter(grievance__in=cases, action="submit").count() == 4


def test_the_prepared_statement_is_named_after_its_text(tree, require_postgres, monkeypatch):
    # A pooled session kept across a release holds the older release's statement: under
    # another name, since the text (its columns) differs, so it is never run for ours.
    monkeypatch.setattr(newcase, "_names", {})
    _submit(tree)
    [((_alias, shapes), (ours, _text))] = newcase._names.items()
    monkeypatch.setattr(newcase, "_names", {})
    monkeypatch.setattr(newcase, "_sql", lambda conn, shapes: "SELECT %s")
    older = newcase._prepared(connection, shapes, 1)[0]
    assert ours != older
    assert ours.startswith("fq_newcase_2_") and older.startswith("fq_newcase_2_")


def test_past_the_prepared_shapes_the_text_is_sent(tree, require_postgres, monkeypatch):
    monkeypatch.setattr(newcase, "_names", {})
    monkeypatch.setattr(newcase, "PREPARED_SHAPES", 0)
    with CaptureQueriesContext(connection) as queries:
        case = _submit(tree)
    assert not newcase._names
    writes = [q["sql"] for q in queries.captured_queries if "INSERT" in q["sql"]]
    assert len(writes) == 1 and writes[0].startswith("WITH g AS (INSERT")
    assert Grievance.objects.get(pk=case.pk).complainants.count() == 2


def test_bound_values_are_what_django_prepares(tree, require_postgres):
    """The shortcuts (a value the driver takes as it is, a default written as a literal)
    give what each field's own preparation gives."""
    case = newcase.new(
        Grievance,
        title="标题",
        description="",
        category=Category.objects.get(code="hazard.utilities"),
        urgency=Urgency.URGENT,  # an enum member: prepared, not taken as it is
        lng=91.0,
        lat=None,
        risk_group=True,
        priority=0,
        address=gettext_lazy("address"),  # a lazy string: prepared
    )
    case.set_region(tree.grid_a1)
    connection.ensure_connection()
    table = newcase._tables_for(connection)[0]
    shape, params = table.bind(case, connection)
    table.row(connection, shape)  # makes the literals
    bound = iter(params)
    with connection.cursor() as cursor:
        for (field, _attname, _const, _prepped, _kind), literal, is_const in zip(
            table.plans, table.literals, shape, strict=True
        ):
            if field.attname == "updated_at":
                next(bound)  # auto_now: the time of the call
                continue
            expected = field.get_db_prep_save(field.pre_save(case, True), connection)
            if is_const:
                assert literal == cursor.cursor.mogrify("%s", [expected]).decode(), field.name
            else:
                got = next(bound)
                assert got == expected and type(got) is type(expected), field.name
    assert shape[[p[0].name for p in table.plans].index("address")] is False
