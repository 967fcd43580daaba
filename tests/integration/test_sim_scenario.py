"""Scenario files, the load generator (in-process and over AMI) and the sim-pbx command."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
from pathlib import Path

import pytest

from contact_center.sim.errors import ScenarioError
from contact_center.sim.load import AmiTransport, LoadProfile, LoadRunner, run_load
from contact_center.sim.scenario import load_scenario, run_scenario
from contact_center.sim.transcript import check_formats, incoming_messages, read_records
from contact_center.testing import AmiClient, EventLog, running_pbx
from tests.conftest import wait_for

SCENARIO = """
name: two-callers
description: one caller is answered, one gives up
operators:
  - {interface: Local/101@agents, name: Operator 101, answer_after: 1}
members:
  - {queue: support, interface: Local/101@agents, name: Operator 101}
calls:
  - {at: 0, did: "4951110001", caller: "+74951234567", name: Ivan Petrov, dtmf: "2", talk: 10}
  - {at: 3, did: "4951110004", caller: "+74997654321", talk: 2}
steps:
  - {at: 20, action: remove, queue: support, interface: Local/101@agents}
"""


async def test_scenario_file_plays_calls_and_steps(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(SCENARIO)
    scenario = load_scenario(path)

    async with running_pbx(tmp_path, operators=[]) as pbx:
        await run_scenario(pbx, scenario)
        await wait_for(lambda: not pbx.channels, timeout=10)

    events = [line.split("|")[4] for line in (tmp_path / "queue_log").read_text().splitlines()]
    assert ["ADDMEMBER", "ENTERQUEUE", "CONNECT", "ENTERQUEUE", "ABANDON", "COMPLETECALLER",
            "REMOVEMEMBER"] == events  # fmt: skip


def test_scenario_errors_name_the_file_and_entry(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("steps:\n  - {at: 1, action: dance, interface: Local/101@agents}\n")

    with pytest.raises(ScenarioError) as err:
        load_scenario(path)

    assert f"{path}: steps[1]" in str(err.value)
    assert "dance" in str(err.value)


async def test_in_process_load_accounts_for_every_call(tmp_path: Path) -> None:
    profile = LoadProfile(calls_per_second=4, duration=5, talk_mean=2, talk_sd=0.5,
                          abandon_share=0.3, patience_mean=1, max_wait=20, seed=3)  # fmt: skip
    async with running_pbx(None) as pbx:
        for op in ("Local/101@agents", "Local/103@agents"):
            for queue in ("support", "sales"):
                pbx.queues.add_member(queue, op, op)
        report = await run_load(pbx, profile)

    assert report.placed >= 10
    assert report.placed == report.answered + report.abandoned + report.ended_by_pbx
    assert report.answered > 0 and report.abandoned > 0


async def test_load_over_ami_against_the_simulator() -> None:
    profile = LoadProfile(calls_per_second=20, duration=0.5, talk_mean=0.5, talk_sd=0,
                          abandon_share=0, max_wait=10, dids={"4951110004": 1.0},
                          seed=1)  # fmt: skip
    async with running_pbx(None, time_scale=1.0, default_ring=0.05) as pbx:
        for n in range(16):  # enough operators for everyone: nobody waits long
            # the rig's [agents] is _1XX: operators 100-115
            pbx.queues.add_member("support", f"Local/{100 + n}@agents", f"Operator {100 + n}")
        log = EventLog(pbx)
        transport = AmiTransport(pbx.host, pbx.port, "cc", "cc-test-secret")
        runner = LoadRunner(profile, transport)
        transport.on_event = runner.on_event
        await transport.connect()
        report = await runner.run()
        await transport.close()

    assert report.placed == report.answered
    assert report.placed == len(log.named("AgentConnect"))
    assert report.events > 20 * report.placed  # the whole firehose came over TCP


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_sim_pbx_command_records_a_jsonl_transcript(tmp_path: Path) -> None:
    port = free_port()
    transcript = tmp_path / "rec.jsonl"
    env = dict(os.environ, CC_AMI_SECRET="pw", CC_AMI_USERNAME="cc")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "contact_center.cli", "sim-pbx", "--port", str(port),
        "--scripted-agi", "--record", str(transcript), "--spool-dir", str(tmp_path / "mon"),
        "--queue-log", "", "--cdr-csv", "", "--time-scale", "0.05", "--run-for", "30",
        env=env, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        assert (
            f"sim-pbx: AMI on 127.0.0.1:{port}" == (await proc.stdout.readline()).decode().strip()
        )
        ami = await AmiClient.connect("127.0.0.1", port)
        await ami.login("cc", "pw")
        await ami.action("Originate", Channel="Local/4951110004@inbound", Context="callersim",
                         Exten="s", Priority="1", CallerID='"Ivan" <+74951234567>', Async="true",
                         Variable="TALK=1")  # fmt: skip
        await ami.wait_event("QueueCallerAbandon")
        await ami.action("Logoff")
        await ami.close()
    finally:
        proc.terminate()
        await proc.wait()

    records = read_records(transcript)
    assert {"kind": "meta", "scenario": "sim-pbx", "format": "jsonl-v1"}.items() <= records[
        0
    ].data.items()
    (stream,) = incoming_messages(records).values()
    assert "QueueCallerAbandon" in {dict(m).get("Event") for m in stream}
    assert [] == check_formats(stream)
    assert json.loads(transcript.read_text().splitlines()[-1])["event"] == "close"


def test_bundled_scenarios_are_valid() -> None:
    folder = Path(__file__).resolve().parents[2] / "contact_center" / "sim" / "scenarios"

    scenarios = [load_scenario(path) for path in sorted(folder.glob("*.yaml"))]

    assert ["demo"] == [s.name for s in scenarios]
    assert scenarios[0].load is not None and scenarios[0].load.calls_per_second > 0
