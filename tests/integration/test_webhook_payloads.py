"""The CRM's ready payload for a finished call, built from the database (SQLite and
PostgreSQL) and delivered, signed, by the existing dispatcher to a real HTTP receiver."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from contact_center.store.models import (
    Call,
    Charge,
    InteractionEvent,
    QaForm,
    QaReview,
    Recording,
)
from contact_center.webhooks.dispatcher import WebhookDispatcher
from contact_center.webhooks.payloads import (
    OUTCOME_KIND,
    call_outcome_payload,
    load_call_outcome,
    outcome_key,
)
from contact_center.webhooks.signing import SIGNATURE_HEADER, sign
from contact_center.webhooks.targets import TargetPolicy, parse_networks
from tests.integration.crm_standin import crm_standin
from tests.integration.web_support import add_customer, add_user, database

T0 = datetime(2026, 12, 6, 10, 0, tzinfo=UTC)


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    async with database(db_url) as (_, sessions):
        yield sessions


async def a_finished_call(db: async_sessionmaker[AsyncSession]) -> None:
    olga = await add_user(db, "olga", "operator", "PJSIP/101")
    quinn = await add_user(db, "quinn", "qa")
    anna = await add_customer(
        db, "Anna", ["+74951112233"], external_id="crm-17", account_number="A-17"
    )
    async with db.begin() as s:
        s.add(Call(server="pbx1", linkedid="c1", customer_id=anna, caller_number="+74951112233",
                   queue="support", operator_user_id=olga, started_at=T0,
                   answered_at=T0 + timedelta(seconds=12), ended_at=T0 + timedelta(seconds=192),
                   wait_seconds=12.0, talk_seconds=180.0, outcome="answered",
                   disposition="resolved"))  # fmt: skip
        wrapup = {"disposition": "resolved", "notes": "Card blocked; new one sent"}
        s.add(InteractionEvent(key="w1", customer_id=anna, server="pbx1", call_linkedid="c1",
                               kind="operator.wrapup", at=T0 + timedelta(seconds=200),
                               actor="olga", data=wrapup))  # fmt: skip
        s.add(Charge(server="pbx1", call_linkedid="c1", customer_id=anna, plan="inbound",
                     billed_seconds=180, amount=Decimal("4.500000"), currency="RUB",
                     rated_at=T0, call_started_at=T0))  # fmt: skip
        recording = Recording(server="pbx1", call_linkedid="c1", file_name="c1.wav",
                              status="ready", started_at=T0)  # fmt: skip
        form = QaForm(name="Basics", definition={}, created_at=T0)
        s.add_all([recording, form])
        await s.flush()
        s.add(QaReview(recording_id=recording.id, form_id=form.id, reviewer_id=quinn,
                       score=87.5, created_at=T0))  # fmt: skip


async def test_the_outcome_payload_carries_what_a_crm_records(
    db: async_sessionmaker[AsyncSession],
) -> None:
    await a_finished_call(db)
    async with db() as s:
        outcome = await load_call_outcome(s, "pbx1", "c1", public_url="https://cc.example.com/")
        unknown = await load_call_outcome(s, "pbx1", "nope")
    assert outcome is not None
    payload = call_outcome_payload(outcome)

    assert None is unknown
    assert {
        "kind": OUTCOME_KIND,
        "key": outcome_key("pbx1", "c1"),
        "customer": {"id": outcome.customer_id, "external_id": "crm-17",
                     "account_number": "A-17", "name": "Anna"},
        "disposition": "resolved",
        "notes": "Card blocked; new one sent",
        "cost": {"amount": "4.5", "currency": "RUB"},
        "qa_score": 87.5,
        "qa": [{"form": "Basics", "score": 87.5, "auto_failed": False}],
        "recording_url": payload["recording_url"],
    } == {k: payload[k] for k in ("kind", "key", "customer", "disposition", "notes", "cost",
                                  "qa_score", "qa", "recording_url")}  # fmt: skip
    assert payload["recording_url"].startswith("https://cc.example.com/qa/recordings/")
    assert {
        "operator": "olga",
        "outcome": "answered",
        "answered_at": "2026-12-06T10:00:12Z",
        "talk_seconds": 180.0,
    } == {k: payload["call"][k] for k in ("operator", "outcome", "answered_at", "talk_seconds")}


async def test_the_dispatcher_delivers_it_signed_to_the_crm(
    db: async_sessionmaker[AsyncSession],
) -> None:
    await a_finished_call(db)
    async with crm_standin() as crm:
        # the stand-in listens on loopback, which webhooks reach only when allowed
        dispatcher = WebhookDispatcher(db, targets=TargetPolicy(parse_networks("127.0.0.1")))
        created = await dispatcher.store.add(crm.url + "/hooks", ["call.ended"], now=T0)
        async with db() as s:
            outcome = await load_call_outcome(s, "pbx1", "c1")
        assert outcome is not None
        payload = call_outcome_payload(outcome)
        for _ in range(2):  # built twice (a retry of the job): recorded and sent once
            await dispatcher.store.record(
                [created.webhook.id],
                event_key=payload["key"],
                event_kind=OUTCOME_KIND,
                payload=payload,
                now=datetime.now(UTC),
            )
        sent = await dispatcher.deliver_due()
        again = await dispatcher.deliver_due()

    [(headers, body)] = crm.hooks
    assert (1, 0) == (sent, again)
    assert payload == json.loads(body)
    expected = sign(created.secret, int(headers["X-CC-Timestamp"]), body)
    assert expected == headers[SIGNATURE_HEADER]
    assert OUTCOME_KIND == headers["X-CC-Event"]
