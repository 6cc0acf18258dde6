"""The project's URLs plus a bare insert endpoint: the ceiling that bench/intake.py compares
the full submit against. Only served by the benchmark (DJANGO_ROOT_URLCONF).

The ceiling goes the same way as the submit (the same middleware, a DRF view parsing the
same JSON body, the same connection settings) but writes one row and nothing else: a case
event, the narrowest row of the submit. A second reference writes one case row through the
ORM (the widest row of the submit, with its indexes), copied from a seeded case.
"""

from __future__ import annotations

from django.urls import path
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from config.urls import urlpatterns as project_urls
from grievances.models import ANCESTOR_FIELDS, CaseEvent, Grievance


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


class BareCaseInsert(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list = []

    def post(self, request):
        pk = int(request.query_params["case"])
        if pk not in _template:
            _template[pk] = Grievance.objects.get(pk=pk)
        seed = _template[pk]
        case = Grievance.objects.create(
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
        return Response({"id": case.pk}, status=201)


urlpatterns = [
    path("bench/bare/", BareInsert.as_view()),
    path("bench/bare-case/", BareCaseInsert.as_view()),
    *project_urls,
]
