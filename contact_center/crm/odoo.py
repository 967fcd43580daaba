"""Odoo as the CRM: ``res.partner`` records found by phone over Odoo's JSON-RPC.

The protocol (Odoo's external API, ``/jsonrpc``): a JSON-RPC 2.0 ``call`` whose params name
a service, a method and its args. ``common.authenticate(db, login, password, {})`` gives
the user id; ``object.execute_kw(db, uid, password, model, method, args, kwargs)`` runs a
model method — here ``search_read`` with a domain and the fields we show. An error comes
back as ``{"error": {"message", "data": {"name", "message"}}}`` with HTTP 200.

Phones are matched on ``phone_sanitized`` by default: the E.164 form Odoo keeps when its
phone validation (the ``sms`` module's ``mail.thread.phone``) is installed. Other fields
(``phone``) hold the number as typed and are matched with ``ilike`` on the E.164 digits.
Odoo 19 deprecates ``/jsonrpc`` for its JSON-2 API; the endpoint still answers there.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import aiohttp

from contact_center.crm.contacts import CrmContact, CrmError, contact_from
from contact_center.crm.rest import MAX_CONTACTS, USER_AGENT

PARTNER_FIELDS = ["name", "email", "phone", "ref", "commercial_company_name", "function", "lang"]
MAPPING = {
    "external_id": "id",
    "name": "name",
    "email": "email",
    "account_number": "ref",
    "company": "commercial_company_name",
    "language": "lang",
    "custom.function": "function",
}


class OdooCrm:
    """:class:`~contact_center.crm.service.CrmAdapter` for Odoo."""

    name = "odoo"

    def __init__(
        self,
        url: str,
        database: str,
        login: str,
        password: str,
        *,
        phone_fields: Sequence[str] = ("phone_sanitized",),
        timeout: float = 2.0,
    ) -> None:
        self._endpoint = url.rstrip("/") + "/jsonrpc"
        self._web = url.rstrip("/")
        self._database = database
        self._login = login
        self._password = password
        self._phone_fields = tuple(phone_fields) or ("phone_sanitized",)
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._http: aiohttp.ClientSession | None = None
        self._uid: int | None = None
        self._ids = itertools.count(1)

    async def find_by_phone(self, e164: str) -> list[CrmContact]:
        domain: list[Any] = ["|"] * (len(self._phone_fields) - 1)
        for name in self._phone_fields:
            if name == "phone_sanitized":
                domain.append([name, "=", e164])
            else:
                domain.append([name, "ilike", e164.lstrip("+")])
        return await self._partners(domain)

    async def find_by_account(self, account: str) -> list[CrmContact]:
        """Partners whose internal reference (``ref``) is the account number."""
        return await self._partners([["ref", "=", account]])

    async def _partners(self, domain: list[Any]) -> list[CrmContact]:
        uid = self._uid if self._uid is not None else await self._authenticate()
        records = await self._call(
            "object",
            "execute_kw",
            [
                self._database,
                uid,
                self._password,
                "res.partner",
                "search_read",
                [domain],
                {"fields": PARTNER_FIELDS, "limit": MAX_CONTACTS},
            ],
        )
        if not isinstance(records, list):
            raise CrmError("res.partner search_read did not answer a list")
        link = f"{self._web}/web#id={{id}}&model=res.partner&view_type=form"
        return [contact_from(r, MAPPING, link) for r in records if isinstance(r, dict)]

    async def _authenticate(self) -> int:
        uid = await self._call(
            "common", "authenticate", [self._database, self._login, self._password, {}]
        )
        if not isinstance(uid, int) or isinstance(uid, bool):
            # Odoo answers False for a wrong login or password.
            raise CrmError(f"Odoo refused the login {self._login!r} on {self._database!r}")
        self._uid = uid
        return uid

    async def _call(self, service: str, method: str, args: list[Any]) -> Any:
        if self._http is None:
            self._http = aiohttp.ClientSession(
                headers={"User-Agent": USER_AGENT}, timeout=self._timeout
            )
        request = {
            "jsonrpc": "2.0",
            "method": "call",
            "params": {"service": service, "method": method, "args": args},
            "id": next(self._ids),
        }
        try:
            async with self._http.post(self._endpoint, json=request) as resp:
                if resp.status != 200:
                    raise CrmError(f"HTTP {resp.status}")
                answer = await resp.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, OSError, ValueError) as exc:
            raise CrmError(f"{type(exc).__name__}: {exc}".rstrip(": ")) from exc
        if not isinstance(answer, dict):
            raise CrmError("the answer is not a JSON-RPC response")
        error = answer.get("error")
        if error:
            data = error.get("data") if isinstance(error, dict) else None
            message = (data or {}).get("message") if isinstance(data, dict) else None
            if service == "object" and "AccessDenied" in str((data or {}).get("name", "")):
                self._uid = None  # the password changed: authenticate again next time
            raise CrmError(f"Odoo: {message or error}")
        return answer.get("result")

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None
