"""The mediation pages: the public roster (调解员信息公示栏) and its photos, a party's own page
through their personal link (choose, sign with an SMS code, rate), the mediator's and the
centre's case page with one form per act, and the printable and PDF agreement.

Every write goes through mediation/services.py with its Actor: a party of a link, or the
logged-in user. Staff pages read the cases through mediation.selectors.mediation_cases_for
(404 outside the scope, like the API); a bad, expired or revoked link is 404 too. Errors:
NotAllowed → the 403 page; WrongState → "this mediation has moved on" and back to the page,
which shows the new status (a signature on an old version: 409 and the page again, with the
current version and the message next to the form); InvalidInput → the page again (400) with
the act's form open and the message next to its field.
"""

from __future__ import annotations

import hashlib
import logging
import mimetypes
import re
from decimal import Decimal

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import Prefetch
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import get_conditional_response, patch_vary_headers
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST, require_safe

from grids import limits
from grievances.attachments import UploadError, save_upload
from grievances.privacy import mask_id, mask_sent_to
from grievances.scoping import cases_for
from grievances.services import InvalidInput, NotAllowed, WrongState
from mediation import pdf, selectors, services, tokens
from mediation.forms import (
    PARTY_ACTS,
    STAFF_FORMS,
    AssignForm,
    ChooseForm,
    RateForm,
    RosterFilter,
    SignForm,
    serving_roster,
)
from mediation.models import (
    CaseMediator,
    CaseStatus,
    Language,
    MediationCase,
    Mediator,
    OneTimeCode,
    Party,
    PartyChoice,
    Referral,
    split_codes,
)
from mediation.services import Actor

log = logging.getLogger(__name__)

ROSTER_PAGE_SIZE = 24
PHOTO_TYPES = {"image/jpeg", "image/png", "image/webp", "image/gif"}
# POSTs through one personal link per hour: enough for a person, not for a script.
LINK_POSTS_PER_HOUR = 60


# --- The public roster ---------------------------------------------------------------------------


def _photo_url(mediator: Mediator) -> str:
    if not mediator.photo:
        return ""
    version = hashlib.sha256(mediator.photo.name.encode()).hexdigest()[:10]
    return f"{reverse('mediator-photo', args=[mediator.pk])}?v={version}"


def _category_name(category) -> str:
    if (get_language() or "").startswith("en") and category.name_en:
        return category.name_en
    return category.name


def mediator_card(mediator: Mediator, reasons: list[str] | None = None) -> dict:
    """What a roster card shows, from a mediator of selectors.roster (figures annotated,
    organisation, specialties and regions read with it: no query here)."""
    regions = [r.name for r in mediator.regions_served.all()] or [mediator.organisation.region.name]
    rate = selectors.success_rate(mediator)
    average = mediator.average_rating
    return {
        "id": mediator.pk,
        "name": mediator.name,
        "initial": mediator.name[:1],
        "photo_url": _photo_url(mediator),
        "organisation": mediator.organisation.name,
        "org_kind": mediator.organisation.get_kind_display(),
        "specialties": [_category_name(c) for c in mediator.specialties.all()],
        "regions": regions,
        "languages": [
            Language(code).label for code in split_codes(mediator.languages) if code in Language
        ],
        "years": mediator.years_experience,
        "bio": mediator.bio,
        "cases_handled": mediator.cases_handled,
        "cases_settled": mediator.cases_settled,
        "success_percent": None if rate is None else round(rate * 100),
        "average_rating": None if average is None else round(average, 1),
        "average_stars": 0 if average is None else int(round(average)),
        "rating_count": mediator.rating_count,
        "recused": bool(reasons),
        "reasons": reasons or [],
    }


