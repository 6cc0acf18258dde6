"""Intake in the browser: /report/ and /report/done/ (tracking: grievances/views_track.py).

Phone first. Plain form POSTs (multipart for the photos) so that everything works without
JavaScript; static/js/report.js adds the map pin, the located grid, the category filter,
more complainant rows and a draft kept on the phone. The writes go through
grievances.services (the same intake as the API: grievances.intake.submit_report).

Residents: no login. /report/ is rate-limited per IP like the public API; a resident who sent
a report has proven it (views_track.prove): /track/ shows it without retyping.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple

from django.conf import settings
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _

from grids import held, limits
from grids.locate import locate
from grids.models import Role
from grids.views import GRID_ROLES, request_roles
from grievances import attachments, idempotency, intake_answers, selectors, services
from grievances.forms import (
    ComplainantFormSet,
    ReportForm,
    region_label,
    search_places,
)
from grievances.models import Grievance, Source, State
from grievances.privacy import mask_sent_to
from grievances.views_track import prove

if TYPE_CHECKING:
    from grievances.intake import Submitted

INTAKE_ROLES = GRID_ROLES | {Role.CENTRE_STAFF, Role.LEADER, "superuser"}

# Session keys.
DONE_KEY = "intake_done"  # what /report/done/ shows: the code stays out of the URL
# The form's field of photos held from an earlier send (grids.held): one token each.
HELD_FIELD = "held_photos"


# --- Limits ------------------------------------------------------------------------------------


def over_limit(scope: str, ident: str) -> bool:
    """Count one attempt of `ident` at `scope`; True once the scope's rate is exceeded. The
    counter is the API's throttle's (grids.limits): one allowance for the page and the API."""
    return limits.over_scope_limit(scope, ident)


def _client_ip(request) -> str:
    # The same client as the public API's throttle sees (an IPv6 /64 is one client).
    return limits.client_address(request) or "unknown"


# --- /report/ ----------------------------------------------------------------------------------


def _intake_roles(request) -> tuple[bool, bool]:
    """(staff form?, may settle on the spot?)"""
    if not request.user.is_authenticated:
        return False, False
    roles = request_roles(request)
    return bool(roles & INTAKE_ROLES), bool(roles & GRID_ROLES)


def _draft_key(request) -> str:
    user = request.user
    return f"fengqiao:report-draft:{user.pk if user.is_authenticated else 'anonymous'}"


def _js_strings() -> dict:
    return {
        "locating": _("Finding your position…"),
        "located": _("Located: %(name)s"),
        "outside": _("This point lies outside every region we serve. Move the pin."),
        "locateFailed": _("Could not look up the grid now; it is located when you send."),
        "noGeolocation": _("This phone cannot share its location. Choose the place below."),
        "geolocationDenied": _(
            "Location is off or not allowed. Drag the pin, or choose the place below."
        ),
        "pinSet": _("Pin set. Drag it to the exact spot if needed."),
        "pinRemoved": _("Pin removed."),
        "tilesOffline": _(
            "The map background cannot load (no internet?). The pin and your GPS position "
            "still work."
        ),
        "draftRestored": _("Your unsent draft was restored. Photos are not kept: add them again."),
        "shrinking": _("Preparing photos for sending…"),
        "shrunk": _("Photos made smaller for sending: %(before)s → %(after)s."),
        "noMatch": _("No category matches."),
        "matches": _("Matching categories: %(n)s"),
    }


def _map_context(request, form) -> dict:
    center = settings.LEAFLET_CONFIG.get("DEFAULT_CENTER", (29.23, 91.77))
    zoom = settings.LEAFLET_CONFIG.get("DEFAULT_ZOOM", 8)
    grids = getattr(form, "grid_queryset", None)
    if grids is not None and not form.grid_search:
        # A grid worker's map opens on their grid (its centroid is on the row).
        first = next((g for g in form.fields["grid"].queryset if g.centroid_lat is not None), None)
        if first is not None:
            center, zoom = (first.centroid_lat, first.centroid_lng), 14
    return {
        "tile_url": settings.MAP_TILE_URL,
        "tile_attribution": settings.MAP_TILE_ATTRIBUTION,
        "map_center": f"{center[0]},{center[1]}",
        "map_zoom": zoom,
    }


def _render_report(request, form, formset, *, status: int = 200, limited: bool = False, kept=()):
    chosen = None
    if form.is_bound and not form.staff:
        chosen = _chosen_region(form, "region")
    elif form.is_bound and form.grid_search:
        chosen = _chosen_region(form, "grid")
    context = {
        "form": form,
        "formset": formset,
        "staff": form.staff,
        "grid_role": form.grid_role,
        "limited": limited,
        "draft_key": _draft_key(request),
        "js_strings": _js_strings(),
        "chosen_place": chosen,
        "place_matches": form.place_matches
        or (
            [(chosen, region_label(chosen, [chosen.parent] if chosen.parent_id else []))]
            if chosen
            else []
        ),
        "has_errors": bool(form.errors or (formset is not None and _formset_errors(formset))),
        "held_photos": held.describe(request, [token for token, _upload in kept]),
        "max_photos": attachments.MAX_PER_CASE,
        "intake_panels": intake_panels if form.staff and not form.grid_role else [],
        **_map_context(request, form),
    }
    return render(request, "grievances/report.html", context, status=status)


# What a higher app adds to the desk's report form, after the complainants (the desk app: a
# caller's earlier cases): templates, filled from the apps' AppConfig.ready().
intake_panels: list[str] = []


def register_intake_panel(template: str) -> None:
    intake_panels.append(template)


def _formset_errors(formset) -> bool:
    return bool(formset.non_form_errors() or any(f.errors for f in formset.forms))


def _chosen_region(form, name: str):
    """The region already picked in a bound form (to show it checked after an error)."""
    value = form.data.get(name)
    if not value:
        return None
    field = form.fields[name]
    try:
        return field.queryset.select_related("parent").filter(code=value).first()
    except (TypeError, ValueError):
        return None


def _place_results(request, staff: bool, grid_role: bool):
    """The htmx partial of villages (residents) or the user's places matching ?place=."""
    text = request.GET.get("place", "")[:100]
    user = request.user if staff else None
    matches = search_places(text, user=user, grid_role=grid_role) if len(text.strip()) >= 1 else []
    return render(
        request,
        "grievances/_intake_place_results.html",
        {
            "matches": matches,
            "field_name": "grid" if staff else "region",
            "query": text.strip(),
        },
    )


