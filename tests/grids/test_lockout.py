"""Password guessing is slowed down: sign-in lockouts on the login page and the token API,
and the limits on password reset."""

from __future__ import annotations

import os
import re
import uuid
from datetime import timedelta
from html import unescape

import pytest
import time_machine
from axes.models import AccessAttempt
from django.contrib.auth import SESSION_KEY
from django.core import mail
from django.core.cache import caches
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from grids.models import LoginLockout, User

RIGHT = "pass-word-123"
LOGIN = "/accounts/login/"
TOKEN = "/api/v1/auth/token/"
RESET = "/accounts/password/reset/"


@pytest.fixture(autouse=True)
def _fresh_counters():
    # The account slow-down and the reset limits count in the cache, which outlives a test.
    caches["default"].clear()
    yield
    caches["default"].clear()


def _text(response) -> str:
    html = response.content.decode()
    return unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)))


def _sign_in(client, password: str, username: str = "grid_worker"):
    return client.post(LOGIN, {"username": username, "password": password})


def _signed_in(client) -> bool:
    return SESSION_KEY in client.session


def _guess(client, times: int, username: str = "grid_worker") -> list[int]:
    return [_sign_in(client, f"wrong-{i}", username).status_code for i in range(times)]


def test_wrong_passwords_then_the_right_one_are_refused_with_429_on_the_login_page(people):
    client = Client(REMOTE_ADDR="10.0.0.1")
    statuses = _guess(client, 25)
    # The fifth wrong password locks the pair; the page says so from then on.
    assert statuses[:4] == [200] * 4
    assert set(statuses[4:]) == {429}
    refused = _sign_in(client, RIGHT)
    assert refused.status_code == 429
    assert not _signed_in(client)
    assert 14 * 60 < int(refused["Retry-After"]) <= 15 * 60
    text = _text(refused)
    assert "输错密码次数过多" in text and "15 分钟后再试" in text
    # In the site's look: the shell around it, a way to reset the password.
    assert 'class="narrow card"' in refused.content.decode()
    assert "/accounts/password/reset/" in refused.content.decode()


def test_the_lockout_page_speaks_english_too(people):
    client = Client(REMOTE_ADDR="10.0.0.1", HTTP_ACCEPT_LANGUAGE="en")
    _guess(client, 5)
    refused = _sign_in(client, RIGHT)
    assert refused.status_code == 429
    assert "Try again in 15 minutes" in _text(refused)


def test_the_token_api_answers_429_with_a_reason_not_bad_credentials(people):
    api = APIClient(REMOTE_ADDR="10.0.0.1")
    statuses = [
        api.post(TOKEN, {"username": "grid_worker", "password": f"w{i}"}, format="json")
        for i in range(25)
    ]
    assert [r.status_code for r in statuses[:4]] == [400] * 4
    assert {r.status_code for r in statuses[4:]} == {429}
    refused = api.post(TOKEN, {"username": "grid_worker", "password": RIGHT}, format="json")
    assert refused.status_code == 429
    assert "token" not in refused.json()
    assert "15 分钟后再试" in refused.json()["detail"]
    assert 14 * 60 < int(refused["Retry-After"]) <= 15 * 60


def test_an_overlong_username_on_the_token_api_is_a_400_naming_the_field(people):
    api = APIClient(REMOTE_ADDR="10.0.0.1")
    r = api.post(TOKEN, {"username": "x" * 300, "password": "p"}, format="json")
    assert r.status_code == 400 and "username" in r.json()
    assert not AccessAttempt.objects.exists()


def test_a_stranger_cannot_keep_a_grid_worker_out(people):
    stranger = Client(REMOTE_ADDR="10.0.0.66")
    _guess(stranger, 25)
    assert _sign_in(stranger, RIGHT).status_code == 429
    worker = Client(REMOTE_ADDR="10.0.0.7")
    assert _sign_in(worker, RIGHT).status_code == 302
    assert _signed_in(worker)
    api = APIClient(REMOTE_ADDR="10.0.0.8")
    ok = api.post(TOKEN, {"username": "grid_worker", "password": RIGHT}, format="json")
    assert ok.status_code == 200 and ok.json()["token"]


