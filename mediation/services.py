"""Every write of mediation: one function per act (open, choose, assign, schedule, record,
agreement, send_code, sign, settle, fail, rate).

Each follows the order of the case services: check the actor (403) and the status (409) →
`transaction.atomic()` and lock the grievance, then the mediation case (always in this order,
the one grievances' own moves take, so two acts never wait on each other crosswise) → check
again under the lock → change, transition (django-fsm-2), save → write the CaseEvent on the
grievance with grievances.services.record, in the same transaction → messages on commit.

The mediation's outcome moves the grievance through grievances' services only
(grievance_mediate, grievance_mediation_settled, grievance_mediation_failed).

An actor is a logged-in user, a party using their personal link (mediation/tokens.py), or the
system (the sweep that assigns after the choice deadline).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.db.models import prefetch_related_objects
from django.dispatch import receiver
from django.utils import formats, timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, gettext_noop
from django_fsm import ConcurrentTransition, TransitionNotAllowed

from grids.scoping import sees_everything
from grievances import deadlines, sms
from grievances import selectors as case_selectors
from grievances import services as case_services
from grievances.labels import deferred
from grievances.models import Attachment, Grievance
from grievances.privacy import mask_sent_to
from grievances.services import InvalidInput, NotAllowed, WrongState
from mediation import selectors, tokens
from mediation.models import (
    CONCLUDED_STATUSES,
    OPEN_STATUSES,
    WORKING_STATUSES,
    Agreement,
    AgreementTerm,
    CaseMediator,
    CaseStatus,
    ChosenBy,
    MediationCase,
    Mediator,
    MediatorRating,
    MediatorRole,
    OneTimeCode,
    Party,
    PartyChoice,
    Referral,
    Session,
    Signature,
)

log = logging.getLogger(__name__)

MAX_CHOICES = 3
# What one request may carry: assisting mediators beside the lead, terms of an agreement.
MAX_ASSISTING = 10
MAX_TERMS = 30
CODE_TTL = timedelta(minutes=10)
CODE_MAX_ATTEMPTS = 5
CODE_RESEND_AFTER = timedelta(seconds=60)
CODES_PER_HOUR = 5
# Five codes an hour with five tries each would still let a script guess 600 times a day at
# a 6-digit code; wrong codes are also counted over all of a party's codes of the last day.
CODE_WRONG_WINDOW = timedelta(days=1)


def code_wrong_per_day() -> int:
    """Wrong codes a party may type in a day before signing with a code pauses."""
    return int(getattr(settings, "MEDIATION_CODE_WRONG_PER_DAY", 10))


def default_choice_days() -> int:
    """Working days the parties have to pick from the roster before the centre assigns."""
    return int(getattr(settings, "MEDIATION_CHOICE_DAYS", 3))


# --- Actors ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Actor:
    """Who acts: a user (logged in), a party through their link, or the system."""

    user: object | None = None
    party: Party | None = None
    system: bool = False

    @classmethod
    def of(cls, user=None, party: Party | None = None) -> Actor:
        return cls(user=user if _authenticated(user) else None, party=party)


SYSTEM = Actor(system=True)


def _authenticated(user) -> bool:
    return bool(user is not None and getattr(user, "is_authenticated", False))


def acting_party(actor: Actor, case: MediationCase) -> Party | None:
    """The party acting: the one of the link, else the party whose account is logged in."""
    if actor.party is not None:
        return actor.party if actor.party.case_id == case.pk else None
    if actor.user is None:
        return None
    for party in case.parties.all():
        if party.user_id == actor.user.pk:
            return party
    return None


def appointment_of(actor: Actor, case: MediationCase) -> CaseMediator | None:
    """The logged-in user's appointment on this case, when they are one of its mediators."""
    if actor.user is None:
        return None
    for appointment in case.appointments.all():
        if appointment.mediator.user_id == actor.user.pk:
            return appointment
    return None


def is_centre(actor: Actor, case: MediationCase) -> bool:
    return actor.user is not None and (
        sees_everything(actor.user) or case_services.is_centre(actor.user, case.grievance)
    )


def is_mediator(actor: Actor, case: MediationCase) -> bool:
    return appointment_of(actor, case) is not None or (
        actor.user is not None and sees_everything(actor.user)
    )


def is_party(actor: Actor, case: MediationCase) -> bool:
    return acting_party(actor, case) is not None


def _anyone(*checks: Callable[[Actor, MediationCase], bool]):
    return lambda actor, case: any(check(actor, case) for check in checks)


@dataclass(frozen=True)
class Rule:
    who: Callable[[Actor, MediationCase], bool]
    statuses: tuple[str, ...]
    label: str = ""


RULES: dict[str, Rule] = {
    # A party picks from the roster; the centre may enter a party's pick made at its window.
    "choose": Rule(
        _anyone(is_party, is_centre), (CaseStatus.CHOOSING,), gettext_lazy("Choose mediators")
    ),
    "assign": Rule(is_centre, (CaseStatus.CHOOSING,), gettext_lazy("Assign a mediator")),
    "schedule": Rule(
        _anyone(is_mediator, is_centre), WORKING_STATUSES, gettext_lazy("Schedule a session")
    ),
    "record": Rule(is_mediator, WORKING_STATUSES, gettext_lazy("Record a session")),
    "agreement": Rule(is_mediator, WORKING_STATUSES, gettext_lazy("Draft the agreement")),
    "send_code": Rule(is_party, WORKING_STATUSES, gettext_lazy("Send me a code")),
    "sign": Rule(
        _anyone(is_party, lambda a, c: appointment_of(a, c) is not None),
        WORKING_STATUSES,
        gettext_lazy("Sign the agreement"),
    ),
    "settle": Rule(_anyone(is_mediator, is_centre), WORKING_STATUSES, gettext_lazy("Settle")),
    "fail": Rule(_anyone(is_mediator, is_centre), OPEN_STATUSES, gettext_lazy("Mediation failed")),
    "rate": Rule(is_party, CONCLUDED_STATUSES, gettext_lazy("Rate the mediator")),
}


