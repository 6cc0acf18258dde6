"""The project's URLs plus a bare insert endpoint: the ceiling that bench/intake.py compares
the full submit against. Only served by the benchmark (DJANGO_ROOT_URLCONF).

The ceiling goes the same way as the submit (the same middleware, a DRF view parsing the
same JSON body, the same connection settings) but writes one row and nothing else.
"""

from __future__ import annotations

from django.urls import path
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from config.urls import urlpatterns as project_urls
from grievances.models import CaseEvent


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


urlpatterns = [path("bench/bare/", BareInsert.as_view()), *project_urls]
