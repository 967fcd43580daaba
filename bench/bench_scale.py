"""Scale-out under load and faults: two Asterisk servers, each with its connector (and a
standby for the first), two workers and two web instances, all separate processes
(``contact-center serve --role …``) on Redis + PostgreSQL; operators on websockets.

The two simulated Asterisk servers run in this process (so what Asterisk saw can be counted
from its own events). Each server has its own operators (``users.server_id``), who sign in
from their console (``POST /api/operator/state``), and callers arriving at a rate who ring
them through the queue ``support``. Mid-run one worker, one web instance and the leading
connector of ``pbx1`` are killed (SIGKILL); the operators on the dead web instance reconnect
to the other with their last event id, as behind a load balancer; some operators click to
call right before and after the connector dies.

Checked, from Asterisk's events, the browsers' frames and the database:

* every operator ``AgentCalled`` rang got the pop of that call, and no operator got a pop of
  a call that did not ring them (the right operator, on the right server);
* every sign-in added the operator to the queue of their own server once and nowhere else;
  every click-to-call was answered done (its Originate sent once, on the operator's server)
  or failed as interrupted by the change of connector (sent at most once) — never lost,
  never twice;
* every call has one ``calls`` row and one ``call.ended`` history row, and no history row
  is written twice.

The same-run baseline is the pop latency of the first calls, before any kill (the figures
are from one 2-core machine shared with everything else).

    .venv/bin/python -m bench.bench_scale [--operators 50 --calls 100 --rate 5 --talk 10]

``tests/resilience/test_scale_processes.py`` runs a small version in the suite (and a
larger one with CC_SOAK=1).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import signal
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
BENCH_DIALPLAN = ROOT / "bench" / "asterisk" / "extensions.conf"
QUEUE = "support"
DID = "4951110004"  # [inbound]: Answer, Goto to-queue,support — no IVR on the way
PASSWORD = "scale password"
AMI_USER, AMI_SECRET = "cc", "cc-test-secret"  # the simulator's default user
SERVERS = ("pbx1", "pbx2")
FIRST_PHONE = {"pbx1": 1000, "pbx2": 5000}  # Local/1000@agents …, Local/5000@agents …
CLICK_NUMBER = "+74957000001"  # [customer-phones]: rings, never answers


@dataclass(frozen=True)
class ScaleConfig:
    operators: int = 3  # per server
    calls: int = 4  # per server
    rate: float = 2.0  # new calls per second per server
    talk: float = 3.0  # seconds a caller stays on the line after the queue answers
    ring: float = 0.3  # seconds an operator's phone rings before it answers
    clicks: int = 2  # click-to-calls of pbx1 operators around the connector's death
    kill: bool = True
    # leader and lease expiry: on a loaded 2-core machine a shorter one makes leases flap
    # (a renewal starved of CPU for longer than the ttl loses the lease)
    ttl_ms: int = 3000
    timeout: float = 90.0  # for the calls to end and be written


@dataclass
class ScaleReport:
    figures: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def phone(server: str, i: int) -> str:
    return f"Local/{FIRST_PHONE[server] + i}@agents"


def login_of(server: str, i: int) -> str:
    return f"{server}op{i}"


def free_port() -> int:
    from contact_center.demo import free_port as free

    return free()


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


async def wait_until(
    check: Callable[[], Awaitable[bool] | bool], timeout: float, what: str, step: float = 0.1
) -> None:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"not within {timeout:.0f} s: {what}")
        await asyncio.sleep(step)


# --- processes --------------------------------------------------------------------------------


@dataclass
class Proc:
    name: str
    role: str
    port: int
    env: dict[str, str]
    log: Path
    process: asyncio.subprocess.Process | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        out = self.log.open("ab")
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "contact_center.cli", "serve", "--role", self.role,
            "--development", env=self.env, cwd=str(ROOT), stdout=out, stderr=out,
        )  # fmt: skip
        out.close()

    def cpu_seconds(self) -> float | None:
        """utime + stime of the process so far (None once it is gone)."""
        if self.process is None or self.process.returncode is not None:
            return None
        try:
            with open(f"/proc/{self.process.pid}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            return None
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def kill(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(signal.SIGKILL)

    async def stop(self) -> None:
        if self.process is None or self.process.returncode is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(self.process.wait(), 15)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()

    async def ready(self) -> bool:
        """``/readyz``: AMI connected (a connector), database and bus reachable."""
        try:
            async with (
                aiohttp.ClientSession() as http,
                http.get(self.base + "/readyz", timeout=aiohttp.ClientTimeout(total=2)) as r,
            ):
                return r.status == 200
        except (aiohttp.ClientError, TimeoutError):
            return False

    async def healthy(self) -> bool:
        if self.process is not None and self.process.returncode is not None:
            tail = self.log.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"{self.name} exited with {self.process.returncode}: {tail}")
        try:
            async with (
                aiohttp.ClientSession() as http,
                http.get(self.base + "/healthz", timeout=aiohttp.ClientTimeout(total=2)) as r,
            ):
                return r.status == 200
        except (aiohttp.ClientError, TimeoutError):
            return False


def service_env(
    tmp: Path, name: str, db_url: str, redis_url: str, prefix: str, cfg: ScaleConfig, port: int
) -> dict[str, str]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        "CC_GENERAL_DATA_DIR": str(tmp / f"data-{name}"),
        "CC_GENERAL_LOG_LEVEL": "WARNING",
        "CC_DATABASE_URL": db_url,
        "CC_WEB_HOST": "127.0.0.1",
        "CC_WEB_PORT": str(port),
        "CC_BUS_BACKEND": "redis",
        "CC_BUS_REDIS_URL": redis_url,
        "CC_BUS_PREFIX": prefix,
        "CC_AMI_LEADER_TTL_MS": str(cfg.ttl_ms),
        "CC_AGI_PORT": str(free_port()),
        "CC_AGI_MENUS_DIR": str(ROOT / "ivr_menus"),
        "CC_RECORDING_SPOOL_DIR": str(tmp / "spool"),
    }
    return env


def connector_env(env: dict[str, str], tmp: Path, server: str, ami_port: int) -> dict[str, str]:
    return {
        **env,
        # leader and standby of a server share its data directory (a shared volume, as
        # Asterisk's records are): the standby reads the records from where the leader was
        "CC_GENERAL_DATA_DIR": str(tmp / f"data-{server}"),
        "CC_GENERAL_SERVER_ID": server,
        "CC_AMI_PORT": str(ami_port),
        "CC_AMI_USERNAME": AMI_USER,
        "CC_AMI_SECRET": AMI_SECRET,
        "CC_AMI_PING_INTERVAL": "1",
        "CC_AMI_RECONNECT_MIN": "0.05",
        "CC_AMI_RECONNECT_MAX": "0.5",
        "CC_AMI_CDR_CSV_PATH": str(tmp / f"{server}-Master.csv"),
        "CC_AMI_QUEUE_LOG_PATH": str(tmp / f"{server}-queue_log"),
    }


async def seed(db_url: str, cfg: ScaleConfig) -> None:
    from argon2 import PasswordHasher

    from contact_center.config import load_settings
    from contact_center.service import open_core
    from contact_center.store.db import utcnow
    from contact_center.store.models import Queue, User

    settings = load_settings(environ={"CC_DATABASE_URL": db_url})
    # a cheap hash: signing a thousand operators in must not be the benchmark
    cheap = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1).hash(PASSWORD)
    core = await open_core(settings, migrate=True)
    now = utcnow()
    try:
        async with core.sessions.begin() as db:
            db.add(Queue(name=QUEUE, title="Support", service_level_seconds=20,
                         wrapup_seconds=0, record=False, supervisors={}))  # fmt: skip
            for server in SERVERS:
                for i in range(cfg.operators):
                    db.add(
                        User(
                            login=login_of(server, i),
                            display_name=f"Operator {server} {i}",
                            password_hash=cheap,
                            role="operator",
                            interface=phone(server, i),
                            server_id=server,
                            queues={QUEUE: 0},
                            skills={},
                            active=True,
                            created_at=now,
                        )
                    )
    finally:
        await core.engine.dispose()
        await core.lookup.aclose()
        await core.bus.close()


# --- Asterisk's side --------------------------------------------------------------------------


@dataclass
class Seen:
    """What one simulated Asterisk server did, from its own events."""

    rang: set[tuple[str, str]] = field(default_factory=set)  # (linkedid, interface)
    rang_at: dict[tuple[str, str], float] = field(default_factory=dict)
    added: Counter[str] = field(default_factory=Counter)  # QueueMemberAdded per interface
    originated: Counter[str] = field(default_factory=Counter)  # Originates per interface

    def listen(self, event: Any) -> None:
        if event.name == "AgentCalled":
            key = (event.get("Linkedid"), event.get("Interface"))
            self.rang.add(key)
            self.rang_at.setdefault(key, time.time())
        elif event.name == "QueueMemberAdded":
            self.added[event.get("Interface")] += 1
        elif event.name == "OriginateResponse" and event.get("Context") == "cc-originate":
            self.originated[event.get("Channel").rsplit("-", 1)[0]] += 1


@contextlib.asynccontextmanager
async def simulators(tmp: Path, cfg: ScaleConfig) -> AsyncIterator[dict[str, tuple[Any, Seen]]]:
    from contact_center.sim.config import Operator, SimConfig
    from contact_center.sim.pbx import SimPbx

    async with contextlib.AsyncExitStack() as stack:
        sims: dict[str, tuple[Any, Seen]] = {}
        for server in SERVERS:
            ops = tuple(
                Operator(phone(server, i), f"Operator {server} {i}", answer_after=cfg.ring)
                for i in range(cfg.operators)
            )
            config = SimConfig(
                port=0,
                operators=ops,
                dialplan=str(BENCH_DIALPLAN),
                agi_port=free_port(),
                queue_log_path=str(tmp / f"{server}-queue_log"),
                cdr_csv_path=str(tmp / f"{server}-Master.csv"),
            )
            pbx = await stack.enter_async_context(SimPbx(config))
            seen = Seen()
            pbx.subscribe(seen.listen)
            sims[server] = (pbx, seen)
        yield sims


# --- the operators' browsers ------------------------------------------------------------------


@dataclass
class Desk:
    """One operator's browser: signed in on a web instance, its websocket's pops."""

    login: str
    interface: str
    server: str
    home: int  # the web instance the load balancer sends it to first
    cookie: str = ""
    csrf: str = ""
    last_id: str = ""
    pops: dict[tuple[str, str], float] = field(default_factory=dict)  # (server, call) -> at
    reconnects: int = 0
    connected: asyncio.Event = field(default_factory=asyncio.Event)


async def sign_in(http: aiohttp.ClientSession, base: str, desk: Desk) -> None:
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(
        connector=http.connector, connector_owner=False, cookie_jar=jar
    ) as one:
        async with one.get(base + "/login") as resp:
            token = re.search(r'name="csrf_token" value="([^"]+)"', await resp.text())
        if token is None:
            raise RuntimeError("no CSRF token on /login")
        form = {"login": desk.login, "password": PASSWORD, "csrf_token": token.group(1)}
        async with one.post(base + "/login", data=form, allow_redirects=False) as resp:
            if resp.status != 303:
                raise RuntimeError(f"sign-in of {desk.login} failed: {resp.status}")
        async with one.get(base + "/console", headers={"Accept": "text/html"}) as resp:
            csrf = re.search(r'name="csrf-token" content="([^"]+)"', await resp.text())
    if csrf is None:
        raise RuntimeError(f"no CSRF token on the console of {desk.login}")
    desk.cookie = "; ".join(f"{c.key}={c.value}" for c in jar)
    desk.csrf = csrf.group(1)


async def follow_pops(
    http: aiohttp.ClientSession, bases: list[str], desk: Desk, alive: Callable[[int], bool]
) -> None:
    """The console's socket: on a close it reconnects — to the other instance when its own
    is gone, as a load balancer would — with its last event id."""
    i = desk.home
    while True:
        if not alive(i % len(bases)):
            i += 1
        base = bases[i % len(bases)]
        query = f"?last_id={desk.last_id}" if desk.last_id else ""
        try:
            async with http.ws_connect(
                base + "/ws" + query,
                headers={"Origin": base, "Cookie": desk.cookie},
                heartbeat=None,
            ) as ws:
                desk.connected.set()
                async for msg in ws:
                    if msg.type != aiohttp.WSMsgType.TEXT:
                        continue
                    data = json.loads(msg.data)
                    desk.last_id = str(data.get("id") or desk.last_id)
                    if data.get("type") == "pop":
                        key = (str(data.get("server")), str(data.get("call_id")))
                        desk.pops.setdefault(key, time.time())
        except (aiohttp.ClientError, OSError):
            pass
        desk.reconnects += 1
        await asyncio.sleep(0.2)


async def post(
    http: aiohttp.ClientSession, base: str, desk: Desk, path: str, data: dict[str, str]
) -> dict[str, Any]:
    async with http.post(
        base + path, data=data, headers={"X-CSRF-Token": desk.csrf, "Cookie": desk.cookie}
    ) as resp:
        if resp.status != 202 and resp.status != 200:
            raise RuntimeError(f"{path} of {desk.login}: {resp.status} {await resp.text()}")
        return dict(await resp.json())


async def result_of(
    http: aiohttp.ClientSession, base: str, desk: Desk, url: str, cursors: dict[str, str]
) -> str:
    """The outcome of a command, polled as the console polls it: from the ``cursor`` the
    previous answer gave (a poll reads a few hundred events; the outcome of a command sent
    during a busy run comes thousands of events later)."""
    after = cursors.get(url)
    query = f"&after={after}" if after else ""
    async with http.get(base + url + query, headers={"Cookie": desk.cookie}) as resp:
        if resp.status != 200:
            return "pending"
        body = await resp.json()
    if body.get("cursor"):
        cursors[url] = str(body["cursor"])
    return str(body.get("status")) + (f": {body.get('reason')}" if body.get("reason") else "")


# --- the run ----------------------------------------------------------------------------------


async def leader_pid(redis: Any, prefix: str, key: str) -> int | None:
    token = await redis.get(f"{prefix}:{key}")
    if not token:
        return None
    parts = (token.decode() if isinstance(token, bytes) else str(token)).split(":")
    return int(parts[1]) if len(parts) >= 2 and parts[1].isdigit() else None


async def offers(redis: Any, prefix: str) -> dict[tuple[str, str, str], float]:
    """(server, call, interface) of every ``call.offered`` the connectors published, and
    when it reached Redis (its first one: the entry id's milliseconds, Redis's clock)."""
    found: dict[tuple[str, str, str], float] = {}
    async for sid, data in _entries(redis, f"{prefix}:events"):
        if data.get("kind") == "call.offered":
            found.setdefault((data["server"], data["call_id"], data["interface"]), sid)
    return found


async def pops_published(redis: Any, prefix: str) -> dict[tuple[str, str, str], float]:
    """(server, call, login) of every offer pop the workers published, and when (its first)."""
    found: dict[tuple[str, str, str], float] = {}
    async for sid, data in _entries(redis, f"{prefix}:pops"):
        if data.get("type") == "pop":
            found.setdefault((data["server"], data["call_id"], data["to"]), sid)
    return found


async def _entries(redis: Any, key: str) -> AsyncIterator[tuple[float, dict[str, Any]]]:
    """A stream's entries: (the id's time in seconds, the message)."""
    after = "-"
    while True:
        entries = await redis.xrange(key, min=after, count=5000)
        for sid, fields in entries:
            yield int(sid.split(b"-")[0]) / 1000, json.loads(fields[b"d"])
        if len(entries) < 5000:
            return
        after = "(" + entries[-1][0].decode()


async def history(db_url: str, calls: set[tuple[str, str]]) -> dict[str, Any]:
    """Per (server, linkedid) of ``calls``: ended call rows and ``call.ended`` history rows;
    and history rows beyond one per event key (two servers may well use the same linkedid)."""
    from sqlalchemy import func, select

    from contact_center.store import models
    from contact_center.store.db import create_engine, session_factory

    linkedids = {c for _, c in calls}
    engine = create_engine(db_url)
    try:
        async with session_factory(engine)() as db:
            rows = await db.execute(
                select(models.Call.server, models.Call.linkedid).where(
                    models.Call.linkedid.in_(linkedids), models.Call.ended_at.is_not(None)
                )
            )
            ended_calls = Counter(tuple(r) for r in rows.all())
            rows = await db.execute(
                select(models.InteractionEvent.server, models.InteractionEvent.call_linkedid).where(
                    models.InteractionEvent.call_linkedid.in_(linkedids),
                    models.InteractionEvent.kind == "call.ended",
                )
            )
            ended = Counter(tuple(r) for r in rows.all())
            total = await db.scalar(select(func.count()).select_from(models.InteractionEvent))
            keys = await db.scalar(select(func.count(func.distinct(models.InteractionEvent.key))))
    finally:
        await engine.dispose()
    return {
        "calls": Counter({k: v for k, v in ended_calls.items() if k in calls}),
        "ended": Counter({k: v for k, v in ended.items() if k in calls}),
        "duplicates": int(total or 0) - int(keys or 0),
    }


async def run_scale(
    tmp: Path, db_url: str, redis_url: str, prefix: str, cfg: ScaleConfig
) -> ScaleReport:
    """Everything above, once; the report's ``problems`` list what went wrong (empty: all
    checks held)."""
    import redis.asyncio as aioredis

    report = ScaleReport()
    await seed(db_url, cfg)
    redis = aioredis.Redis.from_url(redis_url)
    async with contextlib.AsyncExitStack() as stack:
        stack.push_async_callback(redis.aclose)
        sims = await stack.enter_async_context(simulators(tmp, cfg))

        def proc(name: str, role: str, server: str = "") -> Proc:
            port = free_port()
            env = service_env(tmp, name, db_url, redis_url, prefix, cfg, port)
            if server:
                env = connector_env(env, tmp, server, sims[server][0].port)
            return Proc(name, role, port, env, tmp / f"{name}.log")

        pbx1_pair = [proc("connector-pbx1-a", "connector", "pbx1"),
                     proc("connector-pbx1-b", "connector", "pbx1")]  # fmt: skip
        conn2 = proc("connector-pbx2", "connector", "pbx2")
        workers = [proc("worker-1", "worker"), proc("worker-2", "worker")]
        webs = [proc("web-1", "web"), proc("web-2", "web")]
        everyone = [*pbx1_pair, conn2, *workers, *webs]
        for p in everyone:
            stack.push_async_callback(p.stop)
        started = time.monotonic()
        for p in everyone:
            await p.start()
        for p in everyone:
            await wait_until(p.healthy, 90, f"{p.name} healthy")
        await wait_until(
            lambda: _holder(redis, prefix, "ami-leader:pbx1", pbx1_pair), 60, "pbx1's leader"
        )
        report.figures["processes_ready_s"] = round(time.monotonic() - started, 1)

        # every operator's websocket holds a connection for the whole run: no pool limit
        # (a limit of 200 left the 201st operator without a socket)
        http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
        stack.push_async_callback(http.close)
        bases = [w.base for w in webs]
        desks = [
            Desk(login_of(server, i), phone(server, i), server, home=(i + n) % 2)
            for n, server in enumerate(SERVERS)
            for i in range(cfg.operators)
        ]
        gate = asyncio.Semaphore(16)
        dead_webs: set[int] = set()

        async def arrive(desk: Desk) -> None:
            async with gate:
                await sign_in(http, bases[desk.home], desk)

        arriving = time.monotonic()
        await asyncio.gather(*(arrive(d) for d in desks))
        report.figures["sign_ins_s"] = round(time.monotonic() - arriving, 1)
        readers = [
            asyncio.create_task(follow_pops(http, bases, d, lambda i: i not in dead_webs))
            for d in desks
        ]

        async def cancel_readers() -> None:
            for task in readers:
                task.cancel()
            await asyncio.gather(*readers, return_exceptions=True)

        stack.push_async_callback(cancel_readers)
        await wait_until(lambda: all(d.connected.is_set() for d in desks), 60, "websockets")

        signed_in = time.monotonic()

        async def available(desk: Desk) -> None:
            async with gate:
                await post(http, bases[desk.home], desk, "/api/operator/state",
                           {"state": "available"})  # fmt: skip

        await asyncio.gather(*(available(d) for d in desks))

        def members_in_place() -> bool:
            return all(sims[d.server][0].members(d.interface) for d in desks)

        await wait_until(members_in_place, 60, "every operator a member of their server's queue")
        report.figures["operators"] = len(desks)
        report.figures["sign_in_to_member_s"] = round(time.monotonic() - signed_in, 2)

        # --- calls, with the kills in the middle -----------------------------------------
        placed: dict[str, list[str]] = {s: [] for s in SERVERS}
        kills: dict[str, float] = {}
        back: dict[str, float] = {}
        clicks: list[tuple[Desk, str]] = []
        click_desks = [d for d in desks if d.server == "pbx1"][-max(0, cfg.clicks) or len(desks) :]
        click_desks = click_desks[: cfg.clicks]

        async def callers(server: str) -> None:
            pbx = sims[server][0]
            for n in range(cfg.calls):
                number = f"+7495{(FIRST_PHONE[server] * 1000 + n):07d}"
                call = await pbx.place_call(DID, number, f"Caller {n}", talk=cfg.talk)
                placed[server].append(call.linkedid)
                await asyncio.sleep(1 / cfg.rate)

        async def click(desk: Desk) -> None:
            web = desk.home if desk.home not in dead_webs else 1 - desk.home
            form = {"number": CLICK_NUMBER}
            sent = await post(http, bases[web], desk, "/api/operator/click-to-call", form)
            clicks.append((desk, str(sent["result_url"])))

        async def faults() -> None:
            await wait_until(
                lambda: min(len(v) for v in placed.values()) >= max(1, cfg.calls // 3),
                cfg.timeout, "a third of the calls placed",
            )  # fmt: skip
            if not cfg.kill:
                for desk in click_desks:
                    await click(desk)
                return
            holder = await leader_pid(redis, prefix, "lease:screenpop")
            victim = next((w for w in workers if w.process and w.process.pid == holder), workers[0])
            victim.kill()
            kills["worker"] = time.time()
            webs[0].kill()
            dead_webs.add(0)
            kills["web"] = time.time()
            half = len(click_desks) // 2
            for desk in click_desks[:half]:
                await click(desk)
            leader = await _holder(redis, prefix, "ami-leader:pbx1", pbx1_pair)
            assert leader is not None, "nobody leads pbx1"
            standby = next(p for p in pbx1_pair if p is not leader)
            leader.kill()
            kills["connector"] = time.time()
            for desk in click_desks[half:]:
                await click(desk)
            await wait_until(standby.ready, cfg.timeout, "the standby connected")
            back["connector"] = time.time()

        run_started = time.monotonic()
        cpu_before = {p.name: p.cpu_seconds() for p in everyone}
        await asyncio.gather(*(callers(s) for s in SERVERS), faults())
        report.figures["calls_placed"] = sum(len(v) for v in placed.values())

        async def all_written() -> bool:
            ids = {(s, c) for s, v in placed.items() for c in v}
            found = await history(db_url, ids)
            return set(found["calls"]) == ids and set(found["ended"]) == ids

        try:
            await wait_until(
                all_written, cfg.timeout + cfg.calls * cfg.talk, "calls in history", 0.5
            )
        except TimeoutError as exc:
            report.problems.append(str(exc))
        report.figures["run_s"] = round(time.monotonic() - run_started, 1)
        # CPU each process spent per call (what sizing needs, whatever else the machine
        # runs); a killed process has none to report
        calls = max(1, sum(len(v) for v in placed.values()))
        report.figures["cpu_ms_per_call"] = {
            p.name: round((now - was) * 1000 / calls, 2)
            for p in everyone
            if (was := cpu_before[p.name]) is not None and (now := p.cpu_seconds()) is not None
        }

        cursors: dict[str, str] = {}

        async def click_outcomes() -> list[str]:
            return [await result_of(http, bases[1], d, url, cursors) for d, url in clicks]

        with contextlib.suppress(TimeoutError):
            await wait_until(
                lambda: _none_pending(click_outcomes()), 30, "click-to-call outcomes", 0.5
            )
        outcomes = await click_outcomes()
        # pops are pushed beside the history: a moment for the last ones to arrive
        # Rings a connector never reported (it was killed before reading them, or the
        # standby was not connected and resynced yet) were seen by nobody: the resync closes
        # those calls in history from Asterisk's records but cannot tell who rang. Counted
        # apart — and only around the kill of pbx1's connector; anywhere else it is a loss.
        offered = await offers(redis, prefix)
        rings = {
            (server, call, iface): seen.rang_at[(call, iface)]
            for server, (_pbx, seen) in sims.items()
            for call, iface in seen.rang
        }
        unseen = {ring for ring in rings if ring not in offered}
        window = (kills.get("connector", 0.0) - 10.0, back.get("connector", 0.0) + 1.0)
        for ring in sorted(unseen):
            if ring[0] != "pbx1" or not window[0] <= rings[ring] <= window[1]:
                report.problems.append(f"no connector reported the ring {ring}")
        expected = set(rings) - unseen
        by_iface = {d.interface: d for d in desks}

        def missing() -> list[tuple[str, str, str]]:
            return [
                (s, c, i) for s, c, i in expected
                if i in by_iface and (s, c) not in by_iface[i].pops
            ]  # fmt: skip

        # a starved machine delivers late: wait while pops still arrive, up to the timeout
        deadline, left = time.monotonic() + cfg.timeout, len(missing())
        while left and time.monotonic() < deadline:
            with contextlib.suppress(TimeoutError):
                await wait_until(lambda n=left: len(missing()) < n, 15, "more pops")
            if len(missing()) >= left:
                break  # nothing arrived for 15 s
            left = len(missing())

        # --- the checks ------------------------------------------------------------------
        lost_pops = missing()
        login_at = {d.interface: d.login for d in desks}
        inbound = {(s, c) for s, v in placed.items() for c in v}
        wrong_pops = [
            (d.login, s, c)
            for d in desks
            for (s, c) in d.pops
            if (s, c) in inbound and (s, c, d.interface) not in expected | unseen
        ]
        if lost_pops:
            # where each was lost: published by a worker (then the web side lost it) or not
            stream = await pops_published(redis, prefix)
            published = sum(1 for s, c, i in lost_pops if (s, c, login_at.get(i, "")) in stream)
            report.problems.append(
                f"{len(lost_pops)} pops never reached their operator ({published} of them "
                f"on the pops stream): {lost_pops[:5]}"
            )
        if wrong_pops:
            report.problems.append(
                f"{len(wrong_pops)} pops reached the wrong operator: {wrong_pops[:5]}"
            )
        for d in desks:
            own = sims[d.server][1].added[d.interface]
            other = sum(seen.added[d.interface] for s, (_p, seen) in sims.items() if s != d.server)
            if own != 1 or other:
                report.problems.append(
                    f"{d.login}'s sign-in added them {own} times on {d.server}, {other} elsewhere"
                )
        done = interrupted = 0
        for (desk, _url), outcome in zip(clicks, outcomes, strict=True):
            own = sims[desk.server][1].originated[desk.interface]
            other = sum(
                seen.originated[desk.interface]
                for s, (_p, seen) in sims.items()
                if s != desk.server
            )
            if other or own > 1:
                report.problems.append(
                    f"{desk.login}'s click-to-call was sent {own} times on {desk.server}, "
                    f"{other} elsewhere"
                )
            if outcome == "done":
                done += 1
                if own != 1:
                    report.problems.append(
                        f"{desk.login}'s click-to-call done but sent {own} times"
                    )
            elif outcome.startswith("failed") and "interrupted" in outcome:
                interrupted += 1
            else:
                report.problems.append(f"{desk.login}'s click-to-call: {outcome}")
        found = await history(db_url, inbound)
        once = sum(1 for c in inbound if found["calls"][c] == 1 and found["ended"][c] == 1)
        if once != len(inbound):
            report.problems.append(f"{len(inbound) - once} calls not in history exactly once")
        if found["duplicates"]:
            report.problems.append(f"{found['duplicates']} history rows written twice")

        latencies = [
            (seen.rang_at[(c, i)], by_iface[i].pops[(s, c)] - seen.rang_at[(c, i)])
            for s, (_p, seen) in sims.items()
            for c, i in seen.rang
            if i in by_iface and (s, c) in by_iface[i].pops
        ]
        # Where the time goes, per hop, from the entries' times in Redis: the connector
        # (AgentCalled bytes to the offer on the events stream), the worker (offer to pop on
        # the pops stream), the web instance and the socket (pop to the operator's browser).
        published = await pops_published(redis, prefix)
        hops: dict[str, list[float]] = {"connector": [], "worker": [], "web": []}
        for (s, c, i), at in offered.items():
            rang = rings.get((s, c, i))
            popped = published.get((s, c, login_at.get(i, "")))
            got = by_iface[i].pops.get((s, c)) if i in by_iface else None
            if rang is None or popped is None or got is None:
                continue
            hops["connector"].append(at - rang)
            hops["worker"].append(popped - at)
            hops["web"].append(got - popped)
        report.figures["pop_hops_p50_p99_ms"] = {
            hop: [round(percentile([x * 1000 for x in xs], q), 1) for q in (50, 99)]
            for hop, xs in hops.items()
            if xs
        }
        first_kill = min(kills.values(), default=float("inf"))
        before = [ms * 1000 for at, ms in latencies if at < first_kill]
        report.figures.update(
            calls_in_history_once=once,
            pops_expected=len(expected),
            rings_unseen_around_connector_kill=len(unseen),
            # of those, the operators whose card popped anyway (on the answer the new
            # connector's resync reported)
            unseen_rings_popped_later=sum(
                1 for s, c, i in unseen if i in by_iface and (s, c) in by_iface[i].pops
            ),
            connector_gap_s=round(back["connector"] - kills["connector"], 2) if back else 0.0,
            pops_lost=len(lost_pops),
            pops_wrong=len(wrong_pops),
            pop_p50_ms=round(percentile([x * 1000 for _, x in latencies], 50), 1),
            pop_p99_ms=round(percentile([x * 1000 for _, x in latencies], 99), 1),
            baseline_pop_p99_ms_before_kills=round(percentile(before, 99), 1),
            clicks=len(clicks),
            clicks_done=done,
            clicks_interrupted=interrupted,
            history_duplicates=found["duplicates"],
            reconnects=sum(d.reconnects for d in desks),
            killed=sorted(kills),
        )
        if before and latencies:
            report.figures["ratio_pop_p99_whole_run_vs_before_kills"] = round(
                percentile([x * 1000 for _, x in latencies], 99) / max(0.1, percentile(before, 99)),
                2,
            )
    return report


async def _holder(redis: Any, prefix: str, key: str, procs: list[Proc]) -> Proc | None:
    """Which of ``procs`` holds the lease ``key`` now."""
    pid = await leader_pid(redis, prefix, key)
    return next((p for p in procs if p.process is not None and p.process.pid == pid), None)


async def _none_pending(outcomes: Awaitable[list[str]]) -> bool:
    return all(o != "pending" for o in await outcomes)


# --- command line -----------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--operators", type=int, default=20, help="per server")
    parser.add_argument("--calls", type=int, default=40, help="per server")
    parser.add_argument("--rate", type=float, default=4.0, help="new calls/s per server")
    parser.add_argument("--talk", type=float, default=4.0, help="seconds")
    parser.add_argument("--clicks", type=int, default=4)
    parser.add_argument("--no-kill", action="store_true")
    parser.add_argument("--ttl-ms", type=int, default=3000, help="leader and lease expiry")
    parser.add_argument(
        "--redis", default=os.environ.get("CC_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
    )
    args = parser.parse_args(argv)
    cfg = ScaleConfig(
        operators=args.operators, calls=args.calls, rate=args.rate, talk=args.talk,
        clicks=args.clicks, kill=not args.no_kill, timeout=120, ttl_ms=args.ttl_ms,
    )  # fmt: skip
    return asyncio.run(_bench(cfg, args.redis))


async def _bench(cfg: ScaleConfig, redis_url: str) -> dict[str, Any]:
    import uuid

    # one throw-away schema of CC_TEST_POSTGRES_URL, as the suite uses
    from tests.conftest import pg_schema

    prefix = f"ccbench:{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory() as tmp:
        async with pg_schema() as url:
            report = await run_scale(Path(tmp), url, redis_url, prefix, cfg)
    import redis.asyncio as aioredis

    r = aioredis.Redis.from_url(redis_url)
    keys = [k async for k in r.scan_iter(match=f"{prefix}:*")]
    if keys:
        await r.delete(*keys)
    await r.aclose()
    result = {**report.figures, "problems": report.problems}
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
