"""Admin pages and REST API for webhook subscriptions and the dead-letter list.

* ``GET /admin/webhooks`` — subscriptions, a form to add one, the dead-letter list.
* ``GET|POST /api/webhooks`` — list / add (JSON ``{"url", "kinds", "description"}``; the
  answer carries the signing secret, the only time it is shown).
* ``DELETE /api/webhooks/{id}``; ``GET /api/webhooks/deliveries?status=dead``;
  ``POST /api/webhooks/deliveries/{id}/retry``.

Admins only. When the app holds a dispatcher (``DISPATCHER_KEY``) a retry wakes it at once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp_jinja2
from aiohttp import web
from markupsafe import Markup

from contact_center.i18n import gettext as _
from contact_center.store.db import utcnow
from contact_center.web.auth import Role, require_role
from contact_center.web.forms import documented, read_json, read_query
from contact_center.web.keys import SESSIONS_KEY, SETTINGS_KEY, add_template_dir, redirect
from contact_center.web.tokens import actor
from contact_center.webhooks.dispatcher import WebhookDispatcher
from contact_center.webhooks.errors import NotFound, WebhookError
from contact_center.webhooks.repository import DEAD, CreatedWebhook, WebhookStore
from contact_center.webhooks.schemas import (
    SHAPE,
    DeliveriesQuery,
    DeliveryList,
    RetryQueued,
    WebhookIn,
    WebhookList,
    WebhookMade,
)
from contact_center.webhooks.targets import WEBHOOK_KINDS, TargetPolicy, parse_networks

HERE = Path(__file__).parent
MAX_BODY = 64 * 1024
DISPATCHER_KEY = web.AppKey("cc_webhook_dispatcher", WebhookDispatcher)


def _store(request: web.Request) -> WebhookStore:
    return WebhookStore(request.app[SESSIONS_KEY])


async def _add(
    request: web.Request, url: str, kinds: list[str], description: str
) -> CreatedWebhook:
    """Add a subscription whose URL resolves only to allowed addresses (WebhookError if not)."""
    allow = parse_networks(request.app[SETTINGS_KEY].webhooks.allow_networks)
    checked = await TargetPolicy(allow).check_url(url)
    created = await _store(request).add(checked, kinds, description=description, now=utcnow())
    after = {"url": checked, "kinds": list(kinds), "description": description}
    await _audit(request, "webhook.add", f"webhook {created.webhook.id}", None, after)
    return created


async def _delete(request: web.Request) -> None:
    webhook_id = _id(request, "webhook_id")
    before = next(
        (w.to_dict() for w in await _store(request).webhooks() if w.id == webhook_id), None
    )
    try:
        await _store(request).delete(webhook_id)
    except NotFound as exc:
        raise web.HTTPNotFound(text=str(exc)) from None
    shown = {k: before[k] for k in ("url", "kinds") if k in before} if before else None
    await _audit(request, "webhook.delete", f"webhook {webhook_id}", shown, None)


async def _audit(request: web.Request, action: str, target: str, before: Any, after: Any) -> None:
    """The change in the admin's audit log (contact_center/admin), who and what."""
    from contact_center.admin.services import audit

    async with request.app[SESSIONS_KEY].begin() as db:
        audit(db, actor(request), action, target, before, after)


MAX_ID = 2**63 - 1  # the database's BIGINT: a larger id would fail the query (500)


def _id(request: web.Request, name: str) -> int:
    try:
        value = int(request.match_info[name])
    except ValueError:
        raise web.HTTPNotFound(text=_("no such %(name)s", name=name)) from None
    if not 0 < value <= MAX_ID:
        raise web.HTTPNotFound(text=_("no such %(name)s", name=name))
    return value


def _wake(request: web.Request) -> None:
    dispatcher = request.app.get(DISPATCHER_KEY)
    if dispatcher is not None:
        dispatcher.wake()


def _subscriptions_changed(request: web.Request) -> None:
    # Other processes' dispatchers see the change within their cache TTL.
    dispatcher = request.app.get(DISPATCHER_KEY)
    if dispatcher is not None:
        dispatcher.invalidate()


async def _page(
    request: web.Request,
    *,
    created: CreatedWebhook | None = None,
    error: str = "",
    status: int = 200,
) -> web.Response:
    store = _store(request)
    context: dict[str, Any] = {
        "title": _("Webhooks"),
        "signature_code": Markup(
            '<code>X-CC-Signature: sha256=HMAC(secret, X-CC-Timestamp + "." + body)</code>'
        ),
        "delivery_code": Markup("<code>X-CC-Delivery</code>"),
        "webhooks": await store.webhooks(),
        "dead": await store.deliveries(status=DEAD),
        "kinds": WEBHOOK_KINDS,
        "created": created,
        "error": error,
    }
    return aiohttp_jinja2.render_template("webhooks.html", request, context, status=status)


# --- pages ------------------------------------------------------------------------------------


@require_role(Role.ADMIN)
async def webhooks_page(request: web.Request) -> web.Response:
    return await _page(request)


