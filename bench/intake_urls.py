"""The project's URLs plus a bare insert endpoint: the ceiling that bench/intake.py compares
the full submit against. Only served by the benchmark (DJANGO_ROOT_URLCONF).

The ceiling goes the same way as the submit (the same middleware, a DRF view parsing the
same JSON body, the same connection settings) but writes one row and nothing else: a case
event, the narrowest row of the submit. Two references: one case row written through the ORM
(the widest row of the submit, with its indexes), copied from a seeded case; and the floor,
the three kinds of rows of a report in the submit's one statement with nothing around them.
"""

from __future__ import annotations

from django.urls import path
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from config.urls import urlpatterns as project_urls
from grievances import newcase, services
from grievances.models import ANCESTOR_FIELDS, CaseEvent, Complainant, Grievance


class BareInsert(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list = []

    def post(self, request):
        event = CaseEvent.objects.create(
            grievance_id=int(request.query_params["case"]),
            action="bench",
            note=str(request.data.get("title", ""))[:200],
        )
        return Response({"id": event.pk}, status=201)


_template: dict = {}


def case_fields(request) -> dict:
    """A case's fields from the body, the rest copied from the seeded case (no locating)."""
    pk = int(request.query_params["case"])
    if pk not in _template:
        _template[pk] = Grievance.objects.get(pk=pk)
    seed = _template[pk]
    return dict(
        title=str(request.data.get("title", ""))[:200],
        description=str(request.data.get("description", "")),
        category_id=seed.category_id,
        urgency=seed.urgency,
        source=seed.source,
        lng=request.data.get("lng"),
        lat=request.data.get("lat"),
        region_id=seed.region_id,
        owning_centre_id=seed.owning_centre_id,
        **{field: getattr(seed, field) for field in ANCESTOR_FIELDS},
    )


class BareCaseInsert(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list = []

    def post(self, request):
        case = Grievance.objects.create(**case_fields(request))
        return Response({"id": case.pk}, status=201)


class BareReportInsert(APIView):
    """The rows every report must write (its case, one complainant, the submit event), in the
    submit's one statement, and nothing else: no validation, locating, rate limit or outbox
    hand-off. The floor under any implementation of the full submit with these rows."""

    permission_classes = [AllowAny]
    authentication_classes: list = []

    def post(self, request):
        case = newcase.new(Grievance, **case_fields(request))
        person = request.data["complainants"][0]
        people = [
            newcase.new(Complainant, name=person["name"], phone=person["phone"], is_reporter=True)
        ]
        event = newcase.new(
            CaseEvent, grievance=case, action="submit", to_state=case.state, public=True
        )
        # With the submit's retry of a tracking code drawn twice (the bench database grows).
        services.write_with_fresh_code(case, lambda: newcase.insert(case, people, event))
        return Response({"id": case.pk}, status=201)


urlpatterns = [
    path("bench/bare/", BareInsert.as_view()),
    path("bench/bare-case/", BareCaseInsert.as_view()),
    path("bench/bare-report/", BareReportInsert.as_view()),
    *project_urls,
]
