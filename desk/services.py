"""Writes of the desk: an entry of a library saved or deleted, by those who keep it.

Only the centre staff of the entry's county or above may write it (desk.selectors); an entry
moved to another county must land in one they keep too. Errors are grievances' domain errors,
so that they reach the user as everywhere else (403 for the role, a field error otherwise).
"""

from __future__ import annotations

from django.db import transaction
from django.utils.translation import gettext as _

from desk import selectors
from desk.models import LibraryEntry
from grievances.services import InvalidInput, NotAllowed


def _check_keeper(user, entry: LibraryEntry) -> None:
    if not selectors.is_keeper(user):
        raise NotAllowed(_("Only the county's governance centre keeps this library."))
    if entry.pk is not None and not selectors.kept(user, type(entry)).filter(pk=entry.pk).exists():
        raise NotAllowed(_("This entry belongs to another county."))
    if not selectors.kept_counties(user).filter(pk=entry.region_id).exists():
        raise InvalidInput(_("Choose a county whose centre you work in."), field="region")


def entry_save(entry: LibraryEntry, user) -> LibraryEntry:
    """Add or change an entry of the canned replies or the knowledge base."""
    _check_keeper(user, entry)
    entry.updated_by = user
    with transaction.atomic():
        entry.save()
    return entry


def entry_delete(entry: LibraryEntry, user) -> None:
    if entry.pk is None or not selectors.kept(user, type(entry)).filter(pk=entry.pk).exists():
        raise NotAllowed(_("This entry belongs to another county."))
    entry.delete()
