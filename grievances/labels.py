"""Labels saved with an event (who acted, for whom) and shown later in the reader's language.

A label that names a body (a department, a mediation committee) is data and is saved as it
is. A label that is words of ours ("System", "Reporter", "%(centre)s governance centre") is
saved as its source string and parameters, and translated when shown: the reader of an
English page sees English whoever acted in Chinese.

    deferred(gettext_noop("Reporter"))                  -> 'i18n:["Reporter"]'
    shown('i18n:["Reporter"]')  (zh-hans active)        -> '反映人'
"""

from __future__ import annotations

import json

from django.utils.translation import gettext

PREFIX = "i18n:"


def deferred(msgid: str, **params: str) -> str:
    """The label to save: the source string (marked with gettext_noop at the call site, so
    that makemessages finds it) and its parameters."""
    payload = [msgid, params] if params else [msgid]
    return PREFIX + json.dumps(payload, ensure_ascii=False, separators=(",", ":"))


def shown(label: str | None) -> str:
    """The label in the active language; saved text (a name, an older label) as it is."""
    if not label or not label.startswith(PREFIX):
        return label or ""
    try:
        msgid, *rest = json.loads(label[len(PREFIX) :])
        params = rest[0] if rest else {}
        text = gettext(msgid)
        return text % params if params else text
    except (ValueError, TypeError, KeyError):
        return label
