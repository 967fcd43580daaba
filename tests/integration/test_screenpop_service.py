"""Screen pop on a real database with the real CustomerLookup: events in, pops out."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from contact_center.bus import EVENTS, POPS, MemoryBus
from contact_center.bus.pump import follow
from contact_center.calls import events as ev
from contact_center.customers.lookup import CustomerLookup
from contact_center.screenpop import ScreenPop
from contact_center.screenpop.service import LookupSlots
from contact_center.store.models import Case, InteractionEvent
from tests.conftest import wait_for
from tests.integration.web_support import SQLITE_ONLY, add_customer, add_user, database

ALICE, BOB = "Local/101@agents", "Local/102@agents"
T0 = 1_790_000_000.0


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    async with database(db_url) as (_, sessions):
        await add_user(sessions, "alice", "operator", ALICE)
        await add_user(sessions, "bob", "operator", BOB)
        yield sessions


@pytest.fixture
def bus() -> MemoryBus:
    return MemoryBus()


@pytest.fixture
async def screenpop(
    db: async_sessionmaker[AsyncSession], bus: MemoryBus
) -> AsyncIterator[ScreenPop]:
    service = ScreenPop(bus, CustomerLookup(db, region="RU"), db)
    yield service
    await service.close()


def base(call_id: str, at: float) -> dict[str, Any]:
    return {"server": "pbx1", "call_id": call_id, "at": at}


def arrival(call_id: str, number: str, name: str = "Ivan Petrov") -> list[ev.DomainEvent]:
    return [
        ev.CallArrived(
            **base(call_id, T0),
            caller_number="",
            caller_number_raw=number,
            caller_name=name,
            did="4951110001",
        ),
        ev.IvrStep(**base(call_id, T0 + 2), menu="main", node="start", digits="2"),
        ev.CallQueued(**base(call_id, T0 + 3), queue="support", position=1),
    ]


def offered(
    call_id: str, interface: str, at: float = T0 + 10, queue: str = "support"
) -> ev.CallOffered:
    return ev.CallOffered(**base(call_id, at), queue=queue, interface=interface, member_name="op")


def answered(
    call_id: str,
    interface: str,
    member_name: str,
    at: float = T0 + 12,
    *,
    ring: float = 2.0,
    **more: Any,
) -> ev.CallAnswered:
    """``interface`` answered ``call_id`` in ``support`` after 9 s waiting."""
    return ev.CallAnswered(
        **base(call_id, at),
        queue="support",
        interface=interface,
        member_name=member_name,
        hold_seconds=9.0,
        ring_seconds=ring,
        **more,
    )


async def pops(bus: MemoryBus, to: str | None = None) -> list[dict[str, Any]]:
    return [m for _, m in await bus.read(POPS, "0", count=1000) if to is None or m["to"] == to]


def hold_lookups(screenpop: ScreenPop, ending: str = "") -> asyncio.Event:
    """Lookups of numbers ending so (all by default) wait until the event returned is set."""
    gate = asyncio.Event()
    by_number = screenpop.lookup.by_number

    async def held(raw: str) -> list[Any]:
        if raw.endswith(ending):
            await gate.wait()
        return await by_number(raw)

    screenpop.lookup.by_number = held  # type: ignore[method-assign]
    return gate


async def feed(screenpop: ScreenPop, events: list[ev.DomainEvent]) -> None:
    for event in events:
        await screenpop.handle(event)


async def test_known_caller_in_another_format_pops_for_the_ringing_operator_only(
    screenpop: ScreenPop, bus: MemoryBus, db: async_sessionmaker[AsyncSession]
) -> None:
    ivan = await add_customer(
        db,
        "Ivan Petrov",
        ["+74951234567"],
        company="Acme",
        segment="VIP",
        language="ru",
        notes="Prefers e-mail",
        account_number="A-1",
    )
    async with db.begin() as s:
        s.add(
            InteractionEvent(
                key="k1",
                customer_id=ivan,
                kind="operator.wrapup",
                at=datetime(2026, 11, 1, 9, 30, tzinfo=UTC),
                actor="bob",
                summary="Wrap-up: answered",
                data={"disposition": "answered", "notes": "Asked about invoice"},
            )
        )
        s.add(
            Case(
                customer_id=ivan,
                kind="complaint",
                title="Late delivery",
                status="open",
                created_at=datetime(2026, 11, 2, tzinfo=UTC),
            )
        )
    await feed(screenpop, [*arrival("c1", "84951234567"), offered("c1", ALICE)])
    [message] = await pops(bus)
    assert ("pop", "alice", "offered", "known", ivan) == (
        message["type"],
        message["to"],
        message["stage"],
        message["match"],
        message["customer_id"],
    )
    assert {
        "number": "",
        "number_raw": "84951234567",
        "display": "+7 495 123-45-67",  # the raw digits as people write the number
        "name": "Ivan Petrov",
    } == message["caller"]
    assert ("support", "2") == (message["queue"], message["ivr_digits"])
    html = message["html"]
    for text in [
        "Ivan Petrov",
        "Acme",
        "VIP",
        "Prefers e-mail",
        "A-1",
        "ru",
        "support",
        '<dd class="waited">0:07</dd>',
        '<dd class="ivr-digits">2</dd>',
        "main/start",
        "Wrap-up: answered — Asked about invoice",
        "Late delivery",
        "84951234567",
        "4951110001",
    ]:
        assert text in html, text


@SQLITE_ONLY
async def test_pop_again_when_answered_and_withdraw_from_other_ringing_operators(
    screenpop: ScreenPop, bus: MemoryBus
) -> None:
    await feed(
        screenpop, [*arrival("c1", "+74950000000"), offered("c1", ALICE), offered("c1", BOB)]
    )
    await screenpop.handle(answered("c1", BOB, "Bob"))
    assert [("pop", "offered"), ("pop.closed", "answered_elsewhere")] == [
        (m["type"], m.get("stage", m.get("reason"))) for m in await pops(bus, "alice")
    ]
    bob = await pops(bus, "bob")
    assert [("pop", "offered"), ("pop", "answered")] == [(m["type"], m["stage"]) for m in bob]
    assert '<dd class="waited">0:09</dd>' in bob[-1]["html"]
    await screenpop.handle(ev.CallEnded(**base("c1", T0 + 60), cause=16))
    assert {
        "type": "pop.closed",
        "to": "bob",
        "server": "pbx1",
        "call_id": "c1",
        "reason": "ended",
    } == (await pops(bus, "bob"))[-1]
    assert 0 == len(screenpop.contexts)


@SQLITE_ONLY
async def test_unknown_caller_gets_a_create_form_with_the_number(
    screenpop: ScreenPop, bus: MemoryBus
) -> None:
    await feed(screenpop, [*arrival("c1", "+74957654321"), offered("c1", ALICE)])
    [message] = await pops(bus)
    assert ("unknown", None, []) == (
        message["match"],
        message["customer_id"],
        message["customer_ids"],
    )
    assert 'action="/api/customers"' in message["html"]
    assert 'name="phone" value="+74957654321"' in message["html"]


async def test_several_customers_on_one_number_offer_the_choice(
    screenpop: ScreenPop, bus: MemoryBus, db: async_sessionmaker[AsyncSession]
) -> None:
    first = await add_customer(db, "Anna Smirnova", ["+74951112233"])
    second = await add_customer(db, "Oleg Smirnov", ["+74951112233"])
    await feed(screenpop, [*arrival("c1", "+7 (495) 111-22-33"), offered("c1", ALICE)])
    [message] = await pops(bus)
    assert ("several", None, [first, second]) == (
        message["match"],
        message["customer_id"],
        message["customer_ids"],
    )
    html = message["html"]
    assert "2 customers share this number" in html
    assert (
        f'name="customer_id" value="{first}"' in html
        and f'name="customer_id" value="{second}"' in html
    )
    assert "/api/calls/pbx1/c1/identify" in html


async def test_caller_identified_in_the_ivr_pops_as_that_customer(
    screenpop: ScreenPop, bus: MemoryBus, db: async_sessionmaker[AsyncSession]
) -> None:
    await add_customer(db, "Phone Owner", ["+74951234567"])
    account = await add_customer(db, "Account Holder", ["+74990000000"], account_number="777")
    await feed(
        screenpop,
        [
            *arrival("c1", "+74951234567"),
            ev.CallerIdentified(**base("c1", T0 + 5), customer_id=account, method="account"),
            offered("c1", ALICE),
        ],
    )
    [message] = await pops(bus)
    assert ("identified", account) == (message["match"], message["customer_id"])
    assert "Account Holder" in message["html"] and "Phone Owner" not in message["html"]


@SQLITE_ONLY
async def test_identification_during_ringing_refreshes_the_card(
    screenpop: ScreenPop, bus: MemoryBus, db: async_sessionmaker[AsyncSession]
) -> None:
    chosen = await add_customer(db, "Chosen One", ["+74951112233"])
    await add_customer(db, "Other One", ["+74951112233"])
    await feed(screenpop, [*arrival("c1", "+74951112233"), offered("c1", ALICE)])
    await screenpop.handle(
        ev.CallerIdentified(**base("c1", T0 + 11), customer_id=chosen, method="operator")
    )
    assert [("offered", "several"), ("identified", "identified")] == [
        (m["stage"], m["match"]) for m in await pops(bus, "alice")
    ]


async def test_the_pop_follows_the_call_after_a_transfer_to_another_queue(
    screenpop: ScreenPop, bus: MemoryBus, db: async_sessionmaker[AsyncSession]
) -> None:
    await add_customer(db, "Ivan Petrov", ["+74951234567"])
    await feed(
        screenpop,
        [
            *arrival("c1", "+74951234567"),
            offered("c1", ALICE),
            answered("c1", ALICE, "Alice"),
            ev.CallTransferred(
                **base("c1", T0 + 40), transfer_type="blind", target="sales", by_interface=ALICE
            ),
            ev.AgentCompleted(
                **base("c1", T0 + 40),
                queue="support",
                interface=ALICE,
                member_name="Alice",
                hold_seconds=9,
                talk_seconds=28,
                reason="transfer",
            ),
            ev.CallQueued(**base("c1", T0 + 41), queue="sales", position=1),
            offered("c1", BOB, at=T0 + 45, queue="sales"),
        ],
    )
    assert ["offered", "answered", "transferred"] == [
        m.get("stage", m.get("reason")) for m in await pops(bus, "alice")
    ]
    [bob] = await pops(bus, "bob")
    html = bob["html"]
    assert ("sales", "2") == (bob["queue"], bob["ivr_digits"])
    # people, not phones: alice's name, not Local/101@agents
    assert '<dd class="previous-operator">Alice</dd>' in html
    assert '<dd class="queues">support → sales</dd>' in html
    assert "Blind → sales (Alice)" in html
    assert '<dd class="waited">0:04</dd>' in html
    assert "Ivan Petrov" in html


@SQLITE_ONLY
async def test_ring_no_answer_withdraws_the_pop(screenpop: ScreenPop, bus: MemoryBus) -> None:
    await feed(
        screenpop,
        [
            *arrival("c1", "+74951234567"),
            offered("c1", ALICE),
            ev.CallRingNoAnswer(
                **base("c1", T0 + 18),
                queue="support",
                interface=ALICE,
                member_name="Alice",
                ring_seconds=8,
            ),
            ev.CallEnded(**base("c1", T0 + 30), cause=16),
        ],
    )
    assert ["pop", "pop.closed"] == [m["type"] for m in await pops(bus, "alice")]


@SQLITE_ONLY
async def test_hostile_caller_name_is_escaped_and_clipped(
    screenpop: ScreenPop, bus: MemoryBus
) -> None:
    hostile = (
        '<script>alert(1)</script><img src=x onerror="alert(2)">\r\nX\u202eevil' + "A" * 10_000
    )
    await feed(screenpop, [*arrival("c1", "+74957654321", name=hostile), offered("c1", ALICE)])
    [message] = await pops(bus)
    html = message["html"]
    assert "<script>" not in html and "<img" not in html
    assert (
        "&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=&#34;alert(2)&#34;&gt;" in html
    )
    assert "A" * 300 not in html
    assert hostile == message["caller"]["name"]  # the data keeps it whole; only display clips


@SQLITE_ONLY
async def test_company_template_overrides_the_card(
    db: async_sessionmaker[AsyncSession], bus: MemoryBus, tmp_path: Path
) -> None:
    (tmp_path / "pop_card.html").write_text(
        "<div class=custom>{{ card.caller_name }} @ {{ card.queue }}</div>"
    )
    screenpop = ScreenPop(bus, CustomerLookup(db, region="RU"), db, template_dirs=[tmp_path])
    await feed(screenpop, [*arrival("c1", "+74957654321", name="<b>Eve</b>"), offered("c1", ALICE)])
    await screenpop.close()
    [message] = await pops(bus)
    assert "<div class=custom>&lt;b&gt;Eve&lt;/b&gt; @ support</div>" == message["html"]


@SQLITE_ONLY
async def test_interface_without_operator_pops_nothing(
    screenpop: ScreenPop, bus: MemoryBus
) -> None:
    await feed(screenpop, [*arrival("c1", "+74957654321"), offered("c1", "PJSIP/999")])
    assert [] == await pops(bus)


@SQLITE_ONLY
async def test_handle_message_takes_bus_dicts(screenpop: ScreenPop, bus: MemoryBus) -> None:
    for event in [*arrival("c1", "+74957654321"), offered("c1", ALICE)]:
        await screenpop.handle_message(ev.to_dict(event))
    assert ["alice"] == [m["to"] for m in await pops(bus)]


async def test_a_slow_lookup_holds_up_only_its_own_operators_pops(
    screenpop: ScreenPop, bus: MemoryBus, db: async_sessionmaker[AsyncSession]
) -> None:
    """The streaming consumer: alice's caller takes long to look up; bob's pop, later in
    the stream, goes out meanwhile; alice's follows once her lookup is done, then its close."""
    await add_customer(db, "Slow Caller", ["+74951111111"])
    await add_customer(db, "Quick Caller", ["+74952222222"])
    gate = hold_lookups(screenpop, "1111111")
    for event in [*arrival("a", "+74951111111"), offered("a", ALICE)]:
        await screenpop.feed(event)
    for event in [*arrival("b", "+74952222222"), offered("b", BOB)]:
        await screenpop.feed(event)  # returns although alice's pop is still waiting
    await wait_for(lambda: screenpop.lookup.cached_entries >= 1)
    await wait_for(lambda: _has_pop(bus, "bob"))
    assert [] == await pops(bus, "alice")

    await screenpop.feed(answered("a", ALICE, "Alice"))
    gate.set()
    await screenpop.settle()

    to_alice = await pops(bus, "alice")
    assert [("pop", "offered"), ("pop", "answered")] == [(m["type"], m["stage"]) for m in to_alice]
    assert "Slow Caller" in to_alice[0]["html"]


