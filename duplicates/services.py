"""Every write of the duplicates app: joining a case near the pin (这就是我要反映的), the
centre's confirmation or refusal of a join, and the likely duplicate stored on a new case.

The acts follow grievances/services.py's order: who (403) and the case's state (409) →
one transaction, the case's row locked where counts must hold → check again → write. The
complainant a confirmation adds is added by grievances' own service, which writes the
timeline's event; the relay then sends them the tracking code as every complainant gets it.
"""

from __future__ import annotations

from collections.abc import Collection

from django.core import signing
from django.db import IntegrityError, transaction
from django.db.models import Case, Value, When
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from duplicates import selectors
from duplicates.models import Join
from grids.scoping import sees_everything
from grievances import services as cases
from grievances.models import Complainant, Grievance
from grievances.relay import on_event

# --- The token of a nearby case ------------------------------------------------------------
# The report page names a case to join by a signed token, not its id or code: a resident
# never learns either of a case that is not theirs, and a token cannot be made up for a
# case the page did not list. It expires: the list it came with is out of date by then.

TOKEN_SALT = "duplicates.join"
TOKEN_MAX_AGE = 2 * 60 * 60  # seconds


def join_token(case_id: int) -> str:
    return signing.dumps(case_id, salt=TOKEN_SALT, compress=True)


def case_of_token(token: str) -> Grievance | None:
    """The case a token names, or None when it is forged, expired or the case is gone."""
    try:
        case_id = signing.loads(token, salt=TOKEN_SALT, max_age=TOKEN_MAX_AGE)
    except signing.BadSignature:  # SignatureExpired is one
        return None
    if not isinstance(case_id, int):
        return None
    return Grievance.objects.select_related("category").filter(pk=case_id).first()


# --- Joining -------------------------------------------------------------------------------

# Joins waiting for the centre on one case at most: past that the centre has a crowd to
# confirm, and a resident is better served by a report of their own or the hotline.
MAX_PENDING_PER_CASE = 20


def _digits(phone: str) -> str:
    return "".join(ch for ch in phone if ch.isdigit())


def join_submit(
    case: Grievance,
    *,
    name: str,
    phone: str,
    user=None,
    client_address: str = "",
) -> Join | None:
    """A pending join of `case` by the person named (a resident, or the resident a grid
    worker `user` talks to).

    Refused: a case no longer open (409), a case with MAX_PENDING_PER_CASE joins waiting
    (409). A phone that already follows the case or already asked to join it makes no new
    join (None) but is answered as any other: otherwise the answer would tell whoever holds
    the button whether a given phone is among the case's complainants. The case's row is
    locked while the count is read, so that joins sent at once cannot pass the limit
    together."""
    name, phone = name.strip(), phone.strip()
    if not phone and not name:
        raise cases.InvalidInput(_("Give a name or a phone."), field="join_phone")
    _check_open(case)
    with transaction.atomic():
        locked = Grievance.objects.select_for_update().get(pk=case.pk)
        _check_open(locked)
        waiting = Join.objects.filter(grievance=locked, state=Join.State.PENDING).count()
        if waiting >= MAX_PENDING_PER_CASE:
            raise cases.WrongState(
                _(
                    "Many people are already waiting to join this case. Please send a report "
                    "of your own instead."
                ),
                state=locked.state,
            )
        if phone and _phone_taken(locked, phone):
            return None
        language = "en" if (translation.get_language() or "").startswith("en") else ""
        try:
            with transaction.atomic():
                return Join.objects.create(
                    grievance=locked,
                    name=name,
                    phone=phone,
                    language=language,
                    submitted_by=user if getattr(user, "is_authenticated", False) else None,
                    client_address=client_address[:64],
                )
        except IntegrityError:  # the same phone in the same instant (dj_one_join_per_phone)
            return None


def _check_open(case: Grievance) -> None:
    if not selectors.joinable(case):
        raise cases.WrongState(
            _("This case is %(state)s: it cannot be joined any more. Send a report of your own.")
            % {"state": case.get_state_display()},
            state=case.state,
        )


