"""Logging filters: a client's mistake is one line, not a traceback.

Django logs a 404 or 403 raised in a view (Http404, PermissionDenied) with the exception's
traceback, and a SuspiciousOperation (a bad Host header, a malformed session) as an error
with one. Under a scan or a stress test those tracebacks bury the errors that matter. The
request's method, path and status are all an operator needs. A 503 (the database away) is
one line too: grids.views.server_error logs the outage once a minute.
"""

from __future__ import annotations

import logging


class OneLineClientErrors(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        status = getattr(record, "status_code", None)
        if record.name.startswith("django.security") or (
            status is not None and (status < 500 or status == 503)
        ):
            record.exc_info = None
            record.exc_text = None
            record.stack_info = None
        return True