@require_role(Role.ADMIN)
async def webhooks_add_form(request: web.Request) -> web.Response:
    form = await request.post()
    kinds = [str(k) for k in form.getall("kinds", [])]
    try:
        created = await _add(
            request, str(form.get("url", "")), kinds, str(form.get("description", ""))
        )
    except WebhookError as exc:
        return await _page(request, error=str(exc), status=400)
    _subscriptions_changed(request)
    return await _page(request, created=created, status=201)


@require_role(Role.ADMIN)
async def webhooks_delete_form(request: web.Request) -> web.Response:
    await _delete(request)
    _subscriptions_changed(request)
    return redirect("/admin/webhooks")


@require_role(Role.ADMIN)
async def delivery_retry_form(request: web.Request) -> web.Response:
    await _retry(request)
    return redirect("/admin/webhooks")


# --- REST -------------------------------------------------------------------------------------


@documented(
    "GET",
    "/api/webhooks",
    operation_id="listWebhooks",
    tag="webhooks",
    summary="Webhook subscriptions (admin)",
    answer=WebhookList,
    answer_description="The subscriptions.",
)
@require_role(Role.ADMIN)
async def api_list(request: web.Request) -> web.Response:
    return web.json_response({"items": [w.to_dict() for w in await _store(request).webhooks()]})


@documented(
    "POST",
    "/api/webhooks",
    operation_id="addWebhook",
    tag="webhooks",
    summary="Subscribe a URL to event kinds (admin); the answer shows the signing secret once",
    body=WebhookIn,
    answer=WebhookMade,
    answer_description="Created.",
    status=201,
    errors=(413,),
)
@require_role(Role.ADMIN)
async def api_add(request: web.Request) -> web.Response:
    body = await read_json(request, WebhookIn, max_body=MAX_BODY, not_object=SHAPE)
    try:
        created = await _add(request, body.url, body.kinds, body.description)
    except WebhookError as exc:
        raise web.HTTPBadRequest(text=str(exc)) from None
    _subscriptions_changed(request)
    return web.json_response(
        {"webhook": created.webhook.to_dict(), "secret": created.secret}, status=201
    )


@documented(
    "DELETE",
    "/api/webhooks/{webhook_id}",
    operation_id="deleteWebhook",
    tag="webhooks",
    summary="Remove a subscription (admin)",
    parameters=(
        {"name": "webhook_id", "in": "path", "required": True, "schema": {"type": "integer"}},
    ),
    answer_description="Removed.",
    status=204,
    errors=(404,),
)
@require_role(Role.ADMIN)
async def api_delete(request: web.Request) -> web.Response:
    await _delete(request)
    _subscriptions_changed(request)
    return web.Response(status=204)


@documented(
    "GET",
    "/api/webhooks/deliveries",
    operation_id="listDeliveries",
    tag="webhooks",
    summary="Webhook deliveries, e.g. the dead-letter list with `status=dead` (admin)",
    query=DeliveriesQuery,
    answer=DeliveryList,
    answer_description="The deliveries.",
)
@require_role(Role.ADMIN)
async def api_deliveries(request: web.Request) -> web.Response:
    status = read_query(request, DeliveriesQuery).status or None
    items = await _store(request).deliveries(status=status)
    return web.json_response({"items": [d.to_dict() for d in items]})


@documented(
    "POST",
    "/api/webhooks/deliveries/{delivery_id}/retry",
    operation_id="retryDelivery",
    tag="webhooks",
    summary="Send a delivery again (admin)",
    parameters=(
        {"name": "delivery_id", "in": "path", "required": True, "schema": {"type": "integer"}},
    ),
    answer=RetryQueued,
    answer_description="Queued again.",
    errors=(404,),
)
@require_role(Role.ADMIN)
async def api_retry(request: web.Request) -> web.Response:
    await _retry(request)
    return web.json_response({"status": "pending"})


async def _retry(request: web.Request) -> None:
    try:
        await _store(request).retry(_id(request, "delivery_id"), now=utcnow())
    except NotFound as exc:
        raise web.HTTPNotFound(text=str(exc)) from None
    _wake(request)


def setup(app: web.Application) -> None:
    add_template_dir(app, HERE / "templates")
    app.router.add_get("/admin/webhooks", webhooks_page, name="webhooks")
    app.router.add_post("/admin/webhooks", webhooks_add_form)
    app.router.add_post("/admin/webhooks/{webhook_id}/delete", webhooks_delete_form)
    app.router.add_post("/admin/webhooks/deliveries/{delivery_id}/retry", delivery_retry_form)
    app.router.add_get("/api/webhooks", api_list)
    app.router.add_post("/api/webhooks", api_add)
    app.router.add_delete("/api/webhooks/{webhook_id}", api_delete)
    app.router.add_get("/api/webhooks/deliveries", api_deliveries)
    app.router.add_post("/api/webhooks/deliveries/{delivery_id}/retry", api_retry)
