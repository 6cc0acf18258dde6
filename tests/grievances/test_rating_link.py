"""The one-tap rating link (/r/<token>) of the closing SMS: issued for one complainant of one
case, stored hashed, valid 30 days; opening it shows that complainant's rating form."""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta
from html import unescape
from urllib.parse import urlsplit

import pytest
import time_machine
from django.test import Client

from grievances import ratings, services
from grievances.models import Category, Complainant, Rating, RatingLink, Source, State
from tests.grievances.conftest import POINT_A1, advance, at

pytestmark = pytest.mark.django_db

EN = {"HTTP_ACCEPT_LANGUAGE": "en"}
CLOSED_AT = at(2026, 3, 2, 10)


def text(response) -> str:
    return unescape(response.content.decode())


def two_people_case(title="楼道水管漏水"):
    return services.grievance_submit(
        user=None,
        title=title,
        description=f"{title}，请尽快处理",
        category=Category.objects.get(code="hazard.environment"),
        source=Source.RESIDENT_WEB,
        lng=POINT_A1[0],
        lat=POINT_A1[1],
        complainants=[
            services.ComplainantData(name="赵六", phone="13900001111"),
            services.ComplainantData(name="钱七", phone="13900002222"),
        ],
    )


@pytest.fixture
def closed(tree, people):
    with time_machine.travel(CLOSED_AT, tick=False):
        return advance(two_people_case(), State.CLOSED, people)


def path_of(url: str) -> str:
    return urlsplit(url).path


def token_of(url: str) -> str:
    return url.rsplit("/", 1)[1]


def test_a_link_is_an_absolute_address_with_a_10_character_base62_token(closed, settings):
    settings.SITE_URL = "https://fengqiao.example.org/"
    person = closed.complainants.get(name="钱七")
    url = ratings.issue_rating_link(person)
    assert re.fullmatch(r"https://fengqiao\.example\.org/r/[0-9A-Za-z]{10}", url), url
    link = RatingLink.objects.get()
    # Only the SHA-256 of the token is kept.
    assert link.token_hash == hashlib.sha256(token_of(url).encode()).hexdigest()
    assert token_of(url) not in str(RatingLink.objects.values_list().get())
    assert (link.complainant, link.grievance) == (person, closed)
    assert link.expires_at - link.created_at == timedelta(days=30)
    # Two links never share a token.
    assert token_of(ratings.issue_rating_link(person)) != token_of(url)


def test_opening_the_link_shows_the_form_and_posting_rates_for_that_complainant(closed):
    person = closed.complainants.get(name="钱七")
    with time_machine.travel(CLOSED_AT + timedelta(hours=1), tick=False):
        url = path_of(ratings.issue_rating_link(person))
        client = Client()
        r = client.get(url, **EN)
        assert r.status_code == 200
        html = text(r)
        assert "Rate the result" in html and "楼道水管漏水" in html
        assert html.count('name="score"') == 5 and 'name="resolved"' in html
        assert 'name="comment"' in html and 'name="last4"' not in html
        assert r["Cache-Control"] == "private, no-store"
        assert r["Referrer-Policy"] == "same-origin"
        r = client.post(
            url, {"act": "rate", "score": "2", "resolved": "no", "comment": "还在漏"}, **EN
        )
        assert r.status_code == 302 and r["Location"] == url
        rating = Rating.objects.get()
        assert (rating.complainant, rating.grievance) == (person, closed)
        assert (rating.score, rating.resolved, rating.comment) == (2, False, "还在漏")
        html = text(client.get(url, **EN))
        assert "Thank you for rating the result." in html
        assert "Change your rating" in html and "2 stars" in html
        # Changing it, within the 30 days.
        r = client.post(url, {"act": "rate", "score": "4", "resolved": "yes"})
        assert r.status_code == 302
    assert list(Rating.objects.values_list("complainant__name", "score")) == [("钱七", 4)]


def test_a_bad_form_names_the_fields(closed):
    with time_machine.travel(CLOSED_AT + timedelta(days=1), tick=False):
        url = path_of(ratings.issue_rating_link(closed.complainants.first()))
        r = Client().post(url, {"act": "rate", "comment": "x"}, **EN)
    assert r.status_code == 400
    assert "Choose from 1 to 5 stars." in text(r)
    assert not Rating.objects.exists()


