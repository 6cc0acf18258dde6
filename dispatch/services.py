"""吹哨报到: routing proposals, whistles to departments and the departments' acts.

The case's own moves (dispatch, report_in, return, handle, extend, note) are the services of
grievances; the functions here add the whistle and its assignments around them, in the same
transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from django.db import transaction
from django.dispatch import receiver
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from dispatch.models import (
    Assignment,
    Department,
    DepartmentMembership,
    DepartmentRole,
    RoutingRule,
    Whistle,
)
from grids.models import User
from grids.scoping import sees_everything
from grids.workcalendar import WorkCalendar
from grievances import deadlines
from grievances import selectors as case_selectors
from grievances import services as case_services
from grievances.models import Grievance, State
from grievances.services import InvalidInput, NotAllowed, WrongState

OPEN = (Assignment.Status.PENDING, Assignment.Status.REPORTED_IN)


# --- Routing -----------------------------------------------------------------------------------


@dataclass
class Proposal:
    rule: RoutingRule | None = None
    lead: Department | None = None
    assisting: list[Department] = field(default_factory=list)
    handling_level: str = ""
    conflict: list[RoutingRule] = field(default_factory=list)

    @property
    def departments(self) -> list[Department]:
        return [self.lead, *self.assisting] if self.lead else []


def matching_rules(case: Grievance) -> list[RoutingRule]:
    """Active rules whose category subtree and region subtree hold the case."""
    category, region = case.category, case.region
    return list(
        RoutingRule.objects.filter(
            active=True,
            category__tree_id=category.tree_id,
            category__lft__lte=category.lft,
            category__rght__gte=category.rght,
            region__tree_id=region.tree_id,
            region__lft__lte=region.lft,
            region__rght__gte=region.rght,
        )
        .select_related("category", "region", "lead")
        .prefetch_related("assisting")
    )


def propose(case: Grievance) -> Proposal:
    """The most specific rule's departments and handling level; conflicts are reported."""
    rules = matching_rules(case)
    if not rules:
        return Proposal()
    rules.sort(key=lambda r: r.specificity, reverse=True)
    best = rules[0]
    ties = [r for r in rules if r.specificity == best.specificity]
    if len(ties) > 1:
        return Proposal(conflict=ties)
    return Proposal(
        rule=best,
        lead=best.lead,
        assisting=[d for d in best.assisting.all() if d.pk != best.lead_id],
        handling_level=best.handling_level,
    )


def rule_conflicts(rules=None) -> list[tuple[RoutingRule, RoutingRule]]:
    """Pairs of active rules with the same category and region (equally specific for
    every case they both match): shown in the admin and on the console."""
    if rules is None:
        rules = RoutingRule.objects.filter(active=True)
    rules = list(rules.select_related("category", "region"))
    seen: dict[tuple[int, int], RoutingRule] = {}
    pairs = []
    for rule in rules:
        key = (rule.category_id, rule.region_id)
        if key in seen:
            pairs.append((seen[key], rule))
        else:
            seen[key] = rule
    return pairs


# --- Who is who ----------------------------------------------------------------------------------


def department_ids(user) -> set[int]:
    if not getattr(user, "is_authenticated", False):
        return set()
    cached = getattr(user, "_fengqiao_departments", None)
    if cached is None:
        cached = set(
            DepartmentMembership.objects.filter(user=user).values_list("department_id", flat=True)
        )
        user._fengqiao_departments = cached
    return cached


def head_department_ids(user) -> set[int]:
    """The departments whose head (DepartmentRole.HEAD) the user is: they name officers."""
    if not getattr(user, "is_authenticated", False):
        return set()
    cached = getattr(user, "_fengqiao_head_of", None)
    if cached is None:
        cached = set(
            DepartmentMembership.objects.filter(user=user, role=DepartmentRole.HEAD).values_list(
                "department_id", flat=True
            )
        )
        user._fengqiao_head_of = cached
    return cached


def may_name_officer(user, assignment: Assignment) -> bool:
    """The head of the assignment's department names its officer, and a superuser. The
    centre chooses the department, never the person inside it."""
    return sees_everything(user) or assignment.department_id in head_department_ids(user)


