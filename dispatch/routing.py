"""Routing after a report or an acceptance, run by the outbox relay in a worker.

On submit the matching rule proposes the handling level (the centre sees it at triage); a
rule with auto-dispatch accepts the case and whistles its departments at once. On a
centre's accept, an auto-dispatch rule whistles. A case that moved on meanwhile is left as
it is: the handlers run again harmlessly.
"""

from __future__ import annotations

import logging

from django.utils.translation import gettext as _

from dispatch.services import propose, whistle_dispatch
from grievances import services as case_services
from grievances.models import CaseEvent, Grievance, State
from grievances.tasks import on_event

log = logging.getLogger(__name__)


def _case(event_id: int) -> Grievance | None:
    grievance_id = CaseEvent.objects.filter(pk=event_id).values_list("grievance_id", flat=True)
    return (
        Grievance.objects.select_related("category", "region", "owning_centre")
        .filter(pk__in=grievance_id)
        .first()
    )


@on_event("submit")
def route_submitted(event_id: int) -> None:
    case = _case(event_id)
    if case is None or case.state != State.SUBMITTED:
        return
    proposal = propose(case)
    if proposal.rule is None:
        return
    if proposal.handling_level and not case.handling_level:
        # Only the proposal's own column: the state is the centre's to move.
        Grievance.objects.filter(pk=case.pk, handling_level="").update(
            handling_level=proposal.handling_level
        )
    if proposal.rule.auto_dispatch:
        try:
            accepted = case_services.grievance_accept(
                case,
                None,
                handling_level=proposal.handling_level,
                note=_("Accepted automatically by the routing rule."),
                system=True,
            )
            whistle_dispatch(accepted, None, proposed=True, system=True)
        except case_services.CaseError as exc:
            log.info("auto-dispatch of case %s skipped: %s", case.pk, exc.message)


@on_event("accept")
def route_accepted(event_id: int) -> None:
    case = _case(event_id)
    if case is None or case.state != State.ACCEPTED:
        return
    proposal = propose(case)
    if proposal.rule is None or not proposal.rule.auto_dispatch:
        return
    try:
        whistle_dispatch(case, None, proposed=True, system=True)
    except case_services.CaseError as exc:
        log.info("auto-dispatch of case %s skipped: %s", case.pk, exc.message)
