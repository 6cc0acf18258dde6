"""研判: the centre corrects what was reported, once the report is in.

A grid worker types in a hurry and a resident guesses the category; the centre that owns
the case reads it and sets it right: the category, the urgency, the risk flags, the place
(a map point, located to its grid, or a region chosen by hand), the title and the
description. Each act is one `triage` event listing every field it changed with its old and
new value, and the reason, which is required: the timeline keeps what was reported.

Allowed to the case's centre (services.is_centre) while the case is submitted, accepted,
dispatched, in progress or handled: the record is the centre's until it closes it; after
closing it is what was rated and counted. Not while mediating: the mediation case was
opened for this dispute and its parties, and a case whose category left the disputes could
no longer be mediated.

What follows a change:
- a new place moves the case to the owner of that place, at the level of the centre that
  owns it now (a village's case to the other village, an escalated one to the other
  county's centre), inside the acting centre's own area;
- a new category or place asks routing for a new proposal: the relay hands the event to
  the handlers of `triage` (the dispatch app re-proposes the handling level of a case not
  yet accepted; the dispatch form reads the proposal afresh anyway);
- a new urgency or a risk flag changes the priority in the queue at once. Deadlines set at
  dispatch stay as they are (the departments were given them; extend moves them).
"""

from __future__ import annotations

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext
from rest_framework import serializers

from grids.locate import locate
from grids.models import Region
from grids.scoping import has_region_role
from grievances import services
from grievances.models import Category, Grievance, Urgency

# The fields a triage may change, in the order a timeline row lists them.
FIELDS = (
    "category",
    "urgency",
    "risk_petition",
    "risk_extreme",
    "risk_group",
    "place",
    "title",
    "description",
)
LABELS = {
    "category": gettext_lazy("Category"),
    "urgency": gettext_lazy("Urgency"),
    "risk_petition": gettext_lazy("Petition risk"),
    "risk_extreme": gettext_lazy("Risk of extreme acts"),
    "risk_group": gettext_lazy("Group incident risk"),
    "place": gettext_lazy("Place"),
    "region": gettext_lazy("Region"),
    "owning_centre": gettext_lazy("Owning centre"),
    "title": gettext_lazy("Title"),
    "description": gettext_lazy("Description"),
}


def grievance_triage(
    case: Grievance,
    user,
    *,
    reason: str,
    category: Category | None = None,
    urgency: str | None = None,
    risk_petition: bool | None = None,
    risk_extreme: bool | None = None,
    risk_group: bool | None = None,
    lng: float | None = None,
    lat: float | None = None,
    region: Region | None = None,
    title: str | None = None,
    description: str | None = None,
) -> Grievance:
    """Correct the case: every argument given (not None) that differs from the case is a
    change; none at all is a 400. The place is a point (`lng` and `lat`, located to its
    grid) or a region chosen by hand (the point is then dropped), not both."""
    services.check_act("triage", case, user)
    reason = (reason or "").strip()
    services._require(reason, "reason", _("Say why the report is corrected."))
    if urgency is not None and urgency not in Urgency.values:
        raise services.InvalidInput(_("Unknown urgency."), field="urgency")
    for name, text in (("title", title), ("description", description)):
        if text is not None and not text.strip():
            raise services.InvalidInput(_("This field may not be blank."), field=name)
    place = _new_place(user, lng, lat, region)

    def change(c: Grievance) -> dict:
        changes = {}
        wanted = {
            "urgency": urgency,
            "risk_petition": risk_petition,
            "risk_extreme": risk_extreme,
            "risk_group": risk_group,
            "title": title.strip() if title is not None else None,
            "description": description.strip() if description is not None else None,
        }
        for name, value in wanted.items():
            if value is not None and getattr(c, name) != value:
                changes[name] = {"old": getattr(c, name), "new": value}
                setattr(c, name, value)
        if category is not None and category.pk != c.category_id:
            changes["category"] = _named(c.category, category)
            c.category = category
        if place is not None:
            changes.update(_move(c, *place))
        if not changes:
            raise services.InvalidInput(_("Nothing was changed."))
        return {"changes": changes}

    return services._run(case, user, "triage", change, note=reason)