def test_a_header_the_client_writes_does_not_make_a_new_address(people):
    # Without a trusted proxy, X-Forwarded-For is the client's word: it changes nothing.
    for i in range(6):
        client = Client(REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR=f"192.0.2.{i}")
        last = _sign_in(client, f"wrong-{i}")
    assert last.status_code == 429
    assert _sign_in(Client(REMOTE_ADDR="10.0.0.1"), RIGHT).status_code == 429


def test_addresses_in_one_ipv6_64_are_one_pair(people):
    # A subscriber holds a whole /64: a fresh address in it is no fresh allowance.
    for i in range(5):
        last = _sign_in(Client(REMOTE_ADDR=f"2001:db8:7:8::{i + 1:x}"), f"wrong-{i}")
    assert last.status_code == 429
    refused = _sign_in(Client(REMOTE_ADDR="2001:db8:7:8:aaaa:bbbb:cccc:dddd"), RIGHT)
    assert refused.status_code == 429
    # Another /64 is another pair.
    other = Client(REMOTE_ADDR="2001:db8:7:9::1")
    assert _sign_in(other, RIGHT).status_code == 302


def test_password_reset_counts_an_ipv6_64_as_one_address(people, settings):
    settings.PASSWORD_RESET_PER_ADDRESS = 2
    statuses = [
        Client(REMOTE_ADDR=f"2001:db8:7:8::{i + 1:x}")
        .post(RESET, {"email": f"p{i}@example.com"})
        .status_code
        for i in range(3)
    ]
    assert statuses == [302, 302, 429]
    other = Client(REMOTE_ADDR="2001:db8:7:9::1")
    assert other.post(RESET, {"email": "x@example.com"}).status_code == 302


def test_the_lockout_ends_when_announced(people):
    client = Client(REMOTE_ADDR="10.0.0.1")
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        _guess(client, 5)
        traveller.shift(timedelta(minutes=14))
        assert _sign_in(client, RIGHT).status_code == 429
        traveller.shift(timedelta(minutes=1, seconds=5))
        assert _sign_in(client, RIGHT).status_code == 302
        assert _signed_in(client)


