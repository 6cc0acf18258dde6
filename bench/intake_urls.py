"""The project's URLs plus a bare insert endpoint: the ceiling that bench/intake.py compares
the full submit against. Only served by the benchmark (DJANGO_ROOT_URLCONF)."""

from __future__ import annotations

import json

from django.http import HttpResponseBadRequest, JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from config.urls import urlpatterns as project_urls
from grievances.models import CaseEvent


@csrf_exempt
def bare_insert(request):
    """Parse the same JSON body and insert one row through the ORM, nothing else."""
    try:
        body = json.loads(request.body)
    except ValueError:
        return HttpResponseBadRequest()
    event = CaseEvent.objects.create(
        grievance_id=int(request.GET["case"]), action="bench", note=body.get("title", "")
    )
    return JsonResponse({"id": event.pk}, status=201)


urlpatterns = [path("bench/bare/", bare_insert), *project_urls]