def _new_place(user, lng, lat, region) -> tuple[Region, tuple[float, float] | None] | None:
    """The region (and point) the case moves to, checked; None when the place stays."""
    if (lng is None) != (lat is None):
        raise services.InvalidInput(_("Give both longitude and latitude."), field="lng")
    if lng is not None and region is not None:
        raise services.InvalidInput(_("Give a map point or a region, not both."), field="region")
    if lng is not None:
        located = locate(lng, lat)
        if located is None:
            raise services.InvalidInput(
                _("This point lies outside every region we serve."), field="lng"
            )
        region, point, field = Region.objects.get(pk=located.id), (lng, lat), "lng"
    elif region is not None:
        point, field = None, "region"
    else:
        return None
    # The case stays in the acting centre's own area: elsewhere, escalate or let the other
    # centre's report stand.
    if not has_region_role(user, region, services.CENTRE_ROLES):
        raise services.InvalidInput(_("This place lies outside your centre's area."), field=field)
    return region, point


def _move(c: Grievance, region: Region, point: tuple[float, float] | None) -> dict:
    changes = {}
    old_point = [c.lng, c.lat] if c.lng is not None and c.lat is not None else None
    new_point = list(point) if point else None
    if new_point != old_point:
        changes["place"] = {"old": old_point, "new": new_point}
        c.lng, c.lat = point if point else (None, None)
    if region.pk != c.region_id:
        changes["region"] = _named(c.region, region, "code")
        c.set_region(region)
        owner = _owner(c.owning_centre, region)
        if owner.pk != c.owning_centre_id:
            changes["owning_centre"] = _named(c.owning_centre, owner, "code")
            c.owning_centre = owner
    return changes


def _owner(current: Region, region: Region) -> Region:
    """The centre that owns a case moved to `region`: its ancestor at the level of the
    `current` owner (a grid's village for a village-owned case), or the region itself when
    it lies at or above that level."""
    for node in region.get_ancestors(include_self=True):
        if node.level == current.level:
            return node
    return region


def _named(old, new, key: str = "code") -> dict:
    return {
        "old": getattr(old, key),
        "new": getattr(new, key),
        "old_name": old.name,
        "new_name": new.name,
    }


# --- How a triage event reads on the timeline --------------------------------------------


def describe(data: dict) -> str:
    """One line of the changes: "Category: 道路 → 环境; Title: a → b"."""
    parts = []
    changes = data.get("changes") or {}
    for name in (*FIELDS, "region", "owning_centre"):
        if name in changes:
            parts.append(f"{LABELS[name]}: {_shown(name, changes[name])}")
    return pgettext("clause separator", "; ").join(parts)


def _shown(name: str, change: dict) -> str:
    if name in ("category", "region", "owning_centre"):
        return f"{change.get('old_name', change['old'])} → {change.get('new_name', change['new'])}"
    if name == "urgency":
        labels = dict(Urgency.choices)
        return f"{labels.get(change['old'], change['old'])} → {labels.get(change['new'])}"
    if name.startswith("risk_"):
        return _("flag raised") if change["new"] else _("flag lifted")
    if name == "place":
        return " → ".join(
            f"{p[1]:.5f}, {p[0]:.5f}" if p else _("no map point")
            for p in (change["old"], change["new"])
        )
    if name == "description":
        return _("rewritten")
    return f"{change['old']} → {change['new']}"


# --- The API's input --------------------------------------------------------------------------


class TriageInput(serializers.Serializer):
    """What to correct (only what changes need be sent) and why."""

    reason = serializers.CharField(max_length=5000)
    category = serializers.SlugRelatedField(
        slug_field="code", queryset=Category.objects.filter(active=True), required=False
    )
    urgency = serializers.ChoiceField(choices=Urgency.choices, required=False)
    risk_petition = serializers.BooleanField(required=False, default=None, allow_null=True)
    risk_extreme = serializers.BooleanField(required=False, default=None, allow_null=True)
    risk_group = serializers.BooleanField(required=False, default=None, allow_null=True)
    lng = serializers.FloatField(min_value=-180, max_value=180, required=False)
    lat = serializers.FloatField(min_value=-90, max_value=90, required=False)
    region = serializers.SlugRelatedField(
        slug_field="code",
        queryset=Region.objects.all(),
        required=False,
        help_text=gettext_lazy("A region code chosen by hand (the map point is dropped)."),
    )
    title = serializers.CharField(max_length=200, required=False)
    description = serializers.CharField(max_length=5000, required=False)


def run(case: Grievance, user, data: dict) -> Grievance:
    """The act as grievances.api.ACTS calls it."""
    return grievance_triage(case, user, **data)
