"""Merging a case into another case of the same matter (合并), and undoing it within a day.

Merge: the centre names the case that stays. The merged case ends as rejected, a
duplicate pointing to it, so that tracking leads its complainants on to it; its
complainants and photos move to the case that stays (a complainant keeps `merged_from`
and still follows with the code and digits they have); both timelines say so, and the
dispatch app ends the merged case's open whistles on its event. What moved and the state
the merge ended are written in the merge's event: the timeline is the record an unmerge
reads, so nothing else keeps it.

Unmerge: within UNDO_WINDOW of the merge (clock hours), by the centre: the merged case
goes back to the state it had, with its complainants and photos; the dispatch app reopens
the whistles that the merge ended, their deadlines as they were.

Both lock the two cases' rows in id order before anything else: two merges of one pair
in opposite directions, or a merge and an act on either case, wait for each other instead
of deadlocking; then they follow grievances/services.py's order.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from grids.scoping import sees_everything
from grievances import selectors, services
from grievances.models import (
    TERMINAL_STATES,
    Attachment,
    CaseEvent,
    Complainant,
    Grievance,
    RejectReason,
    State,
    format_tracking_code,
)

UNDO_WINDOW = timedelta(hours=24)


def check(name: str, case: Grievance, user) -> None:
    """Raise NotAllowed (403) or WrongState (409) when `user` may not merge `case` (or undo
    its merge) now: the centre's move, from the states the graph allows."""
    rule = services.SYSTEM_MOVES[name]
    if not rule.who(user, case):
        raise services.NotAllowed(_("You may not do this on this case."))
    services._check_state(rule, case)
    problem = unmerge_refusal(case) if name == "unmerge" else None
    if problem:
        raise services.WrongState(problem, state=case.state)


def _check_into(case: Grievance, into: Grievance, user) -> None:
    """The case that stays must be another open case of the user's centre, not merged."""
    if into.pk == case.pk:
        raise services.InvalidInput(_("A case cannot be merged into itself."), field="into")
    if not (sees_everything(user) or services.is_centre(user, into)):
        raise services.NotAllowed(_("Only the governance centre of both cases merges them."))
    code = into.display_code
    if into.state == State.REJECTED and into.duplicate_of_id:
        raise services.WrongState(
            _("Case %(code)s was itself merged into another case: merge into that one.")
            % {"code": code},
            field="into",
            state=into.state,
        )
    if into.state in TERMINAL_STATES:
        raise services.WrongState(
            _("Case %(code)s is %(state)s: merge into an open case.")
            % {"code": code, "state": into.get_state_display()},
            field="into",
            state=into.state,
        )


def _lock_pair(case: Grievance, other_pk: int) -> Grievance:
    """Lock both rows in id order (no joins in the locking read, as services._run says) and
    return the other case as it is now."""
    rows = {
        row.pk: row
        for row in Grievance.objects.select_for_update()
        .filter(pk__in=[case.pk, other_pk])
        .order_by("pk")
    }
    if other_pk not in rows:
        raise services.InvalidInput(_("No such case."), field="into")
    return rows[other_pk]


def grievance_merge(
    case: Grievance,
    into: Grievance,
    user,
    *,
    note: str = "",
    versions: Collection[int] | None = None,
) -> Grievance:
    """Merge `case` (submitted, accepted, dispatched or in progress) into `into`, only on
    one of `versions` of `case` when given (an If-Match, the page's version)."""
    check("merge", case, user)
    _check_into(case, into, user)
    note = note.strip()
    with transaction.atomic():
        target = _lock_pair(case, into.pk)
        if versions is not None:
            services.expect_version(case.pk, versions)
        _check_into(case, target, user)
        moved: dict = {}

        def change(c: Grievance) -> dict:
            people = list(Complainant.objects.filter(grievance=c).order_by("position", "id"))
            moved["people"] = [[p.pk, p.position, p.is_reporter, p.merged_from_id] for p in people]
            start = Complainant.objects.filter(grievance=target).count()
            for offset, person in enumerate(people):
                person.grievance = target
                person.position = start + offset
                person.is_reporter = False
                # One merged before keeps the case they came from: they track its code.
                person.merged_from_id = person.merged_from_id or c.pk
            Complainant.objects.bulk_update(
                people, ["grievance", "position", "is_reporter", "merged_from"]
            )
            moved["photos"] = list(
                Attachment.objects.filter(grievance=c).values_list("pk", flat=True)
            )
            Attachment.objects.filter(pk__in=moved["photos"]).update(grievance=target)
            c.reject_reason_code = RejectReason.DUPLICATE
            c.reject_reason = ""
            c.duplicate_of = target
            return {
                "reason_code": RejectReason.DUPLICATE,
                "other": target.tracking_code,
                "other_id": target.pk,
                "complainants": moved["people"],
                "photos": moved["photos"],
            }

        merged = services._run(
            case, user, "merge", change, note=note, public=True, skip_role_check=True
        )
        services.record(
            target,
            user,
            "merge_in",
            from_state=target.state,
            note=note,
            data={
                "other": merged.tracking_code,
                "other_id": merged.pk,
                "complainants": len(moved["people"]),
                "photos": len(moved["photos"]),
            },
        )
    return merged


