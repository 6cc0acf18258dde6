"""Reads of mediation that are more than a filter: the roster and its figures, who serves a
region, the recusal rule (回避), the cases a user sees, candidates for an assignment, and what
a printable agreement needs."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import (
    Avg,
    Count,
    FloatField,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
)
from django.db.models.functions import Coalesce
from django.utils.translation import gettext as _

from grids.models import Region
from grids.scoping import sees_everything
from grievances.models import Category
from grievances.scoping import cases_for
from mediation.models import (
    CONCLUDED_STATUSES,
    OPEN_STATUSES,
    Agreement,
    CaseMediator,
    CaseStatus,
    ConflictDeclaration,
    MediationCase,
    Mediator,
    MediatorRating,
    MediatorRole,
    OrgKind,
    Party,
    Relation,
)

# --- Who serves where ------------------------------------------------------------------------


def _ancestor_ids(region: Region) -> list[int]:
    return list(region.get_ancestors(include_self=True).values_list("pk", flat=True))


def serving_q(region: Region) -> Q:
    """Mediators serving `region`: one of their served regions is the region or an ancestor;
    with no served regions, their organisation's region is.

    Subqueries, not joins: a mediator serving several regions must come out once.
    """
    ancestors = _ancestor_ids(region)
    through = Mediator.regions_served.through
    served_here = through.objects.filter(region_id__in=ancestors).values("mediator_id")
    with_regions = through.objects.values("mediator_id")
    return Q(pk__in=served_here) | (
        ~Q(pk__in=with_regions) & Q(organisation__region_id__in=ancestors)
    )


def serves(mediator: Mediator, region: Region) -> bool:
    return Mediator.objects.filter(serving_q(region), pk=mediator.pk).exists()


def language_q(code: str) -> Q:
    """Mediators whose comma-separated languages include `code` (portable to SQLite)."""
    return (
        Q(languages=code)
        | Q(languages__startswith=f"{code},")
        | Q(languages__endswith=f",{code}")
        | Q(languages__contains=f",{code},")
    )


def specialty_q(category: Category) -> Q:
    """Mediators specialised in the category or one of its subcategories."""
    through = Mediator.specialties.through
    ids = category.get_descendants(include_self=True).values("pk")
    return Q(pk__in=through.objects.filter(category_id__in=ids).values("mediator_id"))


# --- Figures ----------------------------------------------------------------------------------


def _count(qs) -> Coalesce:
    counted = qs.order_by().values("mediator").annotate(n=Count("pk")).values("n")[:1]
    return Coalesce(Subquery(counted, output_field=IntegerField()), Value(0))


def with_figures(qs: QuerySet[Mediator]) -> QuerySet[Mediator]:
    """Annotate each mediator's figures in the same query (no query per row):

    - cases_handled: concluded cases (settled or failed) they were appointed to;
    - cases_settled: of those, settled;
    - open_cases: their current load;
    - average_rating and rating_count: the parties' ratings (评单).

    The success rate is cases_settled / cases_handled (`success_rate`).
    """
    appointments = CaseMediator.objects.filter(mediator=OuterRef("pk"))
    ratings = MediatorRating.objects.filter(mediator=OuterRef("pk"))
    average = ratings.order_by().values("mediator").annotate(a=Avg("score")).values("a")[:1]
    return qs.annotate(
        cases_handled=_count(appointments.filter(case__status__in=CONCLUDED_STATUSES)),
        cases_settled=_count(appointments.filter(case__status=CaseStatus.SETTLED)),
        open_cases=_count(appointments.filter(case__status__in=OPEN_STATUSES)),
        average_rating=Subquery(average, output_field=FloatField()),
        rating_count=_count(ratings),
    )


def success_rate(mediator: Mediator) -> float | None:
    handled = getattr(mediator, "cases_handled", 0)
    if not handled:
        return None
    return round(mediator.cases_settled / handled, 4)


def roster(queryset: QuerySet[Mediator] | None = None) -> QuerySet[Mediator]:
    """Active mediators with everything the roster shows, in a fixed number of queries."""
    qs = Mediator.objects.filter(active=True) if queryset is None else queryset
    return with_figures(
        qs.select_related("organisation__region").prefetch_related("specialties", "regions_served")
    ).order_by("name", "id")


# --- Recusal (回避) ------------------------------------------------------------------------------


def _digits(phone: str) -> str:
    return "".join(ch for ch in phone or "" if ch.isdigit())


def _same(a: str, b: str) -> bool:
    a, b = (a or "").strip().casefold(), (b or "").strip().casefold()
    return bool(a) and a == b


def _same_person(user_id, name, phone, party: Party) -> bool:
    if user_id and party.user_id and user_id == party.user_id:
        return True
    return (
        _same(name, party.name) and bool(_digits(phone)) and _digits(phone) == _digits(party.phone)
    )


def recusal_map(
    mediators, case: MediationCase, parties: list[Party] | None = None
) -> dict[int, list[str]]:
    """The recusal reasons of each mediator on `case` (an empty list: no conflict), in two
    queries whatever the number of mediators."""
    mediators = list(mediators)
    parties = list(case.parties.all()) if parties is None else parties
    ids = [m.pk for m in mediators]
    user_ids = [p.user_id for p in parties if p.user_id]
    names = [p.name.strip() for p in parties if p.name.strip()]
    declarations = ConflictDeclaration.objects.filter(mediator_id__in=ids).filter(
        Q(case=case) | Q(person_user_id__in=user_ids) | Q(person_name__in=names)
    )
    by_mediator: dict[int, list[ConflictDeclaration]] = {}
    for d in declarations:
        by_mediator.setdefault(d.mediator_id, []).append(d)
    return {m.pk: _reasons(m, parties, by_mediator.get(m.pk, []), case) for m in mediators}


def _reasons(
    mediator: Mediator, parties: list[Party], declarations, case: MediationCase
) -> list[str]:
    reasons: list[str] = []
    for d in declarations:
        if d.case_id == case.pk:
            reasons.append(
                _("Declared a conflict of interest on this case (%(relation)s).")
                % {"relation": Relation(d.relation).label}
            )
    for party in parties:
        names = {"party": party.name}
        if _same_person(mediator.user_id, mediator.name, mediator.contact_phone, party):
            reasons.append(_("Is a party to this dispute (%(party)s).") % names)
            continue
        for d in declarations:
            if d.case_id is None and _same_person(
                d.person_user_id, d.person_name, d.person_phone, party
            ):
                reasons.append(
                    _("Declared: %(relation)s of party %(party)s.")
                    % {"relation": Relation(d.relation).label, **names}
                )
        if _same(mediator.household, party.household):
            reasons.append(_("Same household as party %(party)s.") % names)
        if _same(mediator.work_unit, party.work_unit):
            reasons.append(_("Same work unit as party %(party)s.") % names)
    return reasons


def recusal_reasons(mediator: Mediator, case: MediationCase) -> list[str]:
    """Why `mediator` may not mediate `case` (回避), readable and translated; [] when free."""
    return recusal_map([mediator], case)[mediator.pk]


# --- Assignment by dispute type (派单) ---------------------------------------------------------

# Which specialised organisation takes a category (and its subcategories); every other
# dispute goes to a people's mediation committee, which takes any civil dispute.
KIND_BY_CATEGORY = {
    "dispute.wages": OrgKind.LABOUR,
    "dispute.family": OrgKind.MARRIAGE_FAMILY,
    "dispute.land": OrgKind.LAND_FOREST,
    "dispute.medical": OrgKind.MEDICAL,
    "dispute.property": OrgKind.PROPERTY,
    "hazard.utilities": OrgKind.POWER_SUPPLY,
}


def kind_for(category: Category) -> str:
    for node in category.get_ancestors(ascending=True, include_self=True):
        if node.code in KIND_BY_CATEGORY:
            return KIND_BY_CATEGORY[node.code]
    return OrgKind.PEOPLES


def assignment_candidates(case: MediationCase) -> list[Mediator]:
    """Mediators the centre (or the sweep) may assign, best first: serving the case's
    region, active, not recused; those whose organisation kind or specialty matches the
    category before the general people's mediation committees; the least loaded first."""
    grievance = case.grievance
    category = grievance.category
    kind = kind_for(category)
    ancestors = category.get_ancestors(include_self=True)
    through = Mediator.specialties.through
    specialised = Q(pk__in=through.objects.filter(category_id=category.pk).values("mediator_id"))
    if kind != OrgKind.PEOPLES:
        specialised |= Q(organisation__kind=kind)
    general = Q(organisation__kind=OrgKind.PEOPLES) | Q(
        pk__in=through.objects.filter(category__in=ancestors).values("mediator_id")
    )
    qs = with_figures(
        Mediator.objects.filter(serving_q(grievance.region), active=True, organisation__active=True)
        .filter(specialised | general)
        .select_related("organisation")
    )
    found = list(qs)
    specialised_ids = set(
        Mediator.objects.filter(pk__in=[m.pk for m in found])
        .filter(specialised)
        .values_list("pk", flat=True)
    )
    reasons = recusal_map(found, case)
    free = [m for m in found if not reasons[m.pk]]
    free.sort(key=lambda m: (m.pk not in specialised_ids, m.open_cases, -m.years_experience, m.pk))
    return free


