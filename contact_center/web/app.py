"""The aiohttp application: ``create_app(deps, plugins)``.

How a feature adds its pages (a plugin)
=======================================

Give your package an ``http.py`` with a ``setup(app)`` function; the composition root passes
the module to ``create_app(deps, plugins=[your_pkg.http, ...])``, which calls ``setup(app)``
once, after the core routes, before the app starts::

    # contact_center/stats/http.py
    from aiohttp import web
    import aiohttp_jinja2

    from contact_center.web.keys import BUS_KEY, SESSIONS_KEY, add_template_dir
    from contact_center.web.auth import Role, current_user, require_role

    @require_role(Role.SUPERVISOR)            # admin always passes; no decorator = 403
    @aiohttp_jinja2.template("wallboard.html")  # templates extend "base.html"
    async def wallboard(request: web.Request) -> dict[str, object]:
        user = current_user(request)
        async with request.app[SESSIONS_KEY]() as db: ...
        return {"title": "Wallboard", "queues": [...]}

    def setup(app: web.Application) -> None:
        add_template_dir(app, Path(__file__).parent / "templates")
        app.router.add_get("/wallboard", wallboard, name="wallboard")
        # long-lived tasks: app.cleanup_ctx.append(...) — created on start, cancelled on stop

Rules the middlewares enforce for every route (pages, API, websockets, downloads):

* **Default deny.** A handler must be decorated with ``require_role(...)`` or ``public``;
  otherwise it answers 403. Anonymous requests get 401, or a redirect to ``/login`` when a
  browser asks for a page.
* **CSRF.** POST/PUT/PATCH/DELETE need the session's token: in a form put
  ``{{ csrf_field() }}``; from JavaScript send the ``X-CSRF-Token`` header with the value of
  ``<meta name="csrf-token">`` (base.html has it; ``static/app.js`` ``ccFetch`` does it).
* **Templates** are autoescaped jinja2 (aiohttp-jinja2); every template sees ``user``
  (:class:`~contact_center.web.auth.CurrentUser` or None), ``csrf_token`` and ``csrf_field()``.
  Extend ``base.html`` and fill ``{% block content %}`` (``{% block head %}`` for CSS/JS).
* **Deps** are typed ``web.AppKey``s below (``app[BUS_KEY]``, ``app[SESSIONS_KEY]``,
  ``app[SETTINGS_KEY]``, ``app[HUB_KEY]``); add your own AppKey in your module and pass its
  value through ``create_app(..., extras={KEY: value})`` — no module-level globals.
* Static files of a plugin: ``app.router.add_static("/static/<pkg>", path)``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import AsyncIterator, Iterable, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import quote

import aiohttp_jinja2
import jinja2
from aiohttp import web
from aiohttp.web_urldispatcher import StaticResource
from markupsafe import Markup, escape
from sqlalchemy import text

from contact_center import aio, i18n
from contact_center.bus.base import POPS, BusError, BusUnavailable
from contact_center.i18n import gettext as _
from contact_center.screenpop.people import announce_user_changed
from contact_center.web import auth, shell, tokens
from contact_center.web.auth import (
    CSRF_FIELD,
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    UNSAFE_METHODS,
    USER_KEY,
    CurrentUser,
    Role,
    public,
    require_role,
)
from contact_center.web.keys import (  # re-exported: older plugins import them from here
    BUS_KEY,
    DEPS_KEY,
    HUB_KEY,
    PASSWORD_POOL_KEY,
    RATE_LIMIT_KEY,
    SESSIONS_KEY,
    SETTINGS_KEY,
    TEMPLATE_LOADER_KEY,
    TRUSTED_PROXIES_KEY,
    Deps,
    allowed_origins,
    redirect,
)
from contact_center.web.signin import (
    LoginThrottle,
    PasswordPool,
    SignInUnavailable,
    client_address,
    parse_networks,
    policy_from,
    throttle_storage,
)
from contact_center.web.ws import Connection, PopHub, origin_allowed, parse_last_id, serve_socket

# the sockets' periodic session checks, one query for those that come together
SESSION_CHECKS_KEY = web.AppKey("cc_session_checks", auth.SessionChecks)

log = logging.getLogger(__name__)

HERE = Path(__file__).parent
HUB_START_TIMEOUT = 2.0


# --- middlewares -------------------------------------------------------------------------------


@web.middleware
async def security_headers(request: web.Request, handler: auth.Handler) -> web.StreamResponse:
    response = await handler(request)
    headers = response.headers
    headers.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    )
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Referrer-Policy", "same-origin")
    return response


@web.middleware
async def bus_errors(request: web.Request, handler: auth.Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except BusUnavailable as exc:
        # Redis is down: say so plainly instead of a bare 500; the browser retries later.
        log.warning("%s %s: %s", request.method, request.path, exc)
        raise web.HTTPServiceUnavailable(text=_("the event bus is unavailable, try again")) from exc


@web.middleware
async def load_user(request: web.Request, handler: auth.Handler) -> web.StreamResponse:
    token = request.cookies.get(SESSION_COOKIE)
    static = isinstance(request.match_info.route.resource, StaticResource)
    if not static and await tokens.authenticate_request(request, request.app[SESSIONS_KEY]):
        token = None  # an Authorization header: the API token alone decides (web/tokens.py)
    if token and not static:
        user = await auth.load_session(request.app[SESSIONS_KEY], token)
        if user is not None:
            request[USER_KEY] = user
    return await handler(request)


@web.middleware
async def locale(request: web.Request, handler: auth.Handler) -> web.StreamResponse:
    # The signed-in user's language; before sign-in (or when they chose none) the browser's.
    user = request.get(USER_KEY)
    chosen = getattr(user, "language", "") if user is not None else ""
    i18n.set_locale(chosen or i18n.negotiate(request.headers.get("Accept-Language")))
    response = await handler(request)
    response.headers.setdefault("Content-Language", i18n.current_locale())
    return response


def _wants_page(request: web.Request) -> bool:
    return request.method == "GET" and "text/html" in request.headers.get("Accept", "")


@web.middleware
async def access_control(request: web.Request, handler: auth.Handler) -> web.StreamResponse:
    match = request.match_info
    if match.http_exception is not None or isinstance(match.route.resource, StaticResource):
        return await handler(request)
    target = match.handler
    if auth.is_public(target):
        return await handler(request)
    user = request.get(USER_KEY)
    if user is None:
        if _wants_page(request):
            raise web.HTTPFound(f"/login?next={quote(request.path_qs, safe='')}")
        raise web.HTTPUnauthorized(text="sign in first")
    if auth.roles_of(target) is None:
        log.error("route %s has no require_role/public: denied", request.path)
        raise web.HTTPForbidden(text="this route has no access rule (default deny)")
    if tokens.is_bearer(request):
        tokens.check_scope(request)  # no CSRF: browsers never add the header cross-site
    elif request.method in UNSAFE_METHODS:
        given = await auth.csrf_from_request(request)
        if not auth.csrf_ok(user.csrf_token, given):
            raise web.HTTPForbidden(text="missing or wrong CSRF token")
    return await handler(request)


# --- templates ---------------------------------------------------------------------------------


async def template_context(request: web.Request) -> dict[str, Any]:
    user: CurrentUser | None = request.get(USER_KEY)
    token = user.csrf_token if user is not None else ""

    def csrf_field() -> Markup:
        return Markup('<input type="hidden" name="{}" value="{}">').format(
            CSRF_FIELD, escape(token)
        )

    return {
        "user": user,
        "csrf_token": token,
        "csrf_field": csrf_field,
        **shell.shell_context(request),
    }


def _setup_templates(app: web.Application) -> None:
    loader = jinja2.ChoiceLoader([jinja2.FileSystemLoader(str(HERE / "templates"))])
    app[TEMPLATE_LOADER_KEY] = loader
    env = aiohttp_jinja2.setup(
        app,
        loader=loader,
        autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
        context_processors=[template_context],
    )
    i18n.install(env)


# --- core handlers -----------------------------------------------------------------------------


@public
async def healthz(request: web.Request) -> web.Response:
    checks: dict[str, str] = {}
    try:
        async with request.app[SESSIONS_KEY]() as db:
            await db.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = f"error: {type(exc).__name__}"
    try:
        await request.app[BUS_KEY].last_id(POPS)
        checks["bus"] = "ok"
    except BusError as exc:
        checks["bus"] = f"error: {type(exc).__name__}"
    ok = all(v == "ok" for v in checks.values())
    body = {"status": "ok" if ok else "degraded", **checks}
    return web.json_response(body, status=200 if ok else 503)


def _safe_next(raw: str | None) -> str:
    # Only local paths: an open redirect after sign-in is a phishing aid. No whitespace or
    # control character either: a TAB is dropped by browsers ("/\t/evil" becomes "//evil"),
    # and CR/LF cannot go into a header at all.
    if (
        raw
        and raw.startswith("/")
        and not raw.startswith("//")
        and "\\" not in raw
        and len(raw) <= 2000
        and not any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in raw)
    ):
        return raw
    return "/"


@public
async def login_page(request: web.Request) -> web.StreamResponse:
    return _render_login(request, error="", status=200)


def _render_login(
    request: web.Request, *, error: str, status: int, next_path: str | None = None
) -> web.StreamResponse:
    token = request.cookies.get(LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(24)
    target = next_path or _safe_next(request.query.get("next"))
    response = aiohttp_jinja2.render_template(
        "login.html",
        request,
        {"login_csrf": token, "error": error, "next": target},
        status=status,
    )
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        httponly=True,
        samesite="Strict",
        secure=request.app[SETTINGS_KEY].web.secure_cookies,
        path="/login",
    )
    return response


@public
async def login_submit(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    login = str(form.get("login", "")).strip()[:80]
    password = str(form.get("password", ""))[:1024]
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not expected or not auth.csrf_ok(expected, str(form.get(CSRF_FIELD, ""))):
        raise web.HTTPForbidden(text=_("missing or wrong CSRF token, reload the sign-in page"))
    target = _safe_next(str(form.get("next", "")) or None)  # checked before any session
    throttle = request.app[RATE_LIMIT_KEY]
    address = client_address(request, request.app[TRUSTED_PROXIES_KEY])
    sessions = request.app[SESSIONS_KEY]
    try:
        if await throttle.blocked(login, address):
            error = _("Too many failed attempts, try again later.")
            return _render_login(request, error=error, status=429, next_path=target)
        user = await auth.authenticate(sessions, login, password, request.app[PASSWORD_POOL_KEY])
        if user is None:
            await throttle.failed(login, address)
            error = _("Wrong login or password.")
            return _render_login(request, error=error, status=401, next_path=target)
    except SignInUnavailable:
        error = _("too many sign-ins are being checked, try again shortly")
        return _render_login(request, error=error, status=503, next_path=target)
    new = await auth.open_session(sessions, user, address)
    response = redirect(target)
    secure = request.app[SETTINGS_KEY].web.secure_cookies
    auth.set_session_cookie(response, new.token, secure=secure)
    response.del_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


@require_role(*Role)
async def logout(request: web.Request) -> web.StreamResponse:
    user = auth.current_user(request)
    await auth.revoke_session(request.app[SESSIONS_KEY], user.session_id)
    request.app[HUB_KEY].close_session(user.session_id)
    try:
        # Other web instances close this session's sockets when they read this.
        await request.app[BUS_KEY].publish(POPS, {"type": "signout", "session": user.session_id})
    except BusError as exc:
        log.warning("sign-out not broadcast to other instances: %s", exc)
    response = redirect("/login")
    response.del_cookie(SESSION_COOKIE, path="/")
    return response


@require_role(*Role)
async def index(request: web.Request) -> web.StreamResponse:
    """Each role lands where its work is (see :mod:`contact_center.web.shell`)."""
    user = auth.current_user(request)
    target = shell.landing_path(request.app, user.role)
    if not target:
        raise web.HTTPForbidden(
            text=_("there is no page for the role %(role)s here", role=shell.role_label(user.role))
        )
    raise web.HTTPFound(target)


@require_role(*Role)
async def choose_language(request: web.Request) -> web.StreamResponse:
    """``POST /language`` (``language``, ``next``): the user's pages are in it from now on."""
    user = auth.current_user(request)
    form = await request.post()
    wanted = str(form.get("language", "")).strip()
    if wanted and wanted not in i18n.LOCALES:
        raise web.HTTPBadRequest(
            text=_("Unknown language %(language)s.", language=repr(wanted[:20]))
        )
    await auth.set_language(request.app[SESSIONS_KEY], user.id, wanted)
    # her screen pops follow at once, whichever process renders them
    await announce_user_changed(
        request.app[BUS_KEY],
        server=request.app[SETTINGS_KEY].general.server_id,
        login=user.login,
        language=wanted,
        by=user.login,
    )
    return redirect(_safe_next(str(form.get("next", "")) or None))