def test_each_further_lockout_of_the_pair_lasts_twice_as_long_up_to_a_day(people):
    client = Client(REMOTE_ADDR="10.0.0.1")
    waits = []
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        for _ in range(9):
            statuses = _guess(client, 5)
            assert statuses[-1] == 429, statuses
            refused = _sign_in(client, RIGHT)
            wait = int(refused["Retry-After"])
            waits.append(wait // 60)
            traveller.shift(timedelta(seconds=wait + 1))
        # The long lockouts say hours.
        assert "24 小时后再试" in _text(refused)
        # A successful sign-in forgets the earlier lockouts: the next one is short again.
        assert _sign_in(client, RIGHT).status_code == 302
        client.post("/accounts/logout/")
        _guess(client, 5)
        assert int(_sign_in(client, RIGHT)["Retry-After"]) == 15 * 60
    assert waits == [15, 30, 60, 120, 240, 480, 960, 1440, 1440]


def test_failures_far_apart_do_not_add_up(people):
    client = Client(REMOTE_ADDR="10.0.0.1")
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        for _ in range(8):
            assert _sign_in(client, "wrong").status_code == 200
            traveller.shift(timedelta(minutes=16))
        assert _sign_in(client, RIGHT).status_code == 302


def test_successful_sign_ins_are_never_counted(people):
    # The browser tour signs the same people in many times from one address.
    client = Client(REMOTE_ADDR="127.0.0.1")
    for _ in range(3):
        for _ in range(4):
            assert _sign_in(client, "typo").status_code == 200
        assert _sign_in(client, RIGHT).status_code == 302
        client.post("/accounts/logout/")
    for _ in range(30):
        assert _sign_in(client, RIGHT).status_code == 302
        client.post("/accounts/logout/")
    assert not LoginLockout.objects.exists()


def test_an_account_tried_from_many_addresses_is_slowed_down_not_locked(people, settings):
    settings.LOGIN_ACCOUNT_FAILURE_LIMIT = 8
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        for i in range(3):
            _guess(Client(REMOTE_ADDR=f"10.0.1.{i}"), 3)  # 9 wrong passwords, no pair locked
        worker = Client(REMOTE_ADDR="10.0.0.7")
        refused = _sign_in(worker, RIGHT)
        assert refused.status_code == 429
        assert not _signed_in(worker)
        assert "此账号的登录尝试过多" in _text(refused)
        assert 0 < int(refused["Retry-After"]) <= 15 * 60
        api = APIClient(REMOTE_ADDR="10.0.0.8")
        r = api.post(TOKEN, {"username": "grid_worker", "password": RIGHT}, format="json")
        assert r.status_code == 429 and "此账号的登录尝试过多" in r.json()["detail"]
        # Other accounts are not touched.
        assert _sign_in(Client(REMOTE_ADDR="10.0.1.0"), RIGHT, "centre_staff").status_code == 302
        # A slow-down, not a lock: one window later the account opens again.
        traveller.shift(timedelta(minutes=15, seconds=1))
        assert _sign_in(worker, RIGHT).status_code == 302


def test_a_stranger_from_many_addresses_does_not_keep_the_worker_out_where_they_sign_in(people):
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        # The worker signed in from a café a month ago, and lately from their phone and, on
        # the API, from their office.
        cafe = Client(REMOTE_ADDR="10.0.0.6")
        assert _sign_in(cafe, RIGHT).status_code == 302
        cafe.post("/accounts/logout/")
        traveller.shift(timedelta(days=11))
        phone = Client(REMOTE_ADDR="10.0.0.7")
        assert _sign_in(phone, RIGHT).status_code == 302
        phone.post("/accounts/logout/")
        office = APIClient(REMOTE_ADDR="10.0.0.9")
        body = {"username": "grid_worker", "password": RIGHT}
        assert office.post(TOKEN, body, format="json").status_code == 200
        traveller.shift(timedelta(days=20))
        # A stranger: one wrong password from each of 30 addresses, no pair locked.
        for i in range(30):
            assert _sign_in(Client(REMOTE_ADDR=f"10.0.1.{i}"), "wrong").status_code in (200, 429)
        # The worker still signs in where they did before, with the right password ...
        assert _sign_in(phone, RIGHT).status_code == 302
        assert _signed_in(phone)
        assert office.post(TOKEN, body, format="json").status_code == 200
        # ... and a wrong password there is still only a wrong password.
        assert _sign_in(Client(REMOTE_ADDR="10.0.0.9"), "wrong").status_code == 200
        # An address not signed in from for over 30 days is a new one again.
        assert _sign_in(cafe, RIGHT).status_code == 429
        # A new address is slowed down, and told so and for how long.
        refused = _sign_in(Client(REMOTE_ADDR="10.0.0.8"), RIGHT)
        assert refused.status_code == 429
        assert 0 < int(refused["Retry-After"]) <= 15 * 60
        text = _text(refused)
        assert "此账号的登录尝试过多（来自新的地址）" in text
        assert "或在以前登录过的网络上登录" in text
        r = APIClient(REMOTE_ADDR="10.0.0.8").post(TOKEN, body, format="json")
        assert r.status_code == 429 and "来自新的地址" in r.json()["detail"]
        # The slow-down ends with its window.
        traveller.shift(timedelta(minutes=15, seconds=1))
        assert _sign_in(Client(REMOTE_ADDR="10.0.0.8"), RIGHT).status_code == 302


def test_the_worker_signs_in_during_a_slow_down_from_their_ipv6_64(people):
    # A phone's IPv6 address changes within its /64 from day to day.
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        assert _sign_in(Client(REMOTE_ADDR="2001:db8:7:8::1"), RIGHT).status_code == 302
        traveller.shift(timedelta(days=3))
        for i in range(21):
            _sign_in(Client(REMOTE_ADDR=f"2001:db8:99:{i:x}::1"), "wrong")
        assert _sign_in(Client(REMOTE_ADDR="2001:db8:7:8:5:6:7:8"), RIGHT).status_code == 302
        assert _sign_in(Client(REMOTE_ADDR="2001:db8:7:9::1"), RIGHT).status_code == 429


def test_the_account_slow_down_counts_on_redis(people, settings, require_redis):
    settings.LOGIN_ACCOUNT_FAILURE_LIMIT = 4
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
            # A prefix of this run's own: nothing is flushed, the keys expire with their window.
            "KEY_PREFIX": f"fengqiao-test-lockout-{uuid.uuid4().hex}",
        }
    }
    for i in range(5):
        _sign_in(Client(REMOTE_ADDR=f"10.0.4.{i}"), "wrong")
    refused = _sign_in(Client(REMOTE_ADDR="10.0.0.7"), RIGHT)
    assert refused.status_code == 429
    assert "此账号的登录尝试过多" in _text(refused)


