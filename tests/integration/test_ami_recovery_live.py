"""Capture 27 — the shipped deploy on a real Asterisk 22 with PJSIP phones — played over TCP
to the real connector, with the connection cut and the connector restarted where the live run
had them (notes ``d1_cut`` … ``r5_restart_then_hangup_rights``), some of them with an AMI user
that may not list channels. History and billing (PostgreSQL) must then say, call by call,
what Asterisk's own ``queue_log`` and Master.csv say: outcome, operator, hold and talk within a
second, charged or not, ended when the customer's channel ended, each call closed exactly once
and none left open."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path

import pytest
from sqlalchemy import func, select

from contact_center.ami import connector as connector_module
from contact_center.ami.connector import AmiConnector
from contact_center.ami.parser import Frame
from contact_center.billing.repository import save_plans
from contact_center.billing.service import BillingService
from contact_center.billing.tariffs import load_plans
from contact_center.calls import events as ev
from contact_center.config import AmiSettings
from contact_center.history.writer import HistoryWriter
from contact_center.store import models
from tests.conftest import FIXTURES, wait_for
from tests.integration.ami_capture_pbx import (
    CapturedFrame,
    CapturePbx,
    captured_frames,
    cdr_end,
)
from tests.integration.history_support import Sessions, database
from tests.integration.test_ami_connection import SECRET, FakeAsterisk
from tests.resilience.proxy import FaultProxy

CAPTURE = FIXTURES / "27-live-pjsip-deploy.jsonl"
QUEUE_LOG = FIXTURES / "27-live-pjsip-deploy.queue_log"
MASTER_CSV = FIXTURES / "27-live-pjsip-deploy.cdr.csv"
TARIFFS = Path(__file__).resolve().parents[2] / "tariffs"
TERMINAL = ("COMPLETECALLER", "COMPLETEAGENT", "BLINDTRANSFER", "ATTENDEDTRANSFER")


@dataclass(frozen=True)
class Outage:
    """The connector away during [start, end): ``how`` cut (same process, socket reset) or
    restart (a new process: fresh tracker, the saved offsets on disk); ``lists`` what the AMI
    user may ask at the reconnect: all, status (CoreShowChannels denied), none (both denied)."""

    note: str
    how: str
    lists: str
    start: float
    end: float


# note in capture 27 -> (how, lists, when): "end" = from 5 s into the talk to 5 s after the
# call ended (it ends while we are away); "mid" = 5 s → 10 s into the talk (it ends live).
PLAN = {
    "d1_cut": ("cut", "all", "end"),
    "d1_cut2": ("cut", "status", "end"),
    "d2_restart": ("restart", "all", "end"),
    "r2_connrestart": ("restart", "all", "mid"),
    "r3_connrestart_rights": ("restart", "none", "mid"),
    "r4_restart_then_hangup": ("restart", "all", "end"),
    "r5_restart_then_hangup_rights": ("restart", "none", "end"),
}


@dataclass
class Expected:
    """One call as Asterisk's files tell it."""

    linkedid: str
    ended_at: float  # the end of the customer's (first) channel, Master.csv
    queue_leg: str = ""
    outcome: str = ""  # queue_log, or a Dial() an operator answered; "" for the others
    operator: str = ""  # who took the call: the first CONNECT's member (or of the Dial)
    hold: float | None = None
    talk: float | None = None  # the queue operators' talk: every COMPLETE*/…TRANSFER line
    # a transfer to a person (Dial() after the queue): their talk is in no record, only
    # bounded by that Dial's Master.csv billsec (which includes its ringing)
    dialled_talk_max: float = 0.0
    lines: int = 0


