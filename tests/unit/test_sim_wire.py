"""AMI framing of the simulator (server side) and the transcript comparison rules."""

from __future__ import annotations

from contact_center.sim.transcript import compare_streams, grouped, split_messages
from contact_center.sim.wire import encode, parse_requests

LOGIN = b"Action: Login\r\nActionID: 1\r\nUsername: cc\r\nSecret: x\r\n\r\n"


def test_requests_are_split_and_the_tail_kept() -> None:
    requests, tail = parse_requests(LOGIN + b"Action: Ping\r\nAction")

    assert ["Login"] == [r.action for r in requests]
    assert ("1", "cc") == (requests[0].action_id, requests[0].get("username"))
    assert b"Action: Ping\r\nAction" == tail


def test_repeated_headers_are_kept_in_order() -> None:
    raw = b"Action: Originate\r\nVariable: A=1\r\nVariable: B=2\r\n\r\n"

    (request,), _ = parse_requests(raw)

    assert ["A=1", "B=2"] == request.get_all("Variable")


def test_encode_ends_with_a_blank_line() -> None:
    assert b"Response: Success\r\nPing: Pong\r\n\r\n" == encode(
        [("Response", "Success"), ("Ping", "Pong")]
    )


def event(name: str, channel: str, *extra: str) -> str:
    fields = "".join(f"{k}: v\r\n" for k in extra)
    return f"Event: {name}\r\nPrivilege: call,all\r\nChannel: {channel}\r\n{fields}\r\n"


def test_groups_follow_channels_not_the_global_interleaving() -> None:
    a = "Local/1@x-00000001;1"
    b = "Local/2@x-00000002;1"
    one = split_messages(event("Newchannel", a) + event("Newchannel", b) + event("Hangup", a))
    two = split_messages(event("Newchannel", a) + event("Hangup", a) + event("Newchannel", b))

    assert [] == compare_streams(one, two)


def test_header_order_matters() -> None:
    ch = "Local/1@x-00000001;1"
    one = split_messages(event("Hangup", ch, "Cause", "Cause-txt"))
    two = split_messages(event("Hangup", ch, "Cause-txt", "Cause"))

    problems = compare_streams(one, two)

    assert 1 == len(problems)
    assert "Hangup" in problems[0]


def test_cel_and_unreported_varsets_are_left_out() -> None:
    ch = "Local/1@x-00000001;1"
    stream = split_messages(
        event("CEL", ch)
        + "Event: VarSet\r\nPrivilege: dialplan,all\r\nChannel: x\r\nVariable: QUEUEWAIT\r\n\r\n"
        + "Event: VarSet\r\nPrivilege: dialplan,all\r\nChannel: x\r\nVariable: __CC_DID\r\n\r\n"
    )

    assert {"chan:x": ["VarSet(Privilege,Channel,Variable)"]} == grouped(stream)


def test_identity_formats_are_checked() -> None:
    bad = split_messages("Event: Newchannel\r\nPrivilege: call,all\r\nUniqueid: 17953.x\r\n\r\n")

    assert ["Newchannel: Uniqueid='17953.x' has the wrong format"] == compare_streams(bad, bad)
