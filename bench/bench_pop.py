"""Screen-pop latency: domain event published → card received by the operator's websocket.

N operators are signed in and connected over real TCP to a real web app; a screen-pop worker
consumes the ``events`` stream (real CustomerLookup on SQLite, history query, jinja render)
and publishes to ``pops``; the hub pushes to the operator's socket. Calls are offered at a
steady rate to random operators with up to ``--concurrent`` calls live at once. In the same
run, the same payloads are pushed over a bare aiohttp websocket server to the same number of
clients at the same pace: the floor. The clients run in a process of their own in both cases
(as browsers run on other machines), so the comparison is like for like.

    .venv/bin/python -m bench.bench_pop [--operators 1000] [--calls 300] [--rate 20] \
        [--redis] [--postgres [URL]] [--ami]

With ``--ami`` the clock starts when the operator's ``AgentCalled`` frame arrives as bytes
(cut from the real capture 02 and rewritten per call): parser, call tracker, bus, screen pop,
hub and websocket are all on the measured path.

With ``--crm MS`` every caller is also looked up in a REST CRM (a stand-in in a process of
its own, answering each request after MS milliseconds with one contact): the pop carries the
CRM's contact, or "CRM unavailable" when MS exceeds the budget (``--crm-budget``, 0.3 s).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import multiprocessing
import random
import re
import statistics
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from contact_center.bus import EVENTS, Bus, MemoryBus
from contact_center.bus.pump import follow, pump
from contact_center.bus.redis import RedisBus
from contact_center.calls import events as ev
from contact_center.config import load_settings
from contact_center.customers.lookup import CustomerLookup
from contact_center.customers.phones import phone_suffix
from contact_center.screenpop import ScreenPop
from contact_center.service import LOOKUP_CONNECTIONS
from contact_center.store.db import create_engine, session_factory, utcnow
from contact_center.store.models import Base, Customer, CustomerPhone, User
from contact_center.web import auth
from contact_center.web.app import HUB_KEY, Deps, create_app

REDIS_URL = "redis://127.0.0.1:6379/0"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


CAPTURE = (
    Path(__file__).resolve().parent.parent / "tests/fixtures/02-inbound-ivr-queue-answered.jsonl"
)


class AmiCalls:
    """Per-call AMI bytes cut from the real capture 02 (IVR, queue, operator answers).

    Every call gets its own ids, channel names, caller number and operator interface; the
    bytes then go through the live parser and call tracker, as the connector feeds them.
    """

    def __init__(self) -> None:
        from contact_center.ami.replay import capture_stream, default_normalize
        from contact_center.ami.tracker import CallTracker

        stream = capture_stream(CAPTURE)
        events = [m + b"\r\n\r\n" for m in stream.split(b"\r\n\r\n") if m.startswith(b"Event:")]
        offer = next(i for i, m in enumerate(events) if m.startswith(b"Event: AgentCalled"))
        self.template = (b"".join(events[:offer]), events[offer], b"".join(events[offer + 1 :]))
        self.uniqueids = sorted(set(re.findall(rb"Uniqueid: (\d+\.\d+)", stream)))
        self.bridges = sorted(set(re.findall(rb"BridgeUniqueid: (\S+)", stream)))
        self.tracker = CallTracker("pbx1", default_normalize())
        self.parts: dict[str, tuple[bytes, bytes, bytes]] = {}

    def make(self, n: int, op: int, number: str) -> str:
        """Bytes for call ``n`` to operator ``op``; returns the call id (its Linkedid)."""

        def rewrite(data: bytes) -> bytes:
            for k, uid in enumerate(self.uniqueids):
                data = re.sub(
                    rb"\b" + re.escape(uid) + rb"\b", b"%d.%d" % (1_900_000_000 + n, k), data
                )
            for bridge in self.bridges:
                data = data.replace(bridge, uuid.uuid5(uuid.NAMESPACE_OID, f"{n}").hex.encode())
            data = data.replace(b"inbound-00000000", b"inbound-%08x" % (2 * n))
            data = data.replace(b"agents-00000001", b"agents-%08x" % (2 * n + 1))
            data = data.replace(b"Local/101@agents", interface(op).encode())
            return data.replace(b"+74951234567", number.encode())

        call_id = f"{1_900_000_000 + n}.0"
        before, offer, after = self.template
        self.parts[call_id] = (rewrite(before), rewrite(offer), rewrite(after))
        return call_id

    def feed(self, data: bytes) -> list[ev.DomainEvent]:
        from contact_center.ami.parser import parse
        from contact_center.ami.tracker import TRACKER_FILTER

        frames, _ = parse(data, TRACKER_FILTER)
        return [event for frame in frames for event in self.tracker.feed(frame)]


def settle_heap() -> None:
    """Move the long-lived objects of the setup out of the collector's way (both phases).

    With 1,000 sockets on each side in one process a full collection scans everything and
    stalls the loop for 100–600 ms; a long-running service does the same after start-up.
    """
    gc.collect()
    gc.freeze()


def interface(i: int) -> str:
    return f"Local/{1000 + i}@agents"


async def seed(sessions: async_sessionmaker[AsyncSession], operators: int, customers: int) -> None:
    now = utcnow()
    cheap = auth.PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1).hash("x" * 12)
    async with sessions.begin() as db:
        for i in range(operators):
            db.add(
                User(
                    login=f"op{i}",
                    display_name=f"Operator {i}",
                    password_hash=cheap,
                    role="operator",
                    interface=interface(i),
                    queues={},
                    skills={},
                    active=True,
                    created_at=now,
                )
            )
        for i in range(customers):
            e164 = f"+7495{i:07d}"
            c = Customer(
                name=f"Customer {i}",
                company="Acme",
                segment="VIP" if i % 10 == 0 else "",
                custom={},
                created_at=now,
                updated_at=now,
            )
            c.phones.append(CustomerPhone(e164=e164, suffix=phone_suffix(e164), raw=e164))
            db.add(c)


async def session_tokens(sessions: async_sessionmaker[AsyncSession], operators: int) -> list[str]:
    async with sessions() as db:
        users = {u.login: u for u in (await db.execute(select(User))).scalars()}
    return [(await auth.open_session(sessions, users[f"op{i}"])).token for i in range(operators)]


class Clients:
    """N websocket clients in a process of their own (as browsers are on other machines),
    timestamping each pop's arrival by call id.

    ``time.perf_counter`` is the system-wide monotonic clock on Linux, so the child's
    arrival times compare with the parent's send times. A client sharing the server's event
    loop would measure the server's unrelated work (and its evictions of the client's code
    from the CPU caches) as network latency.
    """

    def __init__(self) -> None:
        self.received: dict[str, float] = {}
        self.receiver: dict[str, int] = {}  # call → index of the client that got its pop
        self.alias: dict[str, str] = {}  # call id in the pop → the bench's call name
        self._specs: list[tuple[str, dict[str, str]]] = []
        self._conn: Any = None
        self._proc: Any = None
        self._ready: asyncio.Future[int] | None = None

    def add(self, url: str, cookies: dict[str, str], origin: str) -> None:
        cookie = "; ".join(f"{k}={v}" for k, v in cookies.items())
        self._specs.append((url, {"Origin": origin, "Cookie": cookie}))

    async def start(self) -> None:
        """Start the process and connect every client; returns when all are connected."""
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self._proc = context.Process(target=_client_process, args=(child, self._specs))
        self._proc.start()
        child.close()
        loop = asyncio.get_running_loop()
        self._ready = loop.create_future()
        loop.add_reader(self._conn.fileno(), self._on_message)
        connected = await asyncio.wait_for(self._ready, 120)
        if connected != len(self._specs):
            raise RuntimeError(f"{connected} of {len(self._specs)} clients connected")

    def _on_message(self) -> None:
        while self._conn.poll():
            try:
                kind, value = self._conn.recv()
            except EOFError:
                asyncio.get_running_loop().remove_reader(self._conn.fileno())
                if self._ready is not None and not self._ready.done():
                    self._ready.set_exception(RuntimeError("the client process ended"))
                return
            if kind == "ready":
                assert self._ready is not None
                self._ready.set_result(value)
            else:  # a pop: (call id, (arrival time, client index))
                call = self.alias.get(kind, kind)
                if call not in self.received:
                    self.received[call], self.receiver[call] = value

    async def close(self) -> None:
        if self._proc is None:
            return
        with contextlib.suppress(OSError, ValueError):
            asyncio.get_running_loop().remove_reader(self._conn.fileno())
            self._conn.send(("stop", None))
        await asyncio.get_running_loop().run_in_executor(None, self._proc.join, 10)
        if self._proc.is_alive():
            self._proc.kill()
            self._proc.join()
        self._conn.close()


def _client_process(conn: Any, specs: list[tuple[str, dict[str, str]]]) -> None:
    asyncio.run(_run_clients(conn, specs))


async def _run_clients(conn: Any, specs: list[tuple[str, dict[str, str]]]) -> None:
    http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
    tasks: list[asyncio.Task[None]] = []

    async def read(sock: aiohttp.ClientWebSocketResponse, index: int) -> None:
        async for msg in sock:
            now = time.perf_counter()
            data = json.loads(msg.data)
            if data.get("type") == "pop":  # the first pop of a call (offered) is kept
                conn.send((data["call_id"], (now, index)))

    try:
        for index, (url, headers) in enumerate(specs):
            sock = await http.ws_connect(url, headers=headers)
            tasks.append(asyncio.create_task(read(sock, index)))
        settle_heap()
        conn.send(("ready", len(tasks)))
        loop = asyncio.get_running_loop()
        stop = loop.create_future()
        loop.add_reader(conn.fileno(), lambda: stop.done() or stop.set_result(None))
        await stop
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await http.close()


async def until(predicate: Callable[[], bool], timeout: float) -> bool:
    deadline = time.perf_counter() + timeout
    while not predicate():
        if time.perf_counter() > deadline:
            return False
        await asyncio.sleep(0.005)
    return True


async def offer_calls(
    args: argparse.Namespace,
    prepare: Callable[[str], Awaitable[None]],
    offer: Callable[[str, int], Awaitable[float]],
    end: Callable[[str], Awaitable[None]],
    received: dict[str, float],
) -> list[float]:
    """Offer calls at ``args.rate``/s; returns latencies in ms (receive − offer time).

    Each call arrives (``prepare``: CallArrived, IVR, queue) ``args.lead`` seconds before it
    is offered, as a real caller spends that long in the IVR and queue.
    """
    rng = random.Random(7)
    sent: dict[str, float] = {}
    live: list[str] = []
    interval = 1.0 / args.rate
    lead = max(0, round(args.lead * args.rate))
    # The first ``lead`` callers arrive at the same pace before the first offer (all at once
    # they would be a burst of lookups the first pops wait behind).
    start = time.perf_counter() + lead * interval
    for n in range(min(lead, args.calls)):
        delay = start + (n - lead - 0.5) * interval - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        await prepare(f"call-{n}")
    for n in range(args.calls):
        # Arrivals and hang-ups are independent of offers: they come half an interval
        # before this offer, not in the same instant (which would put the next caller's
        # lookup and the ended call's close on the loop between every pop and its delivery).
        delay = start + (n - 0.5) * interval - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        if n + lead < args.calls and lead:
            await prepare(f"call-{n + lead}")
        if len(live) >= args.concurrent:
            await end(live.pop(0))
        delay = start + n * interval - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        call_id = f"call-{n}"
        sent[call_id] = await offer(call_id, rng.randrange(args.operators))
        live.append(call_id)
    await until(lambda: all(c in received for c in sent), 30)
    missing = [c for c in sent if c not in received]
    if missing:
        raise RuntimeError(f"{len(missing)} pops never arrived (first: {missing[0]})")
    return [(received[c] - sent[c]) * 1000 for c in sent]


@asynccontextmanager
async def database(postgres: str | None) -> AsyncIterator[str]:
    """A fresh database URL: a SQLite file, or a schema of ``postgres`` dropped afterwards."""
    if not postgres:
        with tempfile.TemporaryDirectory() as tmp:
            yield f"sqlite+aiosqlite:///{Path(tmp) / 'bench.sqlite3'}"
        return
    import asyncpg
    from sqlalchemy.engine import make_url

    base = make_url(postgres)
    dsn = base.set(drivername="postgresql").render_as_string(hide_password=False)
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(dsn)
    await admin.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield base.update_query_dict({"search_path": schema}).render_as_string(hide_password=False)
    finally:
        await admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
        await admin.close()


def _crm_process(conn: Any, delay_ms: float) -> None:
    """A REST CRM on 127.0.0.1: one contact for any number, after ``delay_ms``."""

    async def contacts(request: web.Request) -> web.Response:
        await asyncio.sleep(delay_ms / 1000)
        phone = request.query.get("phone", "")
        return web.json_response([{"id": f"crm-{phone}", "name": f"CRM {phone}"}])

    async def serve() -> None:
        app = web.Application()
        app.router.add_get("/contacts", contacts)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        conn.send(port)
        loop = asyncio.get_running_loop()
        stop = loop.create_future()
        loop.add_reader(conn.fileno(), lambda: stop.done() or stop.set_result(None))
        await stop
        await runner.cleanup()

    asyncio.run(serve())


@asynccontextmanager
async def crm_lookup(delay_ms: float | None, budget: float) -> AsyncIterator[Any]:
    """The CRM lookup the service would build, against a stand-in in another process."""
    if delay_ms is None:
        yield None
        return
    from contact_center.crm.contacts import parse_field_mapping
    from contact_center.crm.rest import RestCrm
    from contact_center.crm.service import CrmLookup

    ours, theirs = multiprocessing.Pipe()
    process = multiprocessing.get_context("spawn").Process(
        target=_crm_process, args=(theirs, delay_ms), daemon=True
    )
    process.start()
    port = await asyncio.to_thread(ours.recv)
    adapter = RestCrm(
        f"http://127.0.0.1:{port}/contacts?phone={{phone}}",
        parse_field_mapping("external_id=id,name=name"),
        timeout=max(budget * 4, 2.0),
    )
    lookup = CrmLookup(adapter, budget=budget)
    try:
        yield lookup
    finally:
        await lookup.aclose()
        ours.send(None)
        await asyncio.to_thread(process.join, 5)


@asynccontextmanager
async def pop_stack(
    bus: Bus,
    operators: int,
    customers: int,
    postgres: str | None = None,
    crm: Any = None,
) -> AsyncIterator[tuple[Any, ...]]:
    async with AsyncExitStack() as stack:
        url = await stack.enter_async_context(database(postgres))
        engine = create_engine(url, pre_ping=False)
        stack.push_async_callback(engine.dispose)
        async with engine.begin() as conn:
            await conn.run_sync(Base.metadata.create_all)
        sessions = session_factory(engine)
        await seed(sessions, operators, customers)
        tokens = await session_tokens(sessions, operators)
        settings = load_settings(environ={})
        server = TestServer(create_app(Deps(settings, sessions, bus)), host="127.0.0.1", port=0)
        await server.start_server()
        stack.push_async_callback(server.close)
        # As the service builds it (contact_center/service.py).
        lookup = CustomerLookup(sessions, region="RU", dedicated_connections=LOOKUP_CONNECTIONS)
        stack.push_async_callback(lookup.aclose)
        screenpop = ScreenPop(bus, lookup, sessions, crm=crm)
        await screenpop.start()
        stack.push_async_callback(screenpop.close)
        worker = asyncio.create_task(  # as Service.consume(..., in_step=True) runs it
            follow(bus, EVENTS, screenpop.feed_message, group="screenpop", consumer="bench")
        )

        async def stop() -> None:
            worker.cancel()
            await asyncio.gather(worker, return_exceptions=True)

        stack.push_async_callback(stop)
        yield server, tokens


async def measure_pops(args: argparse.Namespace) -> tuple[list[float], str]:
    bus: Bus
    if args.redis:
        bus = RedisBus(args.redis, prefix=f"bench:{uuid.uuid4().hex[:8]}")
    else:
        bus = MemoryBus()
    clients = Clients()
    sample_html = ""
    crm_statuses: Counter[str] = Counter()
    try:
        async with (
            crm_lookup(args.crm, args.crm_budget) as crm,
            pop_stack(bus, args.operators, args.customers, args.postgres, crm) as (server, tokens),
        ):
            base = str(server.make_url("")).rstrip("/")
            for token in tokens:
                clients.add(base.replace("http", "ws") + "/ws", {"cc_session": token}, base)
            await clients.start()
            hub = server.app[HUB_KEY]
            await until(lambda: len(hub.connections()) >= args.operators, 30)
            settle_heap()
            rng = random.Random(11)
            ami = AmiCalls() if args.ami else None
            operator_of: dict[str, int] = {}
            ami_ids: dict[str, str] = {}

            async def publish_all(events: list[ev.DomainEvent]) -> None:
                for event in events:
                    await bus.publish(EVENTS, ev.to_dict(event))

            async def prepare(call_id: str) -> None:
                number = f"+7495{rng.randrange(args.customers * 2):07d}"  # half are unknown
                op = operator_of.setdefault(call_id, rng.randrange(args.operators))
                if ami is not None:
                    ami_ids[call_id] = ami.make(int(call_id.split("-")[1]), op, number)
                    clients.alias[ami_ids[call_id]] = call_id
                    await publish_all(ami.feed(ami.parts[ami_ids[call_id]][0]))
                    return
                b: dict[str, Any] = {"server": "pbx1", "call_id": call_id, "at": time.time()}
                await publish_all(
                    [
                        ev.CallArrived(
                            **b, caller_number=number, caller_number_raw=number, caller_name="B"
                        ),
                        ev.IvrStep(**b, menu="main", node="start", digits="2"),
                        ev.CallQueued(**b, queue="support", position=1),
                    ]
                )

            async def offer(call_id: str, _: int) -> float:
                if call_id not in operator_of:  # --lead 0: the call arrives just now
                    await prepare(call_id)
                op = operator_of[call_id]
                t0 = time.perf_counter()
                if ami is not None:  # from the AMI bytes arriving: parse, track, publish
                    await publish_all(ami.feed(ami.parts[ami_ids[call_id]][1]))
                    return t0
                b: dict[str, Any] = {"server": "pbx1", "call_id": call_id, "at": time.time()}
                await bus.publish(
                    EVENTS,
                    ev.to_dict(
                        ev.CallOffered(
                            **b, queue="support", interface=interface(op), member_name="op"
                        )
                    ),
                )
                return t0

            async def end(call_id: str) -> None:
                if ami is not None:
                    await publish_all(ami.feed(ami.parts.pop(ami_ids.pop(call_id))[2]))
                    return
                ended = ev.CallEnded(server="pbx1", call_id=call_id, at=time.time(), cause=16)
                await bus.publish(EVENTS, ev.to_dict(ended))

            latencies = await offer_calls(args, prepare, offer, end, clients.received)
            # Client i is operator i's browser: each pop reached the operator it rang for.
            astray = [c for c, i in clients.receiver.items() if i != operator_of[c]]
            if astray:
                raise RuntimeError(f"{len(astray)} pops reached another operator ({astray[0]})")
            entries = await bus.read("pops", "0", count=1)
            sample_html = json.dumps({**entries[0][1], "id": entries[0][0]}) if entries else "{}"
            if crm is not None:
                pops = await bus.read("pops", "0", count=args.calls * 4)
                crm_statuses.update(
                    (m.get("crm") or {}).get("status", "") for _, m in pops if m["type"] == "pop"
                )
    finally:
        await clients.close()
        if isinstance(bus, RedisBus):
            await bus.delete_all()
        await bus.close()
    args.crm_statuses = dict(crm_statuses)  # reported beside the latencies
    return latencies, sample_html


class RawRedis:
    """The thinnest Redis client for the relay floor: one socket, RESP 2 written and read
    by hand, one command in flight (no pool, no lock, no response callbacks)."""

    def __init__(self, url: str) -> None:
        self._url = urlsplit(url)
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def connect(self) -> None:
        url = self._url
        self._reader, self._writer = await asyncio.open_connection(
            url.hostname or "127.0.0.1", url.port or 6379
        )
        if url.path.strip("/") not in ("", "0"):
            await self.command("SELECT", url.path.strip("/"))

    def send(self, *args: Any) -> None:
        out = [b"*%d\r\n" % len(args)]
        for arg in args:
            data = arg if isinstance(arg, bytes) else str(arg).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(data), data))
        assert self._writer is not None
        self._writer.write(b"".join(out))

    async def command(self, *args: Any, skip: int = 0) -> Any:
        """Send one command; its reply (after ``skip`` replies of commands sent before)."""
        self.send(*args)
        for _ in range(skip):
            await self._read()
        return await self._read()

    async def _read(self) -> Any:
        assert self._reader is not None
        line = await self._reader.readline()
        kind, body = line[:1], line[1:-2]
        if kind == b"$":
            size = int(body)
            return None if size < 0 else (await self._reader.readexactly(size + 2))[:-2]
        if kind == b"*":
            size = int(body)
            return None if size < 0 else [await self._read() for _ in range(size)]
        if kind == b"-":
            raise RuntimeError(body.decode())
        return body

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()


async def measure_bare(args: argparse.Namespace, payload: str, relay: str = "") -> list[float]:
    """The same pushes over a bare aiohttp websocket server: one send per pop, no bus, no DB.

    With ``relay``, each push first crosses Redis as a pop crosses it on the scale-out path,
    and nothing else happens: published to an ``events`` stream, read by a consumer group
    that publishes it to a ``pops`` stream, read from there and sent — the floor of any
    design that goes through Redis twice between Asterisk and the browser. ``"bus"`` crosses
    with the service's bus client (redis-py), ``"raw"`` with the thinnest client there is
    (:class:`RawRedis`: one socket per role, no pool, no reply objects).
    """
    sockets: list[web.WebSocketResponse] = []

    async def handler(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        sockets.append(ws)
        async for _ in ws:
            pass
        return ws

    app = web.Application()
    app.router.add_get("/ws", handler)
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    clients = Clients()
    message = json.loads(payload)
    prefix = f"bench:{uuid.uuid4().hex[:8]}"
    bus = RedisBus(args.redis, prefix=prefix) if relay else None
    raw = {r: RawRedis(args.redis) for r in ("publish", "events", "pops")} if relay == "raw" else {}
    relays: list[asyncio.Task[None]] = []

    async def relay_events(bus: RedisBus) -> None:  # the screen pop's place: event → pop
        async def handle(event: dict[str, Any]) -> None:
            await bus.publish("pops", {**message, "call_id": event["call_id"], "to": event["op"]})

        await bus.ensure_group(EVENTS, "relay", at="$")
        await pump(bus, EVENTS, handle, group="relay", consumer="bench")

    async def relay_pops(bus: RedisBus) -> None:  # the web hub's place: pop → socket
        cursor = await bus.last_id("pops")
        while True:
            entries = await bus.read("pops", cursor, 500, 1000)
            for _, pop in entries:
                await sockets[pop.pop("to")].send_str(json.dumps(pop))
            cursor = entries[-1][0] if entries else cursor

    async def raw_events() -> None:
        events, pops = raw["events"], f"{prefix}:pops"
        await events.command("XGROUP", "CREATE", f"{prefix}:{EVENTS}", "relay", "$", "MKSTREAM")
        done: list[bytes] = []
        while True:
            if done:  # the acks go with the next read, as RedisBus.consume sends them
                events.send("XACK", f"{prefix}:{EVENTS}", "relay", *done)
            reply = await events.command(
                "XREADGROUP", "GROUP", "relay", "bench", "COUNT", 100, "BLOCK", 1000,
                "STREAMS", f"{prefix}:{EVENTS}", ">", skip=1 if done else 0,
            )  # fmt: skip
            done = []
            for sid, (_, data) in reply[0][1] if reply else ():
                event = json.loads(data)
                pop = {**message, "call_id": event["call_id"], "to": event["op"]}
                await events.command("XADD", pops, "*", "d", json.dumps(pop))
                done.append(sid)

    async def raw_pops() -> None:
        pops = raw["pops"]
        cursor: Any = "$"
        while True:
            reply = await pops.command(
                "XREAD", "COUNT", 500, "BLOCK", 1000, "STREAMS", f"{prefix}:pops", cursor
            )
            entries = reply[0][1] if reply else []
            for _, (_, data) in entries:
                pop = json.loads(data)
                await sockets[pop.pop("to")].send_str(json.dumps(pop))
            cursor = entries[-1][0] if entries else cursor

    try:
        url = str(server.make_url("/ws")).replace("http", "ws")
        for _ in range(args.operators):
            clients.add(url, {}, "")
        await clients.start()
        await until(lambda: len(sockets) >= args.operators, 30)
        settle_heap()

        async def prepare(call_id: str) -> None:
            return None

        async def offer(call_id: str, op: int) -> float:
            t0 = time.perf_counter()
            if raw:
                event = json.dumps({"call_id": call_id, "op": op})
                await raw["publish"].command("XADD", f"{prefix}:{EVENTS}", "*", "d", event)
                return t0
            if bus is not None:
                await bus.publish(EVENTS, {"call_id": call_id, "op": op})
                return t0
            await sockets[op].send_str(json.dumps({**message, "call_id": call_id}))
            return t0

        async def end(call_id: str) -> None:
            return None

        for connection in raw.values():
            await connection.connect()
        if raw:
            relays.append(asyncio.create_task(raw_events()))
            relays.append(asyncio.create_task(raw_pops()))
            await asyncio.sleep(0.1)  # the group and the pops reader are there
        elif bus is not None:
            relays.append(asyncio.create_task(relay_events(bus)))
            relays.append(asyncio.create_task(relay_pops(bus)))
        return await offer_calls(args, prepare, offer, end, clients.received)
    finally:
        for task in relays:
            task.cancel()
        await asyncio.gather(*relays, return_exceptions=True)
        for connection in raw.values():
            connection.close()
        await clients.close()
        await server.close()
        if bus is not None:
            await bus.delete_all()
            await bus.close()


async def run(args: argparse.Namespace) -> dict[str, Any]:
    pops, payload = await measure_pops(args)
    gc.unfreeze()
    bare = await measure_bare(args, payload)
    gc.unfreeze()
    relay = await measure_bare(args, payload, relay="bus") if args.redis else None
    gc.unfreeze()
    raw = await measure_bare(args, payload, relay="raw") if args.redis else None
    gc.unfreeze()
    result = {
        "operators": args.operators,
        "calls": args.calls,
        "rate_per_s": args.rate,
        "arrival_to_offer_s": args.lead,
        "concurrent_calls": args.concurrent,
        "bus": "redis" if args.redis else "memory",
        "database": "postgresql" if args.postgres else "sqlite",
        "from": "AMI AgentCalled bytes" if args.ami else "CallOffered published",
        "payload_bytes": len(payload),
        "pop_p50_ms": round(statistics.median(pops), 3),
        "pop_p99_ms": round(percentile(pops, 99), 3),
        "pop_max_ms": round(max(pops), 3),
        "bare_p50_ms": round(statistics.median(bare), 3),
        "bare_p99_ms": round(percentile(bare, 99), 3),
        "bare_max_ms": round(max(bare), 3),
    }
    if args.crm is not None:
        result.update(
            crm_answer_ms=args.crm,
            crm_budget_s=args.crm_budget,
            crm_pops_by_status=args.crm_statuses,
        )
    result["ratio_p50"] = round(result["pop_p50_ms"] / max(result["bare_p50_ms"], 1e-6), 2)
    result["ratio_p99"] = round(result["pop_p99_ms"] / max(result["bare_p99_ms"], 1e-6), 2)
    if relay is not None and raw is not None:
        for name, values in (("relay", relay), ("raw_relay", raw)):
            result.update(
                {
                    f"{name}_p50_ms": round(statistics.median(values), 3),
                    f"{name}_p99_ms": round(percentile(values, 99), 3),
                    f"{name}_max_ms": round(max(values), 3),
                }
            )
        # The floor of two Redis crossings against the bare push, and ours against that floor.
        for name in ("relay", "raw_relay"):
            result[f"{name}_vs_bare_p99"] = round(
                result[f"{name}_p99_ms"] / result["bare_p99_ms"], 2
            )
        result["ratio_vs_relay_p50"] = round(result["pop_p50_ms"] / result["relay_p50_ms"], 2)
        result["ratio_vs_relay_p99"] = round(result["pop_p99_ms"] / result["relay_p99_ms"], 2)
    return result


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--operators", type=int, default=1000)
    parser.add_argument("--calls", type=int, default=300, help="calls offered in total")
    parser.add_argument("--rate", type=float, default=20.0, help="calls offered per second")
    parser.add_argument("--lead", type=float, default=2.0, help="seconds from arrival to offer")
    parser.add_argument("--concurrent", type=int, default=200, help="calls live at once")
    parser.add_argument("--customers", type=int, default=1000)
    parser.add_argument(
        "--redis",
        nargs="?",
        const=REDIS_URL,
        metavar="URL",
        help=f"Redis Streams bus instead of memory (default URL {REDIS_URL}); also measures"
        " the relay floors: the bare push after two Redis crossings and nothing else",
    )
    parser.add_argument(
        "--postgres",
        nargs="?",
        const="postgresql+asyncpg://postgres@127.0.0.1:5432/test",
        help="PostgreSQL (a fresh schema of this URL) instead of an embedded SQLite file",
    )
    parser.add_argument(
        "--ami",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="time from the AMI AgentCalled bytes (real capture, live parser and tracker);"
        " --no-ami: from the CallOffered event published",
    )
    parser.add_argument(
        "--crm",
        type=float,
        metavar="MS",
        help="also look callers up in a REST CRM stand-in answering after MS milliseconds",
    )
    parser.add_argument("--crm-budget", type=float, default=0.3, help="the CRM budget, seconds")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    result = asyncio.run(run(parse_args(argv)))
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
