"""The dial plan interpreter on a dial plan of the test's own: Gosub/Return with arguments,
ExecIf, GotoIf to a label, digits into an extension / ``i`` / ``t``, hang-up handlers, and a
step it cannot run stopping the call with the file and line in the log."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from contact_center.sim.pbx import Event
from contact_center.testing import EventLog, running_pbx
from tests.conftest import wait_for

DIALPLAN = """\
[globals]
GREETING = hello

[inbound]
exten => 100,1,NoOp(start ${GREETING})
 same => n,Set(CHANNEL(hangup_handler_push)=handler,s,1)
 same => n,Gosub(sub,s,1(a,b))
 same => n,ExecIf($[${LEN(${SUBRESULT})} > 2]?Set(__LONG=yes):Set(__LONG=no))
 same => n,GotoIf($["${LONG}" = "yes"]?long)
 same => n,Hangup()
 same => n(long),Answer()
 same => n,WaitExten(2)
exten => 5,1,NoOp(pressed five)
 same => n,Hangup()
exten => i,1,NoOp(invalid)
 same => n,Hangup()
exten => t,1,NoOp(timeout)
 same => n,Hangup()

exten => 200,1,Answer()
 same => n,NoOp($[1 +])

[sub]
exten => s,1,Set(SUBRESULT=${ARG1}${ARG2}x)
 same => n,Return()

[handler]
exten => s,1,NoOp(handler ran after ${HANGUPCAUSE})
 same => n,Return()

[callersim]
exten => hold,1,Wait(600)
 same => n,Hangup()
exten => s,1,Wait(${DTMF_DELAY})
 same => n,ExecIf($["${DTMF}" != ""]?SendDTMF(${DTMF},250,100))
 same => n,Wait(${TALK})
 same => n,Hangup()
"""


@pytest.fixture
def dialplan(tmp_path: Path) -> str:
    path = tmp_path / "extensions.conf"
    path.write_text(DIALPLAN)
    return str(path)


def steps(log: EventLog, channel: str) -> list[tuple[str, str, str, str, str]]:
    return [
        (
            e.get("Context"),
            e.get("Exten"),
            e.get("Priority"),
            e.get("Application"),
            e.get("AppData"),
        )
        for e in log.named("Newexten", Channel=channel)
    ]


async def test_gosub_execif_gotoif_digits_and_the_hangup_handler(dialplan: str) -> None:
    async with running_pbx(None, dialplan=dialplan) as pbx:
        log = EventLog(pbx)
        call = await pbx.place_call("100", "+74951234567", "Ivan", dtmf="5")
        await log.wait("Hangup", Channel=call.channel)

        assert [
            ("inbound", "100", "1", "NoOp", "start hello"),
            ("inbound", "100", "2", "Set", "CHANNEL(hangup_handler_push)=handler,s,1"),
            ("inbound", "100", "3", "Gosub", "sub,s,1(a,b)"),
            ("sub", "s", "1", "Set", "SUBRESULT=abx"),
            ("sub", "s", "2", "Return", ""),
            ("inbound", "100", "4", "ExecIf", "1?Set(__LONG=yes):Set(__LONG=no)"),
            ("inbound", "100", "5", "GotoIf", "1?long"),
            ("inbound", "100", "7", "Answer", ""),
            ("inbound", "100", "8", "WaitExten", "2"),
            ("inbound", "5", "1", "NoOp", "pressed five"),
            ("inbound", "5", "2", "Hangup", ""),
            ("handler", "s", "1", "NoOp", "handler ran after 16"),
            ("handler", "s", "2", "Return", ""),
        ] == steps(log, call.channel)
        assert ["yes"] == [e.get("Value") for e in log.named("VarSet", Variable="__LONG")]
        assert ["handler,s,1"] == [e.get("Handler") for e in log.named("HangupHandlerRun")]


@pytest.mark.parametrize(("dtmf", "where"), [("7", "i"), ("", "t")])
async def test_a_wrong_digit_goes_to_i_and_silence_to_t(
    dialplan: str, dtmf: str, where: str
) -> None:
    async with running_pbx(None, dialplan=dialplan) as pbx:
        log = EventLog(pbx)
        call = await pbx.place_call("100", "+74951234567", "Ivan", dtmf=dtmf)
        await log.wait("Hangup", Channel=call.channel, timeout=10)

        exts = [(e[1], e[3]) for e in steps(log, call.channel)]
        assert (where, "NoOp") in exts
        assert ("5", "NoOp") not in exts


async def test_a_step_it_cannot_run_stops_the_call_naming_file_and_line(
    dialplan: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR)
    async with running_pbx(None, dialplan=dialplan) as pbx:
        log = EventLog(pbx)
        call = await pbx.place_call("200", "+74951234567", "Ivan")
        await log.wait("Hangup", Channel=call.channel)
        await wait_for(lambda: "extensions.conf:21" in caplog.text, 5)

    assert f"{dialplan}:21: NoOp($[1 +])" in caplog.text
    hangups: list[Event] = log.named("Hangup", Channel=call.channel)
    assert 1 == len(hangups)


async def test_a_hangup_handler_that_would_wait_is_refused_naming_its_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "extensions.conf"
    path.write_text(
        DIALPLAN.replace(
            "[handler]\nexten => s,1,NoOp(handler ran after ${HANGUPCAUSE})",
            "[handler]\nexten => s,1,Wait(1)",
        )
    )
    caplog.set_level(logging.ERROR)
    async with running_pbx(None, dialplan=str(path)) as pbx:
        log = EventLog(pbx)
        call = await pbx.place_call("100", "+74951234567", "Ivan", dtmf="5")
        await log.wait("Hangup", Channel=call.channel)

    assert f"{path}:28: Wait() in a hang-up handler is not supported" in caplog.text
