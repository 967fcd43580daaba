"""Hostile input at the edges: fuzzed AMI frames into the parser, a caller ID built to break
pages, spreadsheets and the AMI stream, sent through the whole service."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contact_center.ami.errors import AmiInjectionError
from contact_center.ami.parser import DEFAULT_MAX_FRAME, FOLLOWS_BYTES, parse
from contact_center.ami.tracker import TRACKER_FILTER
from contact_center.exports.csvsafe import FORMULA_STARTS
from tests.conftest import wait_for
from tests.e2e.service_support import Rig, sign_in
from tests.resilience.fuzz_ami import feed
from tests.resilience.rig import fault_rig, history_counts
from tests.resilience.test_ami_faults import QUERIES

GOOD = b"Event: Hangup\r\nPrivilege: call,all\r\nUniqueid: 42.1\r\nLinkedid: 42.1\r\n\r\n"
MAX_FRAME = 4096


def starts_a_command_body(frame: bytes) -> bool:
    """A frame that *begins* with "Response: Follows" is legacy command output, delimited
    only by --END COMMAND--: Asterisk sends one only in reply to a Command action, which the
    connector never sends. Anything else, including those words inside a value, is junk."""
    return any(line.lstrip().startswith(FOLLOWS_BYTES) for line in frame.splitlines())


junk_line = st.one_of(
    st.binary(max_size=200),
    st.text(max_size=120).map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.sampled_from(
        [
            b"Response: Error",
            b"--END COMMAND--",
            b"Event: ",
            b"Event: Newchannel",
            b"CallerIDName: Response: Follows",
            b"ActionID: 1",
            b":",
            b"\xff\xfe\x00",
            b"Asterisk Call Manager/",
            b"A" * 5000,
        ]
    ),
)
junk_frame = (
    st.lists(junk_line, max_size=8)
    .map(lambda lines: b"\r\n".join(lines))
    .filter(lambda frame: not starts_a_command_body(frame))
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(junk=st.lists(junk_frame, max_size=6), cuts=st.lists(st.integers(0, 10**6), max_size=6))
def test_fuzzed_frames_never_crash_and_the_next_good_frame_is_kept(
    junk: list[bytes], cuts: list[int]
) -> None:
    """Property: any garbage between frames — binary, half headers, stray "Response: Follows"
    in a value, over-long lines — never raises, the good frame after it is delivered, and
    the bytes held between reads never exceed the frame cap (memory capped)."""
    stream = b"".join(j + b"\r\n\r\n" for j in junk) + GOOD
    frames, largest = feed(stream, cuts, TRACKER_FILTER, MAX_FRAME)
    hangups = [f for f in frames if f.name == "Hangup" and f.headers.get("Uniqueid") == "42.1"]
    assert hangups, f"good frame lost after {stream[:200]!r}"
    assert largest <= MAX_FRAME + 64 * 1024  # the cap plus at most one read


def test_caller_named_response_follows_does_not_stall_the_stream() -> None:
    """Property (regression): a caller ID name "Response: Follows" inside an event does not
    make the parser hold every later event waiting for an --END COMMAND-- that never comes."""
    hostile = b"Event: Newchannel\r\nCallerIDName: Response: Follows\r\nUniqueid: 1\r\n\r\n"
    frames, leftover = parse(hostile + GOOD, TRACKER_FILTER)
    assert (["Newchannel", "Hangup"], b"") == ([f.name for f in frames], leftover)
    assert DEFAULT_MAX_FRAME >= MAX_FRAME


HOSTILE_NAME = '=HYPERLINK("http://e/") Response: Follows <script>alert("x")</script>'


async def test_hostile_caller_id_is_escaped_in_pops_and_pages_and_safe_in_csv(
    tmp_path: Path, postgres_url: str
) -> None:
    """Property: a caller ID name carrying HTML, a spreadsheet formula and AMI protocol words
    goes through AMI → tracker → history and pop unharmed: the pop and the call page show it
    escaped (no live <script>), the CSV export cell cannot run as a formula, the call is
    tracked and closed normally; and AMI action values with CR/LF are refused before
    anything is sent."""
    async with fault_rig(tmp_path, postgres_url) as rig:
        anna = await sign_in(rig.base, "anna")
        sue = await sign_in(rig.base, "sue")
        try:
            anna_ws = await anna.ws()
            await Rig(rig.pbx, rig.service, rig.settings).command(
                "anna", "operator", "Local/101@agents", "available"
            )
            await wait_for(lambda: bool(rig.pbx.members("Local/101@agents")), timeout=5)
            call = await rig.pbx.place_call(
                "4951110001", "+74951234567", HOSTILE_NAME, dtmf="2", dtmf_delay=0.1
            )
            pop = await next_pop(anna_ws, call.linkedid)
            assert HOSTILE_NAME == pop["caller"]["name"]  # data intact, as JSON
            assert "<script>" not in pop["html"]
            assert "&lt;script&gt;" in pop["html"]

            # CR/LF in an action value: refused, nothing written to Asterisk
            before = state_changing(rig)
            with pytest.raises(AmiInjectionError):
                await rig.connector.actions.setvar(
                    call.channel, "CC_NOTE", "x\r\nAction: Hangup\r\nChannel: " + call.channel
                )
            await asyncio.sleep(0.05)  # nothing may trickle out afterwards either
            assert before == state_changing(rig)  # (keepalive Pings go on meanwhile)
            assert [] == [a for a in rig.ami.actions() if a["action"].lower() == "hangup"]

            await rig.pbx.hangup(call.phone)
            sessions = rig.service.core.sessions  # type: ignore[union-attr]

            async def closed() -> bool:
                return (await history_counts(sessions, call.linkedid))[1] == 1

            await wait_for(closed, timeout=10)
            async with sue.http.get(
                f"{rig.base}/calls/pbx1/{call.linkedid}", headers={"Accept": "text/html"}
            ) as resp:
                assert 200 == resp.status
                page = await resp.text()
            assert "<script>alert" not in page
            assert "&lt;script&gt;alert" in page
            async with sue.http.get(f"{rig.base}/api/history/export.csv?customer=1") as resp:
                assert 200 == resp.status
                cells = [c for row in csv.reader(io.StringIO(await resp.text())) for c in row]
            assert [] == [c for c in cells if c.startswith(FORMULA_STARTS) and "HYPERLINK" in c]
            assert any("HYPERLINK" in c for c in cells)  # the name is exported, defused
        finally:
            await anna.http.close()
            await sue.http.close()


def state_changing(rig: Any) -> list[dict[str, str]]:
    return [a for a in rig.ami.actions() if a["action"].lower() not in QUERIES]


async def next_pop(ws: Any, call_id: str) -> dict[str, Any]:
    async with asyncio.timeout(15):
        while True:
            msg = await ws.receive()
            data: dict[str, Any] = json.loads(msg.data)
            if data.get("type") == "pop" and data.get("call_id") == call_id:
                return data
