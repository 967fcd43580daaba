"""The app shell every page shares: navigation by role, a landing page per role, error pages.

* **Navigation** lists the pages a user may open. An entry names a route (by its aiohttp
  name) and shows only when that route is registered in this app *and* the route's own
  ``require_role`` marking lets the user in, so the menu can never offer a page that answers
  403, and a page a plugin adds appears once its entry is listed in :data:`NAV`.
* **Landing**: ``/`` sends each role to where its work is (operator: the console,
  supervisor: the wallboard, QA: the recordings, admin: the administration overview).
* **Error pages**: a browser asking for a page gets 403/404/405/500 in the same look as every
  page, with the reason and a way back; API clients keep the plain-text reason.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from typing import Any

import aiohttp_jinja2
from aiohttp import web

from contact_center import i18n
from contact_center.i18n import LazyTexts, lazy_gettext
from contact_center.i18n import gettext as _
from contact_center.web import auth
from contact_center.web.auth import USER_KEY, CurrentUser, Role

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class NavItem:
    route: str  # the aiohttp route name
    label: Any  # a lazy_gettext text: said in the language of the request that shows it
    path: str


# In menu order. The roles come from each route's require_role marking, not from here.
NAV: tuple[NavItem, ...] = (
    NavItem("console", lazy_gettext("Console"), "/console"),
    NavItem("customers", lazy_gettext("Customers"), "/customers"),
    NavItem("callbacks", lazy_gettext("Callbacks"), "/callbacks"),
    NavItem("campaigns", lazy_gettext("Campaigns"), "/campaigns"),
    NavItem("campaigns.mine", lazy_gettext("My campaigns"), "/campaigns/mine"),
    NavItem("wallboard", lazy_gettext("Wallboard"), "/wallboard"),
    NavItem("stats_reports", lazy_gettext("Reports"), "/reports"),
    NavItem("qa.search", lazy_gettext("Recordings"), "/qa/recordings"),
    NavItem("qa.scores", lazy_gettext("QA scores"), "/qa/scores"),
    NavItem("qa.forms", lazy_gettext("QA forms"), "/qa/forms"),
    NavItem("exports", lazy_gettext("Exports"), "/exports"),
    NavItem("webhooks", lazy_gettext("Webhooks"), "/admin/webhooks"),
    NavItem("admin", lazy_gettext("Administration"), "/admin"),
)

LANDING: dict[str, str] = {
    Role.OPERATOR: "console",
    Role.SUPERVISOR: "wallboard",
    Role.QA: "qa.search",
    Role.ADMIN: "admin",
}

ROLE_LABELS: LazyTexts[str] = LazyTexts(
    {
        Role.OPERATOR: lazy_gettext("Operator"),
        Role.SUPERVISOR: lazy_gettext("Supervisor"),
        Role.QA: lazy_gettext("QA reviewer"),
        Role.ADMIN: lazy_gettext("Administrator"),
    }
)


def role_label(role: str) -> str:
    """A role as people say it ("Supervisor"), in the current language."""
    return ROLE_LABELS.get(role, role)


NAV_KEY = web.AppKey("cc_nav", dict)


def _route_roles(app: web.Application) -> dict[str, frozenset[str] | None]:
    """Route name → the roles its handler admits (None: a route without a rule)."""
    found: dict[str, frozenset[str] | None] = {}
    for resource in app.router.resources():
        name = resource.name
        if not name:
            continue
        for route in resource:
            if route.method != "GET":
                continue
            roles = auth.roles_of(route.handler)
            found[name] = frozenset(roles) if roles is not None else None
    return found


def build_nav(app: web.Application) -> dict[str, tuple[NavItem, ...]]:
    """Each role's menu, from the routes this app actually has and their markings."""
    roles_by_route = _route_roles(app)
    menus: dict[str, tuple[NavItem, ...]] = {}
    for role in Role:
        items = []
        for item in NAV:
            if item.route not in roles_by_route:
                continue  # this app was built without the plugin that serves it
            allowed = roles_by_route[item.route]
            if allowed is None:
                continue
            if role == Role.ADMIN or role in allowed:
                items.append(item)
        menus[role] = tuple(items)
    return menus


def nav_for(request: web.Request) -> tuple[NavItem, ...]:
    user: CurrentUser | None = request.get(USER_KEY)
    if user is None:
        return ()
    menus: dict[str, tuple[NavItem, ...]] | None = request.app.get(NAV_KEY)
    if menus is None:
        menus = build_nav(request.app)
    return menus.get(user.role, ())