def report(request):
    staff, grid_role = _intake_roles(request)
    if request.method == "GET" and request.htmx and "place" in request.GET:
        return _place_results(request, staff, grid_role)

    form_kwargs = {"user": request.user, "staff": staff, "grid_role": grid_role}
    if request.method != "POST":
        form = ReportForm(initial=_initial(request), **form_kwargs)
        formset = ComplainantFormSet(prefix="people") if staff else None
        return _render_report(request, form, formset)

    if intake_answers.wanted(request):
        return _answer_json(request, staff, form_kwargs)
    outcome = _take(request, staff, form_kwargs)
    if outcome.submitted is None:
        limited = outcome.problem == LIMITED
        status = 429 if limited else 200
        return _render_report(
            request,
            outcome.form,
            outcome.formset,
            status=status,
            limited=limited,
            kept=outcome.kept,
        )
    return redirect("report-done")


def _answer_json(request, staff: bool, form_kwargs: dict):
    """The report queue's POST (grievances/intake_answers.py): the same outcome as JSON."""
    refused = intake_answers.wrong_user(request)
    if refused is not None:
        return refused
    outcome = _take(request, staff, form_kwargs, page=False)
    if outcome.submitted is not None:
        case, repeat = outcome.submitted
        return intake_answers.sent(case, repeat=repeat, staff=staff)
    if outcome.problem == LIMITED:
        return intake_answers.limited("public_create")
    status = 422 if outcome.problem == REUSED else 400
    return intake_answers.errors(outcome.form, outcome.formset, status=status)


# What a POST to /report/ came to when no case was sent.
INVALID, LIMITED, REUSED = "invalid", "limited", "reused"


class Outcome(NamedTuple):
    """A POST to /report/: the case sent (`submitted`), or the form to show again and why
    (`problem`: INVALID, LIMITED or REUSED)."""

    form: ReportForm
    formset: object
    submitted: Submitted | None = None
    problem: str = ""
    kept: list | tuple = ()  # photos held for the page to show again (grids.held)


