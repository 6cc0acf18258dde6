"""load_demo: the seeded tree, tiling boundaries, logins per role, and idempotence."""

from __future__ import annotations

import io
from collections import defaultdict

import pytest
from django.core.management import CommandError, call_command
from django.http import HttpRequest
from django.utils import translation
from shapely.geometry import shape
from shapely.ops import unary_union

from dispatch.models import Department, DepartmentMembership
from grids import demo
from grids.locate import locate
from grids.models import BoundaryVersion, Membership, Region, RegionBoundary, Role, User

pytestmark = pytest.mark.django_db

DEMO_COUNTIES = {"540502000000": "乃东区", "513336000000": "乡城县", "652827000000": "和静县"}


@pytest.fixture
def loaded(monkeypatch):
    # The tree, departments and logins alone: the other apps' steps (routing rules, the
    # mediation roster, cases) have their own tests in tests/test_demo_content.py.
    monkeypatch.setattr(demo, "_steps", {})
    out = io.StringIO()
    call_command("load_demo", stdout=out)
    return out.getvalue()


def geometries(regions) -> dict[str, object]:
    rows = RegionBoundary.objects.filter(region__in=regions).values_list("region__code", "geometry")
    return {code: shape(geometry) for code, geometry in rows}


def test_load_demo_builds_the_tree(loaded):
    assert Region.objects.filter(level="city").count() == 3
    assert Region.objects.filter(level="county").count() == 39
    for code, name in DEMO_COUNTIES.items():
        county = Region.objects.get(code=code)
        assert county.name == name
        townships = county.get_children()
        assert townships.count() >= 2
        assert {t.level for t in townships} == {"township"}
        grids = county.get_descendants().filter(level="grid")
        assert grids.count() >= 8
        for grid in grids.select_related("parent"):
            assert len(grid.code) == 15
            assert grid.code.startswith(grid.parent.code)
            assert grid.parent.level == "village"
            assert grid.code[:6] == code[:6]
            assert grid.kind
        for region in county.get_descendants().exclude(level="grid"):
            assert len(region.code) == 12
            assert region.code.startswith(code[:6])
    # The places the scenarios name.
    heida = Region.objects.get(name="黑达村")
    assert heida.parent.name == "青德镇"
    assert heida.parent.parent.code == "513336000000"
    assert Region.objects.get(name="哈尔莫敦示范村").parent.name == "哈尔莫敦镇"
    assert Region.objects.get(name="泽当示范村").parent.name == "泽当街道"
    assert Region.objects.get(name="琼嘎顶社区").parent.name == "泽当街道"
    assert Region.objects.get(name="拉玉乡").parent.name == "琼结县"
    kinds = set(Region.objects.filter(level="grid").values_list("kind", flat=True))
    assert {"residential", "school", "temple"} <= kinds
    assert Region.objects.filter(
        level="grid", kind="temple", parent__parent__parent__code="513336000000"
    ).exists()
    # Every region has a boundary and a bounding box.
    assert RegionBoundary.objects.count() == Region.objects.count()
    assert not Region.objects.filter(min_lng__isnull=True).exists()
    # The output ends with the logins.
    assert "gerongpengcuo" in loaded
    assert demo.DEMO_PASSWORD in loaded


def _parents_and_children():
    children = defaultdict(list)
    for region in Region.objects.filter(level__in=["township", "village", "grid"]).select_related(
        "parent"
    ):
        children[region.parent].append(region)
    return children


def test_children_tile_their_parent(loaded):
    children = _parents_and_children()
    everything = geometries([r for kids in children.values() for r in kids] + list(children))
    assert children
    for parent, kids in children.items():
        outer = everything[parent.code]
        parts = [everything[k.code] for k in kids]
        for kid, part in zip(kids, parts, strict=True):
            assert part.area > 0, kid.code
            # Inside the parent, up to floating-point noise.
            assert part.difference(outer).area <= 1e-9 * outer.area, kid.code
        union = unary_union(parts).area
        total = sum(p.area for p in parts)
        assert abs(union - outer.area) <= 0.01 * outer.area, parent.code
        # No overlaps: the parts' areas add up to their union.
        assert abs(total - union) <= 0.01 * outer.area, parent.code


def test_grids_are_numbered_west_to_east_north_to_south(loaded):
    eps = 1e-9
    for spec in demo.DEMO_COUNTIES:
        for township in spec.townships:
            for village in township.villages:
                v_code = f"{spec.code[:6]}{township.seq:03d}{village.seq:03d}"
                grids = Region.objects.filter(parent__code=v_code).order_by("code")
                geoms = geometries(grids)
                cells = [geoms[g.code] for g in grids]
                assert len(cells) == village.rows * village.cols
                rows = [
                    cells[r * village.cols : (r + 1) * village.cols] for r in range(village.rows)
                ]
                for row in rows:
                    for west, east in zip(row, row[1:], strict=False):
                        assert west.bounds[2] <= east.bounds[0] + eps
                for north, south in zip(rows, rows[1:], strict=False):
                    assert min(c.bounds[1] for c in north) >= max(c.bounds[3] for c in south) - eps


