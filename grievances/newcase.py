"""Writing a new case, its complainants and its first event in one SQL statement.

On PostgreSQL the three inserts go as one statement (data-modifying CTEs):

    WITH g AS (INSERT INTO case … RETURNING id),
         c AS (INSERT INTO complainant … VALUES ((SELECT id FROM g), …), … RETURNING id),
         e AS (INSERT INTO event … VALUES ((SELECT id FROM g), …) RETURNING id)
    SELECT (SELECT id FROM g), (SELECT id FROM e), ARRAY(SELECT id FROM c ORDER BY id)

one round trip instead of five (BEGIN, three INSERTs, COMMIT) and a fraction of the ORM's
Python. Outside a transaction the statement is its own one: all three rows or none. Inside
the caller's transaction it is part of it.

The columns and their values come from the models' fields (`pre_save`, then
`get_db_prep_save`), as the ORM's insert compiler takes them, so a new column is written
here without changing this module. Other databases, and fields this statement cannot write
(a database default, a generated column), use the ORM.
"""

from __future__ import annotations

import hashlib
import re

from django.conf import settings
from django.db import (
    DEFAULT_DB_ALIAS,
    OperationalError,
    ProgrammingError,
    connection,
    connections,
)
from django.db.models import Model
from django.db.models.fields import NOT_PROVIDED

from grievances.models import CaseEvent, Complainant, Grievance


def _insert_fields(model: type[Model]) -> list:
    return [
        f
        for f in model._meta.concrete_fields
        if not f.primary_key and not getattr(f, "generated", False)
    ]


def _supported(model: type[Model]) -> bool:
    return all(
        getattr(f, "db_default", NOT_PROVIDED) is NOT_PROVIDED for f in _insert_fields(model)
    )


_SUPPORTED: dict[str, bool] = {}


def available() -> bool:
    """Whether this database takes the one-statement write."""
    vendor = connection.vendor
    if vendor not in _SUPPORTED:
        _SUPPORTED[vendor] = vendor == "postgresql" and all(
            _supported(m) for m in (Grievance, Complainant, CaseEvent)
        )
    return _SUPPORTED[vendor]


class _Table:
    """A model's INSERT: its columns, the placeholders of one row, the fields whose values
    fill them. `parent` is the column that takes the new case's id (the case has none)."""

    def __init__(self, model: type[Model], parent: str | None, conn) -> None:
        qn = conn.ops.quote_name
        fields = _insert_fields(model)
        self.fields = [f for f in fields if f.column != parent]
        self.head = (
            f"INSERT INTO {qn(model._meta.db_table)} ({', '.join(qn(f.column) for f in fields)})"
        )
        self.row = "({})".format(
            ", ".join("(SELECT id FROM g)" if f.column == parent else "%s" for f in fields)
        )

    def values(self, obj: Model, conn) -> list:
        return [f.get_db_prep_save(f.pre_save(obj, True), conn) for f in self.fields]


_tables: dict[str, tuple[_Table, _Table, _Table]] = {}


def _tables_for(conn) -> tuple[_Table, _Table, _Table]:
    tables = _tables.get(conn.alias)
    if tables is None:
        tables = _tables[conn.alias] = (
            _Table(Grievance, None, conn),
            _Table(Complainant, "grievance_id", conn),
            _Table(CaseEvent, "grievance_id", conn),
        )
    return tables


def _sql(conn, complainants: int) -> str:
    cases, people, events = _tables_for(conn)
    parts = [f"g AS ({cases.head} VALUES {cases.row} RETURNING id)"]
    if complainants:
        rows = ", ".join([people.row] * complainants)
        parts.append(f"c AS ({people.head} VALUES {rows} RETURNING id)")
    else:
        parts.append("c AS (SELECT NULL::bigint AS id WHERE false)")
    parts.append(f"e AS ({events.head} VALUES {events.row} RETURNING id)")
    return (
        f"WITH {', '.join(parts)} "
        "SELECT (SELECT id FROM g), (SELECT id FROM e), ARRAY(SELECT id FROM c ORDER BY id)"
    )


