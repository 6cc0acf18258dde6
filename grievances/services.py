"""Every write that matters to a case: one function per move or act.

Each follows the same order: check the actor's role (403) and the case's state (409) →
`transaction.atomic()` and lock the row (re-read) → check again under the lock → change the
fields and call the django-fsm-2 transition → `save()` (the optimistic state check of
ConcurrentTransitionMixin) → write the CaseEvent → follow-up work on commit.

HTML views, API views, admin actions and Celery tasks call these; none repeats the logic.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterable
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.dispatch import Signal
from django.utils import timezone, translation
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, gettext_noop, pgettext_lazy
from django_fsm import ConcurrentTransition, TransitionNotAllowed, can_proceed

from grids.locate import locate
from grids.models import Level, Region, Role
from grids.scoping import has_region_role, memberships, roles_of, sees_everything
from grievances import deadlines, newcase
from grievances.labels import deferred
from grievances.models import (
    Attachment,
    CaseEvent,
    Category,
    Complainant,
    Complexity,
    Grievance,
    HandlingLevel,
    RejectReason,
    RequestType,
    ResidentVisit,
    Source,
    State,
    Urgency,
    new_tracking_code,
)

log = logging.getLogger(__name__)

REOPEN_WINDOW = timedelta(days=30)
# Each complainant rates within 30 days of the closing (办结), and may change their rating
# until then.
RATING_WINDOW = timedelta(days=30)
# The public (any complainant, through tracking) urges a case at most once in this time.
PUBLIC_URGE_INTERVAL = timedelta(hours=24)
# The states in which the public may urge: the centre has accepted the case and it is not
# handled yet (urging a report nobody has read yet asks nobody).
PUBLIC_URGE_STATES = (State.ACCEPTED, State.DISPATCHED, State.MEDIATING, State.IN_PROGRESS)

# Sent inside the transaction of every move and act, after its CaseEvent is written.
# dispatch and mediation listen (e.g. an escalation ends the open whistles) without this
# app importing them.
case_event = Signal()  # sender=Grievance, grievance=…, event=…


# --- Errors --------------------------------------------------------------------------------


class CaseError(Exception):
    """A domain error with a message a user can read."""

    status = 400

    def __init__(self, message, field: str | None = None, state: str | None = None):
        super().__init__(str(message))
        self.message = str(message)
        self.field = field
        self.state = state


class NotAllowed(CaseError):
    status = 403


class WrongState(CaseError):
    """The case is not in a state that allows the act (or moved on meanwhile)."""

    status = 409


class InvalidInput(CaseError):
    status = 400


class Stale(WrongState):
    """The case changed since the actor read it: the version they acted on is not the
    current one (an API act's If-Match, a case page's form)."""


def expect_version(case_pk: int, versions: Collection[int]) -> None:
    """Lock the case's row in the caller's transaction and raise Stale unless the case is
    still at one of `versions` (the one its sender read).

    The services check an act against the case as it is when they lock it, which catches
    two acts at the same moment but not one sent on a page read before another act that
    kept the state: a township centre that read a village's case, and escalates it after the
    village centre did, would hand it one level further up. The lock holds until the
    caller's act has run, so no act slips in between."""
    row = (
        Grievance.objects.select_for_update()
        .filter(pk=case_pk)
        .values_list("version", "state")
        .first()
    )
    if row is None or row[0] not in versions:
        raise Stale(
            _(
                "This case changed since you read it, so nothing was done. "
                "Read it again before you act."
            ),
            state=row[1] if row else None,
        )


# --- Who may act ---------------------------------------------------------------------------

CENTRE_ROLES = {Role.CENTRE_STAFF}
GRID_ROLES = {Role.GRID_WORKER, Role.GRID_POLICE, Role.GRID_LEADER}
STAFF_ROLES = {*CENTRE_ROLES, *GRID_ROLES, Role.LEADER}

# Extra ways to be a case's handler (the dispatch app adds "member of the lead department").
handler_checks: list[Callable[[object, Grievance], bool]] = []
# Dispatch to departments, provided by the dispatch app:
# (case, user, *, department_ids, proposed, instructions) -> Grievance.
department_dispatch: Callable[..., Grievance] | None = None
# Names for whom an actor acts on a case (the dispatch app: "the lead department's name").
actor_labelers: list[Callable[[object, Grievance], str | None]] = []
# Opens a mediation case with its parties, provided by the mediation app:
# (case, user, *, note, parties, choice_days) -> Grievance. The mediate act uses it when
# the parties are named.
mediation_opener: Callable[..., Grievance] | None = None


def is_centre(user, case: Grievance) -> bool:
    """Staff of the owning centre or of a centre above it."""
    return _authenticated(user) and has_region_role(user, case.owning_centre, CENTRE_ROLES)


def is_handler(user, case: Grievance) -> bool:
    if not _authenticated(user):
        return False
    if case.handler_region_id and has_region_role(
        user, case.handler_region, GRID_ROLES | CENTRE_ROLES
    ):
        return True
    return any(check(user, case) for check in handler_checks)


def is_grid_staff(user, case: Grievance) -> bool:
    return _authenticated(user) and has_region_role(user, case.region, GRID_ROLES)


def is_leader(user, case: Grievance) -> bool:
    return _authenticated(user) and has_region_role(user, case.region, {Role.LEADER})


def is_reporter(user, case: Grievance) -> bool:
    return _authenticated(user) and case.reporter_id == user.pk


def is_staff_in_scope(user, case: Grievance) -> bool:
    return _authenticated(user) and has_region_role(user, case.region, STAFF_ROLES)


def _authenticated(user) -> bool:
    return bool(user is not None and getattr(user, "is_authenticated", False))


@dataclass(frozen=True)
class Rule:
    who: Callable[[object, Grievance], bool]
    transition: str | None = None  # the fsm transition, or None for acts that keep the state
    states: tuple[str, ...] = ()  # for acts that keep the state
    label: str = ""


def _any(*checks):
    return lambda user, case: sees_everything(user) or any(c(user, case) for c in checks)


OPEN_FOR_ACTS = (
    State.SUBMITTED,
    State.ACCEPTED,
    State.DISPATCHED,
    State.MEDIATING,
    State.IN_PROGRESS,
)

