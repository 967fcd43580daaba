"""API tokens for machine clients: ``Authorization: Bearer cct_…``.

* A token is 32 random bytes (256 bits) behind the ``cct_`` prefix, shown once when it is
  made. The database keeps its SHA-256 only: with that much entropy nobody can guess a token
  from its hash, so a slow password hash (argon2) would buy nothing and cost tens of
  milliseconds of CPU on every API request; SHA-256 also lets the lookup be one indexed read.
* A token acts as the user it belongs to (their role, and nothing once they are disabled),
  further limited to its **scopes**: each ``/api/`` route needs one (``customers:read``,
  ``customers:write``, ``calls:read``, ``callbacks:write`` …, see :func:`scope_for`). A
  token reaches ``/api/`` only — no pages, no websocket.
* Only ``/api/`` requests are read for a token: ``/metrics`` has a bearer token of its own
  (``web.metrics_token``).
* A token expires (``expires_at``), can be revoked, and records when it was last used (written
  at most once a minute, not on every request).
* Bearer requests need no CSRF token: a browser never adds an ``Authorization`` header to a
  cross-site request by itself. A request that carries ``Authorization`` is judged by the
  token alone (a cookie beside it is ignored); cookie requests still need their CSRF token.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from aiohttp import web
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from contact_center.i18n import gettext as _
from contact_center.store.db import utcnow
from contact_center.store.models import ApiToken, User
from contact_center.web import auth
from contact_center.web.auth import USER_KEY, CurrentUser

TOKEN_PREFIX = "cct_"
LAST_USED_EVERY = timedelta(seconds=60)
MAX_DAYS = 730

# Every scope a token may carry; "read" scopes admit GET, "write" the unsafe methods.
SCOPES: tuple[str, ...] = (
    "customers:read",
    "customers:write",
    "calls:read",
    "calls:write",
    "callbacks:read",
    "callbacks:write",
    "campaigns:read",
    "campaigns:write",
    "stats:read",
    "exports:read",
    "webhooks:admin",
    "operator:write",
    "admin",
)

# /api/<first segment> → the scope family
_FAMILIES: dict[str, str] = {
    "customers": "customers",
    "orders": "customers",
    "calls": "calls",
    "history": "calls",
    "callbacks": "callbacks",
    "campaigns": "campaigns",
    "workspace": "customers",  # the console's contact corrections
    "stats": "stats",
    "exports": "exports",
    "webhooks": "webhooks:admin",
    "operator": "operator:write",
    "admin": "admin",
    "lists": "",  # the pause reasons and dispositions: any valid token reads them
    "openapi.json": "",
}


@dataclass(frozen=True, slots=True)
class TokenUse:
    """The token of a bearer request (``request[TOKEN_KEY]``)."""

    id: int
    name: str
    scopes: frozenset[str]


TOKEN_KEY = web.RequestKey("cc_api_token", TokenUse)


class TokenError(ValueError):
    """A token cannot be made as asked; the message says why."""


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def scope_for(method: str, path: str) -> str | None:
    """The scope a bearer request needs, "" for any valid token, None: tokens may not."""
    if not path.startswith("/api/"):
        return None
    first = path[len("/api/") :].split("/", 1)[0]
    family = _FAMILIES.get(first)
    if family is None:
        return None
    if family == "" or ":" in family or family == "admin":
        return family
    return f"{family}:{'read' if method in ('GET', 'HEAD') else 'write'}"


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def bearer_of(request: web.Request) -> str | None:
    """The token of an ``Authorization: Bearer`` header, "" when the header is malformed,
    None without the header."""
    header = request.headers.get("Authorization")
    if header is None:
        return None
    kind, _, value = header.strip().partition(" ")
    return value.strip() if kind.lower() == "bearer" else ""


async def load_bearer(
    sessions: async_sessionmaker[AsyncSession], token: str
) -> tuple[CurrentUser, TokenUse] | None:
    """The user and token of a live bearer token, or None if unknown, expired, revoked or its
    user is disabled. Records the use (at most once a minute)."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    digest = hash_token(token)
    async with sessions() as db:
        row = (
            await db.execute(
                select(ApiToken, User)
                .join(User, User.id == ApiToken.user_id)
                .where(ApiToken.token_hash == digest)
            )
        ).first()
    if row is None:
        return None
    tok, user = row
    now = utcnow()
    if tok.revoked_at is not None or _aware(tok.expires_at) <= now or not user.active:
        return None
    if tok.last_used_at is None or now - _aware(tok.last_used_at) >= LAST_USED_EVERY:
        async with sessions.begin() as db:
            await db.execute(update(ApiToken).where(ApiToken.id == tok.id).values(last_used_at=now))
    scopes = frozenset(str(s) for s in (tok.scopes or {}).get("scopes", ()))
    current = auth._as_current(user, f"token:{tok.id}", "")
    return current, TokenUse(id=tok.id, name=tok.name, scopes=scopes)


async def authenticate_request(
    request: web.Request, sessions: async_sessionmaker[AsyncSession]
) -> bool:
    """For ``load_user``: True when the request carries ``Authorization`` (then the token alone
    decides; a bad one answers 401), False to go on with the session cookie."""
    token = bearer_of(request)
    if token is None or not request.path.startswith("/api/"):
        return False  # elsewhere the header is not ours (/metrics has its own bearer)
    found = await load_bearer(sessions, token) if token else None
    if found is None:
        raise web.HTTPUnauthorized(
            text="unknown, expired or revoked API token",
            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )
    request[USER_KEY], request[TOKEN_KEY] = found
    return True


def is_bearer(request: web.Request) -> bool:
    return TOKEN_KEY in request


def actor(request: web.Request) -> str:
    """Who is asking, for audit rows: the login, and the token's name on a bearer request."""
    user = auth.current_user(request)
    use = request.get(TOKEN_KEY)
    return f"{user.login} (token {use.name})" if use is not None else user.login


def check_scope(request: web.Request) -> None:
    """For ``access_control``: a bearer request must reach an API route its scopes cover."""
    use = request[TOKEN_KEY]
    needed = scope_for(request.method, request.path)
    if needed is None:
        raise web.HTTPForbidden(text="API tokens reach /api/ routes only")
    if needed and needed not in use.scopes and "admin" not in use.scopes:
        raise web.HTTPForbidden(text=f"this token lacks the scope {needed}")


# --- making and revoking ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MadeToken:
    row: ApiToken
    token: str  # shown once, never stored


async def create_token(
    db: AsyncSession,
    *,
    user_id: int,
    name: str,
    scopes: list[str],
    days: int,
    created_by: str,
) -> MadeToken:
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown:
        raise TokenError(
            _(
                "unknown scope %(scope)s; one of %(scopes)s",
                scope=unknown[0],
                scopes=", ".join(SCOPES),
            )
        )
    if not scopes:
        raise TokenError(_("choose at least one scope"))
    if not 1 <= days <= MAX_DAYS:
        raise TokenError(_("a token lives 1 to %(days)s days", days=MAX_DAYS))
    if await db.get(User, user_id) is None:
        raise TokenError(_("no such user"))
    token = new_token()
    now = utcnow()
    row = ApiToken(
        user_id=user_id,
        name=name,
        token_hash=hash_token(token),
        prefix=token[: len(TOKEN_PREFIX) + 6],
        scopes={"scopes": sorted(set(scopes), key=SCOPES.index)},
        created_by=created_by,
        created_at=now,
        expires_at=now + timedelta(days=days),
    )
    db.add(row)
    await db.flush()
    return MadeToken(row=row, token=token)
