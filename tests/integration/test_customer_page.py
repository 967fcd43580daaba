"""The customer page (/customers/{id}): the timeline in plain language, grouped by call, with
filters by topic and period, paged, recordings with the player, scoped like the API; on
SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
import re
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select

from contact_center.bus.memory import MemoryBus
from contact_center.callbacks import store as callbacks_store
from contact_center.calls import events as ev
from contact_center.config import load_settings
from contact_center.customers import http as customers_http
from contact_center.history import http as history_http
from contact_center.history.writer import HistoryWriter
from contact_center.recording import http as recording_http
from contact_center.recording.qa import DEMO_FORM, create_form, submit_review
from contact_center.store.models import InteractionEvent, Recording, User
from tests.integration.history_support import T0, answered_call
from tests.integration.web_support import add_customer, add_user, database, sign_in, web_server

HTML = {"Accept": "text/html"}
IVAN, OLGA = "+74951234567", "+74957654321"
CALLS = 7  # Ivan's calls: more rows than one page holds


def _with_operator(events: list[ev.DomainEvent], interface: str) -> list[ev.DomainEvent]:
    return [
        dataclasses.replace(e, interface=interface, member_name="")  # type: ignore[type-var]
        if isinstance(e, ev.CallOffered | ev.CallAnswered)
        else e
        for e in events
    ]


def _call(linkedid: str, t0: float, caller: str, interface: str) -> list[ev.DomainEvent]:
    events = _with_operator(answered_call(linkedid, t0=t0, caller=caller), interface)
    base = {"server": "pbx1", "call_id": linkedid}
    events.append(
        ev.OperatorLeft(
            **base,
            at=t0 + 105,
            key=ev.make_key("left", linkedid),
            interface=interface,
            member_name="",
            via="queue",
            queue="support",
            talk_seconds=95.0,
            reason="caller",
        )
    )
    events.append(
        ev.OperatorAction(
            **base,
            at=t0 + 40,
            key=ev.make_key("note", linkedid),
            user="alice",
            action="note",
            detail={"text": "asked about the <b>card</b>"},
        )
    )
    return events


def _callback_call(linkedid: str, t0: float) -> list[ev.DomainEvent]:
    base = {"server": "pbx1", "call_id": linkedid}
    return [
        ev.CallArrived(
            **base, at=t0, key=ev.make_key("cb", linkedid), caller_number="",
            caller_number_raw="", caller_name="", did=IVAN, direction="outbound",
            operator_interface="PJSIP/101", tags={"KIND": "callback"},
        ),
        ev.CallEnded(
            **base, at=t0 + 30, key=ev.make_key("cb-end", linkedid), cause=19,
            outcome="no_answer", direction="outbound", dialled=IVAN,
        ),
    ]  # fmt: skip


def kinds(page: str) -> list[str]:
    return re.findall(r'<li data-kind="([^"]+)"', page)


async def test_customer_page_reads_in_plain_language_filters_pages_and_scopes(
    db_url: str, tmp_path: Path
) -> None:
    async with database(db_url) as (_engine, sessions):
        ivan = await add_customer(sessions, "Ivan Petrov", [IVAN], segment="VIP")
        olga = await add_customer(sessions, "Olga Sidorova", [OLGA])
        people = {
            "alice": ("operator", "PJSIP/101", {}),
            "bob": ("operator", "PJSIP/102", {}),
            "sue": ("supervisor", "", {"support": 0}),
            "quinn": ("qa", "", {"support": 0}),
            "qed": ("qa", "", {"sales": 0}),
        }
        ids = {}
        for login, (role, interface, queues) in people.items():
            ids[login] = await add_user(sessions, login, role, interface=interface)
            async with sessions.begin() as db:
                row = await db.get(User, ids[login])
                assert row is not None
                row.queues = queues
        writer = HistoryWriter(sessions, spill_dir=tmp_path / "spill")
        for i in range(CALLS):
            for event in _call(f"9.{i}", T0 + i * 86400, IVAN, "PJSIP/101"):
                await writer.handle(event)
        for event in _call("8.0", T0 + 500, OLGA, "PJSIP/102"):
            await writer.handle(event)
        for event in _callback_call("7.1", datetime(2026, 3, 3, 10, 59, tzinfo=UTC).timestamp()):
            await writer.handle(event)  # the dialer's attempt: Alice's phone, then Ivan's
        await writer.flush()
        newest = f"9.{CALLS - 1}"

        # QA scores the newest call's recording; a callback attempt is not answered.
        async with sessions.begin() as db:
            rec = Recording(
                server="pbx1", call_linkedid=newest, customer_id=ivan,
                operator_interface="PJSIP/101", queue="support", file_name="r-9.wav",
                status="done", started_at=datetime.fromtimestamp(T0, UTC),
                duration_seconds=95.0, peaks={"values": [0.1, 0.5, 0.9, 0.2]},
            )  # fmt: skip
            db.add(rec)
            form = await create_form(db, "Call handling", DEMO_FORM)
            await submit_review(
                db,
                recording=rec,
                form=form,
                reviewer_id=ids["quinn"],
                answers={"greet": 1, "verify": 1, "need": 5, "solve": 4, "card": 1, "summary": 1},
            )
            rec_id = rec.id
        now = datetime(2026, 3, 3, 11, 0, tzinfo=UTC)
        cfg = load_settings(environ={"CC_GENERAL_TIMEZONE": "Europe/Moscow"})
        async with sessions.begin() as db:
            row = await callbacks_store.create(
                db, key="cb-1", number=IVAN, queue="support", requested_by="ivr", now=now,
                customer_id=ivan, due_at=now,
            )  # fmt: skip
            assert await callbacks_store.claim(db, row.id, "alice", now)
            await callbacks_store.started(db, row.id, "7.1")
            await callbacks_store.finish(db, cfg.callbacks, "7.1", "no_answer", now, server="pbx1")
        async with sessions.begin() as db:  # the charge's row, as billing writes it
            db.add(
                InteractionEvent(
                    key="charge-9.0", customer_id=ivan, server="pbx1", call_linkedid="9.0",
                    kind="call.charged", at=datetime.fromtimestamp(T0 + 200, UTC),
                    actor="billing", summary="Charged 1.430000 RUB",
                    data={"amount": "1.430000", "currency": "RUB", "plan": "inbound",
                          "billed_seconds": 120},
                )
            )  # fmt: skip
        async with sessions() as db:
            review_rows = (
                await db.scalars(
                    select(InteractionEvent).where(InteractionEvent.kind == "qa.review")
                )
            ).all()
        assert 1 == len(review_rows)

        plugins = [history_http, customers_http, recording_http]
        async with web_server(sessions, MemoryBus(), plugins=plugins, cfg=cfg) as server:
            browsers = {login: await sign_in(server, login) for login in people}
            alice, sue, quinn = browsers["alice"], browsers["sue"], browsers["quinn"]
            try:

                async def page(who: str, path: str, **headers: str) -> tuple[int, str]:
                    b = browsers[who]
                    async with b.http.get(b.url(path), headers={**HTML, **headers}) as resp:
                        return resp.status, await resp.text()

                status, html = await page("alice", f"/customers/{ivan}")
                assert 200 == status
                # the call's headline: number, wait, who talked how long
                assert "Called from +7 495 123-45-67, waited 0:04, talked 1:35 with Alice" in html
                assert "Note by Alice: asked about the &lt;b&gt;card&lt;/b&gt;" in html
                assert "Disposition by Alice: resolved" in html
                assert "IVR main › pin: pressed ****" in html  # the PIN stays masked
                assert "4321" not in html
                assert re.search(r"QA score \d+(\.\d)? % by Quinn \(Call handling\)", html)
                assert f'data-recording="{rec_id}"' in html
                assert f'src="/qa/recordings/{rec_id}/audio"' in html
                assert "Times in Europe/Moscow." in html

                # the callback's next try in the reader's zone (Moscow): 11:15 UTC is 14:15
                status, callbacks = await page("alice", f"/customers/{ivan}?topic=callbacks")
                assert "Callback: no answer, next try 14:15" in callbacks
                # in Russian
                ru_header = {"Accept-Language": "ru"}
                status, ru = await page("alice", f"/customers/{ivan}?topic=callbacks", **ru_header)
                assert "Обратный звонок: нет ответа, следующая попытка 14:15" in ru
                status, ru = await page("alice", f"/customers/{ivan}", **ru_header)
                assert "Звонок с +7 495 123-45-67, ожидание 0:04, разговор 1:35 с Alice" in ru

                # paged: the older page holds the rest, nothing twice
                first = kinds(html)
                older = re.search(r'href="([^"]+)" id="older"', html)
                assert older is not None
                status, html2 = await page("alice", older.group(1).replace("&amp;", "&"))
                assert 200 == status and 'id="newest"' in html2 and 'id="older"' not in html2
                async with alice.http.get(
                    alice.url(f"/api/customers/{ivan}/timeline?limit=500")
                ) as resp:
                    everything = (await resp.json())["items"]
                assert len(everything) == len(first) + len(kinds(html2))

                # filters by topic
                for topic, wanted in (
                    ("qa", {"qa.review"}),
                    ("callbacks", {"callback.attempt"}),
                    ("notes", {"operator.action"}),
                    ("ivr", {"call.ivr_step"}),
                    ("recordings", set()),
                    ("costs", {"call.charged"}),
                ):
                    status, filtered = await page("alice", f"/customers/{ivan}?topic={topic}")
                    assert 200 == status
                    assert wanted == set(kinds(filtered)), topic
                status, costs = await page("alice", f"/customers/{ivan}?topic=costs")
                assert "Cost 1.43 RUB (2:00 billed)" in costs
                status, notes = await page("alice", f"/customers/{ivan}?topic=notes")
                assert CALLS == len(kinds(notes))
                assert "Disposition by" not in notes
                status, both = await page("alice", f"/customers/{ivan}?topic=qa&topic=dispositions")
                assert {"qa.review", "operator.action"} == set(kinds(both))
                assert "QA score" in both and "Disposition by Alice" in both
                status, _ = await page("alice", f"/customers/{ivan}?topic=gossip")
                assert 400 == status
                # the API filters the same: qa.review by kind or by topic
                for query in ("kind=qa.review", "topic=qa"):
                    async with quinn.http.get(
                        quinn.url(f"/api/customers/{ivan}/timeline?{query}")
                    ) as resp:
                        items = (await resp.json())["items"]
                    assert ["qa.review"] == [i["kind"] for i in items]
                # period: the first call's day only (in Moscow), then a day with nothing
                status, day = await page(
                    "sue", f"/customers/{ivan}?since=2026-03-03&until=2026-03-03"
                )
                assert {"9.0"} == set(re.findall(r'data-call="([^"]+)"', day)) - {"7.1"}
                status, empty = await page(
                    "sue", f"/customers/{ivan}?since=2025-01-01&until=2025-01-02"
                )
                assert 'id="timeline-empty"' in empty and "Nothing matches" in empty
                status, _ = await page("sue", f"/customers/{ivan}?since=yesterday")
                assert 400 == status

                # scoped: an operator sees the customers of their own calls only
                seen = {}
                for login in people:
                    seen[login] = (
                        (await page(login, f"/customers/{ivan}"))[0],
                        (await page(login, f"/customers/{olga}"))[0],
                    )
                assert {
                    "alice": (200, 404),
                    "bob": (404, 200),
                    "sue": (200, 200),
                    "quinn": (200, 200),
                    "qed": (404, 404),
                } == seen
                status, bobs = await page("bob", f"/customers/{ivan}")
                assert "Ivan" not in bobs and "Petrov" not in bobs
                bob = browsers["bob"]
                async with bob.http.get(
                    bob.url(f"/customers/{ivan}/history"), allow_redirects=False
                ) as resp:
                    assert 404 == resp.status  # the old address leaks nothing either

                # reachable: the old address, search results, the call's page
                async with sue.http.get(
                    sue.url(f"/customers/{ivan}/history?topic=qa"), allow_redirects=False
                ) as resp:
                    assert (301, f"/customers/{ivan}?topic=qa") == (
                        resp.status,
                        resp.headers["Location"],
                    )
                status, search = await page("sue", "/customers?q=Petrov")
                assert f'href="/customers/{ivan}"' in search
                status, call = await page("sue", f"/calls/pbx1/{newest}")
                assert f'href="/customers/{ivan}"' in call
            finally:
                for b in browsers.values():
                    await b.close()
