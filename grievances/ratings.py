"""Ratings of a case's result (末端评价): one per complainant, the one-tap rating link, and how
a case's ratings add up.

Every complainant rates for themselves, from the tracking page (code + the last 4 digits of
their own phone) or from the link the closing SMS carries: /r/<token>. The token is 10
random base62 characters (62^10 ≈ 8×10^17, drawn from the system's random source), tied to
one complainant of one case and valid for 30 days; the database keeps only its SHA-256, so a
copy of it gives no working link. The notifications call `issue_rating_link(complainant)`
when they send the 办结 SMS. Lookups are rate-limited per client like the other public
endpoints (grievances/views_rating.py).

How ratings add up for a case (the figures, the exports and the staff's pages read
`summary()`): the case's score is the mean of its complainants' scores; it is resolved when
every complainant who rated says so. Return visits take any unsatisfied rating
(evaluation/returnvisits.py).
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from grievances.models import Complainant, Rating, RatingLink

TOKEN_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
TOKEN_LENGTH = 10
LINK_VALID = timedelta(days=30)


def new_token() -> str:
    return "".join(secrets.choice(TOKEN_ALPHABET) for _ in range(TOKEN_LENGTH))


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def well_formed(token: str) -> bool:
    return (
        isinstance(token, str)
        and len(token) == TOKEN_LENGTH
        and all(ch in TOKEN_ALPHABET for ch in token)
    )


def issue_rating_link(complainant: Complainant, *, now: datetime | None = None) -> str:
    """A new one-tap rating link for `complainant` on their case: the absolute address to
    put in an SMS (settings.SITE_URL + /r/<token>). Valid for 30 days from now; links issued
    before stay valid until their own expiry."""
    now = now or timezone.now()
    token = new_token()
    # 62^10 tokens: a clash is as good as impossible, and the unique constraint refuses one.
    RatingLink.objects.create(
        token_hash=token_hash(token),
        grievance_id=complainant.grievance_id,
        complainant=complainant,
        created_at=now,
        expires_at=now + LINK_VALID,
    )
    site = (getattr(settings, "SITE_URL", "") or "").rstrip("/")
    return site + reverse("rate-link", args=[token])


def link_for(token: str, *, now: datetime | None = None) -> RatingLink | None:
    """The link a token opens, with its case and complainant; None when the token is
    malformed, unknown or expired, or its complainant no longer belongs to the case."""
    if not well_formed(token):
        return None
    now = now or timezone.now()
    link = (
        RatingLink.objects.select_related(
            "grievance__category",
            "grievance__region",
            "grievance__handler_region",
            "grievance__duplicate_of",
            "complainant",
        )
        .filter(token_hash=token_hash(token), expires_at__gt=now)
        .first()
    )
    if link is None or link.complainant.grievance_id != link.grievance_id:
        return None
    return link


# --- How a case's ratings add up -------------------------------------------------------------


@dataclass(frozen=True)
class Summary:
    """A case's ratings taken together."""

    count: int
    score: float  # the mean of the complainants' scores
    resolved: bool  # every complainant who rated says it is resolved
    first_at: datetime  # when the first of them rated

    @property
    def satisfied(self) -> bool:
        # The same threshold as one rating's (Rating.satisfied), applied to the mean.
        return self.score >= 4


def summary(ratings: Iterable[tuple[int, bool, datetime]]) -> Summary | None:
    """(score, resolved, created_at) of a case's ratings → their Summary; None without any."""
    rows = list(ratings)
    if not rows:
        return None
    return Summary(
        count=len(rows),
        score=sum(r[0] for r in rows) / len(rows),
        resolved=all(r[1] for r in rows),
        first_at=min(r[2] for r in rows),
    )


def summary_of(ratings: Iterable[Rating]) -> Summary | None:
    return summary((r.score, r.resolved, r.created_at) for r in ratings)
