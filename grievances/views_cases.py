"""Placeholder: being written."""

from __future__ import annotations

from django.http import Http404


def _missing(request, *args, **kwargs):
    raise Http404


report = report_done = track = case_list = case_detail = case_act = _missing
attachment = thumbnail = _missing
