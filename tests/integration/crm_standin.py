"""A CRM stand-in for the tests: a real aiohttp server on 127.0.0.1, a random port.

It speaks a small REST API (``GET /api/contacts?phone=``) and Odoo's JSON-RPC (``POST
/jsonrpc``: ``common.authenticate`` and ``object.execute_kw`` ``res.partner.search_read``
with a domain of ``=``/``ilike`` terms joined by ``|``), and can be made slow or failing.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer

TOKEN = "s3cret-token"
ODOO_DB, ODOO_LOGIN, ODOO_PASSWORD, ODOO_UID = "crm", "bot", "bot-key", 7


@dataclass
class CrmStandIn:
    """Contacts by E.164 number (REST) and partners (Odoo); what to do; what was asked."""

    contacts: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # by phone
    accounts: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # by account
    partners: list[dict[str, Any]] = field(default_factory=list)
    delay: float = 0.0  # seconds before answering
    status: int = 200  # anything else: answered with that status and no contacts
    requests: list[str] = field(default_factory=list)  # "GET phone" / "odoo method"
    auth_seen: list[str] = field(default_factory=list)
    url: str = ""
    released: asyncio.Event = field(default_factory=asyncio.Event)  # ends every delay
    hooks: list[tuple[dict[str, str], bytes]] = field(default_factory=list)  # webhooks received

    async def hook(self, request: web.Request) -> web.Response:
        self.hooks.append((dict(request.headers), await request.read()))
        return web.Response(status=204)

    async def _pause(self) -> None:
        if self.delay:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.released.wait(), self.delay)

    async def rest(self, request: web.Request) -> web.Response:
        phone = request.query.get("phone", "")
        account = request.query.get("account")
        self.requests.append(f"GET {phone}" if account is None else f"GET account {account}")
        self.auth_seen.append(request.headers.get("Authorization", ""))
        await self._pause()
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return web.json_response({"error": "unauthorised"}, status=401)
        if self.status != 200:
            return web.json_response({"error": "broken"}, status=self.status)
        found = self.contacts.get(phone) if account is None else self.accounts.get(account)
        if found is None:
            return web.json_response({"error": "no such contact"}, status=404)
        return web.json_response({"data": {"items": found}})

    async def jsonrpc(self, request: web.Request) -> web.Response:
        body = await request.json()
        params = body["params"]
        self.requests.append(f"odoo {params['service']}.{params['method']}")
        await self._pause()
        if self.status != 200:
            return web.Response(status=self.status, text="Bad Gateway")
        if params["service"] == "common" and params["method"] == "authenticate":
            db, login, password, _ = params["args"]
            ok = (db, login, password) == (ODOO_DB, ODOO_LOGIN, ODOO_PASSWORD)
            return _rpc(body, ODOO_UID if ok else False)
        if params["service"] == "object" and params["method"] == "execute_kw":
            db, uid, password, model, method, args, kwargs = params["args"]
            if (db, uid, password) != (ODOO_DB, ODOO_UID, ODOO_PASSWORD):
                return _rpc_error(body, "odoo.exceptions.AccessDenied", "Access Denied")
            if (model, method) != ("res.partner", "search_read"):
                return _rpc_error(body, "builtins.NotImplementedError", f"{model}.{method}")
            [domain] = args
            found = [p for p in self.partners if _matches(p, domain)][: kwargs.get("limit")]
            fields = ["id", *kwargs.get("fields", [])]
            return _rpc(body, [{f: p.get(f, False) for f in fields} for p in found])
        return _rpc_error(body, "builtins.KeyError", params["method"])


def _matches(partner: dict[str, Any], domain: list[Any]) -> bool:
    """Odoo's prefix notation, as far as the adapter uses it: '|' operators, then terms."""
    terms = [t for t in domain if t != "|"]
    for name, operator, value in terms:
        have = str(partner.get(name) or "")
        if operator == "=" and have == value:
            return True
        if operator == "ilike" and value.lower() in have.lower():
            return True
    return False


def _rpc(body: dict[str, Any], result: Any) -> web.Response:
    return web.json_response({"jsonrpc": "2.0", "id": body.get("id"), "result": result})


def _rpc_error(body: dict[str, Any], name: str, message: str) -> web.Response:
    error = {
        "code": 200,
        "message": "Odoo Server Error",
        "data": {"name": name, "message": message, "arguments": [message]},
    }
    return web.json_response({"jsonrpc": "2.0", "id": body.get("id"), "error": error})


@asynccontextmanager
async def crm_standin() -> AsyncIterator[CrmStandIn]:
    crm = CrmStandIn()
    app = web.Application()
    app.router.add_get("/api/contacts", crm.rest)
    app.router.add_post("/jsonrpc", crm.jsonrpc)
    app.router.add_post("/hooks", crm.hook)
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    crm.url = str(server.make_url("")).rstrip("/")
    try:
        yield crm
    finally:
        crm.released.set()  # a slow answer still pending does not hold up the shutdown
        await server.close()
