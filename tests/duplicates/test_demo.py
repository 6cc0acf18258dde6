"""The demo shows the duplicates app at work: likely duplicates flagged in the queue of
乡城县's centre and a join waiting for it; a second load adds nothing."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.test import Client

from duplicates import demo
from duplicates.models import Join
from grievances.models import Grievance

pytestmark = pytest.mark.django_db


def test_the_demo_flags_likely_duplicates_and_holds_a_pending_join():
    call_command("load_demo", stdout=io.StringIO())
    again = Grievance.objects.filter(title__in=[demo.T_HEATING_AGAIN, demo.T_DITCH_AGAIN])
    assert again.count() == 2
    assert all(c.likely_duplicate_of_id is not None for c in again)
    [join] = Join.objects.all()
    assert join.state == Join.State.PENDING
    client = Client()
    client.force_login(_centre_user(join.grievance))
    page = client.get(f"/cases/{join.grievance_id}/").content.decode()
    assert "洛桑" in page
    call_command("load_demo", stdout=io.StringIO())
    assert (
        Grievance.objects.filter(title__in=[demo.T_HEATING_AGAIN, demo.T_DITCH_AGAIN]).count() == 2
    )
    assert Join.objects.count() == 1


def _centre_user(case):
    from grids.models import Membership, Role

    ancestors = case.owning_centre.get_ancestors(include_self=True)
    return (
        Membership.objects.filter(region__in=ancestors, role=Role.CENTRE_STAFF)
        .select_related("user")
        .first()
        .user
    )
