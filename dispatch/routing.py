"""Routing after a report or an acceptance, run by the outbox relay in a worker.

On submit the matching rule proposes the handling level (the centre sees it at triage); a
rule with auto-dispatch accepts the case and whistles its departments at once. On a
centre's accept, an auto-dispatch rule whistles. A case that moved on meanwhile is left as
it is: the handlers run again harmlessly.
"""

from __future__ import annotations

import logging

from django.utils.translation import gettext as _

from dispatch.services import Proposal, propose, whistle_dispatch
from grids.workcalendar import WorkCalendar
from grievances import services as case_services
from grievances.models import CaseEvent, Grievance, State
from grievances.tasks import chunk_cache, in_relay, on_event

log = logging.getLogger(__name__)


def _case(event_id: int) -> Grievance | None:
    event = (
        CaseEvent.objects.select_related(
            "grievance__category", "grievance__region", "grievance__owning_centre"
        )
        .filter(pk=event_id)
        .first()
    )
    return event.grievance if event is not None else None


@on_event("submit")
def route_submitted(event_id: int) -> None:
    case = _case(event_id)
    if case is None or case.state != State.SUBMITTED:
        return
    proposal = _propose(case)
    if proposal.rule is None:
        return
    if proposal.rule.auto_dispatch:
        try:
            accepted = case_services.grievance_accept(
                case,
                None,
                handling_level=proposal.handling_level,
                note=_("Accepted automatically by the routing rule."),
                system=True,
            )
            # The proposal just made: whistle_dispatch(proposed=True) would make it again.
            whistle_dispatch(
                accepted, None, proposal=proposal, system=True, calendar=_calendar(accepted)
            )
            return
        except case_services.CaseError as exc:
            log.info("auto-dispatch of case %s skipped: %s", case.pk, exc.message)
    if proposal.handling_level and not case.handling_level:
        # Only the proposal's own column: the state is the centre's to move. (An automatic
        # accept above sets it with the acceptance.)
        Grievance.objects.filter(pk=case.pk, handling_level="").update(
            handling_level=proposal.handling_level
        )


@on_event("accept")
def route_accepted(event_id: int) -> None:
    # Decide from the event and the case's state first (one small read): a system accept
    # was made by route_submitted, which has already whistled (or tried to), and a case that
    # moved on needs nothing.
    row = CaseEvent.objects.filter(pk=event_id).values_list("actor_id", "grievance__state").first()
    if row is None or row[0] is None or row[1] != State.ACCEPTED:
        return
    case = _case(event_id)
    if case is None or case.state != State.ACCEPTED:
        return
    proposal = _propose(case)
    if proposal.rule is None or not proposal.rule.auto_dispatch:
        return
    try:
        whistle_dispatch(case, None, proposal=proposal, system=True, calendar=_calendar(case))
    except case_services.CaseError as exc:
        log.info("auto-dispatch of case %s skipped: %s", case.pk, exc.message)


def _propose(case: Grievance) -> Proposal:
    """propose(case), once per category and region in a relay chunk: reports from one place
    about one matter arrive together and get the same answer."""
    proposals = chunk_cache().setdefault("proposals", {})
    key = (case.category_id, case.region_id)
    if key not in proposals:
        proposals[key] = propose(case)
    return proposals[key]


def _calendar(case: Grievance) -> WorkCalendar:
    """The case region's working calendar, built once per relay chunk (deadlines of many
    dispatches in a chunk then cost no query each)."""
    if not in_relay():
        return WorkCalendar(case.region_id)
    calendars = chunk_cache().setdefault("calendars", {})
    if case.region_id not in calendars:
        calendars[case.region_id] = WorkCalendar(case.region_id)
    return calendars[case.region_id]
