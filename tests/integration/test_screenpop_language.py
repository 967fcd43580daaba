"""A user's new language reaches her screen pops at once, across processes.

The web and the worker (which renders the pops) are two services on real Redis and
PostgreSQL, as in production. The worker's operator directory is loaded before the change
and reloads only every 30 s; the very next pop after the change must still be in the new
language: the change travels on the bus ``events`` stream, ahead of the call's events.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

from contact_center.bus import POPS
from contact_center.calls import events as ev
from contact_center.i18n import gettext as _
from contact_center.i18n import use_locale
from contact_center.service import Service, open_core
from tests.conftest import wait_for
from tests.e2e.service_support import rig_settings
from tests.integration.web_support import add_user, sign_in_at

ANNA = "Local/101@agents"
CALLS = itertools.count(1)


def queue_label(lang: str) -> str:
    """How a pop card labels the queue in ``lang`` (``<dt>…</dt><dd class="queue">``)."""
    with use_locale(lang):
        return f'<dt>{_("Queue")}</dt><dd class="queue">'


async def next_pop(web: Service, worker: Service) -> dict[str, Any]:
    """Offer a new call to Anna through the bus; the pop the worker renders for it."""
    assert web.core is not None and worker.core is not None
    call_id = f"lang-{next(CALLS)}"
    at = 1_790_000_000.0
    base = {"server": "pbx1", "call_id": call_id}
    for event in (
        ev.CallArrived(
            **base, at=at, caller_number="", caller_number_raw="5550100", caller_name=""
        ),
        ev.CallQueued(**base, at=at + 1, queue="support", position=1),
        ev.CallOffered(**base, at=at + 2, queue="support", interface=ANNA, member_name="Anna"),
    ):
        await web.core.publish(event)
    found: list[dict[str, Any]] = []

    async def popped() -> bool:
        entries = await worker.core.bus.read(POPS, "0", count=10_000)  # type: ignore[union-attr]
        found[:] = [m for _, m in entries if m.get("type") == "pop" and m.get("call_id") == call_id]
        return bool(found)

    await wait_for(popped, 20)
    [pop] = found
    assert "anna" == pop["to"]
    return pop


async def test_a_new_language_reaches_the_very_next_pop(
    tmp_path: Path, postgres_url: str, redis_url: str, redis_prefix: str
) -> None:
    settings = rig_settings(
        tmp_path, postgres_url, bus="redis", redis_url=redis_url, prefix=redis_prefix
    )
    core = await open_core(settings, migrate=True)
    try:
        anna_id = await add_user(core.sessions, "anna", "operator", ANNA, language="en")
        await add_user(core.sessions, "root", "admin")
    finally:
        await core.engine.dispose()
        await core.lookup.aclose()
        await core.bus.close()
    async with Service(settings, "web") as web, Service(settings, "worker") as worker:
        base = f"http://127.0.0.1:{web.web_port}"
        pop = await next_pop(web, worker)
        assert queue_label("en") in pop["html"]

        # her own setting (the language picker of every page)
        anna = await sign_in_at(base, "anna")
        try:
            async with await anna.post("/language", {"language": "ru", "next": "/"}) as resp:
                assert 303 == resp.status
        finally:
            await anna.close()
        pop = await next_pop(web, worker)
        assert queue_label("ru") in pop["html"], pop["html"]

        # the admin's edit of her: on the page (the form's language field) …
        root = await sign_in_at(base, "root")
        try:
            resp = await root.post(f"/admin/users/{anna_id}", {"language": "en"})
            assert 303 == resp.status, await resp.text()
            pop = await next_pop(web, worker)
            assert queue_label("en") in pop["html"], pop["html"]
            # … and through the REST API
            async with root.http.patch(
                root.url(f"/api/admin/users/{anna_id}"),
                json={"language": "ru"},
                headers={"X-CSRF-Token": root.csrf},
            ) as resp:
                assert 200 == resp.status, await resp.text()
                assert "ru" == (await resp.json())["language"]
            pop = await next_pop(web, worker)
            assert queue_label("ru") in pop["html"], pop["html"]
        finally:
            await root.close()
