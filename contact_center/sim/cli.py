"""``contact-center sim-pbx`` (a fake Asterisk) and ``contact-center simulate`` (load)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import signal
import sys
from dataclasses import replace
from pathlib import Path

from contact_center import aio
from contact_center.config import Settings, load_settings
from contact_center.sim.config import ALL_CLASSES, DEFAULT_USERS, RIG_OPERATORS, SimConfig, User
from contact_center.sim.errors import ScenarioError
from contact_center.sim.load import AmiTransport, LoadProfile, LoadRunner

log = logging.getLogger(__name__)


def add_arguments_cmd_sim_pbx(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default=None, help="AMI address (default: [ami] host)")
    parser.add_argument("--port", type=int, default=None, help="AMI port (default: [ami] port)")
    parser.add_argument("--agi-host", default=None, help="FastAGI server (default: [agi] host)")
    parser.add_argument("--agi-port", type=int, default=None)
    parser.add_argument(
        "--scripted-agi",
        action="store_true",
        help="answer AGI() steps with the built-in stand-in instead of a FastAGI server",
    )
    parser.add_argument("--scenario", type=Path, help="scenario YAML file to play")
    parser.add_argument("--calls-per-second", type=float, default=0.0, help="random load")
    parser.add_argument("--load-duration", type=float, default=60.0)
    parser.add_argument(
        "--record", type=Path, help="write the AMI traffic as a jsonl-v1 transcript"
    )
    parser.add_argument("--spool-dir", default=None, help="MixMonitor files")
    parser.add_argument("--queue-log", default=None, help="queue_log file")
    parser.add_argument("--cdr-csv", default=None, help="cdr_csv Master.csv")
    parser.add_argument("--time-scale", type=float, default=1.0)
    parser.add_argument(
        "--dialplan",
        default="rig",
        help="rig (the capture rig's extensions.conf), shipped (deploy/asterisk) or a path",
    )
    parser.add_argument(
        "--run-for", type=float, default=0.0, help="stop after N seconds (0: until Ctrl-C)"
    )


def sim_config_from(args: argparse.Namespace, settings: Settings) -> SimConfig:
    """The simulator's config: our own AMI account (from [ami]) plus the rig's users."""
    users: tuple[User, ...] = DEFAULT_USERS
    if settings.ami.secret:
        ours = User(settings.ami.username, settings.ami.secret, ALL_CLASSES, ALL_CLASSES)
        users = (ours, *(u for u in users if u.username != ours.username))
    return replace(
        SimConfig(),
        host=args.host or settings.ami.host,
        port=settings.ami.port if args.port is None else args.port,
        users=users,
        operators=RIG_OPERATORS,
        agi_host=args.agi_host or settings.agi.host,
        agi_port=args.agi_port or settings.agi.port,
        spool_dir=args.spool_dir if args.spool_dir is not None else settings.recording.spool_dir,
        queue_log_path=args.queue_log
        if args.queue_log is not None
        else settings.ami.queue_log_path,
        cdr_csv_path=args.cdr_csv if args.cdr_csv is not None else settings.ami.cdr_csv_path,
        time_scale=args.time_scale,
        dialplan=getattr(args, "dialplan", "rig"),
    )


def cmd_sim_pbx(args: argparse.Namespace) -> int:
    """Run the Asterisk simulator standalone."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    settings = load_settings(getattr(args, "config", None))
    try:
        return asyncio.run(_sim_pbx(args, settings))
    except ScenarioError as exc:
        print(f"sim-pbx: {exc}", file=sys.stderr)
        return 2


async def _sim_pbx(args: argparse.Namespace, settings: Settings) -> int:
    from contact_center.sim.pbx import SimPbx
    from contact_center.sim.scenario import load_scenario, run_scenario
    from contact_center.sim.transcript import TranscriptWriter

    scenario = load_scenario(args.scenario) if args.scenario else None
    agi = None
    if not args.scripted_agi:
        from contact_center.sim.agi import FastAgiStep

        agi = FastAgiStep()
    pbx = SimPbx(sim_config_from(args, settings), agi=agi)
    if args.record:
        name = scenario.name if scenario else "sim-pbx"
        pbx.recorder = TranscriptWriter(args.record, name, "recorded by contact-center sim-pbx")
    await pbx.start()
    print(f"sim-pbx: AMI on {pbx.host}:{pbx.port}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    work: list[asyncio.Task[object]] = []
    if scenario is not None:
        work.append(asyncio.create_task(run_scenario(pbx, scenario)))
    if args.calls_per_second > 0:
        from contact_center.sim.load import run_load

        profile = LoadProfile(calls_per_second=args.calls_per_second, duration=args.load_duration)
        work.append(asyncio.create_task(run_load(pbx, profile)))
    try:
        if args.run_for > 0:
            with contextlib.suppress(TimeoutError):
                await aio.wait_for(stop.wait(), args.run_for)
        else:
            await stop.wait()
    finally:
        for task in work:
            task.cancel()
        await asyncio.gather(*work, return_exceptions=True)
        await pbx.stop()
        if pbx.recorder is not None:
            pbx.recorder.close()
    return 0


def add_arguments_cmd_simulate(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--calls-per-second", type=float, default=1.0)
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of new calls")
    parser.add_argument("--max-concurrent", type=int, default=1000)
    parser.add_argument("--talk-mean", type=float, default=30.0)
    parser.add_argument("--abandon-share", type=float, default=0.1)
    parser.add_argument("--patience-mean", type=float, default=20.0)
    parser.add_argument("--max-wait", type=float, default=120.0, help="nobody waits longer")
    parser.add_argument("--host", default=None, help="AMI of the PBX (default: [ami] host)")
    parser.add_argument("--port", type=int, default=None)
    parser.add_argument("--username", default=None)
    parser.add_argument("--secret", default=None)
    parser.add_argument("--seed", type=int, default=None)


def cmd_simulate(args: argparse.Namespace) -> int:
    """Place calls through the PBX the running service watches; print what happened."""
    settings = load_settings(getattr(args, "config", None))
    profile = LoadProfile(
        calls_per_second=args.calls_per_second,
        duration=args.duration,
        max_concurrent=args.max_concurrent,
        talk_mean=args.talk_mean,
        talk_sd=args.talk_mean / 3,
        abandon_share=args.abandon_share,
        patience_mean=args.patience_mean,
        max_wait=args.max_wait,
        seed=args.seed,
    )
    transport = AmiTransport(
        args.host or settings.ami.host,
        settings.ami.port if args.port is None else args.port,
        args.username or settings.ami.username,
        args.secret if args.secret is not None else settings.ami.secret,
    )
    try:
        report = asyncio.run(_simulate(profile, transport))
    except (ConnectionError, OSError, TimeoutError) as exc:
        print(f"simulate: cannot drive the PBX: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(report, indent=2))
    return 0


async def _simulate(profile: LoadProfile, transport: AmiTransport) -> dict[str, object]:
    runner = LoadRunner(profile, transport)
    transport.on_event = runner.on_event
    await transport.connect()
    try:
        report = await runner.run()
    finally:
        await transport.close()
    return report.to_dict()
