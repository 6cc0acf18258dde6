from __future__ import annotations

import pytest

from grids import scoping
from grids.models import Membership, Region, Role
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def codes(qs):
    return set(qs.values_list("code", flat=True))


def test_township_staff_see_their_subtree_only(tree, people):
    seen = codes(scoping.visible_regions(people.centre_staff))
    assert seen == {"540502001000", "540502001001", "540502001001001", "540502001001002"}
    # Never the sibling township, its villages and grids, nor the parents.
    assert "540502002000" not in seen
    assert "540502002001001" not in seen
    assert "540502000000" not in seen


def test_another_tree_is_never_visible_even_with_overlapping_lft(tree, people):
    # Both roots start their own tree: lft values overlap between trees.
    assert tree.other_county.lft <= tree.town_a.rght
    seen = codes(scoping.visible_regions(people.outsider))
    assert seen == {"513336000000"}
    assert not scoping.can_act_in(people.outsider, tree.grid_a1)
    assert not scoping.can_act_in(people.centre_staff, tree.other_county)


def test_leader_of_county_sees_both_townships(tree, people):
    seen = codes(scoping.visible_regions(people.leader))
    assert {"540502001000", "540502002000", "540502002001001"} <= seen
    assert "540500000000" not in seen


def test_sibling_staff_cannot_act_in_other_township(tree, people):
    assert scoping.can_act_in(people.sibling_staff, tree.grid_b1)
    assert not scoping.can_act_in(people.sibling_staff, tree.grid_a1)


def test_nested_memberships_collapse_to_the_widest(tree, people):
    Membership.objects.create(user=people.leader, region=tree.grid_b1, role=Role.GRID_WORKER)
    scoping.forget(people.leader)
    assert [r.code for r in scoping.scope_regions(people.leader)] == ["540502000000"]


def test_user_without_membership_sees_nothing_and_superuser_everything(tree):
    nobody = UserFactory(username="resident")
    assert not scoping.visible_regions(nobody).exists()
    admin = UserFactory(username="root", is_superuser=True, is_staff=True)
    assert scoping.visible_regions(admin).count() == Region.objects.count()


def test_roles_and_region_roles(tree, people):
    assert scoping.roles_of(people.grid_worker) == {"grid_worker"}
    assert scoping.has_region_role(people.centre_staff, tree.grid_a2, {Role.CENTRE_STAFF})
    assert not scoping.has_region_role(people.centre_staff, tree.county, {Role.CENTRE_STAFF})
    assert not scoping.has_region_role(people.grid_worker, tree.grid_a1, {Role.CENTRE_STAFF})