@require_safe
def roster(request):
    """调解员信息公示栏: public, phone first; filters as a GET form that htmx swaps."""
    roster_filter = RosterFilter(request.GET, queryset=selectors.roster(), request=request)
    roster_filter.form.label_suffix = ""
    paginator = Paginator(roster_filter.qs, ROSTER_PAGE_SIZE)
    page = paginator.get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "form": roster_filter.form,
        "page": page,
        "cards": [mediator_card(m) for m in page.object_list],
        "query": query.urlencode(),
        "filtered": any(v for k, v in request.GET.lists() if k != "page" and any(v)),
    }
    htmx = getattr(request, "htmx", None)
    if htmx and not htmx.history_restore_request:
        response = render(request, "mediation/_roster_results.html", context)
    else:
        response = render(request, "mediation/roster.html", context)
    patch_vary_headers(response, ("HX-Request",))
    return response


@require_safe
def mediator_photo(request, pk: int):
    """A photo on the public roster: an active mediator's only (their photo is public as
    long as they are on the roster); anything else is 404."""
    mediator = (
        Mediator.objects.filter(pk=pk, active=True, organisation__active=True)
        .only("pk", "photo")
        .first()
    )
    if mediator is None or not mediator.photo:
        raise Http404
    content_type = mimetypes.guess_type(mediator.photo.name)[0] or ""
    if content_type not in PHOTO_TYPES:
        raise Http404
    etag = f'"{hashlib.sha256(mediator.photo.name.encode()).hexdigest()[:32]}"'
    response = get_conditional_response(request, etag=etag)
    if response is None:
        try:
            handle = mediator.photo.storage.open(mediator.photo.name, "rb")
        except FileNotFoundError:
            log.error("mediator %s: photo %s is missing", mediator.pk, mediator.photo.name)
            raise Http404 from None
        response = FileResponse(handle, content_type=content_type)
    response["ETag"] = etag
    response["Cache-Control"] = "public, max-age=86400"
    response["X-Content-Type-Options"] = "nosniff"
    return response


# --- Reading a case ------------------------------------------------------------------------------


def _case_queryset():
    return MediationCase.objects.select_related(
        "grievance__category",
        "grievance__region",
        "grievance__owning_centre",
        "org__region",
        "settled_agreement",
    ).prefetch_related(
        "parties",
        "sessions",
        Prefetch(
            "appointments",
            queryset=CaseMediator.objects.select_related(
                "mediator__organisation__region", "mediator__user"
            ),
        ),
    )


PHONE_RE = re.compile(r"(?<!\d)(1\d{2})[\s-]?(\d{4})[\s-]?(\d{4})(?!\d)")


def _hide_phones(text: str) -> str:
    """Mobile numbers in free text shown to a party: the other side's phone stays private."""
    return PHONE_RE.sub(lambda m: f"{m.group(1)}****{m.group(3)}", text or "")


def _mediators(case: MediationCase) -> list[CaseMediator]:
    return sorted(case.appointments.all(), key=lambda a: (a.role != "lead", a.pk))


def _agreement_view(case: MediationCase, agreement) -> dict | None:
    """The current version as both pages show it, with who signed it."""
    if agreement is None:
        return None
    state = selectors.signature_state(case, agreement)
    signatures = [s for s in agreement.signatures.all() if s.version == agreement.version]
    by_party = {s.party_id: s for s in signatures if s.party_id}
    by_mediator = {s.mediator_id: s for s in signatures if s.mediator_id}
    terms = list(agreement.terms.all())
    for term in terms:
        term.amount_display = money(term.amount)
    amounts = [t.amount for t in terms if t.amount is not None]
    return {
        "object": agreement,
        "version": agreement.version,
        "text": agreement.text,
        "sha256": agreement.content_hash,
        "created_at": agreement.created_at,
        "terms": terms,
        "total": money(sum(amounts, Decimal(0))) if amounts else None,
        "state": state,
        "complete": state.complete,
        "party_rows": [{"party": p, "signature": by_party.get(p.pk)} for p in case.parties.all()],
        "mediator_rows": [
            {"appointment": a, "signature": by_mediator.get(a.mediator_id)}
            for a in _mediators(case)
        ],
    }