def open_lead(case: Grievance) -> Assignment | None:
    # Asked once per act when a page lists the acts available: read once per case object.
    # Services work on a freshly locked copy, so this never decides on a stale answer.
    if not hasattr(case, "_open_lead"):
        case._open_lead = (
            Assignment.objects.filter(
                whistle__grievance=case, role=Assignment.Role.LEAD, status__in=OPEN
            )
            .select_related("department", "whistle")
            .order_by("-id")
            .first()
        )
    return case._open_lead


def is_lead_department_member(user, case: Grievance) -> bool:
    lead = open_lead(case)
    return lead is not None and lead.department_id in department_ids(user)


case_services.handler_checks.append(is_lead_department_member)


def lead_department_label(user, case: Grievance) -> str | None:
    lead = open_lead(case)
    if lead is not None and lead.department_id in department_ids(user):
        return lead.department.name
    return None


case_services.actor_labelers.append(lead_department_label)


def _check_member(user, assignment: Assignment) -> None:
    if sees_everything(user):
        return
    if assignment.department_id not in department_ids(user):
        raise NotAllowed(_("Only staff of %(dept)s can do this.") % {"dept": assignment.department})


def check_assignment_act(name: str, assignment: Assignment, user) -> None:
    """403 for a non-member, 409 when the assignment's status or role does not allow it."""
    if name == "officer":
        _check_officer_act(user, assignment)
        return
    _check_member(user, assignment)
    lead = assignment.role == Assignment.Role.LEAD
    if name in ("report_in", "refuse") and assignment.status != Assignment.Status.PENDING:
        raise WrongState(_("This assignment has already been answered."), state=assignment.status)
    if name == "refuse" and lead:
        raise WrongState(
            _("The lead department returns a case; it cannot refuse it."), state=assignment.status
        )
    if name in ("return", "extend") and not (lead and assignment.is_open):
        raise WrongState(_("Only the open lead assignment can do this."), state=assignment.status)


# --- Dispatch to departments -------------------------------------------------------------------


def whistle_dispatch(
    case: Grievance,
    user,
    *,
    departments: list[Department] | None = None,
    proposed: bool = False,
    proposal: Proposal | None = None,
    instructions: str = "",
    system: bool = False,
    calendar: WorkCalendar | None = None,
) -> Grievance:
    """横向吹哨: the centre calls a lead department and assisting ones (lead first); or the
    system, for a routing rule that dispatches automatically.

    `proposal`: the routing proposal, when the caller has just made it (implies
    `proposed`). `calendar`: the case region's working calendar, when the caller keeps one
    for many dispatches."""
    if not system:
        case_services.check_act("dispatch", case, user)
    if proposed or proposal is not None:
        proposed = True
        proposal = proposal if proposal is not None else propose(case)
        if proposal.conflict:
            raise InvalidInput(
                _("Two routing rules are equally specific: fix them or choose departments."),
                field="proposed",
            )
        if not proposal.lead:
            raise InvalidInput(_("No routing rule matches this case."), field="proposed")
        departments = proposal.departments
    if not departments:
        raise InvalidInput(_("Choose at least the lead department."), field="departments")
    if len({d.pk for d in departments}) != len(departments):
        raise InvalidInput(_("A department is named twice."), field="departments")
    inactive = [d for d in departments if not d.active]
    if inactive:
        raise InvalidInput(
            _("%(dept)s is not active.") % {"dept": inactive[0]}, field="departments"
        )

    def assign(c: Grievance) -> dict:
        now = timezone.now()
        # The centre that blows the whistle: the acting one (a county centre whistling on a
        # village's case is the county centre).
        centre = (
            c.owning_centre if system or user is None else case_services._acting_centre(user, c)
        )
        whistle = Whistle.objects.create(
            grievance=c, centre=centre, issued_by=user, instructions=instructions
        )
        report_in_due, handle_due = deadlines.due_dates(c, now, calendar)
        Assignment.objects.bulk_create(
            _assignments(whistle, departments, report_in_due, handle_due)
        )
        c.report_in_due_at, c.handle_due_at = report_in_due, handle_due
        return {
            "deadlines_set": True,
            "whistle": whistle.pk,
            "lead": departments[0].name,
            "assisting": [d.name for d in departments[1:]],
            "proposed": proposed,
        }

    return case_services.grievance_dispatch(
        case, user, assign=assign, note=instructions, system=system
    )


