"""Boundary edits through the ORM (the admin, a shell) move the version stamp.

Bulk writes send no signals: the import command bumps the stamp itself.
"""

from __future__ import annotations

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from grids.locate import bump_version
from grids.models import Region, RegionBoundary


@receiver(post_save, sender=RegionBoundary)
@receiver(post_delete, sender=RegionBoundary)
def boundary_changed(sender, **kwargs) -> None:
    if kwargs.get("raw"):
        return
    bump_version()


@receiver(post_save, sender=Region)
def region_changed(sender, instance, created, **kwargs) -> None:
    # The locate index carries names and levels too; a new region has no boundary yet.
    if kwargs.get("raw") or created:
        return
    bump_version()
