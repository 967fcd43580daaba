"""The whole service under simulator load: N live calls at R new calls/s, both sides' CPU and
the operators' pop latency.

Three processes, as in production: the simulator (a fake Asterisk, its own process) with
scripted operators who answer after 1–2 s and talk about ``concurrent / rate`` seconds, so the
number of live calls climbs to ``concurrent``; calls go straight into the queue ``support``
(DID 4951110004). The service (role ``all``, SQLite in a temp dir, memory bus) runs in THIS
process, so its CPU is ours. The operators' browsers — one signed-in websocket client per
operator — run in a third process, so the service's CPU is not theirs.

Pop latency = the client receiving the ``pop`` (stage offered) − the ``Timestamp`` of the
Asterisk ``AgentCalled`` frame (``CallOffered.at``; one machine, one clock). The same-run
baseline is the same push at a light load (1 call/s); ``ratio_*`` compares the two.
"Kept up": the event bus's consumer groups' backlog (published, not yet handled) stays small
and is empty at the end.

    .venv/bin/python -m bench.bench_service_load [--concurrent 1000 --rate 25]

Default: 300 live calls at 10 calls/s (about 70 s in all).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import logging
import multiprocessing
import os
import re
import statistics
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import aiohttp

QUEUE = "support"
DID = "4951110004"  # [inbound]: Answer, Goto to-queue,support — no IVR on the way
SECRET = "bench-secret"
PASSWORD = "bench password"
RING = (1.0, 2.0)  # operators answer after this many seconds (spread evenly)
LOG = logging.getLogger(__name__)


# the rig's dial plan with [agents] _XXXX: hundreds of operators Local/1000@agents …
BENCH_DIALPLAN = Path(__file__).resolve().parent / "asterisk" / "extensions.conf"


def interface(i: int) -> str:
    return f"Local/{1000 + i}@agents"


def login(i: int) -> str:
    return f"op{i}"


def cpu_seconds(pid: int | str = "self") -> float:
    """utime + stime of a process (all its threads), from /proc."""
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


class ChildGone(RuntimeError):
    """A child process (simulator or browsers) died or stopped answering."""


async def receive(conn: Connection, timeout: float, what: str) -> Any:
    """The next message from a child, without blocking the loop; a dead or stuck child is an
    error, not a hang."""

    def wait() -> Any:
        if not conn.poll(timeout):
            raise ChildGone(f"no answer from the {what} within {timeout:.0f} s")
        return conn.recv()

    try:
        return await asyncio.get_running_loop().run_in_executor(None, wait)
    except EOFError as exc:
        raise ChildGone(f"the {what} process ended") from exc


# --- the simulator process --------------------------------------------------------------------


def sim_process(conn: Connection, operators: int) -> None:
    """Child: a SimPbx with ``operators`` scripted members of ``support``; runs load phases
    on request (``("phase", rate, seconds, talk)``) and answers with what the PBX saw."""
    logging.basicConfig(level=logging.WARNING)
    asyncio.run(_sim_main(conn, operators))


async def _sim_main(conn: Connection, operators: int) -> None:
    from contact_center.sim.config import Operator, SimConfig, User
    from contact_center.sim.pbx import SimPbx

    span = RING[1] - RING[0]
    ops = tuple(
        Operator(interface(i), f"Operator {i}", answer_after=RING[0] + span * (i % 11) / 10)
        for i in range(operators)
    )
    config = SimConfig(
        port=0, users=(User("cc", SECRET),), operators=ops, dialplan=str(BENCH_DIALPLAN)
    )
    loop = asyncio.get_running_loop()
    async with SimPbx(config) as pbx:
        for op in ops:
            pbx.queues.add_member(QUEUE, op.interface, op.name)
        conn.send(pbx.port)
        while True:
            command = await loop.run_in_executor(None, conn.recv)
            if command[0] == "stop":
                break
            _, rate, seconds, talk = command
            conn.send(await _sim_phase(conn, pbx, rate, seconds, talk))
    conn.close()


async def _sim_phase(
    conn: Connection, pbx: Any, rate: float, seconds: float, talk: float
) -> dict[str, Any]:
    """Callers arrive at ``rate`` for ``seconds``, each talks ~``talk`` s once answered; sends
    what the PBX saw, and on the next command hangs up whoever is left (the next phase
    starts empty)."""
    from contact_center.sim.load import InProcessTransport, LoadProfile, LoadRunner

    profile = LoadProfile(
        calls_per_second=rate,
        duration=seconds,
        max_concurrent=1_000_000,
        talk_mean=talk,
        talk_sd=talk / 12,
        abandon_share=0.0,
        max_wait=3600,
        dids={DID: 1.0},
        poisson=False,
        seed=7,
    )
    runner = LoadRunner(profile, InProcessTransport(pbx))
    unsubscribe = pbx.subscribe(lambda e: runner.on_event(e.name, e.get))
    events0, started = pbx.events_emitted, time.monotonic()
    task = asyncio.create_task(runner.run())
    await asyncio.sleep(seconds)
    report = runner.report
    figures = {
        "seconds": round(time.monotonic() - started, 2),
        "calls_placed": report.placed,
        "calls_answered": report.answered,
        "calls_failed": report.failed,
        "live_calls_at_end": runner.active,
        "live_calls_max": report.max_concurrent,
        "ami_events": pbx.events_emitted - events0,
    }
    # what the PBX saw, before the hang-ups below (their burst of events is not the load)
    conn.send(figures)
    await asyncio.get_running_loop().run_in_executor(None, conn.recv)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    unsubscribe()
    for ch in list(pbx.channels.values()):
        if "@inbound-" in ch.name and ch.name.endswith(";1") and not ch.dead:
            pbx.request_hangup(ch)
    for _ in range(150):  # the hang-ups take a moment to run through the dial plan
        if all(ch.dead for ch in pbx.channels.values()):
            break
        await asyncio.sleep(0.1)
    return {"hung_up": True}


# --- the browsers' process --------------------------------------------------------------------


def clients_process(conn: Connection, base: str, logins: list[str]) -> None:
    """Child: sign every operator in (as a browser does), open its /ws, timestamp each
    ``pop``; on ``"take"`` send back what arrived since the last take, on ``"stop"`` end."""
    asyncio.run(_clients_main(conn, base, logins))


async def _sign_in(http: aiohttp.ClientSession, base: str, who: str) -> str:
    """The session cookie of ``who``, by the sign-in form (CSRF token and all)."""
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(connector=http.connector, connector_owner=False,
                                     cookie_jar=jar) as one:  # fmt: skip
        async with one.get(base + "/login") as resp:
            token = re.search(r'name="csrf_token" value="([^"]+)"', await resp.text())
        if token is None:
            raise RuntimeError("no CSRF token on /login")
        form = {"login": who, "password": PASSWORD, "csrf_token": token.group(1), "next": "/"}
        async with one.post(base + "/login", data=form, allow_redirects=False) as resp:
            if resp.status != 303:
                raise RuntimeError(f"sign-in of {who} failed: {resp.status}")
    cookies = {c.key: c.value for c in jar}
    return "; ".join(f"{k}={v}" for k, v in cookies.items())


async def _clients_main(conn: Connection, base: str, logins: list[str]) -> None:
    received: list[tuple[str, str, float]] = []  # (call id, login, arrival)
    http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
    readers: list[asyncio.Task[None]] = []

    async def read(who: str, sock: aiohttp.ClientWebSocketResponse) -> None:
        async for msg in sock:
            now = time.time()
            if msg.type != aiohttp.WSMsgType.TEXT:
                continue
            data = json.loads(msg.data)
            if data.get("type") == "pop" and data.get("stage") == "offered":
                received.append((data["call_id"], who, now))

    gate = asyncio.Semaphore(16)

    async def connect(who: str) -> None:
        async with gate:
            cookie = await _sign_in(http, base, who)
            sock = await http.ws_connect(
                base + "/ws", headers={"Origin": base, "Cookie": cookie}, heartbeat=None
            )
        readers.append(asyncio.create_task(read(who, sock)))

    loop = asyncio.get_running_loop()
    try:
        await asyncio.gather(*(connect(who) for who in logins))
        gc.collect()
        gc.freeze()
        conn.send(len(readers))
        while await loop.run_in_executor(None, conn.recv) != "stop":
            taken, received[:] = list(received), []
            conn.send(taken)
    finally:
        for task in readers:
            task.cancel()
        await asyncio.gather(*readers, return_exceptions=True)
        await http.close()
        conn.close()


# --- the service (this process) ---------------------------------------------------------------


@dataclass
class Watch:
    """Samples, inside the service, the bus backlog and the event loop's lateness."""

    bus: Any
    backlog_max: int = 0
    backlog_group: str = ""
    loop_late_ms: list[float] = field(default_factory=list)

    async def backlog(self) -> tuple[int, str]:
        """Events published but not yet handled by the slowest consumer group."""
        groups = await self.bus.backlog("events")
        return max(((count, name) for name, count in groups.items()), default=(0, ""))

    async def run(self) -> None:
        while True:
            before = time.perf_counter()
            await asyncio.sleep(0.05)
            self.loop_late_ms.append((time.perf_counter() - before - 0.05) * 1000)
            count, name = await self.backlog()
            if count > self.backlog_max:
                self.backlog_max, self.backlog_group = count, name

    def reset(self) -> None:
        self.backlog_max, self.backlog_group, self.loop_late_ms = 0, "", []


