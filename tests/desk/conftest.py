from __future__ import annotations

import pytest
from django.core.cache import caches


@pytest.fixture(autouse=True)
def _fresh_counters():
    # Rate limits count in the cache: every test starts with fresh counters.
    for cache in caches.all():
        cache.clear()
    yield
    for cache in caches.all():
        cache.clear()
