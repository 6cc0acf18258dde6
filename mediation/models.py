"""Mediation organisations, mediators, mediation cases and agreements."""

from __future__ import annotations
