"""Simulator under load: N concurrent calls arriving at R calls/s, CPU and events/s.

The simulator runs as its own process (``contact-center sim-pbx``), exactly as in the demo;
this process is the AMI client, as our service would be: it logs in, receives the full event
firehose over TCP, and drives callers with ``Originate``/``PlayDTMF``/``Hangup`` (the load
generator of ``contact-center simulate``). Callers arrive for ``concurrent / rate`` seconds and
stay on the line, so the number of live calls climbs to ``concurrent``; 200 operators answer
after 1 s. Same run baseline: a light phase (2 calls/s) first; the ratio compares the
simulator's CPU cost per event under load with the light phase.

    .venv/bin/python -m bench.bench_sim [--concurrent 1000] [--rate 25]

Default: 400 concurrent at 25 calls/s (about 40 s in all); --concurrent 1000 is the full size.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from contact_center.sim.load import AmiTransport, LoadProfile, LoadRunner

SECRET = "bench-secret"
OPERATORS = 200


# the rig's dial plan with [agents] _XXXX: operators Local/2000@agents … answer
BENCH_DIALPLAN = Path(__file__).resolve().parent / "asterisk" / "extensions.conf"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, from /proc."""
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def wait_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.05)


async def phase(
    port: int, pid: int, rate: float, seconds: float, settle: float = 2.0
) -> dict[str, Any]:
    """Callers arrive at ``rate`` for ``seconds`` and hold; measure, then hang everyone up."""
    transport = AmiTransport("127.0.0.1", port, "cc", SECRET)
    profile = LoadProfile(
        calls_per_second=rate,
        duration=seconds,
        max_concurrent=100_000,
        talk_mean=3600,
        talk_sd=0,
        abandon_share=0.0,
        max_wait=3600,
        poisson=False,
        seed=7,
    )
    runner = LoadRunner(profile, transport)
    transport.on_event = runner.on_event
    await transport.connect()
    cpu0, t0, ev0 = cpu_seconds(pid), time.monotonic(), runner.report.events
    task = asyncio.create_task(runner.run())
    await asyncio.sleep(seconds + settle)
    cpu1, t1, ev1 = cpu_seconds(pid), time.monotonic(), runner.report.events
    live = runner.active
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    # end every call the phase left behind, so the next phase starts clean
    await transport.action("Hangup", Channel="/^Local\\/495111000.@inbound-.*;1$/")
    await asyncio.sleep(settle)
    await transport.close()
    elapsed = t1 - t0
    events = ev1 - ev0
    cpu = cpu1 - cpu0
    return {
        "rate": rate,
        "seconds": round(elapsed, 2),
        "calls_placed": runner.report.placed,
        "live_calls_at_end": live,
        "answered": runner.report.answered,
        "events": events,
        "events_per_second": round(events / elapsed, 1),
        "sim_cpu_percent": round(100 * cpu / elapsed, 1),
        "sim_cpu_ms_per_1000_events": round(1000 * 1000 * cpu / max(events, 1), 2),
    }


async def run(concurrent: int, rate: float) -> dict[str, Any]:
    port = free_port()
    env = dict(os.environ, CC_AMI_SECRET=SECRET, CC_AMI_USERNAME="cc")
    with tempfile.TemporaryDirectory() as tmp:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "contact_center.cli", "sim-pbx", "--port", str(port),
            "--scripted-agi", "--spool-dir", "", "--queue-log", f"{tmp}/queue_log",
            "--cdr-csv", f"{tmp}/Master.csv", "--dialplan", str(BENCH_DIALPLAN),
            env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        try:
            await wait_port(port)
            admin = AmiTransport("127.0.0.1", port, "cc", SECRET)
            await admin.connect()
            for n in range(OPERATORS):
                interface, name = f"Local/{2000 + n}@agents", f"Operator {2000 + n}"
                for queue in ("support", "sales"):
                    await admin.action(
                        "QueueAdd", Queue=queue, Interface=interface, MemberName=name
                    )
            await admin.close()
            baseline = await phase(port, proc.pid, 2.0, 5.0)
            loaded = await phase(port, proc.pid, rate, concurrent / rate)
        finally:
            proc.terminate()
            await proc.wait()
    ratio = loaded["sim_cpu_ms_per_1000_events"] / max(baseline["sim_cpu_ms_per_1000_events"], 1e-9)
    return {
        "concurrent_target": concurrent,
        "rate": rate,
        "operators": OPERATORS,
        "baseline": baseline,
        "loaded": loaded,
        "cpu_per_event_ratio_loaded_vs_baseline": round(ratio, 2),
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrent", type=int, default=400)
    parser.add_argument("--rate", type=float, default=25.0)
    args = parser.parse_args(argv)
    result = asyncio.run(run(args.concurrent, args.rate))
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