# --- Cases a user sees -------------------------------------------------------------------------


def mediation_cases_for(user, queryset: QuerySet[MediationCase] | None = None):
    """The mediation cases of the cases the user sees (the centre's staff through the case
    scoping, which already includes the case's mediators) and those they are a party to.

    Not those of the cases they only reported: a reporter who is no party reads the case as
    public tracking shows it, never the parties' names or the agreement's terms."""
    qs = MediationCase.objects.all() if queryset is None else queryset
    if not getattr(user, "is_authenticated", False):
        return qs.none()
    if sees_everything(user):
        return qs
    return qs.filter(
        Q(grievance_id__in=cases_for(user, as_reporter=False).values("pk"))
        | Q(pk__in=Party.objects.filter(user=user).values("case_id"))
    )


def current_agreement(case: MediationCase) -> Agreement | None:
    return (
        case.agreements.order_by("-version")
        .prefetch_related("terms__obligor", "signatures")
        .first()
    )


def lead_appointment(case: MediationCase) -> CaseMediator | None:
    for appointment in case.appointments.all():
        if appointment.role == MediatorRole.LEAD:
            return appointment
    return None


@dataclass(frozen=True)
class SignatureState:
    parties_signed: set[int]
    mediators_signed: set[int]
    missing_parties: list[Party]
    lead_signed: bool

    @property
    def complete(self) -> bool:
        return not self.missing_parties and self.lead_signed