def test_an_unknown_or_malformed_token_is_a_clear_404(tree):
    for token in ("AAAAAAAAAA", "short", "a" * 11, "abc-def_gh"):
        r = Client().get(f"/r/{token}", **EN)
        assert r.status_code == 404, token
        assert "This rating link does not work" in text(r)


def test_an_expired_link_is_a_404(closed):
    person = closed.complainants.first()
    with time_machine.travel(CLOSED_AT + timedelta(hours=1), tick=False) as clock:
        url = path_of(ratings.issue_rating_link(person))
        clock.shift(timedelta(days=30))
        r = Client().get(url, **EN)
        assert r.status_code == 404
        assert "more than 30 days old" in text(r)
        r = Client().post(url, {"score": "5", "resolved": "yes"})
        assert r.status_code == 404
    assert not Rating.objects.exists()


def test_a_case_not_closed_says_so(tree, people):
    case = advance(two_people_case(), State.HANDLED, people)
    url = path_of(ratings.issue_rating_link(case.complainants.first()))
    r = Client().get(url, **EN)
    assert r.status_code == 200
    html = text(r)
    assert "A case can be rated once it is closed." in html
    assert 'name="score"' not in html
    r = Client().post(url, {"score": "5", "resolved": "yes"}, **EN)
    assert r.status_code == 409
    assert "A case can be rated once it is closed." in text(r)
    assert not Rating.objects.exists()


def test_past_30_days_after_closing_says_so(closed):
    # A link issued late (say, a resend) still cannot rate past the case's window.
    with time_machine.travel(CLOSED_AT + timedelta(days=29), tick=False) as clock:
        url = path_of(ratings.issue_rating_link(closed.complainants.first()))
        clock.shift(timedelta(days=1, minutes=1))
        r = Client().get(url, **EN)
        assert r.status_code == 200
        assert "A case can be rated within 30 days of its closing." in text(r)
        r = Client().post(url, {"score": "5", "resolved": "yes"}, **EN)
        assert r.status_code == 409
    assert not Rating.objects.exists()


def test_a_token_of_one_case_cannot_rate_another(tree, people):
    with time_machine.travel(CLOSED_AT, tick=False):
        first = advance(two_people_case("第一件"), State.CLOSED, people)
        second = advance(two_people_case("第二件"), State.CLOSED, people)
        url = path_of(ratings.issue_rating_link(first.complainants.first()))
        client = Client()
        html = text(client.get(url))
        assert "第一件" in html and "第二件" not in html
        # Whatever the post says, the link rates its own case for its own complainant.
        r = client.post(
            url,
            {
                "score": "1",
                "resolved": "no",
                "grievance": second.pk,
                "complainant": second.complainants.first().pk,
                "code": second.tracking_code,
            },
        )
        assert r.status_code == 302
    rating = Rating.objects.get()
    assert rating.grievance == first
    assert rating.complainant == first.complainants.first()
    assert not Rating.objects.filter(grievance=second).exists()
    # Nor does it open the tracking of the other case.
    assert 'data-state="closed"' not in text(client.get("/track/", {"code": second.display_code}))


def test_a_complainant_moved_to_another_case_no_longer_rates_with_it(closed, people):
    person = closed.complainants.get(name="钱七")
    url = path_of(ratings.issue_rating_link(person))
    Complainant.objects.filter(pk=person.pk).update(grievance=two_people_case("另一件"))
    assert Client().get(url).status_code == 404


def test_link_lookups_are_limited_per_client(closed, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
            "rating_link": "3/hour",
        },
    }
    url = path_of(ratings.issue_rating_link(closed.complainants.first()))
    for token in ("AAAAAAAAAA", "BBBBBBBBBB", "CCCCCCCCCC"):
        assert Client(REMOTE_ADDR="10.1.1.1").get(f"/r/{token}").status_code == 404
    # Guessing is over for this client, even with a good link.
    assert Client(REMOTE_ADDR="10.1.1.1").get(url).status_code == 429
    assert Client(REMOTE_ADDR="10.1.1.2").get(url).status_code == 200