RULES: dict[str, Rule] = {
    "accept": Rule(_any(is_centre), "accept", label=gettext_lazy("Accept")),
    "reject": Rule(_any(is_centre), "reject", label=gettext_lazy("Reject")),
    # 研判: the centre corrects the report (grievances/triage.py says why these states).
    "triage": Rule(
        _any(is_centre),
        states=(
            State.SUBMITTED,
            State.ACCEPTED,
            State.DISPATCHED,
            State.IN_PROGRESS,
            State.HANDLED,
        ),
        label=gettext_lazy("Correct the report (研判)"),
    ),
    "dispatch": Rule(_any(is_centre), "dispatch", label=pgettext_lazy("act", "Dispatch")),
    "report_in": Rule(_any(is_handler), "report_in", label=gettext_lazy("Report in")),
    "return": Rule(_any(is_handler), "return_case", label=gettext_lazy("Return")),
    "handle": Rule(_any(is_handler), "handle", label=gettext_lazy("Report the result")),
    "answer": Rule(_any(is_centre), "answer", label=gettext_lazy("Answer and close")),
    "redo": Rule(_any(is_centre), "redo", label=gettext_lazy("Send back to redo")),
    "verify": Rule(_any(is_centre), "verify", label=gettext_lazy("Verify and close")),
    "reopen": Rule(_any(is_centre), "reopen", label=gettext_lazy("Reopen")),
    "escalate": Rule(_any(is_centre), "escalate", label=gettext_lazy("Escalate")),
    "withdraw": Rule(_any(is_reporter), "withdraw", label=gettext_lazy("Withdraw")),
    "mediate": Rule(_any(is_centre, is_grid_staff), "mediate", label=gettext_lazy("Mediate")),
    "suspend": Rule(
        _any(is_centre),
        states=(State.ACCEPTED, State.DISPATCHED, State.IN_PROGRESS),
        label=gettext_lazy("Suspend"),
    ),
    "resume": Rule(
        _any(is_centre),
        states=(State.ACCEPTED, State.DISPATCHED, State.IN_PROGRESS),
        label=gettext_lazy("Resume"),
    ),
    "extend": Rule(
        _any(is_centre, is_handler),
        states=(State.DISPATCHED, State.IN_PROGRESS),
        label=gettext_lazy("Extension"),
    ),
    "urge": Rule(_any(is_reporter, is_leader), states=OPEN_FOR_ACTS, label=gettext_lazy("Urge")),
    "supervise": Rule(
        _any(is_centre, is_leader),
        states=(State.DISPATCHED, State.IN_PROGRESS),
        label=gettext_lazy("Supervise"),
    ),
    "note": Rule(
        _any(is_centre, is_handler, is_staff_in_scope),
        states=tuple(State.values),
        label=gettext_lazy("Add a note"),
    ),
}


# Moves made elsewhere, never offered among the case's acts, so they stay out of RULES (each
# act there has its form and API action): the outcome of a mediation, which another app makes
# as the system, and a merge and its undoing, which grievances/merging.py checks itself and
# the duplicates app offers (naming the case that stays).
SYSTEM_MOVES: dict[str, Rule] = {
    "merge": Rule(_any(is_centre), "merge", label=gettext_lazy("Merge into another case")),
    "unmerge": Rule(_any(is_centre), "unmerge", label=gettext_lazy("Undo the merge")),
    "mediation_settled": Rule(
        lambda user, case: False, "mediation_settled", label=gettext_lazy("Settled by mediation")
    ),
    "mediation_failed": Rule(
        lambda user, case: False, "mediation_failed", label=gettext_lazy("Mediation failed")
    ),
}


def _precondition(name: str, case: Grievance) -> str | None:
    """Why an act that keeps the state cannot run now (its own precondition), or None."""
    if name == "suspend" and case.suspended_at:
        return _("The case is already suspended.")
    if name == "resume" and not case.suspended_at:
        return _("The case is not suspended.")
    if name == "reopen" and case.closed_at and timezone.now() - case.closed_at > REOPEN_WINDOW:
        return _("A case can be reopened within 30 days of closing.")
    if name == "escalate" and not _centre_above(case):
        return _("There is no centre above this one.")
    if name == "supervise" and not case.is_overdue:
        return _("Only an overdue case can be supervised.")
    if name == "mediate" and not case.category.is_dispute:
        return _("Only disputes can go to mediation.")
    if name == "answer" and case.request_type != RequestType.CONSULTATION:
        return _("Only a consultation can be answered and closed at once.")
    if name in ("report_in", "handle", "return", "answer") and case.suspended_at:
        return _("The case is suspended.")
    return None


def _check_state(rule: Rule, case: Grievance) -> None:
    """Raise WrongState (409) when the case's state does not allow the act."""
    if rule.transition:
        allowed = can_proceed(getattr(case, rule.transition))
    else:
        allowed = case.state in rule.states
    if not allowed:
        raise WrongState(
            _("This case is %(state)s: it cannot be done now.")
            % {"state": case.get_state_display()},
            state=case.state,
        )


def check_act(name: str, case: Grievance, user) -> None:
    """Raise NotAllowed (403) or WrongState (409) when `user` may not do `name` now."""
    rule = RULES.get(name)
    if rule is None:
        raise InvalidInput(_("Unknown action."))
    if not rule.who(user, case):
        raise NotAllowed(_("You may not do this on this case."))
    _check_state(rule, case)
    problem = _precondition(name, case)
    if problem:
        raise WrongState(problem, state=case.state)


def available_acts(case: Grievance, user) -> list[str]:
    names = []
    for name in RULES:
        try:
            check_act(name, case, user)
        except CaseError:
            continue
        names.append(name)
    return names


# --- The transaction pattern -----------------------------------------------------------------


def _acting_centre(user, case: Grievance) -> Region:
    """The centre a centre-staff user acts for on `case`: their own centre at or above the
    owning centre, the nearest one (a county centre acting on a village's case is the county
    centre); the owning centre for a superuser."""
    owner = case.owning_centre
    best = None
    for m in memberships(user):
        r = m.region
        if (
            m.role in CENTRE_ROLES
            and r.tree_id == owner.tree_id
            and r.lft <= owner.lft
            and owner.rght <= r.rght
            and (best is None or r.lft > best.lft)
        ):
            best = r
    return best or owner


# Role labels as saved with an event (translated when shown: grievances.labels).
_ROLE_LABELS = {
    Role.LEADER: gettext_noop("Leader"),
    Role.GRID_LEADER: gettext_noop("Grid leader"),
    Role.GRID_WORKER: gettext_noop("Grid worker"),
    Role.GRID_POLICE: gettext_noop("Grid police"),
}
SYSTEM_LABEL = deferred(gettext_noop("System"))
RESIDENT_LABEL = deferred(gettext_noop("Resident"))
REPORTER_LABEL = deferred(gettext_noop("Reporter"))
COMPLAINANT_LABEL = deferred(gettext_noop("Complainant"))
MEDIATION_LABEL = deferred(gettext_noop("Mediation"))


def _actor_label(user, case: Grievance) -> str:
    """Who acted, as saved with the event (see grievances.labels)."""
    if user is None:
        return SYSTEM_LABEL
    if not _authenticated(user):
        return RESIDENT_LABEL
    if is_centre(user, case):
        return deferred(
            gettext_noop("%(centre)s governance centre"), centre=_acting_centre(user, case).name
        )
    if case.reporter_id == user.pk:
        return REPORTER_LABEL
    for labeler in actor_labelers:
        label = labeler(user, case)
        if label:
            return label
    roles = roles_of(user)
    for role in (Role.LEADER, Role.GRID_LEADER, Role.GRID_WORKER, Role.GRID_POLICE):
        if role in roles:
            return deferred(_ROLE_LABELS[role])
    return deferred(gettext_noop("Staff"))


