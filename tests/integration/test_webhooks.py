"""Webhooks against a real receiving HTTP server: signatures, retries, dead letters, no dups."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from contact_center.bus.memory import MemoryBus
from contact_center.calls import events as ev
from contact_center.config import load_settings
from contact_center.store.db import utcnow
from contact_center.webhooks import http as webhooks_http
from contact_center.webhooks.dispatcher import RetryPolicy, WebhookDispatcher
from contact_center.webhooks.errors import InvalidTarget
from contact_center.webhooks.repository import DEAD, DELIVERED, WebhookStore
from contact_center.webhooks.signing import verify
from contact_center.webhooks.targets import TargetPolicy, parse_networks, validate_target_url
from tests.conftest import wait_for
from tests.integration.web_support import SQLITE_ONLY, add_user, database, sign_in, web_server

FAST = RetryPolicy(max_attempts=3, base_seconds=0.01, max_seconds=0.05)


@dataclass
class Receiver:
    """A CRM stand-in: records every request, answers 500 to the first ``fail_first``."""

    fail_first: int = 0
    always_fail: bool = False
    requests: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    url: str = ""

    async def hook(self, request: web.Request) -> web.Response:
        self.requests.append((dict(request.headers), await request.read()))
        if self.always_fail or len(self.requests) <= self.fail_first:
            return web.Response(status=500, text="boom")
        return web.Response(status=204)

    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(body) for _, body in self.requests]


@contextlib.asynccontextmanager
async def receiver(**kwargs: object) -> AsyncIterator[Receiver]:
    target = Receiver(**kwargs)  # type: ignore[arg-type]
    app = web.Application()
    app.router.add_post("/hooks/cc", target.hook)
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    target.url = str(server.make_url("/hooks/cc"))
    try:
        yield target
    finally:
        await server.close()


@contextlib.asynccontextmanager
async def running(dispatcher: WebhookDispatcher) -> AsyncIterator[None]:
    task = asyncio.create_task(dispatcher.run())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def answered(call_id: str, at: float = 1_700_000_000.0) -> ev.CallAnswered:
    return ev.CallAnswered(
        server="pbx1", call_id=call_id, at=at, key=ev.make_key("pbx1", call_id, "answered"),
        queue="support", interface="PJSIP/101", member_name="Alice", hold_seconds=3.0,
        ring_seconds=1.0,
    )  # fmt: skip


async def statuses(sessions: async_sessionmaker[AsyncSession]) -> list[tuple[str, int]]:
    return [(d.status, d.attempts) for d in await WebhookStore(sessions).deliveries()]


def dispatcher_for(
    sessions: async_sessionmaker[AsyncSession], **kwargs: object
) -> WebhookDispatcher:
    kwargs.setdefault("targets", LOCAL_RECEIVERS)
    return WebhookDispatcher(sessions, retry=FAST, poll_interval=0.02, **kwargs)  # type: ignore[arg-type]


# The test receivers listen on loopback, which webhooks may not reach unless allowed.
LOCAL_RECEIVERS = TargetPolicy(parse_networks("127.0.0.1"))
ALLOW_LOCAL = load_settings(environ={}, overrides={"webhooks": {"allow_networks": "127.0.0.1"}})


async def test_delivery_is_signed_and_sent_once(db_url: str) -> None:
    async with database(db_url) as (_engine, sessions), receiver() as crm:
        store = WebhookStore(sessions)
        created = await store.add(crm.url, ["call.answered", "call.ended"], now=utcnow())
        dispatcher = dispatcher_for(sessions)
        event = answered("1700000000.1")
        await dispatcher.handle(event)
        await dispatcher.handle(event)  # the same fact again (replay): no second delivery
        await dispatcher.handle(
            ev.CallQueued(server="pbx1", call_id="x", at=1.0, queue="q", position=1)
        )
        async with running(dispatcher):
            await wait_for(lambda: len(crm.requests) == 1)
            await wait_for(lambda: dispatcher.sent == 1)
        assert 0 == await dispatcher.deliver_due()

        headers, body = crm.requests[0]
        assert verify(
            created.secret,
            headers["X-CC-Timestamp"],
            body,
            headers["X-CC-Signature"],
            now=time.time(),
        )
        # What a receiver in another language computes by hand.
        mac = hmac.new(created.secret.encode(), headers["X-CC-Timestamp"].encode() + b"." + body,
                       hashlib.sha256)  # fmt: skip
        assert "sha256=" + mac.hexdigest() == headers["X-CC-Signature"]
        assert not verify("wrong", headers["X-CC-Timestamp"], body, headers["X-CC-Signature"],
                          now=time.time())  # fmt: skip
        assert ("call.answered", event.key) == (headers["X-CC-Event"], headers["X-CC-Delivery"])
        payload = crm.bodies()[0]
        assert ("call.answered", "1700000000.1", "PJSIP/101") == (
            payload["kind"],
            payload["call_id"],
            payload["event"]["interface"],  # type: ignore[index]
        )
        assert [(DELIVERED, 1)] == await statuses(sessions)


async def test_retries_after_server_errors_then_delivers(db_url: str) -> None:
    async with database(db_url) as (_engine, sessions), receiver(fail_first=2) as crm:
        await WebhookStore(sessions).add(crm.url, ["call.answered"], now=utcnow())
        dispatcher = dispatcher_for(sessions)
        await dispatcher.handle(answered("7.1"))
        async with running(dispatcher):
            await wait_for(lambda: dispatcher.sent == 1)
        assert 3 == len(crm.requests)
        # Every retry carries the same body and delivery id, freshly signed.
        assert 1 == len({body for _, body in crm.requests})
        assert 1 == len({h["X-CC-Delivery"] for h, _ in crm.requests})
        assert [(DELIVERED, 3)] == await statuses(sessions)


async def test_dead_letter_after_max_attempts_and_admin_retry(db_url: str) -> None:
    async with database(db_url) as (_engine, sessions), receiver(always_fail=True) as crm:
        await WebhookStore(sessions).add(crm.url, ["call.answered"], now=utcnow())
        await add_user(sessions, "root", "admin")
        dispatcher = dispatcher_for(sessions)
        await dispatcher.handle(answered("8.1"))
        async with running(dispatcher):
            await wait_for(lambda: dispatcher.failed == 3)
            await wait_for(lambda: _has_status(sessions, DEAD))
            assert 3 == len(crm.requests)  # no 4th attempt after the last one

            extras = {webhooks_http.DISPATCHER_KEY: dispatcher}
            async with web_server(
                sessions, MemoryBus(), plugins=[webhooks_http], extras=extras
            ) as server:
                admin = await sign_in(server, "root")
                try:
                    async with admin.http.get(
                        admin.url("/api/webhooks/deliveries?status=dead")
                    ) as resp:
                        dead = (await resp.json())["items"]
                    assert [(3, "HTTP 500")] == [(d["attempts"], d["last_error"]) for d in dead]
                    page_url = admin.url("/admin/webhooks")
                    async with admin.http.get(page_url, headers={"Accept": "text/html"}) as resp:
                        assert "HTTP 500" in await resp.text()

                    crm.always_fail = False  # the CRM is fixed; the admin retries
                    retry_url = admin.url(f"/api/webhooks/deliveries/{dead[0]['id']}/retry")
                    async with admin.http.post(
                        retry_url, headers={"X-CSRF-Token": admin.csrf}
                    ) as resp:
                        assert 200 == resp.status
                    await wait_for(lambda: dispatcher.sent == 1)
                finally:
                    await admin.close()
        assert 4 == len(crm.requests)
        assert [(DELIVERED, 1)] == await statuses(sessions)


async def _has_status(sessions: async_sessionmaker[AsyncSession], status: str) -> bool:
    return status in {s for s, _ in await statuses(sessions)}


async def test_two_dispatchers_never_send_one_delivery_twice(db_url: str) -> None:
    async with database(db_url) as (_engine, sessions), receiver() as crm:
        await WebhookStore(sessions).add(crm.url, ["call.answered"], now=utcnow())
        first, second = dispatcher_for(sessions), dispatcher_for(sessions)
        for i in range(20):
            event = answered(f"9.{i}")
            await first.handle(event)
            await second.handle(event)  # both workers saw the event (redelivery on the bus)
        async with running(first), running(second):
            await wait_for(lambda: first.sent + second.sent == 20)
            assert 0 == await first.deliver_due() + await second.deliver_due()
        ids = [h["X-CC-Delivery"] for h, _ in crm.requests]
        assert (20, 20) == (len(ids), len(set(ids)))


async def test_disposition_and_unsubscribed_kinds(sqlite_url: str) -> None:
    async with database(sqlite_url) as (_engine, sessions), receiver() as crm:
        await WebhookStore(sessions).add(crm.url, ["call.disposition"], now=utcnow())
        dispatcher = dispatcher_for(sessions)
        base: dict[str, Any] = {"server": "pbx1", "call_id": "5.1", "at": 10.0, "user": "alice"}
        await dispatcher.handle(ev.OperatorAction(**base, key="n", action="note", detail={}))
        await dispatcher.handle(ev.OperatorAction(**base, key="d", action="disposition",
                                                  detail={"disposition": "sale"}))  # fmt: skip
        await dispatcher.handle(answered("5.1"))
        async with running(dispatcher):
            await wait_for(lambda: dispatcher.sent == 1)
        body = crm.bodies()[0]
        assert ("call.disposition", "sale") == (
            body["kind"],
            body["event"]["detail"]["disposition"],
        )  # type: ignore[index]


@pytest.mark.parametrize(
    "url",
    [
        "ftp://crm.example.com/x",
        "javascript:alert(1)",
        "https://crm.example.com/x\r\nX-Injected: 1",
        "https://crm.example.com/a\nb",
        "http:///nohost",
        "https://user:pw@crm.example.com/",
        "",
    ],
)
def test_target_url_refused(url: str) -> None:
    with pytest.raises(InvalidTarget):
        validate_target_url(url)


def test_target_url_accepted() -> None:
    assert "https://crm.example.com:8443/hooks?x=1" == validate_target_url(
        " https://crm.example.com:8443/hooks?x=1 "
    )


@SQLITE_ONLY
async def test_admin_api_and_pages(db_url: str) -> None:
    async with database(db_url) as (_engine, sessions):
        await add_user(sessions, "root", "admin")
        await add_user(sessions, "sue", "supervisor")
        async with web_server(
            sessions, MemoryBus(), plugins=[webhooks_http], cfg=ALLOW_LOCAL
        ) as server:
            admin, sue = await sign_in(server, "root"), await sign_in(server, "sue")
            try:
                csrf = {"X-CSRF-Token": admin.csrf}
                new = {
                    "url": "https://crm.example.com/cc",
                    "kinds": ["call.ended"],
                    "description": "CRM",
                }
                async with admin.http.post(
                    admin.url("/api/webhooks"), json=new, headers=csrf
                ) as resp:
                    assert 201 == resp.status
                    created = await resp.json()
                assert 40 <= len(created["secret"])
                hostile = {"url": "https://x.example/\r\nHost: evil", "kinds": ["call.ended"]}
                async with admin.http.post(
                    admin.url("/api/webhooks"), json=hostile, headers=csrf
                ) as resp:
                    assert 400 == resp.status
                    assert "CR/LF" in await resp.text()
                bad_kind = {"url": "https://x.example/", "kinds": ["call.nope"]}
                async with admin.http.post(
                    admin.url("/api/webhooks"), json=bad_kind, headers=csrf
                ) as resp:
                    assert 400 == resp.status
                async with admin.http.post(admin.url("/api/webhooks"), json=new) as resp:
                    assert 403 == resp.status  # no CSRF token
                async with sue.http.get(sue.url("/api/webhooks")) as resp:
                    assert 403 == resp.status

                # The form: a new subscription shows its secret once; the list never does.
                form = {"url": "https://helpdesk.example.com/in", "kinds": "call.charged",
                        "description": "<script>x</script>"}  # fmt: skip
                resp = await admin.post("/admin/webhooks", form)
                page = await resp.text()
                assert 201 == resp.status
                assert "&lt;script&gt;x&lt;/script&gt;" in page and "<script>x" not in page
                async with admin.http.get(admin.url("/api/webhooks")) as resp:
                    listed = (await resp.json())["items"]
                assert [["call.ended"], ["call.charged"]] == [w["kinds"] for w in listed]
                assert all("secret" not in w for w in listed)

                wid = created["webhook"]["id"]
                async with admin.http.delete(
                    admin.url(f"/api/webhooks/{wid}"), headers=csrf
                ) as resp:
                    assert 204 == resp.status
                async with admin.http.delete(
                    admin.url(f"/api/webhooks/{wid}"), headers=csrf
                ) as resp:
                    assert 404 == resp.status
                async with admin.http.get(admin.url("/api/webhooks")) as resp:
                    assert ["https://helpdesk.example.com/in"] == [
                        w["url"] for w in (await resp.json())["items"]
                    ]
            finally:
                await admin.close()
                await sue.close()


@SQLITE_ONLY
async def test_subscription_added_by_admin_applies_at_once(db_url: str) -> None:
    async with database(db_url) as (_engine, sessions), receiver() as crm:
        await add_user(sessions, "root", "admin")
        dispatcher = dispatcher_for(sessions)
        await dispatcher.handle(answered("4.0"))  # nobody subscribed yet (and that is cached)
        extras = {webhooks_http.DISPATCHER_KEY: dispatcher}
        async with web_server(
            sessions, MemoryBus(), plugins=[webhooks_http], extras=extras, cfg=ALLOW_LOCAL
        ) as server:
            admin = await sign_in(server, "root")
            try:
                new = {"url": crm.url, "kinds": ["call.answered"]}
                headers = {"X-CSRF-Token": admin.csrf}
                async with admin.http.post(
                    admin.url("/api/webhooks"), json=new, headers=headers
                ) as resp:
                    assert 201 == resp.status
            finally:
                await admin.close()
        await dispatcher.handle(answered("4.1"))
        async with running(dispatcher):
            await wait_for(lambda: dispatcher.sent == 1)
        assert ["4.1"] == [b["call_id"] for b in crm.bodies()]
