"""``/admin``: the administrator's pages, and ``/api/admin/…``: the same changes as a REST API.

Users (create, role, queues with penalties, skills with levels, phone interface, Asterisk
server, disable, new password, sign out everywhere), queues (server, service-level threshold,
wrap-up, required skills — stored in the ``queues`` table; required skills set here override
routing.yaml's), pause reasons and dispositions (stored in ``admin_choices``, seeded with the
lists the code had), API tokens (``web/tokens.py``) and the audit log of every change. The
pages and the API call the same :mod:`contact_center.admin.services`; each change is written
with its audit row in one transaction.
"""

from __future__ import annotations

import inspect
import logging
import re
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import aiohttp_jinja2
from aiohttp import web
from aiohttp.web_request import FileField
from pydantic import BaseModel, ValidationError

from contact_center import i18n
from contact_center.admin import services as svc
from contact_center.admin.api import add_routes, endpoint, int_param
from contact_center.admin.schemas import (
    AuditList,
    ChoiceCreate,
    ChoiceList,
    ChoiceNames,
    ChoiceOut,
    IvrCheck,
    PasswordSet,
    QueueList,
    QueueOut,
    QueueUpdate,
    SessionsEnded,
    TariffList,
    TariffResult,
    TariffUpload,
    TokenCreate,
    TokenList,
    TokenMade,
    TokenOut,
    UserCreate,
    UserList,
    UserOut,
    UserUpdate,
    errors_text,
)
from contact_center.bus.base import POPS, BusError
from contact_center.i18n import gettext as _
from contact_center.i18n import lazy_gettext
from contact_center.screenpop.people import announce_user_changed
from contact_center.web.auth import Role, current_user, require_role
from contact_center.web.keys import (
    BUS_KEY,
    HUB_KEY,
    SESSIONS_KEY,
    SETTINGS_KEY,
    add_template_dir,
    redirect,
)
from contact_center.web.shell import ROLE_LABELS
from contact_center.web.tokens import SCOPES, TOKEN_KEY, actor

log = logging.getLogger(__name__)
T = TypeVar("T")

ROLE_ORDER = (Role.OPERATOR, Role.SUPERVISOR, Role.QA, Role.ADMIN)
KINDS = ("pause_reason", "disposition")
KIND_PARAM = {"kind": {"type": "string", "enum": list(KINDS)}}
QUEUE_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,79}$")
QUEUE_PARAM = {"name": {"type": "string", "pattern": QUEUE_NAME.pattern}}
KIND_LABELS = {
    "pause_reason": lazy_gettext("Pause reasons"),
    "disposition": lazy_gettext("Dispositions"),
}
# The sections of the administration, in the order the sub-menu shows them.
SECTIONS = (
    ("/admin", lazy_gettext("Users")),
    ("/admin/queues", lazy_gettext("Queues")),
    ("/admin/lists", lazy_gettext("Pause reasons and dispositions")),
    ("/admin/tokens", lazy_gettext("API tokens")),
    ("/admin/tariffs", lazy_gettext("Tariffs")),
    ("/admin/ivr", lazy_gettext("IVR menus")),
    ("/admin/audit", lazy_gettext("Audit log")),
    ("/qa/forms", lazy_gettext("QA forms")),
    ("/admin/webhooks", lazy_gettext("Webhooks")),
)


_who = actor


def _yaml_skills(request: web.Request) -> dict[str, tuple[str, ...]]:
    from contact_center.routing.rules import RoutingConfigError, load_rules, queue_skills

    path = Path(request.app[SETTINGS_KEY].agi.routing_rules)
    if not path.is_file():
        return {}
    try:
        return queue_skills(load_rules(path))
    except (RoutingConfigError, OSError) as exc:
        log.warning("routing rules not read for the queues page: %s", exc)
        return {}


