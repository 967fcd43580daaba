"""One call, every leg: the real captures 17–22 and 27 replayed through the live parser and
tracker. Each operator who rang gets the offer (the pop) at ring time, each who talked has their
own leg and talk; transfers say their kind and target; control follows the call; outbound calls
end with the outcome the callback dialer reads. Expectations come from Asterisk's own records
(queue_log, Master.csv) and the capture README's account of each scenario."""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from contact_center.ami import queue_log
from contact_center.ami.parser import parse
from contact_center.ami.replay import capture_reads
from contact_center.ami.tracker import TRACKER_FILTER, CallTracker, LiveChannels
from contact_center.calls import events as ev
from contact_center.calls.model import CallState, OperatorLegState, TransferState

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


class Replayed:
    """A capture fed frame by frame; remembers each frame's events and the live channels."""

    def __init__(self, name: str) -> None:
        self.tracker = CallTracker("pbx1")
        self.events: list[ev.DomainEvent] = []
        self.holders: dict[str, list[str]] = {}  # call → operator channels that held it
        rest = b""
        for _conn, data in capture_reads(FIXTURES / f"{name}.jsonl"):
            frames, rest = parse(rest + data, TRACKER_FILTER)
            for frame in frames:
                out = self.tracker.feed(frame)
                self.events.extend(out)
                for call_id in {e.call_id for e in out if e.call_id}:
                    self._note_holder(self.tracker.live_channels(call_id))

    def _note_holder(self, live: LiveChannels | None) -> None:
        if live is None or not live.operator_channel:
            return
        seen = self.holders.setdefault(live.call_id, [])
        if not seen or seen[-1] != live.operator_channel:
            seen.append(live.operator_channel)

    def calls(self) -> list[CallState]:
        return sorted(self.tracker.ended_calls, key=lambda s: s.started_at)

    def of(self, call_id: str, kind: type[ev.DomainEvent]) -> list[Any]:
        return [e for e in self.events if e.call_id == call_id and isinstance(e, kind)]


def talked(state: CallState) -> list[OperatorLegState]:
    return [o for o in state.operators if o.answered_at is not None]


def visits(name: str) -> list[queue_log.QueueCall]:
    lines, _ = queue_log.read_lines(FIXTURES / f"{name}.queue_log")
    return queue_log.queue_visits(lines)


# --- 17: blind transfer to a person, then an attended transfer (Atxfer) -----------------------


def test_17_blind_then_attended_transfer_every_operator_with_own_talk() -> None:
    replay = Replayed("17-transfer-chain")
    [state] = replay.calls()
    [visit] = visits("17-transfer-chain")  # ENTERQUEUE, CONNECT, BLINDTRANSFER|104|…|1|2|1
    assert [
        TransferState("blind", "104", "Local/101@agents"),
        TransferState("attended", "103", "Local/104@agents"),
    ] == list(state.transfer_log)
    ops = talked(state)
    assert [
        ("Local/101@agents", "Operator 101", "queue", "support", "transfer"),
        ("Local/104@agents", "", "transfer", "", "transfer"),
        ("Local/103@agents", "", "transfer", "", "caller"),
    ] == [(o.interface, o.member_name, o.via, o.queue, o.reason) for o in ops]
    first, second, third = ops
    assert visit.talk_seconds is not None and first.talk_seconds is not None
    assert abs(visit.talk_seconds - first.talk_seconds) < 1.0
    # each next operator starts where the previous one handed over (plus the ring)
    assert first.ended_at is not None and second.answered_at is not None
    assert 0.9 < second.answered_at - first.ended_at < 1.1  # "104 answers after 1 s"
    assert second.ended_at == third.answered_at  # the attended transfer joins them
    assert third.talk_seconds == pytest.approx(4.0, abs=0.1)  # "talks to 103 4 s"
    assert state.talk_seconds == pytest.approx(sum(o.talk_seconds or 0 for o in ops))
    assert ("answered", "caller", "Operator 101") == (
        state.outcome,
        state.hung_up_by,
        state.agent,
    )
    # every operator rang with the pop, 104 and 103 seeing who had the call before them
    offers = replay.of(state.call_id, ev.CallOffered)
    assert [
        ("Local/101@agents", "queue", []),
        ("Local/104@agents", "transfer", ["Local/101@agents"]),
        ("Local/103@agents", "transfer", ["Local/101@agents", "Local/104@agents"]),
    ] == [(o.interface, o.via, o.previous_operators) for o in offers]
    # 103 rang during the consultation, before the transfer completed
    assert offers[2].at < third.answered_at
    # console control followed the call: 101's leg, then 104's, then 103's
    assert ["Local/101@agents", "Local/104@agents", "Local/103@agents"] == [
        c.split("-")[0] for c in replay.holders[state.call_id]
    ]
    left = replay.of(state.call_id, ev.OperatorLeft)
    assert [o.talk_seconds for o in ops] == [e.talk_seconds for e in left]


