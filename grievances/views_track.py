"""Tracking in the browser: /track/, for every complainant of a case.

A complainant proves a case with its code and the last 4 digits of their own phone (any
complainant of the case, grievances.selectors.find_tracked_person), limited per code like the
API's TrackingThrottle. The session keeps the proven case and the complainant it was proven
as, so the resident need not retype them after an act and rates for themselves. A duplicate
leads on to the case it was merged into through the session ("follow"), never with the
digits in an address. The reads go through grievances.selectors.public_view, the acts
through grievances.services; an error a service raises comes back as a message on the page.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlencode

from django.contrib import messages
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from grids import limits
from grievances import attachments, selectors, services
from grievances.forms import RateForm, TrackForm, TrackNoteForm, category_label
from grievances.models import Attachment, Complainant, Grievance, State, normalize_tracking_code

# Session keys.
TRACK_KEY = "track_case"  # the case proven on /track/ (its id)
PERSON_KEY = "track_person"  # the complainant it was proven as (their id), for their rating
REPORTER_KEY = "track_reporter"  # whether that complainant is the case's reporter

# The public steps of a case, for the progress bar on the tracking page.
PROGRESS = [
    State.SUBMITTED,
    State.ACCEPTED,
    State.DISPATCHED,
    State.IN_PROGRESS,
    State.HANDLED,
    State.CLOSED,
]


# --- /track/ -----------------------------------------------------------------------------------


def prove(request, case: Grievance, person: Complainant | None = None) -> None:
    """Remember in the session that this visitor proved `case` as the complainant `person`
    (code + their phone digits); without one, as its reporter (they sent it, or signed in as
    the reporting account): the reporter complainant, or nobody on a case that names no
    complainant. The tracking page shows the case and that person's own rating, and the
    photo view shows the case's public photos."""
    reporter = person is None or person.is_reporter
    if person is None:
        person = services.default_rater(case)
    request.session[TRACK_KEY] = case.pk
    request.session[PERSON_KEY] = person.pk if person is not None else None
    request.session[REPORTER_KEY] = reporter
    attachments.remember_tracked(request, case)


def _forget(request) -> None:
    """The "track another case" link: the phone may be shared, so the case stops showing."""
    pk = request.session.pop(TRACK_KEY, None)
    request.session.pop(PERSON_KEY, None)
    request.session.pop(REPORTER_KEY, None)
    tracked = attachments.tracked_case_ids(request)
    if pk is not None and pk in tracked:
        request.session[attachments.TRACKED_SESSION_KEY] = [i for i in tracked if i != pk]


def _tracked_case(request) -> Grievance | None:
    pk = request.session.get(TRACK_KEY)
    if not pk:
        return None
    case = Grievance.objects.select_related(*selectors.PUBLIC_RELATED).filter(pk=pk).first()
    if case is None:
        request.session.pop(TRACK_KEY, None)
    elif PERSON_KEY not in request.session:
        # Proven before complainants were told apart: only the reporter could prove a case.
        prove(request, case)
    return case


def _person_id(request) -> int | None:
    pk = request.session.get(PERSON_KEY)
    return pk if isinstance(pk, int) and not isinstance(pk, bool) else None


def _acting_person(request, case: Grievance) -> Complainant | None:
    """The complainant this session proved itself as, read again for an act; None for the
    reporter of a case that names no complainant. Raises NotAllowed when they no longer
    belong to `case` (moved to another case by a merge)."""
    pk = _person_id(request)
    if pk is None:
        return None
    person = Complainant.objects.filter(pk=pk, grievance=case).first()
    if person is None:
        raise services.NotAllowed(
            _("You are no longer among this case's complainants: look your case up again.")
        )
    return person


def _viewer(request) -> selectors.Viewer:
    """Who the session proved itself as (read from the session, no query; the acts read the
    complainant again): a complainant, or the reporter of a case that names none."""
    return selectors.Viewer(
        complainant_id=_person_id(request),
        is_reporter=request.session.get(REPORTER_KEY) is True,
    )