def _take(request, staff: bool, form_kwargs: dict, *, page: bool = True) -> Outcome:
    """Validate and send the report, whatever the answer's form (`page` or JSON)."""
    formset = ComplainantFormSet(request.POST, prefix="people") if staff else None
    # Photos held from an earlier send of this form come first, then those chosen now.
    kept = held.take(request, request.POST.getlist(HELD_FIELD))
    if not request.user.is_authenticated and over_limit("public_create", _client_ip(request)):
        # The text comes back for later; the photos are not even opened (decoding them is
        # the expensive part of a report): only those held already stay.
        form = ReportForm(request.POST, **form_kwargs)
        return Outcome(form, formset, problem=LIMITED, kept=kept)
    files = request.FILES.copy()
    files.setlist("photos", [upload for _token, upload in kept] + request.FILES.getlist("photos"))
    form = ReportForm(request.POST, files, **form_kwargs)

    def hold():
        # The page shows the photos again; the queue (JSON) keeps its own copy.
        return _hold(request, kept, files) if page else []

    form_ok = form.is_valid()
    formset_ok = formset is None or formset.is_valid()
    if not (form_ok and formset_ok):
        return Outcome(form, formset, problem=INVALID, kept=hold())
    try:
        submitted = _submit(request, form, formset)
    except idempotency.KeyReused:
        # The key of this form already sent another report (its answer lost): this one is
        # a report of its own once sent again, with a new key.
        form.add_error(
            None,
            _(
                "A different report was already sent from this form. If this one is new, "
                "send it again."
            ),
        )
        form.new_key()
        return Outcome(form, formset, problem=REUSED, kept=hold())
    except services.CaseError as exc:
        # Several refused photos come as one message, a line each.
        form.add_error(_error_field(form, exc), exc.message.split("\n"))
        return Outcome(form, formset, problem=INVALID, kept=hold())
    held.release(request, [token for token, _upload in kept])
    _remember_done(request, form, formset, submitted.case, staff)
    return Outcome(form, formset, submitted)


def _remember_done(request, form, formset, case: Grievance, staff: bool) -> None:
    """What /report/done/ shows; a resident has proven the case by sending it."""
    # Every complainant with a phone gets the tracking code by SMS (grievances.notifications,
    # once the relay hands the report over: a fraction of a second).
    people = form.people(formset)
    phone = people[0]["phone"] if people else ""
    request.session[DONE_KEY] = {
        "case": case.pk,
        "code": case.display_code,
        "title": case.title,
        "state": case.state,
        "sms_to": mask_sent_to(phone) if phone else "",
        "staff": staff,
    }
    if not staff:
        # The reporter proved the case by sending it: /track/ shows it without retyping.
        prove(request, case)


def _hold(request, kept, files) -> list[tuple[str, object]]:
    """The photos of a form sent back with errors that we can take, held for the next send
    (grids.held): those held already keep their token; a new one is held if it reads as a
    photo (the check is remembered on the upload), up to the limit of a report."""
    tokens = {id(upload): token for token, upload in kept}
    result = []
    for upload in files.getlist("photos"):
        if len(result) >= attachments.MAX_PER_CASE:
            break
        token = tokens.get(id(upload))
        if token is None:
            try:
                photo = attachments.process(upload)
            except attachments.UploadError:
                continue  # named in the form's errors; nothing to keep
            preview_type = attachments.CONTENT_TYPES[photo.thumbnail_extension]
            token = held.hold(request, upload, photo.thumbnail, preview_type)
        result.append((token, upload))
    return result


# --- /report/nearby/ ---------------------------------------------------------------------------


def _nearby_query(request) -> tuple[float, float, str] | None:
    """The point and category asked for, or None when one is missing or bad (the pin
    removed, a category not chosen yet): the fragment is then empty."""
    try:
        lng = float(request.GET.get("lng", ""))
        lat = float(request.GET.get("lat", ""))
    except ValueError:
        return None
    category = request.GET.get("category", "")[:40]
    if not (math.isfinite(lng) and math.isfinite(lat)) or not category:
        return None
    if not (-180 <= lng <= 180 and -90 <= lat <= 90):
        return None
    return lng, lat, category