async def test_a_pop_still_waiting_when_its_phone_stops_ringing_is_dropped_with_its_close(
    screenpop: ScreenPop, bus: MemoryBus, db: async_sessionmaker[AsyncSession]
) -> None:
    await add_customer(db, "Gone Caller", ["+74953333333"])
    gate = hold_lookups(screenpop)
    for event in [*arrival("c", "+74953333333"), offered("c", ALICE), offered("c", BOB)]:
        await screenpop.feed(event)
    await screenpop.feed(
        ev.CallRingNoAnswer(
            **base("c", T0 + 14),
            queue="support",
            interface=BOB,
            member_name="Bob",
            ring_seconds=4.0,
        )
    )
    await screenpop.feed(ev.CallEnded(**base("c", T0 + 15), cause=16))
    gate.set()
    await screenpop.settle()

    # Bob's phone stopped ringing before his pop was ready: no pop, no close. Alice's was
    # still ringing when the call ended: her pop goes out, then its close, as it would
    # have with a quick lookup (whether she picked up, no connector may have seen).
    assert [] == await pops(bus, "bob")
    assert [("pop", "offered"), ("pop.closed", None)] == [
        (m["type"], m.get("stage")) for m in await pops(bus, "alice")
    ]


async def test_a_call_she_answered_that_ended_before_its_lookup_still_pops_then_closes(
    screenpop: ScreenPop, bus: MemoryBus, db: async_sessionmaker[AsyncSession]
) -> None:
    """Offered, answered and ended before the caller was looked up (a worker that took the
    group over finds the whole call in its backlog): alice talked to this caller, so her
    card goes out — her wrap-up is on it — and then closes."""
    await add_customer(db, "Quick Caller", ["+74954444444"])
    gate = hold_lookups(screenpop)
    took_it = answered("q", ALICE, "Alice", T0 + 11, ring=1.0)
    for event in [*arrival("q", "+74954444444"), offered("q", ALICE), took_it]:
        await screenpop.feed(event)
    await screenpop.feed(ev.CallEnded(**base("q", T0 + 40), cause=16))
    gate.set()
    await screenpop.settle()
    to_alice = await pops(bus, "alice")
    assert [("pop", "offered"), ("pop", "answered"), ("pop.closed", None)] == [
        (m["type"], m.get("stage")) for m in to_alice
    ]
    assert "Quick Caller" in to_alice[0]["html"]


