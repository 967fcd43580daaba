"""``call.outcome`` sent by itself (SQLite and PostgreSQL) to a real HTTP receiver: not while
the call still lacks its disposition, cost or processed recording; once when they are in;
again with a QA score saved later; and, past the grace period, with what there is."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from contact_center.calls import events as ev
from contact_center.store.db import utcnow
from contact_center.store.models import Call, Charge, QaForm, QaReview, Recording
from contact_center.webhooks.dispatcher import WebhookDispatcher
from contact_center.webhooks.payloads import OUTCOME_KIND, outcome_key
from contact_center.webhooks.signing import EVENT_HEADER, verify
from contact_center.webhooks.targets import TargetPolicy, parse_networks
from tests.conftest import wait_for
from tests.integration.crm_standin import crm_standin
from tests.integration.web_support import add_customer, add_user, database


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    async with database(db_url) as (_, sessions):
        yield sessions


@contextlib.asynccontextmanager
async def running(dispatcher: WebhookDispatcher) -> AsyncIterator[None]:
    task = asyncio.create_task(dispatcher.run())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def ended(call_id: str) -> ev.CallEnded:
    return ev.CallEnded(server="pbx1", call_id=call_id, at=1.0, cause=16, outcome="answered")


async def a_call(db: async_sessionmaker[AsyncSession], call_id: str, t0: datetime) -> int:
    olga = await add_user(db, f"olga{call_id}", "operator", f"PJSIP/1{call_id}")
    anna = await add_customer(db, "Anna", [], external_id=f"crm-{call_id}")
    async with db.begin() as s:
        s.add(Call(server="pbx1", linkedid=call_id, customer_id=anna, caller_number="+7495",
                   queue="support", operator_user_id=olga, started_at=t0,
                   answered_at=t0 + timedelta(seconds=5), ended_at=t0 + timedelta(seconds=65),
                   wait_seconds=5.0, talk_seconds=60.0, outcome="answered"))  # fmt: skip
        recording = Recording(server="pbx1", call_linkedid=call_id, file_name=f"{call_id}.wav",
                              status="processing", started_at=t0)  # fmt: skip
        s.add(recording)
        await s.flush()
        return recording.id


def outcomes(hooks: list[tuple[dict[str, str], bytes]]) -> list[dict[str, Any]]:
    return [json.loads(body) for headers, body in hooks if headers[EVENT_HEADER] == OUTCOME_KIND]


async def test_the_outcome_goes_out_once_complete_then_with_each_qa_score(
    db: async_sessionmaker[AsyncSession],
) -> None:
    recording_id = await a_call(db, "c1", utcnow())
    async with crm_standin() as crm:
        dispatcher = WebhookDispatcher(
            db, targets=TargetPolicy(parse_networks("127.0.0.1")), poll_interval=0.02
        )
        created = await dispatcher.store.add(crm.url + "/hooks", [OUTCOME_KIND], now=utcnow())
        async with running(dispatcher):
            await dispatcher.handle(ended("c1"))
            await asyncio.sleep(0.3)  # several sweeps: no disposition, cost, recording yet
            assert [] == crm.hooks
            async with db.begin() as s:
                await s.execute(
                    update(Call).where(Call.linkedid == "c1").values(disposition="resolved")
                )
                s.add(Charge(server="pbx1", call_linkedid="c1", plan="inbound",
                             billed_seconds=60, amount=Decimal("1.5"), currency="RUB",
                             rated_at=utcnow(), call_started_at=utcnow()))  # fmt: skip
            await dispatcher.handle(
                ev.CallCharged(server="pbx1", call_id="c1", at=2.0, amount="1.5", currency="RUB")
            )
            await asyncio.sleep(0.3)  # the recording is still being processed
            assert [] == crm.hooks
            async with db.begin() as s:
                await s.execute(
                    update(Recording).where(Recording.id == recording_id).values(status="done")
                )
            await dispatcher.handle(
                ev.RecordingReady(server="pbx1", call_id="c1", at=3.0, recording_id=recording_id)
            )
            await dispatcher.handle(ev.RecordingReady(server="pbx1", call_id="c1", at=3.0,
                                                      recording_id=recording_id))  # fmt: skip
            await wait_for(lambda: len(crm.hooks) == 1)
            # a reviewer scores the call later: the CRM hears of it again
            quinn = await add_user(db, "quinn", "qa")
            async with db.begin() as s:
                form = QaForm(name="Basics", definition={}, created_at=utcnow())
                s.add(form)
                await s.flush()
                s.add(QaReview(recording_id=recording_id, form_id=form.id, reviewer_id=quinn,
                               score=90.0, created_at=utcnow()))  # fmt: skip
            await wait_for(lambda: len(crm.hooks) == 2)
            await asyncio.sleep(0.3)
    first, second = outcomes(crm.hooks)
    assert 2 == len(crm.hooks)
    headers, body = crm.hooks[0]
    assert verify(
        created.secret, headers["X-CC-Timestamp"], body, headers["X-CC-Signature"],
        now=datetime.now(UTC).timestamp(),
    )  # fmt: skip
    assert (outcome_key("pbx1", "c1"), "resolved", {"amount": "1.5", "currency": "RUB"}, None) == (
        first["key"],
        first["disposition"],
        first["cost"],
        first["qa_score"],
    )
    assert "crm-c1" == first["customer"]["external_id"]
    assert (first["key"], 90.0) == (second["key"], second["qa_score"])


async def test_an_outcome_missing_parts_goes_out_after_the_grace_period(
    db: async_sessionmaker[AsyncSession],
) -> None:
    await a_call(db, "c2", utcnow() - timedelta(minutes=10))  # ended ten minutes ago
    async with crm_standin() as crm:
        dispatcher = WebhookDispatcher(
            db, targets=TargetPolicy(parse_networks("127.0.0.1")), poll_interval=0.02,
            outcome_grace_seconds=300,
        )  # fmt: skip
        await dispatcher.store.add(crm.url + "/hooks", [OUTCOME_KIND], now=utcnow())
        async with running(dispatcher):
            await dispatcher.handle(ended("c2"))
            await wait_for(lambda: len(crm.hooks) == 1)
            await asyncio.sleep(0.2)
    (sent,) = outcomes(crm.hooks)
    assert ("", None) == (sent["disposition"], sent["cost"])
