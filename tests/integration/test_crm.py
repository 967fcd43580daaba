"""The CRM connector against a real HTTP CRM stand-in: REST and Odoo adapters, the budget,
the cache, the circuit breaker; and the pop over a real websocket when the CRM is fast,
slow or down."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from contact_center.bus import POPS, MemoryBus
from contact_center.calls import events as ev
from contact_center.config import load_settings
from contact_center.crm.breaker import CircuitBreaker
from contact_center.crm.contacts import CrmContact, parse_field_mapping
from contact_center.crm.odoo import OdooCrm
from contact_center.crm.rest import RestCrm
from contact_center.crm.service import CrmLookup, build_crm
from contact_center.customers.lookup import CustomerLookup
from contact_center.ivr.data import CrmIvrData
from contact_center.screenpop import ScreenPop
from contact_center.store.models import Customer
from tests.conftest import wait_for
from tests.integration.crm_standin import (
    ODOO_DB,
    ODOO_LOGIN,
    ODOO_PASSWORD,
    TOKEN,
    CrmStandIn,
    crm_standin,
)
from tests.integration.web_support import (
    add_customer,
    add_user,
    database,
    next_frame,
    sign_in,
    web_server,
)

ANNA = "+74951112233"
MAPPING = "external_id=id,name=full_name,company=org.name,account_number=account,link=url"
ALICE = "Local/101@agents"


@pytest.fixture
async def crm() -> AsyncIterator[CrmStandIn]:
    async with crm_standin() as standin:
        standin.contacts[ANNA] = [
            {
                "id": "crm-17",
                "full_name": "Anna Petrova",
                "org": {"name": "Romashka LLC"},
                "account": "A-17",
                "url": "https://crm.example.com/contacts/17",
            }
        ]
        yield standin


def rest(crm: CrmStandIn, *, token: str = TOKEN, timeout: float = 2.0) -> RestCrm:
    return RestCrm(
        crm.url + "/api/contacts?phone={phone}",
        parse_field_mapping(MAPPING),
        auth_header=f"Authorization: Bearer {token}",
        results_path="data.items",
        timeout=timeout,
    )


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# --- adapters -------------------------------------------------------------------------------


async def test_rest_adapter_maps_the_answer_and_sends_the_auth_header(crm: CrmStandIn) -> None:
    adapter = rest(crm)
    try:
        found = await adapter.find_by_phone(ANNA)
        nobody = await adapter.find_by_phone("+74950000000")
    finally:
        await adapter.aclose()

    assert [
        CrmContact(
            external_id="crm-17",
            name="Anna Petrova",
            company="Romashka LLC",
            account_number="A-17",
            link="https://crm.example.com/contacts/17",
        )
    ] == found
    assert [] == nobody
    assert [f"GET {ANNA}", "GET +74950000000"] == crm.requests
    assert {f"Bearer {TOKEN}"} == set(crm.auth_seen)


async def test_a_refused_or_broken_crm_is_unavailable_with_the_reason(crm: CrmStandIn) -> None:
    refused = CrmLookup(rest(crm, token="wrong"), budget=2.0)
    broken = CrmLookup(rest(crm), budget=2.0)
    try:
        first = await refused.find(ANNA)
        crm.status = 500
        second = await broken.find(ANNA)
    finally:
        await refused.aclose()
        await broken.aclose()

    assert [("unavailable", "HTTP 401"), ("unavailable", "HTTP 500")] == [
        (r.status, r.reason) for r in (first, second)
    ]


async def test_odoo_adapter_finds_partners_by_phone_over_json_rpc(crm: CrmStandIn) -> None:
    crm.partners = [
        {"id": 5, "name": "Anna Petrova", "phone_sanitized": ANNA, "ref": "A-17",
         "commercial_company_name": "Romashka LLC", "email": False, "lang": "ru_RU"},
        {"id": 6, "name": "Boris", "phone_sanitized": "+79161234567", "ref": False},
    ]  # fmt: skip
    adapter = OdooCrm(crm.url, ODOO_DB, ODOO_LOGIN, ODOO_PASSWORD)
    wrong = OdooCrm(crm.url, ODOO_DB, ODOO_LOGIN, "old-password")
    try:
        found = await adapter.find_by_phone(ANNA)
        again = await adapter.find_by_phone("+79161234567")
        refused = await CrmLookup(wrong, budget=2.0).find(ANNA)  # closed with ``wrong``
    finally:
        await adapter.aclose()
        await wrong.aclose()

    assert [("5", "Anna Petrova", "Romashka LLC", "A-17", "", "ru_RU")] == [
        (c.external_id, c.name, c.company, c.account_number, c.email, c.language) for c in found
    ]
    assert f"{crm.url}/web#id=5&model=res.partner&view_type=form" == found[0].link
    assert ["Boris"] == [c.name for c in again]
    # authenticated once, then one search per lookup; the wrong password stops at login
    assert [
        "odoo common.authenticate",
        "odoo object.execute_kw",
        "odoo object.execute_kw",
        "odoo common.authenticate",
    ] == crm.requests
    assert ("unavailable", "Odoo refused the login 'bot' on 'crm'") == (
        refused.status,
        refused.reason,
    )


# --- the lookup: budget, cache, breaker -----------------------------------------------------


async def test_a_slow_crm_is_unavailable_within_the_budget_and_its_late_answer_cached(
    crm: CrmStandIn,
) -> None:
    crm.delay = 0.5
    lookup = CrmLookup(rest(crm, timeout=5.0), budget=0.05)
    try:
        first = await lookup.find(ANNA)
        await wait_for(lambda: not lookup._running)  # the request went on and finished
        second = await lookup.find(ANNA)
    finally:
        await lookup.aclose()

    assert ("unavailable", "no answer within 0.05 s") == (first.status, first.reason)
    assert ("ok", ["Anna Petrova"]) == (second.status, [c.name for c in second.contacts])
    assert [f"GET {ANNA}"] == crm.requests  # the second answer came from the cache


async def test_the_breaker_stops_asking_a_failing_crm_and_tries_again_later(
    crm: CrmStandIn,
) -> None:
    clock = Clock()
    crm.status = 503
    lookup = CrmLookup(
        rest(crm),
        budget=2.0,
        breaker=CircuitBreaker(failures_to_open=2, open_seconds=30, clock=clock),
        clock=clock,
    )
    try:
        failing = [await lookup.find(ANNA) for _ in range(4)]
        asked_while_failing = len(crm.requests)
        crm.status = 200
        clock.now += 31  # the open time is over: one trial, which succeeds
        back = await lookup.find(ANNA)
    finally:
        await lookup.aclose()

    assert [
        "HTTP 503",
        "HTTP 503",
        "circuit open after repeated failures",
        "circuit open after repeated failures",
    ] == [r.reason for r in failing]
    assert (2, "ok", "closed") == (asked_while_failing, back.status, lookup.breaker.state)


def test_crm_settings_mistakes_name_the_file_the_key_and_the_reason(tmp_path: Path) -> None:
    path = tmp_path / "cc.toml"
    cases = {
        'adapter = "soap"': "crm.adapter: unknown CRM adapter 'soap'",
        'adapter = "rest"\nurl = "https://crm/api?q=1"\nfields = "name=n"': (
            "crm.url: must contain {phone} or {digits}"
        ),
        'adapter = "rest"\nurl = "https://crm/{phone}"\nfields = "nom=n"': (
            "crm.fields: 'nom=n': unknown field 'nom'"
        ),
        'adapter = "rest"\nurl = "https://crm/{phone}"\nfields = "name=n"\nbudget = 5.0': (
            "crm.budget: longer than crm.timeout (2 s)"
        ),
        'adapter = "odoo"\nurl = "https://odoo"\nodoo_database = "x"': (
            "crm.odoo_login: needed by the odoo adapter"
        ),
        "timeout = 0": "crm.timeout: must be more than 0",
    }
    errors = {}
    for text, _ in cases.items():
        path.write_text(f"[crm]\n{text}\n")
        try:
            load_settings(path, environ={})
        except ValueError as exc:
            errors[text] = str(exc)
    env_error = ""
    try:
        load_settings(environ={"CC_CRM_ADAPTER": "sap"})
    except ValueError as exc:
        env_error = str(exc)

    assert sorted(cases) == sorted(errors)  # every mistake refused
    for text, why in cases.items():
        assert errors[text].startswith(f"{path}: {why}"), errors[text]
    assert env_error.startswith("environment CC_CRM_ADAPTER: crm.adapter: unknown CRM adapter")


# --- the pop over a real websocket -----------------------------------------------------------


@pytest.fixture
async def db(sqlite_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    async with database(sqlite_url) as (_, sessions):
        await add_user(sessions, "alice", "operator", ALICE)
        yield sessions


def call_events(call_id: str, number: str) -> list[ev.DomainEvent]:
    """A call that rings the operator at once: the pop waits for the lookups."""
    at = time.time()
    base: dict[str, Any] = {"server": "pbx1", "call_id": call_id, "at": at}
    return [
        ev.CallArrived(**base, caller_number="", caller_number_raw=number,
                       caller_name="", did="4951110001"),
        ev.CallOffered(**base, queue="support", interface=ALICE, member_name="alice"),
    ]  # fmt: skip


async def pop_over_websocket(
    db: async_sessionmaker[AsyncSession], crm_lookup: CrmLookup, number: str
) -> tuple[dict[str, Any], float]:
    """(the pop alice's browser receives, seconds from the call's arrival to it)"""
    bus = MemoryBus()
    pops = ScreenPop(bus, CustomerLookup(db, region="RU"), db, crm=crm_lookup)
    async with web_server(db, bus) as server:
        alice = await sign_in(server, "alice")
        try:
            sock = await alice.ws()
            await pops.start()
            started = time.monotonic()
            for event in call_events("c1", number):
                await pops.feed(event)
            msg = await next_frame(sock, 10)
            elapsed = time.monotonic() - started
            assert aiohttp.WSMsgType.TEXT == msg.type, msg
            return json.loads(msg.data), elapsed
        finally:
            await pops.close()
            await crm_lookup.aclose()
            await alice.close()


async def test_pop_shows_the_crm_contact_beside_the_local_card(
    db: async_sessionmaker[AsyncSession], crm: CrmStandIn
) -> None:
    anna = await add_customer(db, "Anna P. (local)", [ANNA], account_number="A-17")

    pop, _ = await pop_over_websocket(db, CrmLookup(rest(crm), budget=2.0), "8 495 111-22-33")

    assert ("known", anna, "ok") == (pop["match"], pop["customer_id"], pop["crm"]["status"])
    assert ["Anna Petrova"] == [c["name"] for c in pop["crm"]["contacts"]]
    assert "Anna P. (local)" in pop["html"] and "In the CRM" in pop["html"]
    assert 'href="https://crm.example.com/contacts/17"' in pop["html"]
    assert "CRM unavailable" not in pop["html"]


@pytest.mark.parametrize("trouble", ["slow", "down"])
async def test_pop_arrives_within_the_budget_marked_crm_unavailable_with_the_local_card(
    db: async_sessionmaker[AsyncSession], crm: CrmStandIn, trouble: str
) -> None:
    anna = await add_customer(db, "Anna P. (local)", [ANNA])
    budget = 0.3
    if trouble == "slow":
        crm.delay = 30.0  # far beyond the budget and the margin below
        adapter = rest(crm, timeout=60.0)
    else:
        crm.status = 502
        adapter = rest(crm)
    settings = load_settings(
        environ={}, overrides={"crm": {"budget": budget}}
    )  # the configured budget, as the service reads it

    pop, elapsed = await pop_over_websocket(
        db, CrmLookup(adapter, budget=settings.crm.budget), ANNA
    )

    assert ("known", anna, "unavailable") == (
        pop["match"],
        pop["customer_id"],
        pop["crm"]["status"],
    )
    assert "CRM unavailable" in pop["html"] and "Anna P. (local)" in pop["html"]
    # within the budget, with a generous margin for a busy machine; the slow CRM would
    # have taken 30 s
    assert elapsed < budget + 5.0, elapsed


async def test_the_service_builds_the_configured_crm(crm: CrmStandIn) -> None:
    settings = load_settings(
        environ={
            "CC_CRM_ADAPTER": "rest",
            "CC_CRM_URL": crm.url + "/api/contacts?phone={phone}",
            "CC_CRM_AUTH_HEADER": f"Authorization: Bearer {TOKEN}",
            "CC_CRM_FIELDS": MAPPING,
            "CC_CRM_RESULTS_PATH": "data.items",
        }
    )
    lookup = build_crm(settings)
    assert lookup is not None
    try:
        result = await lookup.find(ANNA)
    finally:
        await lookup.aclose()

    assert ("ok", ["Anna Petrova"]) == (result.status, [c.name for c in result.contacts])
    assert "***" == settings.redacted()["crm"]["auth_header"]
    odoo = load_settings(environ={"CC_CRM_ODOO_PASSWORD": "hunter2"}).redacted()["crm"]
    assert "***" == odoo["odoo_password"]
    assert None is build_crm(load_settings(environ={}))


async def test_a_late_crm_answer_that_comes_before_the_ring_is_on_the_card(
    db: async_sessionmaker[AsyncSession], crm: CrmStandIn
) -> None:
    """The caller waits in the IVR or the queue: the CRM answered after its budget but long
    before the phone rang, so the card shows the CRM's contact, not "CRM unavailable"."""
    await add_customer(db, "Anna P. (local)", [ANNA])
    crm.delay = 0.3
    crm_lookup = CrmLookup(rest(crm, timeout=5.0), budget=0.05)
    bus = MemoryBus()
    pops = ScreenPop(bus, CustomerLookup(db, region="RU"), db, crm=crm_lookup)
    arrived, offered = call_events("c1", ANNA)
    try:
        await pops.start()
        await pops.feed(arrived)

        def crm_on_the_card() -> bool:
            found = pops._found.get(("pbx1", "c1"))
            return found is not None and found.done() and found.result().crm.status == "ok"

        await wait_for(crm_on_the_card)  # the IVR and the queue take their time
        await pops.handle(offered)
        [(_, pop)] = await bus.read(POPS, "0", count=10)
    finally:
        await pops.close()
        await crm_lookup.aclose()

    assert ("known", "ok", ["Anna Petrova"]) == (
        pop["match"],
        pop["crm"]["status"],
        [c["name"] for c in pop["crm"]["contacts"]],
    )
    assert "CRM unavailable" not in pop["html"] and "Anna Petrova" in pop["html"]