async def seed(settings: Any, operators: int, customers: int) -> None:
    from argon2 import PasswordHasher

    from contact_center.service import open_core
    from contact_center.store.db import utcnow
    from contact_center.store.models import Customer, CustomerPhone, Queue, User

    # a cheap hash: signing 1,000 operators in must not be the benchmark
    cheap = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1).hash(PASSWORD)
    core = await open_core(settings, migrate=True)
    now = utcnow()
    try:
        async with core.sessions.begin() as db:
            db.add(Queue(name=QUEUE, title="Support", service_level_seconds=20,
                         wrapup_seconds=0, record=False, supervisors={}))  # fmt: skip
            for i in range(operators):
                db.add(
                    User(
                        login=login(i),
                        display_name=f"Operator {i}",
                        password_hash=cheap,
                        role="operator",
                        interface=interface(i),
                        queues={QUEUE: 0},
                        skills={},
                        active=True,
                        created_at=now,
                    )
                )
            # the load's callers are +7495 0000001, 0000002, …: every other one is known
            for n in range(2, customers * 2, 2):
                e164 = f"+7495{n:07d}"
                c = Customer(name=f"Customer {n}", company="Acme",
                             segment="VIP" if n % 20 == 0 else "", custom={},
                             created_at=now, updated_at=now)  # fmt: skip
                c.phones.append(CustomerPhone(e164=e164, suffix=e164[-7:], raw=e164))
                db.add(c)
    finally:
        await core.engine.dispose()