async def _announce_signouts(request: web.Request, ended: list[str]) -> None:
    for session_id in ended:
        request.app[HUB_KEY].close_session(session_id)
        try:
            await request.app[BUS_KEY].publish(POPS, {"type": "signout", "session": session_id})
        except BusError as exc:
            log.warning("sign-out not broadcast to other instances: %s", exc)


# What the screen pops' operator directory keeps of a user (people.USER_CHANGED).
POP_FIELDS = frozenset({"language", "interface", "display_name", "active"})


async def _announce_user_changed(request: web.Request, data: UserUpdate, out: UserOut) -> None:
    """Her screen pops follow the change at once (her language above all), in whichever
    process renders them."""
    if data.model_fields_set & POP_FIELDS:
        await announce_user_changed(
            request.app[BUS_KEY],
            server=request.app[SETTINGS_KEY].general.server_id,
            login=out.login,
            language=out.language,
            by=_who(request),
        )


def _kind(request: web.Request) -> str:
    kind = request.match_info["kind"]
    if kind not in KINDS:
        raise web.HTTPNotFound(text="no such list")
    return kind


# --- the REST API --------------------------------------------------------------------------


@endpoint("GET", "/api/admin/users", summary="Every user", answer=UserList)
async def apiListUsers(request: web.Request) -> BaseModel:
    return UserList(items=await svc.list_users(request.app[SESSIONS_KEY]))


@endpoint(
    "POST",
    "/api/admin/users",
    summary="Create a user",
    body=UserCreate,
    answer=UserOut,
    status=201,
    errors=(409,),
)
async def apiCreateUser(request: web.Request, body: UserCreate) -> BaseModel:
    return await svc.create_user(request.app[SESSIONS_KEY], body, by=_who(request))


@endpoint("GET", "/api/admin/users/{user_id}", summary="One user", answer=UserOut)
async def apiGetUser(request: web.Request) -> BaseModel:
    return await svc.get_user(request.app[SESSIONS_KEY], int_param(request, "user_id"))


@endpoint(
    "PATCH",
    "/api/admin/users/{user_id}",
    summary="Change a user's role, name, phone, server, queues, skills, language or sign-in "
    "(disabling ends their sessions; her screen pops follow a new language at once)",
    body=UserUpdate,
    answer=UserOut,
    errors=(409,),
)
async def apiUpdateUser(request: web.Request, body: UserUpdate) -> BaseModel:
    out, ended = await svc.update_user(
        request.app[SESSIONS_KEY],
        int_param(request, "user_id"),
        body,
        by=_who(request),
        by_id=current_user(request).id,
    )
    await _announce_signouts(request, ended)
    await _announce_user_changed(request, body, out)
    return out


@endpoint(
    "POST",
    "/api/admin/users/{user_id}/password",
    summary="Set a user's password (ends their sessions)",
    body=PasswordSet,
    answer=SessionsEnded,
)
async def apiSetPassword(request: web.Request, body: PasswordSet) -> BaseModel:
    ended = await svc.set_password(
        request.app[SESSIONS_KEY], int_param(request, "user_id"), body.password, by=_who(request)
    )
    await _announce_signouts(request, ended)
    return SessionsEnded(sessions_ended=len(ended))


@endpoint(
    "POST",
    "/api/admin/users/{user_id}/signout",
    summary="End every session of a user",
    answer=SessionsEnded,
)
async def apiSignOutUser(request: web.Request) -> BaseModel:
    ended = await svc.sign_out_user(
        request.app[SESSIONS_KEY], int_param(request, "user_id"), by=_who(request)
    )
    await _announce_signouts(request, ended)
    return SessionsEnded(sessions_ended=len(ended))


@endpoint("GET", "/api/admin/queues", summary="Every queue with its settings", answer=QueueList)
async def apiListQueues(request: web.Request) -> BaseModel:
    return QueueList(items=await svc.list_queues(request.app[SESSIONS_KEY], _yaml_skills(request)))


