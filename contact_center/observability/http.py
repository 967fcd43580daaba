"""``/metrics`` for Prometheus and ``/readyz`` for orchestrators.

``/metrics`` needs no session; set ``CC_WEB_METRICS_TOKEN`` to require
``Authorization: Bearer <token>`` (Prometheus ``authorization: credentials: …``). Without a
token it is open to anyone who reaches the port, so ``serve`` (production mode) refuses to
start without one unless the web binds a loopback address.
``/readyz`` runs the checks in ``CHECKS_KEY`` (name → ``async () -> bool | str``, e.g. ami,
database, redis) and answers 200 when every one is ok, 503 otherwise, with each result. A check
may explain itself with a string ("AMI rights missing: reporting (CoreShowChannels)"): "ok" is
ok, any other text is the failure as the operator should read it.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import Awaitable, Callable, Mapping

from aiohttp import web

from contact_center.observability.metrics import Metrics
from contact_center.web.auth import public
from contact_center.web.keys import HUB_KEY, SETTINGS_KEY

log = logging.getLogger(__name__)

Check = Callable[[], Awaitable[bool | str]]
METRICS_KEY = web.AppKey("cc_metrics", Metrics)
CHECKS_KEY = web.AppKey("cc_readiness_checks", Mapping[str, Check])
CHECK_TIMEOUT_SECONDS = 2.0


def _token_ok(request: web.Request, token: str) -> bool:
    given = request.headers.get("Authorization", "")
    return hmac.compare_digest(given.encode(), f"Bearer {token}".encode())


@public
async def metrics_endpoint(request: web.Request) -> web.Response:
    token = request.app[SETTINGS_KEY].web.metrics_token
    if token and not _token_ok(request, token):
        raise web.HTTPUnauthorized(
            text="metrics need the configured bearer token",
            headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
        )
    body, content_type = request.app[METRICS_KEY].render()
    response = web.Response(body=body)
    # aiohttp refuses a charset inside content_type=, so set the header as Prometheus sends it.
    response.headers["Content-Type"] = content_type
    return response


async def run_check(name: str, check: Check, timeout: float = CHECK_TIMEOUT_SECONDS) -> str:
    """ "ok", "fail: <what the check said>" or "fail" (an exception gives its type only: no
    details leak to an anonymous caller)."""
    try:
        async with asyncio.timeout(timeout):
            ok = await check()
    except TimeoutError:
        log.warning("readiness check %s timed out after %s s", name, timeout)
        return "fail: timeout"
    except Exception as exc:
        log.warning("readiness check %s failed: %r", name, exc)
        return f"fail: {type(exc).__name__}"
    if isinstance(ok, str):
        return "ok" if ok == "ok" else f"fail: {ok}"
    return "ok" if ok else "fail"


@public
async def readyz(request: web.Request) -> web.Response:
    checks = request.app.get(CHECKS_KEY, {})
    names = sorted(checks)
    results = await asyncio.gather(*(run_check(n, checks[n]) for n in names))
    report = dict(zip(names, results, strict=True))
    ready = all(r == "ok" for r in results)
    body = {"status": "ok" if ready else "fail", "checks": report}
    return web.json_response(body, status=200 if ready else 503)


def _watch_websockets(app: web.Application) -> None:
    metrics = app.get(METRICS_KEY)
    hub = app.get(HUB_KEY)
    if metrics is not None and hub is not None:
        metrics.track_websocket_clients(lambda: len(hub.connections()))


def setup(app: web.Application) -> None:
    if METRICS_KEY not in app:
        app[METRICS_KEY] = Metrics()
    _watch_websockets(app)
    app.router.add_get("/metrics", metrics_endpoint, name="metrics")
    app.router.add_get("/readyz", readyz, name="readyz")
