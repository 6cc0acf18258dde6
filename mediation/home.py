"""What a mediator's home page shows (registered with grids.views): their open cases, the
coming sessions, the agreements waiting for their signature, and their own figures as the
public roster shows them. A fixed number of queries whatever the number of cases."""

from __future__ import annotations

from django.db.models import Exists, Max, OuterRef
from django.utils import timezone

from grids.views import home_panel
from mediation.models import (
    OPEN_STATUSES,
    Agreement,
    CaseMediator,
    MediationCase,
    Mediator,
    MediatorRole,
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