def _precondition(name: str, case: MediationCase, actor: Actor) -> str | None:
    """Why an act allowed in this status cannot run now, or None."""
    if name == "assign":
        return _assign_blocked(case, actor)
    if name in ("send_code", "sign", "settle") and not _has_agreement(case):
        return _("There is no agreement to sign yet.")
    if name == "rate":
        party = acting_party(actor, case)
        if selectors.lead_appointment(case) is None:
            return _("No mediator was appointed: there is no one to rate.")
        if party is not None and MediatorRating.objects.filter(case=case, party=party).exists():
            return _("You have already rated this mediation.")
    return None


def _has_agreement(case: MediationCase) -> bool:
    return case.agreements.exists()


def _assign_blocked(case: MediationCase, actor: Actor) -> str | None:
    """The centre assigns when the parties' choices found no common mediator, or once the
    choice deadline has passed; before that the parties are still choosing."""
    now = timezone.now()
    if case.choice_deadline is None or case.choice_deadline <= now:
        return None
    parties = list(case.parties.all())
    if not actor.system and parties and all(p.chose_at for p in parties):
        return None  # everyone chose, and no common choice (or it would be appointed)
    return _("The parties may choose their mediator until %(deadline)s.") % {
        "deadline": formats.date_format(timezone.localtime(case.choice_deadline), "DATETIME_FORMAT")
    }


def check(name: str, case: MediationCase, actor: Actor) -> None:
    """Raise NotAllowed (403) or WrongState (409) when `actor` may not do `name` now."""
    rule = RULES.get(name)
    if rule is None:
        raise InvalidInput(_("Unknown action."))
    if not actor.system and not rule.who(actor, case):
        raise NotAllowed(_("You may not do this in this mediation."))
    if case.status not in rule.statuses:
        raise WrongState(
            _("This mediation is %(status)s: it cannot be done now.")
            % {"status": case.get_status_display()},
            state=case.status,
        )
    problem = _precondition(name, case, actor)
    if problem:
        raise WrongState(problem, state=case.status)


def available_acts(case: MediationCase, actor: Actor) -> list[str]:
    names = []
    for name in RULES:
        try:
            check(name, case, actor)
        except case_services.CaseError:
            continue
        names.append(name)
    return names


def actor_label(actor: Actor, case: MediationCase) -> str | None:
    """For whom the actor acted (CaseEvent.actor_label); None lets grievances name a centre."""
    if actor.system:
        return case_services.SYSTEM_LABEL
    party = acting_party(actor, case)
    if party is not None and (actor.party is not None or not is_centre(actor, case)):
        return deferred(gettext_noop("Party %(name)s"), name=party.name)
    appointment = appointment_of(actor, case)
    if appointment is not None:
        return appointment.mediator.organisation.name
    return None


def org_label(case: MediationCase) -> str:
    """The organisation as saved with an event (see grievances.labels)."""
    return case.org.name if case.org_id else case_services.MEDIATION_LABEL


# --- The transaction pattern -------------------------------------------------------------------


def _lock(case: MediationCase) -> MediationCase:
    """Lock the grievance, then the mediation case, and re-read both. The caller checks the
    act again on the locked rows: a status that moved meanwhile (scheduled → in session)
    need not stop an act the new status still allows."""
    grievance = Grievance.objects.select_for_update().get(pk=case.grievance_id)
    locked = MediationCase.objects.select_for_update().get(pk=case.pk)
    # The related rows the checks read (the lock itself takes no joins, see grievances._run).
    grievance = Grievance.objects.select_related("category", "owning_centre", "region").get(
        pk=grievance.pk
    )
    locked.grievance = grievance
    return _with_people(locked)


def _with_people(case: MediationCase) -> MediationCase:
    prefetch_related_objects(
        [case], "parties", "appointments__mediator__organisation", "appointments__mediator__user"
    )
    return case


def _record(
    case: MediationCase,
    actor: Actor,
    action: str,
    *,
    note: str = "",
    public: bool = False,
    data: dict | None = None,
    label: str | None = None,
):
    grievance = case.grievance
    return case_services.record(
        grievance,
        actor.user,
        action,
        from_state=grievance.state,
        note=note,
        public=public,
        data={"mediation_case": case.pk, **(data or {})},
        actor_label=label if label is not None else actor_label(actor, case),
    )


def _atomic_act(
    case: MediationCase, actor: Actor, name: str, work: Callable[[MediationCase], object]
):
    """Check, lock, re-check, do the work (which saves and records): one act, one transaction."""
    check(name, case, actor)
    try:
        with transaction.atomic():
            locked = _lock(case)
            check(name, locked, _rebind(actor, locked))
            return work(locked)
    except (ConcurrentTransition, TransitionNotAllowed):
        fresh = MediationCase.objects.filter(pk=case.pk).values_list("status", flat=True).first()
        raise WrongState(_("This mediation has moved on."), state=fresh) from None


def _rebind(actor: Actor, locked: MediationCase) -> Actor:
    # The party of a link, re-read with the locked case, so checks see the fresh rows.
    if actor.party is None:
        return actor
    for party in locked.parties.all():
        if party.pk == actor.party.pk:
            return Actor(user=actor.user, party=party, system=actor.system)
    return actor


# --- Open (from the case's mediate act) -----------------------------------------------------------


@dataclass
class PartyData:
    name: str
    phone: str = ""
    id_number: str = ""
    household: str = ""
    work_unit: str = ""
    user: int | None = None


def _clean_parties(parties: Iterable) -> list[PartyData]:
    cleaned = []
    for raw in parties:
        data = raw if isinstance(raw, PartyData) else PartyData(**dict(raw))
        data.name = (data.name or "").strip()
        if not data.name:
            raise InvalidInput(_("Give every party's name."), field="parties")
        cleaned.append(data)
    if len(cleaned) < 2:
        raise InvalidInput(_("A mediation needs at least two parties."), field="parties")
    seen = set()
    for p in cleaned:
        key = (p.name, "".join(ch for ch in p.phone if ch.isdigit()))
        if key in seen:
            raise InvalidInput(_("%(name)s is named twice.") % {"name": p.name}, field="parties")
        seen.add(key)
    user_ids = {p.user for p in cleaned if p.user}
    if user_ids:
        found = set(get_user_model().objects.filter(pk__in=user_ids).values_list("pk", flat=True))
        if found != user_ids:
            raise InvalidInput(_("Unknown user account for a party."), field="parties")
    return cleaned