# What a higher app adds under each case of the nearby list (duplicates: the button that
# joins it): a template and a function (request, nearby cases, staff) giving one context
# per case, without a query per case. Filled from the apps' AppConfig.ready().
nearby_extras: list[tuple[str, Callable]] = []


def register_nearby_extra(template: str, context: Callable) -> None:
    nearby_extras.append((template, context))


def _with_extras(request, found: list, staff: bool) -> list[tuple]:
    extras = [[] for _case in found]
    for template, make in nearby_extras:
        for index, context in enumerate(make(request, found, staff)):
            extras[index].append({"template": template, **context})
    return list(zip(found, extras, strict=True))


def report_nearby(request):
    """The htmx fragment under the map: open cases already reported near the pin in the
    chosen category's family (grievances.selectors.nearby_cases). A resident reads the public
    facts, as GET /api/v1/public/nearby/ gives them; a staff member the cases of their own
    scope, with code, title and a link."""
    query = _nearby_query(request)
    staff, _grid_role = _intake_roles(request)
    found = []
    if query is not None:
        if not staff and over_limit("nearby", _client_ip(request)):
            # The list already shown stays (htmx swaps no error answer).
            return HttpResponse(status=429)
        lng, lat, category = query
        try:
            found = selectors.nearby_cases(lng, lat, category, user=request.user if staff else None)
        except services.CaseError:
            found = []  # an unknown category: nothing to show
    return render(
        request,
        "grievances/_intake_nearby.html",
        {"nearby": _with_extras(request, found, staff), "staff": staff},
    )


def _initial(request) -> dict:
    # A key for a browser without JavaScript; report.js makes its own and keeps it with the
    # draft.
    initial = {"idempotency_key": str(uuid.uuid4())}
    code = request.GET.get("category")
    if code:
        initial["category"] = code
    return initial


def _submit(request, form, formset) -> Submitted:
    """The API's intake (case, complainants, photos on the first event, one transaction)."""
    from grievances.intake import submit_report as api_submit

    data = form.cleaned_data
    if form.staff:
        region = data.get("grid")
        source = Source.GRID_WORKER if form.grid_role else data.get("source") or Source.WALK_IN
        settled_note = (data.get("settled_note") or "").strip() if data.get("settled") else ""
    else:
        region = data.get("region")
        if region is not None and data.get("lng") is not None and locate(data["lng"], data["lat"]):
            # Both a pin and a village: the pin is more precise (it finds the grid).
            region = None
        source = Source.RESIDENT_WEB
        settled_note = ""
    payload = {
        "title": data["title"],
        "description": data["description"],
        "category": data["category"],
        "urgency": data.get("urgency") or None,
        "request_type": data.get("request_type") or "",
        "lng": data.get("lng"),
        "lat": data.get("lat"),
        "region": region,
        "address": data.get("address", ""),
        "complainants": form.people(formset),
        "risk_petition": bool(data.get("risk_petition")),
        "risk_extreme": bool(data.get("risk_extreme")),
        "risk_group": bool(data.get("risk_group")),
        "settled_note": settled_note,
        "photos": data.get("photos") or [],
        # Another system's ticket (ReportForm._clean_ticket), for a transferred case.
        "external_id": data.get("external_id"),
        "external_system": data.get("external_system", ""),
    }
    user = request.user if request.user.is_authenticated else None
    # A repeat (the key's case, from an earlier send of this form) ends on the same done page.
    return api_submit(payload, user, source, data.get("idempotency_key"))


def _error_field(form, exc: services.CaseError) -> str | None:
    """Which field of the form a service error belongs next to."""
    field = exc.field
    if field in ("region", "lng", "lat"):
        if form.staff and form.cleaned_data.get("grid") is not None:
            return "grid"
        if not form.staff and form.cleaned_data.get("region") is not None:
            return "region"
        return "lng"
    if field == "settled":
        return "settled_note" if "settled_note" in form.fields else None
    return field if field in form.fields else None


def report_done(request):
    done = request.session.get(DONE_KEY)
    if not done:
        return redirect("report")
    case_url = reverse("case-detail", args=[done["case"]]) if done.get("staff") else ""
    return render(
        request,
        "grievances/report_done.html",
        {
            "done": done,
            "settled": done.get("state") == State.HANDLED,
            "case_url": case_url,
            "draft_key": _draft_key(request),
            "js_strings": _js_strings(),
        },
    )