def money(amount) -> str:
    """1,200.00: yuan with a thousands comma whatever the page's language."""
    return "" if amount is None else f"{amount:,.2f}"


def _printable(case: MediationCase) -> bool:
    return case.status == CaseStatus.SETTLED and case.settled_agreement_id is not None


def _moved_on(request, case: MediationCase, exc: WrongState, target: str):
    fresh = MediationCase.objects.filter(pk=case.pk).first()
    moved_on = _("This mediation has moved on.")
    said = {moved_on} | {
        _("This mediation is %(status)s: it cannot be done now.")
        % {"status": c.get_status_display()}
        for c in (case, fresh)
        if c is not None
    }
    parts = [moved_on]
    if exc.message and exc.message not in said:
        parts.append(exc.message)
    if fresh is not None:
        parts.append(_("It is now “%(status)s”.") % {"status": fresh.get_status_display()})
    messages.warning(request, " ".join(parts))
    return redirect(target)


def _no_store(response: HttpResponse) -> HttpResponse:
    # A personal link's page: no shared cache keeps it, no search engine lists it.
    response["Cache-Control"] = "private, no-store"
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response


# --- A party's own page --------------------------------------------------------------------------


class LinkMissesOverLimit(Exception):
    """Too many links that did not verify from this address (answered 429)."""


def _party_case(
    token: str, case_id: int | None = None, request=None
) -> tuple[MediationCase, Party]:
    party = tokens.party_from_token(token, case_id)
    if party is None:
        if request is not None and tokens.miss_over_limit(request):
            raise LinkMissesOverLimit
        raise Http404
    case = _case_queryset().get(pk=party.case_id)
    party = next(p for p in case.parties.all() if p.pk == party.pk)
    return case, party


def _party_url(token: str, anchor: str = "") -> str:
    url = reverse("mediation-party", args=[token])
    return f"{url}#{anchor}" if anchor else url


def _link_over_limit(token: str) -> bool:
    ident = hashlib.sha256(token.encode()).hexdigest()[:32]
    return limits.over_limit(f"mediation-link-posts:{ident}", LINK_POSTS_PER_HOUR, 3600)


def _party_forms(case: MediationCase, actor: Actor, acts: list[str], bound) -> dict:
    """The party's forms for the acts open to them now (a bound one replaces its blank)."""
    forms: dict = {}
    agreement = selectors.current_agreement(case)
    if "choose" in acts:
        mediators = serving_roster(case)
        recusal = selectors.recusal_map(mediators, case)
        cards = [mediator_card(m, recusal[m.pk]) for m in mediators]
        # Those who must withdraw last: still shown, with the reason.
        forms["roster"] = sorted(cards, key=lambda c: c["recused"])
        forms["choose"] = ChooseForm(case=case, actor=actor, mediators=mediators, recusal=recusal)
    if "sign" in acts and agreement is not None:
        forms["sign"] = SignForm(case=case, actor=actor, agreement=agreement, as_party=True)
    if "rate" in acts:
        forms["rate"] = RateForm(case=case, actor=actor)
    if bound is not None and bound.name in forms:
        forms[bound.name] = bound
    return forms