def auto_dispatchable(proposal: Proposal) -> bool:
    """Whether whistle_dispatch(proposal=…, system=True) takes this proposal's departments:
    the checks it makes before writing anything."""
    if proposal.conflict or not proposal.lead:
        return False
    departments = proposal.departments
    return len({d.pk for d in departments}) == len(departments) and all(
        d.active for d in departments
    )


def accept_and_whistle(
    cases: list[tuple[Grievance, Proposal]],
    *,
    note: str,
    calendar_for: Callable[[Grievance], WorkCalendar],
) -> list[Grievance]:
    """The system's accept and whistle for many submitted cases whose routing rule dispatches
    automatically (a relay chunk's reports), set-based.

    Writes for each case what `grievance_accept(case, None, handling_level=the rule's,
    note=note, system=True)` followed by `whistle_dispatch(case, None, proposal=…,
    system=True)` write (grievances.services.grievances_accept_and_dispatch), with one
    INSERT of the whistles and one of the assignments for the lot. Every proposal must be
    `auto_dispatchable`. Cases moved meanwhile are left alone; returns those moved.
    """
    proposals = {case.pk: proposal for case, proposal in cases}
    if not all(auto_dispatchable(p) for p in proposals.values()):
        raise InvalidInput(_("No routing rule matches this case."), field="proposed")

    def assign(moving: list[Grievance], now: datetime) -> dict[int, dict]:
        # The owning centre blows the whistle (the system acts for it).
        whistles = Whistle.objects.bulk_create(
            [Whistle(grievance=c, centre_id=c.owning_centre_id, issued_by=None) for c in moving]
        )
        rows, data = [], {}
        # One instant for the lot: reports of one matter, urgency and place share deadlines.
        due: dict[tuple, tuple[datetime, datetime]] = {}
        for c, whistle in zip(moving, whistles, strict=True):
            departments = proposals[c.pk].departments
            key = (c.category_id, c.urgency, c.region_id)
            if key not in due:
                due[key] = deadlines.due_dates(c, now, calendar_for(c))
            report_in_due, handle_due = due[key]
            rows += _assignments(whistle, departments, report_in_due, handle_due)
            c.report_in_due_at, c.handle_due_at = report_in_due, handle_due
            data[c.pk] = {
                "deadlines_set": True,
                "whistle": whistle.pk,
                "lead": departments[0].name,
                "assisting": [d.name for d in departments[1:]],
                "proposed": True,
            }
        Assignment.objects.bulk_create(rows)
        return data

    return case_services.grievances_accept_and_dispatch(
        [(case, proposals[case.pk].handling_level) for case, _p in cases], note=note, assign=assign
    )


def _assignments(whistle, departments, report_in_due, handle_due) -> list[Assignment]:
    """A whistle's assignments, not yet saved: the lead first, then the assisting ones."""
    return [
        Assignment(
            whistle=whistle,
            department=dept,
            role=Assignment.Role.LEAD if i == 0 else Assignment.Role.ASSISTING,
            report_in_due_at=report_in_due,
            handle_due_at=handle_due,
        )
        for i, dept in enumerate(departments)
    ]


def whistle_dispatch_by_ids(
    case: Grievance, user, *, department_ids: list[int], proposed: bool, instructions: str
) -> Grievance:
    """The case API's entry point: departments by id, lead first."""
    departments = []
    if department_ids:
        found = Department.objects.in_bulk(department_ids)
        missing = [i for i in department_ids if i not in found]
        if missing:
            raise InvalidInput(
                _("Unknown department: %(ids)s.") % {"ids": ", ".join(map(str, missing))},
                field="departments",
            )
        departments = [found[i] for i in department_ids]
    return whistle_dispatch(
        case, user, departments=departments, proposed=proposed, instructions=instructions
    )


case_services.department_dispatch = whistle_dispatch_by_ids


# --- The departments' acts ------------------------------------------------------------------------


