from __future__ import annotations

from types import SimpleNamespace

import pytest

from dispatch.models import Department, DepartmentMembership
from tests.factories import UserFactory


@pytest.fixture
def depts(tree):
    transport = Department.objects.create(
        name="乃东区交通运输局", code="nd-transport", region=tree.county
    )
    labour = Department.objects.create(
        name="乃东区劳动保障监察大队", code="nd-labour", region=tree.county
    )
    police = Department.objects.create(name="泽当派出所", code="zd-police", region=tree.town_a)
    other = Department.objects.create(
        name="乡城县交通运输局", code="xc-transport", region=tree.other_county
    )
    staff = {}
    for key, dept in (
        ("transport", transport),
        ("labour", labour),
        ("police", police),
        ("other", other),
    ):
        user = UserFactory(username=f"{key}_staff")
        DepartmentMembership.objects.create(user=user, department=dept)
        staff[key] = user
    return SimpleNamespace(
        transport=transport,
        labour=labour,
        police=police,
        other=other,
        staff=SimpleNamespace(**staff),
    )
