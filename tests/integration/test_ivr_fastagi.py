"""Our FastAGI server and the simulated Asterisk side, over real TCP.

The first tests replay capture 08 command by command against ``sim/agi.py`` and compare the
bytes it answers with what Asterisk 22 answered. The others drive ``ivr/agi.py`` through each
failure mode that made panoramisk 1.4's fast_agi unfit (see ivr/agi.py), one test each.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from contact_center.ivr.agi import AgiCommandError, AgiHangup, FastAgiServer, read_environment
from contact_center.ivr.session import AgiSession
from contact_center.sim.agi import (
    AgiEnvironment,
    HangUp,
    Press,
    ScriptedCaller,
    Silence,
    Step,
    run_fastagi,
)
from tests.conftest import FIXTURES, wait_for


def capture_sessions() -> dict[str, dict[str, Any]]:
    """Per AGI connection of capture 08: the env bytes and (command, reply bytes) pairs."""
    sessions: dict[str, dict[str, Any]] = {}
    for raw in (FIXTURES / "08-fastagi.jsonl").read_text().splitlines():
        rec = json.loads(raw)
        if rec.get("proto") != "agi" or "dir" not in rec:
            continue
        s = sessions.setdefault(rec["conn"], {"env": "", "pairs": []})
        if rec["dir"] == "out":
            s["pairs"].append([rec["data"].rstrip("\n"), ""])
        elif s["pairs"]:
            s["pairs"][-1][1] += rec["data"]
        else:
            s["env"] += rec["data"]
    return sessions


CAPTURE = capture_sessions()
ENDPOS = re.compile(r"endpos=\d+")


def _missing(name: str) -> bool:
    return name == "no-such-prompt"


SESSIONS: dict[str, tuple[list[str], AgiEnvironment, list[Step]]] = {
    "agi-1": (
        ["main", "4951110003"],
        AgiEnvironment(),
        [Press("1", barge_in=True), Press("42#"), Press("7"), Silence()],
    ),
    "agi-2": (
        ["main", "4951110003"],
        AgiEnvironment(
            channel="Local/4951110003@inbound-0000001b;2",
            uniqueid="1795344661.111",
            threadid="140070344464064",
        ),
        [Press("1", barge_in=True), HangUp(while_listening=True)],
    ),
    "agi-3": (
        ["4951110005"],
        AgiEnvironment(
            channel="Local/4951110005@inbound-0000001c;2",
            uniqueid="1795344669.115",
            extension="4951110005",
            priority="4",
        ),
        [Press("1")],
    ),
}


@pytest.mark.parametrize("conn", sorted(SESSIONS))
async def test_sim_client_answers_like_asterisk_in_capture_08(conn: str) -> None:
    args, env, steps = SESSIONS[conn]
    captured = CAPTURE[conn]
    script = "ivr-route" if conn == "agi-3" else "ivr"
    got_env: list[bytes] = []
    got_pairs: list[tuple[str, str]] = []
    done = asyncio.Event()

    async def asterisk_script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # Plays the capture's side of the FastAGI script, reading exactly as many reply bytes
        # as Asterisk sent, so any extra or missing byte shows up as a mismatch.
        got_env.append(await reader.readuntil(b"\n\n"))
        for command, reply in captured["pairs"]:
            writer.write(command.encode() + b"\n")
            await writer.drain()
            got = b""
            while ENDPOS.sub("endpos=N", got.decode()) != ENDPOS.sub("endpos=N", reply):
                if len(got) > len(reply) + 20:
                    break
                got += await reader.read(1)
            got_pairs.append((command, got.decode()))
        writer.close()
        done.set()

    server = await asyncio.start_server(asterisk_script, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        result = await run_fastagi(
            f"agi://127.0.0.1:{port}/{script}",
            args,
            env=env,
            caller=ScriptedCaller(steps),
            variables={"CC_DID": "4951110003"},
            missing_prompts=_missing,
            timeout=10,
        )
        await asyncio.wait_for(done.wait(), 10)
    finally:
        server.close()
        await server.wait_closed()
    # Only the port differs: the capture's server listened on 4573, ours on a free port.
    assert captured["env"].replace(":4573/", f":{port}/").encode() == got_env[0]
    expected = [(c, ENDPOS.sub("endpos=N", r)) for c, r in captured["pairs"]]
    assert expected == [(c, ENDPOS.sub("endpos=N", r)) for c, r in got_pairs]
    assert ("HANGUP" if conn != "agi-3" else "SUCCESS") == result.status


# --- our server ------------------------------------------------------------------------------


@pytest.fixture
async def agi_server() -> AsyncIterator[Callable[..., Any]]:
    servers: list[FastAgiServer] = []

    async def start(handler: Any, **kw: Any) -> FastAgiServer:
        server = FastAgiServer(handler, host="127.0.0.1", port=0, **kw)
        await server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        await server.close()


def url(server: FastAgiServer, script: str = "ivr") -> str:
    return f"agi://127.0.0.1:{server.port}/{script}"


async def test_peer_closing_before_blank_line_is_dropped_and_others_are_served(
    agi_server: Callable[..., Any],
) -> None:
    calls: list[str] = []

    async def handler(session: AgiSession) -> None:
        calls.append(session.request.uniqueid)
        await session.answer()

    server = await agi_server(handler)
    _reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(b"agi_network: yes\nagi_network_script: ivr\nagi_uniqueid: 1.1\n")
    await writer.drain()
    writer.close()
    await wait_for(lambda: server.stats.bad_environments == 1, timeout=2)
    result = await run_fastagi(url(server), env=AgiEnvironment(uniqueid="2.2"), timeout=2)
    assert ["2.2"] == calls
    assert ["ANSWER"] == result.commands()
    await wait_for(lambda: server.active_sessions == 0, timeout=2)


async def test_520_usage_block_keeps_replies_in_step(agi_server: Callable[..., Any]) -> None:
    seen: list[Any] = []

    async def handler(session: AgiSession) -> None:
        try:
            await session.command("STREAM FILE")
        except AgiCommandError as exc:
            seen.append(exc.reply.code)
            seen.append(exc.reply.usage.splitlines()[0][:30])
        seen.append(await session.get_variable("CC_DID"))
        seen.append(await session.stream_file("beep"))

    server = await agi_server(handler)
    await run_fastagi(url(server), variables={"CC_DID": "4951110003"}, timeout=5)
    assert [520, "Send the given file, allowing ", "4951110003", ""] == seen


async def test_unsolicited_hangup_line_keeps_replies_in_step(
    agi_server: Callable[..., Any],
) -> None:
    seen: list[Any] = []

    async def handler(session: AgiSession) -> None:
        try:
            await session.get_data("demo-enterkeywords", 8000, 4)
        except AgiHangup:
            seen.append("hangup")
        # Asterisk writes "HANGUP" before this reply; the value must still be this command's.
        await session.set_variable("IVR_CHOICE", "2")
        seen.append(await session.get_variable("IVR_CHOICE"))
        seen.append(session.hung_up)
        reply = await session.conn.command('STREAM FILE beep ""')
        seen.append(reply.code)

    server = await agi_server(handler)
    result = await run_fastagi(url(server), caller=ScriptedCaller([HangUp()]), timeout=5)
    assert ["hangup", "2", True, 511] == seen
    assert "HANGUP" == result.status


async def test_sync_handler_runs_and_session_ends(agi_server: Callable[..., Any]) -> None:
    scripts: list[str] = []

    def handler(session: AgiSession) -> None:  # a plain function, not a coroutine
        scripts.append(session.request.script)

    server = await agi_server(handler)
    result = await run_fastagi(url(server, "sync-route"), timeout=5)
    assert ["sync-route"] == scripts
    assert "SUCCESS" == result.status
    assert [] == result.commands()


async def test_session_time_limit_closes_a_stuck_handler(agi_server: Callable[..., Any]) -> None:
    async def handler(session: AgiSession) -> None:
        await session.answer()
        await asyncio.Event().wait()

    server = await agi_server(handler, session_timeout=0.3)
    result = await run_fastagi(url(server), timeout=5)
    assert ["ANSWER"] == result.commands()
    assert 1 == server.stats.sessions_failed


async def test_command_time_limit_when_pbx_never_answers(agi_server: Callable[..., Any]) -> None:
    async def handler(session: AgiSession) -> None:
        await session.answer()

    server = await agi_server(handler, command_timeout=0.2)
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(b"agi_network: yes\nagi_uniqueid: 9.9\n\n")
    await writer.drain()
    assert b"ANSWER\n" == await reader.readline()
    assert b"" == await asyncio.wait_for(reader.read(), 5)  # closed by the server
    writer.close()
    assert 1 == server.stats.sessions_failed


async def test_environment_parser_reads_split_segments() -> None:
    reader = asyncio.StreamReader()
    env_text = CAPTURE["agi-1"]["env"]
    half = len(env_text) // 3
    reader.feed_data(env_text[:half].encode())
    reader.feed_data(env_text[half:].encode() + b"ANSWER\n")
    env = await read_environment(reader)
    assert "main" == env["agi_arg_1"]
    assert "" == env["agi_accountcode"]
    assert b"ANSWER\n" == await reader.readline()
