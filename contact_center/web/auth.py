"""Sign-in, sessions, CSRF and role checks (default deny); lockout: :mod:`.signin`.

* Passwords are argon2id hashes (argon2-cffi).
* A session is a random token in an ``HttpOnly``, ``SameSite=Lax`` cookie (``Secure`` when
  ``web.secure_cookies``); the database keeps only its SHA-256, so a leaked table signs no one
  in, and any web instance can check it (several instances behind a load balancer).
* Every unsafe request (POST, PUT, PATCH, DELETE) must carry the session's CSRF token in the
  ``X-CSRF-Token`` header or a ``csrf_token`` form field.
* Default deny: a route is reachable only if its handler is marked with :func:`require_role`
  or :func:`public`; anything else answers 403 even to an admin, so a forgotten decorator is a
  bug you see at once rather than a hole.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, timedelta
from enum import StrEnum
from functools import wraps
from typing import Any, TypeVar

from aiohttp import web
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from contact_center.store.db import utcnow
from contact_center.store.models import User, WebSession
from contact_center.web.signin import PasswordPool

SESSION_COOKIE = "cc_session"
LOGIN_CSRF_COOKIE = "cc_login_csrf"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
SESSION_LIFETIME = timedelta(hours=12)
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
H = TypeVar("H", bound=Handler)

_hasher = PasswordHasher()


class Role(StrEnum):
    OPERATOR = "operator"
    SUPERVISOR = "supervisor"
    QA = "qa"
    ADMIN = "admin"


class AuthError(Exception):
    """Base of sign-in errors."""


class UnknownRole(AuthError, ValueError):
    def __init__(self, role: str) -> None:
        super().__init__(f"unknown role {role!r} (expected one of {', '.join(Role)})")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


# A real hash to verify against when the login does not exist, so that unknown and known
# logins take the same time and cannot be told apart.
_DUMMY_HASH = hash_password(secrets.token_hex(8))


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class CurrentUser:
    """The signed-in user of a request (``request[USER_KEY]``)."""

    id: int
    login: str
    display_name: str
    role: str
    interface: str
    session_id: str  # hash of the session token: safe to publish (sign-out on all instances)
    csrf_token: str
    language: str = ""  # the user's chosen language; "" follows the browser
    server_id: str = ""  # the Asterisk server of their phone; empty: the deployment's only one

    def has_role(self, *roles: str) -> bool:
        return self.role == Role.ADMIN or self.role in roles


USER_KEY = web.RequestKey("cc_user", CurrentUser)


def current_user(request: web.Request) -> CurrentUser:
    """The signed-in user; only call it from handlers behind :func:`require_role`."""
    user = request.get(USER_KEY)
    if user is None:
        raise web.HTTPUnauthorized(text="sign in first")
    return user


# --- route marking ---------------------------------------------------------------------------

_ROLES_ATTR = "__cc_roles__"
_PUBLIC_ATTR = "__cc_public__"


def require_role(*roles: str) -> Callable[[H], H]:
    """Allow a handler to signed-in users with one of ``roles`` (admin always passes).

    ``@require_role("supervisor")`` on a handler; use ``Role`` values or their strings.
    """
    for role in roles:
        if role not in Role.__members__.values():
            raise UnknownRole(role)
    allowed = frozenset(roles)

    def decorate(handler: H) -> H:
        @wraps(handler)
        async def checked(request: web.Request) -> web.StreamResponse:
            # Checked here too (not only in the middleware) so a handler called through
            # another route table or a sub-app still cannot run for the wrong role.
            user = request.get(USER_KEY)
            if user is None:
                raise web.HTTPUnauthorized(text="sign in first")
            if not user.has_role(*allowed):
                raise web.HTTPForbidden(text=f"role {user.role} may not do this")
            return await handler(request)

        setattr(checked, _ROLES_ATTR, allowed)
        return checked  # type: ignore[return-value]

    return decorate


def public(handler: H) -> H:
    """Mark a handler reachable without signing in (login page, health check)."""
    setattr(handler, _PUBLIC_ATTR, True)
    return handler


def is_public(handler: Any) -> bool:
    return bool(getattr(handler, _PUBLIC_ATTR, False))


def roles_of(handler: Any) -> frozenset[str] | None:
    roles = getattr(handler, _ROLES_ATTR, None)
    return roles if isinstance(roles, frozenset) else None


# --- sessions --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NewSession:
    token: str  # goes into the cookie, never stored
    user: CurrentUser


def _as_current(user: User, session_id: str, csrf: str) -> CurrentUser:
    return CurrentUser(
        id=user.id,
        login=user.login,
        display_name=user.display_name or user.login,
        role=user.role,
        interface=user.interface,
        session_id=session_id,
        csrf_token=csrf,
        language=user.language or "",
        server_id=user.server_id or "",
    )


async def authenticate(
    sessions: async_sessionmaker[AsyncSession], login: str, password: str, pool: PasswordPool
) -> User | None:
    """The active user with this login and password, else None (constant-ish time).

    The argon2 check runs in ``pool``, off the event loop, and after the database
    connection is given back: a burst of sign-ins must not hold the connection pool."""
    async with sessions() as db:
        user = (await db.execute(select(User).where(User.login == login))).scalar_one_or_none()
    if user is None or not user.active:
        await pool.run(verify_password, _DUMMY_HASH, password)
        return None
    return user if await pool.run(verify_password, user.password_hash, password) else None


async def open_session(
    sessions: async_sessionmaker[AsyncSession], user: User, remote: str = ""
) -> NewSession:
    token = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    now = utcnow()
    sid = token_hash(token)
    async with sessions.begin() as db:
        db.add(
            WebSession(
                id=sid,
                user_id=user.id,
                csrf_token=csrf,
                created_at=now,
                expires_at=now + SESSION_LIFETIME,
                remote=remote[:80],
            )
        )
    return NewSession(token=token, user=_as_current(user, sid, csrf))


async def load_session(
    sessions: async_sessionmaker[AsyncSession], token: str
) -> CurrentUser | None:
    """The user of a live session token, or None if unknown, expired, revoked or inactive."""
    sid = token_hash(token)
    async with sessions() as db:
        row = (
            await db.execute(
                select(WebSession, User)
                .join(User, User.id == WebSession.user_id)
                .where(WebSession.id == sid)
            )
        ).first()
    if row is None:
        return None
    ws, user = row
    expires = ws.expires_at
    if expires.tzinfo is None:  # SQLite returns naive datetimes (stored as UTC)
        expires = expires.replace(tzinfo=UTC)
    if ws.revoked_at is not None or expires <= utcnow() or not user.active:
        return None
    return _as_current(user, sid, ws.csrf_token)


async def session_alive(sessions: async_sessionmaker[AsyncSession], token: str) -> bool:
    """Whether a session token still signs its user in (what :func:`load_session` checks),
    without loading the user."""
    return token in await sessions_alive(sessions, [token])


async def sessions_alive(
    sessions: async_sessionmaker[AsyncSession], tokens: Iterable[str]
) -> set[str]:
    """Which of ``tokens`` still sign their users in, in one query: the open consoles
    recheck their sessions once a minute, and a thousand of them, one query each, added up
    on the event loop (and on every screen pop waiting behind it)."""
    by_sid = {token_hash(token): token for token in tokens}
    if not by_sid:
        return set()
    async with sessions() as db:
        rows = (
            await db.execute(
                select(WebSession.id, WebSession.expires_at, WebSession.revoked_at, User.active)
                .join(User, User.id == WebSession.user_id)
                .where(WebSession.id.in_(sorted(by_sid)))
            )
        ).all()
    now = utcnow()
    alive: set[str] = set()
    for sid, expires, revoked, active in rows:
        if expires.tzinfo is None:  # SQLite returns naive datetimes (stored as UTC)
            expires = expires.replace(tzinfo=UTC)
        if revoked is None and expires > now and active:
            alive.add(by_sid[sid])
    return alive


class SessionChecks:
    """The periodic session checks of many sockets, gathered ``window`` seconds and asked in
    one query (:func:`sessions_alive`)."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], window: float = 1.0) -> None:
        self._sessions = sessions
        self._window = window
        self._waiting: dict[str, list[asyncio.Future[bool]]] = {}
        self._task: asyncio.Task[None] | None = None

    async def alive(self, token: str) -> bool:
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(token, []).append(future)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._ask(), name="session-checks")
        return await future

    async def _ask(self) -> None:
        await asyncio.sleep(self._window)
        batch, self._waiting = self._waiting, {}
        try:
            alive = await sessions_alive(self._sessions, list(batch))
        except Exception as exc:
            for futures in batch.values():
                for future in futures:
                    if not future.done():
                        future.set_exception(exc)
            return
        for token, futures in batch.items():
            for future in futures:
                if not future.done():
                    future.set_result(token in alive)


