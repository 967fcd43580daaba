"""A CRM with a REST API: one GET per caller, its JSON answer mapped onto a contact.

Configured, not coded: the URL template (``{phone}`` the caller's E.164 number, ``{digits}``
the same without "+"; for the IVR, an account URL template with ``{account}``), one auth
header, where the list of contacts sits in the answer and which field of a contact feeds which
of ours. A 404 means "nobody"; any other non-2xx status, a timeout or a body that is not JSON
is a CRM failure.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from urllib.parse import quote

import aiohttp

from contact_center.crm.contacts import CrmContact, CrmError, contact_from, dig

USER_AGENT = "contact-center-crm/1"
MAX_CONTACTS = 20  # as the local lookup: more is a switchboard
MAX_BODY = 1024 * 1024


def parse_header(text: str) -> dict[str, str]:
    """``"Authorization: Bearer x"`` → {"Authorization": "Bearer x"}; "" → {}."""
    if not text.strip():
        return {}
    name, sep, value = text.partition(":")
    if not sep or not name.strip() or any(c in text for c in "\r\n"):
        raise ValueError("expected 'Name: value' on one line")
    return {name.strip(): value.strip()}


class RestCrm:
    """:class:`~contact_center.crm.service.CrmAdapter` for a REST CRM."""

    name = "rest"

    def __init__(
        self,
        url_template: str,
        mapping: Mapping[str, str],
        *,
        auth_header: str = "",
        results_path: str = "",
        link_template: str = "",
        account_url_template: str = "",
        timeout: float = 2.0,
    ) -> None:
        self._url = url_template
        self._account_url = account_url_template
        self._mapping = dict(mapping)
        self._headers = {"Accept": "application/json", "User-Agent": USER_AGENT}
        self._headers.update(parse_header(auth_header))
        self._results_path = results_path
        self._link = link_template
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._http: aiohttp.ClientSession | None = None

    async def find_by_phone(self, e164: str) -> list[CrmContact]:
        return await self._get(self._url.format_map(_Fill(phone=e164, digits=e164.lstrip("+"))))

    async def find_by_account(self, account: str) -> list[CrmContact]:
        if not self._account_url:
            return []  # not configured: the IVR knows only local accounts
        return await self._get(self._account_url.format_map(_Fill(account=account)))

    async def _get(self, url: str) -> list[CrmContact]:
        if self._http is None:
            self._http = aiohttp.ClientSession(headers=self._headers, timeout=self._timeout)
        try:
            async with self._http.get(url, allow_redirects=False) as resp:
                if resp.status == 404:
                    return []
                if not 200 <= resp.status < 300:
                    raise CrmError(f"HTTP {resp.status}")
                body = await resp.content.read(MAX_BODY + 1)
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise CrmError(f"{type(exc).__name__}: {exc}".rstrip(": ")) from exc
        if len(body) > MAX_BODY:
            raise CrmError(f"answer larger than {MAX_BODY} bytes")
        try:
            data = json.loads(body)
        except ValueError:
            raise CrmError("the answer is not JSON") from None
        records = dig(data, self._results_path) if self._results_path else data
        if isinstance(records, Mapping):
            records = [records]
        if not isinstance(records, list):
            raise CrmError(f"no list of contacts at {self._results_path or 'the top'}")
        return [
            contact_from(record, self._mapping, self._link)
            for record in records[:MAX_CONTACTS]
            if isinstance(record, Mapping)
        ]

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None


class _Fill(dict[str, str]):
    """Values for a URL template, URL-quoted; an unknown ``{name}`` stays as written."""

    def __init__(self, **values: str) -> None:
        super().__init__({k: quote(v, safe="") for k, v in values.items()})

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def check_url_template(template: str, *, account: bool = False) -> str | None:
    """Why ``template`` cannot be used, or None."""
    if not template.startswith(("http://", "https://")):
        return "must start with http:// or https://"
    if account and "{account}" not in template:
        return "must contain {account} (the account number the caller keyed in)"
    if not account and "{phone}" not in template and "{digits}" not in template:
        return "must contain {phone} or {digits} (the caller's number)"
    try:
        template.format_map(_Fill(phone="+1", digits="1", account="1"))
    except (ValueError, IndexError) as exc:
        return f"not a valid template: {exc}"
    return None