async def test_the_lookup_a_ringing_phone_waits_for_goes_before_speculative_ones() -> None:
    slots = LookupSlots(1)
    order: list[str] = []
    gate = asyncio.Event()

    async def lookup(key: str) -> None:
        async with slots.hold(key):
            order.append(key)
            await gate.wait()

    tasks = [asyncio.create_task(lookup(k)) for k in ("first", "b", "c", "anna")]
    await wait_for(lambda: order == ["first"])
    slots.promote("anna")  # anna's phone rings now
    gate.set()
    await asyncio.gather(*tasks)
    assert ["first", "anna", "b", "c"] == order


async def _has_pop(bus: MemoryBus, login: str) -> bool:
    return any(m["type"] == "pop" for m in await pops(bus, login))


async def test_the_offer_card_rendered_while_queued_is_the_card_rendered_at_ring_time(
    screenpop: ScreenPop, bus: MemoryBus, db: async_sessionmaker[AsyncSession]
) -> None:
    """The card is rendered ahead when the caller queues; at ring time only the wait is
    filled in — byte for byte what rendering it then would give. A change shown on the card
    (a transfer) after queueing makes the ring render it afresh."""
    await add_customer(db, "Queued Caller", ["+74954444444"], company="Acme")
    first, *rest = arrival("q", "+74954444444")
    await screenpop.feed(first)
    ctx = screenpop.contexts.get("pbx1", "q")
    assert ctx is not None
    await screenpop.found(ctx)  # looked up while the caller is still in the IVR
    for event in rest:
        await screenpop.feed(event)
    assert ctx.prerendered is not None
    renders: list[str] = []
    render = screenpop.renderer.render
    screenpop.renderer.render = lambda *a: renders.append("x") or render(*a)  # type: ignore[method-assign]

    await screenpop.handle(offered("q", ALICE, at=T0 + 75))
    [pop] = await pops(bus, "alice")
    assert [] == renders  # the ring rendered nothing
    screenpop.renderer.render = render  # type: ignore[method-assign]
    fresh = screenpop.renderer.render(
        await screenpop.build_card(ctx, ALICE, "offered", ctx.waited(T0 + 75))
    )
    assert fresh == pop["html"]
    assert '<dd class="waited">1:12</dd>' in pop["html"]  # queued at T0+3, rang at T0+75

    await screenpop.feed(
        ev.CallTransferred(
            **base("q", T0 + 80), transfer_type="blind", target="sales", by_interface=ALICE
        )
    )
    await screenpop.handle(offered("q", BOB, at=T0 + 90, queue="sales"))
    [bob_pop] = await pops(bus, "bob")
    assert "sales" in bob_pop["html"] and "Blind → sales" in bob_pop["html"]


