"""Feed a consumer (``async handle(event)``) from a bus stream, in order, with acks."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Protocol

from contact_center import aio
from contact_center.backoff import Backoff
from contact_center.bus.base import Bus, BusUnavailable

log = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any]], Awaitable[None]]
EagerHandler = Callable[[dict[str, Any]], Coroutine[Any, Any, None]]
BatchHandler = Callable[[list[dict[str, Any]]], Awaitable[None]]


class Settling(Protocol):
    """A consumer whose handler returns before all it causes is out (the screen pop leaves
    a pop in its operator's lane while the caller is looked up): entries are acknowledged
    only once what they caused is settled."""

    def mark(self) -> int:
        """A mark for everything caused so far."""

    def settled(self, mark: int) -> bool:
        """Whether everything caused up to ``mark`` is done."""


HELD_POLL_MS = 20  # while handled entries wait to settle, reads block this long at most
# While entries wait to settle, a claim takes only entries idle this long: those pending
# then are our own (a group with claim_idle_ms 0 has one reader), and claiming them back
# again and again would starve the read of new entries.
HELD_CLAIM_IDLE_MS = 60_000


async def pump(
    bus: Bus,
    stream: str,
    handler: Handler,
    *,
    group: str,
    consumer: str,
    block_ms: int = 1000,
    backoff: Backoff | None = None,
    count: int = 100,
    claim_idle_ms: int = 30_000,
    many: BatchHandler | None = None,
    settling: Settling | None = None,
) -> None:
    """Hand every entry of ``stream`` to ``handler`` one at a time, then ack the batch; runs
    forever.

    ``many``: a handler of a whole batch (one database transaction for up to ``count``
    events instead of one each: what lets a writer keep up on SQLite). The batch is handed
    to it in order; if it raises, the batch is handed to ``handler`` one entry at a time (a
    hostile entry costs its batch the fast path, never its neighbours). A stop while it
    runs lets it finish (within ``BATCH_ON_STOP_SECONDS``) and acknowledges the batch, so a
    stop neither loses it nor hands it out again; one that does not finish in time is
    rolled back and left unacknowledged (handed out again: the handlers are idempotent).

    ``count`` entries are read at a time; the loop gets a turn between reads. Entries another
    consumer of ``group`` left unacknowledged for ``claim_idle_ms`` are taken over first (0
    for a group only one holder of a lease reads: what its predecessor left is taken at once).
    A batch is acknowledged with the next read, in its round trip.

    While the bus is unavailable the read is retried after growing, jittered delays
    (``backoff``; by default from 0.2 s up to 5 s), and the acks still owed go with it.

    ``settling``: entries are acknowledged only once what their handling caused is settled
    (:class:`Settling`); until then they stay pending, so a consumer killed meanwhile hands
    them to whoever takes the group over, and a stop leaves them so too.

    A handler that raises is logged with the entry and the entry is acknowledged anyway: one
    hostile message must not stop the pipeline. Cancel the task to stop.
    """
    retry = backoff or Backoff(first=0.2, ceiling=5.0)
    owed: list[str] = []  # handled, acknowledged with the next read
    # handled, waiting for what they caused to settle: (mark, ids), marks in order
    held: deque[tuple[int, list[str]]] = deque()
    holding: set[str] = set()  # their ids: a claim hands our own pending entries back too

    def release() -> None:
        if settling is not None:
            while held and settling.settled(held[0][0]):
                ids = held.popleft()[1]
                owed.extend(ids)
                holding.difference_update(ids)

    def handled(sid: str) -> None:
        if settling is None:
            owed.append(sid)
            return
        mark = settling.mark()
        if not held and settling.settled(mark):
            owed.append(sid)
            return
        holding.add(sid)
        if held and held[-1][0] == mark:
            held[-1][1].append(sid)  # it caused nothing more than the entry before it
        else:
            held.append((mark, [sid]))

    async def stop() -> None:
        release()
        await _ack_on_stop(bus, stream, group, owed)

    while True:
        release()
        try:
            entries = await bus.consume(
                stream,
                group,
                consumer,
                count=count,
                block_ms=min(block_ms, HELD_POLL_MS) if held else block_ms,
                claim_idle_ms=max(claim_idle_ms, HELD_CLAIM_IDLE_MS) if holding else claim_idle_ms,
                ack=owed,
            )
        except BusUnavailable as exc:
            if _cancelling():
                # redis-py may turn our own cancellation into a closed connection
                await stop()
                raise asyncio.CancelledError from exc
            delay = retry.next()
            log.warning(
                "bus unavailable for %s on %s, retrying in %.1f s (%d acks owed): %s",
                group,
                stream,
                delay,
                len(owed),
                exc,
            )
            try:
                await retry.sleep(delay)
            except asyncio.CancelledError:
                await stop()
                raise
            continue
        except asyncio.CancelledError:
            # Stopped while reading: the acks may not have reached Redis with the read.
            await stop()
            raise
        if _cancelling():
            # A cancellation the client library swallowed (the read came back anyway): stop
            # now; what was just read stays pending for whoever takes the group over.
            await stop()
            raise asyncio.CancelledError
        retry.reset()
        if holding:
            # handled already, waiting to settle (a claim with claim_idle_ms 0 takes them)
            entries = [(sid, message) for sid, message in entries if sid not in holding]
        # One round trip for the batch, with the next read: acknowledged one by one, and
        # then in a round trip of their own, the acks were what held a consumer behind on
        # Redis (bench_pop --redis). A crash mid-batch hands the batch out again;
        # consumers dedupe on the key (as after an ack lost to an outage).
        owed = []
        try:
            if many is not None and entries:
                owed = await _handle_batch(bus, stream, group, entries, handler, many)
            else:
                for sid, message in entries:
                    failed = False
                    try:
                        await handler(message)
                    except Exception:
                        failed = True
                        if not _cancelling():
                            log.exception(
                                "consumer %s failed on %s %s: %r", group, stream, sid, message
                            )
                    if _cancelling():
                        # A stop the handler lost (its database driver took the cancellation
                        # for a failure, or let the write finish): stop after this entry, not
                        # after the batch; one that failed so is handed out again.
                        if not failed:
                            handled(sid)
                        raise asyncio.CancelledError
                    handled(sid)
            if settling is not None and owed and many is not None:
                held.append((settling.mark(), owed))
                holding.update(owed)
                owed = []
            # A handler that never suspends (pure CPU) on an in-process bus that has entries
            # ready would otherwise run a whole backlog in one step: let the loop breathe
            # between batches, so a burst of events costs other sockets one batch of lag.
            await asyncio.sleep(0)
        except asyncio.CancelledError:
            # Stopped mid-batch (a leader stepping down, a worker stopping): what was handled
            # is acknowledged, so whoever takes the group over starts at the first entry not
            # handled, not at the batch's beginning (what is not settled yet stays pending).
            await stop()
            raise


def _cancelling() -> bool:
    current = asyncio.current_task()
    return current is not None and current.cancelling() > 0


async def _ack_on_stop(bus: Bus, stream: str, group: str, ids: list[str]) -> None:
    """Acknowledge what was handled before stopping, waiting for Redis a bounded time."""
    if ids:
        with contextlib.suppress(Exception):
            await aio.wait_for(asyncio.shield(bus.ack(stream, group, *ids)), ACK_ON_STOP_SECONDS)


ACK_ON_STOP_SECONDS = 1.0  # a stop never waits longer on Redis for the last acks
BATCH_ON_STOP_SECONDS = 5.0  # how long a stop lets a batch handler finish its transaction


async def _handle_batch(
    bus: Bus,
    stream: str,
    group: str,
    entries: list[tuple[str, dict[str, Any]]],
    handler: Handler,
    many: BatchHandler,
) -> list[str]:
    """One batch for :func:`pump` with a batch handler: handled as a whole (else one by one);
    the ids to acknowledge (with the next read)."""

    async def run() -> None:
        try:
            await many([message for _, message in entries])
            return
        except Exception as exc:
            log.warning(
                "consumer %s: batch of %d entries of %s failed (%s: %s); handling them one by one",
                group, len(entries), stream, type(exc).__name__, exc,
            )  # fmt: skip
        for sid, message in entries:
            try:
                await handler(message)
            except Exception:
                log.exception("consumer %s failed on %s %s: %r", group, stream, sid, message)

    work = asyncio.ensure_future(run())
    try:
        await asyncio.shield(work)
    except asyncio.CancelledError:
        # Stopped mid-batch: the batch finishes (its transaction commits) and is acknowledged
        # rather than being cut off and handed out again to whoever comes next.
        with contextlib.suppress(TimeoutError):
            await aio.wait_for(asyncio.shield(work), BATCH_ON_STOP_SECONDS)
        if not work.done():
            work.cancel()
            await asyncio.gather(work, return_exceptions=True)
        elif not work.cancelled():
            await _ack_on_stop(bus, stream, group, [sid for sid, _ in entries])
        raise
    return [sid for sid, _ in entries]


class InStep:
    """A consumer that handles each message inside the publisher's own step, in order
    (a :meth:`MemoryBus.listen` listener): no reader to wake, no loop turn between the
    event and what it causes. The screen pop runs so on the in-process bus, so a pop goes
    out in the step its offer is published — not after every other consumer has had its
    turn with that event.

    Each message's handler runs at once up to its first suspension; one that suspends (a
    database read) finishes in a task, and the messages published meanwhile wait behind it
    in order. A handler that raises is logged with the message, as :func:`pump` does.
    """

    def __init__(self, handler: EagerHandler, name: str) -> None:
        self._handler = handler
        self._name = name
        self._waiting: deque[tuple[str, dict[str, Any]]] = deque()
        self._task: asyncio.Task[None] | None = None
        self._busy = False  # a handler is running in this step
        self._closed = False

    @property
    def backlog(self) -> int:
        """Messages waiting behind a handler that suspended."""
        return len(self._waiting)

    def __call__(self, sid: str, message: dict[str, Any]) -> None:
        if self._closed:
            return
        if self._task is not None or self._busy:
            # Behind a handler that waits, or published by the handler running now (it
            # publishes to the stream it reads): after it, in order.
            self._waiting.append((sid, message))
            return
        self._busy = True
        try:
            self._start(sid, message)
            while self._task is None and self._waiting:
                self._start(*self._waiting.popleft())
        finally:
            self._busy = False

    def _start(self, sid: str, message: dict[str, Any]) -> None:
        try:
            task = aio.start_eagerly(self._handler(message), name=f"consume-{self._name}")
        except Exception:
            self._failed(sid, message)
            return
        if task is not None:
            self._task = asyncio.get_running_loop().create_task(self._finish(sid, message, task))

    async def _finish(self, sid: str, message: dict[str, Any], first: asyncio.Task[None]) -> None:
        try:
            try:
                await first
            except Exception:
                self._failed(sid, message)
            while self._waiting:
                sid, message = self._waiting.popleft()
                try:
                    await self._handler(message)
                except Exception:
                    self._failed(sid, message)
        finally:
            if not first.done():
                first.cancel()
            self._task = None

    def _failed(self, sid: str, message: dict[str, Any]) -> None:
        log.exception("consumer %s failed on %s: %r", self._name, sid, message)

    async def close(self) -> None:
        """Stop: what still waits is dropped (the bus is in-process: it dies with us)."""
        self._closed = True
        self._waiting.clear()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)


async def follow(
    bus: Bus,
    stream: str,
    handler: EagerHandler,
    *,
    group: str,
    consumer: str,
    count: int = 100,
    settling: Settling | None = None,
) -> None:
    """Consume ``stream`` as ``group``: in the publisher's step on a bus that can call
    listeners (the in-process one, from the start of the stream), else with :func:`pump`.
    Runs until cancelled."""
    listen = getattr(bus, "listen", None)
    if listen is None:
        await pump(
            bus, stream, handler, group=group, consumer=consumer, count=count, settling=settling
        )
        return
    in_step = InStep(handler, group)
    unsubscribe = listen(stream, in_step, replay_after="0")
    try:
        await asyncio.Event().wait()
    finally:
        unsubscribe()
        await in_step.close()