@contextlib.asynccontextmanager
async def running(
    tmp: Path, ami_port: int, operators: int, customers: int, overrides: dict[str, str]
) -> AsyncIterator[Any]:
    """The service on SQLite and the memory bus, or on what ``overrides`` name (PostgreSQL,
    Redis)."""
    from contact_center.config import load_settings
    from contact_center.demo import free_port
    from contact_center.service import Service

    env = {
        "CC_GENERAL_DATA_DIR": str(tmp / "data"),
        "CC_GENERAL_LOG_LEVEL": "WARNING",
        "CC_DATABASE_URL": f"sqlite+aiosqlite:///{tmp / 'cc.sqlite3'}",
        "CC_WEB_PORT": "0",
        "CC_BUS_BACKEND": "memory",
        "CC_BUS_STREAM_MAXLEN": "2000000",
        "CC_RECORDING_SPOOL_DIR": str(tmp / "spool"),
        **overrides,
    }
    base = load_settings(environ=env)
    settings = replace(
        base,
        ami=replace(base.ami, port=ami_port, username="cc", secret=SECRET),
        agi=replace(base.agi, port=free_port()),
    )
    await seed(settings, operators, customers)
    async with Service(settings, "all") as service:
        await service.components["connector"].wait_connected()
        yield service


async def drain(watch: Watch, timeout: float = 60.0) -> None:
    """Let the consumers work off the hang-ups before the next phase (or the end)."""
    for _ in range(int(timeout / 0.2)):
        if (await watch.backlog())[0] == 0:
            return
        await asyncio.sleep(0.2)


async def offered_at(bus: Any, after: str) -> tuple[dict[tuple[str, str], float], int]:
    """``(call id, interface) → AgentCalled Timestamp`` of the CallOffered events after
    stream id ``after`` of the events stream (read after the phase, off the clock), and how
    many domain events there were."""
    out: dict[tuple[str, str], float] = {}
    count = 0
    while entries := await bus.read("events", after, 5000):
        count += len(entries)
        after = entries[-1][0]
        for _sid, message in entries:
            if message.get("kind") == "call.offered":
                out.setdefault((message["call_id"], message["interface"]), message["at"])
    return out, count