def _phone_taken(case: Grievance, phone: str) -> bool:
    wanted = _digits(phone)
    joins = Join.objects.filter(
        grievance=case, state__in=[Join.State.PENDING, Join.State.CONFIRMED]
    ).values_list("phone", flat=True)
    people = Complainant.objects.filter(grievance=case).values_list("phone", flat=True)
    return any(_digits(p) == wanted for p in [*joins, *people] if p)


# --- The centre decides --------------------------------------------------------------------


def may_decide(user, case: Grievance) -> bool:
    """The case's centre (or a centre above it) confirms and declines its joins."""
    return sees_everything(user) or cases.is_centre(user, case)


def _decide(join: Join, user, state: str) -> bool:
    """Mark a pending join decided; False when someone decided it first (a conditional
    update: of two staff deciding at once, one changes the row)."""
    return bool(
        Join.objects.filter(pk=join.pk, state=Join.State.PENDING).update(
            state=state, decided_by=user, decided_at=timezone.now()
        )
    )


def _already_decided(join: Join) -> cases.WrongState:
    return cases.WrongState(_("Someone decided on this join already."), state=join.state)


def join_confirm(join: Join, user, *, versions: Collection[int] | None = None) -> Join:
    """Confirm a pending join: the person becomes a complainant of the case (grievances'
    service: the "join" event, the tracking code by SMS). Only on one of `versions` of the
    case when given (the case page's version, an API If-Match)."""
    case = join.grievance
    if not may_decide(user, case):
        raise cases.NotAllowed(_("Only the case's governance centre decides on joins."))
    if join.state != Join.State.PENDING:
        raise _already_decided(join)
    with transaction.atomic():
        if versions is not None:
            cases.expect_version(case.pk, versions)
        if not _decide(join, user, Join.State.CONFIRMED):
            raise _already_decided(join)
        person = cases.grievance_add_complainant(
            case,
            user,
            person=cases.ComplainantData(name=join.name, phone=join.phone),
            language=join.language,
            data={"join": join.pk},
        )
        Join.objects.filter(pk=join.pk).update(complainant=person)
    join.refresh_from_db()
    return join


def join_decline(join: Join, user) -> Join:
    """Decline a pending join: kept with who declined it and when; the case does not change
    and nobody is told (the person is no complainant: they have no tracking code to be told
    of, and the report page told them a confirmation comes by SMS)."""
    if not may_decide(user, join.grievance):
        raise cases.NotAllowed(_("Only the case's governance centre decides on joins."))
    if join.state != Join.State.PENDING or not _decide(join, user, Join.State.DECLINED):
        join.refresh_from_db()
        raise _already_decided(join)
    join.refresh_from_db()
    return join


# --- The likely duplicate, found at intake ---------------------------------------------------


@on_event("submit", batch=True)
def flag_likely_duplicates(event_ids: list[int]) -> int:
    """The relay's handler for new reports: store on each case with a point the nearest
    open case of its category's family reported before it (duplicates.selectors), so that
    the centre's queues show it from the row. A few statements for a whole chunk of
    reports. Idempotent: a case already flagged is left as it is, and a relay that runs the
    chunk again finds the same case.

    The flag does not count as a write to the case (its version): it changes nothing that
    an act decides on, and counting it would refuse an act sent from a page opened in the
    fraction of a second before the relay found it."""
    cases_ = list(
        Grievance.objects.filter(
            events__pk__in=event_ids,
            likely_duplicate_of__isnull=True,
            lat__isnull=False,
            lng__isnull=False,
        ).select_related("category")
    )
    found = selectors.likely_duplicates(cases_)
    if not found:
        return 0
    return Grievance.objects.filter(pk__in=list(found), likely_duplicate_of__isnull=True).update(
        likely_duplicate_of_id=Case(
            *(When(pk=pk, then=Value(other)) for pk, (other, _m) in found.items())
        ),
        likely_duplicate_m=Case(
            *(When(pk=pk, then=Value(metres)) for pk, (_o, metres) in found.items())
        ),
    )
