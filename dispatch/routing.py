"""Routing after a report or an acceptance, run by the outbox relay in a worker.

On submit the matching rule proposes the handling level (the centre sees it at triage); a
rule with auto-dispatch accepts the case and whistles its departments at once. On a
centre's accept, an auto-dispatch rule whistles. A case that moved on meanwhile is left as
it is: the handlers run again harmlessly.

Both handlers take a relay chunk's events of their action at once: the reports of a chunk
whose rule dispatches automatically are accepted and whistled together, set-based
(dispatch.services.accept_and_whistle: a few statements for the chunk, not a dozen per
case), with what the per-case services would write for each.
"""

from __future__ import annotations

import logging

from django.db.models import F
from django.utils.translation import gettext as _

from dispatch.services import (
    Proposal,
    accept_and_whistle,
    auto_dispatchable,
    propose,
    whistle_dispatch,
)
from grids.workcalendar import WorkCalendar
from grievances import services as case_services
from grievances.models import CaseEvent, Grievance, HandlingLevel, State
from grievances.relay import chunk_cache, in_relay, on_event

log = logging.getLogger(__name__)


def _cases(event_ids: list[int], state: str) -> list[Grievance]:
    """The cases of these events that are in `state`, with what routing reads.

    Two lookups by primary key (the events, then their cases), whatever the planner's
    statistics: a join of the two, or a state condition, can make PostgreSQL walk an index
    of a million cases for a chunk of twenty.
    """
    case_ids = set(
        CaseEvent.objects.filter(pk__in=event_ids).values_list("grievance_id", flat=True)
    )
    if not case_ids:
        return []
    found = (
        Grievance.objects.filter(pk__in=case_ids)
        .select_related("category", "region", "owning_centre")
        .order_by("pk")
    )
    return [case for case in found if case.state == state]


def _auto_note() -> str:
    return _("Accepted automatically by the routing rule.")


@on_event("submit", batch=True)
def route_submitted(event_ids: list[int]) -> None:
    """Route the reports of these submit events (a relay chunk's, or one)."""
    together: list[tuple[Grievance, Proposal]] = []
    levels: dict[str, list[int]] = {}
    for case in _cases(event_ids, State.SUBMITTED):
        proposal = _propose(case)
        if proposal.rule is None:
            continue
        if proposal.rule.auto_dispatch:
            if auto_dispatchable(proposal) and (
                not proposal.handling_level or proposal.handling_level in HandlingLevel.values
            ):
                together.append((case, proposal))
                continue
            # What the set-based path does not take (a department inactive meanwhile, …):
            # the services one case at a time, which say why.
            if _accept_and_whistle_one(case, proposal):
                continue
        if proposal.handling_level and not case.handling_level:
            levels.setdefault(proposal.handling_level, []).append(case.pk)
    if together:
        moved = {
            c.pk for c in accept_and_whistle(together, note=_auto_note(), calendar_for=_calendar)
        }
        for case, proposal in together:
            if case.pk not in moved:
                log.info("auto-dispatch of case %s skipped: it has moved on", case.pk)
                if proposal.handling_level and not case.handling_level:
                    levels.setdefault(proposal.handling_level, []).append(case.pk)
    for level, pks in levels.items():
        # Only the proposal's own column: the state is the centre's to move. (An automatic
        # accept sets it with the acceptance.)
        Grievance.objects.filter(pk__in=pks, handling_level="").update(
            handling_level=level, version=F("version") + 1
        )


@on_event("triage")
def route_corrected(event_id: int) -> None:
    """A centre corrected the category or the place of a case not yet accepted (研判): the
    handling level proposed at submission is the new rule's (none without one). An accepted
    case keeps the level its centre chose; the dispatch form proposes departments afresh.
    Nothing is dispatched automatically: the centre is at the case already."""
    event = CaseEvent.objects.filter(pk=event_id).values_list("grievance_id", "data").first()
    if event is None or not {"category", "region"} & set(event[1].get("changes", {})):
        return
    case = (
        Grievance.objects.filter(pk=event[0], state=State.SUBMITTED)
        .select_related("category", "region")
        .first()
    )
    if case is None:
        return
    level = propose(case).handling_level
    if level != case.handling_level:
        # The state and the level are checked again in the write: an accept meanwhile wins.
        Grievance.objects.filter(
            pk=case.pk, state=State.SUBMITTED, handling_level=case.handling_level
        ).update(handling_level=level, version=F("version") + 1)


def _accept_and_whistle_one(case: Grievance, proposal: Proposal) -> bool:
    try:
        accepted = case_services.grievance_accept(
            case,
            None,
            handling_level=proposal.handling_level,
            note=_auto_note(),
            system=True,
        )
        # The proposal just made: whistle_dispatch(proposed=True) would make it again.
        whistle_dispatch(
            accepted, None, proposal=proposal, system=True, calendar=_calendar(accepted)
        )
        return True
    except case_services.CaseError as exc:
        log.info("auto-dispatch of case %s skipped: %s", case.pk, exc.message)
        return False


@on_event("accept", batch=True)
def route_accepted(event_ids: list[int]) -> None:
    """Whistle the cases a centre accepted (these accept events) if their rule dispatches
    automatically."""
    # Decide from the events and the cases' states first (one small read): a system accept
    # was made by route_submitted, which has already whistled (or tried to), and a case that
    # moved on needs nothing.
    by_people = list(
        CaseEvent.objects.filter(pk__in=event_ids, actor__isnull=False).values_list("pk", flat=True)
    )
    if not by_people:
        return
    for case in _cases(by_people, State.ACCEPTED):
        proposal = _propose(case)
        if proposal.rule is None or not proposal.rule.auto_dispatch:
            continue
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
