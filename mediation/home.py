"""What a mediator's home page shows (registered with grids.views): their open cases, the
coming sessions, the agreements waiting for their signature, and their own figures as the
public roster shows them; and what waits on a resident's home for a party to a mediation
with an account: a mediator to choose, an agreement to sign. A fixed number of queries
whatever the number of cases."""

from __future__ import annotations

from django.db.models import Exists, F, Max, OuterRef
from django.utils import timezone

from grids.views import home_panel
from mediation.models import (
    OPEN_STATUSES,
    WORKING_STATUSES,
    Agreement,
    CaseMediator,
    CaseStatus,
    MediationCase,
    Mediator,
    MediatorRole,
    Party,
    Session,
    Signature,
)
from mediation.selectors import success_rate, with_figures

HOME_ROWS = 8


@home_panel("mediator")
def mediator_home(request) -> dict:
    user, now = request.user, timezone.now()
    profiles = list(with_figures(Mediator.objects.filter(user=user, active=True)))
    mine = MediationCase.objects.filter(appointments__mediator__user=user).distinct()
    leading = CaseMediator.objects.filter(
        case=OuterRef("pk"), mediator__user=user, role=MediatorRole.LEAD
    )
    open_cases = list(
        mine.filter(status__in=OPEN_STATUSES)
        .annotate(leading=Exists(leading))
        .select_related("grievance__category", "grievance__region", "org")
        .order_by("created_at", "id")[:HOME_ROWS]
    )
    sessions = list(
        Session.objects.filter(case__in=mine.filter(status__in=OPEN_STATUSES), starts_at__gte=now)
        .select_related("case__grievance")
        .order_by("starts_at", "id")[:HOME_ROWS]
    )
    # The newest version of each open case led by this user, not yet signed by them.
    latest = Agreement.objects.filter(case=OuterRef("case")).values("case")
    latest = latest.annotate(v=Max("version")).values("v")[:1]
    signed = Signature.objects.filter(
        agreement=OuterRef("pk"), version=OuterRef("version"), mediator__user=user
    )
    to_sign = list(
        Agreement.objects.filter(
            case__status__in=OPEN_STATUSES,
            case__appointments__mediator__user=user,
            case__appointments__role=MediatorRole.LEAD,
            version=latest,
        )
        .filter(~Exists(signed))
        .select_related("case__grievance")
        .order_by("created_at", "id")[:HOME_ROWS]
    )
    return {
        "mediator_profiles": [{"mediator": m, "success_rate": success_rate(m)} for m in profiles],
        "mediator_cases": [{"case": c, "lead": c.leading} for c in open_cases],
        "mediator_sessions": sessions,
        "mediator_to_sign": to_sign,
    }


@home_panel("resident")
def party_home(request) -> dict:
    """What waits for a party whose account is on the mediation (Party.user): choosing
    mediators from the roster while the parties choose, and signing the newest version of the
    agreement they have not signed. Each opens the party's own page (mediation/<pk>/ sends a
    logged-in party there)."""
    user = request.user
    to_choose = list(
        Party.objects.filter(user=user, chose_at__isnull=True, case__status=CaseStatus.CHOOSING)
        .select_related("case__grievance")
        .order_by(F("case__choice_deadline").asc(nulls_last=True), "id")[:HOME_ROWS]
    )
    latest = Agreement.objects.filter(case=OuterRef("case")).values("case")
    latest = latest.annotate(v=Max("version")).values("v")[:1]
    signed = Signature.objects.filter(
        agreement=OuterRef("pk"), version=OuterRef("version"), party__user=user
    )
    to_sign = list(
        Agreement.objects.filter(
            case__status__in=WORKING_STATUSES,
            case__in=Party.objects.filter(user=user).values("case"),
            version=latest,
        )
        .filter(~Exists(signed))
        .select_related("case__grievance")
        .order_by("created_at", "id")[:HOME_ROWS]
    )
    return {"party_to_choose": to_choose, "party_to_sign": to_sign}
