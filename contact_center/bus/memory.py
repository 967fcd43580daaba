"""In-process bus for the embedded single-host setup and for tests.

Behaves like the Redis one: Redis-style ids, approximate MAXLEN trimming, consumer groups with
pending entries and idle re-claiming. Messages are stored JSON-encoded, so a value that would
not survive Redis fails here too.
"""

from __future__ import annotations

import asyncio
import bisect
import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from contact_center.bus.base import ONCE_DONE, ONCE_NEW, ONCE_STARTED, Entry, parse_id

log = logging.getLogger(__name__)

Listener = Callable[[str, dict[str, Any]], None]


@dataclass(slots=True)
class _Pending:
    consumer: str
    delivered_at: float


@dataclass(slots=True)
class _Group:
    last_delivered: tuple[int, int]
    pending: dict[str, _Pending] = field(default_factory=dict)


@dataclass(slots=True)
class _Stream:
    keys: list[tuple[int, int]] = field(default_factory=list)  # parsed ids, ascending
    ids: list[str] = field(default_factory=list)
    payloads: list[str] = field(default_factory=list)
    last: tuple[int, int] = (0, 0)
    groups: dict[str, _Group] = field(default_factory=dict)
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    listeners: list[Listener] = field(default_factory=list)


class MemoryBus:
    """The :class:`~contact_center.bus.base.Bus` in one process."""

    def __init__(self, maxlen: int = 100_000) -> None:
        self._maxlen = maxlen
        self._streams: dict[str, _Stream] = {}
        self._once: dict[str, tuple[str, float]] = {}  # key -> (state, monotonic expiry)

    def _stream(self, name: str) -> _Stream:
        stream = self._streams.get(name)
        if stream is None:
            stream = self._streams[name] = _Stream()
        return stream

    def _next_id(self, stream: _Stream) -> tuple[int, int]:
        ms = int(time.time() * 1000)
        last_ms, last_seq = stream.last
        return (last_ms, last_seq + 1) if ms <= last_ms else (ms, 0)

    async def publish(self, stream: str, message: Mapping[str, Any]) -> str:
        body = dict(message)
        payload = json.dumps(body, separators=(",", ":"))
        s = self._stream(stream)
        key = self._next_id(s)
        sid = f"{key[0]}-{key[1]}"
        s.keys.append(key)
        s.ids.append(sid)
        s.payloads.append(payload)
        s.last = key
        # Trim in chunks like Redis' "MAXLEN ~": cheap amortised, never below maxlen.
        excess = len(s.keys) - self._maxlen
        if excess > max(1, self._maxlen // 10):
            del s.keys[:excess], s.ids[:excess], s.payloads[:excess]
        s.changed.set()
        s.changed = asyncio.Event()
        for listener in s.listeners:
            try:
                listener(sid, body)
            except Exception:  # the entry is stored; one listener's bug must not fail the publisher
                log.exception("listener of %s failed on %s", stream, sid)
        return sid

    def listen(
        self, stream: str, listener: Listener, *, replay_after: str | None = None
    ) -> Callable[[], None]:
        """Call ``listener(id, message)`` inside every later ``publish`` to ``stream``.

        In-process only (Redis has no equivalent across hosts): an in-order, same-step
        subscription for a reader that lives beside the publishers — the pop hub, whose
        sockets then get a pop without waiting for the loop to wake a reader; the screen
        pop, which then pops in the step the offer is published. Listeners must not block
        and must not change the message. With ``replay_after`` the entries already stored
        after that id are handed to ``listener`` first, in the same step (nothing can be
        published in between). Returns the unsubscribe function.
        """
        s = self._stream(stream)
        if replay_after is not None:
            start = bisect.bisect_right(s.keys, parse_id(replay_after))
            for i in range(start, len(s.keys)):
                listener(s.ids[i], json.loads(s.payloads[i]))
        listeners = s.listeners
        listeners.append(listener)
        return lambda: listeners.remove(listener) if listener in listeners else None

    def _after(self, s: _Stream, after: tuple[int, int], count: int) -> list[Entry]:
        start = bisect.bisect_right(s.keys, after)
        return [
            (s.ids[i], json.loads(s.payloads[i]))
            for i in range(start, min(start + count, len(s.keys)))
        ]

    async def _wait(self, s: _Stream, block_ms: int) -> None:
        if block_ms <= 0:
            return
        # asyncio.timeout, not wait_for: no extra task per read on the hot path.
        try:
            async with asyncio.timeout(block_ms / 1000):
                await s.changed.wait()
        except TimeoutError:
            pass

    async def read(
        self, stream: str, after_id: str = "0", count: int = 100, block_ms: int | None = None
    ) -> list[Entry]:
        s = self._stream(stream)
        after = s.last if after_id == "$" else parse_id(after_id)
        entries = self._after(s, after, count)
        if not entries and block_ms is not None:
            await self._wait(s, block_ms)
            entries = self._after(s, after, count)
        return entries

    async def last_id(self, stream: str) -> str:
        s = self._stream(stream)
        return s.ids[-1] if s.ids else "0-0"

    def _claim(self, s: _Stream, g: _Group, consumer: str, idle_ms: int, count: int) -> list[Entry]:
        now = time.monotonic()
        claimed: list[Entry] = []
        for sid, p in sorted(g.pending.items(), key=lambda kv: parse_id(kv[0])):
            if len(claimed) >= count:
                break
            if (now - p.delivered_at) * 1000 < idle_ms:
                continue
            i = bisect.bisect_left(s.keys, parse_id(sid))
            if i >= len(s.keys) or s.ids[i] != sid:
                del g.pending[sid]  # trimmed away meanwhile, as XAUTOCLAIM does
                continue
            g.pending[sid] = _Pending(consumer, now)
            claimed.append((sid, json.loads(s.payloads[i])))
        return claimed

    def _deliver(self, s: _Stream, g: _Group, consumer: str, count: int) -> list[Entry]:
        entries = self._after(s, g.last_delivered, count)
        now = time.monotonic()
        for sid, _ in entries:
            g.pending[sid] = _Pending(consumer, now)
        if entries:
            g.last_delivered = parse_id(entries[-1][0])
        return entries

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
        s = self._stream(stream)
        g = s.groups.get(group)
        if g is None:
            g = s.groups[group] = _Group(last_delivered=(0, 0))
        for sid in ack:
            g.pending.pop(sid, None)
        entries = self._claim(s, g, consumer, claim_idle_ms, count)
        if entries:
            return entries
        entries = self._deliver(s, g, consumer, count)
        if not entries and block_ms is not None:
            await self._wait(s, block_ms)
            entries = self._deliver(s, g, consumer, count)
        return entries

    async def ensure_group(self, stream: str, group: str, *, at: str = "$") -> None:
        s = self._stream(stream)
        if group not in s.groups:
            s.groups[group] = _Group(last_delivered=s.last if at == "$" else parse_id(at))

    def _once_state(self, key: str) -> str:
        state = self._once.get(key)
        if state is None or state[1] <= time.monotonic():
            self._once.pop(key, None)
            return ONCE_NEW
        return state[0]

    async def begin_once(self, key: str, ttl_ms: int) -> str:
        state = self._once_state(key)
        if state == ONCE_NEW:
            self._once[key] = (ONCE_STARTED, time.monotonic() + ttl_ms / 1000)
        return state

    async def finish_once(self, key: str, ttl_ms: int) -> None:
        self._once[key] = (ONCE_DONE, time.monotonic() + ttl_ms / 1000)
        if len(self._once) > self._maxlen:  # expired marks go when the table grows
            now = time.monotonic()
            self._once = {k: v for k, v in self._once.items() if v[1] > now}

    async def ack(self, stream: str, group: str, *ids: str) -> int:
        g = self._stream(stream).groups.get(group)
        if g is None:
            return 0
        return sum(1 for sid in ids if g.pending.pop(sid, None) is not None)

    async def backlog(self, stream: str) -> dict[str, int]:
        s = self._stream(stream)
        return {
            name: len(s.keys) - bisect.bisect_right(s.keys, g.last_delivered) + len(g.pending)
            for name, g in s.groups.items()
        }

    async def close(self) -> None:
        for s in self._streams.values():
            s.changed.set()