# Reports with up to this many complainants use a statement prepared once per database
# connection: PostgreSQL then parses and plans the long statement once, not per report
# (pgbench: ~50% more of them per second). Set NEWCASE_PREPARED = False behind a pooler that
# does not keep a session per client (PgBouncer's transaction mode).
PREPARED_UP_TO = 4
DUPLICATE_PREPARED = "42P05"
UNKNOWN_PREPARED = "26000"


_names: dict[tuple[str, int], tuple[str, str]] = {}


def _prepared(conn, complainants: int, count: int) -> tuple[str, str]:
    """The prepared statement's name and text. The name carries a digest of the text: a
    session kept across a release (a pool) may hold the old release's statement under the
    old name, never under the new one."""
    key = (conn.alias, complainants)
    if key not in _names:
        numbered = iter(range(1, count + 1))
        text = re.sub("%s", lambda _: f"${next(numbered)}", _sql(conn, complainants))
        digest = hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()[:12]
        _names[key] = (f"fq_newcase_{complainants}_{digest}", text)
    return _names[key]


def _statement(conn, complainants: int, params: list) -> tuple[str, list]:
    """The SQL and parameters to run: EXECUTE of the prepared statement when it applies (in
    autocommit, so that a statement a pooler dropped can be prepared again), else the text."""
    if (
        complainants > PREPARED_UP_TO
        or not getattr(settings, "NEWCASE_PREPARED", True)
        or conn.in_atomic_block
    ):
        return _sql(conn, complainants), params
    raw = conn.connection
    known = conn.__dict__.get("_newcase_prepared")
    if known is None or known[0] is not raw:
        # A new connection: nothing is prepared in its session yet.
        known = conn.__dict__["_newcase_prepared"] = (raw, set())
    name, text = _prepared(conn, complainants, len(params))
    if name not in known[1]:
        with conn.cursor() as cursor:
            try:
                cursor.execute(f"PREPARE {name} AS {text}")
            except ProgrammingError as exc:
                # Prepared already in this session (the connection came back from a pool),
                # with this very text: the name says so.
                if getattr(exc.__cause__, "pgcode", None) != DUPLICATE_PREPARED:
                    raise
        known[1].add(name)
    return f"EXECUTE {name} ({', '.join(['%s'] * len(params))})", params


def insert(case: Grievance, complainants: list[Complainant], event: CaseEvent) -> None:
    """Write the three kinds of rows in one statement and give each instance its id, as
    `save()` / `bulk_create()` would (the instances are then saved ones)."""
    conn = connections[DEFAULT_DB_ALIAS]
    cases, people, events = _tables_for(conn)
    params = cases.values(case, conn)
    for person in complainants:
        params += people.values(person, conn)
    params += events.values(event, conn)
    with conn.cursor() as cursor:
        try:
            cursor.execute(*_statement(conn, len(complainants), params))
        except OperationalError as exc:
            # The session lost its prepared statements (DISCARD ALL): prepare them again.
            if getattr(exc.__cause__, "pgcode", None) != UNKNOWN_PREPARED:
                raise
            conn.__dict__.pop("_newcase_prepared", None)
            cursor.execute(*_statement(conn, len(complainants), params))
        case_id, event_id, complainant_ids = cursor.fetchone()

    _saved(case, case_id, conn)
    # Sequence values are handed out in the order of the VALUES rows.
    for person, pk in zip(complainants, complainant_ids, strict=True):
        person.grievance = case
        _saved(person, pk, conn)
    event.grievance = case
    _saved(event, event_id, conn)


def _saved(obj: Model, pk: int, conn) -> None:
    obj.pk = pk
    obj._state.adding = False
    obj._state.db = conn.alias
    # django-fsm's ConcurrentTransitionMixin compares the next save with what was written.
    update_initial = getattr(obj, "_update_initial_state", None)
    if update_initial is not None:
        update_initial()
