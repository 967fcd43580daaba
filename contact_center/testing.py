"""Test helpers: start the Asterisk simulator, talk raw AMI to it, replay captures.

Use in tests::

    from contact_center.testing import running_pbx, AmiClient

    op = Operator("Local/101@agents", "Operator 101")
    async with running_pbx(tmp_path, operators=[op]) as pbx:
        ami = await AmiClient.connect(pbx.host, pbx.port)
        await ami.login("cc", "cc-test-secret")
        await ami.action("QueueAdd", Queue="support", Interface="Local/101@agents")
        call = await pbx.place_call("4951110004", "+74951234567", "Ivan Petrov")
        await ami.wait_event("AgentConnect")

or the ``sim_pbx`` fixture (import it into the test module).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from contact_center.sim.config import RIG_OPERATORS, SimConfig
from contact_center.sim.pbx import Event, SimPbx
from contact_center.sim.replay import replay_records
from contact_center.sim.transcript import Message, compare_streams, incoming_messages, read_records

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures"
TEST_SECRETS = {"cc": "cc-test-secret", "ccro": "ccro-test-secret"}
TEST_TIME_SCALE = 0.05  # every simulated second lasts 50 ms in tests


# The captures were taken one after another on one Asterisk, whose device-state cache only
# reports changes; these are the queue pseudo-device states the earlier scenarios left behind.
CAPTURE_DEVICE_STATES: dict[str, dict[str, str]] = {
    "02-inbound-ivr-queue-answered": {},
    "03-queue-abandon": {
        "Queue:support_pause_Local/101@agents": "NOT_INUSE",
        "Queue:support_avail": "INUSE",
    },
    "06-conference": {},
    "07-actions": {
        "Queue:support_pause_Local/101@agents": "NOT_INUSE",
        "Queue:support_avail": "INUSE",
        "Queue:sales_avail": "INUSE",
    },
    "08-fastagi": {"Queue:sales_pause_Local/103@agents": "NOT_INUSE", "Queue:sales_avail": "INUSE"},
    "10-supervisor-chanspy": {
        "Queue:support_pause_Local/101@agents": "NOT_INUSE",
        "Queue:support_avail": "INUSE",
    },
}


def sim_config(tmp_path: Path | None = None, **overrides: Any) -> SimConfig:
    """A test configuration: port 0, fast clock, files under ``tmp_path``."""
    base: dict[str, Any] = {"port": 0, "time_scale": TEST_TIME_SCALE, "operators": RIG_OPERATORS}
    if tmp_path is not None:
        base.update(
            spool_dir=str(tmp_path / "monitor"),
            queue_log_path=str(tmp_path / "queue_log"),
            cdr_csv_path=str(tmp_path / "cdr-csv" / "Master.csv"),
        )
    base.update(overrides)
    if "operators" in overrides:
        base["operators"] = tuple(overrides["operators"])
    return replace(SimConfig(), **base)


@contextlib.asynccontextmanager
async def running_pbx(tmp_path: Path | None = None, **overrides: Any) -> AsyncIterator[SimPbx]:
    """Start a simulator on a free port; stop it (and every call) afterwards."""
    pbx = SimPbx(sim_config(tmp_path, **overrides))
    await pbx.start()
    try:
        yield pbx
    finally:
        await pbx.stop()


@pytest.fixture
async def sim_pbx(tmp_path: Path) -> AsyncIterator[SimPbx]:
    """A running simulator with the capture rig's queues and operators (fast clock)."""
    async with running_pbx(tmp_path) as pbx:
        yield pbx


class EventLog:
    """Everything a PBX emits, in order, with waiting helpers (in-process, no TCP)."""

    def __init__(self, pbx: SimPbx) -> None:
        self.events: list[Event] = []
        self._changed = asyncio.Event()
        self.close = pbx.subscribe(self._on_event)

    def _on_event(self, event: Event) -> None:
        self.events.append(event)
        self._changed.set()

    def named(self, name: str, **fields: str) -> list[Event]:
        return [
            e for e in self.events
            if e.name == name and all(e.get(k) == v for k, v in fields.items())
        ]  # fmt: skip

    async def wait(self, name: str, timeout: float = 5.0, **fields: str) -> Event:
        """The first event ``name`` whose headers match ``fields`` (waits for it)."""
        async with asyncio.timeout(timeout):
            while True:
                found = self.named(name, **fields)
                if found:
                    return found[0]
                self._changed.clear()
                await self._changed.wait()


