"""Websocket push to operators: one hub per web instance, one bounded queue per connection.

The hub follows the bus stream :data:`~contact_center.bus.POPS` from its own last id and hands
each message to the sockets of its addressee (``"to": login``; every tab of that operator,
nobody else). Each socket has a bounded queue drained by its own writer task, so a browser that
stops reading never delays the others: when its queue is full it is closed with
:attr:`CloseCode.TOO_SLOW` and reconnects with its last id.

Frames sent to the browser are JSON objects carrying ``id``, the bus stream id. A browser that
reconnects with ``/ws?last_id=<id>`` first gets exactly the messages addressed to it after that
id (read back from the stream), then live ones, without gap or repeat. A browser without a
last id gets the pops of the calls still active for it (a snapshot), then live ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
from collections import OrderedDict, deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any
from urllib.parse import urlsplit

from aiohttp import WSMsgType, web

from contact_center import aio
from contact_center.backoff import Backoff
from contact_center.bus.base import (
    POPS,
    Bus,
    BusUnavailable,
    InvalidStreamId,
    compare_ids,
    parse_id,
)

log = logging.getLogger(__name__)

QUEUE_SIZE = 256
MAX_CLIENT_MESSAGE = 4096  # browsers only send small control messages
HEARTBEAT_SECONDS = 20.0
CLOSE_TIMEOUT = 2.0
ACTIVE_POPS_PER_OPERATOR = 20
RECENT_CALLS_PER_OPERATOR = 200
DISPATCH_SLICE = 64
REPLAY_SCAN_LIMIT = 10_000  # stream entries read back for one reconnect at most
# The last frames of each operator, kept to answer a reconnect from memory: a web instance
# dying sends all its sockets to the others at once, each asking for what it missed since
# its last id, and a scan of the stream each (up to REPLAY_SCAN_LIMIT entries of card HTML,
# decoded) kept the instance that took them busy for minutes (bench_scale, 1,000 operators).
RECENT_FRAMES_PER_OPERATOR = 16
REPLAY_SCANS_AT_ONCE = 2  # reconnects that must scan the stream, side by side at most
SESSION_RECHECK_SECONDS = 60.0  # an expired or revoked session loses its socket within this
HELD_LIMIT = 4 * QUEUE_SIZE  # live messages held back while a long backlog is sent


class CloseCode(IntEnum):
    """Websocket close codes the console understands (4000–4999 are ours)."""

    NORMAL = 1000
    GOING_AWAY = 1001  # the web instance is shutting down: reconnect elsewhere
    MESSAGE_TOO_BIG = 1009  # the browser sent more than MAX_CLIENT_MESSAGE bytes
    BAD_REQUEST = 4000  # malformed last_id or message: do not retry as is
    SIGNED_OUT = 4001  # the session ended (sign-out in any tab or on any instance)
    FORBIDDEN = 4003  # the role may not use this socket any more
    TOO_SLOW = 4008  # the queue overflowed: reconnect with the last id to catch up


@dataclass(eq=False)
class Connection:
    """One browser socket of one operator."""

    login: str
    session_id: str
    queue: asyncio.Queue[str] = field(default_factory=lambda: asyncio.Queue(QUEUE_SIZE))
    last_id: str = "0-0"  # newest id queued for this socket
    replaying: bool = True  # live messages wait in `held` until the replay is done
    held: list[tuple[str, str]] = field(default_factory=list)
    close_code: CloseCode | None = None
    closed: asyncio.Event = field(default_factory=asyncio.Event)
    ws: web.WebSocketResponse | None = None  # set once live: frames may be written at once
    draining: asyncio.Task[None] | None = None  # a written frame waiting for the transport

    def close(self, code: CloseCode) -> None:
        if self.close_code is None:
            self.close_code = code
        self.closed.set()

    def offer(self, sid: str, frame: str) -> None:
        """Send or queue a frame unless already sent; never blocks, closes on overflow."""
        if self.replaying:
            self.held.append((sid, frame))
            if len(self.held) > HELD_LIMIT:
                self.close(CloseCode.TOO_SLOW)
            return
        if compare_ids(sid, self.last_id) <= 0 or self.close_code is not None:
            return
        if self.ws is not None and self.draining is None and self.queue.empty():
            # Nothing ahead of it and the transport keeps up: write it now rather than
            # wake the writer task a loop iteration later.
            self.last_id = sid
            self._write_now(self.ws, frame)
            return
        try:
            self.queue.put_nowait(frame)
        except asyncio.QueueFull:
            log.info("websocket of %s too slow, closing", self.login)
            self.close(CloseCode.TOO_SLOW)
            return
        self.last_id = sid

    def _write_now(self, ws: web.WebSocketResponse, frame: str) -> None:
        """Run ``ws.send_str(frame)`` up to its first suspension, in the caller's step.

        An uncompressed aiohttp send writes the frame to the transport and suspends only
        to wait for a full transport buffer to drain (a browser reading slowly). In that
        case the rest of the send finishes in a task, and frames offered meanwhile wait in
        the queue, which the writer sends only after that task (order kept).
        """
        try:
            draining = aio.start_eagerly(ws.send_str(frame), name=f"ws-drain-{self.login}")
        except Exception as exc:  # the transport is closing: the socket is gone
            log.debug("websocket of %s: write failed: %s", self.login, exc)
            self.close(CloseCode.GOING_AWAY)
            return
        if draining is not None:
            self.draining = draining
            draining.add_done_callback(self._drained)

    def _drained(self, task: asyncio.Task[None]) -> None:
        self.draining = None
        if not task.cancelled() and task.exception() is not None:
            log.debug("websocket of %s: write failed: %s", self.login, task.exception())
            self.close(CloseCode.GOING_AWAY)


@dataclass(frozen=True, slots=True)
class Backlog:
    """Frames a socket missed, and the stream id the replay read up to."""

    frames: list[tuple[str, str]]
    upto: str


def encode(sid: str, message: dict[str, Any]) -> str:
    body = {k: v for k, v in message.items() if k != "to"}
    body["id"] = sid
    return json.dumps(body, separators=(",", ":"))


class PopHub:
    """Fans the pops stream out to the sockets of this instance."""

    def __init__(self, bus: Bus, stream: str = POPS, *, block_ms: int = 1000) -> None:
        self.bus = bus
        self.stream = stream
        self.block_ms = block_ms
        self._by_login: dict[str, set[Connection]] = {}
        # Pops of calls still ringing/talking, per operator: the snapshot for a fresh tab.
        self._active: dict[str, OrderedDict[str, tuple[str, str]]] = {}
        # Who is in the conference room of each of those calls (the last ``call.conference``).
        self._rooms: dict[str, dict[str, tuple[str, str]]] = {}
        # Calls each operator was popped, ended or not: an operator may act on these only.
        self._recent: dict[str, OrderedDict[str, frozenset[int]]] = {}
        # The last frames of each operator, and the newest one dropped from each: a reconnect
        # whose last id is not older than those is answered from memory.
        self._frames: dict[str, deque[tuple[str, str]]] = {}
        self._dropped: dict[str, str] = {}
        self._since: str | None = None  # every entry after this id went through dispatch
        self._ids: deque[str] = deque()  # the ids of the last REPLAY_SCAN_LIMIT of them
        self._scans = asyncio.Semaphore(REPLAY_SCANS_AT_ONCE)
        self.cursor = "0-0"
        self.started = asyncio.Event()

    # -- connections --------------------------------------------------------------------------

    def connections(self, login: str | None = None) -> list[Connection]:
        if login is not None:
            return list(self._by_login.get(login, ()))
        return [c for conns in self._by_login.values() for c in conns]

    def register(self, conn: Connection) -> None:
        self._by_login.setdefault(conn.login, set()).add(conn)

    def unregister(self, conn: Connection) -> None:
        conns = self._by_login.get(conn.login)
        if conns is not None:
            conns.discard(conn)
            if not conns:
                del self._by_login[conn.login]

    def close_session(self, session_id: str, code: CloseCode = CloseCode.SIGNED_OUT) -> None:
        for conn in self.connections():
            if conn.session_id == session_id:
                conn.close(code)

    def close_all(self, code: CloseCode = CloseCode.GOING_AWAY) -> None:
        for conn in self.connections():
            conn.close(code)

    async def attach(self, conn: Connection, after_id: str | None) -> Backlog:
        """Register a socket; return what it missed (after ``after_id``) or the snapshot.

        The snapshot (the pops of the calls still active for this operator) is for a fresh
        tab, or for one that was away longer than :data:`REPLAY_SCAN_LIMIT` entries.

        Until :meth:`go_live`, live messages for it are held back, so the backlog can be
        sent first without gap or repeat.
        """
        if after_id is not None:
            conn.last_id = after_id
        self.register(conn)
        try:
            if after_id is not None:
                missed = await self._missed(conn.login, after_id)
                if missed is not None:
                    return missed
                conn.last_id = "0-0"  # too far behind to replay: start over from a snapshot
            return Backlog(self._snapshot(conn.login), self.cursor)
        except BaseException:
            self.unregister(conn)
            raise

    def _snapshot(self, login: str) -> list[tuple[str, str]]:
        """The pops of the calls still active for ``login``, with who is in their rooms, in
        stream order (a page shows each message once, in order)."""
        active: dict[str, tuple[str, str]] = self._active.get(login) or {}
        rooms = self._rooms.get(login) or {}
        found = [*active.values(), *(rooms[call] for call in active if call in rooms)]
        return sorted(found, key=lambda entry: parse_id(entry[0]))

    def go_live(self, conn: Connection, backlog: Backlog) -> None:
        """Queue the live messages that arrived while the backlog was being sent."""
        conn.replaying = False
        held, conn.held = conn.held, []
        for sid, frame in held:
            # The backlog read the stream up to `upto`; what it had is not sent again.
            if compare_ids(sid, backlog.upto) > 0:
                conn.offer(sid, frame)

    async def _missed(self, login: str, after_id: str) -> Backlog | None:
        """What ``login`` missed after ``after_id``; None if that is too far back to scan.

        From memory when this hub dispatched everything after ``after_id`` and kept all of
        ``login``'s frames since (a socket moving here from an instance that died: the usual
        reconnect); else from the stream, a few scans at a time. The scan is bounded so that
        a client sending ``last_id=0`` cannot make the server read the whole stream on every
        connect.
        """
        since, dropped = self._since, self._dropped.get(login)
        if since is not None and compare_ids(after_id, since) >= 0:
            ids = self._ids
            if len(ids) >= REPLAY_SCAN_LIMIT and compare_ids(after_id, ids[0]) < 0:
                return None  # as far behind as a scan would give up at
        if (
            since is not None
            and compare_ids(after_id, since) >= 0
            and (dropped is None or compare_ids(after_id, dropped) >= 0)
        ):
            frames = [
                (sid, frame)
                for sid, frame in self._frames.get(login, ())
                if compare_ids(sid, after_id) > 0
            ]
            return Backlog(frames, self.cursor)
        async with self._scans:
            return await self._scan(login, after_id)

    async def _scan(self, login: str, after_id: str) -> Backlog | None:
        found: list[tuple[str, str]] = []
        cursor = after_id
        scanned = 0
        while True:
            entries = await self.bus.read(self.stream, cursor, count=500)
            if not entries:
                return Backlog(found, cursor)
            scanned += len(entries)
            if scanned > REPLAY_SCAN_LIMIT:
                return None
            for sid, message in entries:
                if message.get("to") == login and message.get("type") != "signout":
                    found.append((sid, encode(sid, message)))
            cursor = entries[-1][0]

    # -- the reader -------------------------------------------------------------------------

    def _on_entry(self, sid: str, message: dict[str, Any]) -> None:
        try:
            self.dispatch(sid, message)
        except Exception:
            log.exception("pop hub skipped a bad message %s: %r", sid, message)
        self.cursor = sid

    def dispatch(self, sid: str, message: dict[str, Any]) -> None:
        """Hand one stream entry to the sockets it is meant for."""
        ids = self._ids
        ids.append(sid)
        if len(ids) > REPLAY_SCAN_LIMIT:
            ids.popleft()
        kind = message.get("type")
        if kind == "signout":
            self.close_session(str(message.get("session", "")))
            return
        login = message.get("to")
        if not isinstance(login, str):
            return
        frame = encode(sid, message)
        frames = self._frames.get(login)
        if frames is None:
            frames = self._frames[login] = deque()
        elif len(frames) >= RECENT_FRAMES_PER_OPERATOR:
            self._dropped[login] = frames.popleft()[0]
        frames.append((sid, frame))
        self._remember(login, sid, message, frame)
        for conn in self._by_login.get(login, ()):
            conn.offer(sid, frame)

    def _remember(self, login: str, sid: str, message: dict[str, Any], frame: str) -> None:
        call = f"{message.get('server', '')}/{message.get('call_id', '')}"
        active = self._active.setdefault(login, OrderedDict())
        rooms = self._rooms.setdefault(login, {})
        if message.get("type") == "pop.closed":
            active.pop(call, None)
            rooms.pop(call, None)
            if not active:
                del self._active[login]
            if not rooms:
                del self._rooms[login]
            return
        if message.get("type") == "call.conference":
            if call in active:
                rooms[call] = (sid, frame)
            elif not rooms:
                del self._rooms[login]
            return
        if not rooms:
            del self._rooms[login]
        if message.get("type") != "pop":
            return
        active.pop(call, None)
        active[call] = (sid, frame)
        while len(active) > ACTIVE_POPS_PER_OPERATOR:
            gone, _entry = active.popitem(last=False)
            if login in self._rooms:
                self._rooms[login].pop(gone, None)
        recent = self._recent.setdefault(login, OrderedDict())
        # The customers this call was shown as: a wrap-up may name only one of them.
        shown = set(recent.pop(call, None) or ())
        ids = [message.get("customer_id"), *(message.get("customer_ids") or ())]
        shown.update(i for i in ids if isinstance(i, int) and not isinstance(i, bool))
        recent[call] = frozenset(shown)
        while len(recent) > RECENT_CALLS_PER_OPERATOR:
            recent.popitem(last=False)

    def was_popped(self, login: str, server: str, call_id: str) -> bool:
        """Whether this instance pushed a pop of that call to ``login`` lately (since start)."""
        return f"{server}/{call_id}" in self._recent.get(login, {})

    def popped_customers(self, login: str, server: str, call_id: str) -> frozenset[int]:
        """The customers the pops of that call showed ``login`` (matched or identified)."""
        recent = self._recent.get(login)
        return (recent.get(f"{server}/{call_id}") if recent else None) or frozenset()

    async def run(self) -> None:
        """Follow the stream forever (a task owned by the app's cleanup context)."""
        listen = getattr(self.bus, "listen", None)
        if listen is not None:
            # The in-process bus: every entry is dispatched in the publisher's own step, in
            # stream order — no reader to wake, no decoding (see MemoryBus.listen).
            self.cursor = self._since = await self.bus.last_id(self.stream)
            unsubscribe = listen(self.stream, self._on_entry)
            self.started.set()
            try:
                await asyncio.Event().wait()
            finally:
                unsubscribe()
        backoff = Backoff(first=0.2, ceiling=5.0)
        while True:
            try:
                if not self.started.is_set():
                    self.cursor = self._since = await self.bus.last_id(self.stream)
                    self.started.set()
                entries = await self.bus.read(self.stream, self.cursor, 500, self.block_ms)
                backoff.reset()
            except BusUnavailable as exc:
                aio.raise_if_cancelling(exc)  # our own stop, seen as a closed connection
                delay = backoff.next()
                log.warning("pop hub cannot read the bus, retrying in %.1f s: %s", delay, exc)
                await backoff.sleep(delay)
                continue
            aio.raise_if_cancelling()  # a stop the client swallowed (the read came back)
            for n, (sid, message) in enumerate(entries, 1):
                try:
                    self.dispatch(sid, message)
                except Exception:
                    log.exception("pop hub skipped a bad message %s: %r", sid, message)
                self.cursor = sid  # per entry: a snapshot taken between slices is exact
                if n % DISPATCH_SLICE == 0:
                    # Let the writers drain between slices, so a burst larger than one
                    # socket's queue does not overflow a browser that reads fine.
                    await asyncio.sleep(0)


# --- the websocket endpoint --------------------------------------------------------------------


def origin_allowed(request: web.Request, allowed: Iterable[str]) -> bool:
    """Same origin as the page (scheme and host) or one of the configured origins."""
    origin = request.headers.get("Origin")
    if not origin:
        return False
    if origin in allowed:
        return True
    parts = urlsplit(origin)
    return parts.netloc == request.host and parts.scheme in ("http", "https")


def parse_last_id(raw: str | None) -> str | None:
    if raw is None or raw == "":
        return None
    try:
        parse_id(raw)
    except InvalidStreamId:
        raise web.HTTPBadRequest(text=f"invalid last_id {raw[:40]!r}") from None
    return raw


async def serve_socket(
    request: web.Request,
    hub: PopHub,
    conn: Connection,
    after_id: str | None,
    still_signed_in: Any,
    recheck: Any = None,
) -> web.WebSocketResponse:
    """Run one operator socket until it closes; ``still_signed_in()`` re-checks the session
    (on each message), ``recheck()`` the periodic check (default: ``still_signed_in``)."""
    ws = web.WebSocketResponse(
        heartbeat=HEARTBEAT_SECONDS, max_msg_size=MAX_CLIENT_MESSAGE, compress=False
    )
    await ws.prepare(request)
    backlog = await hub.attach(conn, after_id)
    try:
        # Sent directly, not through the bounded queue: a long catch-up after a network
        # blip is normal, and awaiting this one socket delays no one else.
        for sid, frame in backlog.frames:
            await ws.send_str(frame)
            conn.last_id = sid
        # Where the stream stood for this socket: a client that has not had a message yet
        # still reconnects with a last id, so what comes while it is away (its instance
        # died) is replayed to it — a fresh tab's snapshot would leave out a call that
        # rang and ended meanwhile (bench_scale: the first call's pop, lost so).
        await ws.send_str(json.dumps({"type": "ready", "id": backlog.upto}))
    except (ConnectionError, RuntimeError):
        hub.unregister(conn)
        return ws
    conn.ws = ws
    hub.go_live(conn, backlog)
    writer = asyncio.create_task(_write(ws, conn), name=f"ws-writer-{conn.login}")
    reader = asyncio.create_task(_read(ws, conn, still_signed_in), name=f"ws-reader-{conn.login}")
    closed = asyncio.create_task(conn.closed.wait())
    watchdog = asyncio.create_task(_watch_session(conn, recheck or still_signed_in))
    tasks = (writer, reader, closed, watchdog)
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        hub.unregister(conn)
        conn.ws = None
        if conn.draining is not None:
            conn.draining.cancel()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await _close(request, ws, conn.close_code or CloseCode.NORMAL)
    return ws


async def _watch_session(conn: Connection, still_signed_in: Any) -> None:
    # Sign-out is pushed at once; this catches expiry and revocations made elsewhere.
    while True:
        # Spread over the period: a thousand consoles open since the morning's sign-in
        # burst would otherwise recheck in the same second — a thousand session reads
        # holding the loop, and every screen pop behind them, once a minute.
        await asyncio.sleep(SESSION_RECHECK_SECONDS * random.uniform(0.5, 1.0))
        if not await still_signed_in():
            conn.close(CloseCode.SIGNED_OUT)
            return


async def _write(ws: web.WebSocketResponse, conn: Connection) -> None:
    while True:
        frame = await conn.queue.get()
        while conn.draining is not None:  # a frame written at once is still being sent
            await asyncio.wait([conn.draining])
        await ws.send_str(frame)


async def _read(ws: web.WebSocketResponse, conn: Connection, still_signed_in: Any) -> None:
    async for msg in ws:
        if msg.type == WSMsgType.TEXT:
            # Every message is re-authorised: a session ended elsewhere stops here.
            if not await still_signed_in():
                conn.close(CloseCode.SIGNED_OUT)
                return
            if msg.data == "ping":
                _pong(conn)
        elif msg.type == WSMsgType.ERROR:
            exc = ws.exception()
            if exc is not None and "too big" in str(exc).lower():
                conn.close(CloseCode.MESSAGE_TOO_BIG)
            return
        else:
            conn.close(CloseCode.BAD_REQUEST)
            return


def _pong(conn: Connection) -> None:
    with contextlib.suppress(asyncio.QueueFull):
        conn.queue.put_nowait('{"type":"pong"}')


async def _close(request: web.Request, ws: web.WebSocketResponse, code: CloseCode) -> None:
    if ws.closed:
        return
    try:
        await aio.wait_for(ws.close(code=code, message=code.name.encode()), CLOSE_TIMEOUT)
    except (TimeoutError, ConnectionError, RuntimeError):
        # The peer stopped reading: its TCP window is full and the close frame cannot go.
        if request.transport is not None:
            request.transport.abort()
