"""Import users and their roles in bulk from a CSV file (a county enrols thousands).

Columns (header row; UTF-8, a BOM is accepted): username, full_name, phone, email, role,
region, department, password. `username` and `role` are required columns, plus `region`
or `department`; the others may be missing. One row is one role of one user; a user with
two roles has two rows (the first row of a username sets the user's details).

- Users are upserted by username. A non-empty full_name, phone or email updates an existing
  user; an empty cell leaves the stored value alone. An existing user's password is never
  touched.
- New users get the row's password, or a random one when the cell is empty, and must
  choose their own at the first login (`must_change_password`).
- Region roles (grid_worker, grid_police, grid_leader, centre_staff, centre_admin, leader)
  name the region by its code; department_staff names the department by its code. A
  membership that exists already is left as it is, so running the same file twice changes
  nothing.
- A bad row (missing username, unknown role, unknown region or department, a malformed phone
  or email) is skipped with its row number and the reason; the others are imported.

Hashing: PBKDF2 at Django's default 1,000,000 iterations costs about 0.3 s per password,
an hour for 10,000 users. So a password given in the file is hashed once per distinct
value, and a generated password (random, ~94 bits, valid only until the first login) is
hashed with the same algorithm at `GENERATED_HASH_ITERATIONS`; Django re-hashes it at full
strength when the user logs in (`must_update`), and the user replaces it at once anyway.
"""

from __future__ import annotations

import csv
import io
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from django.apps import apps
from django.contrib.auth.hashers import get_hasher, make_password
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils.translation import gettext as _

from grids.models import Membership, Region, Role, User

DEPARTMENT_STAFF = "department_staff"
ROLES = [str(r) for r in Role] + [DEPARTMENT_STAFF]
COLUMNS = ["username", "full_name", "phone", "email", "role", "region", "department", "password"]
REQUIRED_COLUMNS = ["username", "role"]
UPDATABLE_FIELDS = ["full_name", "phone", "email"]

# Enough for a random one-time password of 16 characters from a 57-letter alphabet:
# guessing it is out of reach whatever the iteration count.
GENERATED_HASH_ITERATIONS = 1000
PASSWORD_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789"
PASSWORD_LENGTH = 16

# Mainland mobile numbers (11 digits starting 1[3-9]) and landlines with an area code
# (0 + 2-3 digits + 7-8 digits), optionally with +86/0086, spaces or hyphens.
_PHONE_RE = re.compile(r"^(?:1[3-9]\d{9}|0\d{9,11})$")
_PHONE_STRIP = re.compile(r"[\s\-()]")
_QUERY_CHUNK = 900


class PeopleImportError(Exception):
    """The file cannot be imported at all (unreadable, or required columns missing)."""


@dataclass
class ImportSummary:
    rows: int = 0
    users_created: int = 0
    users_updated: int = 0
    users_unchanged: int = 0
    memberships_created: int = 0
    memberships_existing: int = 0
    skipped: list[tuple[int, str]] = field(default_factory=list)
    # (username, password) of each new user whose password was generated.
    generated_passwords: list[tuple[str, str]] = field(default_factory=list)
    dry_run: bool = False

    def lines(self) -> list[str]:
        out = [
            _("Rows read: %(n)d") % {"n": self.rows},
            _("Users created: %(n)d, updated: %(u)d, unchanged: %(s)d")
            % {"n": self.users_created, "u": self.users_updated, "s": self.users_unchanged},
            _("Memberships created: %(n)d, already present: %(e)d")
            % {"n": self.memberships_created, "e": self.memberships_existing},
            _("Rows skipped: %(n)d") % {"n": len(self.skipped)},
        ]
        out += [
            "  " + _("row %(row)d: %(reason)s") % {"row": row, "reason": reason}
            for row, reason in self.skipped
        ]
        if self.dry_run:
            out.append(_("Dry run: nothing was saved."))
        return out


def generate_password() -> str:
    return "".join(secrets.choice(PASSWORD_ALPHABET) for _i in range(PASSWORD_LENGTH))


def hash_generated_password(password: str) -> str:
    """Hash a random one-time password cheaply with the default algorithm.

    PBKDF2 takes an iteration count; Django upgrades the hash to the configured count at
    the first successful login. Other hashers (argon2, scrypt, MD5 in tests) hash normally.
    """
    hasher = get_hasher("default")
    if hasattr(hasher, "iterations") and hasher.algorithm.startswith("pbkdf2"):
        return hasher.encode(password, hasher.salt(), iterations=GENERATED_HASH_ITERATIONS)
    return hasher.encode(password, hasher.salt())