@require_role(Role.OPERATOR, Role.SUPERVISOR)
async def websocket(request: web.Request) -> web.StreamResponse:
    """``/ws?last_id=<id>``: this operator's pops (see :mod:`contact_center.web.ws`)."""
    if not origin_allowed(request, allowed_origins(request.app[SETTINGS_KEY])):
        raise web.HTTPForbidden(text="websocket origin not allowed")
    user = auth.current_user(request)
    after_id = parse_last_id(request.query.get("last_id"))
    token = request.cookies.get(SESSION_COOKIE, "")
    sessions = request.app[SESSIONS_KEY]

    async def still_signed_in() -> bool:
        return await auth.session_alive(sessions, token)

    checks = request.app[SESSION_CHECKS_KEY]

    async def recheck() -> bool:  # the periodic one: gathered with the other sockets'
        return await checks.alive(token)

    conn = Connection(login=user.login, session_id=user.session_id)
    return await serve_socket(
        request, request.app[HUB_KEY], conn, after_id, still_signed_in, recheck
    )


# --- the app -----------------------------------------------------------------------------------


async def _run_hub(app: web.Application) -> AsyncIterator[None]:
    hub = app[HUB_KEY]
    task = asyncio.create_task(hub.run(), name="pop-hub")
    try:
        await aio.wait_for(hub.started.wait(), HUB_START_TIMEOUT)
    except TimeoutError:
        # Redis is down: serve pages anyway (degraded); the hub keeps retrying on its own.
        log.warning("pop hub not following the bus yet; starting without live pops")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def _sign_in_guard(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS_KEY]
    pool = PasswordPool(settings.web.password_workers, settings.web.password_queue)
    app[PASSWORD_POOL_KEY] = pool
    throttle = LoginThrottle(throttle_storage(settings), policy_from(settings))
    app[RATE_LIMIT_KEY] = throttle
    yield
    pool.close()


