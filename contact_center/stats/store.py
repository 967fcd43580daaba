"""Where the live figures are kept: in memory (embedded) or in Redis (many instances).

The store holds the state of :class:`~contact_center.stats.metrics.LiveMetrics` — per queue
and per operator, one JSON document each in a Redis hash — so a restarted worker continues
where it stopped, plus the keys of the events already applied (so an event redelivered by the
bus after a crash is not counted twice) and the last published snapshot (what a wallboard
shows before the next change).

Redis layout under ``<prefix>:stats:``: ``meta`` (hash: day, snapshot), ``queues`` (hash:
queue -> JSON), ``operators`` (hash: interface -> JSON), ``seen:<day>`` (set of event keys,
expiring after two days).
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Collection
from typing import Any, Protocol

import msgspec

from contact_center.stats.metrics import Changed, LiveMetrics

SEEN_TTL_SECONDS = 2 * 86400

# msgspec: the same JSON as ``json.dumps`` (compact), in a fraction of the time; a queue's
# document holds every member, and the snapshot every operator
_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder().decode


class StatsStoreError(Exception):
    """The statistics store cannot be read or written; the message says which and why."""


class StatsStore(Protocol):
    async def load(self) -> dict[str, Any] | None:
        """The saved metrics state, or None when nothing was saved yet."""
        ...

    async def save(
        self, metrics: LiveMetrics, changed: Changed, event_keys: Collection[str] = ()
    ) -> None:
        """Write what ``changed`` names (everything after a day rollover) and the keys of the
        events applied, together."""
        ...

    async def seen(self, event_key: str) -> bool:
        """Whether an event with this idempotency key was applied already."""
        ...

    async def seen_among(self, event_keys: Collection[str]) -> set[str]:
        """Those of ``event_keys`` applied already (one round trip for a batch)."""
        ...

    async def save_snapshot(self, snapshot: dict[str, Any]) -> None: ...

    async def load_snapshot(self) -> dict[str, Any] | None: ...

    async def clear(self) -> None: ...

    async def close(self) -> None: ...


class MemoryStatsStore:
    """The store of one process (embedded setup, tests)."""

    def __init__(self, seen_limit: int = 100_000) -> None:
        self._day = ""
        self._last_at = 0.0
        # The live metrics of this process and the names saved so far: the documents are
        # built when read. Building a queue's document (every member) on each event was most
        # of the service's CPU with 1,000 operators, for a store nobody reads until a restart.
        self._live: LiveMetrics | None = None
        self._queues: set[str] = set()
        self._operators: set[str] = set()
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._seen_limit = seen_limit
        # the snapshot itself, not its JSON: in one process the wallboard hub and the
        # router read the very dict the consumer built (a new one each time, never changed
        # afterwards; readers must not change it either). Its encoding and decoding, several
        # times a second with 1,000 operators, held the loop tens of milliseconds each time.
        self._snapshot: dict[str, Any] | None = None

    async def load(self) -> dict[str, Any] | None:
        if not self._day or self._live is None:
            return None
        live = self._live
        state = {
            "day": self._day,
            "last_at": self._last_at,
            "queues": {n: live.queue_state(n) for n in self._queues if n in live.queues},
            "operators": {
                i: live.operator_state(i) for i in self._operators if i in live.operators
            },
        }
        # a JSON round trip: the caller gets its own copy, with the types Redis gives back
        return dict(json.loads(json.dumps(state)))

    async def save(
        self, metrics: LiveMetrics, changed: Changed, event_keys: Collection[str] = ()
    ) -> None:
        if changed.day_rolled:
            self._queues, self._operators = set(metrics.queues), set(metrics.operators)
        else:
            self._queues |= changed.queues
            self._operators |= changed.operators
        self._live = metrics
        self._day = metrics.day.isoformat() if metrics.day else ""
        self._last_at = metrics.last_at
        for key in event_keys:
            self._seen[key] = None
        while len(self._seen) > self._seen_limit:
            self._seen.popitem(last=False)

    async def seen(self, event_key: str) -> bool:
        return event_key in self._seen

    async def seen_among(self, event_keys: Collection[str]) -> set[str]:
        return {key for key in event_keys if key in self._seen}

    async def save_snapshot(self, snapshot: dict[str, Any]) -> None:
        self._snapshot = snapshot

    async def load_snapshot(self) -> dict[str, Any] | None:
        """The saved snapshot, shared: read it, do not change it."""
        return self._snapshot

    async def clear(self) -> None:
        self.__init__(self._seen_limit)  # type: ignore[misc]

    async def close(self) -> None:
        return None


class RedisStatsStore:
    """The store shared by all instances, in Redis hashes (redis.asyncio)."""

    def __init__(self, url: str, prefix: str = "cc") -> None:
        from contact_center import redis_client

        self._redis = redis_client.client(url, decode_responses=True)
        self._p = f"{prefix}:stats:"
        self._members: dict[str, tuple[int, msgspec.Raw]] = {}  # queue -> (version, JSON)

    def _seen_key(self, day: str) -> str:
        return f"{self._p}seen:{day}"

    async def load(self) -> dict[str, Any] | None:
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.hmget(self._p + "meta", ["day", "last_at"])
                pipe.hgetall(self._p + "queues")
                pipe.hgetall(self._p + "operators")
                (day, last_at), queues, operators = await pipe.execute()
        except Exception as exc:
            raise StatsStoreError(f"stats store: cannot load from Redis: {exc}") from exc
        if not day:
            return None
        return {
            "day": day,
            "last_at": float(last_at or 0.0),
            "queues": {k: _decode(v) for k, v in queues.items()},
            "operators": {k: _decode(v) for k, v in operators.items()},
        }

    async def save(
        self, metrics: LiveMetrics, changed: Changed, event_keys: Collection[str] = ()
    ) -> None:
        queues, operators = _changed_documents(metrics, changed, self._members)
        day = metrics.day.isoformat() if metrics.day else ""
        try:
            # one transaction: a reader never sees a queue from one day with operators of another
            async with self._redis.pipeline(transaction=True) as pipe:
                if changed.day_rolled:
                    pipe.delete(self._p + "queues", self._p + "operators")
                pipe.hset(self._p + "meta", mapping={"day": day, "last_at": metrics.last_at})
                if queues:
                    pipe.hset(self._p + "queues", mapping=queues)  # type: ignore[arg-type]
                if operators:
                    pipe.hset(self._p + "operators", mapping=operators)  # type: ignore[arg-type]
                if event_keys:
                    pipe.sadd(self._seen_key(day), *event_keys)
                    pipe.expire(self._seen_key(day), SEEN_TTL_SECONDS)
                await pipe.execute()
        except Exception as exc:
            raise StatsStoreError(f"stats store: cannot save to Redis: {exc}") from exc

    async def seen(self, event_key: str) -> bool:
        try:
            day = await self._redis.hget(self._p + "meta", "day")
            if not day:
                return False
            # an event redelivered just after midnight was recorded under the previous day
            async with self._redis.pipeline(transaction=False) as pipe:
                for key in self._seen_keys(str(day)):
                    pipe.sismember(key, event_key)
                return any(await pipe.execute())
        except Exception as exc:
            raise StatsStoreError(f"stats store: cannot read Redis: {exc}") from exc

    async def seen_among(self, event_keys: Collection[str]) -> set[str]:
        if not event_keys:
            return set()
        keys = list(event_keys)
        try:
            day = await self._redis.hget(self._p + "meta", "day")
            if not day:
                return set()
            async with self._redis.pipeline(transaction=False) as pipe:
                for key in self._seen_keys(str(day)):
                    pipe.smismember(key, keys)
                answers = await pipe.execute()
        except Exception as exc:
            raise StatsStoreError(f"stats store: cannot read Redis: {exc}") from exc
        return {key for flags in answers for key, flag in zip(keys, flags, strict=True) if flag}

    def _seen_keys(self, day: str) -> list[str]:
        from datetime import date, timedelta

        current = date.fromisoformat(day)
        return [self._seen_key(day), self._seen_key((current - timedelta(days=1)).isoformat())]

    async def save_snapshot(self, snapshot: dict[str, Any]) -> None:
        try:
            await self._redis.hset(self._p + "meta", "snapshot", _encode(snapshot))
        except Exception as exc:
            raise StatsStoreError(f"stats store: cannot save snapshot: {exc}") from exc

    async def load_snapshot(self) -> dict[str, Any] | None:
        try:
            raw = await self._redis.hget(self._p + "meta", "snapshot")
        except Exception as exc:
            raise StatsStoreError(f"stats store: cannot load snapshot: {exc}") from exc
        return None if raw is None else dict(_decode(raw))

    async def clear(self) -> None:
        keys = [key async for key in self._redis.scan_iter(match=self._p + "*")]
        if keys:
            await self._redis.delete(*keys)

    async def close(self) -> None:
        await self._redis.aclose()


def _changed_documents(
    metrics: LiveMetrics, changed: Changed, members: dict[str, tuple[int, msgspec.Raw]]
) -> tuple[dict[str, bytes], dict[str, bytes]]:
    """The JSON of each changed queue and operator. A queue's members (all of its operators)
    are encoded again only when they changed: ``members`` keeps their JSON by version."""
    names = set(metrics.queues) if changed.day_rolled else changed.queues
    ifaces = set(metrics.operators) if changed.day_rolled else changed.operators
    queues = {}
    for name in names:
        if name not in metrics.queues:
            continue
        document = metrics.queue_state(name)
        version = metrics.members_version(name)
        kept = members.get(name)
        if kept is None or kept[0] != version:
            kept = members[name] = (version, msgspec.Raw(_encode(document["members"])))
        document["members"] = kept[1]
        queues[name] = _encode(document)
    operators = {i: _encode(metrics.operator_state(i)) for i in ifaces if i in metrics.operators}
    return queues, operators
