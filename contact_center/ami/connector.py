"""The AMI connector of one Asterisk server: connect, track, resync, reconnect — forever.

Frames go from the socket to the tracker synchronously, in stream order; the domain events
go through one queue to one dispatcher that awaits ``sink(event)`` one at a time, so the events
of a call reach consumers in order — or, given ``sink_many``, hands it every event queued at
that moment in one call (one pipeline of ``XADD`` on Redis: the events of a burst wait for one
round trip, not one each). A failing sink is logged with the event and the next event is
delivered (a broken consumer never stalls the stream); a failing batch is handed over again
one event at a time. Several servers = several connectors,
each with its own ``server_id``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable
from pathlib import Path

from contact_center import aio
from contact_center.ami.actions import AmiActions
from contact_center.ami.connection import AmiConnection
from contact_center.ami.errors import AmiAuthError, AmiError
from contact_center.ami.parser import Frame
from contact_center.ami.resync import OffsetStore, Resyncer
from contact_center.ami.rights import RightsReport, check_rights
from contact_center.ami.tracker import TRACKER_FILTER, CallTracker
from contact_center.backoff import Backoff
from contact_center.calls.events import DomainEvent
from contact_center.config import AmiSettings

log = logging.getLogger(__name__)

Sink = Callable[[DomainEvent], Awaitable[None]]
ManySink = Callable[[list[DomainEvent]], Awaitable[None]]
DISPATCH_BATCH = 100  # events at most in one sink_many call
FULLY_BOOTED_WAIT = 2.0
RECHECK_INTERVAL = 10.0


def _identity(raw: str) -> str:
    return raw


class AmiConnector:
    """Keeps one server's AMI session alive and turns it into domain events for ``sink``."""

    def __init__(
        self,
        settings: AmiSettings,
        server_id: str,
        sink: Sink,
        *,
        normalize: Callable[[str], str] = _identity,
        state_dir: str | Path = "data",
        rng: random.Random | None = None,
        sink_many: ManySink | None = None,
    ) -> None:
        self.settings = settings
        self.server_id = server_id
        self.sink = sink
        self.sink_many = sink_many
        self.tracker = CallTracker(server_id, normalize)
        self.resyncer = Resyncer(
            self.tracker,
            cdr_csv_path=settings.cdr_csv_path,
            queue_log_path=settings.queue_log_path,
            offsets=OffsetStore(Path(state_dir) / f"ami-{server_id}-offsets.json"),
        )
        self.actions = AmiActions(lambda: self._conn, server_id)
        self.last_error = ""
        self.connects = 0
        # What Asterisk granted at the last login (None: not checked yet or unanswerable).
        self.rights: RightsReport | None = None
        self._rng = rng or random.Random()
        self._backoff = Backoff(
            first=settings.reconnect_min,
            ceiling=max(settings.reconnect_min, settings.reconnect_max),
            jitter=0.5,
            random=self._rng.random,
        )
        self._conn: AmiConnection | None = None
        self._events: asyncio.Queue[DomainEvent] = asyncio.Queue()
        self._actions: set[asyncio.Task[None]] = set()  # actions the tracker's facts call for
        self._connected = asyncio.Event()

    @property
    def connected(self) -> bool:
        return self._conn is not None and self._conn.connected

    async def wait_connected(self) -> None:
        await self._connected.wait()

    def readiness(self) -> str:
        """ "ok", or why not: not connected (with the last error) or rights missing."""
        if not self.connected:
            return f"not connected: {self.last_error or 'connecting'}"
        if self.rights is not None and not self.rights.ok:
            return self.rights.describe()
        return "ok"

    def backoff(self, attempt: int) -> float:
        """Exponential backoff with jitter: uniform in [d/2, d], d = min·2^attempt ≤ max."""
        return self._backoff.delay(attempt)

    async def run(self) -> None:
        """Run until cancelled: (re)connect, resync, deliver events."""
        dispatcher = asyncio.create_task(self._dispatch(), name=f"ami-{self.server_id}-dispatch")
        attempt = 0
        try:
            while True:
                if await self._session():
                    attempt = 0
                delay = self.backoff(attempt)
                attempt += 1
                log.info("AMI %s: reconnecting in %.2f s", self.server_id, delay)
                await asyncio.sleep(delay)
        finally:
            for task in (dispatcher, *self._actions):
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await dispatcher
            await asyncio.gather(*self._actions, return_exceptions=True)

    async def _session(self) -> bool:
        """One connection's life. True when it logged in (the backoff restarts)."""
        s = self.settings
        conn = AmiConnection(
            s.host,
            s.port,
            s.username,
            s.secret,
            auth=s.auth,
            on_frame=self._on_frame,
            frame_filter=TRACKER_FILTER,
            action_timeout=s.action_timeout,
            ping_interval=s.ping_interval,
            name=f"cc-{self.server_id}",
        )
        try:
            await conn.connect()
        except AmiAuthError as exc:
            self.last_error = str(exc)
            log.error("AMI %s: %s", self.server_id, exc)
            return False
        except AmiError as exc:
            self.last_error = str(exc)
            log.warning("AMI %s: connect failed: %s", self.server_id, exc)
            return False
        self._conn = conn
        self.connects += 1
        try:
            await self._check_rights(conn)
            await self._resync(conn)
            self._connected.set()
            reason = await self._watch_records(conn)
            self.last_error = f"connection lost: {reason}"
            log.warning("AMI %s: connection lost: %s", self.server_id, reason)
        finally:
            self._connected.clear()
            self._conn = None
            await conn.close()
        return True

    async def _check_rights(self, conn: AmiConnection) -> None:
        """Find out at login, not mid-resync, that manager.conf withholds a right we need."""
        try:
            self.rights = await check_rights(conn)
        except AmiError as exc:
            self.rights = None
            log.warning("AMI %s: cannot list our rights (ListCommands): %s", self.server_id, exc)
            return
        if not self.rights.ok:
            log.error(
                "AMI %s: %s; grant them to [%s] in manager.conf (write = ...)",
                self.server_id,
                self.rights.describe(),
                self.settings.username,
            )

    async def _resync(self, conn: AmiConnection) -> None:
        with contextlib.suppress(TimeoutError):
            await aio.wait_for(conn.fully_booted.wait(), FULLY_BOOTED_WAIT)
        if not conn.fully_booted.is_set():
            log.warning("AMI %s: no FullyBooted yet; resyncing anyway", self.server_id)
        for event in await self.resyncer.run(self.actions, self.server_id):
            self._events.put_nowait(event)

    async def _watch_records(self, conn: AmiConnection) -> str:
        """Until the connection closes, look at Asterisk's records every
        ``RECHECK_INTERVAL``: a call whose end the stream did not bring (resync had no
        channel list) is closed from them, and the saved offsets move on."""
        while True:
            try:
                return await aio.wait_for(asyncio.shield(conn.closed), RECHECK_INTERVAL)
            except TimeoutError:
                try:
                    events = self.resyncer.recheck()
                except OSError as exc:
                    log.warning("AMI %s: reading Asterisk's records: %s", self.server_id, exc)
                    continue
                for event in events:
                    self._events.put_nowait(event)

    def _on_frame(self, frame: Frame) -> None:
        for event in self.tracker.feed(frame):
            self._events.put_nowait(event)
        for room in self.tracker.rooms_left_to_operators():
            task = asyncio.create_task(self._end_room(room), name=f"ami-end-room-{room}")
            self._actions.add(task)
            task.add_done_callback(self._actions.discard)

    async def _end_room(self, room: str) -> None:
        """The customer left ConfBridge ``room`` and only operators are in it: kick them all
        (ConfbridgeKick needs write ``call``); their channels leave the room and hang up."""
        try:
            await self.actions.confbridge_kick(room, "all")
            log.info("AMI %s: conference %s ended: the customer left it", self.server_id, room)
        except AmiError as exc:
            log.warning("AMI %s: could not end conference %s: %s", self.server_id, room, exc)

    async def _dispatch(self) -> None:
        events = self._events
        while True:
            batch = [await events.get()]
            if self.sink_many is not None:
                while len(batch) < DISPATCH_BATCH and not events.empty():
                    batch.append(events.get_nowait())
            try:
                if len(batch) > 1 and self.sink_many is not None:
                    try:
                        await self.sink_many(batch)
                        continue
                    except Exception as exc:
                        aio.raise_if_cancelling(exc)
                        log.warning(
                            "event sink failed on a batch of %d (%s); one at a time",
                            len(batch),
                            exc,
                        )
                for event in batch:
                    try:
                        await self.sink(event)
                    except Exception as exc:
                        aio.raise_if_cancelling(exc)
                        log.exception(
                            "event sink failed on %s key=%s; continuing", event.kind, event.key
                        )
            finally:
                for _ in batch:
                    events.task_done()

    async def drain(self) -> None:
        """Wait until every event produced so far has been handed to the sink (tests, stop)."""
        await self._events.join()
