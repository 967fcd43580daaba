"""The event bus: one interface, an in-process implementation and a Redis Streams one.

Streams are append-only logs of JSON-ready dicts with ids ``"<ms>-<seq>"`` (Redis' format,
also used by :class:`MemoryBus`), so a reader that remembers its last id can resume exactly.
Domain events travel on :data:`EVENTS` as ``calls.events.to_dict(event)``; operator pushes
(screen pops) on :data:`POPS`.
"""

from __future__ import annotations

from contact_center.bus.base import (
    EVENTS,
    ONCE_DONE,
    ONCE_NEW,
    ONCE_STARTED,
    POPS,
    Bus,
    BusError,
    BusUnavailable,
    Entry,
    compare_ids,
    create_bus,
    parse_id,
    server_group,
)
from contact_center.bus.memory import MemoryBus
from contact_center.bus.pump import pump

__all__ = [
    "EVENTS",
    "ONCE_DONE",
    "ONCE_NEW",
    "ONCE_STARTED",
    "POPS",
    "Bus",
    "BusError",
    "BusUnavailable",
    "Entry",
    "MemoryBus",
    "compare_ids",
    "create_bus",
    "parse_id",
    "pump",
    "server_group",
]
