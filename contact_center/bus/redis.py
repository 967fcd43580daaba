"""Redis Streams bus for several hosts (redis.asyncio).

Each stream is a Redis stream ``<prefix>:<name>`` holding one field ``d`` with the JSON
message. ``XADD … MAXLEN ~ maxlen`` bounds memory; gateways read with ``XREAD`` from their own
last id; workers use consumer groups (``XREADGROUP``/``XACK``) and take over entries a dead
worker left unacknowledged with ``XAUTOCLAIM``.

Degraded mode: when Redis cannot be reached every call raises :class:`BusUnavailable` (the
transport error converted here, at the boundary). Callers that must keep a single host
working (the connector) fall back to a :class:`~contact_center.bus.memory.MemoryBus` and
re-publish when Redis returns; that policy belongs to the composition root, not to the bus.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any

import msgspec
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from contact_center import redis_client
from contact_center.bus.base import ONCE_DONE, ONCE_NEW, ONCE_STARTED, BusUnavailable, Entry
from contact_center.calls.events import MALFORMED

log = logging.getLogger(__name__)


# A consumer that finds entries at every read still looks for stale ones this often (at
# least; half its claim_idle_ms when that is longer).
CLAIM_EVERY_MIN_SECONDS = 0.5

_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder()


def _encode(message: Mapping[str, Any]) -> bytes:
    """The JSON payload of one entry (msgspec: the same JSON as ``json.dumps``, compact)."""
    return _encoder.encode(message)


def _decode(entries: list[Any], *, keep_malformed: bool = False) -> list[Entry]:
    """Entries as ``(id, message)``. One whose payload cannot be read (not a JSON object,
    no ``d`` field) never fails the read: it is logged with its id and skipped — or, for a
    consumer group (``keep_malformed``), handed on as a ``{MALFORMED: reason}`` message that
    the consumer refuses, logs and acknowledges, so it does not stay pending forever."""
    out: list[Entry] = []
    for sid, fields in entries:
        if not fields:  # trimmed away while pending
            continue
        try:
            message = _decoder.decode(fields["d"])
            if not isinstance(message, dict):
                raise TypeError(f"a JSON {type(message).__name__}, not an object")
        except (KeyError, TypeError, msgspec.DecodeError) as exc:
            reason = f"unreadable bus entry {sid}: {type(exc).__name__}: {exc}"
            log.warning("%s (skipped)", reason)
            if keep_malformed:
                out.append((sid, {MALFORMED: reason}))
            continue
        out.append((sid, message))
    return out


class RedisBus:
    """The :class:`~contact_center.bus.base.Bus` on Redis Streams."""

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "cc",
        maxlen: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._url = url
        self._prefix = prefix
        self._maxlen = maxlen
        self._redis = redis_client.client(url, decode_responses=True)
        self._groups: set[tuple[str, str]] = set()
        # When each (stream, group, consumer) last looked for stale pending entries.
        self._claimed_at: dict[tuple[str, str, str], float] = {}
        self._clock = clock  # when a claim is due (tests pass their own)

    def key(self, stream: str) -> str:
        """The Redis key of a stream (for tools and tests)."""
        return f"{self._prefix}:{stream}"

    @asynccontextmanager
    async def _errors(self, what: str) -> AsyncIterator[None]:
        try:
            yield
        except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
            raise BusUnavailable(f"Redis at {self._url} unavailable during {what}: {exc}") from exc

    async def publish(self, stream: str, message: Mapping[str, Any]) -> str:
        payload = _encode(message if isinstance(message, dict) else dict(message))
        async with self._errors(f"publish to {stream}"):
            sid = await self._redis.xadd(
                self.key(stream), {"d": payload}, maxlen=self._maxlen, approximate=True
            )
        return str(sid)

    async def publish_many(self, stream: str, messages: Sequence[Mapping[str, Any]]) -> list[str]:
        """Append ``messages`` in order in one round trip (a pipeline of ``XADD``); their ids.
        On an error some may have been appended, in order: none after one that was not."""
        if not messages:
            return []
        pipe = self._redis.pipeline(transaction=False)
        key = self.key(stream)
        for message in messages:
            payload = _encode(message if isinstance(message, dict) else dict(message))
            pipe.xadd(key, {"d": payload}, maxlen=self._maxlen, approximate=True)
        async with self._errors(f"publish of {len(messages)} to {stream}"):
            ids = await pipe.execute()
        return [str(sid) for sid in ids]

    async def read(
        self, stream: str, after_id: str = "0", count: int = 100, block_ms: int | None = None
    ) -> list[Entry]:
        async with self._errors(f"read of {stream}"):
            reply: Any = await self._redis.xread(
                {self.key(stream): after_id or "0"}, count=count, block=block_ms or None
            )
        return _decode(reply[0][1]) if reply else []

    async def last_id(self, stream: str) -> str:
        async with self._errors(f"last id of {stream}"):
            reply = await self._redis.xrevrange(self.key(stream), count=1)
        return str(reply[0][0]) if reply else "0-0"

    async def ensure_group(self, stream: str, group: str, *, at: str = "$") -> None:
        async with self._errors(f"group {group} of {stream}"):
            await self._ensure_group(stream, group, at)

    async def begin_once(self, key: str, ttl_ms: int) -> str:
        name = f"{self._prefix}:once:{key}"
        async with self._errors(f"begin of {key}"):
            # SET NX GET (Redis 7): marks it and answers what was there, in one step
            was = await self._redis.set(name, ONCE_STARTED, nx=True, px=ttl_ms, get=True)
        return ONCE_NEW if was is None else str(was)

    async def finish_once(self, key: str, ttl_ms: int) -> None:
        async with self._errors(f"finish of {key}"):
            await self._redis.set(f"{self._prefix}:once:{key}", ONCE_DONE, px=ttl_ms)

    async def _ensure_group(self, stream: str, group: str, at: str = "0") -> None:
        if (stream, group) in self._groups:
            return
        try:
            await self._redis.xgroup_create(self.key(stream), group, id=at, mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        self._groups.add((stream, group))

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
        # One round trip in the steady state: the acks of the last batch go in one pipeline
        # with the read, and XAUTOCLAIM (entries a dead worker left) runs only on the first
        # read, every CLAIM_EVERY (half ``claim_idle_ms``, at least half a second) and after
        # a read that found nothing new — so an entry left pending is taken over within
        # claim_idle_ms + CLAIM_EVERY of its delivery when busy, within claim_idle_ms +
        # block_ms when idle. A claim before every read, and an ack after every batch, were
        # a round trip each (bench_pop --redis); a group read by one lease holder
        # (claim_idle_ms 0) claimed before every read.
        key = self.key(stream)
        who = (stream, group, consumer)
        async with self._errors(f"consume of {stream} by {group}/{consumer}"):
            await self._ensure_group(stream, group)
            last = self._claimed_at.get(who)
            every = max(claim_idle_ms / 2000, CLAIM_EVERY_MIN_SECONDS)
            if last is None or self._clock() - last >= every:
                entries = await self._claim(key, who, count, claim_idle_ms, ack)
                ack = ()
                if entries:
                    return entries
            pipe = self._redis.pipeline(transaction=False)
            if ack:
                pipe.xack(key, group, *ack)
            pipe.xreadgroup(group, consumer, {key: ">"}, count=count, block=block_ms or None)
            reply: Any = (await pipe.execute())[-1]
            if reply:
                return _decode(reply[0][1], keep_malformed=True)
            # Nothing new: a good time to look for what others left (no one waits on us).
            return await self._claim(key, who, count, claim_idle_ms)

    async def _claim(
        self,
        key: str,
        who: tuple[str, str, str],
        count: int,
        claim_idle_ms: int,
        ack: Sequence[str] = (),
    ) -> list[Entry]:
        _, group, consumer = who
        pipe = self._redis.pipeline(transaction=False)
        if ack:
            pipe.xack(key, group, *ack)
        pipe.xautoclaim(
            key, group, consumer, min_idle_time=claim_idle_ms, start_id="0-0", count=count
        )
        claimed: Any = (await pipe.execute())[-1]
        # XAUTOCLAIM answers a cursor: "0-0" when it scanned the whole pending list. Until
        # then, more may wait: the next read claims again.
        self._claimed_at[who] = self._clock() if str(claimed[0]) == "0-0" else float("-inf")
        return _decode(claimed[1], keep_malformed=True)

    async def ack(self, stream: str, group: str, *ids: str) -> int:
        if not ids:
            return 0
        async with self._errors(f"ack on {stream} by {group}"):
            return int(await self._redis.xack(self.key(stream), group, *ids))

    async def backlog(self, stream: str) -> dict[str, int]:
        async with self._errors(f"backlog of {stream}"):
            try:
                groups: Any = await self._redis.xinfo_groups(self.key(stream))
            except ResponseError as exc:  # no such stream yet: nobody is behind
                if "no such key" in str(exc).lower():
                    return {}
                raise
        # ``lag`` (Redis 7): entries not yet handed to the group; None when Redis cannot
        # tell (entries deleted in the middle) — then only the pending ones are counted.
        return {str(g["name"]): int(g.get("pending") or 0) + int(g.get("lag") or 0) for g in groups}

    async def delete_all(self) -> None:
        """Remove every key under this bus' prefix (tests and ``demo`` resets)."""
        async with self._errors("delete"):
            keys = [k async for k in self._redis.scan_iter(match=f"{self._prefix}:*")]
            if keys:
                await self._redis.delete(*keys)

    async def close(self) -> None:
        await self._redis.aclose()