def signature_state(case: MediationCase, agreement: Agreement) -> SignatureState:
    """Who signed the current version, and whether that makes it complete: every party and
    the lead mediator."""
    signatures = [s for s in agreement.signatures.all() if s.version == agreement.version]
    parties_signed = {s.party_id for s in signatures if s.party_id}
    mediators_signed = {s.mediator_id for s in signatures if s.mediator_id}
    lead = lead_appointment(case)
    return SignatureState(
        parties_signed=parties_signed,
        mediators_signed=mediators_signed,
        missing_parties=[p for p in case.parties.all() if p.pk not in parties_signed],
        lead_signed=bool(lead and lead.mediator_id in mediators_signed),
    )


# --- The printable agreement ----------------------------------------------------------------------


def agreement_context(agreement: Agreement) -> dict:
    """Everything a printable agreement (调解协议书) shows: the organisation, the case code,
    the parties, the mediators, the terms, the text and the signatures with their time and
    hash. Plain values, ready for a template or a PDF renderer."""
    agreement = (
        Agreement.objects.select_related(
            "case__grievance__category", "case__grievance__region", "case__org__region"
        )
        .prefetch_related(
            "terms__obligor",
            "signatures__party",
            "signatures__mediator",
            "case__parties",
            "case__appointments__mediator__organisation",
        )
        .get(pk=agreement.pk)
    )
    case = agreement.case
    grievance = case.grievance
    org = case.org
    terms = list(agreement.terms.all())
    total = sum((t.amount for t in terms if t.amount is not None), start=0)
    latest = case.agreements.order_by("-version").values_list("version", flat=True).first()
    state = signature_state(case, agreement)
    return {
        "org": {
            "name": org.name if org else "",
            "kind": org.get_kind_display() if org else "",
            "region": org.region.name if org else "",
            "phone": org.phone if org else "",
            "address": org.address if org else "",
        },
        "case_code": grievance.display_code,
        "case_title": grievance.title,
        "category": grievance.category.name,
        "region": grievance.region.name,
        "mediation_case_id": case.pk,
        "status": case.status,
        "status_label": case.get_status_display(),
        "version": agreement.version,
        "is_current": agreement.version == latest,
        "content_hash": agreement.content_hash,
        "created_at": agreement.created_at,
        "parties": [
            {
                "id": p.pk,
                "name": p.name,
                "phone": p.phone,
                "id_number": p.id_number,
                "household": p.household,
                "work_unit": p.work_unit,
            }
            for p in case.parties.all()
        ],
        "mediators": [
            {
                "name": a.mediator.name,
                "role": a.role,
                "role_label": a.get_role_display(),
                "organisation": a.mediator.organisation.name,
            }
            for a in sorted(case.appointments.all(), key=lambda a: (a.role != "lead", a.pk))
        ],
        "terms": [
            {
                "position": t.position,
                "obligor": t.obligor.name if t.obligor_id else "",
                "obligation": t.obligation,
                "amount": t.amount,
                "due_date": t.due_date,
                "instalment": t.instalment,
            }
            for t in terms
        ],
        "total_amount": total,
        "text": agreement.text,
        "signatures": [
            {
                "signer": s.party.name if s.party_id else s.mediator.name,
                "kind": "party" if s.party_id else "mediator",
                "typed_name": s.typed_name,
                "version": s.version,
                "sha256": s.sha256,
                "signed_at": s.signed_at,
                "via_link": s.via_link,
            }
            for s in agreement.signatures.all()
        ],
        "fully_signed": state.complete,
    }
