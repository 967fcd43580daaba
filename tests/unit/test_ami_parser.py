"""The AMI frame parser against the real captures and hostile input."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contact_center.ami.parser import BANNER, DROPPED, EVENT, RESPONSE, Frame, FrameFilter, parse
from contact_center.ami.replay import capture_stream
from contact_center.ami.tracker import TRACKER_FILTER

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
CAPTURES = sorted(p.name for p in FIXTURES.glob("*.jsonl"))
STREAM_02 = capture_stream(FIXTURES / "02-inbound-ivr-queue-answered.jsonl")
STREAM_07 = capture_stream(FIXTURES / "07-actions.jsonl")


def parse_in_chunks(
    data: bytes, cuts: list[int], frame_filter: FrameFilter = FrameFilter()
) -> list[Frame]:
    frames: list[Frame] = []
    leftover = b""
    start = 0
    for cut in [*sorted(set(cuts)), len(data)]:
        got, leftover = parse(leftover + data[start:cut], frame_filter)
        frames.extend(got)
        start = cut
    assert b"" == leftover
    return frames


@pytest.mark.parametrize("name", CAPTURES)
def test_every_capture_parses_into_its_counted_events(name: str) -> None:
    import json

    summary = json.loads((FIXTURES / name.replace(".jsonl", ".summary.json")).read_text())
    from contact_center.ami.replay import capture_reads

    counts: dict[str, int] = {}
    responses = 0
    leftovers: dict[str, bytes] = {}
    for conn, data in capture_reads(FIXTURES / name):
        frames, leftovers[conn] = parse(leftovers.get(conn, b"") + data)
        for frame in frames:
            if frame.kind == EVENT:
                counts[frame.name] = counts.get(frame.name, 0) + 1
            elif frame.kind == RESPONSE:
                responses += 1
    # 27's summary is the bare count table (its one action response counted as "Response");
    # the rig's captures wrap the events in events_by_type
    expected = dict(summary.get("events_by_type", summary))
    if "events_by_type" not in summary:
        assert expected.pop("Response", 0) == responses
    assert expected and expected == counts
    assert all(rest == b"" for rest in leftovers.values())


def test_banner_has_no_blank_line_and_is_its_own_frame() -> None:
    frames, leftover = parse(b"Asterisk Call Manager/11.0.0\r\n")
    assert [Frame(BANNER, "11.0.0", {})] == frames
    assert b"" == leftover
    frames, leftover = parse(
        b"Asterisk Call Manager/11.0.0\r\nResponse: Success\r\nActionID: 1\r\n"
    )
    assert ["11.0.0"] == [f.name for f in frames]
    assert b"Response: Success\r\nActionID: 1\r\n" == leftover


def test_first_frames_of_a_real_session() -> None:
    frames, _ = parse(STREAM_02)
    assert (BANNER, "11.0.0") == (frames[0].kind, frames[0].name)
    login = frames[1]
    assert (RESPONSE, "Success", "ami-main-1") == (login.kind, login.name, login.action_id)
    assert "Authentication accepted" == login.get("Message")
    assert (EVENT, "FullyBooted") == (frames[2].kind, frames[2].name)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=len(STREAM_02)), max_size=40))
def test_any_chunking_yields_the_same_frames(cuts: list[int]) -> None:
    assert parse(STREAM_02)[0] == parse_in_chunks(STREAM_02, cuts)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=len(STREAM_07)), max_size=60))
def test_any_chunking_with_the_tracker_filter_yields_the_same_frames(cuts: list[int]) -> None:
    assert parse(STREAM_07, TRACKER_FILTER)[0] == parse_in_chunks(STREAM_07, cuts, TRACKER_FILTER)


def test_bare_newlines_parse_like_crlf() -> None:
    assert parse(STREAM_02)[0] == parse(STREAM_02.replace(b"\r\n", b"\n"))[0]


def test_multibyte_character_split_across_reads_survives() -> None:
    data = "Event: Newchannel\r\nCallerIDName: José\r\nUniqueid: 1.1\r\n\r\n".encode()
    cut = data.index("é".encode()) + 1  # inside the two-byte é
    frames = parse_in_chunks(data, [cut])
    assert "José" == frames[0].get("CallerIDName")


def test_invalid_utf8_is_replaced_not_dropped() -> None:
    data = b"Event: Newchannel\r\nCallerIDName: Jos\xe9\r\nUniqueid: 1.1\r\n\r\n"
    frames, _ = parse(data)
    assert "Jos\ufffd" == frames[0].get("CallerIDName")
    assert "1.1" == frames[0].get("Uniqueid")


def test_repeated_headers_keep_a_single_type() -> None:
    data = b"Event: Status\r\nVariable: A=1\r\nVariable: B=2\r\nChannel: X\r\n\r\n"
    data += b"Event: Status\r\nVariable: C=3\r\nChannel: Y\r\n\r\n"
    frames, _ = parse(data)
    assert ("A=1", "B=2") == frames[0].getall("Variable")
    assert ("C=3",) == frames[1].getall("Variable")
    assert "A=1" == frames[0].get("Variable")
    assert () == frames[1].getall("Nothing")


def test_command_output_headers_from_asterisk_22() -> None:
    frames, _ = parse(STREAM_07)
    command = next(f for f in frames if f.action_id == "ami-main-20")
    outputs = command.getall("Output")
    assert outputs[0].startswith("support has 1 calls")
    assert 8 == len(outputs)
    assert "   Callers: " == outputs[4]


def test_legacy_response_follows_body_with_blank_lines() -> None:
    body = "line one\n\nline three\n"
    data = (
        "Response: Follows\r\nPrivilege: Command\r\nActionID: 7\r\n"
        + body
        + "--END COMMAND--\r\n\r\nEvent: Ping\r\nA: b\r\n\r\n"
    ).encode()
    whole = parse(data)[0]
    assert [("Follows", "7")] == [(f.name, f.action_id) for f in whole[:1]]
    assert "line one\n\nline three" == whole[0].body
    assert "Ping" == whole[1].name
    for cut in range(1, len(data)):
        assert whole == parse_in_chunks(data, [cut])


def test_malformed_frame_is_skipped_and_the_next_good_one_kept() -> None:
    data = b"garbage without header\r\nmore: stuff\r\n\r\nEvent: Hangup\r\nUniqueid: 1.2\r\n\r\n"
    frames, _ = parse(data)
    assert [("Hangup", "1.2")] == [(f.name, f.get("Uniqueid")) for f in frames]


def test_lines_without_colon_inside_a_frame_are_ignored() -> None:
    frames, _ = parse(b"Event: Hangup\r\nnonsense\r\nUniqueid: 1.2\r\nEmpty:\r\n\r\n")
    assert {"Event": "Hangup", "Uniqueid": "1.2", "Empty": ""} == frames[0].headers


def test_oversized_frames_are_skipped() -> None:
    big = b"Event: VarSet\r\nValue: " + b"x" * 5000 + b"\r\n\r\n"
    good = b"Event: Hangup\r\nUniqueid: 1.3\r\n\r\n"
    frames, _ = parse(big + good, max_frame=1000)
    assert ["Hangup"] == [f.name for f in frames]
    # an incomplete oversized frame is dropped too, and the stream recovers afterwards
    frames, leftover = parse(big[:3000], max_frame=1000)
    assert ([], DROPPED) == (frames, leftover)  # a marker: what follows is that frame's rest
    frames, _ = parse(leftover + big[3000:] + good, max_frame=1000)
    assert ["Hangup"] == [f.name for f in frames]


def test_filter_drops_varset_except_the_recording_file_name() -> None:
    all_frames = parse(STREAM_02)[0]
    kept = parse(STREAM_02, TRACKER_FILTER)[0]
    varsets = [f for f in kept if f.name == "VarSet"]
    assert ["MIXMONITOR_FILENAME"] == [f.get("Variable") for f in varsets]
    assert 89 == sum(1 for f in all_frames if f.name == "VarSet")
    assert not any(f.name in ("CEL", "Cdr", "DeviceStateChange") for f in kept)
    responses = [f for f in all_frames if f.kind == RESPONSE]
    assert responses == [f for f in kept if f.kind == RESPONSE]


def test_action_replies_pass_only_when_asked_for() -> None:
    import dataclasses

    quiet = parse(STREAM_07, TRACKER_FILTER)[0]
    assert {"Success"} == {f.name for f in quiet if f.action_id == "ami-main-12"}
    awaiting = dataclasses.replace(TRACKER_FILTER, keep_action_replies=True)
    kept = parse(STREAM_07, awaiting)[0]
    names = {f.name for f in kept if f.action_id == "ami-main-12"}
    assert {"Success", "CoreShowChannel", "CoreShowChannelsComplete"} == names
    complete = next(f for f in kept if f.name == "CoreShowChannelsComplete")
    assert complete.is_list_complete
    assert any(f.name == "OriginateResponse" for f in kept)
    # the tracker reads OriginateResponse itself (what an Originate of ours became: a
    # supervisor's ChanSpy, a call we place), so it passes the quiet stream too; list items
    # pass only when a connection awaits them. (An only_if on its Context would drop the
    # answers a connection awaits: the filter's value check comes before the ActionID one.)
    assert any(f.name == "OriginateResponse" for f in quiet)
    assert not any(f.name == "CoreShowChannel" for f in quiet)


# The firehose path (``_scan``: CRLF, a filter on names, no action replies) must keep exactly
# the frames the general path (split on blank lines, then ``_build``) keeps — on real
# captures and on hostile bytes: stray line ends, lone CR/LF, "Event: X" alone, a checked
# header repeated or with a lone CR after its value, invalid UTF-8, oversized frames.
SCAN_PIECES = [
    b"Event: VarSet", b"Event: Newexten", b"Event: Hangup", b"Event: Newstate", b"Event: CEL",
    b"Event: ", b"Response: Success", b"Response: ", b"\r\n", b"\r\n\r\n", b"\r", b"\n",
    b": ", b"Variable: ", b"Application: ", b"MIXMONITOR_FILENAME", b"CC_KIND", b"Dial",
    b"AGI", b"Variable: MIXMONITOR_FILENAME", b"Application: Dial", b"x", b"Uniqueid: 1",
    b"\xe2\x82", b"Hangup", b"~", b"ActionID: 1", b"\r\nVariable: CC_KIND\r\n",
    b"\nApplication: AGI", b"Cause: 16", b"Event: VarSet\r\nVariable: x",
    b"Event: Newexten\r\nApplication: Wait", b"\r\nCause: 17",
]  # fmt: skip
SCAN_FILTERS = [
    TRACKER_FILTER,
    FrameFilter(events=frozenset({"Hangup", "VarSet"}), keep_action_replies=False),
    FrameFilter(
        events=frozenset({"Hangup"}),
        keep_action_replies=False,
        only_if={"Hangup": ("Cause", frozenset({"16", ""}))},
    ),
]


def general_path(complete: bytes, frame_filter: FrameFilter, max_frame: int) -> list[Frame]:
    from contact_center.ami.parser import _build

    frames: list[Frame] = []
    _build(complete.split(b"\r\n\r\n"), frames, frame_filter, max_frame, b"\r\n")
    return frames


def test_firehose_path_keeps_what_the_general_path_keeps_on_every_capture() -> None:
    for name in CAPTURES:
        from contact_center.ami.replay import capture_stream as stream

        data = stream(FIXTURES / name)
        if data.startswith(b"Asterisk Call Manager/"):
            data = data[data.index(b"\n") + 1 :]
        complete = data[: data.rfind(b"\r\n\r\n")]
        if b"Response: Follows" in complete:
            continue  # legacy command output takes the general path anyway
        got = parse(complete + b"\r\n\r\n", TRACKER_FILTER)[0]
        assert got == general_path(complete, TRACKER_FILTER, 256 * 1024), name


def test_firehose_path_keeps_what_the_general_path_keeps_on_hostile_bytes() -> None:
    import random

    rng = random.Random(22)  # seeded: the same 30 000 streams every run
    for _ in range(30_000):
        data = b"".join(rng.choice(SCAN_PIECES) for _ in range(rng.randint(1, 30)))
        if b"\r\n\r\n" not in data:
            continue
        frame_filter = rng.choice(SCAN_FILTERS)
        max_frame = rng.choice([256 * 1024, 20])
        complete = data[: data.rfind(b"\r\n\r\n")]
        got = parse(data, frame_filter, max_frame)[0]
        assert got == general_path(complete, frame_filter, max_frame), data


# An event kept only for some values of a header is dropped by the firehose search itself when
# it surely fails its check (``_value_lookahead``): aimed at that, frames whose header's first
# occurrence, blank line or value end sits where a line-by-line reading could slip.
CHECKED_FILTER = FrameFilter(
    events=frozenset({"VarSet", "Newexten", "Hangup"}),
    keep_action_replies=False,
    only_if={
        "VarSet": ("Variable", frozenset({"MIXMONITOR_FILENAME", "CC_KIND", "A", "AB"})),
        "Newexten": ("Application", frozenset({"Dial", ""})),
    },
)
CHECKED_CASES = [
    # the allowed value in a frame that is not a VarSet
    b"Event: Hangup\r\nVariable: MIXMONITOR_FILENAME\r\nUniqueid: 1\r\n\r\n",
    # the allowed value as the second occurrence, after a value not allowed
    b"Event: VarSet\r\nVariable: X\r\nVariable: MIXMONITOR_FILENAME\r\n\r\n",
    b"Event: VarSet\r\nVariable: MIXMONITOR_FILENAME\r\nVariable: X\r\n\r\n",
    # the first frame of the buffer, with and without stray line ends before it
    b"Event: VarSet\r\nUniqueid: 1\r\nVariable: CC_KIND\r\nValue: x\r\n\r\n",
    b"\r\n\r\n\r\n\nEvent: VarSet\r\nVariable: CC_KIND\r\n\r\n",
    b"\rEvent: VarSet\r\nVariable: CC_KIND\r\n\r\n",
    # stray blank lines before a later frame
    b"Event: Hangup\r\nUniqueid: 1\r\n\r\n\r\n\r\n\r\n\nEvent: VarSet\r\nVariable: A\r\n\r\n",
    # the value on the frame's last line, right before the buffer's last blank line
    b"Event: Hangup\r\nUniqueid: 1\r\n\r\nEvent: VarSet\r\nUniqueid: 2\r\nVariable: AB\r\n\r\n",
    b"Event: VarSet\r\nVariable: ABC\r\n\r\nEvent: VarSet\r\nVariable: A\r\n\r\n",
    # the header after the frame's end: another frame's
    b"Event: VarSet\r\nUniqueid: 1\r\n\r\nVariable: A\r\n\r\n",
    b"Event: VarSet\r\n\r\nVariable: A\r\n\r\n",
    # lone LF and CR inside a frame: the header after a bare LF counts, "\n\r\n" is no end
    b"Event: VarSet\r\nFoo: x\nVariable: A\r\n\r\n",
    b"Event: VarSet\r\nFoo: x\n\r\nVariable: A\r\n\r\n",
    b"Event: VarSet\r\nFoo: x\rVariable: A\r\n\r\n",
    b"Event: VarSet\r\nVariable: A\r\r\n\r\n",
    b"Event: VarSet\r\nVariable: A\rB\r\n\r\n",
    b"Event: VarSet\r\nVariable: A\nB\r\n\r\n",
    b"Event: VarSet\r\nVariable:A\r\nVariable: A\r\n\r\n",
    b"Event: VarSet\r\nXVariable: A\r\n\r\n",
    # an empty value allowed, or not
    b"Event: Newexten\r\nApplication: \r\n\r\nEvent: Newexten\r\nApplication: Wait\r\n\r\n",
    b"Event: Newexten\r\nApplication: Dial\r\nApplication: \r\n\r\n",
    b"Event: VarSet\r\nVariable: \r\n\r\n",
]


@pytest.mark.parametrize("data", CHECKED_CASES)
@pytest.mark.parametrize("frame_filter", [CHECKED_FILTER, TRACKER_FILTER])
def test_firehose_path_checks_header_values_as_the_general_path(
    data: bytes, frame_filter: FrameFilter
) -> None:
    complete = data[: data.rfind(b"\r\n\r\n")]
    expected = general_path(complete, frame_filter, 256 * 1024)
    assert parse(data, frame_filter)[0] == expected
    # the same frame at the very end of the complete frames (no blank line after it seen)
    assert parse(data + b"Event: Hangup\r\nUnique", frame_filter)[0] == expected


def test_firehose_path_keeps_the_allowed_values_and_only_them() -> None:
    kept = parse(b"".join(CHECKED_CASES), CHECKED_FILTER)[0]
    values = [f.get("Variable") or f.get("Application") for f in kept if f.name != "Hangup"]
    # "Foo: x\nVariable: A" is one header line, whose value holds the allowed one
    assert values == [
        "MIXMONITOR_FILENAME", "CC_KIND", "CC_KIND", "CC_KIND", "A", "AB", "A", "", "A", "A",
        "", "Dial",
    ]  # fmt: skip


CHECKED_PIECES = [
    b"Event: VarSet", b"Event: Newexten", b"Event: Hangup", b"\r\n", b"\r\n", b"\r\n\r\n",
    b"\n", b"\r", b"Variable: ", b"Variable: A", b"Variable: AB", b"Variable: MIXMONITOR_FILENAME",
    b"Application: ", b"Application: Dial", b"Application: Wait", b"A", b"B", b"Dial", b"x",
    b"Value: 1", b"Uniqueid: 1", b"\r\nVariable: CC_KIND\r\n", b"\nApplication: Dial\r\n",
]  # fmt: skip


def test_firehose_path_checks_header_values_as_the_general_path_on_hostile_bytes() -> None:
    import random

    rng = random.Random(23)  # seeded: the same 20 000 streams every run
    for _ in range(20_000):
        data = b"".join(rng.choice(CHECKED_PIECES) for _ in range(rng.randint(1, 40)))
        if b"\r\n\r\n" not in data:
            continue
        frame_filter = rng.choice([CHECKED_FILTER, TRACKER_FILTER])
        complete = data[: data.rfind(b"\r\n\r\n")]
        got = parse(data, frame_filter)[0]
        assert got == general_path(complete, frame_filter, 256 * 1024), data


# The search skips to the header's first byte a bounded number of times (parser._VALUE_RUN,
# _VALUE_RUNS), past the frame's blank line too: the header where the bound stops it, another
# frame's header, or the header beyond the bound must not drop a frame the check keeps.
def _bounded_cases() -> list[bytes]:
    from contact_center.ami.parser import _VALUE_RUN, _VALUE_RUNS

    many_v = b"".join(b"V" * i + b"x" for i in range(1, _VALUE_RUNS + 3))
    long = b"x" * (_VALUE_RUN + 5)
    cases = [
        # more V than the search skips, then "Variable: " not at a line's start
        b"Event: VarSet\r\nFoo: " + many_v + b"Variable: X\r\nVariable: A\r\n\r\n",
        *(
            b"Event: VarSet\r\nFoo: " + b"V" * n + b"Variable: X\r\nVariable: A\r\n\r\n"
            for n in range(_VALUE_RUNS + 2)
        ),
        *(
            b"Event: Newexten\r\nFoo: " + b"A" * n + b"Application: X\r\nApplication: Dial\r\n\r\n"
            for n in range(_VALUE_RUNS + 2)
        ),
        # the header beyond the bound: kept when allowed, dropped when not
        b"Event: VarSet\r\nFoo: " + long + b"\r\nVariable: A\r\n\r\n",
        b"Event: VarSet\r\nFoo: " + long + b"\r\nVariable: X\r\n\r\n",
        b"Event: VarSet\r\nFoo: " + long + b"V" + long + b"\r\nVariable: AB\r\n\r\n",
        # no header in the frame; the next frame's allowed, or not
        b"Event: VarSet\r\nUniqueid: 1\r\n\r\nEvent: VarSet\r\nVariable: A\r\n\r\n",
        b"Event: VarSet\r\nUniqueid: 1\r\n\r\nEvent: VarSet\r\nVariable: X\r\n\r\n",
        b"Event: Newexten\r\n\r\nEvent: Hangup\r\nApplication: Dial\r\n\r\n",
        # the key's first byte right after the name, at the start of a value, doubled
        b"Event: VarSet\r\nVVariable: X\r\nVariable: A\r\n\r\n",
        b"Event: VarSet\r\nValue: V\r\nVariable: A\r\n\r\n",
        b"Event: VarSet\r\nVariable: V\r\nVariable: A\r\n\r\n",
    ]
    return cases


def test_the_bounded_header_search_drops_only_what_the_check_drops() -> None:
    from contact_center.ami.parser import _VALUE_RUNS

    for data in _bounded_cases():
        for frame_filter in (CHECKED_FILTER, TRACKER_FILTER):
            complete = data[: data.rfind(b"\r\n\r\n")]
            expected = general_path(complete, frame_filter, 256 * 1024)
            assert parse(data, frame_filter)[0] == expected, data
            assert parse(data + b"Event: Hangup\r\nUnique", frame_filter)[0] == expected, data
    kept = parse(b"".join(_bounded_cases()), CHECKED_FILTER)[0]
    values = [f.get("Variable") or f.get("Application") for f in kept if f.name != "Hangup"]
    # a value holding "Variable: X" is a "Foo" line's; the bound's long frames: A kept, X not
    runs = len(range(_VALUE_RUNS + 2))
    assert values == ["A", *["A"] * runs, *["Dial"] * runs, "A", "AB", "A", "A", "A"]


def test_checked_events_split_across_reads_at_every_offset() -> None:
    from contact_center.ami.parser import _VALUE_RUN

    # the header search must give the same frames wherever a read ends: inside the name, the
    # header, its value, the blank line, or the bound's reach
    short = [case for case in _bounded_cases() if len(case) < _VALUE_RUN]
    data = b"".join([*CHECKED_CASES[:8], *short])
    whole = parse(data, CHECKED_FILTER)[0]
    assert len(whole) > 10
    for cut in range(1, len(data)):
        assert parse_in_chunks(data, [cut], CHECKED_FILTER) == whole, cut


def test_the_follows_lookout_answers_as_a_plain_search() -> None:
    import random

    from contact_center.ami.parser import _FOLLOWS_PIVOT_TRIES, FOLLOWS_BYTES, _may_follow

    assert not _may_follow(b"")
    assert _may_follow(FOLLOWS_BYTES)
    assert not _may_follow(FOLLOWS_BYTES[:-1])
    assert _may_follow(b"F" * 5 + FOLLOWS_BYTES)
    # more candidates than are tried one by one: the rest is searched as a whole
    many = b"F" * (_FOLLOWS_PIVOT_TRIES + 3)
    assert not _may_follow(many)
    assert _may_follow(many + FOLLOWS_BYTES)
    assert _may_follow(b"F" * (_FOLLOWS_PIVOT_TRIES - 1) + FOLLOWS_BYTES + many)
    rng = random.Random(24)
    pieces = [FOLLOWS_BYTES, b"F", b"Response: ", b"Follows", b"x", b"\r\n", b"Response: F"]
    for _ in range(5_000):
        data = b"".join(rng.choice(pieces) for _ in range(rng.randint(0, 300)))
        assert _may_follow(data) == (FOLLOWS_BYTES in data), data


def test_follows_words_in_a_value_keep_the_firehose_frames() -> None:
    data = (
        b"Event: Hangup\r\nCallerIDName: Response: Follows\r\nUniqueid: 1\r\n\r\n"
        b"Event: VarSet\r\nVariable: MIXMONITOR_FILENAME\r\nValue: f.wav\r\n\r\n"
    )
    frames, rest = parse(data, TRACKER_FILTER)
    assert rest == b""
    assert [f.name for f in frames] == ["Hangup", "VarSet"]
    assert frames[0].get("CallerIDName") == "Response: Follows"


def test_frames_read_by_their_layout_are_the_frames_read_line_by_line() -> None:
    # The firehose reads the header lines of a frame at once when they are those of the last
    # frames of its kind (parser._LAYOUTS): same frames as the general path, whatever differs.
    from contact_center.ami.parser import _LAYOUTS, _unlearnt

    def newstate(*lines: bytes) -> bytes:
        return b"\r\n".join([b"Event: Newstate", *lines]) + b"\r\n\r\n"

    layout = (b"Uniqueid: 1", b"Channel: PJSIP/1-0001", b"Context: c")
    data = b"".join(
        [
            newstate(*layout),
            newstate(*layout),  # learnt here
            newstate(b"Uniqueid: 2", b"Channel: PJSIP/2: x", b"Context: "),
            newstate(b"Uniqueid: 3", b"Channel: a\rb", b"Context: c"),  # lone CR in a value
            newstate(b"Uniqueid: 4", b"Channel: a\nb", b"Context: c\r"),
            newstate(b"Uniqueid: 5", b"Channel: x", b"Context: c", b"Exten: 1"),  # one more
            newstate(b"Uniqueid: 6", b"Channel: x"),  # one fewer
            newstate(b"Uniqueid: 7", b"Context: c", b"Channel: x"),  # another order
            newstate(b"Uniqueid: 8", b"Channel: x", b"Channel: y"),  # repeated
            newstate(b"Uniqueid: 9", b"Channel:x", b"Context: c"),  # no space
            newstate(b"Uniqueid: 10", b"Channel: \xe2\x82", b"Context: c"),  # invalid UTF-8
            newstate(b"Uniqueid: 11", b"Channel: \xc3\xa9", b"Context: c"),
            newstate(b"Uniqueid: 12", b"Channel: ", b"Context: c"),
            b"Event: Hangup\r\nUniqueid: 13\r\nChannel: x\r\nContext: c\r\n\r\n",  # another kind
        ]
    )
    _LAYOUTS.clear()
    got = parse(data, TRACKER_FILTER)[0]
    assert got == general_path(data[: data.rfind(b"\r\n\r\n")], TRACKER_FILTER, 256 * 1024)
    assert [f.get("Uniqueid") for f in got] == [str(i) for i in (1, 1, *range(2, 14))]
    assert _LAYOUTS[b"Event: Newstate"][1] is not _unlearnt
    assert got[2].headers == {
        "Event": "Newstate", "Uniqueid": "2", "Channel": "PJSIP/2: x", "Context": ""
    }  # fmt: skip


def test_keys_that_cannot_name_a_group_are_read_by_the_layout_under_their_own_names() -> None:
    # A layout names each group by its key and builds the headers from the match; a key that
    # is no ASCII identifier (Asterisk's "Cause-txt", "CID-CallingPres"; "Café"), one that
    # is a keyword, or one spelt like the alias another key would get ("_2") reads the same
    # headers as the line-by-line path, every key under its own name.
    from contact_center.ami.parser import _LAYOUTS, _layout_pattern, _unlearnt

    keys = ("Uniqueid", "Cause-txt", "_2", "class", "Caf\u00e9", "CID-CallingPres", "_1")

    def hangup(n: int) -> bytes:
        lines = [b"Event: Hangup", *(f"{key}: {key} {n}".encode() for key in keys)]
        return b"\r\n".join(lines) + b"\r\n\r\n"

    data = b"".join(hangup(n) for n in range(4))
    _LAYOUTS.clear()
    got = parse(data, TRACKER_FILTER)[0]
    assert got == general_path(data[: data.rfind(b"\r\n\r\n")], TRACKER_FILTER, 256 * 1024)
    assert _LAYOUTS[b"Event: Hangup"][1] is not _unlearnt  # frames 2 and 3 read by the layout
    assert got[3].headers == {"Event": "Hangup", **{key: f"{key} 3" for key in keys}}
    renamed = dict(_layout_pattern(("Event", *keys))[1])
    assert sorted(renamed.values()) == ["CID-CallingPres", "Caf\u00e9", "Cause-txt"]
    assert not set(renamed) & {"Event", *keys}


def test_a_learnt_layout_reads_lone_line_ends_in_a_value_as_the_line_split_does() -> None:
    # A layout's value is ``[^\r]*+`` (anything but CR): a lone LF anywhere in a value — at
    # its start or end, before what looks like another header — stays in it, as when the
    # lines are split on CRLF; a lone CR (at a value's end too, right before the CRLF or the
    # frame's blank line) takes the general path. The same frames either way.
    from contact_center.ami.parser import _LAYOUTS, _unlearnt

    def newstate(uniqueid: bytes, channel: bytes, context: bytes) -> bytes:
        lines = (b"Event: Newstate", b"Uniqueid: " + uniqueid, b"Channel: " + channel)
        return b"\r\n".join([*lines, b"Context: " + context]) + b"\r\n\r\n"

    cases = [
        (b"3", b"a\n", b"c"),
        (b"4", b"\n", b"\n"),
        (b"5", b"a\n\nb", b"c\nContext: d"),
        (b"6\n", b"\na", b"c: d\n"),
        (b"7", b"a\r", b"c"),
        (b"8", b"\r", b"\r"),
        (b"9", b"a\r\rb", b"c\r\r"),
        (b"10\r", b"\ra", b"c: d\r"),
        (b"11", b"a\r\nb", b"c"),  # a line without ": ": the general path
    ]
    data = b"".join(
        [newstate(b"1", b"x", b"c"), newstate(b"2", b"x", b"c"), *(newstate(*c) for c in cases)]
    )
    _LAYOUTS.clear()
    got = parse(data, TRACKER_FILTER)[0]
    assert _LAYOUTS[b"Event: Newstate"][1] is not _unlearnt
    assert got == general_path(data[: data.rfind(b"\r\n\r\n")], TRACKER_FILTER, 256 * 1024)
    read = [(f.get("Uniqueid"), f.get("Channel"), f.get("Context")) for f in got[2:10]]
    assert read == [tuple(value.decode() for value in case) for case in cases[:8]]


def test_a_kind_in_a_few_layouts_is_read_by_each_of_their_patterns() -> None:
    # DialBegin comes with a caller channel or without one (an Originate): both layouts are
    # learnt (the first one tried first, the others after it); more layouts than are kept,
    # a lone LF, a new first layout — always the frames the general path reads.
    from contact_center.ami.parser import _LAYOUTS, _MORE_LAYOUTS, _MORE_PER_KIND, _unlearnt

    def dial(*keys: str, value: str = "v") -> bytes:
        lines = [
            b"Event: DialBegin",
            *(f"{key}: {value}{i}".encode() for i, key in enumerate(keys)),
        ]
        return b"\r\n".join(lines) + b"\r\n\r\n"

    with_caller = ("Channel", "Uniqueid", "DestChannel", "DestUniqueid")
    originate = ("DestChannel", "DestUniqueid")
    others = [(f"X{i}", "DestUniqueid") for i in range(_MORE_PER_KIND + 2)]
    data = b"".join(
        [
            *(dial(*keys) for keys in [with_caller, originate] * 3),
            dial(*originate, value="a\nb"),  # a lone LF: the general path
            *(dial(*keys) for keys in others * 2),  # more than are kept: the oldest leave
            *(dial(*keys) for keys in [originate, with_caller] * 2),
        ]
    )
    _LAYOUTS.clear()
    _MORE_LAYOUTS.clear()
    got = parse(data, TRACKER_FILTER)[0]
    assert got == general_path(data[: data.rfind(b"\r\n\r\n")], TRACKER_FILTER, 256 * 1024)
    assert _LAYOUTS[b"Event: DialBegin"][0] == ("Event", *with_caller)
    assert _LAYOUTS[b"Event: DialBegin"][1] is not _unlearnt
    assert len(_MORE_LAYOUTS[b"Event: DialBegin"]) == _MORE_PER_KIND
    assert any(keys == ("Event", *originate) for keys, *_ in _MORE_LAYOUTS[b"Event: DialBegin"])
    for cut in range(1, len(data), 7):
        assert parse_in_chunks(data, [cut], TRACKER_FILTER) == got, cut


def test_the_event_names_tree_matches_exactly_the_names() -> None:
    # The frame search tries the kept names as a tree of their common beginnings (a frame
    # start tries a few letters, not every name): it matches the names and nothing else,
    # a name that begins another included.
    import random
    import re

    from contact_center.ami.parser import _trie

    assert _trie([b"Hangup", b"Hold"]) == b"H(?:angup|old)"
    assert _trie([b"a", b"ab", b"abc", b"b"]) == b"a(?:b(?:c|)|)|b"
    rng = random.Random(28)
    for _ in range(3_000):
        words = [bytes(rng.choices(b"ab.", k=rng.randint(0, 4))) for _ in range(rng.randint(1, 6))]
        pattern = re.compile(b"(?:" + _trie(words) + b")")
        for _ in range(20):
            word = bytes(rng.choices(b"ab.", k=rng.randint(0, 5)))
            assert bool(pattern.fullmatch(word)) == (word in words), (words, word)
