"""Masking of personal data (phone and ID numbers), one rule for the API, the pages, the
exports and the text messages.

Who may see a number whole is a question of scope (grievances.selectors.
may_see_personal_data); this module only says what the others see.
"""

from __future__ import annotations


def mask_phone(phone: str) -> str:
    """138****5678: what staff without the right to the full number see."""
    if len(phone) <= 4:
        return "****" if phone else ""
    return phone[:3] + "*" * max(len(phone) - 7, 1) + phone[-4:]


def mask_id(number: str) -> str:
    """110**********1234 for an ID number."""
    return number[:3] + "*" * (len(number) - 7) + number[-4:] if len(number) > 7 else "****"


def mask_sent_to(phone: str) -> str:
    """138****1234 for "a code was sent to…": enough for the sender to recognise the number,
    not for others to use (digits only, whatever separators it was typed with)."""
    digits = "".join(ch for ch in phone if ch.isdigit())
    if len(digits) <= 4:
        return "*" * len(digits)
    if len(digits) <= 7:
        return "*" * (len(digits) - 4) + digits[-4:]
    return digits[:3] + "*" * (len(digits) - 7) + digits[-4:]
