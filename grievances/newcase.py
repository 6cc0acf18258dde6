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
    models,
)
from django.db.models import DateField, Field, Model
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


class _Blank:
    """Unsaved instances of a model, built by position: Django's keyword path looks up every
    field's default and runs every relation's descriptor, which cost more than writing the
    case. What comes out is the instance `model(**values)` gives."""

    def __init__(self, model: type[Model]) -> None:
        self.model = model
        fields = model._meta.concrete_fields
        self.slots = {f.attname: i for i, f in enumerate(fields)}
        self.relations = {f.name: f for f in fields if f.is_relation}
        self.row = []
        self.calls = []
        for i, f in enumerate(fields):
            if f.has_default() and callable(f.default):
                self.calls.append((i, f.default))
                self.row.append(None)
            else:
                self.row.append(f.get_default())

    def __call__(self, values: dict) -> Model:
        row = self.row.copy()
        for i, default in self.calls:
            row[i] = default()
        related = []
        for name, value in values.items():
            slot = self.slots.get(name)
            if slot is None:
                field = self.relations[name]  # a related object, by the field's name
                slot = self.slots[field.attname]
                if value is not None:
                    related.append((field, value))
                    value = getattr(value, field.target_field.attname)
            row[slot] = value
        obj = self.model(*row)
        for field, value in related:
            field.set_cached_value(obj, value)
        return obj


_blanks: dict[type[Model], _Blank] = {}


def new(model: type[Model], **values) -> Model:
    """`model(**values)`, unsaved, built faster (fields by attname or relations by name)."""
    blank = _blanks.get(model)
    if blank is None:
        blank = _blanks[model] = _Blank(model)
    return blank(values)


_NO_CONST = object()
_IMMUTABLE = (str, int, bool, type(None))


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
        columns = [f.column for f in fields]
        self.parent_at = columns.index(parent) if parent else None
        # Literal SQL of each constant default (psycopg2's quoting), made on first use.
        self.literals: list[str | None] | None = None

        # Per field: its attname when its pre_save only reads the attribute (else None), and
        # its default when that is an immutable constant, with the value the database takes
        # for it. Most of a new case's fields hold their default: those skip the field's
        # preparation (which cost more than the statement's other Python).
        # A value of the type the driver takes as it is (`as_is`) needs no preparation.
        self.plans = []
        for f in self.fields:
            plain = type(f).pre_save is Field.pre_save or (
                isinstance(f, DateField) and not (f.auto_now or f.auto_now_add)
            )
            const = _NO_CONST if f.has_default() and callable(f.default) else f.get_default()
            if not (plain and type(const) in _IMMUTABLE):
                const = _NO_CONST
            prepped = f.get_db_prep_save(const, conn) if const is not _NO_CONST else None
            self.plans.append((f, f.attname if plain else None, const, prepped, _as_is(f)))

    def bind(self, obj: Model, conn) -> tuple[tuple[bool, ...], list]:
        """The row's values, each field's `pre_save` then `get_db_prep_save` as the ORM's
        insert compiler takes them: the row's shape (True where a field holds its constant
        default, written into the statement) and the parameters of the other fields."""
        attrs = obj.__dict__
        shape = []
        params = []
        for f, attname, const, _prepped, as_is in self.plans:
            if attname is None:
                shape.append(False)
                params.append(f.get_db_prep_save(f.pre_save(obj, True), conn))
                continue
            value = attrs[attname] if attname in attrs else getattr(obj, attname)
            kind = type(value)
            if value is const or (kind is type(const) and value == const):
                shape.append(True)
            elif kind is as_is:
                shape.append(False)
                params.append(value)
            else:
                shape.append(False)
                params.append(f.get_db_prep_save(value, conn))
        return tuple(shape), params

    def row(self, conn, shape: tuple[bool, ...]) -> str:
        """One row's VALUES: a literal where the shape says so, else a placeholder."""
        if self.literals is None:
            with conn.cursor() as cursor:
                mogrify = cursor.cursor.mogrify
                self.literals = [
                    mogrify("%s", [prepped]).decode() if const is not _NO_CONST else None
                    for _f, _a, const, prepped, _k in self.plans
                ]
        parts = [
            literal if is_const else "%s"
            for literal, is_const in zip(self.literals, shape, strict=True)
        ]
        if self.parent_at is not None:
            parts.insert(self.parent_at, "(SELECT id FROM g)")
        return f"({', '.join(parts)})"


