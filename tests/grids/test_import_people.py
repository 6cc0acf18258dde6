"""import_people: users and their roles in bulk from CSV."""

from __future__ import annotations

import csv
import io
import time

import pytest
from django.core.management import CommandError, call_command
from django.utils import translation

from dispatch.models import Department, DepartmentMembership
from grids.models import Membership, User
from grids.people import (
    GENERATED_HASH_ITERATIONS,
    hash_generated_password,
    import_people,
    normalise_phone,
)

HEADER = "username,full_name,phone,email,role,region,department,password\n"


def write(tmp_path, text: str, name: str = "people.csv", encoding: str = "utf-8"):
    path = tmp_path / name
    path.write_text(text, encoding=encoding)
    return path


@pytest.fixture
def transport(tree):
    return Department.objects.create(
        name="乃东区交通运输局", code="540502-transport", region=tree.county
    )


GOOD = (
    HEADER
    + "gerong,割绒彭措,13800000001,gerong@example.org,grid_worker,540502001001001,,\n"
    + "zhaxi,扎西,0893-7821234,,grid_police,540502001001001,,Initial-pass-1\n"
    + "zhaxi,扎西,,,grid_police,540502001001002,,\n"
    + "baima,白玛,,,centre_staff,540502001000,,Initial-pass-1\n"
    + "luosang,洛桑,,,department_staff,,540502-transport,\n"
)


def test_good_rows(tree, transport, tmp_path):
    summary = import_people(write(tmp_path, GOOD))
    assert summary.skipped == []
    assert (summary.users_created, summary.users_updated, summary.users_unchanged) == (4, 0, 0)
    assert summary.memberships_created == 5
    gerong = User.objects.get(username="gerong")
    assert gerong.full_name == "割绒彭措"
    assert gerong.phone == "13800000001"
    assert gerong.email == "gerong@example.org"
    assert Membership.objects.filter(user=gerong, region=tree.grid_a1, role="grid_worker").exists()
    zhaxi = User.objects.get(username="zhaxi")
    assert zhaxi.phone == "08937821234"
    assert set(Membership.objects.filter(user=zhaxi).values_list("region__code", flat=True)) == {
        "540502001001001",
        "540502001001002",
    }
    assert zhaxi.check_password("Initial-pass-1")
    assert User.objects.get(username="baima").check_password("Initial-pass-1")
    # Generated passwords are reported and work.
    generated = dict(summary.generated_passwords)
    assert set(generated) == {"gerong", "luosang"}
    assert gerong.check_password(generated["gerong"])


def test_department_staff_membership(tree, transport, tmp_path):
    import_people(write(tmp_path, GOOD))
    luosang = User.objects.get(username="luosang")
    assert DepartmentMembership.objects.filter(user=luosang, department=transport).exists()
    assert not Membership.objects.filter(user=luosang).exists()


def test_new_users_must_change_password(tree, transport, tmp_path):
    import_people(write(tmp_path, GOOD))
    new = User.objects.filter(username__in=["gerong", "zhaxi", "baima", "luosang"])
    assert new.count() == 4
    assert all(u.must_change_password for u in new)


def test_existing_user_keeps_password_and_flag(tree, transport, tmp_path):
    user = User.objects.create_user("gerong", password="my-own-pass-9", full_name="旧名")
    summary = import_people(write(tmp_path, GOOD))
    user.refresh_from_db()
    assert summary.users_created == 3
    assert summary.users_updated == 1
    assert user.full_name == "割绒彭措"
    assert user.check_password("my-own-pass-9")
    assert not user.must_change_password
    assert "gerong" not in dict(summary.generated_passwords)


def test_bad_rows_are_skipped_with_reasons(tree, transport, tmp_path):
    text = (
        HEADER
        + "ok1,好人,,,grid_worker,540502001001001,,\n"  # row 2
        + ",无名,,,grid_worker,540502001001001,,\n"  # row 3: no username
        + "bad1,甲,,,janitor,540502001001001,,\n"  # row 4: unknown role
        + "bad2,乙,,,grid_worker,999999999999999,,\n"  # row 5: unknown region
        + "bad3,丙,12345,,grid_worker,540502001001001,,\n"  # row 6: bad phone
        + "bad4,丁,,,department_staff,,nope,\n"  # row 7: unknown department
        + "bad5,戊,,,grid_leader,,,\n"  # row 8: region missing
        + "bad6,己,,not-an-email,grid_leader,540502001001,,\n"  # row 9: bad email
        + "bad 7,庚,,,grid_leader,540502001001,,\n"  # row 10: bad username
        + "\n"  # blank line: ignored
        + "ok2,好人二,+86 138-0000-0002,,leader,540502000000,,\n"  # row 12
    )
    with translation.override("en"):
        summary = import_people(write(tmp_path, text))
    reasons = dict(summary.skipped)
    assert sorted(reasons) == [3, 4, 5, 6, 7, 8, 9, 10]
    assert "username" in reasons[3]
    assert "janitor" in reasons[4]
    assert "999999999999999" in reasons[5]
    assert "12345" in reasons[6]
    assert "nope" in reasons[7]
    assert "region" in reasons[8]
    assert "not-an-email" in reasons[9]
    assert "bad 7" in reasons[10]
    assert summary.users_created == 2
    assert set(User.objects.values_list("username", flat=True)) == {"ok1", "ok2"}
    assert User.objects.get(username="ok2").phone == "13800000002"