# --- 18: AMI Redirect of the caller to another person -----------------------------------------


def test_18_redirect_is_a_transfer_and_the_operator_who_hung_up_is_named() -> None:
    replay = Replayed("18-redirect-to-person")
    [state] = replay.calls()
    [visit] = visits("18-redirect-to-person")  # COMPLETECALLER|2|8|1 covers 103 + 105
    # by: the operator the caller was redirected away from
    assert [TransferState("redirect", "105", "Local/103@agents")] == list(state.transfer_log)
    first, second = talked(state)
    assert ("Local/103@agents", "queue", "Local/105@agents", "transfer") == (
        first.interface,
        first.via,
        second.interface,
        second.via,
    )
    assert visit.talk_seconds is not None and second.ended_at and first.answered_at
    assert abs(visit.talk_seconds - (second.ended_at - first.answered_at)) < 1.0
    assert second.talk_seconds == pytest.approx(4.0, abs=0.1)  # "4 s later 105 hangs up"
    # AgentComplete says "caller", but operator 105 hung up (README, capture 18)
    assert ("operator", "operator") == (second.reason, state.hung_up_by)
    assert ["redirect"] == [t.transfer_type for t in replay.of(state.call_id, ev.CallTransferred)]


# --- 19: abandoned consultation, then a blind transfer into another queue -----------------------


def test_19_abandoned_consultation_then_transfer_into_a_queue() -> None:
    replay = Replayed("19-attended-cancel-then-queue")
    [state] = replay.calls()
    support, sales = visits("19-attended-cancel-then-queue")
    assert [TransferState("blind", "sales", "Local/101@agents")] == list(state.transfer_log)
    first, second = talked(state)
    for visit, leg in ((support, first), (sales, second)):
        assert (visit.queue, visit.agent) == (leg.queue, leg.member_name)
        assert visit.hold_seconds is not None and leg.hold_seconds is not None
        assert abs(visit.hold_seconds - leg.hold_seconds) < 1.0
    assert support.talk_seconds is not None and first.talk_seconds is not None
    assert abs(support.talk_seconds - first.talk_seconds) < 1.0  # 10 s, consultation included
    # the consulted 102 rang (a pop) and stopped ringing; no transfer, no talk
    offers = replay.of(state.call_id, ev.CallOffered)
    assert ["Local/101@agents", "Local/102@agents", "Local/103@agents"] == [
        o.interface for o in offers
    ]
    assert ["Local/102@agents"] == [
        r.interface for r in replay.of(state.call_id, ev.CallRingNoAnswer)
    ]
    # the queue's pop in sales says who had the call
    assert ["Local/101@agents"] == offers[2].previous_operators
    # the two recordings: one per queue visit, each with the operators it heard
    assert 2 == len(state.recordings)
    assert [state.recordings[0]] == list(first.recordings)
    assert list(state.recordings) == list(second.recordings)
    started = replay.of(state.call_id, ev.RecordingStarted)
    assert ["", ""] == [r.interface for r in started]  # both began before their operator
    assert ("support", "Operator 101") == (state.queue, state.agent)  # who took the call


# --- 20: direct and sticky rings --------------------------------------------------------------


