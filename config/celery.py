"""The Celery app. Tasks are autodiscovered from the apps' tasks.py modules."""

from __future__ import annotations

import os
from importlib import import_module

from celery import Celery
from celery.exceptions import NotRegistered

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("fengqiao")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


def task(name: str):
    """The registered task of this name, for a module that enqueues a task defined in a
    module above it (the outbox wakes the relay, a notification its delivery, an export
    request its run): the name keeps the import pointing down. A web process has imported
    only what its requests needed; the task's module is imported on first use."""
    try:
        return app.tasks[name]
    except NotRegistered:
        import_module(name.rpartition(".")[0])
        return app.tasks[name]
