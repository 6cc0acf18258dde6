"""Browser tests may drive the live server with a real broker, Celery worker and beat."""

from __future__ import annotations

from tests.integration.conftest import beat, broker, worker  # noqa: F401