async def _close_sockets(app: web.Application) -> None:
    app[HUB_KEY].close_all()


def create_app(
    deps: Deps,
    plugins: Iterable[ModuleType] = (),
    *,
    extras: Mapping[web.AppKey[Any], Any] | None = None,
    console: bool = True,
) -> web.Application:
    """The web application with sign-in, ``/healthz``, ``/ws``, the console and ``plugins``."""
    app = web.Application(
        middlewares=[
            security_headers,
            bus_errors,
            load_user,
            locale,
            shell.error_pages,
            access_control,
        ],
        client_max_size=2 * 1024**2,
    )
    app[DEPS_KEY] = deps
    app[SETTINGS_KEY] = deps.settings
    app[SESSIONS_KEY] = deps.sessions
    app[BUS_KEY] = deps.bus
    app[HUB_KEY] = PopHub(deps.bus)
    app[SESSION_CHECKS_KEY] = auth.SessionChecks(deps.sessions)
    app[TRUSTED_PROXIES_KEY] = parse_networks(deps.settings.web.trusted_proxies)
    for key, value in (extras or {}).items():
        app[key] = value
    _setup_templates(app)
    app.router.add_get("/healthz", healthz, name="healthz")
    app.router.add_get("/login", login_page, name="login")
    app.router.add_post("/login", login_submit)
    app.router.add_post("/logout", logout, name="logout")
    app.router.add_post("/language", choose_language, name="language")
    app.router.add_get("/", index, name="index")
    app.router.add_get("/ws", websocket, name="ws")
    app.router.add_static("/static", HERE / "static", name="static")
    app.cleanup_ctx.append(_sign_in_guard)
    app.cleanup_ctx.append(_run_hub)
    app.on_shutdown.append(_close_sockets)
    from contact_center.admin import http as admin_plugin

    if console:
        from contact_center.web import console as console_plugin

        console_plugin.setup(app)
    admin_plugin.setup(app)
    for plugin in plugins:
        plugin.setup(app)
    app.on_startup.append(shell.freeze_nav)
    return app
