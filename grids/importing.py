"""Import regions and their boundaries from a GeoJSON or CSV file (upsert by code).

The import_regions command and load_demo call `import_regions()`. Rows are checked one by
one, and a row that cannot be used is skipped with its number and reason instead of
failing the file; only a file that cannot be read at all raises RegionImportError.
Geometry is parsed and repaired before the transaction opens (that is the slow part);
the writes are bulk writes in one transaction, followed by one tree rebuild.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import sys
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from tqdm import tqdm

try:  # PostgreSQL through psycopg2 (SQLite needs neither)
    from psycopg2.extensions import cursor as psycopg2_cursor
    from psycopg2.extras import execute_batch
except ImportError:  # pragma: no cover
    psycopg2_cursor, execute_batch = (), None

from grids.geometry import GeometryError, parse_boundary, to_geojson
from grids.locate import bump_version
from grids.models import (
    CODE_LENGTH,
    LEVEL_DEPTH,
    GridKind,
    Level,
    Region,
    RegionBoundary,
    level_error,
)

FORMATS = ("geojson", "csv")
EXTENSIONS = {".geojson": "geojson", ".json": "geojson", ".csv": "csv"}
# Codes per `IN (...)` query: far below SQLite's limit on query parameters.
CHUNK = 500
# Boundaries can be large; smaller batches keep each INSERT/UPDATE statement reasonable.
BOUNDARY_BATCH = 100
NAME_MAX = Region._meta.get_field("name").max_length
DIGITS = re.compile(r"[0-9]+")
BBOX_FIELDS = ("min_lng", "min_lat", "max_lng", "max_lat", "centroid_lng", "centroid_lat")
UPDATE_FIELDS = ["name", "level", "kind", "parent", *BBOX_FIELDS]
UPDATE_ATTNAMES = ["name", "level", "kind", "parent_id", *BBOX_FIELDS]


class RegionImportError(Exception):
    """The file as a whole cannot be read; nothing was imported."""


@dataclass(frozen=True)
class SkippedRow:
    row: int
    code: str
    reason: str

    def __str__(self) -> str:
        if self.code:
            return _("row %(row)d (%(code)s): %(reason)s") % {
                "row": self.row,
                "code": self.code,
                "reason": self.reason,
            }
        return _("row %(row)d: %(reason)s") % {"row": self.row, "reason": self.reason}


@dataclass
class ImportReport:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    # Rows whose boundary was invalid and was repaired; they are also counted as created,
    # updated or unchanged.
    repaired: int = 0
    skipped: list[SkippedRow] = field(default_factory=list)

    def summary(self) -> str:
        return _(
            "created %(created)d, updated %(updated)d, unchanged %(unchanged)d, "
            "repaired %(repaired)d, skipped %(skipped)d"
        ) % {
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "repaired": self.repaired,
            "skipped": len(self.skipped),
        }


@dataclass
class _Record:
    """One row as read from the file, before any checks."""

    number: int
    props: Mapping[str, Any]
    geometry: Any = None
    # GeoJSON rows must carry a geometry; CSV rows never do.
    spatial: bool = False
    problem: str = ""


@dataclass
class _Row:
    """A row that passed the checks that need nothing but the row itself."""

    number: int
    code: str
    name: str
    level: str
    parent: str
    kind: str | None  # None: the file says nothing, keep what the region has
    geom: Any = None
    geojson: dict | None = None
    repaired: bool = False


@dataclass(frozen=True)
class _Options:
    level: str
    parent: str
    name_field: str
    code_field: str
    parent_field: str
    level_field: str


# --- Reading ------------------------------------------------------------------------------


def detect_format(path: str | os.PathLike) -> str:
    fmt = EXTENSIONS.get(Path(path).suffix.lower())
    if fmt is None:
        raise RegionImportError(
            _("cannot tell the format of %(path)s from its extension: use --format")
            % {"path": path}
        )
    return fmt


def _open_text(path: str | os.PathLike) -> str:
    try:
        # utf-8-sig: files saved by spreadsheet programs on Windows start with a BOM.
        with open(path, encoding="utf-8-sig", newline="") as handle:
            return handle.read()
    except UnicodeDecodeError:
        raise RegionImportError(_("%(path)s is not UTF-8 text") % {"path": path}) from None
    except OSError as exc:
        raise RegionImportError(
            _("cannot read %(path)s: %(error)s") % {"path": path, "error": exc.strerror or exc}
        ) from None


def _features(data: Any, source: str) -> list[_Record]:
    if not isinstance(data, Mapping) or data.get("type") != "FeatureCollection":
        raise RegionImportError(
            _("%(source)s is not a GeoJSON FeatureCollection") % {"source": source}
        )
    features = data.get("features")
    if not isinstance(features, list):
        raise RegionImportError(_("%(source)s has no list of features") % {"source": source})
    return [_feature(number, feature) for number, feature in enumerate(features, start=1)]


def _feature(number: int, feature: Any) -> _Record:
    if not isinstance(feature, Mapping) or feature.get("type") != "Feature":
        return _Record(number, {}, spatial=True, problem=_("not a GeoJSON Feature"))
    props = feature.get("properties")
    return _Record(
        number,
        props if isinstance(props, Mapping) else {},
        geometry=feature.get("geometry"),
        spatial=True,
    )


def _csv_records(text: str, source: str, options: _Options) -> list[_Record]:
    # newline='': line ends inside quoted cells stay part of the cell, as csv expects.
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [name.strip() for name in next(reader)]
    except StopIteration:
        raise RegionImportError(_("%(source)s has no header row") % {"source": source}) from None
    except csv.Error as exc:
        raise RegionImportError(
            _("cannot read %(source)s: %(error)s") % {"source": source, "error": exc}
        ) from None
    needed = [options.code_field, options.name_field]
    if not options.level:
        needed.append(options.level_field)
    missing = [name for name in needed if name not in header]
    if missing:
        raise RegionImportError(
            _("%(source)s has no column %(columns)s (the header row has: %(header)s)")
            % {"source": source, "columns": ", ".join(missing), "header": ", ".join(header)}
        )
    records = []
    line = reader.line_num
    try:
        for cells in reader:
            # The row number a spreadsheet shows: the header is row 1.
            number, line = line + 1, reader.line_num
            if not any(cell.strip() for cell in cells):
                continue  # blank lines and the empty rows spreadsheets leave at the end
            records.append(_Record(number, dict(zip(header, cells, strict=False))))
    except csv.Error as exc:
        raise RegionImportError(
            _("cannot read %(source)s at line %(line)d: %(error)s")
            % {"source": source, "line": reader.line_num, "error": exc}
        ) from None
    return records


def read_records(source: Any, fmt: str | None, options: _Options) -> list[_Record]:
    """Rows from a path, a FeatureCollection dict, or a list of Features or flat dicts."""
    if isinstance(source, str | os.PathLike):
        fmt = fmt or detect_format(source)
        text = _open_text(source)
        if fmt == "csv":
            return _csv_records(text, str(source), options)
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise RegionImportError(
                _("%(path)s is not valid JSON: %(error)s") % {"path": source, "error": exc}
            ) from None
        return _features(data, str(source))
    if isinstance(source, Mapping):
        return _features(source, _("the data"))
    records = []
    for number, item in enumerate(source, start=1):
        if isinstance(item, Mapping) and (item.get("type") == "Feature" or fmt == "geojson"):
            records.append(_feature(number, item))
        elif isinstance(item, Mapping):
            records.append(_Record(number, item))
        else:
            records.append(_Record(number, {}, problem=_("not a row of fields")))
    return records


# --- Checking one row ---------------------------------------------------------------------


def _code(value: Any) -> str:
    """A code as text: GeoJSON tools like to turn 540502000000 into a number."""
    if value is None or isinstance(value, bool):
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _check(record: _Record, options: _Options) -> _Row | str:
    """The row ready to write, or why it cannot be used."""
    if record.problem:
        return record.problem
    props = record.props
    code = _code(props.get(options.code_field))
    if not code:
        return _("no code")
    level = options.level or _text(props.get(options.level_field)).lower()
    if not level:
        return _("no level")
    if level not in LEVEL_DEPTH:
        return level_error(level, None)
    if not DIGITS.fullmatch(code) or len(code) != CODE_LENGTH[level]:
        return _("a %(level)s code is %(length)d digits, not %(code)s") % {
            "level": level,
            "length": CODE_LENGTH[level],
            "code": code,
        }
    name = _text(props.get(options.name_field))
    if not name:
        return _("no name")
    if len(name) > NAME_MAX:
        return _("the name is longer than %(max)d characters") % {"max": NAME_MAX}
    kind = None
    if "kind" in props:
        kind = _text(props["kind"]).lower()
        if kind and level != Level.GRID:
            return _("only grids have a kind")
        if kind and kind not in GridKind.values:
            return _("unknown grid kind %(kind)s") % {"kind": kind}
    row = _Row(
        number=record.number,
        code=code,
        name=name,
        level=level,
        parent=_code(props.get(options.parent_field)) or options.parent,
        kind=kind,
    )
    if record.spatial:
        if record.geometry is None:
            return _("no geometry")
        try:
            row.geom, row.repaired = parse_boundary(record.geometry)
        except GeometryError as exc:
            return str(exc)
        row.geojson = to_geojson(row.geom)
    return row


# --- Writing ------------------------------------------------------------------------------


def _chunks(items: list, size: int = CHUNK) -> Iterable[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _existing(codes: set[str]) -> dict[str, Region]:
    found = {}
    for chunk in _chunks(sorted(codes)):
        found.update((region.code, region) for region in Region.objects.filter(code__in=chunk))
    return found


def _boundaries(region_ids: list[int]) -> dict[int, dict]:
    found = {}
    for chunk in _chunks(region_ids):
        found.update(
            RegionBoundary.objects.filter(region_id__in=chunk).values_list("region_id", "geometry")
        )
    return found


class _Resolver:
    """Which rows can be written under the parent they name.

    A parent is looked for among the file's rows (in any order) and then in the database.
    Whether a row can be written depends on whether its parent's row can: the parent's
    final level is the file's when that row is written, the database's when it is not.
    Chains are followed with an explicit stack (a bad file may chain thousands of rows).
    """

    def __init__(self, rows: dict[str, _Row], existing: dict[str, Region], skipped: dict):
        self.rows = rows
        self.existing = existing
        self.skipped_rows = skipped  # code -> row number, for rows skipped while checking
        self.stuck: set[str] = set()  # existing regions with children: level cannot change
        self.reasons: dict[str, str | None] = {}

    def resolve(self) -> dict[str, str | None]:
        """code -> None when the row can be written, else why not."""
        for start in self.rows:
            chain: list[str] = []
            on_chain: set[str] = set()
            code = start
            while code not in self.reasons:
                chain.append(code)
                on_chain.add(code)
                parent = self.rows[code].parent
                if parent not in self.rows or parent == code or parent in self.reasons:
                    break
                if parent in on_chain:
                    # Rows naming each other as parents: none of them can be placed.
                    loop = chain[chain.index(parent) :]
                    for member in loop:
                        self.reasons[member] = _("its parents loop back to it")
                    del chain[-len(loop) :]
                    break
                code = parent
            for member in reversed(chain):
                self.reasons[member] = self._reason(self.rows[member])
        return self.reasons

    def _reason(self, row: _Row) -> str | None:
        if row.code in self.stuck:
            return _("its level cannot change from %(old)s while it has sub-regions") % {
                "old": self.existing[row.code].level
            }
        if not row.parent:
            return level_error(row.level, None)
        if row.parent == row.code:
            return _("a region cannot be its own parent")
        in_file = self.rows.get(row.parent)
        if in_file is not None and self.reasons[row.parent] is None:
            return level_error(row.level, in_file.level)
        # The parent's row is skipped (or absent) but the parent may be in the database:
        # then the row goes under the region as it stands.
        parent = self.existing.get(row.parent)
        if parent is not None:
            return level_error(row.level, parent.level)
        number = in_file.number if in_file is not None else self.skipped_rows.get(row.parent)
        if number is not None:
            return _("its parent %(parent)s is skipped (row %(row)d)") % {
                "parent": row.parent,
                "row": number,
            }
        return _("parent %(parent)s not found") % {"parent": row.parent}


def _lock_regions() -> None:
    # The tree rebuild rewrites lft/rght from what it read: a concurrent insert or move in
    # between would be lost. SQLite's IMMEDIATE transactions already hold the write lock;
    # PostgreSQL needs the table locked against other writers (readers are not blocked).
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            table = connection.ops.quote_name(Region._meta.db_table)
            cursor.execute(f"LOCK TABLE {table} IN SHARE ROW EXCLUSIVE MODE")


def _update_rows(model, objs: list, field_names: list[str]) -> None:
    """UPDATE the given fields of each object: a bulk write without bulk_update().

    bulk_update() builds one CASE branch per row and field; for 3,000 regions and ten
    fields it took 6-10 s, the database spending O(batch²) on the CASE. One prepared
    UPDATE run with executemany() takes a fraction of a second on SQLite and PostgreSQL.
    """
    if not objs:
        return
    quote = connection.ops.quote_name
    fields = [model._meta.get_field(name) for name in field_names]
    pk = model._meta.pk
    sql = "UPDATE {} SET {} WHERE {} = %s".format(
        quote(model._meta.db_table),
        ", ".join(f"{quote(field.column)} = %s" for field in fields),
        quote(pk.column),
    )
    params = [
        [field.get_db_prep_save(getattr(obj, field.attname), connection) for field in fields]
        + [pk.get_db_prep_save(obj.pk, connection)]
        for obj in objs
    ]
    with connection.cursor() as cursor:
        raw = getattr(cursor, "cursor", None)
        if execute_batch is not None and isinstance(raw, psycopg2_cursor):
            # psycopg2's executemany() is one round trip per row; this sends pages of rows.
            execute_batch(raw, sql, params, page_size=250)
        else:
            cursor.executemany(sql, params)


def rebuild_tree() -> int:
    """Recompute lft, rght, tree_id and mptt_level of every region from the parent links.

    The same numbering as django-mptt's Region.objects.rebuild() (roots and siblings in
    order_insertion_by order, trees numbered from 1), but it reads plain tuples and writes
    only the rows whose numbers change: mptt's rebuild writes every row through
    bulk_update(), about a second per thousand regions. Returns the number of rows written.
    """
    meta = Region._mptt_meta
    names = [meta.left_attr, meta.right_attr, meta.tree_id_attr, meta.level_attr]
    rows = Region.objects.order_by(*(meta.order_insertion_by or ["pk"])).values_list(
        "pk", "parent_id", *names
    )
    roots, children, current = [], defaultdict(list), {}
    for pk, parent_id, *numbers in rows:
        (roots if parent_id is None else children[parent_id]).append(pk)
        current[pk] = tuple(numbers)
    changed = []
    for tree_id, root in enumerate(roots, start=1):
        counter = 1
        lefts = {}
        # Depth first without recursion: (region, level, leaving?). Children are pushed in
        # reverse so that they are numbered in order.
        stack = [(root, 0, False)]
        while stack:
            pk, level, leaving = stack.pop()
            if leaving:
                numbers = (lefts.pop(pk), counter, tree_id, level)
                if current[pk] != numbers:
                    changed.append(Region(pk=pk, **dict(zip(names, numbers, strict=True))))
            else:
                lefts[pk] = counter
                stack.append((pk, level, True))
                stack.extend((child, level + 1, False) for child in reversed(children[pk]))
            counter += 1  # entering and leaving a region each take a number
    _update_rows(Region, changed, names)
    return len(changed)


def _write(rows: dict[str, _Row], skipped_codes: dict[str, int], report: ImportReport) -> None:
    _lock_regions()
    existing = _existing(set(rows) | {row.parent for row in rows.values() if row.parent})

    level_changes = [
        existing[code].pk
        for code, row in rows.items()
        if code in existing and existing[code].level != row.level
    ]
    with_children = set()
    for chunk in _chunks(level_changes):
        with_children.update(
            Region.objects.filter(parent_id__in=chunk).values_list("parent_id", flat=True)
        )
    resolver = _Resolver(rows, existing, skipped_codes)
    resolver.stuck = {
        code for code in rows if code in existing and existing[code].pk in with_children
    }
    reasons = resolver.resolve()

    ok = []
    for code, row in rows.items():
        if reasons[code]:
            report.skipped.append(SkippedRow(row.number, code, reasons[code]))
        else:
            ok.append(row)

    # New regions first, without parents: a parent may itself be new. The MPTT fields get
    # placeholders; rebuild_tree() below numbers them.
    new = []
    for row in ok:
        if row.code not in existing:
            region = Region(
                code=row.code,
                name=row.name,
                level=row.level,
                kind=row.kind or "",
                lft=0,
                rght=0,
                tree_id=0,
                mptt_level=0,
            )
            region.set_bbox(row.geom)
            new.append(region)
    Region.objects.bulk_create(new, batch_size=CHUNK)
    ids = {code: region.pk for code, region in existing.items()}
    if any(region.pk is None for region in new):
        for chunk in _chunks([region.code for region in new]):
            ids.update(Region.objects.filter(code__in=chunk).values_list("code", "id"))
    else:
        ids.update((region.code, region.pk) for region in new)

    old_boundaries = _boundaries(
        [existing[row.code].pk for row in ok if row.code in existing and row.geojson is not None]
    )
    parented, changed, new_boundaries, changed_boundaries = [], [], [], []
    moved = bool(new)
    now = timezone.now()
    for row in ok:
        parent_id = ids[row.parent] if row.parent else None
        region_id = ids[row.code]
        if row.repaired:
            report.repaired += 1
        region = existing.get(row.code)
        if region is None:
            report.created += 1
            if parent_id is not None:
                parented.append(Region(pk=region_id, parent_id=parent_id))
            if row.geojson is not None:
                new_boundaries.append(RegionBoundary(region_id=region_id, geometry=row.geojson))
            continue
        before = [getattr(region, name) for name in UPDATE_ATTNAMES]
        region.name, region.level, region.parent_id = row.name, row.level, parent_id
        if row.kind is not None:
            region.kind = row.kind
        if region.level != Level.GRID:
            region.kind = ""  # only grids have a kind, and a grid may have become a village
        if row.geom is not None:
            region.set_bbox(row.geom)
        is_changed = before != [getattr(region, name) for name in UPDATE_ATTNAMES]
        moved |= region.parent_id != before[UPDATE_ATTNAMES.index("parent_id")]
        if row.geojson is not None:
            old = old_boundaries.get(region.pk)
            if old is None:
                new_boundaries.append(RegionBoundary(region_id=region.pk, geometry=row.geojson))
                is_changed = True
            elif old != row.geojson:
                # Set by hand: only save() fills auto_now fields.
                changed_boundaries.append(
                    RegionBoundary(region_id=region.pk, geometry=row.geojson, updated_at=now)
                )
                is_changed = True
        if is_changed:
            report.updated += 1
            changed.append(region)
        else:
            report.unchanged += 1

    _update_rows(Region, parented, ["parent"])
    _update_rows(Region, changed, UPDATE_FIELDS)
    RegionBoundary.objects.bulk_create(new_boundaries, batch_size=BOUNDARY_BATCH)
    _update_rows(RegionBoundary, changed_boundaries, ["geometry", "updated_at"])
    if moved:
        # One rebuild for the whole file, from the parent links alone (bulk writes do not
        # maintain lft/rght); a moved region's subtree follows it.
        rebuild_tree()
    if report.created or report.updated:
        # Names, levels and boundaries all live in every process's locate index.
        bump_version()


def import_regions(
    source: Any,
    *,
    fmt: str | None = None,
    level: str | None = None,
    parent: str | None = None,
    name_field: str = "name",
    code_field: str = "code",
    parent_field: str = "parent",
    level_field: str = "level",
    progress: bool | IO[str] = False,
) -> ImportReport:
    """Create or update regions by code from `source` and report what happened.

    `source` is a path (format from --format or the extension), a GeoJSON
    FeatureCollection dict, or a list of Features or flat dicts. `level` gives every row
    that level; `parent` is the parent code of rows that name none. `progress` shows a
    bar (on stderr, or on the given stream) while rows are checked, unless not a terminal.
    Raises RegionImportError when the source cannot be read at all.
    """
    if fmt is not None and fmt not in FORMATS:
        raise RegionImportError(_("unknown format %(format)s") % {"format": fmt})
    if level and level not in LEVEL_DEPTH:
        raise RegionImportError(_("unknown level %(level)s") % {"level": level})
    options = _Options(
        level=level or "",
        parent=_code(parent),
        name_field=name_field,
        code_field=code_field,
        parent_field=parent_field,
        level_field=level_field,
    )
    records = read_records(source, fmt, options)

    report = ImportReport()
    rows: dict[str, _Row] = {}
    skipped_codes: dict[str, int] = {}
    stream = sys.stderr if progress is True else progress or None
    bar = tqdm(
        records,
        desc=_("Checking rows"),
        unit=_("rows"),
        file=stream,
        # None: tqdm turns itself off when the stream is not a terminal.
        disable=None if stream else True,
    )
    for record in bar:
        row = _check(record, options)
        if isinstance(row, str):
            code = _code(record.props.get(code_field))
            report.skipped.append(SkippedRow(record.number, code, row))
            # Rows naming this code as their parent can then say why it is missing.
            skipped_codes.setdefault(code, record.number)
        elif row.code in rows:
            report.skipped.append(
                SkippedRow(
                    row.number,
                    row.code,
                    _("the code already appears on row %(row)d") % {"row": rows[row.code].number},
                )
            )
        else:
            rows[row.code] = row
    bar.close()

    with transaction.atomic():
        _write(rows, skipped_codes, report)
    report.skipped.sort(key=lambda skipped: skipped.row)
    return report