def _case_context(request, case: Grievance, **forms) -> dict:
    view = selectors.public_view(case, _viewer(request))
    photos = list(
        Attachment.objects.filter(grievance=case, public=True)
        .only("id", "event_id", "original_name", "grievance_id")
        .order_by("created_at", "id")
    )
    timeline = view["timeline"]
    shown = {e.pk for e in timeline}
    by_event: dict[int, list[Attachment]] = {}
    loose = []
    for photo in photos:
        if photo.event_id in shown:
            by_event.setdefault(photo.event_id, []).append(photo)
        else:
            loose.append(photo)
    entries = [
        {"event": e, "label": selectors.event_label(e), "photos": by_event.get(e.pk, [])}
        for e in reversed(timeline)
    ]
    step = PROGRESS.index(case.state) if case.state in PROGRESS else None
    progress = [
        {"state": s, "label": State(s).label, "done": step is not None and i <= step}
        for i, s in enumerate(PROGRESS)
    ]
    if view["merged_into"]:
        hint = MERGED_HINT
    elif case.state == State.CLOSED and view["rating"]:
        hint = RATED_HINT
    else:
        hint = STATE_HINTS.get(case.state, "")
    return {
        "case": case,
        "view": view,
        "category_name": category_label(case.category),
        "entries": entries,
        "loose_photos": loose,
        "progress": progress,
        "state_hint": hint,
        "show_deadline": case.state in (State.DISPATCHED, State.IN_PROGRESS)
        and case.handle_due_at is not None,
        "rate_form": forms.get("rate_form") or rate_form_for(view["rating"]),
        "withdraw_form": forms.get("withdraw_form") or TrackNoteForm(prefix="withdraw"),
        "urge_form": forms.get("urge_form") or TrackNoteForm(prefix="urge"),
        "open_act": forms.get("open_act", ""),
        "sections": _sections(request, case),
    }


# Sections a higher app adds to a complainant's tracking page (a template and a function
# (case, person) giving its context, or None to show nothing), and the acts they answer
# (name -> function (case, person) returning the message shown after it): notifications
# lets the complainant stop its text messages. Filled from the apps' AppConfig.ready().
track_sections: list[tuple[str, Callable]] = []
track_acts: dict[str, Callable] = {}


def register_track_section(template: str, context: Callable, acts: dict[str, Callable]) -> None:
    track_sections.append((template, context))
    track_acts.update(acts)


def _sections(request, case: Grievance) -> list[dict]:
    try:
        person = _acting_person(request, case)
    except services.NotAllowed:
        return []  # moved on with a merge: the case they follow now has the sections
    if person is None:
        return []
    found = []
    for template, make in track_sections:
        context = make(case, person)
        if context is not None:
            found.append({"template": template, **context})
    return found


def rate_form_for(rating) -> RateForm:
    """The rating form, filled with the complainant's own rating when they gave one."""
    if rating is None:
        return RateForm()
    return RateForm(
        initial={
            "score": rating.score,
            "resolved": "yes" if rating.resolved else "no",
            "comment": rating.comment,
        }
    )


# What each state means for the resident, one line under the state on the tracking page.
STATE_HINTS = {
    State.SUBMITTED: gettext_lazy("The governance centre will review your report soon."),
    State.ACCEPTED: gettext_lazy("The centre accepted your report and is assigning it."),
    State.DISPATCHED: gettext_lazy("Sent to those who will handle it, with a deadline."),
    State.MEDIATING: gettext_lazy("A mediator is working on this dispute."),
    State.IN_PROGRESS: gettext_lazy("The handler has taken the case and is working on it."),
    State.HANDLED: gettext_lazy("Handled. The centre is checking the result."),
    State.CLOSED: gettext_lazy("Closed. Please tell us how satisfied you are."),
    State.REJECTED: gettext_lazy("The centre did not accept this report."),
    State.WITHDRAWN: gettext_lazy("This report was withdrawn."),
}
RATED_HINT = gettext_lazy("Closed. Thank you for your rating.")
MERGED_HINT = gettext_lazy(
    "Another report of the same matter is being handled: yours was merged into it, and you "
    "follow it there with the same phone digits."
)


def _render_track(request, form, *, status: int = 200, limited: bool = False):
    return render(
        request,
        "grievances/track.html",
        {"form": form, "limited": limited},
        status=status,
    )


def _render_case(request, case, *, status: int = 200, **forms):
    return render(
        request, "grievances/track_case.html", _case_context(request, case, **forms), status=status
    )


def track_short(request, code: str):
    """/t/<code>: the short link of a message; the tracking form with the code filled in."""
    return redirect(f"{reverse('track')}?{urlencode({'code': code})}")


