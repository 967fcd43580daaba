"""Calls we place (click-to-call, callbacks) are outbound, with the dialled number as ``did``;
and the tracker names the channels that call control acts on."""

from __future__ import annotations

from contact_center.ami.parser import EVENT, Frame, parse
from contact_center.ami.tracker import TRACKER_FILTER, CallTracker
from contact_center.calls import events as ev

ROOT = "cc-out-5f0c"  # the ChannelId our Originate gave the operator's phone


def event(name: str, **headers: str) -> Frame:
    return Frame(EVENT, name, {"Event": name, **headers})


def channel(name: str, uid: str, at: float, **extra: str) -> dict[str, str]:
    return {
        "Timestamp": f"{at:.6f}",
        "Channel": name,
        "Uniqueid": uid,
        "Linkedid": ROOT,
        **extra,
    }


def click_to_call_frames(number: str = "+74951234567") -> list[Frame]:
    """Originate PJSIP/101 → cc-originate,<number>: the phone rings, answers, the dialplan
    dials the customer over the trunk, the customer answers, then hangs up."""
    op = "PJSIP/101-00000001"
    trunk = "PJSIP/trunk-00000002"
    return [
        event(
            "Newchannel",
            **channel(
                op,
                ROOT,
                100.0,
                Context="operators",
                Exten="101",
                CallerIDNum="<unknown>",
                ChannelStateDesc="Down",
            ),
        ),
        event("NewCallerid", **channel(op, ROOT, 100.1, CallerIDNum=number, CallerIDName="")),
        event("Newstate", **channel(op, ROOT, 103.0, ChannelStateDesc="Up")),
        event(
            "Newexten",
            **channel(
                op, ROOT, 103.1, Context="cc-originate", Exten=number[1:], Application="Goto"
            ),
        ),
        event(
            "Newexten",
            **channel(op, ROOT, 103.2, Context="cc-originate", Exten=number, Application="NoOp"),
        ),
        event(
            "Newexten",
            **channel(op, ROOT, 103.3, Context="cc-originate", Exten=number, Application="Dial"),
        ),
        event(
            "Newchannel",
            **channel(
                trunk,
                "1700000000.2",
                103.4,
                Context="from-trunk",
                Exten="s",
                CallerIDNum=number,
                ChannelStateDesc="Down",
            ),
        ),
        event("Newstate", **channel(trunk, "1700000000.2", 109.0, ChannelStateDesc="Up")),
        event("Hangup", **channel(trunk, "1700000000.2", 160.0, Cause="16")),
        event("Hangup", **channel(op, ROOT, 160.1, Cause="16")),
    ]


def through_the_filter(frames: list[Frame]) -> list[Frame]:
    """The frames the live connection would build (the parser's filter drops the rest)."""
    wire = b"".join(
        "".join(f"{k}: {v}\r\n" for k, v in f.headers.items()).encode() + b"\r\n" for f in frames
    )
    kept, rest = parse(wire, TRACKER_FILTER)
    assert b"" == rest
    return kept


def test_click_to_call_is_outbound_to_the_dialled_number() -> None:
    tracker = CallTracker("pbx1")
    events = tracker.feed_all(through_the_filter(click_to_call_frames()))
    arrived = [e for e in events if isinstance(e, ev.CallArrived)]
    assert [("outbound", "+74951234567", ROOT, "PJSIP/101-00000001")] == [
        (e.direction, e.did, e.call_id, e.channel) for e in arrived
    ]
    assert ["call.arrived", "call.ended"] == [e.kind for e in events]


def test_channels_of_a_live_click_to_call() -> None:
    tracker = CallTracker("pbx1")
    tracker.feed_all(click_to_call_frames()[:-2])  # both legs up
    found = tracker.live_channels(ROOT)
    assert found is not None
    assert ("PJSIP/trunk-00000002", "PJSIP/101-00000001", "PJSIP/101", "outbound") == (
        found.caller_channel,
        found.operator_channel,
        found.operator_interface,
        found.direction,
    )


def test_unanswered_click_to_call_is_still_outbound() -> None:
    tracker = CallTracker("pbx1")
    frames = click_to_call_frames()
    events = tracker.feed_all([frames[0], frames[1], frames[-1]])  # the operator never answered
    arrived = [e for e in events if isinstance(e, ev.CallArrived)]
    assert [("outbound", "")] == [(e.direction, e.did) for e in arrived]


def test_callback_ringing_the_customer_first_is_outbound() -> None:
    """Originate Local/<number>@cc-originate into to-queue,support: the customer's leg is the
    first channel, and the call then waits for an operator like an inbound one."""
    tracker = CallTracker("pbx1")
    one = "Local/+74957654321@cc-originate-0000000c;1"
    frames = [
        event(
            "Newchannel",
            **channel(
                one,
                ROOT,
                1.0,
                Context="cc-originate",
                Exten="+74957654321",
                CallerIDNum="<unknown>",
            ),
        ),
        event("NewCallerid", **channel(one, ROOT, 1.1, CallerIDNum="4951110004")),
        event("QueueCallerJoin", **channel(one, ROOT, 5.0, Queue="support", Position="1")),
    ]
    events = tracker.feed_all(frames)
    assert [("outbound", "+74957654321")] == [
        (e.direction, e.did) for e in events if isinstance(e, ev.CallArrived)
    ]
    assert ["call.arrived", "call.queued"] == [e.kind for e in events]