def _run(
    case: Grievance,
    user,
    name: str,
    change: Callable[[Grievance], dict | None] | None = None,
    *,
    note: str = "",
    public: bool = False,
    attachments: Iterable[Attachment] = (),
    actor_label: str | None = None,
    skip_role_check: bool = False,
    held: bool = False,
) -> Grievance:
    """Check, lock, change, transition, save, record: one move or act in one transaction.

    `held`: the caller has locked the case's row in its own transaction and read `case`
    since (the SLA sweep): no second locking read, no savepoint of our own (an error rolls
    back the caller's block)."""
    rule = RULES[name] if name in RULES else SYSTEM_MOVES[name]
    if not skip_role_check:
        check_act(name, case, user)
    else:
        # Tracking (the reporter without a login) and the system skip the role, not the state.
        _check_state(rule, case)
    try:
        with transaction.atomic(savepoint=not held):
            if held:
                locked = case
            else:
                # Lock and re-read: the state or a precondition may have moved since the
                # check. No joins in the locking read: on PostgreSQL a row whose foreign key
                # another transaction changed meanwhile (escalate moves the owning centre)
                # fails the join's re-check and drops out of a joined SELECT … FOR UPDATE.
                locked = Grievance.objects.select_for_update().get(pk=case.pk)
                _reuse_related(locked, case)
            # The owning centre too: acts that keep the state (escalate from accepted) leave
            # the state as it was, so only the centre shows that someone else got there first.
            if locked.state != case.state or locked.owning_centre_id != case.owning_centre_id:
                raise WrongState(_("This case has moved on."), state=locked.state)
            if not skip_role_check:
                check_act(name, locked, user)
            else:
                _check_state(rule, locked)
            from_state = locked.state
            # Who the actor acted as, before the change: an escalation moves the case away
            # from the centre that escalated it.
            label = actor_label if actor_label is not None else _actor_label(user, locked)
            data = (change(locked) if change else None) or {}
            if rule.transition:
                getattr(locked, rule.transition)()
            locked.priority = locked.compute_priority()
            locked.save()
            event = record(
                locked,
                user,
                name,
                saved=True,
                from_state=from_state,
                note=note,
                public=public,
                data=data,
                attachments=attachments,
                actor_label=label,
            )
    except (ConcurrentTransition, TransitionNotAllowed):
        if held:  # the caller's block is to be rolled back: no query in it now
            raise WrongState(_("This case has moved on."), state=case.state) from None
        fresh = Grievance.objects.filter(pk=case.pk).values_list("state", flat=True).first()
        raise WrongState(_("This case has moved on."), state=fresh) from None
    locked.last_event = event
    return locked


_RELATED = ("category", "owning_centre", "region", "handler_region")


def _reuse_related(locked: Grievance, case: Grievance) -> None:
    """Give the re-read row the related objects already loaded on `case` (same ids only)."""
    for name in _RELATED:
        field = Grievance._meta.get_field(name)
        if field.is_cached(case) and getattr(locked, field.attname) == getattr(case, field.attname):
            field.set_cached_value(locked, field.get_cached_value(case))


def new_event(
    case: Grievance,
    user,
    action: str,
    *,
    from_state: str = "",
    note: str = "",
    public: bool = False,
    data: dict | None = None,
    actor_label: str | None = None,
) -> CaseEvent:
    """The CaseEvent of a move or act, not yet saved."""
    return newcase.new(
        CaseEvent,
        grievance=case,
        action=action,
        actor=user if _authenticated(user) else None,
        actor_label=actor_label if actor_label is not None else _actor_label(user, case),
        from_state=from_state,
        to_state=case.state,
        note=note,
        public=public,
        data=data or {},
    )


def touch(case: Grievance) -> None:
    """Count a write to the case that did not save its row (an event of an act that keeps the
    case as it is, a rating, a photo, complainants moved in): its version, the ETag, goes up
    by one, so an act sent on what was shown before is refused. `case.version` is read back,
    as the row has it."""
    Grievance.objects.filter(pk=case.pk).update(version=F("version") + 1)
    case.version = Grievance.objects.filter(pk=case.pk).values_list("version", flat=True).get()


def record(
    case: Grievance,
    user,
    action: str,
    *,
    attachments: Iterable[Attachment] = (),
    saved: bool = False,
    **fields,
) -> CaseEvent:
    """Write the CaseEvent of a move or act (inside the caller's transaction); `fields` are
    new_event's (from_state, note, public, data, actor_label).

    An event changes what the case shows (its timeline), so it counts a write to the case
    (touch) unless `saved`: the caller saved the case in this act, which counted it already."""
    event = new_event(case, user, action, **fields)
    event.save()
    if not saved:
        touch(case)
    ids = [a.pk for a in attachments]
    if ids:
        Attachment.objects.filter(pk__in=ids, grievance=case).update(event=event)
    case_event.send(sender=Grievance, grievance=case, event=event)
    transaction.on_commit(_enqueue_relay)
    return event


def _enqueue_relay() -> None:
    # Best effort and debounced (grievances/outbox.py): a broker outage never fails the
    # request; the events stay in the outbox until a relay or the sweeper hands them over.
    from grievances.outbox import kicker

    kicker.kick()


def _require(value, field: str, message: str | None = None):
    if value in (None, "", [], ()):
        raise InvalidInput(message or _("This field is required."), field=field)
    return value


# --- Submit ----------------------------------------------------------------------------------


@dataclass
class ComplainantData:
    name: str = ""
    phone: str = ""
    id_number: str = ""
    user: object | None = None


def owning_centre_id(level: str, region_id: int, parent_id: int | None) -> int:
    """The centre that owns a new case: the village (community) of a grid, else the region."""
    if level == Level.GRID and parent_id:
        return parent_id
    return region_id


# A tracking code is one draw in 29⁸ (5 × 10¹¹): once there are a million cases, one report
# in 500,000 draws a code already taken. The unique index refuses the second; the write is
# tried again with a fresh draw (a savepoint when the caller holds a transaction).
CODE_ATTEMPTS = 5


def _code_clash(exc: IntegrityError) -> bool:
    """Whether `exc` is the unique index of tracking codes refusing a new case's code."""
    constraint = getattr(getattr(exc.__cause__, "diag", None), "constraint_name", None)
    if constraint is not None:
        return constraint == "gr_tracking_code_unique"
    return "tracking_code" in str(exc)  # SQLite names the column, not the index


def write_with_fresh_code(case: Grievance, write: Callable[[], None]) -> None:
    """`write()`, which inserts `case`; should its tracking code be taken, again with another."""
    for attempt in range(1, CODE_ATTEMPTS + 1):
        try:
            with transaction.atomic() if connection.in_atomic_block else nullcontext():
                write()
            return
        except IntegrityError as exc:
            if attempt == CODE_ATTEMPTS or not _code_clash(exc):
                raise
            log.warning("a new case drew a tracking code already taken; drawing another")
            case.tracking_code = new_tracking_code()