def mediation_open(
    grievance: Grievance,
    user,
    *,
    parties: Iterable,
    note: str = "",
    choice_days: int | None = None,
) -> Grievance:
    """The case's mediate act with its parties: the grievance goes to mediating and a
    mediation case opens in "choosing", each party with a personal link sent by SMS.

    `choice_days` working days to choose from the roster (MEDIATION_CHOICE_DAYS by default);
    0 when the centre appoints at once (a tea meeting convened on the spot).
    """
    case_services.check_act("mediate", grievance, user)
    cleaned = _clean_parties(parties)
    days = default_choice_days() if choice_days is None else choice_days
    if days < 0 or days > 30:
        raise InvalidInput(_("Give 0 to 30 working days to choose."), field="choice_days")
    if MediationCase.objects.filter(grievance=grievance).exists():
        raise WrongState(
            _("This dispute has been mediated before: refer it to a department or the court."),
            state=grievance.state,
        )

    def open_case(c: Grievance) -> dict:
        now = timezone.now()
        deadline = deadlines.add_days(c, now, days) if days else now
        case = MediationCase.objects.create(
            grievance=c, choice_deadline=deadline, created_by=user if _authenticated(user) else None
        )
        created = [
            Party.objects.create(
                case=case,
                name=p.name,
                phone=p.phone.strip(),
                id_number=p.id_number.strip(),
                household=p.household.strip(),
                work_unit=p.work_unit.strip(),
                user_id=p.user,
                position=i,
            )
            for i, p in enumerate(cleaned)
        ]
        for party in created:
            if party.phone:
                text = _(
                    "Mediation of case %(code)s: your personal link to choose your mediator, "
                    "sign the agreement and rate: %(link)s"
                ) % {"code": c.display_code, "link": tokens.party_link(party)}
                sms.send_sms_on_commit(party.phone, text)
        return {
            "mediation_case": case.pk,
            "parties": [p.name for p in created],
            "choice_deadline": deadline.isoformat(),
        }

    return case_services.grievance_mediate(grievance, user, note=note, open_case=open_case)


case_services.mediation_opener = mediation_open


# --- Choose (点单) and appoint --------------------------------------------------------------------


def _mediators_by_id(ids: list[int], field: str) -> list[Mediator]:
    found = Mediator.objects.select_related("organisation").in_bulk(ids)
    missing = [i for i in ids if i not in found]
    if missing:
        raise InvalidInput(
            _("Unknown mediator: %(ids)s.") % {"ids": ", ".join(map(str, missing))}, field=field
        )
    mediators = [found[i] for i in ids]
    inactive = [m for m in mediators if not m.active or not m.organisation.active]
    if inactive:
        raise InvalidInput(
            _("%(name)s is not on the roster now.") % {"name": inactive[0].name}, field=field
        )
    return mediators


def _refuse_recused(mediators: list[Mediator], case: MediationCase, field: str) -> None:
    """回避: refuse with the reasons when any of `mediators` has a conflict on `case`."""
    reasons = selectors.recusal_map(mediators, case)
    problems = [
        _("%(name)s must withdraw (回避): %(reasons)s")
        % {"name": m.name, "reasons": " ".join(reasons[m.pk])}
        for m in mediators
        if reasons[m.pk]
    ]
    if problems:
        raise InvalidInput("\n".join(problems), field=field)


def mediation_choose(
    case: MediationCase,
    actor: Actor,
    *,
    mediator_ids: list[int],
    party: Party | None = None,
) -> MediationCase:
    """A party picks up to three mediators from the roster, best first (点单式调解).

    Refused with the reason when one must withdraw (回避). A party may choose again until
    the appointment. Once every party has chosen, the mediator all of them chose is
    appointed (the best combined rank); with none in common the centre assigns.
    """
    check("choose", case, actor)
    chooser = acting_party(actor, case)
    if chooser is None:
        # The centre enters a party's choice made at its window.
        if party is None or party.case_id != case.pk:
            raise InvalidInput(_("Name the party who chose."), field="party")
        chooser = party
    ids = list(mediator_ids or [])
    if not ids:
        raise InvalidInput(_("Choose at least one mediator."), field="mediators")
    if len(ids) > MAX_CHOICES:
        raise InvalidInput(
            _("Choose at most %(n)s mediators.") % {"n": MAX_CHOICES}, field="mediators"
        )
    if len(set(ids)) != len(ids):
        raise InvalidInput(_("A mediator is named twice."), field="mediators")
    mediators = _mediators_by_id(ids, "mediators")
    region = case.grievance.region
    serving = set(
        Mediator.objects.filter(selectors.serving_q(region), pk__in=ids).values_list(
            "pk", flat=True
        )
    )
    outside = [m for m in mediators if m.pk not in serving]
    if outside:
        raise InvalidInput(
            _("%(name)s does not serve %(region)s.")
            % {"name": outside[0].name, "region": region.name},
            field="mediators",
        )
    _refuse_recused(mediators, case, "mediators")
    on_behalf = actor.party is None and not (actor.user and chooser.user_id == actor.user.pk)

    def work(locked: MediationCase) -> MediationCase:
        who = next(p for p in locked.parties.all() if p.pk == chooser.pk)
        PartyChoice.objects.filter(party=who).delete()
        now = timezone.now()
        PartyChoice.objects.bulk_create(
            [
                PartyChoice(party=who, mediator=m, rank=rank, created_at=now)
                for rank, m in enumerate(mediators, start=1)
            ]
        )
        who.chose_at = now
        who.save(update_fields=["chose_at"])
        _record(
            locked,
            actor,
            "mediation_choose",
            note=_("%(party)s chose: %(names)s")
            % {"party": who.name, "names": ", ".join(m.name for m in mediators)},
            data={
                "party": who.pk,
                "mediators": [m.pk for m in mediators],
                "on_behalf": on_behalf,
            },
        )
        if all(p.chose_at for p in locked.parties.all()):
            _appoint_common_choice(locked, actor)
        return locked

    return _atomic_act(case, actor, "choose", work)


