"""Console call control over HTTP: what is published for the connector, what is refused, and
how the page learns what the connector did."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestServer
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from contact_center.bus import EVENTS, POPS, MemoryBus
from contact_center.calls import events as ev
from contact_center.store.db import utcnow
from contact_center.store.models import Call, User
from contact_center.web.keys import HUB_KEY
from tests.conftest import wait_for
from tests.integration.web_support import SQLITE_ONLY, Browser, add_user, database, sign_in
from tests.integration.web_support import web_server as make_web_server

pytestmark = SQLITE_ONLY

ALICE, BOB = "Local/101@agents", "Local/102@agents"


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    async with database(db_url) as (_, sessions):
        await add_user(sessions, "alice", "operator", ALICE)
        await add_user(sessions, "bob", "operator", BOB)
        await add_user(sessions, "sam", "supervisor", "Local/105@agents")
        yield sessions


@pytest.fixture
def bus() -> MemoryBus:
    return MemoryBus()


@pytest.fixture
async def server(db: async_sessionmaker[AsyncSession], bus: MemoryBus) -> AsyncIterator[TestServer]:
    async with make_web_server(db, bus) as srv:
        yield srv


async def popped(server: TestServer, bus: MemoryBus, login: str, call_id: str) -> None:
    message = {"type": "pop", "to": login, "server": "pbx1", "call_id": call_id, "html": ""}
    await bus.publish(POPS, message)
    await wait_for(lambda: server.app[HUB_KEY].was_popped(login, "pbx1", call_id))


async def commands(bus: MemoryBus, after: str) -> list[ev.OperatorCommand]:
    return [
        e
        for e in (ev.from_dict(m) for _sid, m in await bus.read(EVENTS, after, count=1000))
        if isinstance(e, ev.OperatorCommand)
    ]


async def post_json(browser: Browser, path: str, data: dict[str, str]) -> tuple[int, Any]:
    resp = await browser.post(path, data)
    body = await resp.json() if resp.content_type == "application/json" else await resp.text()
    return resp.status, body


async def test_call_controls_publish_commands_for_the_connector(
    server: TestServer, bus: MemoryBus
) -> None:
    await popped(server, bus, "alice", "c1")
    alice = await sign_in(server, "alice")
    try:
        before = await bus.last_id(EVENTS)
        base = "/api/calls/pbx1/c1"
        assert 202 == (await alice.post(f"{base}/transfer", {"target": "sales"})).status
        assert (
            202
            == (await alice.post(f"{base}/transfer", {"target": "102", "mode": "attended"})).status
        )
        assert 202 == (await alice.post(f"{base}/conference", {"target": "+74951234567"})).status
        assert 202 == (await alice.post(f"{base}/conference", {})).status
        assert 202 == (await alice.post(f"{base}/hangup", {})).status
        assert (
            202
            == (
                await alice.post(
                    "/api/operator/click-to-call", {"number": "+74957654321", "customer_id": "7"}
                )
            ).status
        )
        sent = await commands(bus, before)
    finally:
        await alice.close()
    assert [
        ("blind_transfer", "c1", {"target": "sales"}),
        ("attended_transfer", "c1", {"target": "102"}),
        ("conference", "c1", {"target": "+74951234567"}),
        ("conference", "c1", {}),
        ("hangup", "c1", {}),
        ("click_to_call", "", {"number": "+74957654321", "customer_id": 7}),
    ] == [(c.command, c.call_id, c.args) for c in sent]
    assert {("alice", "operator", ALICE, "pbx1")} == {
        (c.user, c.role, c.interface, c.server) for c in sent
    }


async def test_a_consultation_is_completed_cancelled_or_swapped_by_command(
    server: TestServer, bus: MemoryBus
) -> None:
    await popped(server, bus, "alice", "c1")
    alice = await sign_in(server, "alice")
    try:
        before = await bus.last_id(EVENTS)
        answers = [
            await post_json(alice, f"/api/calls/pbx1/c1/transfer/{step}", {})
            for step in ("swap", "cancel", "complete")
        ]
        unknown = await alice.post("/api/calls/pbx1/c1/transfer/threeway", {})
        sent = await commands(bus, before)
    finally:
        await alice.close()
    assert [202, 202, 202] == [status for status, _body in answers]
    # each answer tells the page where to read what the connector did with it
    assert ["done=transfer_swap", "done=transfer_cancel", "done=transfer_complete"] == [
        body["result_url"].rsplit("&", 1)[-1] for _status, body in answers
    ]
    assert 404 == unknown.status  # not a step the console offers
    assert [
        ("transfer_swap", "c1", {}),
        ("transfer_cancel", "c1", {}),
        ("transfer_complete", "c1", {}),
    ] == [(c.command, c.call_id, c.args) for c in sent]
    assert {("alice", "operator", ALICE)} == {(c.user, c.role, c.interface) for c in sent}


@pytest.mark.parametrize(
    ("target", "reason"),
    [
        ("sales\r\nAction: Originate", "control characters are not allowed in a target"),
        ("101\n", "control characters are not allowed in a target"),
        ("System(rm -rf /)", "not an extension, queue or phone number: 'System(rm -rf /)'"),
        ("Local/101@agents", "not an extension, queue or phone number: 'Local/101@agents'"),
        ("", "target is required"),
    ],
)
async def test_bad_targets_are_refused_with_the_reason(
    server: TestServer, bus: MemoryBus, target: str, reason: str
) -> None:
    await popped(server, bus, "alice", "c1")
    alice = await sign_in(server, "alice")
    try:
        before = await bus.last_id(EVENTS)
        refused = await alice.post("/api/calls/pbx1/c1/transfer", {"target": target})
        assert (400, reason) == (refused.status, await refused.text())
        if target:
            conf = await alice.post("/api/calls/pbx1/c1/conference", {"target": target})
            assert (400, reason) == (conf.status, await conf.text())
            dial = await alice.post("/api/operator/click-to-call", {"number": target})
            assert (400, reason) == (dial.status, await dial.text())
        assert [] == await commands(bus, before)
    finally:
        await alice.close()


async def test_click_to_call_wants_a_number_and_a_numeric_customer(
    server: TestServer, bus: MemoryBus
) -> None:
    await popped(server, bus, "alice", "c1")
    alice = await sign_in(server, "alice")
    try:
        assert (400, "Call a phone number or an extension") == await post_json(
            alice, "/api/operator/click-to-call", {"number": "sales"}
        )
        assert (400, "customer_id must be a number") == await post_json(
            alice, "/api/operator/click-to-call", {"number": "101", "customer_id": "x1"}
        )
        assert (400, "Mode must be blind or attended") == await post_json(
            alice, "/api/calls/pbx1/c1/transfer", {"target": "101", "mode": "sideways"}
        )
    finally:
        await alice.close()


async def test_operators_control_only_calls_popped_to_them(
    server: TestServer, bus: MemoryBus, db: async_sessionmaker[AsyncSession]
) -> None:
    await popped(server, bus, "bob", "bobs-call")
    async with db.begin() as session:  # the call, as the history writer recorded it
        session.add(Call(server="pbx1", linkedid="bobs-call", queue="support", started_at=utcnow()))
        sam = (await session.scalars(select(User).where(User.login == "sam"))).one()
        sam.queues = {"support": 0}
    alice, sam = await sign_in(server, "alice"), await sign_in(server, "sam")
    try:
        before = await bus.last_id(EVENTS)
        for path, data in (
            ("transfer", {"target": "sales"}),
            ("transfer/complete", {}),
            ("transfer/cancel", {}),
            ("transfer/swap", {}),
            ("conference", {}),
            ("hangup", {}),
        ):
            denied = await alice.post(f"/api/calls/pbx1/bobs-call/{path}", data)
            assert (403, "This call was not offered to you or to your queues") == (
                denied.status,
                await denied.text(),
            ), path
        assert [] == await commands(bus, before)
        # a supervisor may act on the calls of their queues
        assert 202 == (await sam.post("/api/calls/pbx1/bobs-call/hangup", {})).status
        assert [("sam", "supervisor", "hangup")] == [
            (c.user, c.role, c.command) for c in await commands(bus, before)
        ]
        # and nobody without the CSRF token
        forged = await sam.post("/api/calls/pbx1/bobs-call/hangup", {}, csrf=False)
        assert 403 == forged.status
    finally:
        await alice.close()
        await sam.close()


async def test_state_controls_publish_commands_and_keep_the_session_row(
    server: TestServer, bus: MemoryBus
) -> None:
    alice = await sign_in(server, "alice")
    try:
        before = await bus.last_id(EVENTS)
        for data in (
            {"state": "available"},
            {"state": "paused", "reason": "lunch"},
            {"state": "offline"},
        ):
            resp = await alice.post("/api/operator/state", data)
            assert 200 == resp.status, await resp.text()
        assert (
            400,
            "Choose a pause reason: break, lunch, training, meeting, after-call work, technical",
        ) == await post_json(alice, "/api/operator/state", {"state": "paused", "reason": "nap"})
        sent = await commands(bus, before)
        async with alice.http.get(alice.url("/console"), headers={"Accept": "text/html"}) as page:
            html = await page.text()
    finally:
        await alice.close()
    assert [
        ("available", {}),
        ("pause", {"reason": "lunch"}),
        ("offline", {}),
    ] == [(c.command, c.args) for c in sent]
    assert '<strong id="state-label">offline</strong>' in html
    assert 'id="demo-answer"' not in html  # no simulated phone in this app


async def test_result_tells_what_the_connector_did(server: TestServer, bus: MemoryBus) -> None:
    await popped(server, bus, "alice", "c1")
    alice = await sign_in(server, "alice")
    try:
        status, sent = await post_json(alice, "/api/calls/pbx1/c1/transfer", {"target": "sales"})
        assert 202 == status
        first = await get_json(alice, sent["result_url"])
        assert "pending" == first["status"]

        # someone else's action for the same call does not answer alice's command; each
        # poll reads on from where the previous one stopped (the cursor it answered)
        await bus.publish(EVENTS, ev.to_dict(action("bob", "blind_transfer", "c1")))
        later = await get_json(alice, sent["result_url"] + "&after=" + first["cursor"])
        assert "pending" == later["status"]
        assert later["cursor"] != first["cursor"]
        await bus.publish(EVENTS, ev.to_dict(action("alice", "blind_transfer", "c1")))
        assert {"status": "done", "action": "blind_transfer"} == await get_json(
            alice, sent["result_url"] + "&after=" + later["cursor"]
        )

        status, second = await post_json(alice, "/api/calls/pbx1/c1/hangup", {})
        failed = action(
            "alice",
            "hangup.failed",
            "c1",
            key=ev.make_key(second["key"], "failed"),
            detail={"reason": "call c1 is not live"},
        )
        await bus.publish(EVENTS, ev.to_dict(failed))
        # the connector's reason in words for the operator, not "call c1 is not live"
        assert {
            "status": "failed",
            "action": "hangup.failed",
            "reason": "You are no longer on this call.",
        } == await get_json(alice, second["result_url"])

        async with alice.http.get(alice.url("/api/operator/commands/not-an-id")) as resp:
            assert 400 == resp.status
    finally:
        await alice.close()


def action(
    user: str,
    name: str,
    call_id: str,
    *,
    key: str = "",
    detail: dict[str, Any] | None = None,
) -> ev.OperatorAction:
    return ev.OperatorAction(
        server="pbx1",
        call_id=call_id,
        at=1.0,
        key=key or ev.make_key(user, name, call_id),
        user=user,
        action=name,
        detail=detail or {},
    )


async def get_json(browser: Browser, path: str) -> Any:
    async with browser.http.get(browser.url(path)) as resp:
        assert 200 == resp.status, await resp.text()
        return await resp.json()
