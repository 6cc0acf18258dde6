from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from grievances.models import Category


@pytest.fixture
def api():
    return APIClient()


def as_user(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def road_category(db):
    return Category.objects.get(code="hazard.road")


@pytest.fixture
def dispute_category(db):
    return Category.objects.get(code="dispute.neighbours")