def test_20_direct_dial_is_answered_and_sticky_fallback_rings_then_queues() -> None:
    replay = Replayed("20-direct-sticky")
    direct, sticky = replay.calls()
    [leg] = talked(direct)
    assert ("answered", "Local/101@agents", "direct", "caller") == (
        direct.outcome,
        leg.interface,
        leg.via,
        leg.reason,
    )
    assert leg.talk_seconds == pytest.approx(4.0, abs=0.1)  # "caller hangs up after 4 s"
    assert [("Local/101@agents", "direct")] == [
        (o.interface, o.via) for o in replay.of(direct.call_id, ev.CallOffered)
    ]
    # call B: 102 rings 12 s directly (the pop), no answer, then the queue gives it to 103
    offers = replay.of(sticky.call_id, ev.CallOffered)
    assert [("Local/102@agents", "direct"), ("Local/103@agents", "queue")] == [
        (o.interface, o.via) for o in offers
    ]
    [rna] = replay.of(sticky.call_id, ev.CallRingNoAnswer)
    assert ("Local/102@agents", "direct") == (rna.interface, rna.via)
    assert rna.ring_seconds == pytest.approx(12.0, abs=0.1)
    [visit] = visits("20-direct-sticky")
    [queue_leg] = talked(sticky)
    assert visit.hold_seconds is not None and queue_leg.hold_seconds is not None
    assert abs(visit.hold_seconds - queue_leg.hold_seconds) < 1.0  # 12 s of ringing not in it
    assert (visit.agent, "answered") == (queue_leg.member_name, sticky.outcome)


# --- 21: callback and click-to-call placed by the operator -----------------------------------


def test_21_outbound_calls_carry_the_dialers_contract() -> None:
    replay = Replayed("21-callback-and-click-to-call")
    callback, click = replay.calls()
    ends = {e.call_id: e for e in replay.events if isinstance(e, ev.CallEnded)}
    assert [
        (
            "outbound", "answered", "+74951234567", {"KIND": "callback"},
        ),
        (
            "outbound", "no_answer", "+74997654321", {"KIND": "click-to-call"},
        ),
    ] == [
        (ends[c.call_id].direction, ends[c.call_id].outcome, ends[c.call_id].dialled,
         ends[c.call_id].tags)
        for c in (callback, click)
    ]  # fmt: skip
    assert callback.call_id.startswith("cc-out-") and click.call_id.startswith("cc-out-")
    [leg] = talked(callback)
    assert ("Local/101@agents", "outbound", "caller") == (leg.interface, leg.via, leg.reason)
    assert leg.talk_seconds == pytest.approx(4.0, abs=0.1)  # "4 s talk"
    assert ends[callback.call_id].answered_at == leg.answered_at
    assert [] == talked(click)
    # the operator's phone rang with the customer's number: the pop shows the customer card
    for state, number in ((callback, "+74951234567"), (click, "+74997654321")):
        [arrived] = replay.of(state.call_id, ev.CallArrived)
        [offer] = replay.of(state.call_id, ev.CallOffered)
        assert (number, number, "outbound") == (arrived.caller_number, arrived.did, offer.via)
        assert arrived.operator_interface == offer.interface
        assert arrived.tags == ends[state.call_id].tags
    # control: the operator's leg and the customer's leg while they talk
    assert ["Local/101@agents-00000012;1"] == replay.holders[callback.call_id]
    # Asterisk logged no queue call for them (the queue_log beside the capture is empty)
    assert [] == visits("21-callback-and-click-to-call")


