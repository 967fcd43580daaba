"""The OpenAPI document: valid, served, in step with the routes, and no 5xx under fuzzing.

The service is the real one (``Service(settings, "all")`` beside the simulator, SQLite);
schemathesis generates requests for every documented operation and sends them with an
admin's API token (``Authorization: Bearer``), over real HTTP.
"""

from __future__ import annotations

import asyncio
import copy
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import requests
import schemathesis
from aiohttp import web
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from hypothesis.strategies import SearchStrategy
from openapi_spec_validator import validate
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import select

from contact_center.store.models import User
from contact_center.web.auth import CSRF_HEADER, UNSAFE_METHODS
from contact_center.web.openapi import load_spec
from contact_center.web.tokens import SCOPES, create_token
from contact_center.webhooks.repository import STATUSES
from contact_center.webhooks.targets import WEBHOOK_KINDS
from tests.e2e.service_support import Rig, running_service, sign_in
from tests.integration.web_support import add_user

HTTP_METHODS = ("get", "put", "post", "delete", "patch")
OUTSIDE_API = ("/healthz", "/readyz", "/metrics")
# (mode, examples per operation, checks): valid inputs must also match the documented
# answers; invalid ones (wrong types, missing fields) only must not break the server.
RUNS = (
    (
        GenerationMode.POSITIVE,
        25,
        [
            not_a_server_error,
            status_code_conformance,
            content_type_conformance,
            response_schema_conformance,
        ],
    ),
    (GenerationMode.NEGATIVE, 15, [not_a_server_error]),
)


def operations(spec: dict[str, Any]) -> set[tuple[str, str]]:
    return {
        (method.upper(), path)
        for path, item in spec["paths"].items()
        for method in item
        if method in HTTP_METHODS
    }


def app_routes(app: web.Application) -> set[tuple[str, str]]:
    """(method, path template) of every route; aiohttp's ``{fmt:csv|json}`` reads ``{fmt}``."""
    found = set()
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource is not None else {}
        path = info.get("formatter") or info.get("path")
        if path and route.method != "HEAD":
            found.add((route.method, path))
    return found


# --- the document alone ------------------------------------------------------------------


def test_document_is_valid_openapi_31() -> None:
    spec = load_spec()
    validate(spec)  # raises with the offending pointer
    assert "3.1.0" == spec["openapi"]


def test_every_operation_states_its_auth_and_errors() -> None:
    spec = load_spec()
    for method, path in operations(spec):
        op = spec["paths"][path][method.lower()]
        security = op.get("security", spec["security"])
        codes = set(op["responses"])
        if security == [] or {} in security:
            continue  # public
        assert {"401", "403"} <= codes, f"{method} {path} lacks 401/403"
        if method in UNSAFE_METHODS:
            expected = [{"sessionCookie": [], "csrfHeader": []}, {"bearerToken": []}]
        else:
            expected = [{"sessionCookie": []}, {"bearerToken": []}]
        assert expected == security, f"{method} {path}"


def test_enums_follow_the_code() -> None:
    schemas = load_spec()["components"]["schemas"]
    assert list(WEBHOOK_KINDS) == schemas["WebhookKind"]["enum"]
    assert list(STATUSES) == schemas["Delivery"]["properties"]["status"]["enum"]


# --- against the running service ---------------------------------------------------------


@pytest.fixture
async def rig(tmp_path: Path, sqlite_url: str) -> AsyncIterator[Rig]:
    async with running_service(tmp_path, sqlite_url, operators=()) as rig:
        core = rig.service.core
        assert core is not None
        await add_user(core.sessions, "root", role="admin")
        yield rig


async def test_served_document_and_routes_never_drift(rig: Rig) -> None:
    async with (
        aiohttp.ClientSession() as http,
        http.get(rig.base + "/api/openapi.json") as resp,  # anonymous: it is public
    ):
        assert 200 == resp.status
        served = await resp.json()
    assert load_spec() == served

    documented = operations(served)
    registered = app_routes(rig.service.components["app"])
    api = {(m, p) for m, p in registered if p.startswith("/api/")}
    assert api == {(m, p) for m, p in documented if p.startswith("/api/")}
    assert {("GET", p) for p in OUTSIDE_API} == documented - api
    assert documented - api <= registered


@dataclass
class FuzzReport:
    failures: dict[str, str] = field(default_factory=dict)  # the first per operation
    statuses: Counter[tuple[GenerationMode, str, int]] = field(default_factory=Counter)