def common_choice(case: MediationCase) -> Mediator | None:
    """The mediator every party chose, the best combined rank first; ties go to the one
    whose worst rank is best, then to the least loaded. Recused ones are skipped (a conflict
    may have been declared after the choice)."""
    parties = list(case.parties.all())
    choices = list(PartyChoice.objects.filter(party__case=case).select_related("mediator"))
    by_mediator: dict[int, dict[int, int]] = {}
    for c in choices:
        by_mediator.setdefault(c.mediator_id, {})[c.party_id] = c.rank
    common = [mid for mid, ranks in by_mediator.items() if len(ranks) == len(parties)]
    if not common:
        return None
    mediators = list(selectors.with_figures(Mediator.objects.filter(pk__in=common, active=True)))
    reasons = selectors.recusal_map(mediators, case, parties)
    mediators = [m for m in mediators if not reasons[m.pk]]
    if not mediators:
        return None
    mediators.sort(
        key=lambda m: (
            sum(by_mediator[m.pk].values()),
            max(by_mediator[m.pk].values()),
            m.open_cases,
            m.pk,
        )
    )
    return mediators[0]


def _appoint_common_choice(locked: MediationCase, actor: Actor) -> None:
    chosen = common_choice(locked)
    if chosen is None:
        _record(
            locked,
            actor,
            "mediation_no_common_choice",
            note=_("The parties chose no mediator in common: the centre assigns one."),
        )
        return
    _appoint(
        locked, actor, chosen, [], ChosenBy.PARTIES, label=deferred(gettext_noop("Parties' choice"))
    )


def _appoint(
    locked: MediationCase,
    actor: Actor,
    lead: Mediator,
    assisting: list[Mediator],
    chosen_by: str,
    *,
    label: str | None = None,
    note: str = "",
) -> None:
    now = timezone.now()
    CaseMediator.objects.create(
        case=locked, mediator=lead, role=MediatorRole.LEAD, appointed_at=now
    )
    for m in assisting:
        CaseMediator.objects.create(
            case=locked, mediator=m, role=MediatorRole.ASSISTING, appointed_at=now
        )
    locked.org = lead.organisation
    locked.chosen_by = chosen_by
    locked.appointed_at = now
    locked.appoint()
    locked.save()
    _with_people_refresh(locked)
    names = ", ".join([lead.name, *(m.name for m in assisting)])
    _record(
        locked,
        actor,
        "mediation_appoint",
        note=note
        or _("Mediator: %(names)s (%(org)s)") % {"names": names, "org": lead.organisation},
        public=True,
        data={
            "lead": lead.pk,
            "assisting": [m.pk for m in assisting],
            "org": lead.organisation.name,
            "chosen_by": chosen_by,
        },
        label=label,
    )
    phone = lead.contact_phone
    if phone:
        sms.send_sms_on_commit(
            phone,
            _("You are appointed to mediate case %(code)s (%(title)s).")
            % {"code": locked.grievance.display_code, "title": locked.grievance.title},
        )


def _with_people_refresh(case: MediationCase) -> None:
    # The appointments changed: drop the prefetched ones so checks and labels see them.
    cache = getattr(case, "_prefetched_objects_cache", {})
    cache.pop("appointments", None)
    _with_people(case)


# --- Assign (派单) --------------------------------------------------------------------------------


def mediation_assign(
    case: MediationCase,
    actor: Actor,
    *,
    mediator: Mediator | None = None,
    assisting: Iterable[Mediator] = (),
    note: str = "",
) -> MediationCase:
    """The centre assigns a mediator when the parties found none in common or the choice
    deadline has passed; without a named one, the best by dispute type (its organisation's
    kind or a specialty), not recused, least loaded. Assisting mediators may join."""
    check("assign", case, actor)
    assisting = list(assisting)
    if mediator is None:
        candidates = selectors.assignment_candidates(case)
        if not candidates:
            raise InvalidInput(
                _("No mediator on the roster fits this dispute: name one."), field="mediator"
            )
        mediator = candidates[0]
    team = [mediator, *assisting]
    if len({m.pk for m in team}) != len(team):
        raise InvalidInput(_("A mediator is named twice."), field="assisting")
    for field, group in (("mediator", [mediator]), ("assisting", assisting)):
        for m in group:
            if not m.active or not m.organisation.active:
                raise InvalidInput(
                    _("%(name)s is not on the roster now.") % {"name": m.name}, field=field
                )
        _refuse_recused(group, case, field)

    def work(locked: MediationCase) -> MediationCase:
        label = case_services.SYSTEM_LABEL if actor.system else None
        _appoint(locked, actor, mediator, assisting, ChosenBy.CENTRE, label=label, note=note)
        return locked

    return _atomic_act(case, actor, "assign", work)


def assign_overdue(case_id: int) -> str:
    """The sweep's assignment of one case past its choice deadline: "assigned", "skipped"
    (no longer due) or "no_mediator" (recorded once, then left to the centre)."""
    case = (
        MediationCase.objects.select_related("grievance__category", "grievance__region")
        .filter(pk=case_id, status=CaseStatus.CHOOSING, auto_assign_failed_at__isnull=True)
        .first()
    )
    if case is None or case.choice_deadline is None or case.choice_deadline > timezone.now():
        return "skipped"
    _with_people(case)
    try:
        mediation_assign(case, SYSTEM)
    except InvalidInput as exc:
        with transaction.atomic():
            claimed = MediationCase.objects.filter(
                pk=case.pk, status=CaseStatus.CHOOSING, auto_assign_failed_at__isnull=True
            ).update(auto_assign_failed_at=timezone.now())
            if claimed:
                locked = _lock(case)
                _record(locked, SYSTEM, "mediation_no_mediator", note=exc.message)
        return "no_mediator"
    except (WrongState, NotAllowed):
        return "skipped"
    return "assigned"