def _lock(assignment: Assignment) -> Assignment:
    return (
        Assignment.objects.select_for_update()
        .select_related("whistle", "department")
        .get(pk=assignment.pk)
    )


def _label(assignment: Assignment) -> str:
    return assignment.department.name


def assignment_report_in(
    assignment: Assignment, user, *, note: str = "", officer_id: int | None = None
) -> Assignment:
    """签收. The lead's report-in moves the case to in progress; an assisting department's
    accepts its part (协同).

    The officer (承办人): `officer_id` when given (another member than oneself only by the
    department's head), else the one the head named before, else the member who reports in."""
    _check_member(user, assignment)
    if assignment.status != Assignment.Status.PENDING:
        raise WrongState(_("This assignment has already been answered."), state=assignment.status)
    chosen = None
    if officer_id is not None:
        chosen = _officer_member(assignment, officer_id)
        if chosen.pk != user.pk and not may_name_officer(user, assignment):
            raise NotAllowed(
                _("Only the head of %(dept)s names another officer.")
                % {"dept": assignment.department}
            )
    case = assignment.whistle.grievance
    if assignment.role == Assignment.Role.LEAD:
        with transaction.atomic():
            locked = _lock(assignment)
            if locked.status != Assignment.Status.PENDING:
                raise WrongState(_("This assignment has moved on."), state=locked.status)
            case_services.grievance_report_in(case, user, note=note)
            locked.status = Assignment.Status.REPORTED_IN
            locked.reported_in_at = timezone.now()
            locked.officer_id = _report_in_officer(locked, user, chosen)
            locked.save(update_fields=["status", "reported_in_at", "officer"])
        return locked
    return _assisting_answer(
        assignment, user, "assist_accept", Assignment.Status.REPORTED_IN, note, officer=chosen
    )


def _report_in_officer(assignment: Assignment, user, chosen) -> int | None:
    """Who handles the part once it is signed for: the chosen member, the one named before,
    or the member who signs (nobody when a superuser outside the department signs)."""
    if chosen is not None:
        return chosen.pk
    if assignment.officer_id:
        return assignment.officer_id
    if assignment.department_id in department_ids(user):
        return user.pk
    return None


def _officer_member(assignment: Assignment, officer_id) -> User:
    """The active member of the assignment's department with this user id, or a 400 on the
    field `officer`."""
    member = (
        DepartmentMembership.objects.filter(
            department_id=assignment.department_id, user_id=officer_id, user__is_active=True
        )
        .select_related("user")
        .first()
    )
    if member is None:
        raise InvalidInput(
            _("Choose a member of %(dept)s.") % {"dept": assignment.department}, field="officer"
        )
    return member.user


def _check_officer_act(user, assignment: Assignment) -> None:
    """403 for anyone but the department's head, 409 once the assignment is closed."""
    if not may_name_officer(user, assignment):
        raise NotAllowed(
            _("Only the head of %(dept)s assigns its officers.") % {"dept": assignment.department}
        )
    if not assignment.is_open:
        raise WrongState(_("This assignment is closed."), state=assignment.status)


def assignment_set_officer(assignment: Assignment, user, *, officer_id: int) -> Assignment:
    """The department head names (or changes) the officer (承办人) of an open assignment.

    Steps: head → open → the new officer a member of the department → lock and re-check →
    save → the event on the case's timeline (the new officer hears of it). Naming the
    officer already named changes nothing and writes nothing."""
    _check_officer_act(user, assignment)
    officer = _officer_member(assignment, officer_id)
    with transaction.atomic():
        locked = _lock(assignment)
        if not locked.is_open:
            raise WrongState(_("This assignment has moved on."), state=locked.status)
        if locked.officer_id == officer.pk:
            return locked
        previous = locked.officer
        locked.officer = officer
        locked.save(update_fields=["officer"])
        case = Grievance.objects.select_for_update().get(pk=locked.whistle.grievance_id)
        case_services.record(
            case,
            user,
            "officer",
            from_state=case.state,
            data={
                "assignment": locked.pk,
                "department": locked.department.name,
                "officer_id": officer.pk,
                "officer": str(officer),
                "previous": str(previous) if previous else "",
            },
            actor_label=_label(locked),
        )
    return locked


