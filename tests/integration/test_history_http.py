"""History over HTTP: REST timeline with paging, call detail, CSV export, pages, roles."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from contact_center.bus.memory import MemoryBus
from contact_center.history import http as history_http
from contact_center.history.writer import HistoryWriter
from contact_center.store.models import User
from tests.integration.history_support import HISTORY_EVENTS_PER_CALL, T0, answered_call
from tests.integration.web_support import add_customer, add_user, database, sign_in, web_server


async def test_history_api_pages_and_roles(sqlite_url: str, tmp_path: Path) -> None:
    async with database(sqlite_url) as (_engine, sessions):
        customer = await add_customer(sessions, "Ivan <b>Petrov</b>", ["+74951234567"])
        await add_user(sessions, "alice", "operator", interface="PJSIP/101")
        await add_user(sessions, "bob", "operator", interface="PJSIP/102")
        sue_id = await add_user(sessions, "sue", "supervisor")
        async with sessions.begin() as db:
            sue_row = await db.get(User, sue_id)
            assert sue_row is not None
            sue_row.queues = {"support": 0}  # the calls below are support's
        writer = HistoryWriter(sessions, spill_dir=tmp_path / "spill")
        for i in range(2):
            for event in answered_call(f"9.{i}", t0=T0 + i * 1000):
                await writer.handle(event)
        await writer.flush()

        async with web_server(sessions, MemoryBus(), plugins=[history_http]) as server:
            alice = await sign_in(server, "alice")
            bob = await sign_in(server, "bob")
            sue = await sign_in(server, "sue")
            try:
                # REST timeline, paged with the cursor it hands out.
                url = alice.url(f"/api/customers/{customer}/timeline?limit=10")
                async with alice.http.get(url) as resp:
                    first = await resp.json()
                async with alice.http.get(url + "&cursor=" + first["next_cursor"]) as resp:
                    second = await resp.json()
                assert 2 * HISTORY_EVENTS_PER_CALL == len(first["items"]) + len(second["items"])
                assert second["next_cursor"] is None
                assert "9.1" == first["items"][0]["call"]  # newest first

                async with alice.http.get(url + "&kind=call.ended") as resp:
                    ended = await resp.json()
                assert ["9.1", "9.0"] == [i["call"] for i in ended["items"]]

                async with alice.http.get(url + "&cursor=garbage") as resp:
                    assert 400 == resp.status

                # Call detail: alice answered it, bob did not.
                async with alice.http.get(alice.url("/api/calls/pbx1/9.0")) as resp:
                    detail = await resp.json()
                assert ("PJSIP/101", 2) == (detail["call"]["operator"], len(detail["legs"]))
                async with bob.http.get(bob.url("/api/calls/pbx1/9.0")) as resp:
                    assert 403 == resp.status
                async with sue.http.get(sue.url("/api/calls/pbx1/nope")) as resp:
                    assert 404 == resp.status

                # Export is for supervisors; it streams CSV with the total announced.
                async with alice.http.get(alice.url("/api/history/export.csv")) as resp:
                    assert 403 == resp.status
                async with sue.http.get(
                    sue.url(f"/api/history/export.csv?customer={customer}")
                ) as resp:
                    body = await resp.text()
                    total = resp.headers["X-Total-Rows"]
                rows = list(csv.DictReader(io.StringIO(body)))
                assert (str(2 * HISTORY_EVENTS_PER_CALL), 2 * HISTORY_EVENTS_PER_CALL) == (
                    total,
                    len(rows),
                )

                # Pages: escaped names, a link to the call detail page.
                page_url = alice.url(f"/customers/{customer}/history")
                async with alice.http.get(page_url, headers={"Accept": "text/html"}) as resp:
                    page = await resp.text()
                assert 200 == resp.status
                assert "Ivan &lt;b&gt;Petrov&lt;/b&gt;" in page
                # Each topic once in the filter, the costs (charges) too.
                assert 1 == page.count('name="topic" value="costs"')
                assert 1 == page.count('name="topic" value="calls"')
                assert 'href="/calls/pbx1/9.1"' in page
                async with sue.http.get(
                    sue.url("/calls/pbx1/9.1"), headers={"Accept": "text/html"}
                ) as resp:
                    call_page = await resp.text()
                assert "Alice answered after 0:04 waiting" in call_page  # names, m:ss
                assert "Called from +7 495 123-45-67, waited 0:04" in call_page
            finally:
                for browser in (alice, bob, sue):
                    await browser.close()

            # Signed out: no history.
            import aiohttp

            async with aiohttp.ClientSession() as anon:
                async with anon.get(server.make_url(f"/api/customers/{customer}/timeline")) as resp:
                    assert 401 == resp.status


async def test_history_is_scoped_to_own_calls_and_own_queues(
    sqlite_url: str, tmp_path: Path
) -> None:
    """Issue 21, items 3 and 5: any operator read any customer's timeline (with other
    operators' notes); QA and supervisors without queues read any call. Now an operator sees
    the customers of their own calls, supervisors and QA those of their queues."""
    async with database(sqlite_url) as (_engine, sessions):
        ivan = await add_customer(sessions, "Ivan Petrov", ["+74951234567"])
        olga = await add_customer(sessions, "Olga", ["+74957654321"])
        people = {
            "alice": ("operator", "PJSIP/101", {}),
            "bob": ("operator", "PJSIP/102", {}),
            "sue": ("supervisor", "", {"support": 0}),
            "sid": ("supervisor", "", {}),
            "quinn": ("qa", "", {"support": 0}),
            "qed": ("qa", "", {"sales": 0}),
            "root": ("admin", "", {}),
        }
        for login, (role, interface, queues) in people.items():
            user_id = await add_user(sessions, login, role, interface=interface)
            async with sessions.begin() as db:
                row = await db.get(User, user_id)
                assert row is not None
                row.queues = queues
        writer = HistoryWriter(sessions, spill_dir=tmp_path / "spill")
        for event in answered_call("9.0"):  # Ivan, support, answered at PJSIP/101
            await writer.handle(event)
        for event in answered_call("9.1", t0=T0 + 1000, caller="+74957654321"):
            await writer.handle(event)  # Olga, the same queue and phone
        await writer.flush()

        async with web_server(sessions, MemoryBus(), plugins=[history_http]) as server:
            browsers = {login: await sign_in(server, login) for login in people}
            try:
                seen: dict[str, tuple[int, ...]] = {}
                for login, browser in browsers.items():
                    statuses = []
                    for path in (
                        f"/api/customers/{ivan}/timeline",
                        f"/customers/{ivan}/history",
                        f"/api/customers/{olga}/timeline",
                        "/api/calls/pbx1/9.0",
                        "/calls/pbx1/9.0",
                    ):
                        async with browser.http.get(browser.url(path)) as resp:
                            statuses.append(resp.status)
                            body = await resp.text()
                        if resp.status != 200:
                            assert "Petrov" not in body and "Olga" not in body
                    seen[login] = tuple(statuses)
                ok, nf, no = 200, 404, 403
                assert {
                    "alice": (ok, ok, ok, ok, ok),
                    "bob": (nf, nf, nf, no, no),
                    "sue": (ok, ok, ok, ok, ok),
                    "sid": (nf, nf, nf, no, no),
                    "quinn": (ok, ok, ok, ok, ok),
                    "qed": (nf, nf, nf, no, no),
                    "root": (ok, ok, ok, ok, ok),
                } == seen

                # A supervisor's export holds the rows of their queues' calls only.
                for login, rows_expected in (("sue", True), ("sid", False)):
                    browser = browsers[login]
                    async with browser.http.get(browser.url("/api/history/export.csv")) as resp:
                        rows = list(csv.DictReader(io.StringIO(await resp.text())))
                    assert (len(rows) > 0) is rows_expected, login
            finally:
                for browser in browsers.values():
                    await browser.close()
