"""The dial plan's AGI() step over real FastAGI (sim/agi.py's client) against a tiny server."""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from contact_center.sim.agi import (
    AgiClientError,
    AgiEnvironment,
    AsteriskAgi,
    FastAgiStep,
    ScriptedCaller,
    run_fastagi,
    serve_session,
)
from contact_center.sim.config import Operator
from contact_center.sim.pbx import SimPbx
from contact_center.testing import EventLog, sim_config

SALES = Operator("Local/103@agents", "Operator 103", answer_after=0.5)


class RouteScript:
    """A FastAGI server playing capture 08's ``ivr-route``: ask a digit, store it."""

    def __init__(self) -> None:
        self.environments: list[dict[str, str]] = []
        self.replies: list[str] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        env: dict[str, str] = {}
        while (line := (await reader.readline()).decode().rstrip("\n")) != "":
            key, _, value = line.partition(": ")
            env[key] = value
        self.environments.append(env)
        for command in ("GET DATA hello-world 5000 1", "SET VARIABLE IVR_CHOICE {digit}"):
            digit = self.replies[-1].split("=", 1)[1] if self.replies else ""
            writer.write((command.format(digit=digit) + "\n").encode())
            self.replies.append((await reader.readline()).decode().strip())
        writer.close()


@pytest.fixture
async def script() -> AsyncIterator[tuple[RouteScript, int]]:
    route = RouteScript()
    server = await asyncio.start_server(route.handle, "127.0.0.1", 0)
    yield route, server.sockets[0].getsockname()[1]
    server.close()


async def test_agi_step_speaks_fastagi_and_routes_by_the_digit(
    script: tuple[RouteScript, int], tmp_path: Path
) -> None:
    route, port = script
    config = sim_config(tmp_path, operators=[SALES], agi_port=port)
    async with SimPbx(config, agi=FastAgiStep(timeout=10)) as pbx:
        log = EventLog(pbx)
        pbx.queues.add_member("sales", SALES.interface, SALES.name)
        call = await pbx.place_call("4951110005", "+74951234567", "Ivan Petrov")
        await log.wait("AGIExecStart", Command="GET DATA hello-world 5000 1")

        await pbx.send_dtmf(call.phone, "1")
        join = await log.wait("QueueCallerJoin")

    assert "sales" == join.get("Queue")
    assert ["200 result=1", "200 result=1"] == route.replies
    (env,) = route.environments
    assert (call.channel, "ivr-route", "4951110005") == (
        env["agi_channel"], env["agi_network_script"], env["agi_arg_1"]
    )  # fmt: skip
    assert "SUCCESS" == log.named("VarSet", Variable="AGISTATUS")[0].get("Value")


async def _env_then(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while (await reader.readline()).strip():
        pass
    writer.write(b"ANSWER\n")
    await reader.readline()


async def test_agistatus_is_failure_when_nobody_listens() -> None:
    """res_agi's launch_netscript: no FastAGI server to connect to is AGISTATUS FAILURE."""
    server = await asyncio.start_server(_env_then, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()  # the port is free again: connecting is refused

    with pytest.raises(AgiClientError):
        await run_fastagi(f"agi://127.0.0.1:{port}/main", ["4951110003"], timeout=5)
    agi = AsteriskAgi(ScriptedCaller(), AgiEnvironment())
    with pytest.raises(AgiClientError):
        await serve_session(f"agi://127.0.0.1:{port}/main", [], agi, timeout=5)
    assert "FAILURE" == agi.result.status


@pytest.mark.parametrize("reset", [False, True], ids=["closed", "reset"])
async def test_a_server_that_goes_away_mid_script_ends_it_with_success(reset: bool) -> None:
    """res_agi's run_agi: once connected, the server closing the connection — or resetting
    it, its process killed — is the script's end ("AGI Script … completed"): SUCCESS, not
    FAILURE. The dial plan tells it from a decision by the variables the script left."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _env_then(reader, writer)
        if reset:  # SO_LINGER 0: close() sends RST
            sock = writer.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()
        else:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        result = await run_fastagi(f"agi://127.0.0.1:{port}/main", ["4951110003"], timeout=5)
    finally:
        server.close()

    assert ("SUCCESS", ["ANSWER"]) == (result.status, result.commands())
    assert reset == result.reset
