"""IVR over FastAGI under load: N concurrent calls through the shipped bank menu.

Measured on the Asterisk side (``sim/agi.py``): a command's round trip is the time from
writing the reply to the previous command until the next command arrives — what the server
needs to parse a reply, run the menu step, emit its events and send the next command.

Baseline in the same run: a bare AGI "echo" server on plain asyncio streams that reads the
environment and sends the same number of ``NOOP`` commands, one per reply, with no parsing,
no menu and no events — the floor for any FastAGI server in this event loop. Both servers
and all callers share one event loop, so the ratio is what matters, not the absolute figure.

    .venv/bin/python -m bench.bench_ivr [--sessions 500] [--rounds 1]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from contact_center.calls.events import DomainEvent
from contact_center.ivr.agi import FastAgiServer
from contact_center.ivr.menus import MenuLibrary
from contact_center.ivr.runner import IvrRunner
from contact_center.sim.agi import (
    AgiEnvironment,
    AsteriskAgi,
    Press,
    ScriptedCaller,
    serve_session,
)
from contact_center.testing import silent_prompts

MENUS = Path(__file__).resolve().parents[1] / "ivr_menus"
STEPS = [Press("2"), Press("0")]  # Russian, then the operator: announce + queue hand-off


class TimedAgi(AsteriskAgi):
    """Records when each command arrived and when its reply was ready."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.round_trips: list[float] = []
        self._replied_at: float | None = None

    async def reply_to(self, line: str) -> str:
        arrived = time.perf_counter()
        if self._replied_at is not None:
            self.round_trips.append(arrived - self._replied_at)
        reply = await super().reply_to(line)
        self._replied_at = time.perf_counter()
        return reply


def _menus_with_stand_in_prompts(directory: Path) -> Path:
    for path in MENUS.glob("*.yaml"):
        shutil.copy(path, directory / path.name)
    silent_prompts(directory)
    return directory


def _echo_server(
    commands: int,
) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\n\n")
        for _ in range(commands):
            writer.write(b"NOOP\n")
            await reader.readline()
        writer.close()

    return handle


async def _calls(port: int, sessions: int) -> tuple[list[float], float, int]:
    """Round trips of all calls, wall time, and calls that did not end in SUCCESS."""

    async def one(i: int) -> tuple[list[float], str]:
        agi = TimedAgi(
            ScriptedCaller(STEPS),
            AgiEnvironment(uniqueid=f"1795344647.{i}"),
            linkedid=f"1795344647.{i}",
        )
        result = await serve_session(f"agi://127.0.0.1:{port}/ivr", ["bank"], agi, timeout=120)
        # a reset is SUCCESS for Asterisk (the script ended) but a failed call for the bench
        return agi.round_trips, "RESET" if result.reset else result.status

    started = time.perf_counter()
    results = await asyncio.gather(*(one(i) for i in range(sessions)))
    wall = time.perf_counter() - started
    failed = sum(status != "SUCCESS" for _, status in results)
    return [rt for session, _ in results for rt in session], wall, failed


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


async def run(sessions: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        library = MenuLibrary(_menus_with_stand_in_prompts(Path(tmp)))
        errors = library.reload()
        if errors:
            raise SystemExit("\n".join(str(e) for e in errors))
        events = 0

        async def sink(event: DomainEvent) -> None:
            nonlocal events
            events += 1

        # A Monday at 13:00 in Moscow: the line is open whatever day the bench runs.
        runner = IvrRunner(
            library,
            sink,
            estimate=lambda queue: (3, 150.0),
            now=lambda: datetime(2026, 11, 23, 10, 0, tzinfo=UTC),
        )
        async with FastAgiServer(runner.handle, port=0) as server:
            ivr_rts, ivr_wall, ivr_failed = await _calls(server.port, sessions)
            failed = server.stats.sessions_failed + ivr_failed
        commands_per_call = len(ivr_rts) // sessions + 1
        echo = await asyncio.start_server(
            _echo_server(commands_per_call), "127.0.0.1", 0, backlog=1024
        )
        try:
            echo_rts, echo_wall, echo_failed = await _calls(
                echo.sockets[0].getsockname()[1], sessions
            )
        finally:
            echo.close()
            await echo.wait_closed()
    ivr_p99, echo_p99 = _pct(ivr_rts, 0.99), _pct(echo_rts, 0.99)
    return {
        "sessions": sessions,
        "commands_per_call": commands_per_call,
        "events": events,
        "failed_sessions": failed,
        "echo_failed_sessions": echo_failed,
        "ivr_p50_ms": round(_pct(ivr_rts, 0.50), 3),
        "ivr_p99_ms": round(ivr_p99, 3),
        "ivr_mean_ms": round(statistics.fmean(ivr_rts) * 1000, 3),
        "ivr_wall_s": round(ivr_wall, 3),
        "echo_p50_ms": round(_pct(echo_rts, 0.50), 3),
        "echo_p99_ms": round(echo_p99, 3),
        "echo_wall_s": round(echo_wall, 3),
        "p99_ratio": round(ivr_p99 / echo_p99, 2) if echo_p99 else None,
        "wall_ratio": round(ivr_wall / echo_wall, 2) if echo_wall else None,
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=500)
    args = parser.parse_args(argv)
    figures = asyncio.run(run(args.sessions))
    print(json.dumps(figures, indent=2))
    return figures


if __name__ == "__main__":
    main()
