"""`contact-center stats CAPTURE` on the real Asterisk captures agrees with Asterisk's queue_log.

The queue_log is Asterisk's own account of the same calls (whole seconds, truncated), so
counts must be equal and durations within a second per call.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from contact_center.cli import main
from tests.conftest import FIXTURES

CAPTURES = [
    "02-inbound-ivr-queue-answered",
    "03-queue-abandon",
    "07-actions",
    "08-fastagi",
    "10-supervisor-chanspy",
]


@dataclass
class QueueLogFigures:
    offered: int = 0
    answered: int = 0
    answered_in_sl: int = 0
    abandoned: int = 0
    holds: list[int] = field(default_factory=list)
    talks: list[int] = field(default_factory=list)
    waits: list[int] = field(default_factory=list)
    agent_calls: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    agent_talk: dict[str, int] = field(default_factory=lambda: defaultdict(int))


def read_queue_log(path: Path, service_level: int) -> dict[str, QueueLogFigures]:
    """Figures straight from queue_log lines: time|callid|queue|agent|event|data…"""
    queues: dict[str, QueueLogFigures] = defaultdict(QueueLogFigures)
    for line in path.read_text().splitlines():
        _time, _callid, queue, agent, event, *data = line.split("|")
        q = queues[queue]
        if event == "ENTERQUEUE":
            q.offered += 1
        elif event == "CONNECT":
            hold = int(data[0])
            q.answered += 1
            q.answered_in_sl += hold <= service_level
            q.holds.append(hold)
            q.waits.append(hold)
            q.agent_calls[agent] += 1
        elif event in {"COMPLETECALLER", "COMPLETEAGENT"}:
            q.talks.append(int(data[1]))
            q.agent_talk[agent] += int(data[1])
        elif event == "ABANDON":
            q.abandoned += 1
            q.waits.append(int(data[2]))
    return queues


def run_stats(
    capture: str, service_level: int, capsys: pytest.CaptureFixture[str]
) -> dict[str, object]:
    code = main(
        ["stats", str(FIXTURES / f"{capture}.jsonl"), "--service-level-seconds", str(service_level)]
    )
    out = capsys.readouterr().out
    assert 0 == code
    return dict(json.loads(out))


@pytest.mark.parametrize("capture", CAPTURES)
@pytest.mark.parametrize("service_level", [1, 3, 20])
def test_figures_agree_with_the_queue_log(
    capture: str, service_level: int, capsys: pytest.CaptureFixture[str]
) -> None:
    expected = read_queue_log(FIXTURES / f"{capture}.queue_log", service_level)
    figures = run_stats(capture, service_level, capsys)
    queues = figures["queues"]
    operators = figures["operators"]
    assert isinstance(queues, dict) and isinstance(operators, dict)
    assert sorted(expected) == sorted(queues)
    for name, exp in expected.items():
        got = queues[name]
        assert (exp.offered, exp.answered, exp.abandoned) == (
            got["offered"],
            got["answered"],
            got["abandoned"],
        )
        assert exp.answered_in_sl == got["answered_in_sl"]
        if exp.holds:
            assert sum(exp.holds) / len(exp.holds) == pytest.approx(got["asa_seconds"], abs=1)
        assert sum(exp.talks) == pytest.approx(got["talk_seconds"], abs=len(exp.talks))
        assert max(exp.waits, default=0) == pytest.approx(got["max_wait_seconds"], abs=1)
        by_name = {o["name"]: o for o in operators.values()}
        for agent, calls in exp.agent_calls.items():
            assert calls == by_name[agent]["calls"]
            assert exp.agent_talk[agent] == pytest.approx(by_name[agent]["talk_seconds"], abs=calls)


def test_answered_capture_exact_figures(capsys: pytest.CaptureFixture[str]) -> None:
    queue = run_stats("02-inbound-ivr-queue-answered", 20, capsys)["queues"]["support"]  # type: ignore[index]
    assert {
        "offered": 1,
        "answered": 1,
        "answered_in_sl": 1,
        "abandoned": 0,
        "service_level_pct": 100.0,
        "asa_seconds": 1.0,
        "aht_seconds": 6.01,
        "waiting": 0,
    } == {
        k: queue[k]
        for k in (
            "offered",
            "answered",
            "answered_in_sl",
            "abandoned",
            "service_level_pct",
            "asa_seconds",
            "aht_seconds",
            "waiting",
        )
    }


def test_abandon_capture_exact_figures(capsys: pytest.CaptureFixture[str]) -> None:
    figures = run_stats("03-queue-abandon", 20, capsys)
    queue = figures["queues"]["support"]  # type: ignore[index]
    assert (1, 0, 1, 0, 0.0, 100.0) == (
        queue["offered"],
        queue["answered"],
        queue["abandoned"],
        queue["short_abandoned"],
        queue["service_level_pct"],
        queue["abandon_rate_pct"],
    )
    # paused for lunch from QueuePause until the unpause (queue_log: 1795344527 → …541)
    operator = figures["operators"]["Local/101@agents"]  # type: ignore[index]
    assert 14 == pytest.approx(operator["pause_seconds"], abs=1)


def test_actions_capture_sl_splits_the_two_calls(capsys: pytest.CaptureFixture[str]) -> None:
    # queue_log: CONNECT after 4 s and after 1 s → SL 3 s keeps one of two
    queue = run_stats("07-actions", 3, capsys)["queues"]["support"]  # type: ignore[index]
    assert (2, 2, 1, 50.0, 2.5) == (
        queue["offered"],
        queue["answered"],
        queue["answered_in_sl"],
        queue["service_level_pct"],
        queue["asa_seconds"],
    )


def test_missing_capture_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert 2 == main(["stats", "/nonexistent/capture.jsonl"])
    assert "no such capture file" in capsys.readouterr().err
