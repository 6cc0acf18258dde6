"""A party's personal link and the one-time codes they sign with.

The link carries a signed token (django.core.signing, own salt) naming the party, the case
and the party's link nonce: it needs no account and no table, expires after
MEDIATION_LINK_MAX_AGE_DAYS, and a new nonce revokes the links given out before. A token
that does not verify, has expired or names another case answers as if nothing were there.

One-time codes are stored as an HMAC of the code under the secret key and the party, so a
copy of the database does not give the codes away; comparing is constant-time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta

from django.conf import settings
from django.core import signing
from django.urls import NoReverseMatch, reverse

from grids import limits
from grids.lockout import client_ip

SALT = "fengqiao.mediation.party-link"
CODE_DIGITS = 6


def link_max_age() -> timedelta:
    return timedelta(days=getattr(settings, "MEDIATION_LINK_MAX_AGE_DAYS", 90))


def party_token(party) -> str:
    return signing.dumps({"p": party.pk, "c": party.case_id, "n": party.link_nonce}, salt=SALT)


def party_link(party) -> str:
    """The address a party opens from the SMS: their page of the mediation case, or, where
    the pages are not mounted, the API's view of it (JSON)."""
    site = getattr(settings, "SITE_URL", "").rstrip("/")
    token = party_token(party)
    try:
        return site + reverse("mediation-party", args=[token])
    except NoReverseMatch:
        return f"{site}/api/v1/mediation-cases/{party.case_id}/?token={token}"


def party_from_token(token: str | None, case_id: int | None = None):
    """The Party a token names (optionally: of this case), or None."""
    from mediation.models import Party

    if not token or not isinstance(token, str) or len(token) > 500:
        return None
    try:
        data = signing.loads(token, salt=SALT, max_age=link_max_age())
    except signing.BadSignature:  # SignatureExpired is a BadSignature too
        return None
    if not isinstance(data, dict):
        return None
    if case_id is not None and data.get("c") != case_id:
        return None
    party = (
        Party.objects.select_related("case__grievance", "user")
        .filter(pk=data.get("p"), case_id=data.get("c"))
        .first()
    )
    if party is None or not hmac.compare_digest(party.link_nonce, str(data.get("n", ""))):
        return None
    return party


def miss_over_limit(request) -> bool:
    """Count a link that did not verify against the client's address; True once the address
    passed MEDIATION_LINK_MISSES_PER_HOUR. A person opens an old link now and then; a script
    guessing links is stopped (the links are signed, but nobody should be free to try)."""
    limit = getattr(settings, "MEDIATION_LINK_MISSES_PER_HOUR", 30)
    return limits.over_limit(f"mediation-link-misses:{client_ip(request)}", limit, 3600)


def new_code() -> str:
    return f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"


def code_hash(party_id: int, code: str) -> str:
    key = settings.SECRET_KEY.encode()
    return hmac.new(key, f"mediation-code:{party_id}:{code}".encode(), hashlib.sha256).hexdigest()


def code_matches(party_id: int, code: str, stored_hash: str) -> bool:
    return hmac.compare_digest(code_hash(party_id, code.strip()), stored_hash)
