"""The staff case pages: the list of cases in the user's scope, a case's detail, its acts.

Every case queryset goes through grievances.scoping.cases_for (404 outside the scope). The
list filters with the API's GrievanceFilter; an act runs the API's own callable from
grievances.api.ACTS with the input its serializer validated, unless a higher app takes the
act over for the case (forms_cases.act_takeovers: the lead department's report-in). Errors:
NotAllowed → the 403 page; WrongState → "this case has moved on" and back to the detail,
which shows the new state; Stale (the case changed after the page was opened: each act form
carries the version it showed, see grievances/etags.py) → "someone acted after you opened
it" likewise; InvalidInput → the detail again (400) with the act's form open and the message
next to its field.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Prefetch, Q
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.cache import patch_vary_headers
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from grids.maplinks import navigation_links
from grids.models import Region
from grids.scoping import scope_regions, sees_everything
from grievances import selectors, services, views_track
from grievances.api import ACTS
from grievances.attachments import MAX_PER_CASE, UploadError, save_upload
from grievances.etags import version_number
from grievances.forms_cases import ACT_FORMS, ActForm, CaseFilter, act_takeovers
from grievances.models import CaseEvent, Grievance, Rating
from grievances.ratings import summary_of
from grievances.scoping import cases_for

PAGE_SIZE = 25
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ORDER = ("-created_at", "-id")


# --- The list ------------------------------------------------------------------------------------


def _cursor(case: Grievance) -> str:
    """A keyset position: microseconds since the epoch and the id, e.g. 1772416800000000.42"""
    micros = (case.created_at - EPOCH) // timedelta(microseconds=1)
    return f"{micros}.{case.pk}"


def _parse_cursor(raw: str | None) -> tuple[datetime, int] | None:
    try:
        micros, pk = (raw or "").split(".")
        return EPOCH + timedelta(microseconds=int(micros)), int(pk)
    except (ValueError, OverflowError):
        return None


def _page(qs, after: str | None, before: str | None) -> dict:
    """One page of the newest-first keyset: rows, and cursors for older and newer pages.

    No COUNT and no OFFSET: the cost stays the same on page 1 and page 1,000.
    """
    position = _parse_cursor(after) or _parse_cursor(before)
    going_back = position is not None and _parse_cursor(after) is None
    if position is None:
        rows = list(qs.order_by(*ORDER)[: PAGE_SIZE + 1])
        more, has_newer = len(rows) > PAGE_SIZE, False
        rows = rows[:PAGE_SIZE]
        has_older = more
    elif not going_back:
        at, pk = position
        rows = list(
            qs.filter(Q(created_at__lt=at) | Q(created_at=at, pk__lt=pk)).order_by(*ORDER)[
                : PAGE_SIZE + 1
            ]
        )
        has_older, has_newer = len(rows) > PAGE_SIZE, True
        rows = rows[:PAGE_SIZE]
    else:
        at, pk = position
        rows = list(
            qs.filter(Q(created_at__gt=at) | Q(created_at=at, pk__gt=pk)).order_by(
                "created_at", "id"
            )[: PAGE_SIZE + 1]
        )
        has_newer, has_older = len(rows) > PAGE_SIZE, True
        rows = list(reversed(rows[:PAGE_SIZE]))
    return {
        "rows": rows,
        "older": _cursor(rows[-1]) if rows and has_older else None,
        "newer": _cursor(rows[0]) if rows and has_newer else None,
        "is_first": not has_newer,
    }


def _region_options(user) -> list[Region]:
    """Regions offered in the region filter: the user's scope regions and two levels below
    them (bounded; any code can still be typed)."""
    if sees_everything(user):
        return list(
            Region.objects.filter(level__in=["province", "city", "county"]).order_by(
                "tree_id", "lft"
            )[:200]
        )
    q = Q(pk__in=[])
    for r in scope_regions(user):
        q |= Q(tree_id=r.tree_id, lft__gte=r.lft, lft__lte=r.rght, mptt_level__lte=r.mptt_level + 2)
    return list(
        Region.objects.filter(q)
        .only("pk", "name", "code", "level")
        .order_by("tree_id", "lft")[:200]
    )


@login_required
def case_list(request):
    user = request.user
    base = cases_for(user).select_related("category", "region")
    case_filter = CaseFilter(request.GET, queryset=base, request=request)
    case_filter.form.label_suffix = ""
    page = _page(case_filter.qs, request.GET.get("after"), request.GET.get("before"))
    # The cases a resident only reported show what tracking shows: no risk flags.
    tracking_only = selectors.reporter_only_ids(user, page["rows"])
    for case in page["rows"]:
        case.tracking_only = case.pk in tracking_only
    context = {
        "filter": case_filter,
        "form": case_filter.form,
        "page": page,
        "cases": page["rows"],
        "filtered": any(
            v for k, v in request.GET.lists() if k not in ("after", "before") and any(v)
        ),
    }
    htmx = getattr(request, "htmx", None)
    if htmx and not htmx.history_restore_request:
        response = render(request, "grievances/cases/_results.html", context)
    else:
        context["region_options"] = _region_options(user)
        response = render(request, "grievances/cases/list.html", context)
    patch_vary_headers(response, ("HX-Request",))
    return response


# --- The detail ----------------------------------------------------------------------------------


def _detail_queryset(user):
    qs = cases_for(user).select_related(
        "category",
        "region",
        "owning_centre__parent",
        "handler_region",
        "duplicate_of",
        "mediation_case",  # the mediation app's reverse relation, read by name only
    )
    prefetch = [
        "complainants",
        Prefetch("ratings", queryset=Rating.objects.select_related("complainant")),
        "attachments",
        Prefetch(
            "events",
            queryset=CaseEvent.objects.select_related("actor").prefetch_related("attachments"),
        ),
    ]
    if hasattr(Grievance, "whistles"):  # read through the reverse relation of dispatch
        prefetch += [
            "whistles__centre",
            "whistles__issued_by",
            "whistles__assignments__department",
            "whistles__assignments__officer",
        ]
    return qs.prefetch_related(*prefetch)


def _get_case(request, pk: int) -> Grievance:
    return get_object_or_404(_detail_queryset(request.user), pk=pk)


def _duration_rows(case: Grievance) -> list[dict]:
    found = selectors.durations(case)
    labels = {
        "accept": _("Reported → accepted"),
        "dispatch": _("Accepted → dispatched"),
        "report_in": _("Dispatched → reported in"),
        "handle": _("Dispatched → handled"),
        "close": _("Reported → closed"),
    }
    return [
        {
            "key": key,
            "label": label,
            "wall": found["wall_clock"][key],
            "work": found["working_time"][key],
        }
        for key, label in labels.items()
        if found["wall_clock"][key] is not None
    ]


# Cards a higher app adds to the case page: a template and a function (user, case,
# show_personal) giving its context, with a fixed number of queries (notifications: what
# went to the complainants). Filled from the apps' AppConfig.ready().
case_cards: list[tuple[str, Callable]] = []


def register_case_card(template: str, context: Callable) -> None:
    case_cards.append((template, context))


def _render_detail(request, case: Grievance, *, bound: ActForm | None = None, status: int = 200):
    user = request.user
    acts = []
    for name in services.available_acts(case, user):
        if name not in ACT_FORMS:
            continue
        form = bound if bound is not None and bound.name == name else None
        acts.append(
            {
                "name": name,
                "label": services.RULES[name].label,
                "form": form or ACT_FORMS[name](case=case, user=user),
                "open": form is not None,
            }
        )
    events = list(case.events.all())  # oldest first: the case's story in order
    show_personal = selectors.may_see_personal_data(user, case)
    context = {
        "case": case,
        "path": list(case.region.get_ancestors()),
        "acts": acts,
        "open_act": bound.name if bound is not None else "",
        "show_personal": show_personal,
        "complainants": list(case.complainants.all()),
        "cards": [
            {"template": template, **make(user, case, show_personal)}
            for template, make in case_cards
        ],
        "photos": list(case.attachments.all()),
        "events": events,
        "rating_summary": summary_of(case.ratings.all()),
        "whistles": list(case.whistles.all()) if hasattr(case, "whistles") else [],
        "durations": _duration_rows(case),
        "max_photos": MAX_PER_CASE,
        "nav_links": navigation_links(
            case.lat, case.lng, case.display_code, request.headers.get("User-Agent", "")
        ),
        "map_tile_url": getattr(settings, "MAP_TILE_URL", ""),
        "map_attribution": getattr(settings, "MAP_TILE_ATTRIBUTION", ""),
    }
    response = render(request, "grievances/cases/detail.html", context, status=status)
    patch_vary_headers(response, ("User-Agent",))  # the map apps offered depend on the phone
    return response


@login_required
def case_detail(request, pk: int):
    case = _get_case(request, pk)
    if selectors.reporter_only(request.user, case):
        # A resident with an account follows their case as tracking shows it: the public
        # timeline and the outcome, and the acts a reporter has (rate, urge, withdraw).
        views_track.prove(request, case)
        return redirect("track")
    return _render_detail(request, case)


# --- Acts ----------------------------------------------------------------------------------------


class _FormInvalid(Exception):
    pass


def _moved_on(request, case: Grievance, exc: services.WrongState):
    fresh = Grievance.objects.filter(pk=case.pk).first()
    state = fresh.get_state_display() if fresh else ""
    if isinstance(exc, services.Stale):
        text = _("Someone acted on this case after you opened it, so nothing was done.")
        if state:
            text += " " + _("It is now “%(state)s”.") % {"state": state}
        messages.warning(request, text + " " + _("Check it below before you act again."))
        return redirect("case-detail", pk=case.pk)
    moved_on = _("This case has moved on.")
    # The state messages say what the last sentence says; a precondition's (already
    # suspended, no pending request…) adds something.
    said = {moved_on} | {
        _("This case is %(state)s: it cannot be done now.") % {"state": s.get_state_display()}
        for s in (case, fresh)
        if s is not None
    }
    parts = [moved_on]
    if exc.message and exc.message not in said:
        parts.append(exc.message)
    if state:
        parts.append(_("It is now “%(state)s”.") % {"state": state})
    text = " ".join(parts)
    messages.warning(request, text)
    return redirect("case-detail", pk=case.pk)


def _taken_over(name: str, case: Grievance, user, data: dict) -> bool:
    """Whether a higher app carried out the act for this case its own way (act_takeovers)."""
    return any(take(case, user, data) is not None for take in act_takeovers.get(name, ()))


def _shown_version(request) -> set[int] | None:
    """The version of the case the page showed when its act form was sent (a hidden field):
    two people acting on the same page see the second told, not the act done twice."""
    raw = request.POST.get("version")
    if raw is None:
        return None
    version = version_number(raw.strip())
    return set() if version is None else {version}


def _run_act(
    name: str, case: Grievance, user, form: ActForm, versions: set[int] | None = None
) -> None:
    """Validate with the act's serializer and run the API's callable; the photos and the act
    commit together or not at all, and only on one of `versions` of the case (the one the
    page showed; None: any)."""
    input_class, call = ACTS[name]
    serializer = input_class(data=form.api_data())
    if not serializer.is_valid():
        for field, errors in serializer.errors.items():
            for error in errors if isinstance(errors, list) else [errors]:
                form.add_error(form.field_for(field), str(error))
        raise _FormInvalid
    data = dict(serializer.validated_data)
    photos = form.photos
    saved = []
    try:
        with transaction.atomic():
            if versions is not None:
                services.expect_version(case.pk, versions)
            if photos:
                if case.attachments.count() + len(photos) > MAX_PER_CASE:
                    raise services.InvalidInput(
                        _("At most %(n)s photos per case.") % {"n": MAX_PER_CASE}, field="photos"
                    )
                for photo in photos:
                    try:
                        saved.append(save_upload(case, photo, user, public=form.photos_public()))
                    except UploadError as exc:
                        raise services.InvalidInput(str(exc), field="photos") from None
                data["attachments"] = [a.pk for a in saved]
            if not _taken_over(name, case, user, data):
                call(case, user, data)
    except BaseException:
        # Rolled back: storage is not transactional, so remove the photos' files too.
        for attachment in saved:
            for stored in (attachment.file, attachment.thumbnail):
                if stored and stored.name:
                    stored.storage.delete(stored.name)
        raise


@login_required
@require_POST
def case_act(request, pk: int, name: str):
    if name not in ACTS or name not in ACT_FORMS:
        raise Http404
    case = _get_case(request, pk)
    user = request.user
    if selectors.reporter_only(user, case):
        # The case page's forms are the staff's: a bad form would answer with the whole page.
        # A reporter's acts (rate, urge, withdraw) are on the tracking page.
        views_track.prove(request, case)
        return redirect("track")
    try:
        services.check_act(name, case, user)
    except services.NotAllowed:
        raise PermissionDenied from None
    except services.WrongState as exc:
        return _moved_on(request, case, exc)
    form = ACT_FORMS[name](request.POST, request.FILES, case=case, user=user)
    try:
        if not form.is_valid():
            raise _FormInvalid
        _run_act(name, case, user, form, _shown_version(request))
    except _FormInvalid:
        return _render_detail(request, case, bound=form, status=400)
    except services.NotAllowed:
        raise PermissionDenied from None
    except services.WrongState as exc:
        return _moved_on(request, case, exc)
    except services.InvalidInput as exc:
        form.add_error(form.field_for(exc.field), exc.message)
        # Nothing changed; read the case again all the same (a failed act may have touched
        # the object in memory).
        return _render_detail(request, _get_case(request, pk), bound=form, status=400)
    messages.success(request, _("Done: %(act)s.") % {"act": services.RULES[name].label})
    return redirect("case-detail", pk=case.pk)
