"""An SMS backend for tests with a real worker: each message is appended to the file named
by the SMS_FILE environment variable, one JSON line each, so the test process can read what
the worker sent."""

from __future__ import annotations

import json
import os

from grievances.sms import BaseBackend


class FileBackend(BaseBackend):
    def send(self, phone: str, text: str) -> None:
        with open(os.environ["SMS_FILE"], "a", encoding="utf-8") as out:
            out.write(json.dumps({"phone": phone, "text": text}, ensure_ascii=False) + "\n")