async def test_on_the_in_process_bus_the_pop_is_out_when_the_offer_is_published(
    screenpop: ScreenPop, bus: MemoryBus, db: async_sessionmaker[AsyncSession]
) -> None:
    """As the service runs it (``Service.consume(..., in_step=True)``): no loop turn between
    the offer and the pop, so no other consumer's work on that event comes first."""
    ivan = await add_customer(db, "Ivan Petrov", ["+74951234567"])
    await screenpop.start()  # the service starts it: who sits at which phone is known
    sent: list[dict[str, Any]] = []
    bus.listen(POPS, lambda _sid, message: sent.append(message))
    consumer = asyncio.create_task(
        follow(bus, EVENTS, screenpop.feed_message, group="screenpop", consumer="t")
    )
    try:
        await asyncio.sleep(0)
        for event in arrival("c1", "84951234567"):
            await bus.publish(EVENTS, ev.to_dict(event))
        await wait_for(lambda: all(t.done() for t in screenpop._found.values()))  # looked up
        await bus.publish(EVENTS, ev.to_dict(offered("c1", ALICE)))
        assert [("alice", "offered", ivan)] == [
            (m["to"], m["stage"], m["customer_id"]) for m in sent
        ]
    finally:
        consumer.cancel()
        await asyncio.gather(consumer, return_exceptions=True)