# --- Sessions -----------------------------------------------------------------------------------


def mediation_schedule(
    case: MediationCase,
    actor: Actor,
    *,
    starts_at: datetime | None,
    place: str = "",
    online: bool = False,
    online_link: str = "",
    participants: str = "",
) -> Session:
    """A session: a time and a place, or online (云调解); the parties hear of it by SMS."""
    check("schedule", case, actor)
    if starts_at is None:
        raise InvalidInput(_("Give the time of the session."), field="starts_at")
    if not online and not (place or "").strip():
        raise InvalidInput(_("Give the place, or hold it online."), field="place")

    def work(locked: MediationCase) -> Session:
        session = Session.objects.create(
            case=locked,
            starts_at=starts_at,
            place=place.strip(),
            online=online,
            online_link=online_link.strip(),
            participants=participants.strip(),
            created_by=actor.user,
        )
        when = formats.date_format(timezone.localtime(starts_at), "DATETIME_FORMAT")
        where = place.strip() or _("online")
        _record(
            locked,
            actor,
            "mediation_schedule",
            note=_("Session on %(when)s, %(where)s") % {"when": when, "where": where},
            public=True,
            data={"session": session.pk, "starts_at": starts_at.isoformat(), "online": online},
        )
        for party in locked.parties.all():
            if party.phone:
                sms.send_sms_on_commit(
                    party.phone,
                    _("Mediation of case %(code)s: session on %(when)s, %(where)s.")
                    % {"code": locked.grievance.display_code, "when": when, "where": where},
                )
        return session

    return _atomic_act(case, actor, "schedule", work)


def mediation_record(
    case: MediationCase,
    actor: Actor,
    *,
    record: str,
    session: Session | None = None,
    participants: str = "",
    place: str = "",
) -> Session:
    """The session's record (调解笔录). Without a scheduled session (a mediation convened on
    the spot, e.g. at a tea meeting) the record makes one, now."""
    check("record", case, actor)
    if not (record or "").strip():
        raise InvalidInput(_("Write the record."), field="record")
    if session is not None and session.case_id != case.pk:
        raise InvalidInput(_("Unknown session for this mediation."), field="session")

    def work(locked: MediationCase) -> Session:
        now = timezone.now()
        target = session or Session(
            case=locked, starts_at=now, place=place.strip(), created_by=actor.user
        )
        target.record = record.strip()
        target.recorded_at = now
        if participants.strip():
            target.participants = participants.strip()
        target.save()
        locked.begin_session()
        locked.save()
        _record(
            locked,
            actor,
            "mediation_record",
            note=_("Session record written."),
            data={"session": target.pk},
        )
        return target

    return _atomic_act(case, actor, "record", work)


# --- The agreement ------------------------------------------------------------------------------


@dataclass
class TermData:
    obligation: str
    obligor: int | None = None
    amount: Decimal | str | None = None
    due_date: date | str | None = None
    instalment: int | None = None


def _clean_terms(terms: Iterable, case: MediationCase) -> list[TermData]:
    party_ids = {p.pk for p in case.parties.all()}
    cleaned = []
    for i, raw in enumerate(terms, start=1):
        t = raw if isinstance(raw, TermData) else TermData(**dict(raw))
        where = _("Term %(n)s: ") % {"n": i}
        t.obligation = (t.obligation or "").strip()
        if not t.obligation:
            raise InvalidInput(where + _("say what is owed."), field="terms")
        if t.obligor is not None and t.obligor not in party_ids:
            raise InvalidInput(where + _("the obligor must be a party."), field="terms")
        if t.amount not in (None, ""):
            try:
                t.amount = Decimal(str(t.amount)).quantize(Decimal("0.01"))
            except InvalidOperation:
                raise InvalidInput(
                    where + _("the amount is not a number."), field="terms"
                ) from None
            if t.amount < 0:
                raise InvalidInput(where + _("the amount cannot be negative."), field="terms")
        else:
            t.amount = None
        if isinstance(t.due_date, str):
            try:
                t.due_date = date.fromisoformat(t.due_date) if t.due_date else None
            except ValueError:
                raise InvalidInput(
                    where + _("give the date as YYYY-MM-DD."), field="terms"
                ) from None
        if t.instalment is not None and t.instalment < 1:
            raise InvalidInput(where + _("instalments count from 1."), field="terms")
        cleaned.append(t)
    return cleaned


def mediation_agreement(
    case: MediationCase, actor: Actor, *, text: str = "", terms: Iterable = ()
) -> Agreement:
    """A new version of the agreement (调解协议书): its terms (who owes what, how much, by
    when, which instalment) and free text. The signatures of older versions stop counting:
    everyone signs the new one."""
    check("agreement", case, actor)
    cleaned = _clean_terms(terms, case)
    if not cleaned and not (text or "").strip():
        raise InvalidInput(_("Write the terms or the text of the agreement."), field="terms")

    def work(locked: MediationCase) -> Agreement:
        last = locked.agreements.order_by("-version").values_list("version", flat=True).first()
        agreement = Agreement(
            case=locked, version=(last or 0) + 1, text=(text or "").strip(), created_by=actor.user
        )
        parties = {p.pk: p for p in locked.parties.all()}
        rows = [
            AgreementTerm(
                position=i,
                obligor=parties.get(t.obligor) if t.obligor else None,
                obligation=t.obligation,
                amount=t.amount,
                due_date=t.due_date,
                instalment=t.instalment,
            )
            for i, t in enumerate(cleaned, start=1)
        ]
        agreement.content_hash = agreement.compute_hash(rows)
        agreement.save()
        for row in rows:
            row.agreement = agreement
        AgreementTerm.objects.bulk_create(rows)
        _record(
            locked,
            actor,
            "mediation_agreement",
            note=_("Agreement version %(v)s (%(n)s terms).")
            % {"v": agreement.version, "n": len(rows)},
            data={"version": agreement.version, "sha256": agreement.content_hash},
        )
        return agreement

    return _atomic_act(case, actor, "agreement", work)