@endpoint(
    "PATCH",
    "/api/admin/queues/{name}",
    summary="Change a queue's server, title, service-level threshold, wrap-up or required skills",
    body=QueueUpdate,
    answer=QueueOut,
    path_params=QUEUE_PARAM,
)
async def apiUpdateQueue(request: web.Request, body: QueueUpdate) -> BaseModel:
    name = request.match_info["name"]
    if not _queue_name_ok(name):
        raise web.HTTPNotFound(text="no such queue")
    return await svc.update_queue(
        request.app[SESSIONS_KEY],
        name,
        body,
        _yaml_skills(request),
        by=_who(request),
        default_server=request.app[SETTINGS_KEY].general.server_id,
    )


def _queue_name_ok(name: str) -> bool:
    return QUEUE_NAME.fullmatch(name) is not None


@endpoint(
    "GET",
    "/api/admin/lists/{kind}",
    summary="A list people pick from, with removed entries",
    answer=ChoiceList,
    path_params=KIND_PARAM,
)
async def apiListChoices(request: web.Request) -> BaseModel:
    kind = _kind(request)
    items = await svc.list_choices(request.app[SESSIONS_KEY], kind)
    return ChoiceList(kind=kind, items=items)  # type: ignore[arg-type]


@endpoint(
    "POST",
    "/api/admin/lists/{kind}",
    summary="Add a pause reason or disposition",
    body=ChoiceCreate,
    answer=ChoiceOut,
    status=201,
    errors=(409,),
    path_params=KIND_PARAM,
)
async def apiAddChoice(request: web.Request, body: ChoiceCreate) -> BaseModel:
    return await svc.add_choice(
        request.app[SESSIONS_KEY], _kind(request), body.name, by=_who(request)
    )


@endpoint(
    "DELETE",
    "/api/admin/lists/{kind}/{choice_id}",
    summary="Take an entry off the list (past records keep naming it)",
    answer=ChoiceOut,
    path_params=KIND_PARAM,
)
async def apiRemoveChoice(request: web.Request) -> BaseModel:
    kind = _kind(request)
    return await svc.remove_choice(
        request.app[SESSIONS_KEY], kind, int_param(request, "choice_id"), by=_who(request)
    )


@endpoint(
    "GET",
    "/api/lists/{kind}",
    summary="What people may pick now (the console's lists)",
    roles=tuple(Role),
    answer=ChoiceNames,
    path_params=KIND_PARAM,
    tag="console",
)
async def apiChoiceNames(request: web.Request) -> BaseModel:
    kind = _kind(request)
    names = await svc.choice_names(request.app[SESSIONS_KEY], kind)
    return ChoiceNames(kind=kind, names=names)  # type: ignore[arg-type]


@endpoint(
    "GET", "/api/admin/tokens", summary="Every API token (never the token itself)", answer=TokenList
)
async def apiListTokens(request: web.Request) -> BaseModel:
    return TokenList(items=await svc.list_tokens(request.app[SESSIONS_KEY]))


@endpoint(
    "POST",
    "/api/admin/tokens",
    summary="Make an API token (for yourself, or for user_id); the answer shows it once",
    body=TokenCreate,
    answer=TokenMade,
    status=201,
)
async def apiCreateToken(request: web.Request, body: TokenCreate) -> BaseModel:
    token, out = await svc.make_token(
        request.app[SESSIONS_KEY],
        user_id=body.user_id or current_user(request).id,
        name=body.name,
        scopes=list(body.scopes),
        days=body.days,
        by=_who(request),
    )
    return TokenMade(token=token, item=out)


@endpoint(
    "DELETE",
    "/api/admin/tokens/{token_id}",
    summary="Revoke an API token",
    answer=TokenOut,
    errors=(409,),
)
async def apiRevokeToken(request: web.Request) -> BaseModel:
    token_id = int_param(request, "token_id")
    use = request.get(TOKEN_KEY)
    if use is not None and use.id == token_id:
        raise web.HTTPConflict(text="a token cannot revoke itself; revoke it from another one")
    return await svc.revoke_token(request.app[SESSIONS_KEY], token_id, by=_who(request))