async def test_transfers_to_people_pop_at_ring_time_with_the_note_typed_before(
    db: async_sessionmaker[AsyncSession], bus: MemoryBus
) -> None:
    """Capture 17 replayed: 101 takes the call, types a note, blind-transfers to 104, who
    attended-transfers to 103. 104 and 103 get the pop when their phones ring, with the
    customer's card, who had the call and the note; each earlier pop closes as transferred."""
    from contact_center.ami.replay import replay_events

    await add_customer(db, "Ivan Petrov", ["+74951234567"])
    await add_user(db, "dave", "operator", "Local/104@agents")
    await add_user(db, "carol", "operator", "Local/103@agents")
    screenpop = ScreenPop(bus, CustomerLookup(db, region="RU"), db)
    events = replay_events(Path(__file__).resolve().parents[1] / "fixtures/17-transfer-chain.jsonl")
    [first_answer] = [e for e in events if isinstance(e, ev.CallAnswered) and e.interface == ALICE]
    note = ev.OperatorAction(
        **base(first_answer.call_id, first_answer.at + 0.5),
        user="alice",
        action="note",
        detail={"text": "wants the invoice resent"},
    )
    at = events.index(first_answer) + 1
    try:
        await feed(screenpop, [*events[:at], note, *events[at:]])
    finally:
        await screenpop.close()

    offers = [e for e in events if isinstance(e, ev.CallOffered)]
    for login, interface in (("dave", "Local/104@agents"), ("carol", "Local/103@agents")):
        got = await pops(bus, login)
        [offer] = [o for o in offers if o.interface == interface]
        assert "offered" == got[0]["stage"], login  # at ring time, before any answer
        html = got[0]["html"]
        assert "Ivan Petrov" in html
        assert "wants the invoice resent" in html
        assert '<dd class="previous-operator">' in html
        assert offer.via == "transfer"
    assert ["offered", "answered", "transferred"] == [
        m.get("stage", m.get("reason")) for m in await pops(bus, "alice")
    ]


