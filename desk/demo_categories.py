"""Demo configuration (registered with grids.demo): a category of 甘孜's own and 乡城县's own
time limits, as the county's centre administrator (登珠) would set them on /desk/categories/.

Before the routing rules and the stories: the cases told later get their deadlines from
these limits. Idempotent: the category is found by its code, the limit by its key.
"""

from __future__ import annotations

from django.utils.translation import gettext as _

from grids.demo import demo_step
from grids.models import Region
from grievances.models import Category, CategoryLimit, Kind, Urgency

GANZI = "513300000000"  # 甘孜藏族自治州
XIANGCHENG = "513336000000"  # 乡城县


@demo_step(5)
def load_category_configuration() -> dict[str, int]:
    ganzi = Region.objects.filter(code=GANZI).first()
    xiangcheng = Region.objects.filter(code=XIANGCHENG).first()
    parent = Category.objects.filter(code="dispute").first()
    count = 0
    if ganzi is not None and parent is not None:
        # The collecting season of 虫草 and 松茸 brings disputes over who picks where, at the
        # borders between villages and counties: a matter of the prefecture's own.
        Category.objects.get_or_create(
            code="dispute.cordyceps",
            defaults={
                "name": "虫草松茸采集纠纷",
                "name_en": "Cordyceps and matsutake collection",
                "kind": Kind.DISPUTE,
                "parent": parent,
                "region": ganzi,
                "is_dispute": True,
                "default_urgency": Urgency.URGENT,
                "default_handling_level": "township",
                "handle_urgent_days": 2,
                "handle_normal_days": 7,
            },
        )
        count += 1
    wages = Category.objects.filter(code="dispute.wages").first()
    if xiangcheng is not None and wages is not None:
        # 乡城县 answers wage arrears faster than the category's default.
        CategoryLimit.objects.get_or_create(
            category=wages,
            region=xiangcheng,
            urgency=Urgency.URGENT,
            defaults={"report_in": 1, "handling": 3},
        )
        count += 1
    return {_("configured categories and limits"): count}
