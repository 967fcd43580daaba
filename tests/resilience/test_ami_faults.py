"""AMI link faults against the whole service: the simulator over real TCP, a proxy we cut or
stall between the connector and it, history in real PostgreSQL. The simulator runs the dial
plan we ship: callers come from the provider, pass our IVR over FastAGI (the test line: 2 is
support) and ring the operators' PJSIP phones."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from contact_center.ami.errors import AmiError
from tests.conftest import wait_for
from tests.e2e.service_support import DID, Rig, sign_in
from tests.resilience.rig import (
    FaultRig,
    died,
    fault_rig,
    history_counts,
    pbx_live_calls,
    sim_pbx,
    tracker_live_calls,
)

ANNA = "PJSIP/101"

# Actions that read state; sending them again after a reconnect is the resync, not a repeat.
# Actions that only read: asking again after a reconnect is expected (the rights check at
# login, the resync's lists); state-changing actions must never be repeated.
QUERIES = {
    "login",
    "challenge",
    "ping",
    "coreshowchannels",
    "status",
    "queuestatus",
    "listcommands",
    "events",
    "logoff",
}


async def make_available(rig: FaultRig, login: str, interface: str) -> None:
    await Rig(rig.pbx, rig.service, rig.settings).command(login, "operator", interface, "available")
    await wait_for(lambda: bool(rig.pbx.members(interface)), timeout=5)


def repeated_actions(rig: FaultRig) -> list[tuple[str, str]]:
    """(action, ActionID) pairs of state-changing actions sent more than once."""
    sent = Counter(
        (a["action"].lower(), a.get("actionid", ""))
        for a in rig.ami.actions()
        if a["action"].lower() not in QUERIES
    )
    return [pair for pair, n in sent.items() if n > 1]


async def test_ami_socket_killed_mid_call_history_closed_once_state_resynced(
    tmp_path: Path, postgres_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Property: when the AMI socket is reset mid-call, the call that ended while we were cut
    off is closed in history exactly once and its pop on the operator's screen is closed (not
    stuck), the tracker's live calls equal the PBX's after the resync (a call that began
    during the outage is picked up), and no action is sent twice."""
    async with fault_rig(tmp_path, postgres_url, dialplan="shipped") as rig:
        anna = await sign_in(rig.base, "anna")
        anna_ws = await anna.ws()
        await make_available(rig, "anna", ANNA)
        first = await rig.pbx.place_call(DID, "+74951234567", "Ivan", dtmf="2")
        await wait_for(lambda: first.linkedid in tracker_live_calls(rig.connector), timeout=5)
        await wait_for(lambda: bool(rig.pbx.channels_matching(r"^PJSIP/101-")), timeout=10)
        await rig.pbx.answer(ANNA)
        await wait_for(lambda: _answered(rig, first.linkedid), timeout=5)

        rig.ami.cut()
        cut_at = time.monotonic()
        await wait_for(lambda: not rig.connector.connected, timeout=5)
        await rig.pbx.hangup_caller(first)  # the call ends while we cannot see it
        second = await rig.pbx.place_call(DID, "+74957654321", "Olga", dtmf="2")
        await wait_for(lambda: first.linkedid not in pbx_live_calls(rig.pbx), timeout=5)
        rig.ami.restore()

        await wait_for(lambda: rig.connector.connected and rig.connector.connects >= 2, 10)
        recovered = time.monotonic() - cut_at
        await wait_for(
            lambda: tracker_live_calls(rig.connector) == pbx_live_calls(rig.pbx), timeout=5
        )
        assert {second.linkedid} == tracker_live_calls(rig.connector)

        sessions = rig.service.core.sessions  # type: ignore[union-attr]

        async def closed() -> bool:
            return (await history_counts(sessions, first.linkedid))[1] >= 1

        await wait_for(closed, timeout=10)
        await rig.pbx.hangup_caller(second)
        await wait_for(lambda: not tracker_live_calls(rig.connector), timeout=5)

        async def second_closed() -> bool:
            return (await history_counts(sessions, second.linkedid))[1] >= 1

        await wait_for(second_closed, timeout=10)
        assert (1, 1) == (await history_counts(sessions, first.linkedid))[:2]
        assert (1, 1) == (await history_counts(sessions, second.linkedid))[:2]
        assert [] == repeated_actions(rig)
        queue_adds = [a["queue"] for a in rig.ami.actions() if a["action"].lower() == "queueadd"]
        # one QueueAdd per queue of anna's: the reconnect did not replay her command
        assert ["sales", "support"] == sorted(queue_adds)
        assert [] == died(caplog)
        closed_pop = await pop_of(anna_ws, first.linkedid, "pop.closed")
        assert "ended" == closed_pop["reason"]
        await anna.http.close()
    print(f"\nAMI reset mid-call: reconnected and resynced in {recovered:.2f} s")