def fuzz(base: str, api_token: str) -> FuzzReport:
    """Run schemathesis over every documented operation with an admin's API token (all
    scopes, no cookie, no CSRF token)."""
    schema = schemathesis.openapi.from_dict(copy.deepcopy(load_spec()))
    http = requests.Session()
    auth = {"Authorization": f"Bearer {api_token}"}
    report = FuzzReport()
    for result in schema.get_all_operations():
        if not isinstance(result, Ok):
            raise result.err()  # the document itself is broken for schemathesis
        operation = result.ok()
        for mode, examples, checks in RUNS:
            label = f"{operation.label} ({mode.value})"
            try:
                fuzz_operation(operation.as_strategy(generation_mode=mode), examples, checks)(
                    base, http, auth, report, mode
                )
            except Unsatisfiable:
                continue  # nothing to make invalid (no parameters, no body)
            except (Exception, BaseExceptionGroup) as exc:  # a check failed: report, go on
                report.failures[label] = str(exc)[:3000]
    return report


def fuzz_operation(
    strategy: SearchStrategy[schemathesis.Case], examples: int, checks: list[Any]
) -> Callable[[str, requests.Session, dict[str, str], FuzzReport, GenerationMode], None]:
    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=True,  # the same inputs every run: a failure reproduces
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def run(
        base: str,
        http: requests.Session,
        auth: dict[str, str],
        report: FuzzReport,
        mode: GenerationMode,
        case: schemathesis.Case,
    ) -> None:
        response = case.call(base_url=base, session=http, headers=auth, timeout=10)
        report.statuses[(mode, case.operation.label, response.status_code)] += 1
        case.validate_response(response, checks=checks, headers=auth)

    return run


@pytest.mark.timeout(900)  # ~60 operations × 40 requests on a shared machine
async def test_no_server_error_for_generated_requests(rig: Rig) -> None:
    core = rig.service.core
    assert core is not None
    async with core.sessions.begin() as db:
        root = (await db.execute(select(User.id).where(User.login == "root"))).scalar_one()
        made = await create_token(
            db, user_id=root, name="fuzz", scopes=list(SCOPES), days=1, created_by="test"
        )
    # requests is blocking: fuzz from a thread while this loop serves the app
    report = await asyncio.to_thread(fuzz, rig.base, made.token)
    found = "\n\n".join(f"== {label}\n{text}" for label, text in report.failures.items())
    assert {} == report.failures, found
    # With an admin's token of every scope, valid requests are never turned away: this
    # proves the fuzzing reached the handlers (invalid ones may mangle the auth headers).
    positive = {k[1:]: n for k, n in report.statuses.items() if k[0] == GenerationMode.POSITIVE}
    refused = {key: n for key, n in positive.items() if key[1] in (401, 403)}
    assert {} == refused
    assert operations(load_spec()) == {tuple(label.split(" ", 1)) for label, _ in positive}


# The server errors the fuzzing found, each now a plain 4xx (checked by hand, so they stay
# fixed whatever inputs the generator happens to draw).
FOUND = (
    # wrap-up naming a customer that does not exist: the history row's foreign key failed
    ("POST", "/api/calls/pbx1/c1/wrapup", {"disposition": "sale", "customer_id": "999999"}, 400),
    # "¹".isdigit() is true but int() refuses it
    ("POST", "/api/calls/pbx1/c1/identify", {"customer_id": "¹"}, 400),
    # ids beyond BIGINT overflowed the query
    ("DELETE", f"/api/webhooks/{10**30}", None, 404),
    ("POST", f"/api/webhooks/deliveries/{10**30}/retry", None, 404),
    ("GET", f"/api/customers/{10**30}/timeline", None, 400),
    ("GET", f"/api/customers/1/timeline?cursor=0~{10**30}", None, 400),
    ("GET", f"/api/history/export.csv?customer={10**30}", None, 400),
    # a default period before year 1 overflowed
    ("GET", "/api/exports/charges.json?until=0001-01-01T00:03:00Z", None, 400),
)


async def test_inputs_that_broke_the_server_are_refused(rig: Rig) -> None:
    admin = await sign_in(rig.base, "root")
    try:
        answers = []
        for method, path, form, _ in FOUND:
            async with admin.http.request(
                method, rig.base + path, data=form, headers={CSRF_HEADER: admin.csrf}
            ) as resp:
                answers.append((method, path, form, resp.status))
    finally:
        await admin.http.close()
    assert list(FOUND) == answers