def test_locate_finds_each_grid_at_its_representative_point(loaded):
    grids = Region.objects.filter(level="grid")
    geoms = geometries(grids)
    assert len(geoms) == grids.count() > 0
    for code, geom in geoms.items():
        point = geom.representative_point()
        hit = locate(point.x, point.y)
        assert hit is not None and hit.code == code, (code, hit)


def test_every_demo_user_logs_in(loaded, client):
    for demo_user in demo.DEMO_USERS:
        assert client.login(
            request=HttpRequest(), username=demo_user.username, password=demo.DEMO_PASSWORD
        ), demo_user.username
        client.logout()
    users = User.objects.filter(username__in=[d.username for d in demo.DEMO_USERS])
    assert users.count() == len(demo.DEMO_USERS)
    assert not users.filter(must_change_password=True).exists()
    assert User.objects.get(username="admin").is_superuser
    roles = set(Membership.objects.values_list("role", flat=True))
    assert roles == {str(r) for r in Role}
    assert Membership.objects.filter(
        user__full_name="割绒彭措", role="grid_worker", region__parent__name="黑达村"
    ).exists()
    assert Membership.objects.filter(role="centre_staff", region__level="township").exists()
    assert Membership.objects.filter(role="centre_staff", region__level="county").exists()
    assert Membership.objects.filter(role="leader", region__level="county").exists()
    resident = User.objects.get(username="caomou")
    assert not resident.memberships.exists()
    assert not resident.department_memberships.exists()
    assert not resident.is_staff
    staffed = set(DepartmentMembership.objects.values_list("department__name", flat=True))
    assert {"乡城县交通运输局", "和静县劳动保障监察大队", "和静县交通运输局"} <= staffed


def test_departments_per_county(loaded):
    for code, name in DEMO_COUNTIES.items():
        names = set(Department.objects.filter(region__code=code).values_list("name", flat=True))
        for suffix in ("交通运输局", "劳动保障监察大队", "妇女联合会", "民政局", "自然资源局"):
            assert f"{name}{suffix}" in names
        assert Department.objects.filter(
            region__parent__code=code, name__endswith="派出所"
        ).exists()


def _snapshot():
    return {
        "regions": list(
            Region.objects.order_by("code").values_list(
                "code", "name", "level", "kind", "parent_id", "tree_id", "lft", "rght"
            )
        ),
        "boundaries": RegionBoundary.objects.count(),
        "stamp": BoundaryVersion.objects.values_list("stamp", flat=True).first(),
        "users": list(User.objects.order_by("username").values_list("username", "password")),
        "memberships": Membership.objects.count(),
        "departments": Department.objects.count(),
        "department_members": DepartmentMembership.objects.count(),
    }


def test_running_twice_changes_nothing(loaded):
    before = _snapshot()
    call_command("load_demo", stdout=io.StringIO())
    assert _snapshot() == before


def test_running_again_restores_the_demo_password(loaded, client):
    user = User.objects.get(username="gerongpengcuo")
    user.set_password("something-else-42")
    user.must_change_password = True
    user.save()
    call_command("load_demo", stdout=io.StringIO())
    user.refresh_from_db()
    assert not user.must_change_password
    assert client.login(
        request=HttpRequest(), username="gerongpengcuo", password=demo.DEMO_PASSWORD
    )


def test_demo_logins_prints_the_table_without_loading():
    out, err = io.StringIO(), io.StringIO()
    call_command("demo_logins", stdout=out, stderr=err)
    text = out.getvalue()
    for demo_user in demo.DEMO_USERS:
        assert demo_user.username in text
    assert demo.DEMO_PASSWORD in text
    assert "513336101201001" in text  # 割绒彭措's grid
    assert not Region.objects.exists()
    assert not User.objects.exists()
    assert "load_demo" in err.getvalue()


def test_plan_codes_follow_the_rules():
    codes = [r.code for r in demo.plan()]
    assert len(codes) == len(set(codes))
    for region in demo.plan():
        assert region.code.startswith(region.parent[: 9 if region.level == "village" else 6])
        assert len(region.code) == (15 if region.level == "grid" else 12)
        if region.level == "township":
            assert region.code.endswith("000")


def test_refuses_in_production_without_force(settings):
    settings.PRODUCTION = True
    with translation.override("en"), pytest.raises(CommandError, match="--force"):
        call_command("load_demo", stdout=io.StringIO())
    assert not User.objects.exists()


def test_steps_run_after_the_users_in_their_order(monkeypatch):
    ran = []
    monkeypatch.setattr(demo, "_steps", {})

    @demo.demo_step(20)
    def second():
        ran.append(("second", User.objects.count()))
        return {"b": 2}

    @demo.demo_step(10)
    def first():
        ran.append(("first", User.objects.count()))
        return {"a": 1}

    counts = demo.load_demo()
    users = len(demo.DEMO_USERS)
    assert ran == [("first", users), ("second", users)]
    assert counts["a"] == 1 and counts["b"] == 2
