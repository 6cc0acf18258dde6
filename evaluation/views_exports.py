"""The dashboard's exports (/dashboard/export/, /dashboard/exports/<id>/): a request for a
file of cases or figures, its progress, and its download, for its owner only. The files are
written by evaluation.exports.
"""

from __future__ import annotations

from datetime import date, timedelta

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import FileResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from evaluation import exports
from evaluation.dashboard import dashboard_roots
from evaluation.models import Export
from evaluation.views_dashboard import read_selection

# --- Exports --------------------------------------------------------------------------------


@login_required
@require_POST
def export_create(request):
    """Export the case list or the figures of the dashboard's selection: a small file
    downloads at once, a large one is written in the background (its progress page)."""
    roots = dashboard_roots(request.user)
    selection, form = read_selection(request, roots)
    back = f"{reverse('dashboard')}?{selection.query()}"
    # One button per kind and file type ("cases.xlsx"), or the two fields.
    kind, _dot, file_type = (request.POST.get("export") or "").partition(".")
    kind = kind or request.POST.get("kind")
    file_type = file_type or request.POST.get("file_type")
    if kind not in Export.Kind.values or file_type not in Export.FileType.values:
        messages.error(request, _("Choose what to export and the file type."))
        return redirect(back)
    if form.is_bound and not form.is_valid():
        messages.error(request, _("Correct the period first."))
        return redirect(back)
    period = selection.period
    params = {
        "region": selection.region.code if selection.region else None,
        "department": selection.department.pk if selection.department else None,
        "from": period.start.isoformat(),
        "to": period.end.isoformat(),
        "include_phones": request.POST.get("include_phones") == "1",
    }
    export = exports.export_request(request.user, kind=kind, file_type=file_type, params=params)
    if export.status == Export.Status.DONE:
        return redirect("dashboard-export-file", pk=export.pk)
    if export.status == Export.Status.FAILED:
        messages.error(request, _("The export failed. Try again, or ask the administrator."))
        return redirect(back)
    return redirect("dashboard-export", pk=export.pk)


def _own_export(request, pk: int) -> Export:
    return get_object_or_404(Export, pk=pk, owner=request.user)


def _with_period_text(export: Export) -> Export:
    """The export's period as people read it: its last day included."""
    try:
        start = date.fromisoformat(export.params["from"])
        end = date.fromisoformat(export.params["to"])
    except (KeyError, TypeError, ValueError):
        export.period_text = ""
    else:
        export.period_text = f"{start:%Y-%m-%d} – {end - timedelta(days=1):%Y-%m-%d}"
    return export


@login_required
@require_GET
def export_status(request, pk: int):
    """An export's progress; htmx polls the status block every 2 s until it is done."""
    dashboard_roots(request.user)
    export = _with_period_text(_own_export(request, pk))
    context = {"export": export, "running": export.status in ("pending", "running")}
    htmx = getattr(request, "htmx", None)
    if htmx and not htmx.history_restore_request:
        response = render(request, "evaluation/exports/_status.html", context)
    else:
        context["recent"] = [
            _with_period_text(e)
            for e in Export.objects.filter(owner=request.user).exclude(pk=export.pk)[:10]
        ]
        response = render(request, "evaluation/exports/status.html", context)
    patch_vary_headers(response, ("HX-Request",))
    return response


@login_required
@require_GET
def export_file(request, pk: int):
    """The file of a finished export, for its owner only."""
    dashboard_roots(request.user)
    export = _own_export(request, pk)
    if export.status != Export.Status.DONE or not export.file:
        return redirect("dashboard-export", pk=export.pk)
    params = export.params
    name = f"{export.kind}-{params.get('from', '')}-{params.get('to', '')}.{export.file_type}"
    content_type = {
        "csv": "text/csv; charset=utf-8",
        "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    }[export.file_type]
    return FileResponse(
        export.file.open("rb"), as_attachment=True, filename=name, content_type=content_type
    )