def grievance_submit(
    *,
    user,
    title: str,
    description: str,
    category: Category,
    source: str,
    urgency: str | None = None,
    request_type: str = "",
    lng: float | None = None,
    lat: float | None = None,
    region: Region | None = None,
    address: str = "",
    complainants: list[ComplainantData] | None = None,
    risk_petition: bool = False,
    risk_extreme: bool = False,
    risk_group: bool = False,
    settled_note: str = "",
    attachments: Iterable[Attachment] = (),
    idempotency_key: str | None = None,
    idempotency_fingerprint: str | None = None,
    external_system: str = "",
    external_id: str | None = None,
) -> Grievance:
    """Take a report: locate it, write the case, its complainants and its first event.

    A grid worker's report already settled on the spot (`settled_note`) enters as handled.
    An idempotency key (scoped, grievances.idempotency) and its fingerprint are written with
    the case: the unique index refuses a second case of the key (IntegrityError, nothing
    written). So does the index of another system's ticket numbers (`external_id`, unique
    per `external_system`).
    """
    if request_type and request_type not in RequestType.values:
        raise InvalidInput(_("Unknown request type."), field="request_type")
    located = None
    if region is None:
        if lng is None or lat is None:
            raise InvalidInput(_("Give a map point or choose a region."), field="region")
        located = locate(lng, lat)
        if located is None:
            raise InvalidInput(_("This point lies outside every region we serve."), field="lng")
    staff_report = _authenticated(user) and source != Source.RESIDENT_WEB
    if located is not None and (staff_report or settled_note or not located.path):
        # Role checks need the tree position; a resident's report needs only the path the
        # index already holds, so the hot path asks the database nothing about regions.
        region = Region.objects.get(pk=located.id)
    if staff_report and not has_region_role(user, region, STAFF_ROLES):
        raise NotAllowed(_("You can only report cases in your own area."), field="region")
    if settled_note and not (_authenticated(user) and has_region_role(user, region, GRID_ROLES)):
        raise NotAllowed(_("Only grid staff can settle a case on the spot."), field="settled")
    if category.region_id is not None and category.region_id not in _path_ids(region, located):
        raise InvalidInput(_("This category is not used where the case is."), field="category")
    # A resident's urgency is a suggestion to the centre: the case starts with the category's
    # own, and the centre sets the one the deadlines follow when it accepts.
    suggested = "" if staff_report else urgency or ""
    case = newcase.new(
        Grievance,
        title=title.strip(),
        description=description.strip(),
        category=category,
        urgency=(urgency if staff_report else None) or category.default_urgency,
        suggested_urgency=suggested,
        request_type=request_type or RequestType.COMPLAINT,
        lng=lng,
        lat=lat,
        address=address,
        source=source,
        reporter=user if _authenticated(user) else None,
        risk_petition=risk_petition,
        risk_extreme=risk_extreme,
        risk_group=risk_group,
        idempotency_key=idempotency_key,
        idempotency_fingerprint=idempotency_fingerprint,
        external_system=external_system if external_id else "",
        external_id=external_id or None,
    )
    if region is not None:
        case.owning_centre_id = owning_centre_id(region.level, region.pk, region.parent_id)
        case.set_region(region)
    else:
        case.owning_centre_id = owning_centre_id(located.level, located.id, located.parent_id)
        case.set_region_path(located.id, located.path)
    case.priority = case.compute_priority()
    # Complainants read their messages in the language they reported in (blank: the site's).
    language = "en" if (translation.get_language() or "").startswith("en") else ""
    people = [
        newcase.new(
            Complainant,
            name=c.name,
            phone=c.phone,
            id_number=c.id_number,
            user=c.user,
            is_reporter=(i == 0),
            position=i,
            language=language,
        )
        for i, c in enumerate(complainants or [])
    ]
    submitted = {"region": region.code if region else located.code, "source": source}
    # A report always comes from someone: without an account, from a resident.
    submitter = None if _authenticated(user) else RESIDENT_LABEL
    attachments = list(attachments)
    if not settled_note and not attachments and newcase.available():
        # The hot path of intake: the three kinds of rows in one statement (its own
        # transaction unless the caller opened one), then what record() does after a write.
        event = new_event(case, user, "submit", public=True, data=submitted, actor_label=submitter)
        write_with_fresh_code(case, lambda: newcase.insert(case, people, event))
        case_event.send(sender=Grievance, grievance=case, event=event)
        transaction.on_commit(_enqueue_relay)
        return case
    # No savepoint when the caller already opened the transaction (the API adds photos).
    with transaction.atomic(savepoint=False):
        write_with_fresh_code(case, case.save)
        for person in people:
            person.grievance = case
        Complainant.objects.bulk_create(people)
        record(
            case,
            user,
            "submit",
            saved=True,
            public=True,
            data=submitted,
            attachments=attachments,
            actor_label=submitter,
        )
        if settled_note:
            case.settle_on_the_spot()
            case.handled_at = timezone.now()
            case.result = settled_note
            case.save()
            record(
                case,
                user,
                "handle",
                saved=True,
                from_state=State.SUBMITTED,
                note=settled_note,
                public=True,
                data={"on_the_spot": True},
            )
    return case


# --- Moves --------------------------------------------------------------------------------------


# The accept's handling level chosen by the complexity, whatever the routing rule proposed.
BY_COMPLEXITY = "by_complexity"


def grievance_accept(
    case: Grievance,
    user,
    *,
    complexity: str = "",
    handling_level: str = "",
    urgency: str = "",
    note: str = "",
    system: bool = False,
) -> Grievance:
    """Triage: set complexity (简单/复杂/疑难), the handling level and the urgency, then
    accept; by the centre, or by the system when a routing rule dispatches its category
    automatically.

    The level: one named; BY_COMPLEXITY, the complexity decides (小事不出村、大事不出乡);
    none, the routing rule's proposal made at submission, else the complexity decides. The
    urgency named is the one the deadlines follow from dispatch on (a resident's own is only
    a suggestion); none keeps the case's."""
    if complexity and complexity not in Complexity.values:
        raise InvalidInput(_("Choose simple, complex or difficult."), field="complexity")
    if handling_level and handling_level not in (*HandlingLevel.values, BY_COMPLEXITY):
        raise InvalidInput(_("Unknown handling level."), field="handling_level")
    if urgency and urgency not in Urgency.values:
        raise InvalidInput(_("Unknown urgency."), field="urgency")

    def change(c: Grievance):
        c.complexity = complexity or c.complexity or Complexity.SIMPLE
        if handling_level == BY_COMPLEXITY:
            c.handling_level = _default_level(c)
        else:
            c.handling_level = handling_level or c.handling_level or _default_level(c)
        c.urgency = urgency or c.urgency
        c.accepted_at = timezone.now()
        return {
            "complexity": c.complexity,
            "handling_level": c.handling_level,
            "urgency": c.urgency,
        }

    return _run(
        case,
        user,
        "accept",
        change,
        note=note,
        public=True,
        skip_role_check=system,
        actor_label=SYSTEM_LABEL if system else None,
    )


# The columns the system's accept and dispatch change (grievance_accept, then
# grievance_dispatch with `assign`), written for many cases in one statement.
_AUTO_DISPATCH_FIELDS = (
    "state",
    "complexity",
    "handling_level",
    "accepted_at",
    "dispatched_at",
    "handler_region",
    "report_in_due_at",
    "handle_due_at",
    "priority",
    "updated_at",
)


def grievances_accept_and_dispatch(
    cases: list[tuple[Grievance, str]],
    *,
    note: str,
    assign: Callable[[list[Grievance], datetime], dict[int, dict]],
) -> list[Grievance]:
    """The system's accept followed by its dispatch to departments, for many submitted cases
    at once (a routing rule that dispatches automatically, for a relay chunk's reports).

    `cases`: (case, handling level) pairs, the level as for grievance_accept. Writes what
    `grievance_accept(case, None, handling_level=…, note=note, system=True)` and then
    `grievance_dispatch(case, None, assign=…, system=True)` write for each case (the same
    columns, the same two events with the same data, the same signal), in a few statements
    for the lot: one locking read, one UPDATE, one INSERT of the events. `assign(cases,
    now)` writes the whistles and assignments of all of them, sets each case's deadlines
    and returns each case's event data by case id, as `assign` does for one case.

    The cases are locked and re-read first; one that is no longer submitted (a centre moved
    it meanwhile) or whose owning centre changed is left alone, as the per-case services
    would refuse it. Returns the cases moved, as saved.
    """
    for _case, level in cases:
        if level and level not in HandlingLevel.values:
            raise InvalidInput(_("Unknown handling level."), field="handling_level")
    if not cases:
        return []
    with transaction.atomic(savepoint=False):
        return _accept_and_dispatch(cases, note, assign)


