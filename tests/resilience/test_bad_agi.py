"""FastAGI abuse against the IVR server: FastAGI has no authentication, so anything on the
PBX network can connect and send anything. Each abuse is refused on its own; a real call
(the simulator's AGI client, as Asterisk) right after it is served normally."""

from __future__ import annotations

import asyncio
import resource
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from contact_center.calls import events as ev
from contact_center.config import AgiSettings
from contact_center.ivr.service import IvrService
from contact_center.sim.agi import HangUp, Press, ScriptedCaller, run_fastagi
from tests.conftest import wait_for

ROOT = Path(__file__).resolve().parents[2]
ENV_TIMEOUT = 0.5


@pytest.fixture
async def ivr() -> AsyncIterator[tuple[IvrService, list[ev.DomainEvent]]]:
    got: list[ev.DomainEvent] = []

    async def sink(event: ev.DomainEvent) -> None:
        got.append(event)

    settings = AgiSettings(
        port=0, menus_dir=str(ROOT / "ivr_menus"), session_timeout=5.0, command_timeout=2.0
    )
    service = IvrService(settings, sink=sink)
    service.server.env_timeout = ENV_TIMEOUT  # the default 5 s, shortened for the test
    async with service:
        yield service, got


def env_block(script: str, port: int) -> bytes:
    lines = [
        "agi_network: yes",
        f"agi_network_script: {script}",
        f"agi_request: agi://127.0.0.1:{port}/{script}",
        "agi_channel: Local/4951110003@inbound-0000001a;2",
        "agi_uniqueid: 1795344647.107",
        "agi_callerid: +74951234567",
        "agi_calleridname: Ivan",
        "agi_context: inbound",
        "agi_extension: 4951110003",
    ]
    return ("\n".join(lines) + "\n\n").encode()


async def closed_by_server(reader: asyncio.StreamReader, timeout: float) -> float:
    """Seconds until the server closes the connection (reads and drops what it sends)."""
    started = time.monotonic()
    async with asyncio.timeout(timeout):
        try:
            while await reader.read(65536):
                pass
        except ConnectionError:
            pass
    return time.monotonic() - started


async def a_real_call_is_served(service: IvrService) -> None:
    url = f"agi://127.0.0.1:{service.port}/main"
    caller = ScriptedCaller([Press("1", barge_in=True), HangUp()])
    result = await run_fastagi(url, ["main", "4951110003"], caller=caller, timeout=10)
    assert result.commands(), "the IVR sent no command to a well-formed call"


async def test_disconnect_mid_header_is_dropped_and_the_next_call_served(
    ivr: tuple[IvrService, list[ev.DomainEvent]],
) -> None:
    """Property: a peer that closes in the middle of the agi_* block is dropped at once (no
    busy loop, no handler run), and the next call is served."""
    service, _ = ivr
    before = service.server.stats.bad_environments
    _reader, writer = await asyncio.open_connection("127.0.0.1", service.port)
    writer.write(env_block("main", service.port)[:60])
    await writer.drain()
    writer.close()
    await wait_for(lambda: service.server.stats.bad_environments == before + 1, timeout=2)
    await wait_for(lambda: service.server.active_sessions == 0, timeout=2)
    await a_real_call_is_served(service)


async def test_ten_megabyte_header_is_refused_without_buffering_it(
    ivr: tuple[IvrService, list[ev.DomainEvent]],
) -> None:
    """Property: a 10 MB header line is refused after the line limit (8 KiB), the server
    closes the connection, its memory does not grow by the 10 MB, and the next call is
    served."""
    service, _ = ivr
    before = service.server.stats.bad_environments
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    reader, writer = await asyncio.open_connection("127.0.0.1", service.port)
    chunk = b"A" * 65536
    sent = 0
    with pytest.raises(ConnectionError):
        writer.write(b"agi_network_script: ")
        while sent < 10 * 1024 * 1024:  # one 10 MB line, sent as a stream
            writer.write(chunk)
            await writer.drain()
            sent += len(chunk)
            await asyncio.sleep(0)
        await closed_by_server(reader, 5)
        raise ConnectionResetError("closed after the whole line")
    writer.transport.abort()
    await wait_for(lambda: service.server.stats.bad_environments == before + 1, timeout=2)
    grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before
    assert sent < 10 * 1024 * 1024, "the server read the whole 10 MB line"
    assert grown_kib < 4 * 1024, f"peak RSS grew by {grown_kib} KiB"
    print(f"\n10 MB AGI header: refused after {sent // 1024} KiB; peak RSS +{grown_kib} KiB")
    await a_real_call_is_served(service)


async def test_unknown_script_gets_the_default_menu_or_a_clean_end(
    ivr: tuple[IvrService, list[ev.DomainEvent]],
) -> None:
    """Property: an AGI request for a script we do not have neither crashes the server nor
    leaves the call hanging: it ends within the session limit and the next call is served."""
    service, _ = ivr
    url = f"agi://127.0.0.1:{service.port}/no-such-script"
    caller = ScriptedCaller([HangUp()])
    result = await run_fastagi(url, ["../../etc/passwd"], caller=caller, timeout=10)
    assert result.status in ("SUCCESS", "HANGUP", "FAILURE")
    await wait_for(lambda: service.server.active_sessions == 0, timeout=5)
    await a_real_call_is_served(service)


async def test_slow_client_is_cut_after_the_environment_timeout(
    ivr: tuple[IvrService, list[ev.DomainEvent]],
) -> None:
    """Property: a client that trickles its agi_* block a byte at a time cannot hold a
    session open: it is closed after the environment timeout, and others are served
    meanwhile."""
    service, _ = ivr
    before = service.server.stats.bad_environments
    reader, writer = await asyncio.open_connection("127.0.0.1", service.port)

    async def trickle() -> None:
        for byte in env_block("main", service.port):
            writer.write(bytes([byte]))
            await asyncio.sleep(0.05)

    trickling = asyncio.create_task(trickle())
    try:
        await a_real_call_is_served(service)  # served while the slow one trickles
        took = await closed_by_server(reader, 5 * ENV_TIMEOUT + 2)
    finally:
        trickling.cancel()
        writer.transport.abort()
    assert before + 1 == service.server.stats.bad_environments
    assert took <= 5 * ENV_TIMEOUT
