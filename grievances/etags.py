"""A case's version as its HTTP ETag, and acts that run only on the version their sender read.

`GET /api/v1/grievances/{id}/` sends `ETag: "<version>"` (Grievance.version counts the
writes to the case: every write that changes what this GET shows, a move or act, an event
that a department, a mediation or a return visit writes, a rating, photos). An act
(`POST /api/v1/grievances/{id}/<act>/`) may send `If-Match` with that tag: when the case has
been written since, the act is refused with 409 and nothing changes; the current tag or `*`
lets it run. Every response that carries the case carries its ETag, so a client can chain
acts without reading the case again; so does the answer of a photo upload, whose photos the
next act names. Without `If-Match` an act runs as before: the services lock the row and
check the state and the owning centre again, which catches two acts at the same moment, but
not an act sent on a page read before someone else's act that kept the state (two
escalations from accepted climb two levels).

The case pages do the same with a hidden `version` field in every act form
(grievances/views_cases.py).

The tags are strong (`"7"`): If-Match compares strongly (RFC 9110 §13.1.1), so a weak tag
(`W/"7"`) never matches. The version is compared with the row locked, in the transaction the
act then runs in (services.expect_version): no act can slip in between.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import transaction
from rest_framework.response import Response

from grievances import services
from grievances.models import Grievance

_TAG = re.compile(r'\s*(W/)?"([^"]*)"\s*(?:,|$)')
# A version counts the writes to one case: twelve digits are more than it will ever reach.
# A longer "number" cannot match, and past 4,300 digits int() refuses it (a 500).
MAX_VERSION_DIGITS = 12


def etag(case: Grievance) -> str:
    return f'"{case.version}"'


def version_number(raw: str) -> int | None:
    """The version written in `raw` (ASCII digits, at most MAX_VERSION_DIGITS of them);
    None for anything else. isdigit() alone takes superscripts (`²`) and other scripts'
    digits, which int() refuses."""
    if raw.isascii() and raw.isdigit() and len(raw) <= MAX_VERSION_DIGITS:
        return int(raw)
    return None


def wanted_versions(header: str | None) -> set[int] | None:
    """The versions an If-Match header accepts; None when it accepts any (absent or `*`).

    An empty set when nothing in it can match: a weak tag, a tag that is not a version, a
    malformed header. A bare number (`If-Match: 7`, as typed by hand) counts as its tag."""
    if header is None:
        return None
    header = header.strip()
    if header == "*":
        return None
    if (bare := version_number(header)) is not None:
        return {bare}
    versions: set[int] = set()
    position = 0
    while position < len(header):
        match = _TAG.match(header, position)
        if match is None or match.end() == position:
            return set()  # not a list of entity tags
        weak, value = match.groups()
        if not weak and (version := version_number(value)) is not None:
            versions.add(version)
        position = match.end()
    return versions


@contextmanager
def acting_on(case_pk: int, versions: set[int] | None) -> Iterator[None]:
    """Run the block (an act) only on one of `versions` of the case (None: on any).

    The row stays locked from the comparison to the end of the block, which is one
    transaction: the act's own savepoint nests in it."""
    if versions is None:
        yield
        return
    with transaction.atomic():
        services.expect_version(case_pk, versions)
        yield


class CaseVersionMixin:
    """For the viewset of cases: the retrieve sends the ETag, and acts go through
    `if_match(request, case)`, which holds them to the version the client read."""

    def retrieve(self, request, *args, **kwargs):
        case = self.get_object()
        return self.with_etag(Response(self.get_serializer(case).data), case)

    def if_match(self, request, case: Grievance):
        """The act's block: refused (services.Stale, 409) unless the case is at a version
        the request's If-Match names."""
        return acting_on(case.pk, wanted_versions(request.headers.get("If-Match")))

    @staticmethod
    def with_etag(response, case: Grievance):
        response["ETag"] = etag(case)
        return response