async def phase(
    sim: Connection,
    clients: Connection,
    service: Any,
    watch: Watch,
    rate: float,
    seconds: float,
    talk: float,
    *,
    settle: bool,
) -> dict[str, Any]:
    bus = service.core.bus
    position = await bus.last_id("events")
    watch.reset()
    sim_pid, client_pid = PROCESSES["sim"].pid, PROCESSES["clients"].pid
    cpu0 = (cpu_seconds(), cpu_seconds(sim_pid), cpu_seconds(client_pid), time.monotonic())
    sim.send(("phase", rate, seconds, talk))
    report: dict[str, Any] = await receive(sim, seconds + 60, "simulator")
    cpu1 = (cpu_seconds(), cpu_seconds(sim_pid), cpu_seconds(client_pid), time.monotonic())
    backlog_end, _ = await watch.backlog()
    backlog_max, backlog_group, late = watch.backlog_max, watch.backlog_group, watch.loop_late_ms
    # grace for the last pops in flight (the calls go on, no new ones), then collect them
    await asyncio.sleep(2.0)
    backlog_after, _ = await watch.backlog()
    sim.send(("hangup",))
    await receive(sim, 60, "simulator")
    if settle:
        await drain(watch)
    clients.send("take")
    pops: list[tuple[str, str, float]] = await receive(clients, 60, "browsers")
    offers, domain_events = await offered_at(bus, position)
    by_login = {login(i): interface(i) for i in range(len(PROCESSES["logins"]))}
    latencies = [
        (t - offers[(call_id, by_login[who])]) * 1000
        for call_id, who, t in pops
        if (call_id, by_login[who]) in offers
    ]
    elapsed = cpu1[3] - cpu0[3]
    result = {
        "rate": rate,
        **report,
        "ami_events_per_s": round(report["ami_events"] / elapsed, 1),
        "domain_events_per_s": round(domain_events / elapsed, 1),
        "offers": len(offers),
        "pops_received": len(pops),
        "pop_p50_ms": round(statistics.median(latencies), 2) if latencies else None,
        "pop_p99_ms": round(percentile(latencies, 99), 2) if latencies else None,
        "pop_max_ms": round(max(latencies), 2) if latencies else None,
        "service_cpu_percent": round(100 * (cpu1[0] - cpu0[0]) / elapsed, 1),
        "sim_cpu_percent": round(100 * (cpu1[1] - cpu0[1]) / elapsed, 1),
        "clients_cpu_percent": round(100 * (cpu1[2] - cpu0[2]) / elapsed, 1),
        "service_cpu_s": round(cpu1[0] - cpu0[0], 2),
        "sim_cpu_s": round(cpu1[1] - cpu0[1], 2),
        "bus_backlog_max": backlog_max,
        "bus_backlog_max_group": backlog_group,
        "bus_backlog_at_end": backlog_end,
        "bus_backlog_2s_later": backlog_after,
        "loop_late_p99_ms": round(percentile(late, 99), 1) if late else None,
        "loop_late_max_ms": round(max(late), 1) if late else None,
    }
    # kept up: 2 s after the last arrival the consumers are less than a second behind
    result["kept_up"] = bool(
        backlog_after <= max(100, domain_events / elapsed)
        and len(pops) >= 0.99 * len(offers)
        and report["calls_failed"] == 0
    )
    return result


PROCESSES: dict[str, Any] = {}