def _render_party(
    request,
    case: MediationCase,
    party: Party,
    token: str,
    *,
    bound=None,
    send_code_error: str = "",
    status: int = 200,
):
    actor = Actor(party=party)
    acts = services.available_acts(case, actor)
    agreement = selectors.current_agreement(case)
    view = _agreement_view(case, agreement)
    forms = _party_forms(case, actor, acts, bound)
    signed_current = bool(view and party.pk in view["state"].parties_signed)
    my_choices = list(party.choices.select_related("mediator").order_by("rank"))
    ranks = {c.mediator_id: c.rank for c in my_choices}
    for card in forms.get("roster", []):
        card["rank"] = ranks.get(card["id"])
    rating = case.ratings.filter(party=party).select_related("mediator").first()
    code = (
        OneTimeCode.objects.filter(party=party, used_at__isnull=True, expires_at__gt=timezone.now())
        .order_by("-created_at")
        .first()
    )
    grievance = case.grievance
    context = {
        "case": case,
        "party": party,
        "token": token,
        "grievance": grievance,
        "category": _category_name(grievance.category),
        "region_path": [r.name for r in grievance.region.get_ancestors(include_self=True)],
        "description": _hide_phones(grievance.description),
        "others": [p for p in case.parties.all() if p.pk != party.pk],
        "mediators": _mediators(case),
        "sessions": sorted(case.sessions.all(), key=lambda s: s.starts_at),
        "acts": acts,
        "forms": forms,
        "my_choices": my_choices,
        "agreement": view,
        "signed_current": signed_current,
        "can_send_code": "send_code" in acts and not signed_current and bool(party.phone),
        "code_pending": code,
        "masked_phone": _masked(party.phone),
        "send_code_error": send_code_error,
        "rating": rating,
        "open_act": bound.name if bound is not None else "",
        "printable": _printable(case) and view is not None and view["complete"],
        "referral_label": Referral(case.referral).label if case.referral else "",
        "outcome": _hide_phones(case.outcome),
    }
    response = render(request, "mediation/party.html", context, status=status)
    return _no_store(response)


def _masked(phone: str) -> str:
    return mask_sent_to(phone) if phone else ""


def _link_misses_response(request) -> HttpResponse:
    response = render(request, "mediation/link_limited.html", status=429)
    response["Retry-After"] = "3600"
    return _no_store(response)


@require_safe
def party_page(request, token: str):
    try:
        case, party = _party_case(token, request=request)
    except LinkMissesOverLimit:
        return _link_misses_response(request)
    return _render_party(request, case, party, token)


def _party_form(name: str, request, case, actor):
    if name == "choose":
        mediators = serving_roster(case)
        recusal = selectors.recusal_map(mediators, case)
        return ChooseForm(
            request.POST, case=case, actor=actor, mediators=mediators, recusal=recusal
        )
    if name == "sign":
        agreement = selectors.current_agreement(case)
        return SignForm(request.POST, case=case, actor=actor, agreement=agreement, as_party=True)
    return RateForm(request.POST, case=case, actor=actor)


PARTY_DONE = {
    "choose": ("choose", lambda: _("Your choice is recorded.")),
    "sign": ("agreement", lambda: _("You have signed the agreement.")),
    "rate": ("rate", lambda: _("Thank you for rating the mediator.")),
}


@require_POST
def party_act(request, token: str, name: str):
    if name not in PARTY_ACTS:
        raise Http404
    try:
        case, party = _party_case(token, request=request)
    except LinkMissesOverLimit:
        return _link_misses_response(request)
    actor = Actor(party=party)
    here = _party_url(token)
    if _link_over_limit(token):
        messages.error(request, _("Too many attempts. Please try again later."))
        return _no_store(_render_party(request, case, party, token, status=429))
    try:
        services.check(name, case, actor)
    except NotAllowed:
        raise PermissionDenied from None
    except WrongState as exc:
        return _moved_on(request, case, exc, here)

    if name == "send_code":
        try:
            otp = services.mediation_send_code(case, actor)
        except NotAllowed:
            raise PermissionDenied from None
        except WrongState as exc:
            return _moved_on(request, case, exc, here)
        except InvalidInput as exc:
            return _render_party(
                request, case, party, token, send_code_error=exc.message, status=400
            )
        messages.success(
            request,
            _("A code was sent to %(phone)s. It is valid until %(time)s.")
            % {"phone": otp.sent_to, "time": timezone.localtime(otp.expires_at).strftime("%H:%M")},
        )
        return redirect(_party_url(token, "sign"))

    form = _party_form(name, request, case, actor)
    if not form.is_valid():
        return _render_party(request, case, party, token, bound=form, status=400)
    try:
        if name == "choose":
            services.mediation_choose(case, actor, **form.arguments())
        elif name == "sign":
            services.mediation_sign(
                case, actor, ip=request.META.get("REMOTE_ADDR"), **form.arguments()
            )
        else:
            d = form.cleaned_data
            services.mediation_rate(case, actor, score=d["score"], comment=d["comment"])
    except NotAllowed:
        raise PermissionDenied from None
    except InvalidInput as exc:
        form.add_error(form.field_for(exc.field), exc.message)
        case, party = _party_case(token)
        return _render_party(request, case, party, token, bound=form, status=400)
    except WrongState as exc:
        case, party = _party_case(token)
        if name == "sign" and case.status in (CaseStatus.SCHEDULED, CaseStatus.IN_SESSION):
            # An older version, or signed meanwhile: the page shows the current version.
            fresh = SignForm(
                case=case,
                actor=Actor(party=party),
                agreement=selectors.current_agreement(case),
                as_party=True,
            )
            fresh.initial.update(
                {"typed_name": form.cleaned_data.get("typed_name", "")},
            )
            fresh.stale_message = exc.message
            return _render_party(request, case, party, token, bound=fresh, status=409)
        return _moved_on(request, case, exc, here)
    anchor, text = PARTY_DONE[name]
    messages.success(request, text())
    return redirect(_party_url(token, anchor))