@endpoint(
    "GET",
    "/api/admin/audit",
    summary="The audit log, newest first",
    answer=AuditList,
    query={
        "limit": {"type": "integer", "minimum": 1, "maximum": 500},
        "before": {"type": "integer", "minimum": 1},
    },
)
async def apiAudit(request: web.Request) -> BaseModel:
    limit = _query_int(request, "limit", 50, 500)
    before = _query_int(request, "before", 0, 2**62) or None
    items, next_before = await svc.audit_entries(
        request.app[SESSIONS_KEY], limit=limit, before=before
    )
    return AuditList(items=items, next_before=next_before)


def _query_int(request: web.Request, name: str, default: int, top: int) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    if not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= top:
        raise web.HTTPBadRequest(text=f"{name} must be a whole number from 1 to {top}")
    return int(raw)


@endpoint("GET", "/api/admin/tariffs", summary="The tariff plans in use", answer=TariffList)
async def apiListTariffs(request: web.Request) -> BaseModel:
    return TariffList(items=await svc.list_tariffs(request.app[SESSIONS_KEY]))


@endpoint(
    "POST",
    "/api/admin/tariffs",
    summary="Import a tariff file (YAML or CSV) as `contact-center tariffs import` does: "
    "checked first; a mistake answers 400 with file:line: reason and saves nothing",
    body=TariffUpload,
    answer=TariffResult,
)
async def apiUploadTariffs(request: web.Request, body: TariffUpload) -> BaseModel:
    result = await svc.upload_tariffs(
        request.app[SESSIONS_KEY],
        [(body.file_name, body.content.encode())],
        check_only=body.check_only,
        by=_who(request),
    )
    if result.errors:
        raise web.HTTPBadRequest(text="\n".join(result.errors))
    return result


@endpoint(
    "GET",
    "/api/admin/ivr",
    summary="The IVR menus (read-only) and what `contact-center ivr check` finds",
    answer=IvrCheck,
)
async def apiIvr(request: web.Request) -> BaseModel:
    return _ivr(request)


def _ivr(request: web.Request) -> IvrCheck:
    return svc.ivr_check(Path(request.app[SETTINGS_KEY].agi.menus_dir))


# --- pages ----------------------------------------------------------------------------------


def _page(request: web.Request, title: str, **extra: Any) -> dict[str, Any]:
    return {
        "title": title,
        "sections": SECTIONS,
        "here": request.path,
        "done": request.query.get("done", "")[:200],
        **extra,
    }


def _done(path: str, message: str) -> web.Response:
    from urllib.parse import quote

    return redirect(f"{path}?done={quote(message[:200])}")


def _form_error(
    request: web.Request, template: str, status: int, error: str, **ctx: Any
) -> web.Response:
    return aiohttp_jinja2.render_template(template, request, {**ctx, "error": error}, status=status)


async def _save(
    request: web.Request,
    template: str,
    context: Callable[[], dict[str, Any] | Awaitable[dict[str, Any]]],
    change: Callable[[], Awaitable[web.StreamResponse]],
    *,
    about: str = "",
) -> web.StreamResponse:
    """A page's form: ``change`` reads and applies it and answers (a redirect with its
    message); input it refuses (ValidationError, AdminError) shows the page again, 400, with
    the reason (after ``about``: what was refused) above the ``context`` it is built from."""
    try:
        return await change()
    except (ValidationError, svc.AdminError) as exc:
        text = errors_text(exc) if isinstance(exc, ValidationError) else str(exc)
        ctx = context()
        ctx = await ctx if inspect.isawaitable(ctx) else ctx
        return _form_error(request, template, 400, about + text, **ctx)


