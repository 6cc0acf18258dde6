"""回访问效: return visits after a case closes, and the centre's record of the call.

Who is visited (domain §2, §5): every case one of whose complainants was unsatisfied (any
one rating of 3 or less, or "not resolved": each complainant rates for themselves, and one
unhappy person is enough to call), every case that was escalated (纵向吹哨), and a sample of
the rest, `settings.RETURN_VISIT_SAMPLE` (default 0.2). The sample is drawn from a hash of
the tracking code, so scheduling the same case again gives the same answer. A visit is due
by the end of the next working day (the region's calendar) after the closing, or after the
unsatisfied rating when it comes later.

The relay calls `return_visit_schedule` for "verify" and "rate" events (see
evaluation/tasks.py); it is idempotent: one visit per (case, closing, reason).
"""

from __future__ import annotations

import hashlib
from datetime import datetime, time, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from evaluation.models import ReturnVisit, ReturnVisitReason
from grids.scoping import sees_everything
from grids.workcalendar import TZ, WorkCalendar
from grievances import services
from grievances.models import Grievance, Rating, State
from grievances.services import InvalidInput, NotAllowed, WrongState

DEFAULT_SAMPLE = 0.2


def sample_share() -> float:
    share = float(getattr(settings, "RETURN_VISIT_SAMPLE", DEFAULT_SAMPLE))
    if not 0 <= share <= 1:
        raise ValueError("RETURN_VISIT_SAMPLE must lie between 0 and 1")
    return share


def in_sample(tracking_code: str, share: float | None = None) -> bool:
    """Deterministic per case: the same code is always in or always out for one share."""
    share = sample_share() if share is None else share
    digest = hashlib.sha256(f"return-visit:{tracking_code}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < share


def unsatisfied(rating: Rating | None) -> bool:
    return rating is not None and (rating.score <= 3 or not rating.resolved)


def unsatisfied_ratings(ratings: list[Rating]) -> list[Rating]:
    return [r for r in ratings if unsatisfied(r)]


def visit_due(case: Grievance, after: datetime) -> datetime:
    """The end of the next working day after `after`, on the case's region calendar."""
    cal = WorkCalendar(case.region_id)
    local = after.astimezone(TZ).date()
    day = cal.working_days(local + timedelta(days=1), local + timedelta(days=400))[0]
    midnight = datetime.combine(day, time(0), tzinfo=TZ)
    return midnight + timedelta(microseconds=cal.periods[-1][1])


def reason_for(case: Grievance, ratings: list[Rating]) -> str | None:
    """Why this closed case is visited, the strongest reason first; None: not visited."""
    if unsatisfied_ratings(ratings):
        return ReturnVisitReason.UNSATISFIED
    if case.escalation_count > 0:
        return ReturnVisitReason.ESCALATED
    if in_sample(case.tracking_code):
        return ReturnVisitReason.SAMPLE
    return None


def return_visit_schedule(case_id: int, *, now: datetime | None = None) -> ReturnVisit | None:
    """Schedule the return visit a closed case calls for (idempotent), or None.

    After closing: one visit for the strongest reason. A later unsatisfied rating turns a
    visit not yet made into an "unsatisfied" one, or adds one if the call was already made.
    """
    now = now or timezone.now()
    case = Grievance.objects.filter(pk=case_id).first()
    if case is None or case.state != State.CLOSED or case.closed_at is None:
        return None
    ratings = list(Rating.objects.filter(grievance=case))
    reason = reason_for(case, ratings)
    if reason is None:
        return None
    with transaction.atomic():
        visits = list(
            ReturnVisit.objects.select_for_update().filter(grievance=case, closed_at=case.closed_at)
        )
        same = next((v for v in visits if v.reason == reason), None)
        if same is not None:
            return same
        if reason == ReturnVisitReason.UNSATISFIED:
            open_visit = next((v for v in visits if not v.is_recorded), None)
            if open_visit is not None:
                open_visit.reason = reason
                open_visit.save(update_fields=["reason"])
                return open_visit
        elif visits:
            return visits[0]  # escalated or sample: any visit of this closing will do
        # After the closing, or after the (latest unsatisfied) rating when one came later.
        counted = unsatisfied_ratings(ratings) or ratings
        after = max([case.closed_at, *(r.created_at for r in counted)])
        try:
            with transaction.atomic():
                return ReturnVisit.objects.create(
                    grievance=case,
                    closed_at=case.closed_at,
                    reason=reason,
                    due_at=visit_due(case, max(after, case.closed_at)),
                )
        except IntegrityError:
            # Another relay scheduled the same visit meanwhile.
            return ReturnVisit.objects.get(grievance=case, closed_at=case.closed_at, reason=reason)


def can_record(user, visit: ReturnVisit) -> bool:
    """Centre staff of the case's owning centre or a centre above it, and superusers."""
    return sees_everything(user) or services.is_centre(user, visit.grievance)


def return_visit_record(
    visit: ReturnVisit,
    user,
    *,
    reached: bool,
    satisfied: bool | None = None,
    resolved: bool | None = None,
    note: str = "",
    reopen: bool = False,
) -> ReturnVisit:
    """The centre records the call (one CaseEvent "return_visit").

    Steps: role (403) → already recorded (409) → fields (400) → lock the visit and the case,
    check again, save, write the event → with `reopen` and an unresolved answer, reopen
    the case (closed → in progress, within 30 days of closing) in the same transaction.
    """
    case = visit.grievance
    if not can_record(user, visit):
        raise NotAllowed(_("Only the centre that owns the case records its return visit."))
    if visit.is_recorded:
        raise WrongState(_("This return visit has already been recorded."), state=case.state)
    if not isinstance(reached, bool):
        raise InvalidInput(_("Say whether the reporter was reached."), field="reached")
    if reached:
        if not isinstance(satisfied, bool):
            raise InvalidInput(_("Say whether the reporter is satisfied."), field="satisfied")
        if not isinstance(resolved, bool):
            raise InvalidInput(_("Say whether the matter is resolved."), field="resolved")
    else:
        satisfied = resolved = None
    note = (note or "").strip()
    if reopen and resolved is not False:
        raise InvalidInput(
            _("A case is reopened after a reached reporter says it is not resolved."),
            field="reopen",
        )
    if reopen:
        # Checked before writing anything: role, state and the 30-day window.
        services.check_act("reopen", case, user)
    with transaction.atomic():
        locked = ReturnVisit.objects.select_for_update().get(pk=visit.pk)
        if locked.is_recorded:
            raise WrongState(_("This return visit has already been recorded."), state=case.state)
        locked.reached, locked.satisfied, locked.resolved = reached, satisfied, resolved
        locked.note = note
        locked.recorded_by = user
        locked.recorded_at = timezone.now()
        locked.save(
            update_fields=["reached", "satisfied", "resolved", "note", "recorded_by", "recorded_at"]
        )
        grievance = Grievance.objects.select_for_update().get(pk=case.pk)
        services.record(
            grievance,
            user,
            "return_visit",
            from_state=grievance.state,
            note=note,
            data={
                "visit": locked.pk,
                "reason": locked.reason,
                "reached": reached,
                "satisfied": satisfied,
                "resolved": resolved,
            },
        )
        if reopen:
            services.grievance_reopen(
                grievance,
                user,
                reason=note or _("Not resolved, the reporter said on the return visit."),
            )
    return locked
