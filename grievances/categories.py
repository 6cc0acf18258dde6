"""The seeded category list: a small tree under the three kinds (domain.md §2, §5).

Created on migrate when missing (never overwritten: admins may edit them).
"""

from __future__ import annotations

from grievances.models import Kind, Urgency

# code, Chinese name, English name, kind, dispute?, default urgency, normal handling days
SEED = [
    ("dispute", "矛盾纠纷", "Disputes", Kind.DISPUTE, True, Urgency.NORMAL, 10),
    ("dispute.wages", "拖欠工资", "Wages owed", Kind.DISPUTE, True, Urgency.URGENT, 5),
    ("dispute.neighbours", "邻里纠纷", "Neighbours", Kind.DISPUTE, True, Urgency.NORMAL, 10),
    ("dispute.land", "土地林地纠纷", "Land and forest", Kind.DISPUTE, True, Urgency.NORMAL, 13),
    (
        "dispute.family",
        "婚姻家庭纠纷",
        "Marriage and family",
        Kind.DISPUTE,
        True,
        Urgency.NORMAL,
        10,
    ),
    (
        "dispute.contract",
        "合同债务纠纷",
        "Contracts and debts",
        Kind.DISPUTE,
        True,
        Urgency.NORMAL,
        10,
    ),
    ("dispute.property", "物业纠纷", "Property management", Kind.DISPUTE, True, Urgency.NORMAL, 5),
    # Pastoral counties (乡城县, 和静县): grazing and the borders of pastures between villages
    # and counties (边界共治).
    (
        "dispute.grazing",
        "草场放牧纠纷",
        "Grassland and grazing",
        Kind.DISPUTE,
        True,
        Urgency.NORMAL,
        13,
    ),
    (
        "dispute.boundary",
        "山林土地边界纠纷",
        "Land and boundary",
        Kind.DISPUTE,
        True,
        Urgency.NORMAL,
        13,
    ),
    ("dispute.medical", "医疗纠纷", "Medical disputes", Kind.DISPUTE, True, Urgency.NORMAL, 13),
    ("hardship", "困难诉求", "Hardships and requests", Kind.HARDSHIP, False, Urgency.NORMAL, 3),
    (
        "hardship.assistance",
        "社会救助",
        "Social assistance",
        Kind.HARDSHIP,
        False,
        Urgency.NORMAL,
        3,
    ),
    (
        "hardship.elderly",
        "养老助残",
        "Elderly and disabled care",
        Kind.HARDSHIP,
        False,
        Urgency.NORMAL,
        3,
    ),
    ("hardship.employment", "就业帮扶", "Employment help", Kind.HARDSHIP, False, Urgency.NORMAL, 5),
    (
        "hardship.consultation",
        "政策咨询",
        "Policy questions",
        Kind.HARDSHIP,
        False,
        Urgency.NORMAL,
        3,
    ),
    ("hazard", "问题隐患", "Hazards and problems", Kind.HAZARD, False, Urgency.NORMAL, 5),
    (
        "hazard.road",
        "道路桥梁隐患",
        "Road and bridge hazards",
        Kind.HAZARD,
        False,
        Urgency.URGENT,
        2,
    ),
    (
        "hazard.utilities",
        "供水供电",
        "Water and power supply",
        Kind.HAZARD,
        False,
        Urgency.URGENT,
        1,
    ),
    (
        "hazard.geological",
        "地质灾害",
        "Geological hazards",
        Kind.HAZARD,
        False,
        Urgency.MOST_URGENT,
        1,
    ),
    ("hazard.security", "治安隐患", "Public security", Kind.HAZARD, False, Urgency.URGENT, 3),
    (
        "hazard.environment",
        "环境卫生",
        "Environment and sanitation",
        Kind.HAZARD,
        False,
        Urgency.NORMAL,
        5,
    ),
    ("hazard.fire", "消防安全", "Fire safety", Kind.HAZARD, False, Urgency.URGENT, 2),
    ("hazard.housing", "房屋安全", "Housing safety", Kind.HAZARD, False, Urgency.URGENT, 3),
    (
        "hazard.forest_fire",
        "林草防火",
        "Forest and grassland fire",
        Kind.HAZARD,
        False,
        Urgency.URGENT,
        1,
    ),
    ("hardship.lift", "加装电梯", "Lift retrofits", Kind.HARDSHIP, False, Urgency.NORMAL, 13),
]


def seed_categories(**kwargs) -> int:
    """Create the seeded categories that are missing; returns how many were created."""
    from grievances.models import Category

    existing = set(Category.objects.values_list("code", flat=True))
    created = 0
    for code, name, name_en, kind, dispute, urgency, days in SEED:
        if code in existing:
            continue
        parent_code = code.rsplit(".", 1)[0] if "." in code else None
        Category.objects.create(
            code=code,
            name=name,
            name_en=name_en,
            kind=kind,
            is_dispute=dispute,
            default_urgency=urgency,
            handle_normal_days=days,
            parent=Category.objects.get(code=parent_code) if parent_code else None,
        )
        created += 1
    return created