def _listing(
    template: str, context: Callable[[web.Request], Awaitable[dict[str, Any]]]
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """An administrator's page that lists what its ``context`` reads (queues, lists, tokens)."""

    @require_role(Role.ADMIN)
    async def page(request: web.Request) -> web.StreamResponse:
        return aiohttp_jinja2.render_template(template, request, await context(request))

    return page


async def _found(lookup: Awaitable[T], missing: str) -> T:
    """``lookup``'s answer; 404 with ``missing`` when it finds nothing."""
    try:
        return await lookup
    except svc.NotFound:
        raise web.HTTPNotFound(text=missing) from None


def _pairs(raw: str, what: str, *, low: int, high: int) -> dict[str, int]:
    """``"support:0, sales:2"`` → ``{"support": 0, "sales": 2}`` (a bare name: ``low``)."""
    found: dict[str, int] = {}
    for part in raw.split(","):
        part = part.strip()
        if not part:
            continue
        name, _sep, value = part.partition(":")
        value = value.strip() or str(low)
        if not value.isdigit() or not low <= int(value) <= high:
            raise svc.AdminError(
                _(
                    "%(what)s: %(part)s needs a number from %(low)s to %(high)s",
                    what=what,
                    part=part,
                    low=low,
                    high=high,
                )
            )
        found[name.strip()] = int(value)
    return found


@require_role(Role.ADMIN)
@aiohttp_jinja2.template("admin.html")
async def admin_page(request: web.Request) -> dict[str, Any]:
    users = await svc.list_users(request.app[SESSIONS_KEY])
    order: dict[str, int] = {role: n for n, role in enumerate(ROLE_ORDER)}
    users.sort(key=lambda u: (order.get(u.role, len(order)), u.display_name.lower()))
    rows = [
        {
            "id": u.id,
            "name": u.display_name,
            "login": u.login,
            "role": _(ROLE_LABELS.get(u.role, u.role)),
            "interface": u.interface,
            "queues": ", ".join(sorted(u.queues)),
            "active": u.active,
        }
        for u in users
    ]
    counts = {
        _(ROLE_LABELS[r]): sum(1 for u in users if u.role == r and u.active) for r in ROLE_ORDER
    }
    return _page(request, _("Administration"), users=rows, counts=counts)


def _user_form(request: web.Request, user: UserOut | None, form: Any = None) -> dict[str, Any]:
    def value(key: str, default: str) -> str:
        return str(form.get(key, default)) if form is not None else default

    return _page(
        request,
        _("Edit %(name)s", name=user.display_name) if user else _("New user"),
        edit=user,
        roles=[(r.value, _(ROLE_LABELS[r])) for r in ROLE_ORDER],
        show_server=svc.HAS_SERVER_ID,
        f={
            "login": value("login", user.login if user else ""),
            "display_name": value("display_name", user.display_name if user else ""),
            "role": value("role", user.role if user else "operator"),
            "interface": value("interface", user.interface if user else ""),
            "server_id": value("server_id", user.server_id if user else ""),
            "queues": value(
                "queues", ", ".join(f"{q}:{p}" for q, p in (user.queues if user else {}).items())
            ),
            "skills": value(
                "skills", ", ".join(f"{s}:{lv}" for s, lv in (user.skills if user else {}).items())
            ),
            "active": user.active if user else True,
            "language": value("language", user.language if user else ""),
        },
        languages=i18n.language_names(),
    )


@require_role(Role.ADMIN)
async def new_user_page(request: web.Request) -> web.StreamResponse:
    return aiohttp_jinja2.render_template("admin_user.html", request, _user_form(request, None))


@require_role(Role.ADMIN)
async def new_user_submit(request: web.Request) -> web.StreamResponse:
    form = await request.post()

    async def create() -> web.StreamResponse:
        data = UserCreate.model_validate(
            {
                "login": str(form.get("login", "")).strip(),
                "role": str(form.get("role", "")),
                "password": str(form.get("password", "")),
                "display_name": str(form.get("display_name", "")).strip(),
                "interface": str(form.get("interface", "")).strip(),
                "server_id": str(form.get("server_id", "")).strip(),
                "language": str(form.get("language", "")).strip(),
                "queues": _pairs(str(form.get("queues", "")), _("Queues"), low=0, high=100),
                "skills": _pairs(str(form.get("skills", "")), _("Skills"), low=1, high=5),
            }
        )
        user = await svc.create_user(request.app[SESSIONS_KEY], data, by=_who(request))
        return _done("/admin", _("User %(login)s created.", login=user.login))

    return await _save(request, "admin_user.html", partial(_user_form, request, None, form), create)


@require_role(Role.ADMIN)
async def edit_user_page(request: web.Request) -> web.StreamResponse:
    lookup = svc.get_user(request.app[SESSIONS_KEY], int_param(request, "user_id"))
    user = await _found(lookup, _("No such user."))
    return aiohttp_jinja2.render_template("admin_user.html", request, _user_form(request, user))


@require_role(Role.ADMIN)
async def edit_user_submit(request: web.Request) -> web.StreamResponse:
    user_id = int_param(request, "user_id")
    sessions = request.app[SESSIONS_KEY]
    user = await _found(svc.get_user(sessions, user_id), _("No such user."))
    form = await request.post()

    async def change() -> web.StreamResponse:
        # Only what the form carries changes (a form with fewer fields changes less); the
        # checkbox counts only beside its marker, since an unticked box sends nothing.
        fields: dict[str, Any] = {}
        for key in ("role", "display_name", "interface", "server_id", "language"):
            if key in form and (key != "server_id" or svc.HAS_SERVER_ID):
                fields[key] = str(form[key]).strip()
        if "queues" in form:
            fields["queues"] = _pairs(str(form["queues"]), _("Queues"), low=0, high=100)
        if "skills" in form:
            fields["skills"] = _pairs(str(form["skills"]), _("Skills"), low=1, high=5)
        if "active_shown" in form:
            fields["active"] = form.get("active") == "on"
        data = UserUpdate.model_validate(fields)
        out, ended = await svc.update_user(
            sessions, user_id, data, by=_who(request), by_id=current_user(request).id
        )
        await _announce_signouts(request, ended)
        await _announce_user_changed(request, data, out)
        password = str(form.get("password", ""))
        if password:
            checked = PasswordSet.model_validate({"password": password})
            await _announce_signouts(
                request,
                await svc.set_password(sessions, user_id, checked.password, by=_who(request)),
            )
        return _done("/admin", _("User %(login)s saved.", login=user.login))

    return await _save(request, "admin_user.html", partial(_user_form, request, user, form), change)


@require_role(Role.ADMIN)
async def end_sessions(request: web.Request) -> web.StreamResponse:
    """End every session of a user: revoked in the database (every instance refuses them),
    their sockets here closed now, the other instances told through the bus."""
    raw = request.match_info["user_id"]
    user_id = int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 19 else 0
    ended = await _found(
        svc.sign_out_user(request.app[SESSIONS_KEY], user_id, by=_who(request)), "no such user"
    )
    await _announce_signouts(request, ended)
    return _done("/admin", _("%(count)s session(s) ended.", count=len(ended)))


async def _queues_ctx(request: web.Request) -> dict[str, Any]:
    queues = await svc.list_queues(request.app[SESSIONS_KEY], _yaml_skills(request))
    return _page(request, _("Queues"), queues=queues)


queues_page = _listing("admin_queues.html", _queues_ctx)


@require_role(Role.ADMIN)
async def queue_submit(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    if not _queue_name_ok(name):
        raise web.HTTPNotFound(text=_("No such queue."))
    form = await request.post()

    async def change() -> web.StreamResponse:
        fields: dict[str, Any] = {
            key: str(form[key]).strip()
            for key in ("server", "title", "service_level_seconds", "wrapup_seconds")
            if key in form
        }
        if "required_skills" in form:
            raw = str(form["required_skills"])
            fields["required_skills"] = [s.strip() for s in raw.split(",") if s.strip()]
        data = QueueUpdate.model_validate(fields)
        await svc.update_queue(
            request.app[SESSIONS_KEY],
            name,
            data,
            _yaml_skills(request),
            by=_who(request),
            default_server=request.app[SETTINGS_KEY].general.server_id,
        )
        return _done("/admin/queues", _("Queue %(name)s saved.", name=name))

    again = partial(_queues_ctx, request)
    return await _save(request, "admin_queues.html", again, change, about=f"{name}: ")


async def _lists_ctx(request: web.Request) -> dict[str, Any]:
    lists = [
        (kind, KIND_LABELS[kind], await svc.list_choices(request.app[SESSIONS_KEY], kind))
        for kind in KINDS
    ]
    return _page(request, _("Pause reasons and dispositions"), lists=lists)


lists_page = _listing("admin_lists.html", _lists_ctx)


@require_role(Role.ADMIN)
async def choice_add_submit(request: web.Request) -> web.StreamResponse:
    kind = _kind(request)
    form = await request.post()

    async def add() -> web.StreamResponse:
        data = ChoiceCreate.model_validate({"name": str(form.get("name", ""))})
        await svc.add_choice(request.app[SESSIONS_KEY], kind, data.name, by=_who(request))
        return _done("/admin/lists", _("%(name)s added.", name=data.name))

    return await _save(request, "admin_lists.html", partial(_lists_ctx, request), add)


@require_role(Role.ADMIN)
async def choice_remove_submit(request: web.Request) -> web.StreamResponse:
    kind = _kind(request)
    out = await _found(
        svc.remove_choice(
            request.app[SESSIONS_KEY], kind, int_param(request, "choice_id"), by=_who(request)
        ),
        _("No such entry in the list."),
    )
    return _done("/admin/lists", _("%(name)s removed.", name=out.name))


async def _tokens_ctx(request: web.Request, **extra: Any) -> dict[str, Any]:
    sessions = request.app[SESSIONS_KEY]
    return _page(
        request,
        _("API tokens"),
        tokens=await svc.list_tokens(sessions),
        users=await svc.list_users(sessions),
        scopes=SCOPES,
        me=current_user(request).id,
        **extra,
    )


tokens_page = _listing("admin_tokens.html", partial(_tokens_ctx, made=""))


@require_role(Role.ADMIN)
async def token_create_submit(request: web.Request) -> web.StreamResponse:
    form = await request.post()

    async def make() -> web.StreamResponse:
        data = TokenCreate.model_validate(
            {
                "name": str(form.get("name", "")),
                "scopes": [str(s) for s in form.getall("scopes", [])],
                "days": str(form.get("days", "90")),
                "user_id": str(form.get("user_id", "")) or None,
            }
        )
        token, out = await svc.make_token(
            request.app[SESSIONS_KEY],
            user_id=data.user_id or current_user(request).id,
            name=data.name,
            scopes=list(data.scopes),
            days=data.days,
            by=_who(request),
        )
        # Shown here once: the page is the answer to the POST, never stored or redirected to.
        ctx = await _tokens_ctx(request, made=token, made_name=out.name)
        response = aiohttp_jinja2.render_template("admin_tokens.html", request, ctx, status=201)
        response.headers["Cache-Control"] = "no-store"
        return response

    return await _save(request, "admin_tokens.html", partial(_tokens_ctx, request, made=""), make)


@require_role(Role.ADMIN)
async def token_revoke_submit(request: web.Request) -> web.StreamResponse:
    revoke = svc.revoke_token(
        request.app[SESSIONS_KEY], int_param(request, "token_id"), by=_who(request)
    )
    out = await _found(revoke, _("No such token."))
    return _done("/admin/tokens", _("Token %(name)s revoked.", name=out.name))


@require_role(Role.ADMIN)
async def audit_page(request: web.Request) -> web.StreamResponse:
    raw = request.query.get("before", "")
    before = int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 19 else None
    items, next_before = await svc.audit_entries(
        request.app[SESSIONS_KEY], limit=100, before=before
    )
    ctx = _page(request, _("Audit log"), entries=items, next_before=next_before)
    return aiohttp_jinja2.render_template("admin_audit.html", request, ctx)


@require_role(Role.ADMIN)
async def tariffs_page(request: web.Request) -> web.StreamResponse:
    ctx = _page(request, _("Tariffs"), plans=await svc.list_tariffs(request.app[SESSIONS_KEY]))
    return aiohttp_jinja2.render_template("admin_tariffs.html", request, ctx)


@require_role(Role.ADMIN)
async def tariffs_submit(request: web.Request) -> web.StreamResponse:
    # request.post(), not multipart(): the CSRF check has read the form already (and kept it)
    form = await request.post()
    files = [
        (f.filename, f.file.read())
        for f in form.getall("files", [])
        if isinstance(f, FileField) and f.filename
    ]
    check_only = form.get("check_only") == "on"
    result = await svc.upload_tariffs(
        request.app[SESSIONS_KEY], files, check_only=check_only, by=_who(request)
    )
    if result.saved:
        names = ", ".join(f"{p.name} ({p.rates})" for p in result.plans)
        return _done("/admin/tariffs", _("Imported: %(plans)s.", plans=names))
    ctx = _page(
        request,
        _("Tariffs"),
        plans=await svc.list_tariffs(request.app[SESSIONS_KEY]),
        result=result,
        checked=check_only,
        nofile=not files,
    )
    status = 400 if result.errors or not files else 200
    return aiohttp_jinja2.render_template("admin_tariffs.html", request, ctx, status=status)


@require_role(Role.ADMIN)
async def ivr_page(request: web.Request) -> web.StreamResponse:
    ctx = _page(request, _("IVR menus"), ivr=_ivr(request))
    return aiohttp_jinja2.render_template("admin_ivr.html", request, ctx)


def setup(app: web.Application) -> None:
    add_template_dir(app, Path(__file__).parent / "templates")
    app.router.add_get("/admin", admin_page, name="admin")
    app.router.add_get("/admin/users/new", new_user_page, name="admin.user_new")
    app.router.add_post("/admin/users/new", new_user_submit)
    app.router.add_get("/admin/users/{user_id}", edit_user_page, name="admin.user")
    app.router.add_post("/admin/users/{user_id}", edit_user_submit)
    app.router.add_post("/admin/users/{user_id}/signout", end_sessions, name="admin_signout")
    app.router.add_get("/admin/queues", queues_page, name="admin.queues")
    app.router.add_post("/admin/queues/{name}", queue_submit)
    app.router.add_get("/admin/lists", lists_page, name="admin.lists")
    app.router.add_post("/admin/lists/{kind}", choice_add_submit)
    app.router.add_post("/admin/lists/{kind}/{choice_id}/remove", choice_remove_submit)
    app.router.add_get("/admin/tokens", tokens_page, name="admin.tokens")
    app.router.add_post("/admin/tokens", token_create_submit)
    app.router.add_post("/admin/tokens/{token_id}/revoke", token_revoke_submit)
    app.router.add_get("/admin/audit", audit_page, name="admin.audit")
    app.router.add_get("/admin/tariffs", tariffs_page, name="admin.tariffs")
    app.router.add_post("/admin/tariffs", tariffs_submit)
    app.router.add_get("/admin/ivr", ivr_page, name="admin.ivr")
    add_routes(app)
