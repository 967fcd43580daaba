"""The CRM lookup the screen pop and the IVR use: cached, bounded, never in their way.

``find(e164)`` answers within ``budget`` seconds whatever the CRM does. A request still
running then goes on in the background (up to ``timeout``) and fills the cache for the
next call from that number, while this one is answered "unavailable" and the pop shows
the local card with a "CRM unavailable" mark. Failures (errors, timeouts) count towards
the circuit breaker; an open breaker answers "unavailable" at once. Answers, including
"nobody", are cached for ``cache_ttl`` seconds; failures are not.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Protocol

from contact_center.crm.breaker import CircuitBreaker
from contact_center.crm.contacts import (
    CRM_OFF,
    CrmContact,
    CrmError,
    CrmResult,
    parse_field_mapping,
)

log = logging.getLogger(__name__)


class CrmAdapter(Protocol):
    """One kind of CRM: who has this number there."""

    name: str

    async def find_by_phone(self, e164: str) -> list[CrmContact]: ...

    async def find_by_account(self, account: str) -> list[CrmContact]:
        """Who has this account number (the IVR's caller who keyed it in); [] when the
        adapter is not configured for it."""
        ...

    async def aclose(self) -> None: ...


class CrmLookup:
    def __init__(
        self,
        adapter: CrmAdapter,
        *,
        budget: float = 0.3,
        breaker: CircuitBreaker | None = None,
        cache_size: int = 10_000,
        cache_ttl: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.adapter = adapter
        self.budget = budget
        self.breaker = breaker or CircuitBreaker(clock=clock)
        self._cache_size = max(0, cache_size)
        self._cache_ttl = cache_ttl
        self._clock = clock
        self._cache: OrderedDict[str, tuple[float, tuple[CrmContact, ...]]] = OrderedDict()
        # One request per number at a time: a burst of calls from one number shares it.
        self._running: dict[str, asyncio.Task[tuple[CrmContact, ...]]] = {}
        self._closed = False

    async def find(self, e164: str, *, wait: float | None = None) -> CrmResult:
        """The CRM's contacts for ``e164`` within the budget (or ``wait`` seconds), or why
        there are none."""
        return await self._find(e164, e164, wait)

    async def find_account(self, account: str, *, wait: float | None = None) -> CrmResult:
        """The CRM's contacts with this account number, as :meth:`find`."""
        return await self._find("account:" + account, account, wait) if account else CRM_OFF

    async def _find(self, key: str, value: str, wait: float | None) -> CrmResult:
        if not value:
            return CrmResult("ok")
        cached = self._cache.get(key)
        if cached is not None and cached[0] > self._clock():
            self._cache.move_to_end(key)
            return CrmResult("ok", cached[1])
        task = self._running.get(key)
        if task is None:
            if self._closed:
                return CrmResult("unavailable", reason="shutting down")
            if not self.breaker.allow():
                return CrmResult("unavailable", reason="circuit open after repeated failures")
            task = asyncio.create_task(self._ask(key, value), name=f"crm-lookup-{key}")
            task.add_done_callback(_retrieved)  # logged in _ask, even when nobody waits
            self._running[key] = task
        wait = self.budget if wait is None else wait
        done, _ = await asyncio.wait({task}, timeout=wait)
        if not done:
            return CrmResult("unavailable", reason=f"no answer within {wait:g} s", late=task)
        try:
            return CrmResult("ok", task.result())
        except asyncio.CancelledError:
            return CrmResult("unavailable", reason="cancelled")
        except CrmError as exc:
            return CrmResult("unavailable", reason=str(exc))

    async def _ask(self, key: str, value: str) -> tuple[CrmContact, ...]:
        by_account = key.startswith("account:")
        try:
            if by_account:
                contacts = tuple(await self.adapter.find_by_account(value))
            else:
                contacts = tuple(await self.adapter.find_by_phone(value))
        except CrmError as exc:
            self.breaker.failed()
            log.warning("CRM (%s) lookup of %s failed: %s", self.adapter.name, key, exc)
            raise
        except Exception as exc:
            self.breaker.failed()
            log.exception("CRM (%s) lookup of %s failed", self.adapter.name, key)
            raise CrmError(f"{type(exc).__name__}: {exc}") from exc
        finally:
            self._running.pop(key, None)
        self.breaker.succeeded()
        self._remember(key, contacts)
        return contacts

    def _remember(self, e164: str, contacts: tuple[CrmContact, ...]) -> None:
        if not self._cache_size:
            return
        self._cache[e164] = (self._clock() + self._cache_ttl, contacts)
        self._cache.move_to_end(e164)
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)

    def invalidate(self) -> None:
        self._cache.clear()

    async def aclose(self) -> None:
        """Cancel the requests still running and close the adapter's connections."""
        self._closed = True
        running = list(self._running.values())
        for task in running:
            task.cancel()
        with contextlib.suppress(Exception):
            await asyncio.gather(*running, return_exceptions=True)
        await self.adapter.aclose()


def _retrieved(task: asyncio.Task[tuple[CrmContact, ...]]) -> None:
    if not task.cancelled():
        task.exception()


async def find_or_off(crm: CrmLookup | None, e164: str | None) -> CrmResult:
    """:meth:`CrmLookup.find`, or "off" without a CRM or a number to look up."""
    if crm is None:
        return CRM_OFF
    if not e164:
        return CrmResult("ok")
    return await crm.find(e164)


def build_crm(settings: object) -> CrmLookup | None:
    """The lookup for ``settings.crm`` (a :class:`~contact_center.config.CrmSettings`), or
    None when no CRM is configured. The settings were validated when loaded."""
    from contact_center.config import CrmSettings
    from contact_center.crm.odoo import OdooCrm
    from contact_center.crm.rest import RestCrm

    crm = getattr(settings, "crm", None)
    if not isinstance(crm, CrmSettings) or not crm.adapter:
        return None
    adapter: CrmAdapter
    if crm.adapter == "rest":
        adapter = RestCrm(
            crm.url,
            parse_field_mapping(crm.fields),
            auth_header=crm.auth_header,
            results_path=crm.results_path,
            link_template=crm.link_template,
            account_url_template=crm.account_url,
            timeout=crm.timeout,
        )
    else:
        adapter = OdooCrm(
            crm.url,
            crm.odoo_database,
            crm.odoo_login,
            crm.odoo_password,
            phone_fields=[f.strip() for f in crm.odoo_phone_fields.split(",") if f.strip()],
            timeout=crm.timeout,
        )
    return CrmLookup(
        adapter,
        budget=crm.budget,
        breaker=CircuitBreaker(crm.failures_to_open, crm.open_seconds),
        cache_size=crm.cache_size,
        cache_ttl=crm.cache_ttl,
    )