class AmiClient:
    """A minimal raw AMI client for tests: exact bytes, no library in between."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.banner = ""
        self.messages: list[Message] = []
        self._buffer = ""
        self._ids = itertools.count(1)
        self._arrived = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.closed = asyncio.Event()

    @classmethod
    async def connect(cls, host: str, port: int) -> AmiClient:
        reader, writer = await asyncio.open_connection(host, port)
        client = cls(reader, writer)
        client.banner = (await reader.readline()).decode()
        client._task = asyncio.create_task(client._pump())
        return client

    async def _pump(self) -> None:
        try:
            while chunk := await self.reader.read(65536):
                self._buffer += chunk.decode()
                while "\r\n\r\n" in self._buffer:
                    block, self._buffer = self._buffer.split("\r\n\r\n", 1)
                    pairs = [line.partition(": ") for line in block.split("\r\n")]
                    self.messages.append(tuple((k, v) for k, _, v in pairs))
                    self._arrived.set()
        finally:
            self.closed.set()
            self._arrived.set()

    async def send(self, action: str, headers: Iterable[tuple[str, str]] = ()) -> str:
        action_id = f"t-{next(self._ids)}"
        lines = [f"Action: {action}", f"ActionID: {action_id}", *(f"{k}: {v}" for k, v in headers)]
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        await self.writer.drain()
        return action_id

    async def wait_message(
        self, predicate: Callable[[dict[str, str]], bool], timeout: float = 5.0
    ) -> dict[str, str]:
        seen = 0
        async with asyncio.timeout(timeout):
            while True:
                for msg in self.messages[seen:]:
                    if predicate(dict(msg)):
                        return dict(msg)
                seen = len(self.messages)
                if self.closed.is_set():
                    raise ConnectionError("AMI connection closed")
                self._arrived.clear()
                await self._arrived.wait()

    async def action(self, action: str, timeout: float = 5.0, **headers: str) -> dict[str, str]:
        """Send an action; return its response (the message with ``Response:``)."""
        action_id = await self.send(action, headers.items())
        return await self.wait_message(
            lambda m: "Response" in m and m.get("ActionID") == action_id, timeout
        )

    async def wait_event(self, name: str, timeout: float = 5.0, **fields: str) -> dict[str, str]:
        return await self.wait_message(
            lambda m: m.get("Event") == name and all(m.get(k) == v for k, v in fields.items()),
            timeout,
        )

    def events(self, name: str) -> list[dict[str, str]]:
        return [dict(m) for m in self.messages if dict(m).get("Event") == name]

    async def login(
        self, username: str = "cc", secret: str = "cc-test-secret", **extra: str
    ) -> dict[str, str]:
        headers = {"Username": username, "Secret": secret, **extra}
        action_id = await self.send("Login", headers.items())
        return await self.wait_message(lambda m: "Response" in m and m.get("ActionID") == action_id)

    async def login_md5(
        self, username: str = "cc", secret: str = "cc-test-secret"
    ) -> dict[str, str]:
        challenge = await self.action("Challenge", AuthType="MD5")
        key = hashlib.md5((challenge["Challenge"] + secret).encode()).hexdigest()
        return await self.action("Login", AuthType="MD5", Username=username, Key=key)

    async def close(self) -> None:
        self.writer.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task


async def replay_against_simulator(
    capture: str | Path,
    records_filter: Callable[[list[Any]], list[Any]] | None = None,
    *,
    time_scale: float = 0.2,
) -> dict[str, tuple[list[Message], list[Message]]]:
    """Run a capture's client side against a fresh simulator: per connection, the
    (captured, simulated) message lists, ready for :func:`compare_streams`.

    The clock runs 5x fast: quicker would leave a busy machine too little time to send an
    action while the situation it was captured in (a caller still waiting…) lasts."""
    path = Path(capture)
    records = read_records(path)
    if records_filter is not None:
        records = records_filter(records)
    async with running_pbx(time_scale=time_scale) as pbx:
        pbx.queues.device_states.update(CAPTURE_DEVICE_STATES.get(path.stem, {}))
        got = await replay_records(records, pbx.host, pbx.port, secrets=TEST_SECRETS)
    want = incoming_messages(records)
    return {conn: (want[conn], got.get(conn, [])) for conn in want}


__all__ = [
    "CAPTURE_DEVICE_STATES",
    "FIXTURES",
    "RIG_OPERATORS",
    "AmiClient",
    "EventLog",
    "compare_streams",
    "replay_against_simulator",
    "running_pbx",
    "sim_config",
    "sim_pbx",
]


@contextlib.asynccontextmanager
async def connected_connector(
    pbx: SimPbx,
    state_dir: Path,
    sink: Callable[[Any], Any],
    *,
    server_id: str = "sim1",
) -> AsyncIterator[Any]:
    """Our AmiConnector logged in to ``pbx`` (the test user ``cc``), events to ``sink``;
    stopped on exit."""
    from contact_center.ami.connector import AmiConnector
    from contact_center.config import AmiSettings

    settings = AmiSettings(
        host="127.0.0.1",
        port=pbx.port,
        username="cc",
        secret=TEST_SECRETS["cc"],
        auth="md5",
        ping_interval=1.0,
        reconnect_min=0.05,
        reconnect_max=0.2,
    )
    connector = AmiConnector(settings, server_id, sink, state_dir=state_dir)
    task = asyncio.create_task(connector.run())
    try:
        async with asyncio.timeout(5):
            await connector.wait_connected()
        yield connector
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def silent_prompts(menus_dir: Path) -> None:
    """A one-sample silent WAV for every prompt the menus in ``menus_dir`` declare, so they
    load (and pass ``ivr check``) without espeak-ng."""
    import wave

    from contact_center.ivr.cli import declared_prompts

    for lang, name in declared_prompts(menus_dir):
        target = menus_dir / "prompts" / lang / f"{name}.wav"
        target.parent.mkdir(parents=True, exist_ok=True)
        with wave.open(str(target), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(8000)
            w.writeframes(b"\0\0")