def _as_is(field: Field) -> type | None:
    """The Python type whose values `field` hands to the database unchanged (Django's own
    field classes prepare a str, int, float or bool of theirs as str(), int(), float() or
    bool() of it), None for a field that prepares its values otherwise."""
    target = field.target_field if field.is_relation else field
    for cls, kind in _AS_IS.items():
        if isinstance(target, cls) and all(
            getattr(type(target), name) is getattr(cls, name) for name in _PREP_METHODS
        ):
            return kind
    return None


_PREP_METHODS = ("get_prep_value", "get_db_prep_value", "get_db_prep_save", "to_python")
_AS_IS = {
    models.CharField: str,
    models.TextField: str,
    models.IntegerField: int,  # and its Small, Big, Positive kinds
    models.AutoField: int,
    models.BigAutoField: int,
    models.FloatField: float,
    models.BooleanField: bool,
}


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


Shapes = tuple[tuple[bool, ...], tuple[tuple[bool, ...], ...], tuple[bool, ...]]


def _sql(conn, shapes: Shapes) -> str:
    """The statement for a case, its complainants and its event of these shapes."""
    cases, people, events = _tables_for(conn)
    case_shape, people_shapes, event_shape = shapes
    parts = [f"g AS ({cases.head} VALUES {cases.row(conn, case_shape)} RETURNING id)"]
    if people_shapes:
        rows = ", ".join(people.row(conn, shape) for shape in people_shapes)
        parts.append(f"c AS ({people.head} VALUES {rows} RETURNING id)")
    else:
        parts.append("c AS (SELECT NULL::bigint AS id WHERE false)")
    parts.append(f"e AS ({events.head} VALUES {events.row(conn, event_shape)} RETURNING id)")
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


# At most this many statements (shapes of reports) are prepared per process and connection;
# reports of rarer shapes send the statement's text.
PREPARED_SHAPES = 64

_names: dict[tuple[str, Shapes], tuple[str, str]] = {}


def _prepared(conn, shapes: Shapes, count: int) -> tuple[str, str] | None:
    """The prepared statement's name and text, None past PREPARED_SHAPES. The name carries
    a digest of the text: a session kept across a release (a pool) may hold the old
    release's statement under the old name, never under the new one."""
    key = (conn.alias, shapes)
    found = _names.get(key)
    if found is None:
        if len(_names) >= PREPARED_SHAPES:
            return None
        numbered = iter(range(1, count + 1))
        text = re.sub("%s", lambda _: f"${next(numbered)}", _sql(conn, shapes))
        digest = hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()[:12]
        found = _names[key] = (f"fq_newcase_{len(shapes[1])}_{digest}", text)
    return found


def _statement(conn, shapes: Shapes, params: list) -> tuple[str, list]:
    """The SQL and parameters to run: EXECUTE of the prepared statement when it applies (in
    autocommit, so that a statement a pooler dropped can be prepared again), else the text."""
    prepared = None
    if (
        len(shapes[1]) <= PREPARED_UP_TO
        and getattr(settings, "NEWCASE_PREPARED", True)
        and not conn.in_atomic_block
    ):
        prepared = _prepared(conn, shapes, len(params))
    if prepared is None:
        return _sql(conn, shapes), params
    raw = conn.connection
    known = conn.__dict__.get("_newcase_prepared")
    if known is None or known[0] is not raw:
        # A new connection: nothing is prepared in its session yet.
        known = conn.__dict__["_newcase_prepared"] = (raw, set())
    name, text = prepared
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
    conn.ensure_connection()
    cases, people, events = _tables_for(conn)
    case_shape, params = cases.bind(case, conn)
    people_shapes = []
    for person in complainants:
        shape, values = people.bind(person, conn)
        people_shapes.append(shape)
        params += values
    event_shape, values = events.bind(event, conn)
    params += values
    shapes = (case_shape, tuple(people_shapes), event_shape)
    with conn.cursor() as cursor:
        try:
            cursor.execute(*_statement(conn, shapes, params))
        except OperationalError as exc:
            # The session lost its prepared statements (DISCARD ALL): prepare them again.
            if getattr(exc.__cause__, "pgcode", None) != UNKNOWN_PREPARED:
                raise
            conn.__dict__.pop("_newcase_prepared", None)
            cursor.execute(*_statement(conn, shapes, params))
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