async def test_the_operator_who_puts_the_caller_on_hold_is_told(
    db: async_sessionmaker[AsyncSession], bus: MemoryBus
) -> None:
    """Capture 17 replayed: 104 puts the caller on hold (the phone's re-INVITE, AMI Hold)
    before passing the call on; 104's console is told, nobody else's."""
    from contact_center.ami.replay import replay_events

    await add_user(db, "dave", "operator", "Local/104@agents")
    await add_user(db, "carol", "operator", "Local/103@agents")
    screenpop = ScreenPop(bus, CustomerLookup(db, region="RU"), db)
    events = replay_events(Path(__file__).resolve().parents[1] / "fixtures/17-transfer-chain.jsonl")
    try:
        await feed(screenpop, events)
    finally:
        await screenpop.close()
    [held] = [m for m in await pops(bus) if m["type"] == "call.held"]
    assert ("dave", True) == (held["to"], held["held"])
    dave = [m["type"] for m in await pops(bus, "dave")]
    assert dave.index("pop") < dave.index("call.held") < dave.index("pop.closed")


async def test_in_a_conference_room_she_keeps_her_card_and_sees_who_is_there(
    screenpop: ScreenPop, bus: MemoryBus, db: async_sessionmaker[AsyncSession]
) -> None:
    """Issues 18 and 19, as a PBX that completes the queue call at the Redirect tells it: her
    card closes with her part, shows again as her phone enters the room, and the people in
    the room are named — the customer by the customer record (not the caller ID ``IVAN P``),
    the operator by the directory (not the queue's member name)."""
    await add_customer(db, "Ivan Petrov", ["+74951234567"])
    await feed(screenpop, [*arrival("c1", "+74951234567", name="IVAN P"), offered("c1", ALICE)])
    await screenpop.handle(answered("c1", ALICE, "agent-7", operator_leg_id="L1"))
    await screenpop.handle(
        ev.OperatorLeft(
            **base("c1", T0 + 30),
            interface=ALICE,
            member_name="agent-7",
            via="queue",
            talk_seconds=18.0,
            reason="caller",
            operator_leg_id="L1",
        )
    )
    customer = {"leg_id": "C", "role": "customer", "name": "IVAN P", "number": "+74951234567"}
    operator = {"leg_id": "L1", "role": "operator", "name": "agent-7", "interface": ALICE}
    room = {"conference": "8123", "channel": "x"}
    await screenpop.handle(
        ev.ConferenceParticipantJoined(
            **base("c1", T0 + 30.1),
            **room,
            role="customer",
            name="IVAN P",
            number="+74951234567",
            participants=[customer],
        )
    )
    await screenpop.handle(
        ev.ConferenceParticipantJoined(
            **base("c1", T0 + 31),
            **room,
            role="operator",
            name="agent-7",
            interface=ALICE,
            participants=[customer, operator],
        )
    )
    seen = await pops(bus, "alice")
    assert [
        ("pop", "offered"),
        ("pop", "answered"),
        ("pop.closed", "ended"),
        ("pop", "answered"),  # her card again: she holds the call in the room
        ("call.conference", None),
    ] == [(m["type"], m.get("stage", m.get("reason"))) for m in seen]
    assert [
        {"role": "customer", "name": "Ivan Petrov", "number": "+7 495 123-45-67"},
        {"role": "operator", "name": "Alice", "number": ""},
    ] == seen[-1]["participants"]

    # the customer leaves: she sees the room shrink; Bob, whose card is not open, sees nothing
    await screenpop.handle(
        ev.ConferenceParticipantLeft(
            **base("c1", T0 + 40),
            **room,
            role="customer",
            name="IVAN P",
            participants=[operator],
        )
    )
    last = (await pops(bus, "alice"))[-1]
    assert ["Alice"] == [p["name"] for p in last["participants"]]
    assert [] == await pops(bus, "bob")


