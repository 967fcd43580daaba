"""The simulator against the real captures: same events, same order, same fields.

Each capture's client side is replayed over TCP against a fresh simulator (fast clock) and
the AMI stream it answers is compared with what Asterisk 22.10.1 sent (rules and the short
list of left-out events in contact_center/sim/README.md).
"""

from __future__ import annotations

from typing import Any

import pytest

from contact_center.sim.transcript import Record, compare_streams
from contact_center.testing import FIXTURES, replay_against_simulator

SCENARIOS = [
    "01-login",
    "02-inbound-ivr-queue-answered",
    "03-queue-abandon",
    "06-conference",
    "07-actions",
    "10-supervisor-chanspy",
]


@pytest.mark.parametrize("scenario", SCENARIOS)
async def test_simulator_answers_like_the_capture(scenario: str) -> None:
    streams = await replay_against_simulator(FIXTURES / f"{scenario}.jsonl")

    problems = {conn: compare_streams(want, got) for conn, (want, got) in streams.items()}

    assert {conn: [] for conn in streams} == problems


def only_session_3(records: list[Record]) -> list[Any]:
    """08: the login, then the ivr-route session (the one our stand-in AGI script plays)."""
    notes = [i for i, r in enumerate(records) if r.data.get("kind") == "note"]
    start = next(i for i in notes if "SESSION 3" in records[i].data["text"])
    return records[: notes[0]] + records[start:]


async def test_fastagi_route_session_answers_like_the_capture() -> None:
    streams = await replay_against_simulator(FIXTURES / "08-fastagi.jsonl", only_session_3)

    (want, got) = streams["ami-main"]

    assert [] == compare_streams(want, got)
    assert len(got) > 100  # the whole call happened, not just the login


async def test_a_missing_event_is_reported() -> None:
    streams = await replay_against_simulator(FIXTURES / "03-queue-abandon.jsonl")
    want, got = streams["ami-main"]
    without_abandon = [m for m in got if m[0] != ("Event", "QueueCallerAbandon")]

    problems = compare_streams(want, without_abandon)

    assert len(problems) == 1
    assert "QueueCallerAbandon" in problems[0]