# --- Signing -------------------------------------------------------------------------------------


def mediation_send_code(case: MediationCase, actor: Actor) -> OneTimeCode:
    """A one-time code to sign, by SMS to the party's phone; valid 10 minutes. A new code
    replaces the one before; at most one a minute and five an hour."""
    check("send_code", case, actor)
    party = acting_party(actor, case)
    if not party.phone:
        raise InvalidInput(
            _("There is no phone number for you: sign on paper with the mediator."),
            field="non_field_errors",
        )

    def work(locked: MediationCase) -> OneTimeCode:
        now = timezone.now()
        # Lock the party's row: two requests at once must not both pass the limits.
        who = Party.objects.select_for_update().get(pk=party.pk)
        recent = list(
            OneTimeCode.objects.filter(party=who, created_at__gt=now - timedelta(hours=1))
            .order_by("-created_at")
            .values_list("created_at", flat=True)
        )
        if recent and now - recent[0] < CODE_RESEND_AFTER:
            raise InvalidInput(_("Wait a minute before asking for a new code."), field="code")
        if len(recent) >= CODES_PER_HOUR:
            raise InvalidInput(_("Too many codes this hour: try again later."), field="code")
        paused = _code_paused_until(who, now)
        if paused is not None:
            raise InvalidInput(_code_pause_message(paused), field="code")
        OneTimeCode.objects.filter(party=who, used_at__isnull=True, expires_at__gt=now).update(
            expires_at=now
        )
        code = tokens.new_code()
        otp = OneTimeCode.objects.create(
            party=who,
            code_hash=tokens.code_hash(who.pk, code),
            expires_at=now + CODE_TTL,
            created_at=now,
        )
        _record(
            locked,
            actor,
            "mediation_code_sent",
            note=_("Signing code sent to %(phone)s.") % {"phone": mask_sent_to(who.phone)},
            data={"party": who.pk},
        )
        sms.send_sms_on_commit(
            who.phone,
            _(
                "Your code to sign the mediation agreement of case %(code)s: %(otp)s. "
                "Valid for 10 minutes; do not share it."
            )
            % {"code": locked.grievance.display_code, "otp": code},
        )
        otp.sent_to = mask_sent_to(who.phone)
        return otp

    return _atomic_act(case, actor, "send_code", work)


def _normal_name(name: str) -> str:
    return "".join((name or "").split()).casefold()


def _code_paused_until(party: Party, now: datetime) -> datetime | None:
    """When the party may sign with a code again after too many wrong codes in the last day
    (over all their codes); None if they may now. A code's wrong tries count from when it
    was sent, so the pause ends when enough of the oldest codes have left the day."""
    rows = list(
        OneTimeCode.objects.filter(
            party=party, created_at__gt=now - CODE_WRONG_WINDOW, attempts__gt=0
        )
        .order_by("created_at", "id")
        .values_list("created_at", "attempts")
    )
    limit = code_wrong_per_day()
    wrong = sum(attempts for _sent, attempts in rows)
    if wrong < limit:
        return None
    for sent, attempts in rows:
        wrong -= attempts
        if wrong < limit:
            return sent + CODE_WRONG_WINDOW
    return None


def _code_pause_message(until: datetime) -> str:
    return _(
        "Too many wrong codes: signing with a code is paused until %(time)s. "
        "Your mediator can help you sign in person."
    ) % {"time": timezone.localtime(until).strftime("%Y-%m-%d %H:%M")}


def _use_code(party: Party, code: str) -> str | None:
    """Check and use the party's latest code; a wrong one counts an attempt. Returns the
    problem (for a 400) or None. Runs inside the sign transaction; the caller commits the
    counted attempt before raising."""
    now = timezone.now()
    otp = (
        OneTimeCode.objects.select_for_update()
        .filter(party=party, used_at__isnull=True)
        .order_by("-created_at", "-id")
        .first()
    )
    if otp is None:
        return _("Ask for a code first.")
    paused = _code_paused_until(party, now)
    if paused is not None:
        return _code_pause_message(paused)
    if otp.expires_at <= now:
        return _("This code has expired: ask for a new one.")
    if otp.attempts >= CODE_MAX_ATTEMPTS:
        return _("Too many wrong codes: ask for a new one.")
    if not tokens.code_matches(party.pk, code or "", otp.code_hash):
        otp.attempts += 1
        otp.save(update_fields=["attempts"])
        paused = _code_paused_until(party, now)
        if paused is not None:
            return _code_pause_message(paused)
        left = CODE_MAX_ATTEMPTS - otp.attempts
        if left <= 0:
            return _("Wrong code. Too many wrong codes: ask for a new one.")
        return _("Wrong code: %(n)s tries left.") % {"n": left}
    otp.used_at = now
    otp.save(update_fields=["used_at"])
    return None