def test_operator_phone_that_never_answers_is_operator_no_answer() -> None:
    from contact_center.ami.parser import EVENT, Frame

    root = "cc-out-0a1b"

    def frame(name: str, at: float, **headers: str) -> Frame:
        return Frame(EVENT, name, {"Event": name, "Timestamp": f"{at:.6f}", **headers})

    leg = {"Channel": "PJSIP/102-00000009", "Uniqueid": root, "Linkedid": root}
    tracker = CallTracker("pbx1")
    out = tracker.feed_all(
        [
            frame("Newchannel", 1.0, Context="operators", Exten="s", **leg),
            frame("VarSet", 1.0, Variable="CC_KIND", Value="callback", **leg),
            frame("VarSet", 1.0, Variable="CC_NUMBER", Value="+74951234567", **leg),
            frame("VarSet", 1.0, Variable="CC_CALLBACK_ID", Value="42", **leg),
            frame(
                "DialBegin", 1.1, DestChannel=leg["Channel"], DestUniqueid=root,
                DestLinkedid=root, DialString="102",
            ),
            frame(
                "DialEnd", 31.1, DestChannel=leg["Channel"], DestUniqueid=root,
                DestLinkedid=root, DialStatus="NOANSWER",
            ),
            frame("Hangup", 31.2, Cause="19", **leg),
        ]
    )  # fmt: skip
    [offer] = [e for e in out if isinstance(e, ev.CallOffered)]
    [end] = [e for e in out if isinstance(e, ev.CallEnded)]
    assert ("PJSIP/102", "outbound") == (offer.interface, offer.via)
    assert (root, "outbound", "operator_no_answer", "+74951234567") == (
        end.call_id,
        end.direction,
        end.outcome,
        end.dialled,
    )
    assert {"KIND": "callback", "NUMBER": "+74951234567", "CALLBACK_ID": "42"} == end.tags


# --- 27: the shipped dialplan on a real Asterisk with SIP phones ----------------------------


def master_csv() -> list[dict[str, str]]:
    columns = (
        "accountcode src dst dcontext clid channel dstchannel lastapp lastdata start answer "
        "end duration billsec disposition amaflags uniqueid userfield peeraccount linkedid "
        "sequence"
    ).split()
    with open(FIXTURES / "27-live-pjsip-deploy.cdr.csv", newline="") as handle:
        return [dict(zip(columns, row, strict=True)) for row in csv.reader(handle)]


def cdr_time(text: str) -> float:
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC).timestamp()


@pytest.fixture(scope="module")
def live27() -> Replayed:
    return Replayed("27-live-pjsip-deploy")


def test_27_every_operator_who_talked_has_an_answered_cdr_of_their_own(live27: Replayed) -> None:
    """Master.csv has a record per application run on the customer's channel; each
    ANSWERED Dial/Queue record names the operator's channel: exactly our operator legs."""
    records = master_csv()
    states = {s.call_id: s for s in live27.calls()}
    checked = 0
    for call_id, state in states.items():
        answered = [
            r for r in records
            if r["linkedid"] == call_id and r["lastapp"] in ("Dial", "Queue")
            and r["dstchannel"].startswith("PJSIP/1") and r["disposition"] == "ANSWERED"
        ]  # fmt: skip
        if state.direction != "inbound":
            continue
        legs = {o.leg_id: o for o in talked(state)}
        channels = {leg.leg_id: leg.channel for leg in state.legs}
        assert sorted(r["dstchannel"] for r in answered) <= sorted(
            channels[leg_id] for leg_id in legs
        ), call_id
        checked += len(answered)
        if answered and not state.conference:
            # the call ends when Asterisk's last record of it ends (whole seconds); a
            # conference call ends when the customer leaves, operators may linger in the room
            end = max(cdr_time(r["end"]) for r in records if r["linkedid"] == call_id)
            assert state.ended_at is not None and abs(end - state.ended_at) < 1.5
    assert checked >= 3


def test_27_blind_transfers_to_people_pop_and_talk(live27: Replayed) -> None:
    blind = [s for s in live27.calls() if [t.kind for t in s.transfer_log] == ["blind"]]
    logged = [v for v in visits("27-live-pjsip-deploy") if v.transfers]
    assert [v.transfers[0] for v in logged] == [s.transfer_log[0].target for s in blind]
    for state, visit in zip(blind, logged, strict=True):
        first, second = talked(state)
        assert visit.talk_seconds is not None and first.talk_seconds is not None
        assert abs(visit.talk_seconds - first.talk_seconds) < 1.0
        assert ("transfer", "queue") == (first.reason, first.via)
        target = state.transfer_log[0].target
        expected_via = "queue" if target == "sales" else "transfer"
        assert second.via == expected_via
        if expected_via == "transfer":
            assert f"PJSIP/{target}" == second.interface  # Dial(PJSIP/${EXTEN})
        offers = live27.of(state.call_id, ev.CallOffered)
        assert [first.interface] == offers[-1].previous_operators
        assert state.talk_seconds == pytest.approx(
            (first.talk_seconds or 0) + (second.talk_seconds or 0)
        )


