"""Load generator: callers arriving at a rate, choosing in the IVR, waiting, talking, abandoning.

The same caller logic drives either a :class:`SimPbx` in-process or any AMI server — our
simulator or a real Asterisk with the capture rig's dial plan — over TCP
(:class:`AmiTransport`: ``Originate`` of ``Local/<DID>@inbound``, ``PlayDTMF``, ``Hangup``).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from contact_center import aio
from contact_center.sim.transcript import split_messages

IVR_DID = "4951110001"  # Background()+WaitExten(): 1 = sales, 2 = support


@dataclass(frozen=True, slots=True)
class LoadProfile:
    """What the callers do. Durations in seconds; shares are probabilities."""

    calls_per_second: float = 1.0
    duration: float = 60.0  # how long new calls keep arriving
    max_concurrent: int = 1000
    talk_mean: float = 60.0
    talk_sd: float = 20.0
    abandon_share: float = 0.1  # callers with little patience
    patience_mean: float = 20.0  # how long those wait before hanging up
    max_wait: float = 300.0  # everyone else gives up after this
    dids: dict[str, float] = field(default_factory=lambda: {IVR_DID: 0.6, "4951110004": 0.4})
    ivr_choices: dict[str, float] = field(default_factory=lambda: {"1": 0.3, "2": 0.7})
    poisson: bool = True
    seed: int | None = None


@dataclass
class LoadReport:
    """What happened, as counted from the PBX's own events."""

    placed: int = 0
    answered: int = 0
    abandoned: int = 0
    ended_by_pbx: int = 0
    failed: int = 0
    max_concurrent: int = 0
    wait_total: float = 0.0
    events: int = 0
    elapsed: float = 0.0

    @property
    def avg_wait(self) -> float:
        return self.wait_total / self.answered if self.answered else 0.0

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["avg_wait"] = round(self.avg_wait, 3)
        out["events_per_second"] = round(self.events / self.elapsed, 1) if self.elapsed else 0.0
        return out


class Transport(Protocol):
    """How callers reach a PBX."""

    async def place(self, did: str, number: str, name: str) -> tuple[str, str]:
        """Start a call; returns (phone channel ``;1``, PBX channel ``;2``)."""
        ...

    async def dtmf(self, phone: str, digits: str) -> None: ...

    async def hangup(self, phone: str) -> None: ...


@dataclass
class _CallWatch:
    connected: asyncio.Event = field(default_factory=asyncio.Event)
    ended: asyncio.Event = field(default_factory=asyncio.Event)


class LoadRunner:
    """Runs a :class:`LoadProfile` through a transport; feed it events with :meth:`on_event`."""

    def __init__(self, profile: LoadProfile, transport: Transport, time_scale: float = 1.0) -> None:
        self.profile = profile
        self.transport = transport
        self.time_scale = time_scale
        self.rng = random.Random(profile.seed)
        self.report = LoadReport()
        self.watches: dict[str, _CallWatch] = {}
        self.active = 0
        self._numbers = itertools.count(1)

    def on_event(self, name: str, get: Callable[[str], str]) -> None:
        """Every PBX event goes here (AgentConnect marks a call answered, Hangup ends it)."""
        self.report.events += 1
        if name == "AgentConnect":
            watch = self.watches.get(get("Channel"))
            if watch is not None:
                watch.connected.set()
        elif name == "Hangup":
            watch = self.watches.get(get("Channel"))
            if watch is not None:
                watch.ended.set()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds * self.time_scale)

    async def run(self) -> LoadReport:
        p = self.profile
        started = time.monotonic()
        limit = asyncio.Semaphore(p.max_concurrent)
        callers: set[asyncio.Task[None]] = set()
        deadline = started + p.duration * self.time_scale
        try:
            while time.monotonic() < deadline:
                await limit.acquire()
                task = asyncio.create_task(self._caller(limit))
                callers.add(task)
                task.add_done_callback(callers.discard)
                gap = (
                    self.rng.expovariate(p.calls_per_second)
                    if p.poisson
                    else 1 / p.calls_per_second
                )
                await self.sleep(gap)
            await asyncio.gather(*callers, return_exceptions=True)
        finally:
            for task in callers:
                task.cancel()
            self.report.elapsed = time.monotonic() - started
        return self.report

    def _pick(self, weights: dict[str, float]) -> str:
        return self.rng.choices(list(weights), weights=list(weights.values()))[0]

    async def _caller(self, limit: asyncio.Semaphore) -> None:
        p = self.profile
        number = f"+7495{next(self._numbers):07d}"
        did = self._pick(p.dids)
        try:
            try:
                phone, channel = await self.transport.place(did, number, "Load Caller")
            except Exception:
                self.report.failed += 1
                return
            self.report.placed += 1
            self.active += 1
            self.report.max_concurrent = max(self.report.max_concurrent, self.active)
            watch = self.watches.setdefault(channel, _CallWatch())
            try:
                await self._talk_to_pbx(did, phone, channel, watch)
            finally:
                self.active -= 1
        finally:
            limit.release()

    async def _talk_to_pbx(self, did: str, phone: str, channel: str, watch: _CallWatch) -> None:
        p = self.profile
        joined = time.monotonic()
        if did == IVR_DID:
            await self.sleep(1.0)
            with contextlib.suppress(Exception):
                await self.transport.dtmf(phone, self._pick(p.ivr_choices))
        impatient = self.rng.random() < p.abandon_share
        patience = self.rng.expovariate(1 / p.patience_mean) if impatient else p.max_wait
        waiting = {asyncio.ensure_future(watch.connected.wait()),
                   asyncio.ensure_future(watch.ended.wait())}  # fmt: skip
        try:
            await asyncio.wait(waiting, timeout=patience * self.time_scale,
                               return_when="FIRST_COMPLETED")  # fmt: skip
        finally:
            for w in waiting:
                w.cancel()
        try:
            if watch.connected.is_set():
                self.report.answered += 1
                self.report.wait_total += (time.monotonic() - joined) / self.time_scale
                talk = max(1.0, self.rng.gauss(p.talk_mean, p.talk_sd))
                with contextlib.suppress(asyncio.TimeoutError):
                    await aio.wait_for(watch.ended.wait(), talk * self.time_scale)
                if not watch.ended.is_set():
                    await self.transport.hangup(phone)
            elif watch.ended.is_set():
                self.report.ended_by_pbx += 1
            else:
                self.report.abandoned += 1
                await self.transport.hangup(phone)
        except Exception:
            pass  # the channel went away meanwhile: nothing left to hang up
        finally:
            self.watches.pop(channel, None)