async def test_half_open_ami_link_detected_within_two_ping_intervals(
    tmp_path: Path, postgres_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Property: a half-open AMI link (no FIN, no replies) is detected within 2× the ping
    interval, the connector reconnects and resyncs, and live state equals the PBX's."""
    async with fault_rig(tmp_path, postgres_url, dialplan="shipped") as rig:
        interval = rig.settings.ami.ping_interval
        call = await rig.pbx.place_call(DID, "+74951234567", "Ivan", dtmf="2")
        await wait_for(lambda: call.linkedid in tracker_live_calls(rig.connector), timeout=5)
        connects = rig.connector.connects

        rig.ami.stall()
        stalled_at = time.monotonic()
        await wait_for(lambda: not rig.connector.connected, timeout=3 * interval + 1)
        detected = time.monotonic() - stalled_at
        await rig.pbx.hangup_caller(call)  # ends during the silence
        rig.ami.restore()
        await wait_for(lambda: rig.connector.connects > connects and rig.connector.connected, 10)
        await wait_for(
            lambda: tracker_live_calls(rig.connector) == pbx_live_calls(rig.pbx), timeout=5
        )
        recovered = time.monotonic() - stalled_at
        assert set() == tracker_live_calls(rig.connector)
        # Bound by design: the stall starts right after a Pong at worst, then one interval
        # until the next Ping and one ping_timeout (= interval) for it; 0.5 s of slack is
        # scheduling on a loaded 2-core machine.
        assert detected <= 2 * interval + 0.5, f"half-open link noticed after {detected:.2f} s"

        sessions = rig.service.core.sessions  # type: ignore[union-attr]

        async def closed() -> bool:
            return (await history_counts(sessions, call.linkedid))[1] >= 1

        await wait_for(closed, timeout=10)
        await asyncio.sleep(0)
        assert (1, 1) == (await history_counts(sessions, call.linkedid))[:2]
        assert [] == died(caplog)
    print(
        f"\nhalf-open AMI: detected in {detected:.2f} s (ping {interval} s), "
        f"recovered in {recovered:.2f} s"
    )


async def pop_of(ws: Any, call_id: str, kind: str) -> dict[str, Any]:
    async with asyncio.timeout(10):
        while True:
            msg = await ws.receive()
            data: dict[str, Any] = json.loads(msg.data)
            if data.get("type") == kind and data.get("call_id") == call_id:
                return data


def _answered(rig: FaultRig, linkedid: str) -> bool:
    call = rig.connector.tracker.calls.get((rig.settings.general.server_id, linkedid))
    return call is not None and getattr(call, "answered_at", None) is not None


async def test_asterisk_restarted_with_an_originate_in_flight(
    tmp_path: Path, postgres_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Property: Asterisk restarts (every channel gone) while an Originate we sent is waiting
    for its answer: the Originate fails to its caller instead of being sent again after the
    reconnect, the call that was live is closed in history exactly once, and the tracker's
    live calls equal the new PBX's (none)."""
    async with fault_rig(tmp_path, postgres_url, dialplan="shipped") as rig:
        call = await rig.pbx.place_call(DID, "+74951234567", "Ivan", dtmf="2")
        await wait_for(lambda: call.linkedid in tracker_live_calls(rig.connector), timeout=5)
        rig.ami.stall()  # Asterisk hangs, then restarts: our Originate gets no answer
        originate = asyncio.create_task(
            # a click-to-call: Anna's phone first, then the number (cc-originate)
            rig.connector.actions.originate(
                ANNA, "cc-originate", "4957654321", caller_id="CC <4951110001>"
            )
        )
        await wait_for(
            lambda: any(a["action"].lower() == "originate" for a in rig.ami.actions()), 5
        )
        connects = rig.connector.connects
        await rig.pbx.stop()
        restarted = sim_pbx(rig.pbx.config)
        await restarted.start()
        try:
            rig.ami.target = ("127.0.0.1", restarted.port)
            rig.ami.cut()
            rig.ami.restore()
            with pytest.raises(AmiError):
                await asyncio.wait_for(originate, 10)
            await wait_for(
                lambda: rig.connector.connected and rig.connector.connects > connects, 10
            )
            await wait_for(lambda: not tracker_live_calls(rig.connector), timeout=10)
            assert set() == pbx_live_calls(restarted)
            sessions = rig.service.core.sessions  # type: ignore[union-attr]

            async def closed() -> bool:
                return (await history_counts(sessions, call.linkedid))[1] >= 1

            await wait_for(closed, timeout=10)
            assert (1, 1) == (await history_counts(sessions, call.linkedid))[:2]
            originates = [a for a in rig.ami.actions() if a["action"].lower() == "originate"]
            assert 1 == len(originates)
            assert [] == repeated_actions(rig)
            assert [] == died(caplog)
        finally:
            await restarted.stop()
