from __future__ import annotations


def shell(request):
    return {}