def test_27_sticky_voicemail_click_to_call_and_supervision(live27: Replayed) -> None:
    states = live27.calls()
    sticky = [s for s in states if [o.via for o in talked(s)] == ["direct"]]
    [call] = sticky
    [leg] = talked(call)
    assert ("answered", "PJSIP/101", "Anna") == (call.outcome, leg.interface, call.agent)
    [record] = [r for r in master_csv() if r["linkedid"] == call.call_id and r["lastapp"] == "Dial"]
    assert record["dstchannel"].startswith("PJSIP/101") and record["disposition"] == "ANSWERED"
    assert leg.ended_at is not None and abs(cdr_time(record["end"]) - leg.ended_at) < 1.5
    # voicemail: the caller reached VoiceMail() in [voicemail] — not an IVR-only call
    [voicemail] = [s for s in states if s.outcome == "voicemail"]
    assert voicemail.caller_number_raw == "79035550013"
    # click-to-call: the operator's phone answered, the provider leg failed (CONGESTION)
    [outbound] = [s for s in states if s.direction == "outbound"]
    assert ("failed", "+79161112233") == (outbound.outcome, outbound.did)
    # the supervisor's ChanSpy call is supervision, not a call "from sue"
    [spy] = [s for s in states if s.direction == "supervisor"]
    assert ("supervision", "sue") == (spy.outcome, spy.caller_number)
    arrived = live27.of(spy.call_id, ev.CallArrived)
    assert ["supervisor"] == [a.direction for a in arrived]


def test_an_operators_call_to_another_operator_is_internal_and_pops() -> None:
    """PJSIP/101 dials 102 through [operators] (Dial(PJSIP/102)): 102's phone rings with the
    pop, the call is internal, not a customer's inbound call."""
    from contact_center.ami.parser import EVENT, Frame

    def frame(name: str, at: float, **headers: str) -> Frame:
        return Frame(EVENT, name, {"Event": name, "Timestamp": f"{at:.6f}", **headers})

    a = {"Channel": "PJSIP/101-00000001", "Uniqueid": "5.1", "Linkedid": "5.1"}
    b = {"Channel": "PJSIP/102-00000002", "Uniqueid": "5.2", "Linkedid": "5.1"}
    dial = {"DestChannel": b["Channel"], "DestUniqueid": "5.2", "DestLinkedid": "5.1"}
    member = {"Queue": "support", "Status": "1", "Paused": "0"}
    tracker = CallTracker("pbx1")
    out = tracker.feed_all(
        [
            frame("QueueMemberAdded", 1.0, Interface="PJSIP/101", MemberName="Anna", **member),
            frame("QueueMemberAdded", 1.0, Interface="PJSIP/102", MemberName="Boris", **member),
            frame("Newchannel", 2.0, Context="operators", Exten="102", CallerIDNum="101",
                  CallerIDName="Anna", **a),
            frame("Newchannel", 2.1, Context="operators", Exten="s", **b),
            frame("DialBegin", 2.1, DialString="PJSIP/102", Context="operators", Exten="102",
                  **a, **dial),
            frame("DialEnd", 5.0, DialStatus="ANSWER", Context="operators", Exten="102",
                  **a, **dial),
            frame("Hangup", 9.0, Cause="16", **b),
            frame("Hangup", 9.1, Cause="16", **a),
        ]
    )  # fmt: skip
    [arrived] = [e for e in out if isinstance(e, ev.CallArrived)]
    [offer] = [e for e in out if isinstance(e, ev.CallOffered)]
    [end] = [e for e in out if isinstance(e, ev.CallEnded)]
    assert ("internal", "101", "102") == (arrived.direction, arrived.caller_number, arrived.did)
    assert ("PJSIP/102", "Boris", "direct") == (offer.interface, offer.member_name, offer.via)
    assert ("answered", "operator", 4.0) == (end.outcome, end.hung_up_by, end.talk_seconds)
