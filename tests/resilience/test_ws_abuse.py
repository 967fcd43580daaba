"""Websocket abuse against the app the Service builds, over real TCP: who may open /ws, what
a hostile client can send, and what happens when a session ends while a socket is open."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import update
from yarl import URL

from contact_center.store.db import utcnow
from contact_center.store.models import WebSession
from contact_center.web import auth
from contact_center.web.auth import SESSION_COOKIE
from contact_center.web.keys import HUB_KEY
from contact_center.web.ws import MAX_CLIENT_MESSAGE, POPS, QUEUE_SIZE, CloseCode
from tests.conftest import wait_for
from tests.e2e.service_support import sign_in
from tests.integration.web_support import next_frame
from tests.resilience.rig import died, fault_rig

FLOOD = 500  # client messages; each is re-authorised against the session table


async def handshake_status(http: aiohttp.ClientSession, url: str, origin: str | None) -> int:
    headers = {"Origin": origin} if origin else {}
    try:
        ws = await http.ws_connect(url, headers=headers)
    except aiohttp.WSServerHandshakeError as exc:
        return exc.status
    await ws.close()
    return 101


async def test_websocket_abuse_is_refused_and_honest_sockets_live_on(
    tmp_path: Path, postgres_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Property: /ws refuses a foreign Origin (403), no session (401) and a role without
    pops (qa: 403); a client message over the size limit closes that socket with 1009; a
    flood of client messages neither grows the socket's queue past its bound nor disturbs
    another operator's socket; a session that expires while its socket is open loses it
    (4001) at the next message; a socket cannot get another operator's pops by claiming
    their login in the query or a message; no background task dies."""
    async with fault_rig(tmp_path, postgres_url) as rig:
        hub = rig.service.components["app"][HUB_KEY]
        sessions = rig.service.core.sessions  # type: ignore[union-attr]
        url = rig.base + "/ws"
        anna = await sign_in(rig.base, "anna")
        boris = await sign_in(rig.base, "boris")
        quinn = await sign_in(rig.base, "quinn")
        anonymous = aiohttp.ClientSession()
        try:
            assert 403 == await handshake_status(anna.http, url, "https://evil.example")
            assert 403 == await handshake_status(anna.http, url, None)
            assert 401 == await handshake_status(anonymous, url, rig.base)
            assert 403 == await handshake_status(quinn.http, url, rig.base)

            big = await anna.ws()
            await big.send_str("x" * (MAX_CLIENT_MESSAGE + 1))
            msg = await next_frame(big)
            assert (aiohttp.WSMsgType.CLOSE, CloseCode.MESSAGE_TOO_BIG) == (msg.type, msg.data)

            # no way to listen in on another operator: the socket ignores who it claims to
            # be (query, messages); pops go to the signed-in login only
            nosy = await anna.http.ws_connect(
                url + "?login=boris&to=boris", headers={"Origin": rig.base}
            )
            await nosy.send_str(json.dumps({"type": "subscribe", "to": "boris", "topic": "sue"}))
            steady = await boris.ws()
            await wait_for(lambda: len(hub.connections("boris")) == 1, timeout=5)
            core = rig.service.core
            assert core is not None
            sid = await core.bus.publish(
                POPS, {"type": "pop", "to": "boris", "server": "pbx1", "call_id": "c1"}
            )
            got = json.loads((await next_frame(steady)).data)
            assert (sid, "c1") == (got["id"], got["call_id"])
            with pytest.raises(TimeoutError):
                await next_frame(nosy, 0.5)
            await nosy.close()

            flooding = await anna.ws()
            await wait_for(lambda: len(hub.connections("anna")) == 1, timeout=5)
            peak = 0
            for _ in range(FLOOD):  # pings as fast as the client can write them, unread
                await flooding.send_str("ping")
                peak = max([peak, *(c.queue.qsize() for c in hub.connections())])
            await steady.send_str("ping")
            pong = await next_frame(steady)
            assert ('{"type":"pong"}', aiohttp.WSMsgType.TEXT) == (pong.data, pong.type)
            assert peak <= QUEUE_SIZE
            assert 1 == len(hub.connections("anna"))  # the flooder was not dropped either

            # boris's session expires while his socket is open
            token = boris.http.cookie_jar.filter_cookies(URL(rig.base))[SESSION_COOKIE].value
            async with sessions.begin() as db:
                await db.execute(
                    update(WebSession)
                    .where(WebSession.id == auth.token_hash(token))
                    .values(expires_at=utcnow() - timedelta(seconds=1))
                )
            await steady.send_str("ping")
            msg = await next_frame(steady)
            assert (aiohttp.WSMsgType.CLOSE, CloseCode.SIGNED_OUT) == (msg.type, msg.data)
            assert 401 == await handshake_status(boris.http, url, rig.base)
            assert [] == died(caplog)
            await flooding.close()
        finally:
            for client in (anna.http, boris.http, quinn.http, anonymous):
                await client.close()
