"""Production defaults: with only the three variables a deployment must set, Django's
deployment check passes with nothing silenced, and each HTTPS switch can be turned off by
name."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# The variables a production deployment must set, and nothing else of ours.
PRODUCTION_ENV = {
    "DJANGO_PRODUCTION": "true",
    "DJANGO_SECRET_KEY": "k3!9vQ-deploy-check-only-8c1f0e7a5b2d4c6e9f1a3b5d7e9f0a2c4e6b8d0f",
    "DJANGO_ALLOWED_HOSTS": "fengqiao.example.org",
}


def _env(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO_", "PYTEST", "FENGQIAO_TEST")) and k != "CI"
    }
    env.update(PRODUCTION_ENV, PYTHONPATH=str(ROOT), **extra)
    return env


def _manage(*args: str, **extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=_env(**extra),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_deployment_check_passes_with_production_defaults():
    result = _manage("check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 silenced" in result.stdout


@pytest.mark.parametrize(
    ("variable", "setting", "expected"),
    [
        ("DJANGO_SECURE_SSL_REDIRECT", "SECURE_SSL_REDIRECT", "False"),
        ("DJANGO_SECURE_COOKIES", "SESSION_COOKIE_SECURE", "False"),
        ("DJANGO_SECURE_HSTS_PRELOAD", "SECURE_HSTS_PRELOAD", "False"),
    ],
)
def test_each_https_switch_turns_off_by_name(variable, setting, expected):
    code = f"from django.conf import settings; print(settings.{setting})"
    on = _manage("shell", "--no-imports", "-c", code)
    off = _manage("shell", "--no-imports", "-c", code, **{variable: "false"})
    assert on.stdout.strip() == "True", on.stderr
    assert off.stdout.strip() == expected, off.stderr
    # Turning one off is the operator's choice, and the deployment check says so.
    check = _manage("check", "--deploy", "--fail-level", "WARNING", **{variable: "false"})
    assert check.returncode != 0