class InProcessTransport:
    """Callers placed straight on a :class:`SimPbx` (no AMI round trips)."""

    def __init__(self, pbx: Any) -> None:
        self.pbx = pbx

    async def place(self, did: str, number: str, name: str) -> tuple[str, str]:
        call = await self.pbx.place_call(did, number, name)
        return call.phone, call.channel

    async def dtmf(self, phone: str, digits: str) -> None:
        await self.pbx.send_dtmf(phone, digits)

    async def hangup(self, phone: str) -> None:
        await self.pbx.hangup(phone)


async def run_load(pbx: Any, profile: LoadProfile) -> LoadReport:
    """Run a load profile against an in-process SimPbx."""
    runner = LoadRunner(profile, InProcessTransport(pbx), pbx.config.time_scale)
    unsubscribe = pbx.subscribe(lambda e: runner.on_event(e.name, e.get))
    try:
        return await runner.run()
    finally:
        unsubscribe()


class AmiTransport:
    """Callers placed over AMI: works against the simulator or a real rig Asterisk."""

    def __init__(self, host: str, port: int, username: str, secret: str) -> None:
        self.host, self.port = host, port
        self.username, self.secret = username, secret
        self.on_event: Callable[[str, Callable[[str], str]], None] = lambda n, g: None
        self._writer: asyncio.StreamWriter | None = None
        self._reader_task: asyncio.Task[None] | None = None
        self._pending: dict[str, asyncio.Future[dict[str, str]]] = {}
        self._ids = itertools.count(1)
        self._by_number: dict[str, asyncio.Future[str]] = {}

    async def connect(self) -> None:
        reader, writer = await asyncio.open_connection(self.host, self.port)
        self._writer = writer
        await reader.readline()  # banner
        self._reader_task = asyncio.create_task(self._read(reader))
        challenge = await self.action("Challenge", AuthType="MD5")
        key = hashlib.md5((challenge.get("Challenge", "") + self.secret).encode()).hexdigest()
        reply = await self.action("Login", AuthType="MD5", Username=self.username, Key=key)
        if reply.get("Response") != "Success":
            raise ConnectionError(f"AMI login failed: {reply.get('Message')}")

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        if self._reader_task is not None:
            self._reader_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader_task

    async def _read(self, reader: asyncio.StreamReader) -> None:
        buffer = ""
        while chunk := await reader.read(65536):
            buffer += chunk.decode(errors="replace")
            cut = buffer.rfind("\r\n\r\n")
            if cut < 0:
                continue
            complete, buffer = buffer[: cut + 4], buffer[cut + 4 :]
            for msg in split_messages(complete):
                fields = dict(msg)
                if "Response" in fields and fields.get("ActionID") in self._pending:
                    future = self._pending.pop(fields["ActionID"])
                    if not future.done():
                        future.set_result(fields)
                elif "Event" in fields:
                    if fields["Event"] == "NewCallerid":
                        waiter = self._by_number.get(fields.get("CallerIDNum", ""))
                        channel = fields.get("Channel", "")
                        if waiter is not None and not waiter.done() and "@inbound-" in channel:
                            waiter.set_result(channel)
                    self.on_event(fields["Event"], lambda k, f=fields: f.get(k, ""))  # type: ignore[misc]

    async def action(self, name: str, **headers: str) -> dict[str, str]:
        assert self._writer is not None
        action_id = f"load-{next(self._ids)}"
        future: asyncio.Future[dict[str, str]] = asyncio.get_running_loop().create_future()
        self._pending[action_id] = future
        lines = [f"Action: {name}", f"ActionID: {action_id}"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        self._writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        return await aio.wait_for(future, 10.0)

    async def place(self, did: str, number: str, name: str) -> tuple[str, str]:
        # The caller's number (unique per load caller) finds the new Local pair; listen before
        # asking, as the channel events may arrive right behind the response.
        found: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._by_number[number] = found
        try:
            reply = await self.action(
                "Originate",
                Channel=f"Local/{did}@inbound",
                Context="callersim",
                Exten="hold",
                Priority="1",
                CallerID=f'"{name}" <{number}>',
                Async="true",
            )
            if reply.get("Response") != "Success":
                raise ConnectionError(reply.get("Message", "Originate failed"))
            channel = await aio.wait_for(found, 10.0)
        finally:
            self._by_number.pop(number, None)
        base = channel[:-2]
        return base + ";1", base + ";2"

    async def dtmf(self, phone: str, digits: str) -> None:
        for digit in digits:
            await self.action("PlayDTMF", Channel=phone, Digit=digit, Duration="120")

    async def hangup(self, phone: str) -> None:
        await self.action("Hangup", Channel=phone)