async def revoke_session(sessions: async_sessionmaker[AsyncSession], session_id: str) -> None:
    async with sessions.begin() as db:
        await db.execute(
            update(WebSession).where(WebSession.id == session_id).values(revoked_at=utcnow())
        )


async def set_language(
    sessions: async_sessionmaker[AsyncSession], user_id: int, language: str
) -> None:
    """The language of the user's pages from the next request on ("" follows the browser)."""
    async with sessions.begin() as db:
        await db.execute(update(User).where(User.id == user_id).values(language=language))


async def end_user_sessions(sessions: async_sessionmaker[AsyncSession], user_id: int) -> list[str]:
    """Revoke every live session of a user (password changed, user disabled, admin's
    sign-out); returns their ids, for closing their websockets."""
    async with sessions.begin() as db:
        ids = list(
            await db.scalars(
                select(WebSession.id).where(
                    WebSession.user_id == user_id, WebSession.revoked_at.is_(None)
                )
            )
        )
        if ids:
            await db.execute(
                update(WebSession).where(WebSession.id.in_(ids)).values(revoked_at=utcnow())
            )
    return ids


def set_session_cookie(response: web.StreamResponse, token: str, *, secure: bool) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        token,
        httponly=True,
        secure=secure,
        samesite="Lax",
        path="/",
        max_age=int(SESSION_LIFETIME.total_seconds()),
    )


def csrf_ok(expected: str, given: str | None) -> bool:
    return bool(given) and secrets.compare_digest(expected, str(given))


async def csrf_from_request(request: web.Request) -> str | None:
    header = request.headers.get(CSRF_HEADER)
    if header:
        return header
    if request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        form = await request.post()
        value = form.get(CSRF_FIELD)
        return value if isinstance(value, str) else None
    return None