def test_idempotent(tree, transport, tmp_path):
    path = write(tmp_path, GOOD)
    import_people(path)
    hashes = dict(User.objects.values_list("username", "password"))
    counts = (
        User.objects.count(),
        Membership.objects.count(),
        DepartmentMembership.objects.count(),
    )
    again = import_people(path)
    assert (again.users_created, again.users_updated, again.users_unchanged) == (0, 0, 4)
    assert again.memberships_created == 0
    assert again.memberships_existing == 5
    assert again.generated_passwords == []
    assert counts == (
        User.objects.count(),
        Membership.objects.count(),
        DepartmentMembership.objects.count(),
    )
    assert hashes == dict(User.objects.values_list("username", "password"))


def test_bom_and_missing_optional_columns(tree, tmp_path):
    path = write(tmp_path, "\ufeffusername,role,region\nonly,grid_worker,540502001001001\n")
    summary = import_people(path)
    assert summary.users_created == 1
    assert Membership.objects.filter(user__username="only").count() == 1


def test_dry_run_saves_nothing(tree, transport, tmp_path):
    summary = import_people(write(tmp_path, GOOD), dry_run=True)
    assert summary.users_created == 4
    assert not User.objects.exists()


def test_command_summary_and_passwords_file(tree, transport, tmp_path):
    out = io.StringIO()
    passwords = tmp_path / "passwords.csv"
    call_command(
        "import_people", str(write(tmp_path, GOOD)), passwords_out=str(passwords), stdout=out
    )
    text = out.getvalue()
    assert "4" in text
    rows = list(csv.reader(passwords.open(encoding="utf-8")))
    assert rows[0] == ["username", "password"]
    written = dict(rows[1:])
    assert set(written) == {"gerong", "luosang"}
    assert User.objects.get(username="luosang").check_password(written["luosang"])
    assert passwords.stat().st_mode & 0o077 == 0


def test_command_prints_passwords_without_file(tree, transport, tmp_path):
    out = io.StringIO()
    call_command("import_people", str(write(tmp_path, GOOD)), stdout=out)
    line = next(x for x in out.getvalue().splitlines() if x.strip().startswith("luosang"))
    assert User.objects.get(username="luosang").check_password(line.split()[1])


@translation.override("en")
def test_command_fails_on_unreadable_file_or_missing_columns(db, tmp_path):
    with pytest.raises(CommandError):
        call_command("import_people", str(tmp_path / "absent.csv"))
    with pytest.raises(CommandError, match="role"):
        call_command("import_people", str(write(tmp_path, "username,region\nx,1\n")))
    gbk = write(tmp_path, HEADER + "a,割绒彭措,,,leader,1,,\n", name="gbk.csv", encoding="gbk")
    with pytest.raises(CommandError, match="gb18030"):
        call_command("import_people", str(gbk))


def test_gbk_with_encoding_option(tree, tmp_path):
    gbk = write(
        tmp_path, HEADER + "a,割绒彭措,,,leader,540502000000,,\n", name="g.csv", encoding="gbk"
    )
    call_command("import_people", str(gbk), encoding="gb18030", stdout=io.StringIO())
    assert User.objects.get(username="a").full_name == "割绒彭措"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("13800000001", "13800000001"),
        ("+86 138 0000 0001", "13800000001"),
        ("0893-7821234", "08937821234"),
        ("010-12345678", "01012345678"),
        ("12800000001", None),
        ("1380000000", None),
        ("phone", None),
    ],
)
def test_normalise_phone(raw, expected):
    assert normalise_phone(raw) == expected


def test_generated_hash_is_cheap_pbkdf2_and_upgrades_on_login(db, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.PBKDF2PasswordHasher"]
    encoded = hash_generated_password("Xy7-one-time-password")
    algorithm, iterations, _salt, _hash = encoded.split("$")
    assert (algorithm, int(iterations)) == ("pbkdf2_sha256", GENERATED_HASH_ITERATIONS)
    user = User.objects.create(username="cheap", password=encoded)
    assert user.check_password("Xy7-one-time-password")
    user.refresh_from_db()
    assert int(user.password.split("$")[1]) > GENERATED_HASH_ITERATIONS


def test_five_thousand_rows_in_seconds(tree, tmp_path):
    lines = [HEADER]
    for i in range(5000):
        region = "540502001001001" if i % 2 else "540502001001002"
        password = "Shared-initial-1" if i % 10 == 0 else ""
        lines.append(f"w{i:05d},网格员{i},138{i:08d},,grid_worker,{region},,{password}\n")
    path = write(tmp_path, "".join(lines))
    started = time.monotonic()
    summary = import_people(path)
    elapsed = time.monotonic() - started
    assert summary.users_created == 5000
    assert summary.memberships_created == 5000
    assert elapsed < 30, elapsed