async def test_a_worker_stopped_with_a_pop_still_waiting_leaves_its_offer_to_the_next_one(
    db: async_sessionmaker[AsyncSession], redis_url: str, redis_prefix: str
) -> None:
    """On Redis, the screen pop's offer is acknowledged only once its pop is published: the
    worker that stops (or is killed) while alice's pop waits on its lookup leaves the offer
    pending; the worker that takes the group over pops it, naming the caller it never saw
    arrive (read back from the calls table)."""
    from contact_center.bus.pump import pump
    from contact_center.bus.redis import RedisBus
    from contact_center.store.db import from_epoch
    from contact_center.store.models import Call

    await add_customer(db, "Slow Caller", ["+74951111111"])
    async with db() as session, session.begin():
        session.add(
            Call(
                server="pbx1",
                linkedid="a",
                caller_number="+74951111111",
                caller_number_raw="84951111111",
                caller_name="Ivan Petrov",
                started_at=from_epoch(T0),
            )
        )  # fmt: skip (what the history consumer wrote when the call arrived)
    bus = RedisBus(redis_url, prefix=redis_prefix)
    first = ScreenPop(bus, CustomerLookup(db, region="RU"), db)
    gate = hold_lookups(first)
    for event in [*arrival("a", "+74951111111"), offered("a", ALICE)]:
        await bus.publish(EVENTS, ev.to_dict(event))

    def worker(pops_: ScreenPop, name: str) -> asyncio.Task[None]:
        return asyncio.create_task(
            pump(
                bus, EVENTS, pops_.feed_message, group="screenpop", consumer=name,
                block_ms=50, claim_idle_ms=0, settling=pops_,
            )
        )  # fmt: skip

    second = ScreenPop(bus, CustomerLookup(db, region="RU"), db)
    try:
        task = worker(first, "w1")
        await wait_for(lambda: not first.settled(first.mark()))  # alice's pop waits
        await asyncio.sleep(0.2)  # reads that could have carried the offer's ack
        assert {"screenpop": 1} == await bus.backlog(EVENTS)  # the offer, pending
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await first.close()  # what it held in memory is gone, as with a killed process
        assert [] == await bus.read(POPS, "0")

        task = worker(second, "w2")

        async def popped() -> bool:
            return any(m["to"] == "alice" for _, m in await bus.read(POPS, "0"))

        async def acknowledged() -> bool:  # the ack follows the pop
            return {"screenpop": 0} == await bus.backlog(EVENTS)

        await wait_for(popped)
        await wait_for(acknowledged)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        got = [m for _, m in await bus.read(POPS, "0") if m["type"] == "pop"]
        (pop,) = got
        assert ("alice", "a", "offered", "known") == (
            pop["to"], pop["call_id"], pop["stage"], pop["match"]
        )  # fmt: skip
        assert "Slow Caller" in pop["html"]
    finally:
        gate.set()
        await second.close()
        await first.close()
        await bus.delete_all()
        await bus.close()