def lead_report_in(case: Grievance, user, *, note: str = "") -> Assignment | None:
    """The case's report-in by its lead department, through the lead's pending assignment so
    that the assignment and the case move together (the case page's report-in). None when the
    case has no pending lead assignment of the user's departments: the case's own report-in
    applies."""
    lead = open_lead(case)
    if lead is None or lead.status != Assignment.Status.PENDING:
        return None
    if not (sees_everything(user) or lead.department_id in department_ids(user)):
        return None
    return assignment_report_in(lead, user, note=note)


def assignment_refuse(assignment: Assignment, user, *, reason: str) -> Assignment:
    """An assisting department refuses its part, with a reason."""
    _check_member(user, assignment)
    if assignment.role != Assignment.Role.ASSISTING:
        raise WrongState(
            _("The lead department returns a case; it cannot refuse it."), state=assignment.status
        )
    if assignment.status != Assignment.Status.PENDING:
        raise WrongState(_("This assignment has already been answered."), state=assignment.status)
    if not (reason or "").strip():
        raise InvalidInput(_("This field is required."), field="reason")
    return _assisting_answer(assignment, user, "assist_refuse", Assignment.Status.REFUSED, reason)


def _assisting_answer(
    assignment, user, action: str, status: str, note: str, officer=None
) -> Assignment:
    with transaction.atomic():
        locked = _lock(assignment)
        if locked.status != Assignment.Status.PENDING:
            raise WrongState(_("This assignment has moved on."), state=locked.status)
        locked.status = status
        locked.reason = note.strip() if status == Assignment.Status.REFUSED else ""
        locked.reported_in_at = timezone.now()
        if status == Assignment.Status.REPORTED_IN:
            locked.officer_id = _report_in_officer(locked, user, officer)
        locked.save(update_fields=["status", "reason", "reported_in_at", "officer"])
        case = Grievance.objects.select_for_update().get(pk=locked.whistle.grievance_id)
        case_services.record(
            case,
            user,
            action,
            from_state=case.state,
            note=note.strip(),
            data={"assignment": locked.pk, "department": locked.department.name},
            actor_label=_label(locked),
        )
    return locked


def assignment_return(assignment: Assignment, user, *, reason: str) -> Assignment:
    """退单 by the lead: the case goes back to the centre, which re-routes it."""
    _check_member(user, assignment)
    if assignment.role != Assignment.Role.LEAD:
        raise WrongState(_("Only the lead department returns a case."), state=assignment.status)
    if not assignment.is_open:
        raise WrongState(_("This assignment is closed."), state=assignment.status)
    with transaction.atomic():
        case_services.grievance_return(assignment.whistle.grievance, user, reason=reason)
        locked = _lock(assignment)
    return locked


def assignment_extend(assignment: Assignment, user, *, days: int, reason: str) -> Assignment:
    """延期申请 by the lead, before its deadline; the centre approves or refuses on the case."""
    _check_member(user, assignment)
    if assignment.role != Assignment.Role.LEAD or not assignment.is_open:
        raise WrongState(
            _("Only the open lead assignment asks for more time."), state=assignment.status
        )
    case_services.grievance_extend(assignment.whistle.grievance, user, days=days, reason=reason)
    assignment.refresh_from_db()
    return assignment


def assignment_note(assignment: Assignment, user, *, note: str, public: bool = False) -> Assignment:
    """A progress note from any department on the whistle."""
    _check_member(user, assignment)
    if not (note or "").strip():
        raise InvalidInput(_("This field is required."), field="note")
    case = assignment.whistle.grievance
    with transaction.atomic():
        locked = Grievance.objects.select_for_update().get(pk=case.pk)
        case_services.record(
            locked,
            user,
            "note",
            from_state=locked.state,
            note=note.strip(),
            public=public,
            data={"assignment": assignment.pk, "department": assignment.department.name},
            actor_label=_label(assignment),
        )
    return assignment


# The timeline's label of the officer's naming (the case page and the staff notices).
case_selectors.EVENT_LABELS["officer"] = gettext_lazy("Officer assigned")


