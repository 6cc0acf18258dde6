"""A task enqueued by name is found in a process that never imported its module: a web
process sends the relay, the deliveries and the exports without importing the modules that
define them (they sit above the modules that enqueue them)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from evaluation.exports import RUN_TASK
from grievances.outbox import RELAY_TASK
from notifications.services import DELIVERY_TASK

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = """
import sys, django
django.setup()
from config.celery import app, task
name = sys.argv[1]
module = name.rpartition(".")[0]
before = module in sys.modules
print(before, task(name).name)
"""


@pytest.mark.parametrize("name", [RELAY_TASK, DELIVERY_TASK, RUN_TASK])
def test_a_task_is_found_by_name_in_a_fresh_process(name):
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, name],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={"DJANGO_SETTINGS_MODULE": "config.settings", "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split()[-1] == name
