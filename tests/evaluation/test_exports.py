"""Exports: CSV and Excel of case lists and figures, masking, ownership, the task."""

from __future__ import annotations

import csv
import io

import pytest
from openpyxl import load_workbook

from evaluation import figures
from evaluation.models import Export
from evaluation.tasks import run_export, sweep_exports
from tests.evaluation.conftest import NOW
from tests.grievances.conftest import PHONE, api_as

pytestmark = pytest.mark.django_db

OCT = {"from": "2026-10-01", "to": "2026-11-01"}


def request_export(user, **data):
    return api_as(user).post("/api/v1/exports/", {**OCT, **data}, format="json")


def download(user, export_id):
    r = api_as(user).get(f"/api/v1/exports/{export_id}/")
    return r, b"".join(r.streaming_content) if hasattr(r, "streaming_content") else r.content


def csv_rows(content: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))


def test_a_small_case_list_as_csv(tree, people, october):
    r = request_export(people.centre_staff, kind="cases", file_type="csv")
    assert r.status_code == 201, r.json()
    assert r.json()["status"] == "done" and r.json()["rows"] == 4  # town_a's four cases
    resp, content = download(people.centre_staff, r.json()["id"])
    assert resp.status_code == 200
    assert resp["Content-Type"].startswith("text/csv")
    assert "attachment" in resp["Content-Disposition"]
    rows = csv_rows(content)
    header, body = rows[0], rows[1:]
    assert len(body) == 4
    row = dict(zip(header, body[0], strict=True))
    code_col, phone_col = header[0], header[13]
    assert row[code_col] == october.a.display_code
    # The centre sees the name; the phone stays masked unless asked for.
    assert "张三" in body[0]
    assert row[phone_col] == "138****1234"
    assert PHONE not in content.decode("utf-8-sig")
    # A's deadline Fri 18:00, handled on Saturday: late.
    assert body[0][header.index(header[21])] in ("否", "no")


def test_phones_in_full_only_for_the_centre_that_asks(tree, people, october):
    r = request_export(people.centre_staff, kind="cases", file_type="csv", include_phones=True)
    _, content = download(people.centre_staff, r.json()["id"])
    assert PHONE in content.decode("utf-8-sig")
    # A grid worker sees the cases of their grid, masked, even when asking.
    r = request_export(people.grid_worker, kind="cases", file_type="csv", include_phones=True)
    assert r.status_code == 201, r.json()
    _, content = download(people.grid_worker, r.json()["id"])
    text = content.decode("utf-8-sig")
    assert PHONE not in text and "张三" not in text and "张*" in text


def test_an_xlsx_opens_with_openpyxl(tree, people, october):
    r = request_export(people.leader, kind="cases", file_type="xlsx")
    assert r.status_code == 201, r.json()
    resp, content = download(people.leader, r.json()["id"])
    assert resp["Content-Type"].startswith("application/vnd.openxmlformats")
    sheet = load_workbook(io.BytesIO(content), read_only=True).active
    rows = list(sheet.values)
    assert len(rows) == 1 + 5
    assert {row[0] for row in rows[1:]} == {
        c.display_code for c in (october.a, october.b, october.c, october.d, october.e)
    }


def test_figures_as_xlsx(tree, people, october):
    figures.rebuild(now=NOW)
    r = request_export(people.leader, kind="figures", file_type="xlsx", region=tree.county.code)
    assert r.status_code == 201, r.json()
    _, content = download(people.leader, r.json()["id"])
    rows = list(load_workbook(io.BytesIO(content), read_only=True).active.values)
    # The county, then its two townships.
    assert [row[0] for row in rows[1:]] == [tree.county.code, tree.town_a.code, tree.town_b.code]
    county = rows[1]
    assert county[3] == 5  # cases reported
    assert county[4] == 0.75  # response rate
    assert rows[3][5] in (None, "")  # 昌珠镇: no handling deadline: no on-time rate


def test_only_the_owner_downloads(tree, people, october):
    r = request_export(people.centre_staff, kind="cases", file_type="csv")
    export_id = r.json()["id"]
    for other in (people.leader, people.sibling_staff, people.grid_worker):
        assert api_as(other).get(f"/api/v1/exports/{export_id}/").status_code == 404
    assert api_as(people.centre_staff).get("/api/v1/exports/999999/").status_code == 404


def test_an_export_outside_the_area_is_404(tree, people):
    r = request_export(people.centre_staff, kind="cases", file_type="csv", region=tree.town_b.code)
    assert r.status_code == 404
    r = request_export(people.centre_staff, kind="pdf", file_type="csv")
    assert r.status_code == 400 and "kind" in r.json()


def test_a_large_export_runs_in_the_task_with_progress(tree, people, october, settings):
    settings.EXPORT_INLINE_MAX = 1
    r = request_export(people.centre_staff, kind="cases", file_type="xlsx")
    assert r.status_code == 202, r.json()
    export_id = r.json()["id"]
    pending = api_as(people.centre_staff).get(f"/api/v1/exports/{export_id}/")
    assert pending.status_code == 202
    assert pending.json()["status"] == "pending" and pending.json()["progress"] == 0
    run_export(export_id)
    export = Export.objects.get(pk=export_id)
    assert (export.status, export.progress, export.rows) == ("done", 100, 4)
    assert export.file.name.startswith("exports/") and export.file.name.endswith(".xlsx")
    resp, content = download(people.centre_staff, export_id)
    assert resp.status_code == 200
    assert len(list(load_workbook(io.BytesIO(content)).active.values)) == 5
    # Running it again does nothing: the export is no longer pending.
    assert run_export(export_id) is None


def test_the_sweep_requeues_lost_exports(tree, people, settings):
    from datetime import timedelta

    from django.utils import timezone

    export = Export.objects.create(
        owner=people.centre_staff,
        kind="cases",
        file_type="csv",
        params={**OCT, "region": None, "department": None},
        status=Export.Status.RUNNING,
    )
    Export.objects.filter(pk=export.pk).update(started_at=timezone.now() - timedelta(hours=2))
    assert sweep_exports() == 1
    assert Export.objects.get(pk=export.pk).status in ("pending", "done")