# --- The mediator's and the centre's case page ----------------------------------------------------


def _staff_case(request, pk: int) -> MediationCase:
    qs = selectors.mediation_cases_for(request.user, _case_queryset())
    return get_object_or_404(qs, pk=pk)


def _is_staff(actor: Actor, case: MediationCase) -> bool:
    return (
        services.is_centre(actor, case)
        or services.is_mediator(actor, case)
        or services.appointment_of(actor, case) is not None
    )


def _staff_form(name: str, case, actor, data=None, files=None, agreement=None):
    cls = STAFF_FORMS[name]
    args = (data, files) if data is not None else ()
    if name == "choose":
        mediators = serving_roster(case)
        recusal = selectors.recusal_map(mediators, case)
        return ChooseForm(
            *args,
            case=case,
            actor=actor,
            mediators=mediators,
            recusal=recusal,
            for_party=False,
        )
    if name == "assign":
        return AssignForm(
            *args, case=case, actor=actor, candidates=selectors.assignment_candidates(case)
        )
    if name == "agreement":
        return cls(*args, case=case, actor=actor, agreement=agreement)
    if name == "sign":
        return SignForm(*args, case=case, actor=actor, agreement=agreement, as_party=False)
    return cls(*args, case=case, actor=actor)


def _staff_acts(case: MediationCase, actor: Actor, agreement, view) -> list[str]:
    names = [n for n in services.available_acts(case, actor) if n in STAFF_FORMS]
    if "sign" in names:
        appointment = services.appointment_of(actor, case)
        if (
            appointment is None
            or agreement is None
            or appointment.mediator_id in view["state"].mediators_signed
        ):
            names.remove("sign")
    if "choose" in names and not services.is_centre(actor, case):
        names.remove("choose")
    return names


STAFF_LABELS = {
    "choose": lambda: _("Enter a party's choice"),
    "assign": lambda: _("Assign a mediator (派单)"),
    "schedule": lambda: _("Schedule a session"),
    "record": lambda: _("Write a session record (笔录)"),
    "agreement": lambda: _("Draft the agreement (new version)"),
    "sign": lambda: _("Sign the agreement as mediator"),
    "settle": lambda: _("Settle"),
    "fail": lambda: _("Mediation failed"),
}


