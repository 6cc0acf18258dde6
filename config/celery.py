"""The Celery app. Tasks are autodiscovered from the apps' tasks.py modules."""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("fengqiao")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


def task(name: str):
    """The registered task of this name, for a module that enqueues a task defined in a
    module above it (the outbox wakes the relay, a notification its delivery, an export
    request its run): the name keeps the import pointing down. Registering is Celery's
    autodiscovery of every app's tasks.py, which the first lookup triggers."""
    return app.tasks[name]