def expected_calls(
    queue_log_text: str, cdr_text: str, interfaces: dict[str, str]
) -> dict[str, Expected]:
    """``interfaces``: queue members' MemberName → interface (queue_log names members)."""
    rows = list(csv.reader(io.StringIO(cdr_text)))
    leg_call = {row[16]: row[19] for row in rows}
    calls: dict[str, Expected] = {}
    for row in rows:
        uniqueid, linkedid = row[16], row[19]
        call = calls.setdefault(linkedid, Expected(linkedid, 0.0))
        if uniqueid == linkedid:
            call.ended_at = max(call.ended_at, cdr_end(row))
    for line in queue_log_text.splitlines():
        _epoch, callid, _queue, agent, event, *data = line.split("|")
        if callid not in leg_call:
            continue
        call = calls[leg_call[callid]]
        call.queue_leg = callid
        if event == "CONNECT":  # hold and operator: the first queue's, who took the call
            call.operator = call.operator or interfaces[agent]
            call.outcome = "answered"
            call.hold = float(data[0]) if call.hold is None else call.hold
        elif event in TERMINAL:  # the call's talk: every queue operator's, summed
            call.talk = (call.talk or 0.0) + float(data[3] if "TRANSFER" in event else data[1])
            call.lines += 1
        elif event == "ABANDON" and call.outcome != "answered":
            call.outcome, call.hold = "abandoned", float(data[2])
        elif event == "ENTERQUEUE" and not call.outcome:
            call.outcome = "unanswered"
    # a sticky Dial(PJSIP/101) before the queue that the operator answered
    members = set(interfaces.values())
    for row in rows:
        call = calls[row[19]]
        device = row[6].rsplit("-", 1)[0]
        if not call.queue_leg and row[7] == "Dial" and row[14] == "ANSWERED" and device in members:
            call.outcome, call.operator = "answered", device
        elif call.queue_leg and row[7] == "Dial" and row[14] == "ANSWERED" and device in members:
            call.dialled_talk_max += float(row[13])  # billsec
    return calls


def outages(frames_start: float) -> list[Outage]:
    """The windows of :data:`PLAN`, placed on the calls the notes name (by caller number)."""
    notes = [json.loads(line) for line in CAPTURE.read_text().splitlines()]
    queue_lines = [line.split("|") for line in QUEUE_LOG.read_text().splitlines()]
    out = []
    for note in notes:
        text = note.get("text", "") if note.get("kind") == "note" else ""
        name = text.removeprefix("sipp caller: start ").split(" ")[0]
        if not text.startswith("sipp caller: start ") or name not in PLAN:
            continue
        number = text.rsplit("from=", 1)[1]
        enter = next(
            q
            for q in queue_lines
            if q[4] == "ENTERQUEUE" and q[6] == number and int(q[0]) >= note["t"] - 1
        )
        connect = next(int(q[0]) for q in queue_lines if q[1] == enter[1] and q[4] == "CONNECT")
        ended = max(
            cdr_end(row)
            for row in csv.reader(io.StringIO(MASTER_CSV.read_text()))
            if row[16] == enter[1]
        )
        how, lists, when = PLAN[name]
        start = connect + 5.0
        end = ended + 5.0 if when == "end" else connect + 10.0
        assert frames_start < start < end
        out.append(Outage(name, how, lists, start, end))
    assert sorted(PLAN) == sorted(o.note for o in out)
    return out


class Service:
    """The connector and its consumers (history, billing) as one process of the service."""

    def __init__(self, settings: AmiSettings, state_dir: Path, sessions: Sessions, spill: Path):
        self.writer = HistoryWriter(sessions, spill_dir=spill)
        self.billing = BillingService(sessions)
        self.connector = AmiConnector(settings, "pbx1", self.sink, state_dir=state_dir)
        self.synced = 0
        on_frame = self.connector._on_frame

        def observe(frame: Frame) -> None:
            on_frame(frame)
            if "CcTestSync" in frame.headers:
                self.synced = int(frame.headers["CcTestSync"])

        self.connector._on_frame = observe  # type: ignore[method-assign]

    async def sink(self, event: ev.DomainEvent) -> None:
        await self.writer.handle(event)
        await self.billing.handle(event)

    async def settle(self) -> None:
        await self.connector.drain()
        await self.writer.flush()


@contextlib.asynccontextmanager
async def running(service: Service) -> AsyncIterator[None]:
    task = asyncio.create_task(service.connector.run())
    try:
        yield
    finally:
        await service.settle()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await service.writer.flush()


