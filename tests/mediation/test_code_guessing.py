"""Guessing is hopeless: a party's signing codes and the personal links are limited."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.test import Client
from django.urls import include, path

from config.urls import handler403, handler404, handler500  # noqa: F401
from mediation.models import Signature
from tests.mediation.conftest import PHONE_A, client_for, code_from_outbox, token_of
from tests.mediation.test_signing import appointed, draft, sign_as_party  # noqa: F401
from tests.mediation.urls import urlpatterns as api_and_site

# The party's pages, until config.urls includes mediation.urls.
urlpatterns = [path("", include("mediation.urls")), *api_and_site]

pytestmark = [pytest.mark.django_db, pytest.mark.urls(__name__)]

SH = ZoneInfo("Asia/Shanghai")


def _wrong(right: str) -> str:
    return f"{(int(right) + 1) % 1000000:06d}"


def test_ten_wrong_codes_in_a_day_pause_signing_with_a_code(roster, appointed, act):  # noqa: F811
    agreement = draft(act, appointed, roster.users.zhuoma)
    token = token_of(appointed, 0)
    start = datetime(2026, 11, 10, 10, 0, tzinfo=SH)
    paused = (
        "Too many wrong codes: signing with a code is paused until 2026-11-11 10:00. "
        "Your mediator can help you sign in person."
    )
    with time_machine.travel(start, tick=False) as clock:
        # Two codes, five wrong tries each: every new code used to give five more.
        for minute in (0, 2):
            clock.move_to(start + timedelta(minutes=minute))
            assert act(client_for(), appointed, "send_code", token=token).status_code == 200
            right = code_from_outbox(PHONE_A)
            answers = [
                sign_as_party(act, appointed, 0, agreement, code=_wrong(right)) for _ in range(5)
            ]
            assert all(r.status_code == 400 for r in answers)
        assert answers[-1].json() == {"code": [paused]}
        # No further code is sent, and the last one, right as it is, no longer signs.
        clock.move_to(start + timedelta(minutes=4))
        r = act(client_for(), appointed, "send_code", token=token)
        assert r.status_code == 400 and r.json() == {"code": [paused]}
        r = sign_as_party(act, appointed, 0, agreement, code=right)
        assert r.status_code == 400 and r.json() == {"code": [paused]}
        assert not Signature.objects.exists()
        # A day after the first wrong code, the party signs.
        clock.move_to(start + timedelta(days=1, minutes=1))
        assert sign_as_party(act, appointed, 0, agreement).status_code == 200
    assert Signature.objects.count() == 1


def test_unknown_links_are_limited_per_address_on_the_page(settings):
    settings.MEDIATION_LINK_MISSES_PER_HOUR = 3
    guesser = Client(REMOTE_ADDR="10.0.0.66")
    statuses = [guesser.get(f"/mediation/p/guess-{i}/").status_code for i in range(4)]
    assert statuses == [404, 404, 404, 429]
    refused = guesser.get("/mediation/p/guess-9/")
    assert refused.status_code == 429 and refused["Retry-After"] == "3600"
    assert "尝试次数过多" in refused.content.decode()
    posted = guesser.post("/mediation/p/guess-10/sign/", {})
    assert posted.status_code == 429
    # Another address is not touched.
    assert Client(REMOTE_ADDR="10.0.0.7").get("/mediation/p/guess-0/").status_code == 404


def test_unknown_links_are_limited_per_ipv6_64(settings):
    settings.MEDIATION_LINK_MISSES_PER_HOUR = 2
    statuses = [
        Client(REMOTE_ADDR=f"2001:db8:9:9::{i + 1:x}").get(f"/mediation/p/guess-{i}/").status_code
        for i in range(3)
    ]
    assert statuses == [404, 404, 429]
    assert Client(REMOTE_ADDR="2001:db8:9:a::1").get("/mediation/p/guess-0/").status_code == 404


def test_a_party_still_opens_their_own_link_from_a_limited_address(
    roster,
    appointed,  # noqa: F811
    settings,
):
    settings.MEDIATION_LINK_MISSES_PER_HOUR = 1
    client = Client(REMOTE_ADDR="10.0.0.66")
    for i in range(3):
        client.get(f"/mediation/p/guess-{i}/")
    assert client.get(f"/mediation/p/{token_of(appointed, 0)}/").status_code == 200


def test_unknown_links_are_limited_per_address_on_the_api(roster, appointed, settings):  # noqa: F811
    settings.MEDIATION_LINK_MISSES_PER_HOUR = 3
    api = client_for()
    url = f"/api/v1/mediation-cases/{appointed.pk}/"
    statuses = [api.get(url, {"token": f"guess-{i}"}).status_code for i in range(4)]
    assert statuses == [404, 404, 404, 429]
    assert api.get(url, {"token": token_of(appointed, 0)}).status_code == 200