def normalise_phone(value: str) -> str | None:
    """The phone without separators, or None when it is not a mainland number."""
    phone = _PHONE_STRIP.sub("", value)
    if phone.startswith("+86"):
        phone = phone[3:]
    elif phone.startswith("0086"):
        phone = phone[4:]
    return phone if _PHONE_RE.match(phone) else None


@dataclass
class _Row:
    number: int
    username: str
    full_name: str
    phone: str
    email: str
    role: str
    region: str
    department: str
    password: str


def read_rows(path: str | Path, encoding: str = "utf-8-sig") -> tuple[list[str], list[_Row]]:
    """Read and check the header; return (header, rows). Raises PeopleImportError."""
    try:
        with open(path, encoding=encoding, newline="") as fh:
            text = fh.read()
    except FileNotFoundError:
        raise PeopleImportError(_("file not found: %(path)s") % {"path": path}) from None
    except UnicodeDecodeError:
        raise PeopleImportError(
            _(
                "%(path)s is not %(encoding)s text; a spreadsheet saved as GBK needs "
                "--encoding gb18030"
            )
            % {"path": path, "encoding": encoding}
        ) from None
    except (OSError, LookupError) as exc:
        raise PeopleImportError(
            _("cannot read %(path)s: %(error)s") % {"path": path, "error": exc}
        ) from None
    return parse_rows(text)


def parse_rows(text: str) -> tuple[list[str], list[_Row]]:
    text = text.removeprefix("\ufeff")
    try:
        reader = csv.reader(io.StringIO(text))
        header = next(reader, None)
        if not header:
            raise PeopleImportError(_("the file is empty"))
        header = [h.strip().lower() for h in header]
        missing = [c for c in REQUIRED_COLUMNS if c not in header]
        if missing:
            raise PeopleImportError(
                _("required columns missing: %(columns)s") % {"columns": ", ".join(missing)}
            )
        if "region" not in header and "department" not in header:
            raise PeopleImportError(_("the file needs a region or a department column"))
        index = {name: header.index(name) for name in COLUMNS if name in header}
        rows = []
        for number, cells in enumerate(reader, start=2):
            if not any(c.strip() for c in cells):
                continue

            def cell(name: str, cells=cells) -> str:
                i = index.get(name)
                return cells[i].strip() if i is not None and i < len(cells) else ""

            rows.append(_Row(number, *(cell(name) for name in COLUMNS)))
    except csv.Error as exc:
        raise PeopleImportError(
            _("the file is not valid CSV: %(error)s") % {"error": exc}
        ) from None
    return header, rows


