"""Cases (grievances), their complainants, attachments and timeline."""

from __future__ import annotations
