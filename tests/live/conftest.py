"""Opt-in: tests against a real Asterisk running the configuration we ship.

Set ``CC_TEST_ASTERISK`` to the AMI address of an Asterisk loaded with ``deploy/asterisk/``
(``ami://contact_center:SECRET@127.0.0.1:5038``) to run them; without it they are skipped,
in CI too. The Asterisk dials our FastAGI back at ``CC_TEST_ASTERISK_AGI_HOST`` (default
``127.0.0.1``: the same host); each test passes its own FastAGI address on the call it places
(the ``CC_AGI`` channel variable), so the Asterisk's globals are never changed; the tests
take turns (they share its queues). The operator's phone is sipp (``phones.py``). Calls
come from the provider as in production: a Local channel into ``[from-trunk]``."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from contact_center.ami.connection import AmiConnection
from contact_center.ami.parser import Frame

ENV = "CC_TEST_ASTERISK"


@dataclass(frozen=True)
class LiveAsterisk:
    host: str
    port: int
    username: str
    secret: str
    agi_host: str
    spool: str  # where this host reads the recordings Asterisk writes ("": it cannot)


def live_asterisk() -> LiveAsterisk:
    url = os.environ.get(ENV, "")
    if not url:
        pytest.skip(f"no live Asterisk: set {ENV}=ami://user:secret@host:port to run")
    parts = urlsplit(url)
    if parts.scheme != "ami" or not parts.hostname or not parts.username:
        pytest.fail(f"{ENV} must look like ami://user:secret@host:port, not {url!r}")
    return LiveAsterisk(
        host=parts.hostname,
        port=parts.port or 5038,
        username=unquote(parts.username),
        secret=unquote(parts.password or ""),
        agi_host=os.environ.get("CC_TEST_ASTERISK_AGI_HOST", "127.0.0.1"),
        spool=os.environ.get("CC_TEST_ASTERISK_SPOOL", ""),
    )


@dataclass
class Watch:
    """Every frame the AMI session delivers, and a way to wait for one."""

    frames: list[Frame] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def on_frame(self, frame: Frame) -> None:
        self.frames.append(frame)
        self.changed.set()

    async def wait_for(self, matches: Callable[[Frame], bool], timeout: float = 15.0) -> Frame:
        """The first frame that ``matches``; on a timeout, fails listing what was seen."""
        try:
            async with asyncio.timeout(timeout):
                while True:
                    for frame in self.frames:
                        if matches(frame):
                            return frame
                    self.changed.clear()
                    await self.changed.wait()
        except TimeoutError:
            seen = "\n".join(
                f"{f.name} {f.get('Channel')} {f.get('Application')} {f.get('Queue')}"
                for f in self.frames[-40:]
            )
            message = f"not seen within {timeout:g} s; the last frames:\n{seen}"
            raise AssertionError(message) from None


@dataclass
class Session:
    asterisk: LiveAsterisk
    ami: AmiConnection
    watch: Watch
    placed: list[str] = field(default_factory=list)  # Linkedids of the calls we placed

    async def trunk_call(self, did: str, caller: str, agi_url: str) -> str:
        """A call from the provider to ``did``: a Local channel into [from-trunk] whose far
        half waits on the line; our FastAGI at ``agi_url``. Returns the call's Linkedid."""
        call_id = f"live-{uuid.uuid4().hex[:12]}"
        self.placed.append(call_id)
        await self.ami.send_action(
            "Originate",
            {
                "Channel": f"Local/{did}@from-trunk",
                "Application": "Wait",
                "Data": "60",
                "CallerID": caller,
                "ChannelId": call_id,
                "OtherChannelId": f"{call_id}-2",
                "Variable": f"__CC_AGI={agi_url}",
                "Async": "true",
            },
        )
        return call_id

    async def hang_up_ours(self) -> None:
        listing = await self.ami.send_action("CoreShowChannels", {})
        for item in listing.items:
            if item.get("Linkedid") in self.placed or item.get("Uniqueid") in self.placed:
                with contextlib.suppress(Exception):
                    await self.ami.send_action("Hangup", {"Channel": item.get("Channel")})


@contextlib.asynccontextmanager
async def one_at_a_time(asterisk: LiveAsterisk) -> AsyncIterator[None]:
    """Live tests share one Asterisk and its queues (an operator made available in one test
    would be rung by another's caller): across pytest-xdist workers they take turns."""
    path = Path(tempfile.gettempdir()) / f"cc-live-asterisk-{asterisk.host}-{asterisk.port}.lock"
    with path.open("w") as lock:
        await asyncio.to_thread(fcntl.flock, lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


@pytest.fixture
async def live() -> AsyncIterator[Session]:
    asterisk = live_asterisk()
    async with one_at_a_time(asterisk):
        async with _session(asterisk) as session:
            yield session


@contextlib.asynccontextmanager
async def _session(asterisk: LiveAsterisk) -> AsyncIterator[Session]:
    watch = Watch()
    ami = AmiConnection(
        asterisk.host,
        asterisk.port,
        asterisk.username,
        asterisk.secret,
        on_frame=watch.on_frame,
        name="live",
    )
    await ami.connect()
    session = Session(asterisk, ami, watch)
    try:
        yield session
    finally:
        with contextlib.suppress(Exception):
            await session.hang_up_ours()
        await ami.close()