# --- Keeping whistles in step with the case -------------------------------------------------------


def _reopen_merged(grievance: Grievance) -> None:
    """An unmerge: the whistles the merge ended are open again, each assignment as it was
    (reported in or waiting for it), with the deadlines it had."""
    merged = Whistle.objects.filter(grievance=grievance, status=Whistle.Status.MERGED)
    ended = Assignment.objects.filter(whistle__in=merged, status=Assignment.Status.MERGED)
    ended.filter(reported_in_at__isnull=False).update(
        status=Assignment.Status.REPORTED_IN, finished_at=None
    )
    ended.update(status=Assignment.Status.PENDING, finished_at=None)
    merged.update(status=Whistle.Status.OPEN, ended_at=None)


@receiver(case_services.case_event)
def follow_case(sender, grievance: Grievance, event, **kwargs) -> None:
    """Runs inside the case's transaction: end or finish the open whistles as the case moves."""
    action = event.action
    ending = {
        "escalate": (Whistle.Status.ESCALATED, Assignment.Status.ESCALATED),
        "return": (Whistle.Status.RETURNED, Assignment.Status.RETURNED),
        "withdraw": (Whistle.Status.DONE, Assignment.Status.DONE),
        "verify": (Whistle.Status.DONE, Assignment.Status.DONE),
        "merge": (Whistle.Status.MERGED, Assignment.Status.MERGED),
    }
    now = timezone.now()
    if action in ending:
        whistle_status, assignment_status = ending[action]
        open_whistles = Whistle.objects.filter(grievance=grievance, status=Whistle.Status.OPEN)
        Assignment.objects.filter(whistle__in=open_whistles, status__in=OPEN).update(
            status=assignment_status,
            finished_at=now,
            reason=event.note if action == "return" else "",
        )
        open_whistles.update(status=whistle_status, ended_at=now)
    elif action == "unmerge":
        _reopen_merged(grievance)
    elif action == "report_in":
        # The lead's report-in through the case itself (API or page) signs its assignment;
        # the member who signs becomes its officer unless the head named one before.
        pending = Assignment.objects.filter(
            whistle__grievance=grievance,
            whistle__status=Whistle.Status.OPEN,
            role=Assignment.Role.LEAD,
            status=Assignment.Status.PENDING,
        )
        if event.actor_id:
            pending.filter(
                officer__isnull=True, department__members__user_id=event.actor_id
            ).update(officer_id=event.actor_id)
        pending.update(status=Assignment.Status.REPORTED_IN, reported_in_at=now)
    elif action == "handle" and grievance.state == State.HANDLED:
        Assignment.objects.filter(
            whistle__grievance=grievance, role=Assignment.Role.LEAD, status__in=OPEN
        ).update(status=Assignment.Status.DONE, finished_at=now)
    elif action == "redo":
        Assignment.objects.filter(
            whistle__grievance=grievance,
            whistle__status=Whistle.Status.OPEN,
            role=Assignment.Role.LEAD,
            status=Assignment.Status.DONE,
        ).update(status=Assignment.Status.REPORTED_IN, finished_at=None)
    elif action == "reopen":
        # A closed case reopened (a dissatisfied rating or return visit): the department that
        # handled it takes it up again under its last whistle.
        last = Whistle.objects.filter(grievance=grievance).order_by("-id").first()
        if last is not None and last.status == Whistle.Status.DONE:
            Whistle.objects.filter(pk=last.pk).update(status=Whistle.Status.OPEN, ended_at=None)
            Assignment.objects.filter(
                whistle=last, role=Assignment.Role.LEAD, status=Assignment.Status.DONE
            ).update(
                status=Assignment.Status.REPORTED_IN,
                finished_at=None,
                handle_due_at=grievance.handle_due_at,
            )
    elif action == "extend" and event.data.get("handle_due_at"):
        Assignment.objects.filter(
            whistle__grievance=grievance, role=Assignment.Role.LEAD, status__in=OPEN
        ).update(handle_due_at=grievance.handle_due_at)
    elif action == "resume":
        Assignment.objects.filter(whistle__grievance=grievance, status__in=OPEN).update(
            handle_due_at=grievance.handle_due_at
        )
