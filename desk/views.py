"""The desk's pages: the two libraries kept by the county's centre (/desk/canned/manage/,
/desk/knowledge/manage/: list, add, change, delete), and what a case page asks of them:
the canned replies of an act (/desk/canned/?kind=…&case=…, JSON for static/js/canned.js)
and the knowledge base's answers (/desk/knowledge/search/?case=…&q=…, an htmx fragment).

The case is read through grievances.scoping.cases_for (404 outside the user's scope); the
libraries are written through desk.services (NotAllowed → 403, a wrong county → the form
again with the message next to its field). Bad input to the JSON endpoint answers 400 naming
the field.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from desk import selectors, services
from desk.forms import CannedReplyForm, KnowledgeEntryForm
from desk.models import CannedKind, CannedReply, KnowledgeEntry
from grids.api_input import db_ids
from grievances import services as case_services
from grievances.models import Grievance
from grievances.scoping import cases_for

# --- The libraries --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Library:
    key: str
    model: type
    form: type
    title: str
    intro: str


LIBRARIES = {
    "canned": Library(
        "canned",
        CannedReply,
        CannedReplyForm,
        gettext_lazy("Canned replies"),
        gettext_lazy(
            "Texts staff insert with one click when they do not accept a case, return it, "
            "report a result or record a return visit, and then edit."
        ),
    ),
    "knowledge": Library(
        "knowledge",
        KnowledgeEntry,
        KnowledgeEntryForm,
        gettext_lazy("Knowledge base"),
        gettext_lazy(
            "Policy answers staff look up from a case; with one of them the centre answers a "
            "consultation and closes it."
        ),
    ),
}


def _library(key: str) -> Library:
    library = LIBRARIES.get(key)
    if library is None:
        raise Http404
    return library


def _require_keeper(request) -> None:
    if not selectors.is_keeper(request.user):
        raise PermissionDenied


def _save(request, library: Library, form, status_on_error: int = 400):
    """Save a valid form through the service; None when it was saved."""
    if form.is_valid():
        try:
            services.entry_save(form.instance, request.user)
            return None
        except case_services.NotAllowed:
            raise PermissionDenied from None
        except case_services.CaseError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
    return status_on_error


@login_required
def manage(request, library: str):
    library = _library(library)
    _require_keeper(request)
    user = request.user
    form = library.form(request.POST or None, user=user)
    status = 200
    if request.method == "POST":
        status = _save(request, library, form)
        if status is None:
            messages.success(request, _("Saved."))
            return redirect("desk-manage", library=library.key)
    entries = list(selectors.kept(user, library.model).order_by("region__lft", "-updated_at")[:500])
    context = {"library": library, "entries": entries, "form": form}
    return render(request, "desk/manage.html", context, status=status)


def _kept_entry(request, library: Library, pk: int):
    return get_object_or_404(selectors.kept(request.user, library.model), pk=pk)


@login_required
def edit(request, library: str, pk: int):
    library = _library(library)
    _require_keeper(request)
    entry = _kept_entry(request, library, pk)
    form = library.form(request.POST or None, instance=entry, user=request.user)
    status = 200
    if request.method == "POST":
        status = _save(request, library, form)
        if status is None:
            messages.success(request, _("Saved."))
            return redirect("desk-manage", library=library.key)
    return render(request, "desk/edit.html", {"library": library, "form": form}, status=status)


@login_required
@require_POST
def delete(request, library: str, pk: int):
    library = _library(library)
    _require_keeper(request)
    entry = _kept_entry(request, library, pk)
    try:
        services.entry_delete(entry, request.user)
    except case_services.NotAllowed:
        raise PermissionDenied from None
    messages.success(request, _("Deleted."))
    return redirect("desk-manage", library=library.key)


# --- What a case asks of them ---------------------------------------------------------------------


def _case_of(request) -> Grievance | JsonResponse:
    """The case named by ?case=, in the user's scope (not as its reporter): 400 or 404."""
    ids = db_ids([request.GET.get("case", "")])
    if not ids:
        return JsonResponse({"case": [_("Give the case's id.")]}, status=400)
    case = (
        cases_for(request.user, as_reporter=False)
        .select_related("category")
        .filter(pk=ids[0])
        .first()
    )
    if case is None:
        raise Http404
    return case


@login_required
def canned(request):
    """The canned replies of one kind for a case: {"replies": [{"id", "text", "general"}]}."""
    kind = request.GET.get("kind", "")
    if kind not in CannedKind.values:
        return JsonResponse(
            {"kind": [_("Choose one of: %(kinds)s.") % {"kinds": ", ".join(CannedKind.values)}]},
            status=400,
        )
    case = _case_of(request)
    if isinstance(case, JsonResponse):
        return case
    replies = selectors.canned_for(case, kind)
    return JsonResponse(
        {
            "replies": [
                {"id": r.pk, "text": r.text, "general": r.category_id is None} for r in replies
            ]
        }
    )


@login_required
def knowledge_search(request):
    """The knowledge base's answers for a case, searched; with the button that answers a
    consultation with one of them where the user may (grievances' `answer` act)."""
    case = _case_of(request)
    if isinstance(case, JsonResponse):
        return case
    text = request.GET.get("q", "")[:100]
    try:
        case_services.check_act("answer", case, request.user)
        may_answer = True
    except case_services.CaseError:
        may_answer = False
    context = {
        "case": case,
        "entries": selectors.knowledge_for(case, text),
        "q": text,
        "may_answer": may_answer,
    }
    return render(request, "desk/_knowledge_results.html", context)


def case_card(user, case, show_personal: bool) -> dict:
    """The knowledge base's search box on a case page, for staff who see the case (not its
    reporter): no query, the answers load by htmx."""
    return {"knowledge": True}