async def run(
    concurrent: int, rate: float, baseline_seconds: float, overrides: dict[str, str]
) -> dict[str, Any]:
    operators = int(concurrent * 1.15) + 10  # a free operator for every offer, with slack
    ring = sum(RING) / 2
    hold = concurrent / rate  # seconds of arrivals to reach ``concurrent`` live calls
    talk = max(1.0, hold - ring)  # steady state: rate × (ring + talk) = concurrent
    ctx = multiprocessing.get_context("spawn")
    sim_end, sim = ctx.Pipe()
    sim_proc = ctx.Process(target=sim_process, args=(sim_end, operators), daemon=True)
    sim_proc.start()
    sim_end.close()  # only the child holds it: its death is an EOF here, not a hang
    PROCESSES.update(sim=sim_proc, logins=[login(i) for i in range(operators)])
    loop = asyncio.get_running_loop()
    try:
        ami_port = await receive(sim, 60, "simulator")
        with tempfile.TemporaryDirectory() as tmp:
            async with running(Path(tmp), ami_port, operators, 2000, overrides) as service:
                base = f"http://127.0.0.1:{service.web_port}"
                cl_end, clients = ctx.Pipe()
                cl_proc = ctx.Process(
                    target=clients_process, args=(cl_end, base, PROCESSES["logins"]), daemon=True
                )
                cl_proc.start()
                cl_end.close()
                PROCESSES["clients"] = cl_proc
                watch = Watch(service.core.bus)
                watcher = asyncio.create_task(watch.run())
                try:
                    connected = await receive(clients, 600, "browsers")
                    await drain(watch)  # the start-up's member and status events
                    gc.collect()
                    gc.freeze()
                    light = await phase(
                        sim, clients, service, watch, 1.0, baseline_seconds, 3.0, settle=True
                    )
                    loaded = await phase(
                        sim, clients, service, watch, rate, hold + 5, talk, settle=False
                    )
                except BaseException:
                    # said now: stopping the service after a failure can take a while
                    LOG.exception(
                        "bench failed (simulator exit code %s, browsers exit code %s)",
                        sim_proc.exitcode, cl_proc.exitcode,
                    )  # fmt: skip
                    raise
                finally:
                    watcher.cancel()
                    clients.send("stop")
                    await loop.run_in_executor(None, cl_proc.join, 10)
                    sim.send(("stop",))
    finally:
        await loop.run_in_executor(None, sim_proc.join, 10)
        for proc in (sim_proc, PROCESSES.get("clients")):
            if proc is not None and proc.is_alive():
                proc.terminate()
    result: dict[str, Any] = {
        "concurrent_target": concurrent,
        "rate": rate,
        "operators": operators,
        "websockets": connected,
        "talk_seconds_mean": round(talk, 1),
        "settings": overrides,
        "baseline_1_call_per_s": light,
        "loaded": loaded,
    }
    for q in ("p50", "p99"):
        ours, base_ms = loaded[f"pop_{q}_ms"], light[f"pop_{q}_ms"]
        if ours is not None and base_ms:
            result[f"ratio_pop_{q}_loaded_vs_baseline"] = round(ours / base_ms, 2)
    # out before asyncio.run's clean-up, which has been seen to wait for ever on a task
    # the stopped service left behind (after a 1,000-call run)
    print(json.dumps(result, indent=2), flush=True)
    return result


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrent", type=int, default=300, help="live calls to reach")
    parser.add_argument("--rate", type=float, default=10.0, help="new calls per second")
    parser.add_argument("--baseline-seconds", type=float, default=10.0)
    parser.add_argument(
        "--setting",
        action="append",
        default=[],
        metavar="CC_SECTION_FIELD=VALUE",
        help="a service setting to try (e.g. CC_STATS_PUBLISH_INTERVAL=1)",
    )
    parser.add_argument(
        "--postgres",
        action="store_true",
        help="PostgreSQL (a throw-away schema of CC_TEST_POSTGRES_URL) instead of SQLite",
    )
    parser.add_argument(
        "--redis",
        metavar="URL",
        help="the Redis bus at URL (its own key prefix, removed after) instead of the memory bus",
    )
    args = parser.parse_args(argv)
    overrides = dict(item.split("=", 1) for item in args.setting)
    logging.basicConfig(level=logging.WARNING)
    return asyncio.run(_main(args, overrides))


async def _main(args: argparse.Namespace, overrides: dict[str, str]) -> dict[str, Any]:
    async with contextlib.AsyncExitStack() as stack:
        if args.postgres:
            from tests.conftest import pg_schema

            overrides = {
                **overrides,
                "CC_DATABASE_URL": await stack.enter_async_context(pg_schema()),
            }
        if args.redis:
            prefix = f"ccbench:{os.getpid()}"
            overrides = {
                **overrides,
                "CC_BUS_BACKEND": "redis",
                "CC_BUS_REDIS_URL": args.redis,
                "CC_BUS_PREFIX": prefix,
            }
            stack.push_async_callback(_remove_keys, args.redis, prefix)
        return await run(args.concurrent, args.rate, args.baseline_seconds, overrides)


async def _remove_keys(url: str, prefix: str) -> None:
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(url)
    keys = [k async for k in client.scan_iter(match=f"{prefix}:*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


if __name__ == "__main__":
    main()