def mediation_sign(
    case: MediationCase,
    actor: Actor,
    *,
    version: int,
    sha256: str,
    typed_name: str,
    code: str = "",
    ip: str | None = None,
) -> Signature:
    """Sign the current version "face to face on screen" (云调解).

    A party signs through their link or logged in, with the one-time code sent to their
    phone, their name typed as on the case, the version number and the SHA-256 they were
    shown; a mediator of the case signs logged in. A signature on an older version is
    refused (409). Once every party and the lead mediator have signed the current version
    the mediation is settled and the case handled, in the same transaction.
    """
    check("sign", case, actor)
    party = acting_party(actor, case)
    appointment = None if party is not None else appointment_of(actor, case)
    current = case.agreements.order_by("-version").first()
    _check_signable(current, version, sha256, case.status)
    expected = party.name if party is not None else appointment.mediator.name
    if _normal_name(typed_name) != _normal_name(expected):
        raise InvalidInput(_("Type your name as it stands on the agreement."), field="typed_name")
    if party is not None and not (code or "").strip():
        raise InvalidInput(_("Enter the code sent to your phone."), field="code")

    problem = None
    try:
        with transaction.atomic():
            locked = _lock(case)
            bound = _rebind(actor, locked)
            check("sign", locked, bound)
            agreement = (
                locked.agreements.order_by("-version").prefetch_related("signatures").first()
            )
            _check_signable(agreement, version, sha256, locked.status)
            signer = {"party_id": party.pk} if party else {"mediator_id": appointment.mediator_id}
            if Signature.objects.filter(agreement=agreement, **signer).exists():
                raise WrongState(
                    _("You have already signed version %(v)s.") % {"v": agreement.version},
                    state=locked.status,
                )
            if party is not None:
                problem = _use_code(party, code)
            if problem is None:
                signature = Signature.objects.create(
                    agreement=agreement,
                    version=agreement.version,
                    sha256=agreement.content_hash,
                    typed_name=typed_name.strip(),
                    ip=ip or None,
                    user=actor.user,
                    via_link=actor.party is not None,
                    **signer,
                )
                _record(
                    locked,
                    bound,
                    "mediation_sign",
                    note=_("%(name)s signed version %(v)s of the agreement.")
                    % {"name": expected, "v": agreement.version},
                    public=True,
                    data={"version": agreement.version, "sha256": agreement.content_hash},
                )
                agreement = Agreement.objects.prefetch_related("signatures", "terms__obligor").get(
                    pk=agreement.pk
                )
                if selectors.signature_state(locked, agreement).complete:
                    _settle(locked, bound, agreement)
    except (ConcurrentTransition, TransitionNotAllowed):
        fresh = MediationCase.objects.filter(pk=case.pk).values_list("status", flat=True).first()
        raise WrongState(_("This mediation has moved on."), state=fresh) from None
    if problem is not None:
        # Raised after the commit: the wrong attempt stays counted.
        raise InvalidInput(problem, field="code")
    return signature


def _check_signable(agreement: Agreement | None, version: int, sha256: str, status: str) -> None:
    if agreement is None:
        raise WrongState(_("There is no agreement to sign yet."), state=status)
    if version != agreement.version:
        # An older version (or one not written yet) is a conflict with the current state.
        raise WrongState(
            _("Version %(v)s is not the current one: read version %(current)s and sign it.")
            % {"v": version, "current": agreement.version},
            state=status,
        )
    if (sha256 or "").strip().lower() != agreement.content_hash:
        raise InvalidInput(
            _("The fingerprint does not match the current agreement: reload it."), field="sha256"
        )


def settlement_note(agreement: Agreement) -> str:
    """The agreement summed up for the case's result: its version and each term."""
    lines = [
        _("Settled by mediation: agreement version %(v)s, SHA-256 %(hash)s.")
        % {"v": agreement.version, "hash": agreement.content_hash[:16]}
    ]
    for t in agreement.terms.all():
        parts = [t.obligation]
        if t.amount is not None:
            parts.append(_("%(amount)s yuan") % {"amount": f"{t.amount:,.2f}"})
        if t.due_date:
            parts.append(_("by %(date)s") % {"date": t.due_date.isoformat()})
        if t.instalment:
            parts.append(_("instalment %(n)s") % {"n": t.instalment})
        who = f"{t.obligor.name}: " if t.obligor_id else ""
        lines.append(f"{t.position}. {who}{'; '.join(parts)}")
    if agreement.text:
        lines.append(agreement.text)
    return "\n".join(lines)


def _settle(
    locked: MediationCase,
    actor: Actor,
    agreement: Agreement,
    *,
    attachments: Iterable[Attachment] = (),
    paper: bool = False,
) -> None:
    note = settlement_note(agreement)
    locked.settle()
    locked.settled_agreement = agreement
    locked.outcome = note
    locked.closed_at = timezone.now()
    locked.save()
    locked.grievance = case_services.grievance_mediation_settled(
        locked.grievance,
        agreement_note=note,
        attachments=attachments,
        user=actor.user,
        actor_label=org_label(locked),
        data={
            "mediation_case": locked.pk,
            "agreement_version": agreement.version,
            "sha256": agreement.content_hash,
            "signed_on_paper": paper,
        },
    )


def mediation_settle(
    case: MediationCase,
    actor: Actor,
    *,
    paper_signed: bool = False,
    attachments: Iterable[Attachment] = (),
) -> MediationCase:
    """Settle on the current agreement: signed online by every party and the lead mediator
    (settling then happens by itself; this act is for a retry), or signed on paper, with the
    scans of the signed paper as the evidence."""
    check("settle", case, actor)
    attachments = list(attachments)
    agreement = (
        case.agreements.order_by("-version")
        .prefetch_related("signatures", "terms__obligor")
        .first()
    )
    state = selectors.signature_state(case, agreement)
    if not state.complete and not paper_signed:
        missing = [p.name for p in state.missing_parties]
        if not state.lead_signed:
            missing.append(_("the lead mediator"))
        raise WrongState(
            _("Version %(v)s is not signed by everyone yet: %(missing)s.")
            % {"v": agreement.version, "missing": ", ".join(missing)},
            state=case.status,
        )
    if not state.complete and not attachments:
        raise InvalidInput(
            _("Attach the scans or photos of the agreement signed on paper."), field="attachments"
        )
    wrong = [a for a in attachments if a.grievance_id != case.grievance_id]
    if wrong:
        raise InvalidInput(_("Unknown attachment for this case."), field="attachments")

    def work(locked: MediationCase) -> MediationCase:
        fresh = (
            locked.agreements.order_by("-version")
            .prefetch_related("signatures", "terms__obligor")
            .first()
        )
        if fresh.pk != agreement.pk:
            raise WrongState(_("The agreement has a new version meanwhile."), state=locked.status)
        complete = selectors.signature_state(locked, fresh).complete
        _settle(locked, actor, fresh, attachments=attachments, paper=not complete)
        return locked

    return _atomic_act(case, actor, "settle", work)


# --- Failure (诉调对接) ---------------------------------------------------------------------------


