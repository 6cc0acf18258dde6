"""The dispatch tests use the shared `depts` fixture of tests/conftest.py."""

from __future__ import annotations