def found(call_id: str, interface: str, at: float, rang_at: float) -> ev.OperatorFound:
    return ev.OperatorFound(
        **base(call_id, at),
        queue="support",
        interface=interface,
        member_name="Bob",
        operator_leg_id=f"{call_id}-leg",
        rang_at=rang_at,
    )


async def test_an_operator_a_resync_finds_talking_gets_the_card_she_never_got(
    screenpop: ScreenPop, bus: MemoryBus
) -> None:
    # the caller queued while a connector listened; Bob answered while none did
    await feed(screenpop, [*arrival("c1", "+74950000000"), found("c1", BOB, T0 + 30, T0 + 12)])
    bob = await pops(bus, "bob")
    assert [("pop", "answered")] == [(m["type"], m["stage"]) for m in bob]
    assert "Ivan Petrov" in bob[0]["html"]
    assert '<dd class="waited">0:09</dd>' in bob[0]["html"]  # queued at +3, rang at +12
    # a later resync finds him again: nothing more; the call's end closes his card
    await screenpop.handle(found("c1", BOB, T0 + 40, T0 + 12))
    await screenpop.handle(ev.CallEnded(**base("c1", T0 + 60), cause=16))
    assert [("pop", "answered"), ("pop.closed", "ended")] == [
        (m["type"], m.get("stage", m.get("reason"))) for m in await pops(bus, "bob")
    ]
    assert [] == await pops(bus, "alice")


async def test_an_operator_found_talking_who_had_her_card_gets_no_second_one(
    screenpop: ScreenPop, bus: MemoryBus
) -> None:
    await feed(
        screenpop,
        [
            *arrival("c1", "+74950000000"),
            offered("c1", BOB),
            answered("c1", BOB, "Bob"),
            found("c1", BOB, T0 + 30, T0 + 10),  # the standby's resync after a takeover
        ],
    )
    assert [("pop", "offered"), ("pop", "answered")] == [
        (m["type"], m["stage"]) for m in await pops(bus, "bob")
    ]
