"""Browser tests may drive the live server with a real broker, Celery worker and beat."""

from tests.integration.conftest import beat, broker, worker  # noqa: F401
