"""Placeholder: being written."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404


@login_required
def _missing(request, *args, **kwargs):
    raise Http404


console = console_bulk_dispatch = inbox = _missing