def landing_path(app: web.Application, role: str) -> str:
    """Where ``/`` sends a role: its landing page when this app has it, else its first
    menu entry."""
    menus: dict[str, tuple[NavItem, ...]] = app.get(NAV_KEY) or build_nav(app)
    items = menus.get(role, ())
    wanted = LANDING.get(role, "")
    for item in items:
        if item.route == wanted:
            return item.path
    return items[0].path if items else ""


async def freeze_nav(app: web.Application) -> None:
    """on_startup: every plugin has added its routes by now; build the menus once."""
    app[NAV_KEY] = build_nav(app)


def shell_context(request: web.Request) -> dict[str, Any]:
    """What base.html needs for the header and the menu."""
    user: CurrentUser | None = request.get(USER_KEY)
    path = request.path
    items = nav_for(request)
    current = ""
    for item in items:  # the longest matching prefix is the page we are on
        if (path == item.path or path.startswith(item.path + "/")) and len(item.path) > len(
            current
        ):
            current = item.path
    return {
        "nav": items,
        "nav_current": current,
        "role_label": role_label(user.role) if user is not None else "",
        "here": request.path_qs,
        "languages": i18n.language_names(),
    }


# --- error pages ---------------------------------------------------------------------------

ERROR_TITLES: LazyTexts[int] = LazyTexts(
    {
        400: lazy_gettext("That request was not understood"),
        401: lazy_gettext("Please sign in"),
        403: lazy_gettext("You don't have access to this page"),
        404: lazy_gettext("Page not found"),
        405: lazy_gettext("That action is not available here"),
        409: lazy_gettext("That conflicts with the current state"),
        413: lazy_gettext("That upload is too large"),
        429: lazy_gettext("Too many requests"),
        500: lazy_gettext("Something went wrong on our side"),
        503: lazy_gettext("The service is not ready"),
    }
)


# TRANSLATORS: the roles as they follow "This page is for" (Russian: genitive plural, "для …").
ROLE_PLURALS: LazyTexts[str] = LazyTexts(
    {
        Role.OPERATOR: lazy_gettext("operators"),
        Role.SUPERVISOR: lazy_gettext("supervisors"),
        Role.QA: lazy_gettext("QA reviewers"),
        Role.ADMIN: lazy_gettext("administrators"),
    }
)


def _denied_by_role(request: web.Request) -> bool:
    """Did the route's role marking turn this signed-in user away?"""
    user = request.get(USER_KEY)
    match = request.match_info
    if user is None or match.http_exception is not None:
        return False
    roles = auth.roles_of(match.handler)
    return bool(roles) and not user.has_role(*(roles or ()))


def _who_may(request: web.Request) -> str:
    """ "This page is for supervisors and administrators." from the route's marking."""
    match = request.match_info
    if match.http_exception is not None:
        return ""
    roles = auth.roles_of(match.handler)
    if not roles:
        return ""
    names = [ROLE_PLURALS[r] for r in Role if r in roles or r == Role.ADMIN]
    if len(names) == 1:
        listed = names[0]
    else:
        listed = _("%(first)s and %(last)s", first=", ".join(names[:-1]), last=names[-1])
    return _("This page is for %(roles)s.", roles=listed)


def _wants_page(request: web.Request) -> bool:
    return request.method in ("GET", "HEAD") and "text/html" in request.headers.get("Accept", "")


def _error_page(request: web.Request, status: int, reason: str) -> web.Response:
    response = aiohttp_jinja2.render_template(
        "error.html",
        request,
        {
            "title": ERROR_TITLES.get(status) or _("Error"),
            "status": status,
            "reason": reason,
            "home": landing_path(request.app, request[USER_KEY].role)
            if request.get(USER_KEY) is not None
            else "/login",
        },
        status=status,
    )
    return response


@web.middleware
async def error_pages(request: web.Request, handler: auth.Handler) -> web.StreamResponse:
    """Errors as pages in the app's look for browsers; unchanged for API clients."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400 or not _wants_page(request):
            raise
        reason = exc.text or ""
        if reason == f"{exc.status}: {exc.reason}":
            reason = ""  # aiohttp's default body says nothing the title does not
        if exc.status == 403 and _denied_by_role(request):
            reason = _who_may(request) or reason
        return _error_page(request, exc.status, reason)
    except Exception:
        if not _wants_page(request):
            raise
        ref = secrets.token_hex(4)
        log.exception("%s %s failed (reference %s)", request.method, request.path, ref)
        return _error_page(request, 500, _("Reference %(ref)s is in the service log.", ref=ref))
