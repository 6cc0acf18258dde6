"""The public report's validation: a JSON object is checked field by field without DRF's
serializer plumbing, and must accept exactly what DRF accepts, with the same values, and
refuse with DRF's own errors."""

from __future__ import annotations

import pytest
from rest_framework import serializers

from grievances import api
from grievances.api import PublicGrievanceCreateSerializer as Public

pytestmark = pytest.mark.django_db

USUAL = {
    "title": "楼道水管漏水",
    "description": "三单元二楼楼道水管漏水，地面积水",
    "category": "hazard.utilities",
    "lng": 91.2,
    "lat": 29.7,
    "complainants": [{"name": "王女士", "phone": "13800001234"}],
}

VARIANTS = {
    "usual": {},
    "padded": {"title": "  漏水  ", "address": " 3号楼 "},
    "numeric title": {"title": 5},
    "long title": {"title": "长" * 201},
    "blank title": {"title": "   "},
    "bool title": {"title": True},
    "nul in title": {"title": "漏\x00水"},
    "no description": {"description": serializers.empty},
    "unknown category": {"category": "no.such"},
    "category as number": {"category": 7},
    "lng as text": {"lng": "91.25"},
    "lng as bool": {"lng": True},
    "lng nan": {"lng": "nan"},
    "lng out of range": {"lng": 181},
    "only lng": {"lat": serializers.empty},
    "no point": {"lng": serializers.empty, "lat": serializers.empty},
    "null lat": {"lat": None},
    "urgency": {"urgency": "urgent"},
    "bad urgency": {"urgency": "now"},
    "risk as text": {"risk_petition": "true", "risk_group": 1},
    "bad risk": {"risk_extreme": "maybe"},
    "null address": {"address": None},
    "no complainants": {"complainants": serializers.empty},
    "empty complainants": {"complainants": []},
    "complainants as object": {"complainants": {"name": "王"}},
    "complainant as text": {"complainants": ["王"]},
    "bad phone": {"complainants": [{"phone": "call me"}]},
    "id number": {"complainants": [{"name": "钱七", "id_number": "11010519491231002x"}]},
    "bad id number": {"complainants": [{"id_number": "123"}]},
    "extra keys": {"complainants": [{"name": "王", "age": 40}], "colour": "red"},
    "photos in json": {"photos": []},
    "region code": {"region": "540502001001", "lng": serializers.empty, "lat": serializers.empty},
}


def _data(changes: dict) -> dict:
    data = {**USUAL, **changes}
    return {k: v for k, v in data.items() if v is not serializers.empty}


@pytest.mark.parametrize("name", list(VARIANTS))
def test_accepts_and_refuses_what_drf_does(tree, name):
    data = _data(VARIANTS[name])
    full = Public(data=data)
    if full.is_valid():
        assert Public.validated(data) == full.validated_data
    else:
        with pytest.raises(serializers.ValidationError) as refused:
            Public.validated(data)
        assert refused.value.detail == full.errors


def test_the_usual_report_skips_the_serializer_plumbing(tree):
    data = _data({})
    assert Public._prototype() is not None
    assert api._run_plainly(Public._prototype(), data) == Public.validated(data)
    assert Public.validated(data)["complainants"] == [
        {"name": "王女士", "phone": "13800001234", "id_number": ""}
    ]


def test_a_serializer_with_field_hooks_goes_through_drf(tree):
    class Hooked(api.SharedFieldsMixin, serializers.Serializer):
        title = serializers.CharField()

        def validate_title(self, value):
            raise serializers.ValidationError("never")

    assert Hooked._prototype() is None
    with pytest.raises(serializers.ValidationError) as refused:
        Hooked.validated({"title": "x"})
    assert refused.value.detail == {"title": ["never"]}