def test_another_browser_on_the_same_address_is_the_same_pair(people):
    statuses = [
        Client(REMOTE_ADDR="10.0.0.1", HTTP_USER_AGENT=f"browser {i}")
        .post(LOGIN, {"username": "grid_worker", "password": "wrong"})
        .status_code
        for i in range(5)
    ]
    assert statuses[-1] == 429
    assert _sign_in(Client(REMOTE_ADDR="10.0.0.1"), RIGHT).status_code == 429


def test_signing_in_works_while_the_cache_is_away(people, settings):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",  # nothing listens there
        }
    }
    client = Client(REMOTE_ADDR="10.0.0.1")
    assert _sign_in(client, RIGHT).status_code == 302
    client.post("/accounts/logout/")
    # The lockout lives in the database: it still holds.
    assert _guess(client, 5)[-1] == 429
    assert _sign_in(client, RIGHT).status_code == 429


def test_an_administrator_lifts_a_lockout_in_the_admin(people, admin_client):
    client = Client(REMOTE_ADDR="10.0.0.1")
    _guess(client, 5)
    assert _sign_in(client, RIGHT).status_code == 429
    changelist = admin_client.get("/admin/axes/accessattempt/")
    assert changelist.status_code == 200
    assert "grid_worker" in _text(changelist)
    attempt = AccessAttempt.objects.get(username="grid_worker")
    done = admin_client.post(
        "/admin/axes/accessattempt/",
        {"action": "delete_selected", "_selected_action": [attempt.pk], "post": "yes"},
    )
    assert done.status_code == 302
    assert not AccessAttempt.objects.exists()
    assert not LoginLockout.objects.exists()
    assert _sign_in(client, RIGHT).status_code == 302


def test_deleting_one_attempt_in_the_admin_lifts_it_too(people, admin_client):
    client = Client(REMOTE_ADDR="10.0.0.1")
    _guess(client, 5)
    attempt = AccessAttempt.objects.get(username="grid_worker")
    page = admin_client.get(f"/admin/axes/accessattempt/{attempt.pk}/change/")
    assert page.status_code == 200
    done = admin_client.post(f"/admin/axes/accessattempt/{attempt.pk}/delete/", {"post": "yes"})
    assert done.status_code == 302
    assert _sign_in(client, RIGHT).status_code == 302


# --- Password reset ---------------------------------------------------------------------------


def test_password_reset_is_limited_per_email_the_same_whether_it_exists_or_not(people):
    User.objects.filter(username="grid_worker").update(email="gw@example.com")
    for email in ("gw@example.com", "nobody@example.com"):
        answers = [
            Client(REMOTE_ADDR=f"10.0.2.{i}").post(RESET, {"email": email}) for i in range(6)
        ]
        assert [r.status_code for r in answers[:5]] == [302] * 5
        refused = answers[5]
        assert refused.status_code == 429
        assert refused["Retry-After"] == "3600"
        assert "重置密码的请求过多，请一小时后再试。" in _text(refused)
        assert 'class="narrow card"' in refused.content.decode()
    assert len(mail.outbox) == 5
    # The e-mail address's case does not make a new allowance.
    assert (
        Client(REMOTE_ADDR="10.0.3.1").post(RESET, {"email": "GW@example.com"}).status_code == 429
    )


def test_password_reset_is_limited_per_address(people):
    client = Client(REMOTE_ADDR="10.0.0.1")
    statuses = [client.post(RESET, {"email": f"p{i}@example.com"}).status_code for i in range(21)]
    assert statuses[:20] == [302] * 20
    assert statuses[20] == 429
    # Another address still asks.
    assert Client(REMOTE_ADDR="10.0.0.2").post(RESET, {"email": "x@example.com"}).status_code == 302