def _render_case(request, case: MediationCase, *, bound=None, status: int = 200):
    actor = Actor.of(request.user)
    agreement = selectors.current_agreement(case)
    view = _agreement_view(case, agreement)
    acts = []
    for name in _staff_acts(case, actor, agreement, view):
        form = bound if bound is not None and bound.name == name else None
        acts.append(
            {
                "name": name,
                "label": STAFF_LABELS[name](),
                "form": form or _staff_form(name, case, actor, agreement=agreement),
                "open": form is not None,
            }
        )
    centre = services.is_centre(actor, case)
    choices: dict[int, list] = {}
    if centre:
        for party in case.parties.all():
            choices[party.pk] = []
        rows = (
            PartyChoice.objects.filter(party__case=case)
            .select_related("mediator")
            .order_by("party_id", "rank")
        )
        for c in rows:
            choices.setdefault(c.party_id, []).append(c)
    grievance = case.grievance
    # The link to the case page only for those who read it there (a reporter is sent to
    # tracking).
    sees_case = cases_for(request.user, as_reporter=False).filter(pk=grievance.pk).exists()
    context = {
        "case": case,
        "grievance": grievance,
        "category": _category_name(grievance.category),
        "region_path": [r.name for r in grievance.region.get_ancestors(include_self=True)],
        "parties": [
            {
                "party": p,
                "choices": choices.get(p.pk, []),
                "id_masked": mask_id(p.id_number) if p.id_number else "",
            }
            for p in case.parties.all()
        ],
        "show_choices": centre,
        "show_phones": _is_staff(actor, case),
        "mediators": _mediators(case),
        "sessions": sorted(case.sessions.all(), key=lambda s: s.starts_at),
        "agreement": view,
        "versions": list(case.agreements.order_by("-version").only("version", "content_hash")),
        "acts": acts,
        "open_act": bound.name if bound is not None else "",
        "printable": _printable(case) and view is not None and view["complete"],
        "sees_case": sees_case,
        "referral_label": Referral(case.referral).label if case.referral else "",
    }
    return render(request, "mediation/case.html", context, status=status)


@login_required
@require_safe
def case_page(request, pk: int):
    case = _staff_case(request, pk)
    actor = Actor.of(request.user)
    party = services.acting_party(actor, case)
    if party is not None and not _is_staff(actor, case):
        # A party logged in: their own page (the same one their link opens).
        return redirect(_party_url(tokens.party_token(party)))
    return _render_case(request, case)


def _run_staff_act(name: str, case: MediationCase, actor: Actor, form, request) -> None:
    args = form.arguments()
    if name == "choose":
        services.mediation_choose(case, actor, **args)
    elif name == "assign":
        services.mediation_assign(case, actor, **args)
    elif name == "schedule":
        services.mediation_schedule(case, actor, **args)
    elif name == "record":
        services.mediation_record(case, actor, **args)
    elif name == "agreement":
        services.mediation_agreement(case, actor, **args)
    elif name == "sign":
        services.mediation_sign(case, actor, ip=request.META.get("REMOTE_ADDR"), **args)
    elif name == "fail":
        services.mediation_fail(case, actor, **args)
    elif name == "settle":
        _settle(case, actor, form, request.user)


def _settle(case: MediationCase, actor: Actor, form, user) -> None:
    """Settle; new scans are stored with the act (the act and the photos commit together)."""
    saved = []
    try:
        with transaction.atomic():
            for upload in form.uploads:
                try:
                    saved.append(save_upload(case.grievance, upload, user, public=False))
                except UploadError as exc:
                    raise InvalidInput(str(exc), field="attachments") from None
            services.mediation_settle(
                case,
                actor,
                paper_signed=form.cleaned_data["paper_signed"],
                attachments=[*form.chosen_attachments(), *saved],
            )
    except BaseException:
        # Rolled back: storage is not transactional, so remove the files too.
        for attachment in saved:
            for stored in (attachment.file, attachment.thumbnail):
                if stored and stored.name:
                    stored.storage.delete(stored.name)
        raise


STAFF_ANCHORS = {
    "choose": "parties",
    "assign": "mediators",
    "schedule": "sessions",
    "record": "sessions",
    "agreement": "agreement",
    "sign": "agreement",
    "settle": "outcome",
    "fail": "outcome",
}


