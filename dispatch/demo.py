"""Demo routing rules (registered with grids.demo): which department each demo county's
centre whistles for a category, and at which level the matter is handled.

The deadlines come from the category by urgency (grievances.models.Category); a rule only
names the departments. Idempotent: a rule is found by category and region.
"""

from __future__ import annotations

from datetime import datetime

from django.utils.translation import gettext as _

from dispatch.models import OPEN_ASSIGNMENT, Assignment, Department, RoutingRule
from grids.demo import DEMO_COUNTIES, demo_step
from grids.models import Region
from grievances import demo as case_demo
from grievances.models import Category

# (category code, lead department suffix, assisting suffixes, handling level, automatic)
RULES: tuple[tuple[str, str, tuple[str, ...], str, bool], ...] = (
    ("hazard.road", "transport", (), "county", False),
    ("hazard.geological", "natural-resources", ("transport",), "county", True),
    ("hazard.housing", "housing", (), "county", False),
    ("hazard.utilities", "water", (), "township", False),
    ("hazard.security", "police", (), "township", False),
    ("dispute.wages", "labour-inspection", (), "county", False),
    ("dispute.land", "natural-resources", (), "township", False),
    ("dispute.family", "womens-federation", ("civil-affairs",), "township", False),
    ("hardship.assistance", "civil-affairs", (), "township", False),
    ("hardship.elderly", "civil-affairs", (), "township", False),
)


@demo_step(10)
def load_routing_rules() -> dict[str, int]:
    categories = {c.code: c for c in Category.objects.filter(code__in={r[0] for r in RULES})}
    counties = {r.code: r for r in Region.objects.filter(code__in=[c.code for c in DEMO_COUNTIES])}
    departments = {
        d.code: d
        for d in Department.objects.filter(region__in=counties.values()).select_related("region")
    }
    count = 0
    for county in DEMO_COUNTIES:
        region = counties[county.code]
        prefix = county.code[:6]
        for code, lead, assisting, level, automatic in RULES:
            category = categories.get(code)
            if category is None:  # an admin deleted a seeded category: no rule for it
                continue
            # One rule per category and region (two would conflict): one already there,
            # perhaps changed by an admin, is left as it is.
            if not RoutingRule.objects.filter(category=category, region=region).exists():
                rule = RoutingRule.objects.create(
                    category=category,
                    region=region,
                    lead=departments[f"{prefix}-{lead}"],
                    handling_level=level,
                    auto_dispatch=automatic,
                )
                rule.assisting.set([departments[f"{prefix}-{a}"] for a in assisting])
            count += 1
    return {_("routing rules"): count}


# --- The demo's stories (grievances.demo) tell when each act happened -------------------------

case_demo.retime_related("dispatch.Whistle", "grievance", ["created_at", "ended_at"])
case_demo.retime_related(
    "dispatch.Assignment", "whistle__grievance", ["reported_in_at", "finished_at"]
)


def _restart_assignment_clocks(case_id: int, report_in: datetime, handle: datetime) -> None:
    Assignment.objects.filter(whistle__grievance_id=case_id, status__in=OPEN_ASSIGNMENT).update(
        report_in_due_at=report_in, handle_due_at=handle
    )


case_demo.clock_hooks.append(_restart_assignment_clocks)