def mediation_fail(
    case: MediationCase, actor: Actor, *, record: str, referral: str = ""
) -> MediationCase:
    """The mediation failed: the record says why; the case goes back to the centre
    (accepted) to be referred to the owning department or the court (诉调对接)."""
    check("fail", case, actor)
    if not (record or "").strip():
        raise InvalidInput(_("Write why the mediation failed."), field="record")
    if referral not in Referral.values:
        raise InvalidInput(_("Refer to a department or the court."), field="referral")

    def work(locked: MediationCase) -> MediationCase:
        locked.fail()
        locked.outcome = record.strip()
        locked.referral = referral
        locked.closed_at = timezone.now()
        locked.save()
        note = _("Mediation failed: %(record)s") % {"record": record.strip()}
        if referral:
            note += "\n" + _("Referred on (诉调对接): %(where)s.") % {
                "where": Referral(referral).label
            }
        locked.grievance = case_services.grievance_mediation_failed(
            locked.grievance,
            record_note=note,
            user=actor.user,
            # A mediator fails it for their organisation; the centre as the centre.
            actor_label=actor_label(actor, locked) or (None if actor.user else org_label(locked)),
            data={"mediation_case": locked.pk, "referral": referral},
        )
        return locked

    return _atomic_act(case, actor, "fail", work)


# --- Rating (评单) --------------------------------------------------------------------------------


def mediation_rate(
    case: MediationCase, actor: Actor, *, score: int, comment: str = ""
) -> MediatorRating:
    """Each party rates the lead mediator once, after the mediation settled or failed."""
    check("rate", case, actor)
    if not isinstance(score, int) or not 1 <= score <= 5:
        raise InvalidInput(_("Give a score from 1 to 5."), field="score")
    party = acting_party(actor, case)

    def work(locked: MediationCase) -> MediatorRating:
        lead = selectors.lead_appointment(locked)
        try:
            with transaction.atomic():
                rating = MediatorRating.objects.create(
                    case=locked,
                    party_id=party.pk,
                    mediator_id=lead.mediator_id,
                    score=score,
                    comment=(comment or "").strip(),
                )
        except IntegrityError:
            raise WrongState(
                _("You have already rated this mediation."), state=locked.status
            ) from None
        _record(
            locked,
            _rebind(actor, locked),
            "mediation_rate",
            note=(comment or "").strip(),
            data={"party": party.pk, "mediator": lead.mediator_id, "score": score},
        )
        return rating

    return _atomic_act(case, actor, "rate", work)


# --- Follow-up on performance ---------------------------------------------------------------------


def remind_term(term_id: int) -> bool:
    """Remind the lead mediator of a term falling due (once: the row is claimed)."""
    now = timezone.now()
    with transaction.atomic():
        claimed = AgreementTerm.objects.filter(pk=term_id, reminded_at__isnull=True).update(
            reminded_at=now
        )
        if not claimed:
            return False
        term = AgreementTerm.objects.select_related(
            "agreement__case__grievance", "agreement__case__org", "obligor"
        ).get(pk=term_id)
        case = _with_people(term.agreement.case)
        lead = selectors.lead_appointment(case)
        text = _(
            "Case %(code)s: term %(n)s of the mediation agreement is due on %(date)s: "
            "%(who)s%(what)s. Please follow up."
        ) % {
            "code": case.grievance.display_code,
            "n": term.position,
            "date": term.due_date.isoformat() if term.due_date else "",
            "who": f"{term.obligor.name}: " if term.obligor_id else "",
            "what": term.obligation,
        }
        case_services.record(
            case.grievance,
            None,
            "mediation_term_due",
            from_state=case.grievance.state,
            note=text,
            data={"mediation_case": case.pk, "term": term.pk},
            actor_label=case_services.SYSTEM_LABEL,
        )
        if lead is not None:
            mediator = lead.mediator
            if mediator.contact_phone:
                sms.send_sms_on_commit(mediator.contact_phone, text)
            email = mediator.user.email if mediator.user_id else ""
            if email:
                transaction.on_commit(lambda: _send_mail(email, text))
    return True


def _send_mail(address: str, text: str) -> None:
    from django.core.mail import send_mail

    try:
        send_mail(_("Mediation agreement: a term is due"), text, None, [address])
    except Exception:  # noqa: BLE001 - any mail error: the SMS and the timeline stand
        log.exception("could not e-mail a term reminder")


# --- Keeping the mediation in step with the case --------------------------------------------------


@receiver(case_services.case_event)
def follow_case(sender, grievance: Grievance, event, **kwargs) -> None:
    """Runs inside the case's transaction: a case withdrawn by its reporter ends its open
    mediation (the grievance row is locked already: same order as our acts)."""
    if event.action != "withdraw":
        return
    case = (
        MediationCase.objects.select_for_update()
        .filter(grievance=grievance, status__in=OPEN_STATUSES)
        .first()
    )
    if case is None:
        return
    case.withdraw()
    case.closed_at = timezone.now()
    case.save()


# What the timeline calls our events (public ones are shown to the reporter as well).
MEDIATION_EVENT_LABELS = {
    "mediation_choose": gettext_lazy("A party chose mediators"),
    "mediation_no_common_choice": gettext_lazy("No mediator chosen in common"),
    "mediation_appoint": gettext_lazy("Mediator appointed"),
    "mediation_no_mediator": gettext_lazy("No mediator could be assigned"),
    "mediation_schedule": gettext_lazy("Mediation session scheduled"),
    "mediation_record": gettext_lazy("Mediation session recorded"),
    "mediation_agreement": gettext_lazy("Mediation agreement drafted"),
    "mediation_code_sent": gettext_lazy("Signing code sent"),
    "mediation_sign": gettext_lazy("Mediation agreement signed"),
    "mediation_settled": gettext_lazy("Settled by mediation"),
    "mediation_failed": gettext_lazy("Mediation failed"),
    "mediation_rate": gettext_lazy("Mediator rated"),
    "mediation_term_due": gettext_lazy("Agreement term due"),
}
case_selectors.EVENT_LABELS.update(MEDIATION_EVENT_LABELS)
# Public tracking shows them by label and time only: their notes name the parties (who
# signed) and the mediators, and hold the terms; the parties read those on their own pages.
case_selectors.NOTES_WITHHELD.update(MEDIATION_EVENT_LABELS)