@login_required
@require_POST
def case_act(request, pk: int, name: str):
    if name not in STAFF_FORMS:
        raise Http404
    case = _staff_case(request, pk)
    actor = Actor.of(request.user)
    here = reverse("mediation-case", args=[case.pk])
    try:
        services.check(name, case, actor)
    except NotAllowed:
        raise PermissionDenied from None
    except WrongState as exc:
        return _moved_on(request, case, exc, here)
    agreement = selectors.current_agreement(case)
    form = _staff_form(name, case, actor, request.POST, request.FILES, agreement=agreement)
    if not form.is_valid():
        return _render_case(request, case, bound=form, status=400)
    try:
        _run_staff_act(name, case, actor, form, request)
    except NotAllowed:
        raise PermissionDenied from None
    except WrongState as exc:
        return _moved_on(request, case, exc, here)
    except InvalidInput as exc:
        form.add_error(form.field_for(exc.field), exc.message)
        return _render_case(request, _staff_case(request, pk), bound=form, status=400)
    messages.success(request, _("Done: %(act)s.") % {"act": services.RULES[name].label})
    return redirect(f"{here}#{STAFF_ANCHORS[name]}")


# --- The printable agreement and its PDF -------------------------------------------------------


def _agreement_access(request, pk: int):
    """The case of a printable agreement: a party's link (?token=) or the staff's scope.
    Returns (case, token) or a response (login, 404)."""
    token = request.GET.get("token") or ""
    if token:
        case, _party = _party_case(token, pk)
        return case, token
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    return _staff_case(request, pk), ""


def _printable_context(request, pk: int):
    found = _agreement_access(request, pk)
    if isinstance(found, HttpResponse):
        return found
    case, token = found
    agreement = case.settled_agreement or selectors.current_agreement(case)
    if agreement is None:
        raise Http404
    data = selectors.agreement_context(agreement)
    if not data["fully_signed"] or not data["is_current"]:
        back = _party_url(token) if token else reverse("mediation-case", args=[case.pk])
        response = render(
            request,
            "mediation/agreement_unsigned.html",
            {"case": case, "data": data, "back": back},
            status=409,
        )
        return _no_store(response)
    data["facts"] = _hide_phones(case.grievance.description)
    data["total_display"] = money(data["total_amount"]) if data["total_amount"] else ""
    for term in data["terms"]:
        term["amount_display"] = money(term["amount"])
    for party in data["parties"]:
        party["id_masked"] = mask_id(party["id_number"]) if party["id_number"] else ""
    return case, token, data


@require_safe
def agreement_print(request, pk: int):
    found = _printable_context(request, pk)
    if isinstance(found, HttpResponse):
        return found
    case, token, data = found
    back = _party_url(token) if token else reverse("mediation-case", args=[case.pk])
    pdf_url = reverse("mediation-agreement-pdf", args=[case.pk])
    if token:
        pdf_url += f"?token={token}"
    context = {"case": case, "data": data, "back": back, "pdf_url": pdf_url}
    return _no_store(render(request, "mediation/agreement_print.html", context))


@require_safe
def agreement_pdf(request, pk: int):
    found = _printable_context(request, pk)
    if isinstance(found, HttpResponse):
        return found
    case, token, data = found
    try:
        content = pdf.render_agreement(data)
    except pdf.FontMissing:
        log.exception("agreement PDF of mediation case %s", case.pk)
        back = reverse("mediation-agreement", args=[case.pk])
        if token:
            back += f"?token={token}"
        response = render(
            request, "mediation/agreement_pdf_unavailable.html", {"back": back}, status=503
        )
        return _no_store(response)
    response = HttpResponse(content, content_type="application/pdf")
    code = re.sub(r"[^0-9A-Za-z-]", "", data["case_code"]) or str(case.pk)
    response["Content-Disposition"] = f'inline; filename="agreement-{code}-v{data["version"]}.pdf"'
    return _no_store(response)