async def test_capture_27_with_its_cuts_and_restarts_matches_asterisks_records(
    postgres_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(connector_module, "RECHECK_INTERVAL", 0.05)
    frames = captured_frames(CAPTURE)
    windows = outages(frames[0].at)
    interfaces = {
        f.headers["MemberName"]: f.headers["Interface"]
        for f in frames
        if f.name == "QueueMemberAdded"
    }
    expected = expected_calls(QUEUE_LOG.read_text(), MASTER_CSV.read_text(), interfaces)
    assert len(expected) >= 25 and sum(1 for c in expected.values() if c.talk) >= 15
    assert any(c.outcome == "answered" and not c.queue_leg for c in expected.values())

    fake = FakeAsterisk()
    await fake.start()
    proxy = FaultProxy("127.0.0.1", fake.port)
    await proxy.start()
    pbx = CapturePbx(fake, frames, tmp_path / "queue_log", tmp_path / "Master.csv")
    settings = AmiSettings(
        host="127.0.0.1", port=proxy.port, username="cc", secret=SECRET, auth="md5",
        ping_interval=0, action_timeout=2.0, reconnect_min=0.02, reconnect_max=0.05,
        cdr_csv_path=str(pbx.cdr), queue_log_path=str(pbx.queue_log),
    )  # fmt: skip
    marker = 0
    try:
        async with database(postgres_url) as sessions:
            await save_plans(sessions, load_plans(TARIFFS / "inbound.yaml"))
            pbx.advance(frames[0].at - 1, deliver=False)  # Asterisk's files before we start
            pbx.load_records(QUEUE_LOG.read_text(), MASTER_CSV.read_text())
            generation = 0

            def start() -> Service:
                nonlocal generation
                generation += 1
                service = Service(
                    settings, tmp_path / "state", sessions, tmp_path / f"spill{generation}"
                )
                service.connector.resyncer.clock = lambda: pbx.now
                return service

            async def play_until(service: Service, until: float) -> None:
                nonlocal marker
                while pbx.now < until and not pbx.done():
                    step = min(until, pbx.now + 1.0)
                    pbx.advance(step, deliver=True)
                    marker += 1
                    fake.push(
                        f"Event: QueueMemberStatus\r\nTimestamp: {step:.6f}\r\n"
                        f"CcTestSync: {marker}\r\n\r\n".encode()
                    )
                    await wait_for(lambda n=marker: service.synced == n, 5)
                    await service.connector.drain()

            service = start()
            stack = contextlib.AsyncExitStack()
            await stack.enter_async_context(running(service))
            await asyncio.wait_for(service.connector.wait_connected(), 5)
            for outage in windows:
                await play_until(service, outage.start)
                if outage.how == "cut":
                    proxy.cut()
                    await wait_for(lambda c=service.connector: not c.connected, 5)
                else:
                    await stack.aclose()
                pbx.advance(outage.end, deliver=False)  # Asterisk goes on without us
                pbx.denied = {"all": set(), "status": {"CoreShowChannels"}}.get(
                    outage.lists, {"CoreShowChannels", "Status"}
                )
                if outage.how == "cut":
                    proxy.restore()
                else:
                    service = start()
                    stack = contextlib.AsyncExitStack()
                    await stack.enter_async_context(running(service))
                await asyncio.wait_for(service.connector.wait_connected(), 5)
                await service.settle()
                pbx.denied = set()
            await play_until(service, frames[-1].at + 30.0)
            await wait_for(lambda: not service.connector.tracker.calls, 5)
            operators = {
                key: (state.paused, state.in_call, state.device_status)
                for key, state in service.connector.tracker.operators.items()
            }
            asterisk_operators = {
                key: (m.get("Paused") == "1", m.get("InCall") == "1", int(m.get("Status", "0")))
                for key, m in pbx.state.members.items()
            }
            await stack.aclose()
            rows = await history(sessions)
    finally:
        await proxy.close()
        await fake.stop()

    # a room the customer left while the operator stayed in it is ended (item 7 of issue 17)
    kicked = [
        (a["Conference"], a["Channel"])
        for a in fake.received
        if a.get("Action") == "ConfbridgeKick"
    ]
    assert [(room, "all") for room in rooms_left_to_operators(frames)] == kicked
    # what a resync without the list actions could not do is said, with the right missing
    said = [r.getMessage() for r in caplog.records if "resync could not ask" in r.getMessage()]
    assert sum(o.lists != "all" for o in windows) == len(said)
    assert all("'reporting'" in message for message in said)
    asked = [a for a in fake.received if a.get("Action") in ("CoreShowChannels", "Status")]
    assert len(asked) > len(windows)  # every (re)connect asked for the live channels
    for call in expected.values():
        got = rows.get(call.linkedid)
        assert got is not None, f"{call.linkedid} never reached history"
        assert (1, 1) == (got.ended_rows, got.charges), f"{call.linkedid} closed/charged {got}"
        assert got.ended_at is not None, f"{call.linkedid} left open"
        assert 0 <= got.ended_at - call.ended_at < 1.0 + 1e-6, call.linkedid
        if not call.outcome:
            continue
        assert (call.outcome, call.operator) == (got.outcome, got.operator), call.linkedid
        if not call.queue_leg:
            continue  # a Dial() an operator answered: Master.csv has no talk time of its own
        assert call.hold is not None and abs(call.hold - got.wait) < 1.0, call.linkedid
        if call.talk is not None:
            # whole seconds per queue_log line; a person reached by transfer adds their talk
            slack = max(1, call.lines)
            assert call.talk - slack < got.talk < call.talk + call.dialled_talk_max + slack, (
                call.linkedid,
                got.talk,
            )
            if call.talk >= 7:
                assert got.amount > 0, (
                    f"{call.linkedid} answered, talked {call.talk} s, not charged"
                )
        if call.outcome == "abandoned":
            assert 0 == got.amount
    assert 0 == sum(1 for r in rows.values() if r.ended_at is None)
    assert asterisk_operators, "capture 27 ends with operators signed in"
    assert asterisk_operators == operators  # after the restarts too: nobody left "on a call"
    print(
        f"\ncapture 27: {len(expected)} calls, {len(windows)} outages "
        f"({sum(o.how == 'restart' for o in windows)} restarts, "
        f"{sum(o.lists != 'all' for o in windows)} without CoreShowChannels); "
        f"{sum(1 for c in expected.values() if c.outcome)} outcomes, "
        f"{sum(1 for c in expected.values() if c.talk is not None)} talk times checked"
    )


def rooms_left_to_operators(frames: list[CapturedFrame]) -> list[str]:
    """Rooms where the customer's channel hung up while another leg of the call stayed in."""
    rooms = []
    for gone in (
        f for f in frames if f.name == "Hangup" and f.get("Uniqueid") == f.get("Linkedid")
    ):
        call = gone.get("Linkedid")
        stayed = [
            f.get("Conference")
            for f in frames
            if f.name == "ConfbridgeLeave" and f.get("Linkedid") == call and f.at > gone.at
        ]
        rooms.extend(stayed)
    assert rooms, "capture 27 has the e4_rec_conf room the operator was left alone in"
    return rooms


@dataclass
class Row:
    outcome: str
    operator: str
    wait: float
    talk: float
    ended_at: float | None
    ended_rows: int
    charges: int
    amount: float


async def history(sessions: Sessions) -> dict[str, Row]:
    async with sessions() as db:
        calls = (await db.scalars(select(models.Call))).all()
        ended = dict(
            (
                await db.execute(
                    select(models.InteractionEvent.call_linkedid, func.count())
                    .where(models.InteractionEvent.kind == "call.ended")
                    .group_by(models.InteractionEvent.call_linkedid)
                )
            ).all()
        )
        charges = (await db.scalars(select(models.Charge))).all()
    charged: dict[str, list[float]] = {}
    for charge in charges:
        charged.setdefault(charge.call_linkedid, []).append(float(charge.amount))
    return {
        c.linkedid: Row(
            outcome=c.outcome,
            operator=c.operator_interface,
            wait=c.wait_seconds,
            talk=c.talk_seconds,
            ended_at=None
            if c.ended_at is None
            else c.ended_at.replace(tzinfo=UTC).timestamp()
            if c.ended_at.tzinfo is None
            else c.ended_at.timestamp(),
            ended_rows=int(ended.get(c.linkedid, 0)),
            charges=len(charged.get(c.linkedid, [])),
            amount=sum(charged.get(c.linkedid, [])),
        )
        for c in calls
    }
