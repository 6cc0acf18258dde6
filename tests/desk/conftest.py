"""Shared helpers of the desk's tests: a logged-in page client per user, cases walked along
the loop through the services (tests/grievances/conftest.py)."""

from __future__ import annotations

from html import unescape

import pytest
from django.core.cache import caches
from django.test import Client

from grievances import services
from grievances.models import Grievance, RequestType, State
from tests.grievances.conftest import advance, new_case

_clients: dict[int, Client] = {}


@pytest.fixture(autouse=True)
def _fresh_counters():
    # Rate limits count in the cache: every test starts with fresh counters.
    for cache in caches.all():
        cache.clear()
    yield
    for cache in caches.all():
        cache.clear()


@pytest.fixture(autouse=True)
def _fresh_clients():
    _clients.clear()
    yield
    _clients.clear()


def client_as(user) -> Client:
    client = _clients.get(user.pk)
    if client is None:
        client = Client()
        client.force_login(user)
        _clients[user.pk] = client
    return client


def text_of(response) -> str:
    return unescape(response.content.decode())


def waiting_extension(people, **kwargs) -> Grievance:
    """A case of 江塘村第一网格 handled on the spot by its grid worker, who asks for two more
    working days: the request waits for the township centre."""
    case = advance(new_case(people.grid_worker, **kwargs), State.IN_PROGRESS, people)
    services.grievance_extend(case, people.grid_worker, days=2, reason="等待材料到货")
    return Grievance.objects.get(pk=case.pk)


def consultation(user, **kwargs) -> Grievance:
    kwargs.setdefault("title", "低保申请需要哪些材料")
    kwargs.setdefault("category", "hardship.assistance")
    return new_case(user, request_type=RequestType.CONSULTATION, **kwargs)
