"""What the consumers make of every leg, from the real captures: the wallboard's transferred
counts and each operator's own talk agree with Asterisk's queue_log; billing follows the
plan's rule; history reads outbound calls and IVR digits as a user expects."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from contact_center.ami import queue_log
from contact_center.ami.replay import replay_events
from contact_center.billing.service import CallFacts, billed_talk
from contact_center.calls import events as ev
from contact_center.history.describe import describe
from contact_center.history.writer import ivr_digits
from contact_center.stats.metrics import LiveMetrics, MetricsConfig

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def metrics_of(name: str) -> tuple[LiveMetrics, list[ev.DomainEvent]]:
    events = replay_events(FIXTURES / f"{name}.jsonl")
    metrics = LiveMetrics(MetricsConfig(service_level_seconds=20))
    metrics.apply_all(events)
    return metrics, events


@pytest.mark.parametrize(
    "name", ["17-transfer-chain", "19-attended-cancel-then-queue", "27-live-pjsip-deploy"]
)
def test_wallboard_transferred_counts_equal_queue_logs_transfer_lines(name: str) -> None:
    metrics, events = metrics_of(name)
    lines, _ = queue_log.read_lines(FIXTURES / f"{name}.queue_log")
    logged: dict[str, int] = {}
    for line in lines:
        if line.event in ("BLINDTRANSFER", "ATTENDEDTRANSFER"):
            logged[line.queue] = logged.get(line.queue, 0) + 1
    assert logged, "the capture has queue transfers"
    snap = metrics.snapshot(max(e.at for e in events) + 1)
    assert logged == {q: s.transferred for q, s in snap.queues.items() if s.transferred}
    # no queue named after a direct or transfer ring
    assert "" not in snap.queues


def test_each_operators_talk_is_their_own_legs_and_queue_logs() -> None:
    """Per operator, the wallboard's talk is the sum of their legs; for 27 (queue calls,
    transfers to persons), each queue operator's talk agrees with queue_log's lines."""
    metrics, events = metrics_of("27-live-pjsip-deploy")
    left = [e for e in events if isinstance(e, ev.OperatorLeft)]
    per_operator: dict[str, float] = {}
    for e in left:
        per_operator[e.interface] = per_operator.get(e.interface, 0.0) + e.talk_seconds
    snap = metrics.snapshot(max(e.at for e in events) + 1)
    assert per_operator == pytest.approx(
        {i: o.talk_seconds for i, o in snap.operators.items() if o.talk_seconds}, abs=0.01
    )  # the snapshot shows milliseconds
    lines, _ = queue_log.read_lines(FIXTURES / "27-live-pjsip-deploy.queue_log")
    names = {"Anna": "PJSIP/101", "Boris": "PJSIP/102"}
    logged: dict[str, float] = {}
    for visit in queue_log.queue_visits(lines):
        if visit.agent and visit.talk_seconds is not None:
            logged[names[visit.agent]] = logged.get(names[visit.agent], 0.0) + visit.talk_seconds
    queue_talk: dict[str, float] = {}
    for e in left:
        if e.via == "queue":
            queue_talk[e.interface] = queue_talk.get(e.interface, 0.0) + e.talk_seconds
    visits_per_operator = {
        i: sum(1 for e in left if e.via == "queue" and e.interface == i) for i in logged
    }
    for interface, talk in logged.items():  # whole seconds per queue_log line
        assert abs(talk - queue_talk[interface]) < visits_per_operator[interface]
    # transfers to persons add talk queue_log does not know
    assert sum(per_operator.values()) > sum(queue_talk.values())


def facts(answered: float | None, ended: float, talk: float) -> CallFacts:
    def at(epoch: float) -> datetime:
        return datetime.fromtimestamp(epoch, tz=UTC)

    return CallFacts(
        server="pbx1", linkedid="c1", direction="inbound", caller_number="+74951234567",
        dialled_number="4951110004", started_at=at(0.0),
        answered_at=at(answered) if answered is not None else None, ended_at=at(ended),
        talk_seconds=talk, customer_id=None,
    )  # fmt: skip


def test_billing_of_a_transferred_call_by_the_plans_rule() -> None:
    """17: three operators; ``answer`` bills from the answer to the end (ringing the next
    operator and the hold of the consultation included), ``talk`` only the talk."""
    events = replay_events(FIXTURES / "17-transfer-chain.jsonl")
    [end] = [e for e in events if isinstance(e, ev.CallEnded)]
    left = [e for e in events if isinstance(e, ev.OperatorLeft)]
    assert 3 == len(left) and end.answered_at is not None
    call = facts(end.answered_at, end.at, end.talk_seconds)
    assert end.at - end.answered_at == pytest.approx(billed_talk(call, "answer"), abs=1e-3)
    assert sum(e.talk_seconds for e in left) == pytest.approx(billed_talk(call, "talk"))
    assert billed_talk(call, "talk") < billed_talk(call, "answer")
    # a call never answered bills nothing either way
    assert 0.0 == billed_talk(facts(None, 30.0, 0.0), "answer")


def test_history_says_outbound_call_to_the_customer_by_the_operator() -> None:
    events = replay_events(FIXTURES / "21-callback-and-click-to-call.jsonl")
    arrived = [e for e in events if isinstance(e, ev.CallArrived)]
    assert [
        "Outbound call to +74951234567 by Local/101@agents (callback)",
        "Outbound call to +74997654321 by Local/103@agents (click-to-call)",
    ] == [describe(e).summary for e in arrived]
    named = ev.CallArrived(
        server="pbx1", call_id="cc-out-1", at=1.0, caller_number="+74951234567",
        caller_number_raw="+74951234567", caller_name="", did="+74951234567",
        direction="outbound", operator_interface="PJSIP/101", operator_name="Anna Smirnova",
    )  # fmt: skip
    assert "Outbound call to +74951234567 by Anna Smirnova" == describe(named).summary


def test_ivr_digits_are_counted_once() -> None:
    """27: keys 1, 0 read by the FastAGI IVR (its own step says "10") also arrive as DTMF."""
    dtmf = [{"digits": "1", "result": "digit"}, {"digits": "0", "result": "digit"}]
    agi = [{"digits": "10", "result": "ok"}]
    assert "10" == ivr_digits([*dtmf, *agi])
    assert "10" == ivr_digits(dtmf)  # a dialplan menu (Background/Read) records nothing itself
    events = replay_events(FIXTURES / "27-live-pjsip-deploy.jsonl")
    steps = [e for e in events if isinstance(e, ev.IvrStep) and e.digits]
    assert steps and all(e.result == "digit" for e in steps)  # no Newexten AGI in 27's log
