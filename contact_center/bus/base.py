"""The :class:`Bus` protocol, stream ids and errors."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from contact_center.config import BusSettings

EVENTS = "events"  # domain events, as calls.events.to_dict(event)
POPS = "pops"  # operator pushes: {"type": "pop" | "pop.closed" | "signout", "to": login, ...}

# What :meth:`Bus.begin_once` answers about a key.
ONCE_NEW = ""  # nobody began it: the caller owns it now
ONCE_STARTED = "started"  # begun and never finished (its owner may have died midway)
ONCE_DONE = "done"

Entry = tuple[str, dict[str, Any]]  # (stream id, message)


class BusError(Exception):
    """Base of bus errors."""


class BusUnavailable(BusError):
    """The bus backend (Redis) cannot be reached; the message says which and why."""


class InvalidStreamId(BusError, ValueError):
    """A stream id is not of the form ``<ms>-<seq>`` (or ``<ms>``)."""


def parse_id(stream_id: str) -> tuple[int, int]:
    """``"1700000000000-3"`` → ``(1700000000000, 3)``; ``"0"``/``""`` → ``(0, 0)``."""
    if stream_id in ("", "0", "$"):
        return (0, 0)
    ms, _, seq = stream_id.partition("-")
    try:
        return (int(ms), int(seq or 0))
    except ValueError:
        raise InvalidStreamId(f"invalid stream id {stream_id!r}") from None


def compare_ids(a: str, b: str) -> int:
    """-1, 0 or 1 as stream id ``a`` is before, equal to or after ``b``."""
    pa, pb = parse_id(a), parse_id(b)
    return (pa > pb) - (pa < pb)


class Bus(Protocol):
    """Append-only streams with per-reader positions and consumer groups for workers."""

    async def publish(self, stream: str, message: Mapping[str, Any]) -> str:
        """Append a JSON-ready message; return its stream id."""
        ...

    async def read(
        self, stream: str, after_id: str = "0", count: int = 100, block_ms: int | None = None
    ) -> list[Entry]:
        """Entries with an id after ``after_id`` (oldest first, at most ``count``).

        With ``block_ms`` wait up to that long for one to arrive when there is none; the
        websocket gateways use this with their own last id.
        """
        ...

    async def last_id(self, stream: str) -> str:
        """Id of the newest entry, ``"0-0"`` when the stream is empty."""
        ...

    async def consume(
        self,
        stream: str,
        group: str,
        consumer: str,
        count: int = 100,
        block_ms: int | None = None,
        *,
        claim_idle_ms: int = 30_000,
        ack: Sequence[str] = (),
    ) -> list[Entry]:
        """Entries for one worker of ``group`` (created at the start of the stream if new).

        Entries another worker received but did not :meth:`ack` within ``claim_idle_ms`` are
        handed out again first, so a crashed worker loses nothing.

        ``ack``: ids of entries handled since the last read, acknowledged first (as
        :meth:`ack` does) in the same round trip as the read. When the call raises they may
        or may not be acknowledged: acknowledging them again is harmless.
        """
        ...

    async def ack(self, stream: str, group: str, *ids: str) -> int:
        """Mark entries as handled by the group; return how many were pending."""
        ...

    async def ensure_group(self, stream: str, group: str, *, at: str = "$") -> None:
        """Create consumer group ``group`` of ``stream`` at ``at`` (``"$"``: after what the
        stream holds now, so a group new to an existing stream replays nothing) unless it
        exists; an existing group keeps its position."""
        ...

    async def begin_once(self, key: str, ttl_ms: int) -> str:
        """Mark ``key`` as begun unless it was (one atomic step across hosts): returns
        :data:`ONCE_NEW` when this call marked it, else what it is (:data:`ONCE_STARTED` or
        :data:`ONCE_DONE`). The mark expires after ``ttl_ms``."""
        ...

    async def finish_once(self, key: str, ttl_ms: int) -> None:
        """Mark ``key`` as done (see :meth:`begin_once`)."""
        ...

    async def backlog(self, stream: str) -> dict[str, int]:
        """Per consumer group of ``stream``: entries it has not acknowledged yet (handed
        out and pending, or not handed out at all)."""
        ...

    async def close(self) -> None: ...


def server_group(group: str, server: str) -> str:
    """The consumer group of one Asterisk server's connector, e.g. ``executor@pbx1``: the
    connectors of two servers must each see every event, not share them out."""
    return f"{group}@{server}"


def create_bus(settings: BusSettings) -> Bus:
    """The bus the settings ask for (``memory`` or ``redis``)."""
    if settings.backend == "memory":
        from contact_center.bus.memory import MemoryBus

        return MemoryBus(maxlen=settings.stream_maxlen)
    if settings.backend == "redis":
        from contact_center.bus.redis import RedisBus

        return RedisBus(settings.redis_url, prefix=settings.prefix, maxlen=settings.stream_maxlen)
    raise BusError(f"unknown bus backend {settings.backend!r} (expected memory or redis)")
