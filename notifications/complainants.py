"""Complainants' messages (事事有回音): every complainant with a phone hears by SMS of
each public milestone of their case, once, through the notification service.

The milestones: registered (with the tracking code; a complainant who joins the case later
gets the same message when the centre adds them, they alone), accepted (naming the handler once
dispatched), not accepted (with the reason; a duplicate, or a case merged into another, says
where to follow: the link of their own code leads on to it), transferred
(已转办), referred up (已上报), extended (with the new date), done (with a one-tap rating
link) and handled again. Internal acts (supervision, urges, notes) send them nothing.
"""

from __future__ import annotations

from grievances.models import CaseEvent, Complainant, Grievance, RejectReason, State
from grievances.relay import on_event
from notifications.models import Delivery, Notification
from notifications.services import Notice, urgent_safety, write

RESIDENT_ACTIONS = (
    "submit",
    "join",
    "accept",
    "reject",
    "merge",
    "dispatch",
    "escalate",
    "extend",
    "verify",
    "redo",
    "reopen",
)


def _handler_name(data: dict) -> str:
    """Who handles the case after a dispatch: the lead department, or the grid or village
    sent to handle it on the spot (both named in the dispatch event)."""
    return data.get("lead") or data.get("to_region_name") or ""


def _milestone(event: CaseEvent, case: Grievance, context: dict) -> tuple[str, dict] | None:
    """The message a complainant gets for this event, or None. `context` holds what was
    read for the whole batch (see `_context`)."""
    data = event.data or {}
    code = case.display_code
    action = event.action
    if action in ("submit", "join"):
        return "resident.registered", {"code": code}
    if action == "accept":
        handler = _handler_name(context["next_dispatch"].get(event.pk) or {})
        if handler:
            return "resident.accepted_handler", {"code": code, "handler": handler}
        return "resident.accepted", {"code": code}
    if action == "dispatch":
        handler = _handler_name(data)
        if not handler:
            return None
        if context["previous"].get(event.pk) in context["named"]:
            return None  # the acceptance just before named the handler already
        return "resident.transferred", {"code": code, "handler": handler}
    if action == "merge":
        # Undone before the relay came to it (within seconds): nothing to tell.
        return ("resident.merged", {"code": code}) if case.state == State.REJECTED else None
    if action == "reject":
        if data.get("reason_code") == RejectReason.DUPLICATE:
            return "resident.merged", {"code": code}
        reason = case.reject_reason or str(RejectReason(data["reason_code"]).label)
        return "resident.rejected", {"code": code, "reason": reason[:60]}
    if action == "escalate":
        return "resident.escalated", {"code": code, "centre": data.get("to_centre_name", "")}
    if action == "extend":
        if data.get("decision") in ("approved", "granted") and data.get("handle_due_at"):
            return "resident.extended", {"code": code, "date": data["handle_due_at"]}
        return None
    if action == "verify":
        return "resident.closed", {"code": code}
    if action in ("redo", "reopen"):
        return "resident.redo", {"code": code}
    return None


def _context(events: list[CaseEvent]) -> dict:
    """What deciding the messages of these events needs, read for all of them at once:
    for an acceptance, the dispatch that followed it (an automatic dispatch comes right
    after); for a dispatch, the acceptance or dispatch before it, and which acceptances
    named the handler (then the dispatch says nothing new)."""
    context = {"next_dispatch": {}, "previous": {}, "named": set()}
    accepts = [e for e in events if e.action == "accept"]
    dispatches = [e for e in events if e.action == "dispatch"]
    if accepts:
        later = list(
            CaseEvent.objects.filter(
                grievance_id__in={e.grievance_id for e in accepts},
                action="dispatch",
                pk__gt=min(e.pk for e in accepts),
            )
            .order_by("pk")
            .values_list("pk", "grievance_id", "data")
        )
        for accept in accepts:
            found = next(
                (
                    data
                    for pk, case_id, data in later
                    if case_id == accept.grievance_id and pk > accept.pk
                ),
                None,
            )
            if found is not None:
                context["next_dispatch"][accept.pk] = found
    if dispatches:
        earlier = list(
            CaseEvent.objects.filter(
                grievance_id__in={e.grievance_id for e in dispatches},
                action__in=["accept", "dispatch"],
                pk__lt=max(e.pk for e in dispatches),
            ).values_list("pk", "grievance_id", "action")
        )
        for dispatch in dispatches:
            before = [
                (pk, action)
                for pk, case_id, action in earlier
                if case_id == dispatch.grievance_id and pk < dispatch.pk
            ]
            if before and max(before)[1] == "accept":
                context["previous"][dispatch.pk] = max(before)[0]
        context["named"] = set(
            Notification.objects.filter(
                event_id__in=set(context["previous"].values()),
                message="resident.accepted_handler",
            ).values_list("event_id", flat=True)
        )
    return context


def _complainants(events: list[CaseEvent]) -> dict[int, list[Complainant]]:
    """Who brought each case's matter: its complainants, and for a duplicate's rejection,
    those who moved to the original with it; by case id."""
    case_ids = {e.grievance_id for e in events}
    merged = {
        e.grievance_id
        for e in events
        if e.action in ("reject", "merge") and e.grievance.duplicate_of_id
    }
    people: dict[int, list[Complainant]] = {}
    for person in Complainant.objects.filter(grievance_id__in=case_ids):
        people.setdefault(person.grievance_id, []).append(person)
    if merged:
        for person in Complainant.objects.filter(merged_from_id__in=merged).exclude(
            grievance_id__in=merged
        ):
            people.setdefault(person.merged_from_id, []).append(person)
    return people


@on_event(*RESIDENT_ACTIONS, batch=True)
def tell_complainants(event_ids: list[int]) -> int:
    """The relay's handler: every complainant with a phone hears by SMS of a public
    milestone of their case, once. A relay chunk's events of one action at once, in a few
    statements whatever their number."""
    events = list(
        CaseEvent.objects.filter(pk__in=event_ids)
        .select_related("grievance__category")
        .order_by("pk")
    )
    if not events:
        return 0
    context = _context(events)
    people = _complainants(events)
    notices = []
    for event in events:
        case = event.grievance
        found = _milestone(event, case, context)
        if found is None:
            continue
        message, params = found
        at_any_hour = urgent_safety(case)
        # A complainant who joined is told the code; the others know it already.
        joined = (event.data or {}).get("complainant") if event.action == "join" else None
        for person in people.get(case.pk, ()):
            if joined is not None and person.pk != joined:
                continue
            # Complainants give a phone (an account's reader sees their news at home).
            if person.phone:
                notices.append(
                    Notice(
                        event=event,
                        message=message,
                        params=params,
                        complainant=person,
                        channels=(Delivery.Channel.SMS,),
                        kind=event.action,
                        at_any_hour=at_any_hour,
                    )
                )
    return write(notices)
