"""Text messages, behind a pluggable backend; every one carries the platform's signature.

`settings.SMS_BACKEND` names the class (dotted path); it has one method, `send(phone, text)`.
Shipped: `ConsoleBackend` (the default: logs the message, for development and for sites with
no SMS gateway yet) and `LocmemBackend` (keeps messages in `outbox`, for tests). A gateway
(Aliyun, Tencent Cloud, a provincial platform) is one more class with the same method.

`send_sms` (one-time codes, mediation links) never fails the caller: it catches and logs
every error. Messages about cases go through grievances.notifications, which records each
delivery and each attempt and retries.
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.module_loading import import_string

from grievances.privacy import mask_sent_to

log = logging.getLogger(__name__)

DEFAULT_BACKEND = "grievances.sms.ConsoleBackend"
DEFAULT_SIGNATURE = "【枫桥】"


def signature() -> str:
    return getattr(settings, "SMS_SIGNATURE", DEFAULT_SIGNATURE)


def signed(text: str) -> str:
    """Every SMS the platform sends carries its signature, once, at the front."""
    mark = signature()
    return text if not mark or text.startswith(mark) else f"{mark}{text}"


@dataclass
class SmsMessage:
    phone: str
    text: str
    sent_at: datetime = field(default_factory=timezone.now)


# LocmemBackend's messages, oldest first. Tests empty it (`outbox.clear()`).
outbox: list[SmsMessage] = []


class BaseBackend:
    def send(self, phone: str, text: str) -> None:
        raise NotImplementedError


class ConsoleBackend(BaseBackend):
    """Writes the message to stdout and the log instead of sending it."""

    def send(self, phone: str, text: str) -> None:
        log.info("SMS to %s: %s", phone, text)
        sys.stdout.write(f"SMS to {phone}: {text}\n")
        sys.stdout.flush()


class LocmemBackend(BaseBackend):
    """Keeps messages in `grievances.sms.outbox` (tests)."""

    def send(self, phone: str, text: str) -> None:
        outbox.append(SmsMessage(phone=phone, text=text))


def get_backend() -> BaseBackend:
    return import_string(getattr(settings, "SMS_BACKEND", DEFAULT_BACKEND))()


def send_sms(phone: str, text: str) -> bool:
    """Send one message, signed (settings.SMS_SIGNATURE); True when the backend took it.
    Errors are logged, never raised."""
    if not phone:
        return False
    try:
        get_backend().send(phone, signed(text))
    except Exception:  # noqa: BLE001 - any gateway or configuration error: the report stands
        log.exception("could not send an SMS to %s", mask_sent_to(phone))
        return False
    return True


def send_sms_on_commit(phone: str, text: str) -> None:
    """Send once the current transaction commits (at once outside a transaction)."""
    transaction.on_commit(lambda: send_sms(phone, text))