def track(request):
    if "another" in request.GET:
        _forget(request)
        return redirect("track")

    if request.method == "POST":
        act = request.POST.get("act", "lookup")
        if act == "lookup":
            return _lookup(request)
        case = _tracked_case(request)
        if case is None:
            messages.error(request, _("Look up your case with its code first."))
            return redirect("track")
        if act == "follow":
            return _follow(request, case)
        return _track_act(request, case, act)

    case = _tracked_case(request)
    wanted = request.GET.get("code", "")
    if case is not None and (not wanted or _same_code(wanted, case)):
        return _render_case(request, case)
    return _render_track(request, TrackForm(initial={"code": wanted[:20]} if wanted else None))


def _same_code(raw: str, case: Grievance) -> bool:
    return normalize_tracking_code(raw) == case.tracking_code


def _lookup(request):
    form = TrackForm(request.POST)
    if not form.is_valid():
        return _render_track(request, form)
    code = form.cleaned_data["code"]
    if limits.over_scope_limit("tracking", code):
        return _render_track(request, form, status=429, limited=True)
    found = selectors.find_tracked_person(code, form.cleaned_data["last4"])
    if found is None:
        # A wrong code and a wrong phone give the same answer.
        form.add_error(None, _("No case matches this code and phone number."))
        return _render_track(request, form)
    prove(request, *found)
    return redirect("track")


def _follow(request, case: Grievance):
    """From a duplicate to the case it was merged into, as the same complainant.

    The visitor proved the duplicate with their own phone digits; their complainant row moved
    to the case that goes on (with their phone), so they are proven there too: the session
    carries it over and the digits never go into an address."""
    person_id = _person_id(request)
    person = None
    if case.state == State.REJECTED and case.duplicate_of_id and person_id is not None:
        person = (
            Complainant.objects.select_related("grievance")
            .filter(pk=person_id)
            .exclude(grievance=case)
            .first()
        )
    if person is None:
        messages.error(request, _("Look up your case with its code first."))
        return redirect("track")
    prove(request, person.grievance, person)
    return redirect("track")


def _track_act(request, case: Grievance, act: str):
    # Acts count against the code's limit too: urging cannot be used to flood a case.
    if limits.over_scope_limit("tracking", case.tracking_code):
        messages.error(request, _("Too many attempts for this case. Please try again later."))
        return _render_case(request, case, status=429)
    try:
        if act == "rate":
            rate_form = RateForm(request.POST)
            if not rate_form.is_valid():
                return _render_case(request, case, rate_form=rate_form, open_act="rate")
            d = rate_form.cleaned_data
            services.grievance_rate(
                case,
                None,
                complainant=_acting_person(request, case),
                score=d["score"],
                resolved=d["resolved"],
                comment=d["comment"].strip(),
                via_tracking=True,
            )
            messages.success(request, _("Thank you for rating the result."))
        elif act in track_acts:
            person = _acting_person(request, case)
            if person is None:
                raise services.NotAllowed(_("Look up your case with its code first."))
            messages.success(request, track_acts[act](case, person))
        elif act in ("withdraw", "urge"):
            note_form = TrackNoteForm(request.POST, prefix=act)
            if not note_form.is_valid():
                return _render_case(request, case, **{f"{act}_form": note_form, "open_act": act})
            note = note_form.cleaned_data["note"]
            if act == "withdraw":
                person = _acting_person(request, case)
                if person is None and request.session.get(REPORTER_KEY) is not True:
                    raise services.NotAllowed(_("Only the reporter withdraws the report."))
                services.grievance_withdraw(
                    case, None, reason=note, via_tracking=True, complainant=person
                )
                messages.success(request, _("Your report is withdrawn."))
            else:
                urged = services.grievance_urge(case, None, note=note, via_tracking=True)
                messages.success(request, urged_message(urged))
        else:
            messages.error(request, _("Unknown action."))
    except services.CaseError as exc:
        messages.error(request, exc.message)
    return redirect("track")


def urged_message(case: Grievance) -> str:
    """What the complainant is told after urging: whom it reaches, never a handler the case
    does not have yet."""
    if case.state in (State.DISPATCHED, State.IN_PROGRESS):
        return _("We have urged those handling your case.")
    if case.state == State.MEDIATING:
        return _("We have urged the mediator of your case.")
    return _("We have asked the governance centre to assign your case soon.")
