"""The simulator's AMI server over real TCP: login, rights, errors, list actions."""

from __future__ import annotations

from pathlib import Path

from contact_center.sim.config import User, parse_classes
from contact_center.sim.pbx import SimPbx
from contact_center.testing import AmiClient, running_pbx, sim_pbx

__all__ = ["sim_pbx"]


async def test_banner_and_permission_denied_before_login(sim_pbx: SimPbx) -> None:
    ami = await AmiClient.connect(sim_pbx.host, sim_pbx.port)

    reply = await ami.action("Ping")

    assert "Asterisk Call Manager/11.0.0\r\n" == ami.banner
    assert {
        "Response": "Error",
        "ActionID": reply["ActionID"],
        "Message": "Permission denied",
    } == reply
    await ami.close()


async def test_plain_and_md5_login(sim_pbx: SimPbx) -> None:
    plain = await AmiClient.connect(sim_pbx.host, sim_pbx.port)
    md5 = await AmiClient.connect(sim_pbx.host, sim_pbx.port)

    assert "Authentication accepted" == (await plain.login())["Message"]
    assert "Authentication accepted" == (await md5.login_md5())["Message"]
    booted = await plain.wait_event("FullyBooted")
    assert ["Event", "Privilege", "Uptime", "LastReload", "Status"] == list(booted)
    assert "Pong" == (await md5.action("Ping"))["Ping"]
    await plain.close()
    await md5.close()


async def test_wrong_secret_fails_and_the_connection_is_closed(sim_pbx: SimPbx) -> None:
    watcher = await AmiClient.connect(sim_pbx.host, sim_pbx.port)
    await watcher.login()
    ami = await AmiClient.connect(sim_pbx.host, sim_pbx.port)

    reply = await ami.login("cc", "wrong")

    assert "Authentication failed" == reply["Message"]
    await ami.closed.wait()
    invalid = await watcher.wait_event("InvalidPassword")
    assert "cc" == invalid["AccountID"]
    await watcher.close()


async def test_user_without_system_right_may_not_start_mixmonitor(tmp_path: Path) -> None:
    users = (
        User("svc", "pw", read=parse_classes("call,agent"), write=parse_classes("call,agent")),
    )
    async with running_pbx(tmp_path, users=users) as pbx:
        ami = await AmiClient.connect(pbx.host, pbx.port)
        await ami.login("svc", "pw")
        call = await pbx.place_call("4951110004", "+74951234567", "Ivan Petrov")
        await ami.wait_event("QueueCallerJoin")

        denied = await ami.action("MixMonitor", Channel=call.channel, File="x.wav")
        allowed = await ami.action("StopMixMonitor", Channel=call.channel)

        assert "Permission denied" == denied["Message"]
        assert "Success" == allowed["Response"]
        await ami.close()


async def test_read_only_user_is_denied_originate(sim_pbx: SimPbx) -> None:
    ami = await AmiClient.connect(sim_pbx.host, sim_pbx.port)
    await ami.login("ccro", "ccro-test-secret")

    reply = await ami.action("Originate", Channel="Local/4951110004@inbound", Application="Wait")

    assert ("Error", "Permission denied") == (reply["Response"], reply["Message"])
    await ami.close()


async def test_error_messages_are_asterisks(sim_pbx: SimPbx) -> None:
    ami = await AmiClient.connect(sim_pbx.host, sim_pbx.port)
    await ami.login()

    replies = [
        await ami.action("QueueAdd", Queue="support"),
        await ami.action("QueueAdd", Queue="nosuchqueue", Interface="Local/101@agents"),
        await ami.action(
            "QueuePause", Queue="support", Interface="Local/999@agents", Paused="true"
        ),
        await ami.action("QueueRemove", Queue="support", Interface="Local/999@agents"),
        await ami.action("Hangup", Channel="Local/nosuch@agents-00000000;1"),
        await ami.action("Getvar", Channel="Local/nosuch@agents-00000000;1", Variable="X"),
        await ami.action("Originate", Channel="Local/1@x", Priority="notanumber", Exten="s"),
        await ami.action("NoSuchAction"),
    ]

    assert [
        "'Interface' not specified.",
        "Unable to add interface to queue: No such queue",
        "Interface not found",
        "Unable to remove interface: Not there",
        "No such channel",
        "No such channel",
        "Invalid priority",
        "Invalid/unknown command: NoSuchAction. "
        "Use Action: ListCommands to show available commands.",
    ] == [r["Message"] for r in replies]
    await ami.close()


async def test_queue_status_lists_members_and_callers(sim_pbx: SimPbx) -> None:
    ami = await AmiClient.connect(sim_pbx.host, sim_pbx.port)
    await ami.login()
    await ami.action("QueueAdd", Queue="support", Interface="Local/101@agents",
                     MemberName="Operator 101", Paused="true")  # fmt: skip
    call = await sim_pbx.place_call("4951110004", "+74951234567", "Ivan Petrov")
    await ami.wait_event("QueueCallerJoin")

    reply = await ami.action("QueueStatus", Queue="support")
    complete = await ami.wait_event("QueueStatusComplete", ActionID=reply["ActionID"])
    items = [m for m in ami.messages if dict(m).get("ActionID") == reply["ActionID"]]

    assert ["Response", "QueueParams", "QueueMember", "QueueEntry", "QueueStatusComplete"] == [
        dict(m).get("Event", "Response") for m in items
    ]
    entry = dict(items[3])
    assert (call.channel, "+74951234567") == (entry["Channel"], entry["CallerIDNum"])
    assert "ActionID" == items[3][-1][0]  # list items carry ActionID last
    assert "3" == complete["ListItems"]
    await ami.close()


async def test_a_malformed_number_is_an_error_not_a_dead_session(sim_pbx: SimPbx) -> None:
    ami = await AmiClient.connect(sim_pbx.host, sim_pbx.port)
    await ami.login()

    bad = await ami.action("QueueAdd", Queue="support", Interface="Local/101@agents", Penalty="x")
    still_alive = await ami.action("Ping")

    assert "Error" == bad["Response"]
    assert "Pong" == still_alive["Ping"]
    await ami.close()
