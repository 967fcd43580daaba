"""``replay`` of the path captures 17–22 (transfers to people and queues, redirect, direct
and sticky rings, calls we place, operator states): every transfer has its kind and target,
every operator who talked has their own talk, and together they make the call's talk; each
queue operator's talk is the one Asterisk's queue_log gives them."""

from __future__ import annotations

import pytest

from contact_center.ami import queue_log
from contact_center.ami.replay import replay_calls
from tests.conftest import FIXTURES

PATHS = [
    "17-transfer-chain",
    "18-redirect-to-person",
    "19-attended-cancel-then-queue",
    "20-direct-sticky",
    "21-callback-and-click-to-call",
    "22-operator-states",
]
# what each capture's notes say happened: (kind, target) of every transfer, in order
TRANSFERS = {
    "17-transfer-chain": [("blind", "104"), ("attended", "103")],
    "18-redirect-to-person": [("redirect", "105")],
    "19-attended-cancel-then-queue": [("blind", "sales")],
}


@pytest.mark.parametrize("name", PATHS)
def test_each_transfer_and_each_operators_own_talk(name: str) -> None:
    calls = replay_calls(FIXTURES / f"{name}.jsonl")
    assert calls, name

    transfers = [(t["kind"], t["target"]) for c in calls for t in c["transfers"]]
    assert TRANSFERS.get(name, []) == transfers
    for c in calls:
        talked = [o for o in c["operators"] if o["answered_at"] is not None]
        if c["talk_seconds"] is None:
            assert [] == talked, c["call_id"]
            continue
        assert talked and all(o["talk_seconds"] > 0 for o in talked), c["call_id"]
        assert c["talk_seconds"] == pytest.approx(sum(o["talk_seconds"] for o in talked), abs=0.01)
        # a transferred call: each operator after the first came by the transfer
        assert len(talked) == len(c["transfers"]) + 1 or c["direction"] != "inbound"

    lines, _ = queue_log.read_lines(FIXTURES / f"{name}.queue_log")
    for visit in queue_log.queue_visits(lines):
        if not visit.agent or visit.talk_seconds is None:
            continue
        legs = [
            o
            for c in calls
            for o in c["operators"]
            if o["via"] == "queue" and o["queue"] == visit.queue and o["agent"] == visit.agent
        ]
        assert legs, (name, visit)
        if visit.transfers:  # the operator's own part ends with their transfer
            assert abs(visit.talk_seconds - legs[0]["talk_seconds"]) < 1.0
        else:  # COMPLETE*: until the call left that queue (a redirect's target included)
            call = next(c for c in calls if legs[0] in c["operators"])
            after = call["operators"][call["operators"].index(legs[0]) :]
            until = [after[0]]
            for other in after[1:]:
                if other["via"] == "queue":
                    break
                until.append(other)
            talk = sum(o["talk_seconds"] or 0.0 for o in until)
            assert abs(visit.talk_seconds - talk) < 1.0, (name, visit, until)
