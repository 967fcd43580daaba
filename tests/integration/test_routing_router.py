"""The router on a real database: customer facts + live figures → queue, priority, sticky
operator, with the decision and its reasons logged as a RoutingDecided event."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from contact_center.calls.events import DomainEvent, RoutingDecided
from contact_center.customers.lookup import CustomerLookup
from contact_center.routing.rules import load_rules
from contact_center.routing.service import Router, RouteRequest
from contact_center.store.db import create_engine, session_factory, utcnow
from contact_center.store.migrate import upgrade
from contact_center.store.models import Call, Case, Customer, CustomerPhone

RULES = Path(__file__).resolve().parents[1] / "fixtures" / "routing" / "good.yaml"
SNAPSHOT = {
    "queues": {
        q: {"operators": {"staffed": 2, "available": 1}, "longest_wait_seconds": 3.0}
        for q in ("support", "support_l2", "sales", "vip", "complaints")
    },
    "operators": {
        "PJSIP/101": {"interface": "PJSIP/101", "state": "available"},
        "PJSIP/102": {"interface": "PJSIP/102", "state": "paused"},
    },
}


async def seed(url: str) -> tuple[int, int]:
    await upgrade(url)
    engine = create_engine(url)
    now = utcnow()
    async with session_factory(engine).begin() as db:
        vip = Customer(
            name="Vera VIP", segment="VIP", language="en", custom={}, created_at=now, updated_at=now
        )
        vip.phones.append(CustomerPhone(e164="+74951112233", suffix="1112233", raw=""))
        plain = Customer(
            name="Paul Plain", segment="", language="ru", custom={}, created_at=now, updated_at=now
        )
        plain.phones.append(CustomerPhone(e164="+74954445566", suffix="4445566", raw=""))
        db.add_all([vip, plain])
        await db.flush()
        db.add(
            Call(
                server="pbx1",
                linkedid="1.1",
                customer_id=vip.id,
                queue="vip",
                operator_interface="PJSIP/101",
                started_at=now - timedelta(days=2),
                ivr_path={},
            )
        )
        db.add(
            Case(
                customer_id=plain.id,
                kind="complaint",
                title="double charge",
                status="open",
                created_at=now,
            )
        )
        ids = (vip.id, plain.id)
    await engine.dispose()
    return ids


async def test_vip_sticky_and_complaint_routing(db_url: str) -> None:
    vip_id, plain_id = await seed(db_url)
    engine = create_engine(db_url)
    sessions = session_factory(engine)
    logged: list[DomainEvent] = []

    async def sink(event: DomainEvent) -> None:
        logged.append(event)

    async def snapshot() -> dict[str, object]:
        return SNAPSHOT

    router = Router(
        sessions, CustomerLookup(sessions, region="RU"), load_rules(RULES), snapshot, sink
    )
    try:
        vip = await router.route(
            RouteRequest("pbx1", "9.1", "84951112233", None, fallback_queue="support")
        )
        assert ("vip", 10, ("en",), "PJSIP/101", 12) == (
            vip.queue,
            vip.priority,
            vip.skills,
            vip.preferred_interface,
            vip.ring_first_seconds,
        )
        plain = await router.route(
            RouteRequest("pbx1", "9.2", "", plain_id, fallback_queue="support")
        )
        assert ("complaints", 5, "") == (plain.queue, plain.priority, plain.preferred_interface)
        unknown = await router.route(
            RouteRequest("pbx1", "9.3", "+74957778899", None, ivr_choice="1")
        )
        assert ("sales", 0) == (unknown.queue, unknown.priority)
        decided = [e for e in logged if isinstance(e, RoutingDecided)]
        assert ["9.1", "9.2", "9.3"] == [e.call_id for e in decided]
        assert "sticky: PJSIP/101 served this customer last" in decided[0].reason
        assert vip_id != plain_id
    finally:
        await engine.dispose()