def _chunks(items: list, size: int = _QUERY_CHUNK) -> Iterable[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _lookup(model, field_name: str, values: Iterable[str], only: tuple[str, ...] = ("id",)):
    values = sorted(set(values))
    found = {}
    for chunk in _chunks(values):
        for obj in model.objects.filter(**{f"{field_name}__in": chunk}).only(field_name, *only):
            found[getattr(obj, field_name)] = obj
    return found


def import_people(
    path: str | Path, *, encoding: str = "utf-8-sig", dry_run: bool = False
) -> ImportSummary:
    _header, rows = read_rows(path, encoding)
    return import_rows(rows, dry_run=dry_run)


def import_rows(rows: list[_Row], *, dry_run: bool = False) -> ImportSummary:
    summary = ImportSummary(rows=len(rows), dry_run=dry_run)
    Department = apps.get_model("dispatch", "Department")
    DepartmentMembership = apps.get_model("dispatch", "DepartmentMembership")
    username_ok = UnicodeUsernameValidator()
    max_username = User._meta.get_field("username").max_length
    max_name = User._meta.get_field("full_name").max_length

    regions = _lookup(Region, "code", (r.region for r in rows if r.region))
    departments = _lookup(Department, "code", (r.department for r in rows if r.department))

    # Validate each row; keep the first row's details per username.
    details: dict[str, _Row] = {}
    region_roles: list[tuple[str, int, str]] = []  # (username, region_id, role)
    department_roles: list[tuple[str, int]] = []  # (username, department_id)
    for row in rows:
        problem = None
        if not row.username:
            problem = _("username is missing")
        elif len(row.username) > max_username:
            problem = _("username is longer than %(n)d characters") % {"n": max_username}
        else:
            try:
                username_ok(row.username)
            except ValidationError:
                problem = _("username %(u)s may only contain letters, digits and @.+-_") % {
                    "u": row.username
                }
        if problem is None:
            if row.role not in ROLES:
                problem = _("unknown role %(role)s (expected one of: %(roles)s)") % {
                    "role": row.role or "''",
                    "roles": ", ".join(ROLES),
                }
            elif row.role == DEPARTMENT_STAFF:
                if not row.department:
                    problem = _("department_staff needs a department code")
                elif row.department not in departments:
                    problem = _("unknown department code %(code)s") % {"code": row.department}
            elif not row.region:
                problem = _("%(role)s needs a region code") % {"role": row.role}
            elif row.region not in regions:
                problem = _("unknown region code %(code)s") % {"code": row.region}
        if problem is None and row.phone:
            phone = normalise_phone(row.phone)
            if phone is None:
                problem = _("bad phone number %(phone)s") % {"phone": row.phone}
            else:
                row.phone = phone
        if problem is None and row.email:
            try:
                validate_email(row.email)
            except ValidationError:
                problem = _("bad email address %(email)s") % {"email": row.email}
        if problem is None and len(row.full_name) > max_name:
            problem = _("full name is longer than %(n)d characters") % {"n": max_name}
        if problem is not None:
            summary.skipped.append((row.number, problem))
            continue
        details.setdefault(row.username, row)
        if row.role == DEPARTMENT_STAFF:
            department_roles.append((row.username, departments[row.department].pk))
        else:
            region_roles.append((row.username, regions[row.region].pk, row.role))

    with transaction.atomic():
        user_ids = _upsert_users(details, summary)
        _add_memberships(user_ids, region_roles, department_roles, summary, DepartmentMembership)
        if dry_run:
            transaction.set_rollback(True)
    return summary


def _upsert_users(details: dict[str, _Row], summary: ImportSummary) -> dict[str, int]:
    existing = {}
    for chunk in _chunks(list(details)):
        for user in User.objects.filter(username__in=chunk).only(
            "id", "username", *UPDATABLE_FIELDS
        ):
            existing[user.username] = user

    to_update, to_create = [], []
    given_hashes: dict[str, str] = {}
    for username, row in details.items():
        user = existing.get(username)
        if user is not None:
            changed = False
            for name in UPDATABLE_FIELDS:
                value = getattr(row, name)
                if value and getattr(user, name) != value:
                    setattr(user, name, value)
                    changed = True
            if changed:
                to_update.append(user)
            else:
                summary.users_unchanged += 1
            continue
        if row.password:
            if row.password not in given_hashes:
                given_hashes[row.password] = make_password(row.password)
            encoded = given_hashes[row.password]
        else:
            raw = generate_password()
            summary.generated_passwords.append((username, raw))
            encoded = hash_generated_password(raw)
        to_create.append(
            User(
                username=username,
                full_name=row.full_name,
                phone=row.phone,
                email=row.email,
                password=encoded,
                must_change_password=True,
            )
        )
    if to_update:
        User.objects.bulk_update(to_update, UPDATABLE_FIELDS, batch_size=500)
    if to_create:
        User.objects.bulk_create(to_create, batch_size=500)
    summary.users_updated = len(to_update)
    summary.users_created = len(to_create)

    ids = {username: user.pk for username, user in existing.items()}
    missing = [u.username for u in to_create if u.pk is None]
    ids.update({u.username: u.pk for u in to_create if u.pk is not None})
    for chunk in _chunks(missing):
        ids.update(User.objects.filter(username__in=chunk).values_list("username", "id"))
    return ids


def _add_memberships(
    user_ids: dict[str, int],
    region_roles: list[tuple[str, int, str]],
    department_roles: list[tuple[str, int]],
    summary: ImportSummary,
    DepartmentMembership,
) -> None:
    ids = sorted(set(user_ids.values()))
    have_region, have_department = set(), set()
    for chunk in _chunks(ids):
        have_region.update(
            Membership.objects.filter(user_id__in=chunk).values_list("user_id", "region_id", "role")
        )
        have_department.update(
            DepartmentMembership.objects.filter(user_id__in=chunk).values_list(
                "user_id", "department_id"
            )
        )
    new_region = []
    for username, region_id, role in region_roles:
        key = (user_ids[username], region_id, role)
        if key in have_region:
            summary.memberships_existing += 1
            continue
        have_region.add(key)
        new_region.append(Membership(user_id=key[0], region_id=region_id, role=role))
    new_department = []
    for username, department_id in department_roles:
        key = (user_ids[username], department_id)
        if key in have_department:
            summary.memberships_existing += 1
            continue
        have_department.add(key)
        new_department.append(DepartmentMembership(user_id=key[0], department_id=department_id))
    Membership.objects.bulk_create(new_region, batch_size=500, ignore_conflicts=True)
    DepartmentMembership.objects.bulk_create(new_department, batch_size=500, ignore_conflicts=True)
    summary.memberships_created = len(new_region) + len(new_department)


def write_passwords(path: str | Path, passwords: list[tuple[str, str]]) -> None:
    """Write (username, password) pairs as CSV, readable by the owner only."""
    path = Path(path)
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["username", "password"])
        writer.writerows(passwords)
