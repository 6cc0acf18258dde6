"""The outbox relay: the case's events handed to the handlers the apps register.

CaseEvent rows are the outbox. The relay hands each unprocessed event to the handlers
registered for its action (routing, notifications: the dispatch app registers them) and
marks it processed in the same transaction; a relay skips the rows another one holds, so two
relays never hand one event over twice. A batch handler takes all the events of its action
in a chunk at once (a few statements for twenty reports rather than a dozen each).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from django.db import transaction
from django.utils import timezone

from grievances.models import CaseEvent

log = logging.getLogger(__name__)

# action -> handlers called with the event id once it is committed ("*" for every event);
# a handler registered with batch=True is called once with the ids of all the chunk's events
# of that action instead.
event_handlers: dict[str, list[Callable]] = {}


def on_event(*actions: str, batch: bool = False):
    """Register a handler for events of these actions (run by the relay, in a worker).

    `batch`: the handler takes a list of event ids (every event of the action in a relay
    chunk, oldest first), so that it can read and write for all of them in a few statements.
    It must do for a list exactly what it does for each of its ids alone: when a batch
    fails, the relay hands the events over again one by one (`[event_id]`), so that the
    failing one stays in the outbox alone.
    """

    def register(func):
        if batch:
            func.relay_batch = True
        for action in actions:
            event_handlers.setdefault(action, []).append(func)
        return func

    return register


def _is_batch(handler) -> bool:
    return getattr(handler, "relay_batch", False)


BATCH = 200
# Events handed over per transaction at most: one commit for many events (a commit is a disk
# flush on PostgreSQL), and a chunk's reports are dispatched set-based, so its cost hardly
# grows with its size; short enough that a case the relay moves shows up without waiting for
# a whole batch and that the rows it locks are not held for long (~0.1 s). A relay that keeps
# up takes what arrived since its last chunk; a relay behind takes bigger chunks and catches
# up (bench/dispatch.py at 200/s: p95 90-112 ms with 50, 336-409 ms with 20).
CHUNK = 50

# Called after each committed chunk (e.g. to publish one task for the chunk's deliveries).
chunk_hooks: list[Callable[[], None]] = []


def on_chunk_committed(func):
    chunk_hooks.append(func)
    return func


_local = threading.local()


def in_relay() -> bool:
    """Whether the caller runs as a handler of the relay (its chunk hooks will follow)."""
    return getattr(_local, "relaying", False)


def chunk_cache() -> dict:
    """A dict that lives as long as the relay's current chunk (a fresh one outside a relay):
    for what handlers may share within one transaction, such as a working calendar."""
    if not in_relay():
        return {}
    return _local.cache


def _relay_chunk(after: int, size: int) -> tuple[int, int, int]:
    """Hand over up to `size` events with ids above `after`, in one transaction.

    Returns (events taken, the last id looked at, events seen). The rows are claimed with
    `FOR UPDATE SKIP LOCKED` and one update: another relay skips them rather than waiting and
    finds them processed once this commits (on SQLite the IMMEDIATE transaction serializes
    relays instead). Each event's handlers run in a savepoint of their own: an event whose
    handler fails is rolled back alone, put back in the outbox, and the others commit.
    """
    taken = 0
    _local.relaying, _local.cache = True, {}
    try:
        taken, rows = _hand_over(after, size)
    finally:
        _local.relaying, _local.cache = False, {}
    for hook in chunk_hooks:
        try:
            hook()
        except Exception:  # noqa: BLE001 - best effort: a periodic run catches up
            log.exception("relay chunk hook %r failed", hook)
    if not rows:
        return 0, after, 0
    return taken, rows[-1][0], len(rows)


def _hand_over(after: int, size: int) -> tuple[int, list[tuple[int, str]]]:
    taken = 0
    with transaction.atomic():
        rows = list(
            CaseEvent.objects.select_for_update(skip_locked=True)
            .filter(processed_at__isnull=True, id__gt=after)
            .order_by("id")
            .values_list("id", "action")[:size]
        )
        if not rows:
            return 0, rows
        ids = [event_id for event_id, _action in rows]
        CaseEvent.objects.filter(id__in=ids).update(processed_at=timezone.now())
        # The chunk's events by action, in the order the actions first appear: a batch
        # handler takes all of its action's events at once.
        groups: dict[str, list[int]] = {}
        for event_id, action in rows:
            groups.setdefault(action, []).append(event_id)
        for action, event_ids in groups.items():
            handlers = [*event_handlers.get(action, []), *event_handlers.get("*", [])]
            if not handlers:
                taken += len(event_ids)
                continue
            if len(event_ids) > 1 and any(_is_batch(h) for h in handlers):
                try:
                    with transaction.atomic():
                        _run_handlers(handlers, event_ids)
                except Exception:
                    log.warning(
                        "relay of %d %r events failed together; handing them over one by one",
                        len(event_ids),
                        action,
                        exc_info=True,
                    )
                else:
                    taken += len(event_ids)
                    continue
            for event_id in event_ids:
                try:
                    with transaction.atomic():
                        _run_handlers(handlers, [event_id])
                except Exception:
                    # One failing event must not hold up the others: it stays in the outbox
                    # and the next relay (at the latest the sweeper's) tries it again.
                    log.exception("relay of case event %s failed; it stays in the outbox", event_id)
                    CaseEvent.objects.filter(id=event_id).update(processed_at=None)
                    continue
                taken += 1
    return taken, rows


def _run_handlers(handlers: list[Callable], event_ids: list[int]) -> None:
    for handler in handlers:
        if _is_batch(handler):
            handler(event_ids)
        else:
            for event_id in event_ids:
                handler(event_id)


def relay_batch(limit: int = BATCH) -> int:
    """Hand over up to `limit` unprocessed events, oldest first, in chunks of CHUNK per
    transaction, including those written while it runs (the relay's own acts write events
    too); returns how many this call took. An event that fails is not tried again in the
    same call."""
    taken = seen = 0
    after = 0
    while seen < limit:
        n, after, looked = _relay_chunk(after, min(CHUNK, limit - seen))
        if not looked:
            break
        taken += n
        seen += looked
    return taken