# --- the IVR ---------------------------------------------------------------------------------


async def test_the_ivr_identifies_an_account_only_the_crm_knows_and_keeps_it(
    db: async_sessionmaker[AsyncSession], crm: CrmStandIn
) -> None:
    crm.accounts["40817"] = [{"id": "crm-17", "full_name": "Anna Petrova", "account": "40817"}]
    crm.accounts["55555"] = [{"id": "a", "full_name": "A"}, {"id": "b", "full_name": "B"}]
    adapter = RestCrm(
        crm.url + "/api/contacts?phone={phone}",
        parse_field_mapping(MAPPING),
        auth_header=f"Authorization: Bearer {TOKEN}",
        results_path="data.items",
        account_url_template=crm.url + "/api/contacts?account={account}",
    )
    lookup = CrmLookup(adapter, budget=0.05, cache_size=0)
    ivr = CrmIvrData(db, lookup, wait=2.0)
    try:
        first = await ivr.customer_by_account("40817")
        again = await ivr.customer_by_account("40817")
        several = await ivr.customer_by_account("55555")
        nobody = await ivr.customer_by_account("12345")
        crm.status = 503
        down = await ivr.customer_by_account("77777")
    finally:
        await lookup.aclose()
    async with db() as session:
        kept = await session.scalar(select(Customer).where(Customer.external_id == "crm-17"))

    assert first is not None and again is not None
    assert ("Anna Petrova", first.id) == (first.name, again.id)
    assert kept is not None and ("40817", first.id) == (kept.account_number, kept.id)
    assert (None, None, None) == (several, nobody, down)
    # the second call found the kept customer locally: the CRM was asked once for 40817
    assert [
        "GET account 40817",
        "GET account 55555",
        "GET account 12345",
        "GET account 77777",
    ] == crm.requests


async def test_odoo_finds_a_partner_by_its_reference_for_the_ivr(crm: CrmStandIn) -> None:
    crm.partners = [{"id": 5, "name": "Anna Petrova", "ref": "40817"}, {"id": 6, "name": "B"}]
    adapter = OdooCrm(crm.url, ODOO_DB, ODOO_LOGIN, ODOO_PASSWORD)
    try:
        found = await adapter.find_by_account("40817")
    finally:
        await adapter.aclose()

    assert [("5", "Anna Petrova", "40817")] == [
        (c.external_id, c.name, c.account_number) for c in found
    ]