def _accept_and_dispatch(cases, note, assign) -> list[Grievance]:
    given = {case.pk: case for case, _level in cases}
    levels = {case.pk: level for case, level in cases}
    # One locking read by primary key without joins (see _run), in id order; the rows are
    # read as they are once locked, so a case moved meanwhile drops out here.
    locked = list(Grievance.objects.select_for_update().filter(pk__in=list(given)).order_by("pk"))
    moving = []
    for case in locked:
        before = given[case.pk]
        if (
            case.state != State.SUBMITTED
            or case.owning_centre_id != before.owning_centre_id
            or not can_proceed(case.accept)
        ):
            continue
        _reuse_related(case, before)
        moving.append(case)
    if not moving:
        return []
    accepted_at = timezone.now()
    accepts = {}
    for case in moving:
        level = levels[case.pk]
        case.complexity = case.complexity or Complexity.SIMPLE
        case.handling_level = level or case.handling_level or _default_level(case)
        case.accepted_at = accepted_at
        case.accept()
        case.priority = case.compute_priority()
        event = new_event(
            case,
            None,
            "accept",
            from_state=State.SUBMITTED,
            note=note,
            public=True,
            data={
                "complexity": case.complexity,
                "handling_level": case.handling_level,
                "urgency": case.urgency,
            },
            actor_label=SYSTEM_LABEL,
        )
        event.created_at = accepted_at
        accepts[case.pk] = event
    dispatched_at = max(timezone.now(), accepted_at)
    for case in moving:
        case.dispatched_at = dispatched_at
        case.handler_region = None
    assigned = assign(moving, dispatched_at)
    events = []
    for case in moving:
        data = dict(assigned[case.pk])
        data.pop("deadlines_set", None)
        data["report_in_due_at"] = case.report_in_due_at.isoformat()
        data["handle_due_at"] = case.handle_due_at.isoformat()
        case.dispatch()
        case.priority = case.compute_priority()
        case.updated_at = dispatched_at
        event = new_event(
            case,
            None,
            "dispatch",
            from_state=State.ACCEPTED,
            public=True,
            data=data,
            actor_label=SYSTEM_LABEL,
        )
        event.created_at = dispatched_at
        events += [accepts[case.pk], event]
    # One UPDATE per set of equal values (a chunk's reports of one matter from one place
    # share them all): much cheaper than one CASE per column and row.
    columns = [Grievance._meta.get_field(f).attname for f in _AUTO_DISPATCH_FIELDS]
    alike: dict[tuple, list[int]] = {}
    for case in moving:
        alike.setdefault(tuple(getattr(case, c) for c in columns), []).append(case.pk)
    for values, pks in alike.items():
        # The version as the two saves of the per-case services count it (accept, dispatch).
        Grievance.objects.filter(pk__in=pks).update(
            **dict(zip(columns, values, strict=True)), version=F("version") + 2
        )
    for case in moving:
        case.version += 2
    CaseEvent.objects.bulk_create(events)
    for n, event in enumerate(events):
        case_event.send(sender=Grievance, grievance=moving[n // 2], event=event)
    transaction.on_commit(_enqueue_relay)
    for n, case in enumerate(moving):
        case.last_event = events[2 * n + 1]
    return moving


def _path_ids(region: Region | None, located) -> set[int]:
    """The ids of the case region and its ancestors (a category of a county's own applies
    in that subtree only), from the locate index's path when it holds one."""
    if located is not None and located.path:
        return {pk for _level, pk in located.path}
    return {r.pk for r in region.get_ancestors(include_self=True)}


def _default_level(case: Grievance) -> str:
    # The category's own level first (a centre administrator sets it); else 小事不出村、
    # 大事不出乡: simple matters stay in the village, complex ones go to the township,
    # difficult ones to the county (routing rules may say otherwise).
    if case.category.default_handling_level:
        return case.category.default_handling_level
    by_complexity = {
        Complexity.SIMPLE: HandlingLevel.VILLAGE,
        Complexity.COMPLEX: HandlingLevel.TOWNSHIP,
        Complexity.DIFFICULT: HandlingLevel.COUNTY,
    }
    return by_complexity.get(case.complexity, HandlingLevel.VILLAGE)


def grievance_reject(
    case: Grievance,
    user,
    *,
    reason_code: str,
    reason: str = "",
    duplicate_of: Grievance | None = None,
) -> Grievance:
    """Refuse the case (不予受理); a duplicate links its original and moves its complainants."""
    check_act("reject", case, user)
    _require(reason_code, "reason_code")
    if reason_code not in RejectReason.values:
        raise InvalidInput(_("Unknown reason code."), field="reason_code")
    if reason_code == RejectReason.DUPLICATE:
        _require(duplicate_of, "duplicate_of", _("Name the case this one duplicates."))
        if duplicate_of.pk == case.pk:
            raise InvalidInput(_("A case cannot duplicate itself."), field="duplicate_of")
    else:
        _require(reason.strip(), "reason", _("Give the reason shown to the reporter."))

    def change(c: Grievance):
        c.reject_reason_code = reason_code
        c.reject_reason = reason.strip()
        if duplicate_of is not None:
            c.duplicate_of = duplicate_of
            moved = Complainant.objects.filter(grievance=c)
            start = Complainant.objects.filter(grievance=duplicate_of).count()
            for offset, person in enumerate(moved):
                person.grievance = duplicate_of
                person.is_reporter = False
                person.position = start + offset
                person.merged_from = c
                person.save(update_fields=["grievance", "is_reporter", "position", "merged_from"])
            # The original shows the complainants it gained.
            touch(duplicate_of)
            return {"reason_code": reason_code, "duplicate_of": duplicate_of.tracking_code}
        return {"reason_code": reason_code}

    return _run(case, user, "reject", change, note=reason.strip(), public=True)


def grievance_dispatch(
    case: Grievance,
    user,
    *,
    to_region: Region | None = None,
    note: str = "",
    assign: Callable[[Grievance], dict] | None = None,
    system: bool = False,
) -> Grievance:
    """Dispatch: down to a grid or village for on-the-spot handling, or (through `assign`,
    given by the dispatch app) to departments. The clock starts here."""
    if not system:
        check_act("dispatch", case, user)
    if assign is None:
        _require(to_region, "to_region", _("Choose the grid or village that will handle it."))
        if to_region.level not in (Level.GRID, Level.VILLAGE):
            raise InvalidInput(_("Dispatch down to a grid or a village."), field="to_region")
        centre = case.owning_centre
        inside = to_region.tree_id == centre.tree_id and centre.lft <= to_region.lft <= centre.rght
        if not inside:
            raise InvalidInput(
                _("The grid or village must lie inside the centre's area."), field="to_region"
            )

    def change(c: Grievance):
        now = timezone.now()
        c.dispatched_at = now
        data = {}
        if assign is not None:
            c.handler_region = None
            data = assign(c) or {}
        else:
            c.handler_region = to_region
            data = {"to_region": to_region.code, "to_region_name": to_region.name}
        if not data.get("deadlines_set"):
            c.report_in_due_at = deadlines.report_in_due(c, now)
            c.handle_due_at = deadlines.handle_due(c, now)
        data.pop("deadlines_set", None)
        data["report_in_due_at"] = c.report_in_due_at.isoformat()
        data["handle_due_at"] = c.handle_due_at.isoformat()
        return data

    return _run(
        case,
        user,
        "dispatch",
        change,
        note=note,
        public=True,
        skip_role_check=system,
        actor_label=SYSTEM_LABEL if system else None,
    )


def grievance_report_in(case: Grievance, user, *, note: str = "") -> Grievance:
    """The handler signs for the case (签收)."""

    def change(c: Grievance):
        c.reported_in_at = timezone.now()
        return {"on_time": not c.report_in_due_at or c.reported_in_at <= c.report_in_due_at}

    return _run(case, user, "report_in", change, note=note, public=True)


def grievance_return(case: Grievance, user, *, reason: str) -> Grievance:
    """退单: the handler returns a case that is not theirs; the centre re-routes it."""
    check_act("return", case, user)
    _require((reason or "").strip(), "reason")

    def change(c: Grievance):
        c.return_count += 1
        c.handler_region = None
        c.report_in_due_at = c.handle_due_at = None
        c.reported_in_at = None
        return {}

    return _run(case, user, "return", change, note=reason.strip())


def grievance_handle(
    case: Grievance, user, *, result: str, attachments: Iterable[Attachment] = (), note: str = ""
) -> Grievance:
    """Feedback: the handling result and its evidence."""
    check_act("handle", case, user)
    _require((result or "").strip(), "result", _("Describe what was done."))

    def change(c: Grievance):
        c.result = result.strip()
        c.handled_at = timezone.now()
        return {"on_time": not c.handle_due_at or c.handled_at <= c.handle_due_at}

    return _run(
        case, user, "handle", change, note=result.strip(), public=True, attachments=attachments
    )


def grievance_redo(case: Grievance, user, *, reason: str) -> Grievance:
    """Verification failed: back to the handler with the reason."""
    check_act("redo", case, user)
    _require((reason or "").strip(), "reason")

    def change(c: Grievance):
        c.redo_count += 1
        c.handled_at = None
        return {}

    return _run(case, user, "redo", change, note=reason.strip())


def grievance_verify(case: Grievance, user, *, note: str = "") -> Grievance:
    """核查 passed: close the case (办结)."""

    def change(c: Grievance):
        c.closed_at = timezone.now()
        return {}

    return _run(case, user, "verify", change, note=note, public=True)


def grievance_answer(case: Grievance, user, *, answer: str, note: str = "") -> Grievance:
    """答复: the centre answers a consultation (咨询) itself and closes it, in one transaction.

    The state path is the loop's own, shortened: a submitted case is accepted first (its
    acceptance is the response that figures count), then `answer` moves it from accepted to
    handled with the answer as the public result (what tracking shows), then the
    verification closes it. Three events, each with its usual follow-ups: the complainants
    hear of the acceptance and of the closing with their rating link, as for any case."""
    check_act("answer", case, user)
    text = _require((answer or "").strip(), "answer", _("Write the answer."))

    def change(c: Grievance):
        c.result = text
        c.handled_at = timezone.now()
        return {"answered": True}

    with transaction.atomic():
        if case.state == State.SUBMITTED:
            case = grievance_accept(case, user)
        case = _run(case, user, "answer", change, note=text, public=True)
        return grievance_verify(case, user, note=note)


def grievance_reopen(case: Grievance, user, *, reason: str) -> Grievance:
    """Reopen a closed case within 30 days (a dissatisfied rating or return visit)."""
    check_act("reopen", case, user)
    _require((reason or "").strip(), "reason")

    def change(c: Grievance):
        now = timezone.now()
        c.closed_at = None
        c.handled_at = None
        c.redo_count += 1
        c.handle_due_at = deadlines.handle_due(c, now)
        return {"handle_due_at": c.handle_due_at.isoformat()}

    return _run(case, user, "reopen", change, note=reason.strip(), public=True)


def _centre_above(case: Grievance) -> Region | None:
    centre = case.owning_centre
    return centre.parent if centre.parent_id else None


def grievance_escalate(
    case: Grievance, user, *, reason: str, system: bool = False, held: bool = False
) -> Grievance:
    """纵向吹哨: the centre a level up owns the case and triages it anew; by the centre, or
    by the system (the SLA sweep, past the second threshold of a missed deadline).

    `held`: the caller has locked the case's row and read `case` since (see _run)."""
    if not system:
        check_act("escalate", case, user)
    _require((reason or "").strip(), "reason")

    def change(c: Grievance):
        # The centre above the one acting: a township working on a village's case hands it
        # to the county. The system (and a superuser) hands it one level above the owner.
        previous = c.owning_centre if system or user is None else _acting_centre(user, c)
        above = previous.parent if previous.parent_id else None
        if above is None:
            raise WrongState(_("There is no centre above this one."), state=c.state)
        c.owning_centre = above
        c.escalation_count += 1
        c.handler_region = None
        c.report_in_due_at = c.handle_due_at = None
        c.reported_in_at = None
        if above.level in HandlingLevel.values:
            c.handling_level = above.level
        return {
            "from_centre": previous.code,
            "from_centre_name": previous.name,
            "to_centre": above.code,
            "to_centre_name": above.name,
        }

    return _run(
        case,
        user,
        "escalate",
        change,
        note=reason.strip(),
        public=True,
        skip_role_check=system,
        actor_label=SYSTEM_LABEL if system else None,
        held=held,
    )


def grievance_withdraw(
    case: Grievance,
    user,
    *,
    reason: str = "",
    via_tracking=False,
    complainant: Complainant | None = None,
) -> Grievance:
    """The reporter withdraws the case (撤回) before it is handled.

    Through tracking, `complainant` is who proved the case: only its reporter withdraws it
    (the other complainants' matter goes on; a duplicate's reporter who follows the case it
    was merged into does not withdraw someone else's report)."""
    if (
        via_tracking
        and complainant is not None
        and (complainant.grievance_id != case.pk or not complainant.is_reporter)
    ):
        raise NotAllowed(_("Only the reporter withdraws the report."))
    return _run(
        case,
        user,
        "withdraw",
        note=reason.strip(),
        public=True,
        skip_role_check=via_tracking,
        actor_label=REPORTER_LABEL if via_tracking else None,
    )


def grievance_mediate(
    case: Grievance, user, *, note: str = "", open_case: Callable[[Grievance], dict] | None = None
) -> Grievance:
    """A dispute goes to mediation; the mediation app opens its case through `open_case`."""

    def change(c: Grievance):
        return open_case(c) if open_case else {}

    return _run(case, user, "mediate", change, note=note, public=True)


def grievance_mediation_settled(
    case: Grievance,
    *,
    agreement_note: str,
    attachments: Iterable[Attachment] = (),
    user=None,
    actor_label: str | None = None,
    data: dict | None = None,
) -> Grievance:
    """A mediation agreement signed by all counts as the handling (mediating → handled).

    Called by the mediation app, inside its transaction, as the mediation organisation: the
    agreement's summary is the result, its scans (if signed on paper) the evidence.
    """
    _require((agreement_note or "").strip(), "agreement_note")
    attachments = list(attachments)

    def change(c: Grievance):
        c.result = agreement_note.strip()
        c.handled_at = timezone.now()
        # Scans of the signed agreement show its terms: never among the photos public
        # tracking shows, whatever they were uploaded as.
        ids = [a.pk for a in attachments]
        if ids:
            Attachment.objects.filter(pk__in=ids, grievance=c).update(public=False)
        return dict(data or {})

    return _run(
        case,
        user,
        "mediation_settled",
        change,
        note=agreement_note.strip(),
        public=True,
        attachments=attachments,
        skip_role_check=True,
        actor_label=actor_label or MEDIATION_LABEL,
    )


def grievance_mediation_failed(
    case: Grievance,
    *,
    record_note: str,
    user=None,
    actor_label: str | None = None,
    data: dict | None = None,
) -> Grievance:
    """A failed mediation goes back to the centre (mediating → accepted), which refers it to
    a department or the court (诉调对接). Called by the mediation app, as its organisation."""
    _require((record_note or "").strip(), "record_note")

    def change(c: Grievance):
        return dict(data or {})

    return _run(
        case,
        user,
        "mediation_failed",
        change,
        note=record_note.strip(),
        public=True,
        skip_role_check=True,
        # No label with a user (the centre ends the mediation): named as for any other act.
        actor_label=actor_label if actor_label or user is not None else MEDIATION_LABEL,
    )


# --- Acts that keep the state ------------------------------------------------------------------


def grievance_suspend(case: Grievance, user, *, reason: str) -> Grievance:
    """挂起: the clock stops (e.g. waiting for a court)."""
    check_act("suspend", case, user)
    _require((reason or "").strip(), "reason")

    def change(c: Grievance):
        c.suspended_at = timezone.now()
        c.suspend_reason = reason.strip()
        return {}

    return _run(case, user, "suspend", change, note=reason.strip(), public=True)


def grievance_resume(case: Grievance, user, *, note: str = "") -> Grievance:
    """解挂: the deadlines move by the suspended working time."""

    def change(c: Grievance):
        now = timezone.now()
        since = c.suspended_at
        c.report_in_due_at = deadlines.shift(c, c.report_in_due_at, since, now)
        c.handle_due_at = deadlines.shift(c, c.handle_due_at, since, now)
        c.suspended_at = None
        c.suspend_reason = ""
        return {
            "suspended_since": since.isoformat(),
            "handle_due_at": c.handle_due_at.isoformat() if c.handle_due_at else None,
        }

    return _run(case, user, "resume", change, note=note, public=True)


def grievance_extend(
    case: Grievance,
    user,
    *,
    days: int | None = None,
    reason: str = "",
    approve: bool | None = None,
) -> Grievance:
    """延期. The handler asks before the deadline (days + reason); the centre approves or
    refuses a pending request (approve), or grants days itself."""
    check_act("extend", case, user)
    centre = is_centre(user, case) or sees_everything(user)
    if days is not None and (days < 1 or days > 60):
        raise InvalidInput(_("Ask for 1 to 60 working days."), field="days")

    if centre and approve is not None:
        if not case.extension_requested_days:
            raise WrongState(_("There is no pending extension request."), state=case.state)

        def decide(c: Grievance):
            asked = c.extension_requested_days
            if not asked:
                raise WrongState(_("There is no pending extension request."), state=c.state)
            granted = days or asked
            data = {"decision": "approved" if approve else "refused", "days": granted}
            if approve:
                c.handle_due_at = deadlines.add_days(c, c.handle_due_at, granted)
                data["handle_due_at"] = c.handle_due_at.isoformat()
            c.extension_requested_days = None
            c.extension_reason = ""
            return data

        return _run(case, user, "extend", decide, note=reason.strip())

    _require(days, "days")
    if centre:

        def grant(c: Grievance):
            c.handle_due_at = deadlines.add_days(c, c.handle_due_at, days)
            return {
                "decision": "granted",
                "days": days,
                "handle_due_at": c.handle_due_at.isoformat(),
            }

        return _run(case, user, "extend", grant, note=reason.strip())

    _require(reason.strip(), "reason", _("Say why more time is needed."))

    def ask(c: Grievance):
        if c.handle_due_at and c.handle_due_at <= timezone.now():
            raise WrongState(_("Ask for an extension before the deadline."), state=c.state)
        if c.extension_requested_days:
            raise WrongState(_("An extension request is already pending."), state=c.state)
        c.extension_requested_days = days
        c.extension_reason = reason.strip()
        return {"decision": "requested", "days": days}

    return _run(case, user, "extend", ask, note=reason.strip())


def public_urge_refusal(
    case: Grievance, now: datetime | None = None, events: Iterable[CaseEvent] | None = None
) -> str | None:
    """Why the public (a complainant through tracking) cannot urge `case` now, or None.

    `events`: the case's events when the caller has read them (else one query)."""
    if case.state == State.SUBMITTED:
        return _("The case can be urged once the governance centre has accepted it.")
    if case.state not in PUBLIC_URGE_STATES:
        return _("This case is %(state)s: it cannot be urged now.") % {
            "state": case.get_state_display()
        }
    again = public_urge_again_at(case, now, events)
    if again is not None:
        return _(
            "This case was urged less than 24 hours ago. You can urge it again after %(when)s."
        ) % {"when": _local(again)}
    return None


def public_urge_again_at(
    case: Grievance, now: datetime | None = None, events: Iterable[CaseEvent] | None = None
) -> datetime | None:
    """When the public may urge `case` again (24 hours after its last public urge), or None
    when it may now."""
    now = now or timezone.now()
    last = last_public_urge(case, events)
    if last is None or now - last >= PUBLIC_URGE_INTERVAL:
        return None
    return last + PUBLIC_URGE_INTERVAL


def last_public_urge(case: Grievance, events: Iterable[CaseEvent] | None = None):
    if events is not None:
        times = [e.created_at for e in events if e.action == "urge" and e.data.get("public")]
        return max(times) if times else None
    return (
        CaseEvent.objects.filter(grievance_id=case.pk, action="urge", data__public=True)
        .order_by("-created_at")
        .values_list("created_at", flat=True)
        .first()
    )


def _local(instant: datetime) -> str:
    return date_format(timezone.localtime(instant), "DATETIME_FORMAT")


def grievance_urge(case: Grievance, user, *, note: str = "", via_tracking=False) -> Grievance:
    """催办: the reporter or a leader asks for speed; counted.

    Through tracking (any complainant, no login): once the centre has accepted the case and
    before it is handled, at most once in 24 hours per case (PUBLIC_URGE_INTERVAL), checked
    again under the lock so that two complainants urging at once count once."""
    if via_tracking:
        problem = public_urge_refusal(case)
        if problem:
            raise WrongState(problem, state=case.state)

    def change(c: Grievance):
        if via_tracking:
            problem = public_urge_refusal(c)
            if problem:
                raise WrongState(problem, state=c.state)
        c.urge_count += 1
        data = {"count": c.urge_count}
        if via_tracking:
            data["public"] = True
        return data

    return _run(
        case,
        user,
        "urge",
        change,
        note=note.strip(),
        public=True,
        skip_role_check=via_tracking,
        actor_label=REPORTER_LABEL if via_tracking else None,
    )


def grievance_supervise(
    case: Grievance, user, *, note: str = "", threshold: str = "", system: bool = False
) -> Grievance:
    """督办: a formal notice on a missed deadline, by the centre, a leader or the system."""
    if not system:
        check_act("supervise", case, user)
        if not case.is_overdue:
            raise WrongState(_("Only an overdue case can be supervised."), state=case.state)

    def change(c: Grievance):
        c.supervise_count += 1
        return {"count": c.supervise_count, "threshold": threshold}

    return _run(
        case,
        user,
        "supervise",
        change,
        note=note.strip(),
        skip_role_check=system,
        actor_label=SYSTEM_LABEL if system else None,
    )


def grievance_note(
    case: Grievance,
    user,
    *,
    note: str,
    public: bool = False,
    attachments: Iterable[Attachment] = (),
) -> Grievance:
    """A progress update ("crew on site"), optionally shown to the reporter."""
    check_act("note", case, user)
    _require((note or "").strip(), "note")
    return _run(case, user, "note", note=note.strip(), public=public, attachments=attachments)


# --- Complainants who join a case --------------------------------------------------------------


def grievance_add_complainant(
    case: Grievance,
    user,
    *,
    person: ComplainantData,
    language: str = "",
    data: dict | None = None,
) -> Complainant:
    """Add one complainant to an open case (a resident who joined it: 这就是我要反映的),
    by its centre, with a "join" event on the timeline; the relay then tells them the
    tracking code (notifications.complainants), as every complainant is told.

    Steps: the centre (403) and an open case (409) → lock the row → check again, and the
    cap on complainants (MAX_COMPLAINANTS) → the complainant after the others → the event
    (`data` joins its data; it counts a write to the case)."""
    if not (sees_everything(user) or is_centre(user, case)):
        raise NotAllowed(_("Only the case's governance centre adds complainants."))
    _check_joinable(case)
    with transaction.atomic():
        locked = Grievance.objects.select_for_update().get(pk=case.pk)
        _check_joinable(locked)
        if locked.owning_centre_id != case.owning_centre_id and not sees_everything(user):
            raise WrongState(_("This case has moved on."), state=locked.state)
        count = Complainant.objects.filter(grievance=locked).count()
        if count >= settings.MAX_COMPLAINANTS:
            raise WrongState(
                _("This case has %(n)s complainants, the most one case takes.")
                % {"n": settings.MAX_COMPLAINANTS},
                state=locked.state,
            )
        added = Complainant.objects.create(
            grievance=locked,
            name=person.name.strip(),
            phone=person.phone.strip(),
            id_number=person.id_number,
            user=person.user,
            is_reporter=False,
            position=count,
            language=language,
        )
        record(
            locked,
            user,
            "join",
            from_state=locked.state,
            public=True,
            data={**(data or {}), "complainant": added.pk},
        )
    return added


def _check_joinable(case: Grievance) -> None:
    # Open: not refused, closed or withdrawn (a handled case still waits for verification).
    if case.state in (State.REJECTED, State.CLOSED, State.WITHDRAWN):
        raise WrongState(
            _("This case is %(state)s: nobody can join it now.")
            % {"state": case.get_state_display()},
            state=case.state,
        )


# --- The complainants' ratings --------------------------------------------------------------------


def default_rater(case: Grievance) -> Complainant | None:
    """The complainant a rating is for when the caller names none: the reporter (the first
    complainant), or the first complainant when none is marked."""
    people = list(case.complainants.all())
    return next((p for p in people if p.is_reporter), people[0] if people else None)


def rating_refusal(case: Grievance, now: datetime | None = None) -> str | None:
    """Why `case` cannot be rated now (not closed, or past the 30 days), or None."""
    if case.state != State.CLOSED:
        return _("A case can be rated once it is closed.")
    now = now or timezone.now()
    if case.closed_at is not None and now - case.closed_at > RATING_WINDOW:
        return _("A case can be rated within 30 days of its closing.")
    return None


def rating_open_until(case: Grievance) -> datetime | None:
    """The end of the case's rating window (30 days after it closed), or None."""
    if case.state != State.CLOSED or case.closed_at is None:
        return None
    return case.closed_at + RATING_WINDOW


def grievance_rate(
    case: Grievance,
    user,
    *,
    score: int,
    resolved: bool,
    comment: str = "",
    complainant: Complainant | None = None,
    via_tracking=False,
):
    """末端评价: each complainant rates the result once the case is closed, within 30 days of
    the closing, and may change their rating within those days.

    Who rates: `complainant` (proven by the caller: the tracking code and their phone
    digits, or their rating link); through tracking without one, the reporter complainant,
    or the reporter themselves on a case that names no complainant (who proved it by sending
    it). A signed-in reporter rates for the complainant linked to their account, or as the
    account.

    Steps: who (403) → state and window (409) → fields (400) → lock the case, check again →
    write or change the rating → the "rate" event (its relay schedules a return visit for an
    unsatisfied rating)."""
    from grievances.models import Rating

    if complainant is not None:
        if complainant.grievance_id != case.pk:
            raise NotAllowed(_("Only the case's own complainants rate its result."))
    elif via_tracking:
        complainant = default_rater(case)
    else:
        if not is_reporter(user, case):
            raise NotAllowed(_("Only the reporter rates the result."))
        complainant = next((p for p in case.complainants.all() if p.user_id == user.pk), None)
    problem = rating_refusal(case)
    if problem:
        raise WrongState(problem, state=case.state)
    if not isinstance(score, int) or isinstance(score, bool) or not 1 <= score <= 5:
        raise InvalidInput(_("Give a score from 1 to 5."), field="score")
    if resolved is None:
        raise InvalidInput(_("Say whether the matter is resolved."), field="resolved")
    comment = (comment or "").strip()
    with transaction.atomic():
        locked = Grievance.objects.select_for_update().get(pk=case.pk)
        problem = rating_refusal(locked)
        if problem:
            raise WrongState(problem, state=locked.state)
        if (
            complainant is not None
            and not Complainant.objects.filter(pk=complainant.pk, grievance=locked).exists()
        ):
            # Moved to another case meanwhile (a merge).
            raise NotAllowed(_("Only the case's own complainants rate its result."))
        existing = Rating.objects.filter(grievance=locked, complainant=complainant).first()
        if existing:
            existing.score, existing.resolved, existing.comment = score, resolved, comment
            existing.save(update_fields=["score", "resolved", "comment", "updated_at"])
            rating = existing
        else:
            rating = Rating.objects.create(
                grievance=locked,
                complainant=complainant,
                score=score,
                resolved=resolved,
                comment=comment,
            )
        record(
            locked,
            user if not via_tracking else None,
            "rate",
            from_state=locked.state,
            note=comment,
            public=True,
            data={
                "score": score,
                "resolved": resolved,
                "changed": bool(existing),
                "complainant": complainant.pk if complainant else None,
            },
            actor_label=COMPLAINANT_LABEL
            if complainant is not None and not complainant.is_reporter
            else REPORTER_LABEL,
        )
    return rating


# --- A resident's visits to their home page --------------------------------------------------

# Loads of the home page closer together than this are one visit: a reload, or a look at a
# case and back, keeps the "new" marks the visit opened with.
VISIT_GAP = timedelta(minutes=30)


def resident_visit(user, now: datetime | None = None) -> datetime | None:
    """Record that `user` opens their home page (我的反映) now, and return since when their
    cases' public events count as new: the last load of their previous visit. None on their
    first visit (nothing is marked: they have not seen the page before to compare with).

    No lock: two tabs loading at once write nearly the same instant, and either is right."""
    now = now or timezone.now()
    visit = ResidentVisit.objects.filter(user=user).first()
    if visit is None:
        ResidentVisit.objects.get_or_create(user=user, defaults={"seen_at": now})
        return None
    since = visit.since if now - visit.seen_at < VISIT_GAP else visit.seen_at
    ResidentVisit.objects.filter(pk=visit.pk).update(seen_at=now, since=since)
    return since


__all__ = [
    "RULES",
    "CaseError",
    "ComplainantData",
    "InvalidInput",
    "NotAllowed",
    "Stale",
    "Urgency",
    "WrongState",
    "available_acts",
    "case_event",
    "check_act",
    "expect_version",
    "touch",
]