def last_merge(case: Grievance) -> CaseEvent | None:
    """The merge event that made `case` what it is: the latest of its merges and unmerges,
    when that is a merge and the case is still merged."""
    if case.state != State.REJECTED or not case.duplicate_of_id:
        return None
    event = (
        CaseEvent.objects.filter(grievance=case, action__in=["merge", "unmerge"])
        .order_by("-created_at", "-id")
        .first()
    )
    return event if event is not None and event.action == "merge" else None


def undo_until(merge: CaseEvent) -> datetime:
    return merge.created_at + UNDO_WINDOW


def unmerge_refusal(case: Grievance, now: datetime | None = None) -> str | None:
    """Why the merge of `case` cannot be undone now, or None."""
    merge = last_merge(case)
    if merge is None:
        return _("This case is not merged into another one.")
    if (now or timezone.now()) > undo_until(merge):
        return _("A merge can be undone within 24 hours of it; this one was made at %(time)s.") % {
            "time": date_format(timezone.localtime(merge.created_at), "Y-m-d H:i")
        }
    return None


def grievance_unmerge(
    case: Grievance, user, *, note: str = "", versions: Collection[int] | None = None
) -> Grievance:
    """Undo the merge of `case`: its state, complainants and photos come back from the case
    it was merged into (those still there), and the dispatch app reopens its whistles."""
    check("unmerge", case, user)
    merge = last_merge(case)
    note = note.strip()
    with transaction.atomic():
        target = _lock_pair(case, merge.data["other_id"])
        if versions is not None:
            services.expect_version(case.pk, versions)
        if target.state == State.REJECTED and target.duplicate_of_id:
            raise services.WrongState(
                _("Case %(code)s has since been merged into another case: undo that first.")
                % {"code": target.display_code},
                state=case.state,
            )

        def change(c: Grievance) -> dict:
            if getattr(last_merge(c), "pk", None) != merge.pk:
                raise services.WrongState(_("This case has moved on."), state=c.state)
            problem = unmerge_refusal(c)
            if problem:  # the window closed while the locks were awaited
                raise services.WrongState(problem, state=c.state)
            rows = merge.data.get("complainants", [])
            people = Complainant.objects.in_bulk([row[0] for row in rows])
            back = []
            for pk, position, is_reporter, merged_from in rows:
                person = people.get(pk)
                if person is None or person.grievance_id != target.pk:
                    continue
                person.grievance_id, person.position = c.pk, position
                person.is_reporter, person.merged_from_id = is_reporter, merged_from
                back.append(person)
            Complainant.objects.bulk_update(
                back, ["grievance", "position", "is_reporter", "merged_from"]
            )
            Attachment.objects.filter(pk__in=merge.data.get("photos", []), grievance=target).update(
                grievance=c
            )
            c.reject_reason_code = ""
            c.duplicate_of = None
            c.restore_state = merge.from_state
            return {"other": target.tracking_code, "other_id": target.pk, "merge": merge.pk}

        restored = services._run(
            case, user, "unmerge", change, note=note, public=True, skip_role_check=True
        )
        services.record(
            target,
            user,
            "unmerge_out",
            from_state=target.state,
            note=note,
            data={"other": restored.tracking_code, "other_id": restored.pk},
        )
    return restored


# --- The timeline's words --------------------------------------------------------------------


def _label(named, plain):
    """A label naming the other case for staff; the plain one where the event's data is not
    shown (public tracking)."""

    def label(event) -> str:
        code = (event.data or {}).get("other")
        return str(named) % {"code": format_tracking_code(code)} if code else str(plain)

    return label


MERGE_UNDONE = gettext_lazy("Merge undone")
selectors.EVENT_LABEL_MAKERS.update(
    {
        "merge": _label(gettext_lazy("Merged into %(code)s"), selectors.MERGED_LINE),
        "merge_in": _label(
            gettext_lazy("Merged in %(code)s"), gettext_lazy("Another report merged in")
        ),
        "unmerge": _label(gettext_lazy("Merge into %(code)s undone"), MERGE_UNDONE),
        "unmerge_out": _label(gettext_lazy("Merge of %(code)s undone"), MERGE_UNDONE),
    }
)