def test_untagged_call_starting_in_cc_originate_is_outbound() -> None:
    """A call placed by something else (an old Originate without our ChannelId) is recognised
    from its first dialplan context."""
    tracker = CallTracker("pbx1")
    uid = "1700000000.7"
    frames = [
        event(
            "Newchannel",
            Timestamp="1.0",
            Channel="PJSIP/102-0000000a",
            Uniqueid=uid,
            Linkedid=uid,
            Context="operators",
            Exten="102",
            CallerIDNum="<unknown>",
        ),
        event(
            "Newexten",
            Timestamp="2.0",
            Channel="PJSIP/102-0000000a",
            Uniqueid=uid,
            Linkedid=uid,
            Context="cc-originate",
            Exten="+74957654321",
            Application="Dial",
        ),
    ]
    events = tracker.feed_all(frames)
    assert [("outbound", "+74957654321")] == [
        (e.direction, e.did) for e in events if isinstance(e, ev.CallArrived)
    ]


def test_inbound_call_transferred_outside_stays_inbound() -> None:
    tracker = CallTracker("pbx1")
    uid = "1700000000.9"
    base = {"Channel": "PJSIP/trunk-0000000b", "Uniqueid": uid, "Linkedid": uid}
    frames = [
        event(
            "Newchannel",
            Timestamp="1.0",
            Context="from-trunk",
            Exten="4951110004",
            CallerIDNum="+79161112233",
            **base,
        ),
        event(
            "Newexten",
            Timestamp="9.0",
            Context="cc-originate",
            Exten="+74957654321",
            Application="Dial",
            **base,
        ),
    ]
    events = tracker.feed_all(frames)
    assert [("inbound", "4951110004", "+79161112233")] == [
        (e.direction, e.did, e.caller_number) for e in events if isinstance(e, ev.CallArrived)
    ]


def test_channels_of_an_answered_queue_call() -> None:
    tracker = CallTracker("pbx1")
    link = "1700000000.0"
    caller = {"Linkedid": link, "Channel": "Local/4951110004@inbound-00000000;2",
              "Uniqueid": "1700000000.1", "CallerIDNum": "+74951234567"}  # fmt: skip
    dest = {"DestChannel": "Local/101@agents-00000001;1", "DestUniqueid": "1700000000.2",
            "DestLinkedid": link, "Queue": "support", "Interface": "Local/101@agents",
            "MemberName": "Operator 101"}  # fmt: skip
    tracker.feed_all(
        [
            event(
                "Newchannel",
                Timestamp="1.0",
                Channel="Local/4951110004@inbound-00000000;1",
                Uniqueid=link,
                Linkedid=link,
                Exten="4951110004",
            ),
            event("Newchannel", Timestamp="1.1", Exten="4951110004", **caller),
            event("QueueCallerJoin", Timestamp="2.0", Queue="support", Position="1", **caller),
            event("AgentCalled", Timestamp="2.1", **caller, **dest),
            event("AgentConnect", Timestamp="4.0", HoldTime="2", RingTime="1", **caller, **dest),
        ]
    )
    found = tracker.live_channels(link)
    assert found is not None
    assert (
        "Local/4951110004@inbound-00000000;2",
        "Local/101@agents-00000001;1",
        "Local/101@agents",
        "support",
        "inbound",
    ) == (
        found.caller_channel,
        found.operator_channel,
        found.operator_interface,
        found.queue,
        found.direction,
    )
    assert tracker.live_channels("no-such-call") is None


def test_another_clients_originate_is_announced_with_its_caller_not_by_its_response() -> None:
    # Asterisk sends every AMI session the OriginateResponse of every Originate. One placed
    # by another client (here a call from the provider made with a Local channel, as the
    # live suite does) is an ordinary call: announced once its caller ID is known, even when
    # the OriginateResponse overtakes the NewCallerid — as a real Asterisk 22.10.1 delivered
    # it about one call in five (frames as it sent them, timestamps shortened).
    one, two = "live-b947ad7735e1", "live-b947ad7735e1-2"
    local = "Local/4951110006@from-trunk-00000129"

    def leg(uid: str, half: str, at: float, **extra: str) -> dict[str, str]:
        return {
            "Timestamp": f"{at:.6f}", "Channel": f"{local};{half}", "Uniqueid": uid,
            "Linkedid": one, "Context": "from-trunk", "Exten": "4951110006", **extra,
        }  # fmt: skip

    response = {
        "Response": "Success", "Channel": f"{local};1", "Context": "from-trunk",
        "Exten": "4951110006", "Reason": "4", "Uniqueid": one, "CallerIDNum": "+74951234567",
    }  # fmt: skip
    frames = [
        event("Newchannel", **leg(one, "1", 71.858945, CallerIDNum="<unknown>")),
        event("Newchannel", **leg(two, "2", 71.859001, CallerIDNum="<unknown>")),
        event("OriginateResponse", **response),
        event(
            "NewCallerid",
            **leg(one, "1", 71.859716, CallerIDNum="+74951234567", CallerIDName="Ivan Petrov"),
        ),
        event("NewCallerid", **leg(two, "2", 71.859748, CallerIDNum="+74951234567")),
    ]
    arrived = [
        e for e in CallTracker("pbx1").feed_all(through_the_filter(frames))
        if isinstance(e, ev.CallArrived)
    ]  # fmt: skip

    assert [(e.call_id, e.caller_number, e.caller_name, e.direction) for e in arrived] == [
        (one, "+74951234567", "Ivan Petrov", "inbound")
    ]
