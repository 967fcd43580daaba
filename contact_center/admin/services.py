"""What the admin pages and the admin API do, in one place: users, queues, the editable lists
(pause reasons, dispositions), API tokens — each change written with its audit row in the same
transaction (who, what, before and after)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from contact_center.admin.schemas import (
    AuditOut,
    ChoiceOut,
    IvrCheck,
    IvrMenu,
    IvrNode,
    QueueOut,
    QueueUpdate,
    TariffPlanOut,
    TariffResult,
    TokenOut,
    UserCreate,
    UserOut,
    UserUpdate,
)
from contact_center.i18n import gettext as _
from contact_center.store.db import utcnow
from contact_center.store.models import AdminChoice, ApiToken, AuditLog, Queue, User
from contact_center.web.auth import end_user_sessions, hash_password
from contact_center.web.tokens import MadeToken, TokenError, create_token

# The lists the code had before they were stored: the seed (also in migration 0007_admin).
DEFAULT_CHOICES: dict[str, tuple[str, ...]] = {
    "pause_reason": ("break", "lunch", "training", "meeting", "after-call work", "technical"),
    "disposition": (
        "resolved",
        "callback",
        "escalated",
        "sale",
        "complaint",
        "wrong number",
        "other",
    ),
}
HAS_SERVER_ID = hasattr(User, "server_id")  # users.server_id comes with migration 0005


class AdminError(ValueError):
    """An admin change cannot be made; the message says why (shown as it is)."""


class NotFound(AdminError):
    pass


class Conflict(AdminError):
    pass


def audit(
    db: AsyncSession, who: str, action: str, target: str, before: Any = None, after: Any = None
) -> None:
    db.add(
        AuditLog(
            at=utcnow(),
            user_login=who[:80],
            action=action[:60],
            target=target[:200],
            detail={"before": before, "after": after},
        )
    )


# --- users -------------------------------------------------------------------------------------


def user_out(user: User) -> UserOut:
    return UserOut(
        id=user.id,
        login=user.login,
        display_name=user.display_name or user.login,
        role=user.role,  # type: ignore[arg-type]
        interface=user.interface,
        queues={str(k): int(v or 0) for k, v in dict(user.queues or {}).items()},
        skills={str(k): int(v or 0) for k, v in dict(user.skills or {}).items()},
        server_id=str(getattr(user, "server_id", "") or ""),
        active=bool(user.active),
        language=user.language or "",
    )


def _user_view(user: User) -> dict[str, Any]:
    return user_out(user).model_dump(exclude={"id"})


async def list_users(sessions: async_sessionmaker[AsyncSession]) -> list[UserOut]:
    async with sessions() as db:
        return [user_out(u) for u in await db.scalars(select(User).order_by(User.login))]


async def get_user(sessions: async_sessionmaker[AsyncSession], user_id: int) -> UserOut:
    async with sessions() as db:
        user = await db.get(User, user_id)
        if user is None:
            raise NotFound(_("no such user"))
        return user_out(user)


async def create_user(
    sessions: async_sessionmaker[AsyncSession], data: UserCreate, *, by: str
) -> UserOut:
    user = User(
        login=data.login,
        display_name=data.display_name or data.login,
        password_hash=hash_password(data.password),
        role=data.role,
        interface=data.interface,
        queues=dict(data.queues),
        skills=dict(data.skills),
        active=True,
        created_at=utcnow(),
        language=data.language,
    )
    if HAS_SERVER_ID:
        user.server_id = data.server_id  # type: ignore[attr-defined]
    try:
        async with sessions.begin() as db:
            if await db.scalar(select(User.id).where(User.login == data.login)) is not None:
                raise Conflict(_("user %(login)s already exists", login=data.login))
            db.add(user)
            await db.flush()
            audit(db, by, "user.create", f"user {data.login}", None, _user_view(user))
            return user_out(user)
    except IntegrityError:
        raise Conflict(_("user %(login)s already exists", login=data.login)) from None


async def update_user(
    sessions: async_sessionmaker[AsyncSession],
    user_id: int,
    data: UserUpdate,
    *,
    by: str,
    by_id: int,
) -> tuple[UserOut, list[str]]:
    """The changed user and the sessions ended (a disabled user is signed out everywhere)."""
    changes = data.model_dump(exclude_unset=True, exclude_none=True)
    async with sessions.begin() as db:
        user = await db.get(User, user_id)
        if user is None:
            raise NotFound(_("no such user"))
        if user_id == by_id and (
            changes.get("active") is False or changes.get("role", "admin") != "admin"
        ):
            raise Conflict(_("you cannot disable yourself or take away your own admin role"))
        before = _user_view(user)
        for key, value in changes.items():
            if key == "server_id" and not HAS_SERVER_ID:
                continue
            setattr(user, key, value)
        after = _user_view(user)
        if after != before:
            audit(db, by, "user.update", f"user {user.login}", before, after)
        out = user_out(user)
    ended = await end_user_sessions(sessions, user_id) if changes.get("active") is False else []
    return out, ended


async def set_password(
    sessions: async_sessionmaker[AsyncSession], user_id: int, password: str, *, by: str
) -> list[str]:
    """A new password (the hash never goes into the audit row); every session ends."""
    async with sessions.begin() as db:
        user = await db.get(User, user_id)
        if user is None:
            raise NotFound(_("no such user"))
        user.password_hash = hash_password(password)
        audit(db, by, "user.password", f"user {user.login}", None, {"password": "changed"})
    return await end_user_sessions(sessions, user_id)


async def sign_out_user(
    sessions: async_sessionmaker[AsyncSession], user_id: int, *, by: str
) -> list[str]:
    async with sessions() as db:
        user = await db.get(User, user_id)
        if user is None:
            raise NotFound(_("no such user"))
        login = user.login
    ended = await end_user_sessions(sessions, user_id)
    async with sessions.begin() as db:
        audit(db, by, "user.signout", f"user {login}", None, {"sessions_ended": len(ended)})
    return ended


# --- queues ------------------------------------------------------------------------------------


def queue_out(name: str, row: Queue | None, yaml_skills: Mapping[str, Sequence[str]]) -> QueueOut:
    stored = [str(s) for s in ((row.skills or {}).get("required", ()) if row else ())]
    from_yaml = [str(s) for s in yaml_skills.get(name, ())]
    return QueueOut(
        name=name,
        server=row.server if row else "",
        title=(row.title if row else "") or "",
        service_level_seconds=row.service_level_seconds if row else 20,
        wrapup_seconds=row.wrapup_seconds if row else 0,
        required_skills=stored or from_yaml,
        skills_from="admin" if stored else ("routing.yaml" if from_yaml else ""),
    )


async def list_queues(
    sessions: async_sessionmaker[AsyncSession],
    yaml_skills: Mapping[str, Sequence[str]],
    known: Sequence[str] = (),
) -> list[QueueOut]:
    """Every queue the database, routing.yaml or a user names."""
    async with sessions() as db:
        rows = {q.name: q for q in await db.scalars(select(Queue))}
        users = list(await db.scalars(select(User.queues)))
    names = set(rows) | set(yaml_skills) | set(known)
    for queues in users:
        names.update(str(q) for q in dict(queues or {}))
    return [queue_out(n, rows.get(n), yaml_skills) for n in sorted(names)]


async def update_queue(
    sessions: async_sessionmaker[AsyncSession],
    name: str,
    data: QueueUpdate,
    yaml_skills: Mapping[str, Sequence[str]],
    *,
    by: str,
    default_server: str,
) -> QueueOut:
    changes = data.model_dump(exclude_unset=True, exclude_none=True)
    async with sessions.begin() as db:
        row = await db.scalar(select(Queue).where(Queue.name == name))
        before = queue_out(name, row, yaml_skills).model_dump() if row else None
        if row is None:
            row = Queue(
                name=name,
                server=default_server,
                title="",
                service_level_seconds=20,
                wrapup_seconds=0,
                record=True,
                supervisors={},
                skills={},
            )
            db.add(row)
        for key, value in changes.items():
            if key == "required_skills":
                row.skills = {"required": list(dict.fromkeys(value))}
            else:
                setattr(row, key, value)
        await db.flush()
        out = queue_out(name, row, yaml_skills)
        if out.model_dump() != before:
            audit(db, by, "queue.update", f"queue {name}", before, out.model_dump())
        return out


async def stored_queue_skills(sessions: async_sessionmaker[AsyncSession]) -> dict[str, list[str]]:
    """The skills an admin set per queue (they override routing.yaml's)."""
    async with sessions() as db:
        rows = await db.execute(select(Queue.name, Queue.skills))
        return {
            str(n): [str(s) for s in (sk or {}).get("required", ())]
            for n, sk in rows.all()
            if (sk or {}).get("required")
        }


# --- pause reasons and dispositions -----------------------------------------------------------


async def _seed(db: AsyncSession, kind: str) -> None:
    """A database made without the migration (tests, ``create_all``) gets today's lists."""
    count = await db.scalar(select(func.count()).where(AdminChoice.kind == kind))
    if not count:
        for n, name in enumerate(DEFAULT_CHOICES[kind]):
            db.add(AdminChoice(kind=kind, name=name, position=n, active=True))
        await db.flush()


async def list_choices(sessions: async_sessionmaker[AsyncSession], kind: str) -> list[ChoiceOut]:
    query = (
        select(AdminChoice)
        .where(AdminChoice.kind == kind)
        .order_by(AdminChoice.position, AdminChoice.id)
    )
    async with sessions() as db:  # a read: the console asks at every page and pause
        rows = list(await db.scalars(query))
    if not rows:
        try:
            async with sessions.begin() as db:
                await _seed(db, kind)
        except IntegrityError:
            pass  # another request seeded it at the same moment
        async with sessions() as db:
            rows = list(await db.scalars(query))
    return [ChoiceOut(id=c.id, name=c.name, position=c.position, active=c.active) for c in rows]


async def choice_names(sessions: async_sessionmaker[AsyncSession], kind: str) -> list[str]:
    """The names people may pick now (active ones, in order) — what the console offers."""
    return [c.name for c in await list_choices(sessions, kind) if c.active]


async def add_choice(
    sessions: async_sessionmaker[AsyncSession], kind: str, name: str, *, by: str
) -> ChoiceOut:
    async with sessions.begin() as db:
        await _seed(db, kind)
        row = await db.scalar(
            select(AdminChoice).where(AdminChoice.kind == kind, AdminChoice.name == name)
        )
        if row is not None and row.active:
            raise Conflict(_("%(name)s is already in the list", name=name))
        last = await db.scalar(
            select(func.max(AdminChoice.position)).where(AdminChoice.kind == kind)
        )
        if row is None:
            row = AdminChoice(kind=kind, name=name, position=int(last or 0) + 1, active=True)
            db.add(row)
        else:
            row.active, row.position = True, int(last or 0) + 1
        await db.flush()
        audit(db, by, f"{kind}.add", f"{kind} {name}", None, {"name": name})
        return ChoiceOut(id=row.id, name=row.name, position=row.position, active=True)


async def remove_choice(
    sessions: async_sessionmaker[AsyncSession], kind: str, choice_id: int, *, by: str
) -> ChoiceOut:
    """Taken off the list (kept, inactive: past calls and pauses still name it)."""
    async with sessions.begin() as db:
        row = await db.get(AdminChoice, choice_id)
        if row is None or row.kind != kind or not row.active:
            raise NotFound(_("no such entry in the list"))
        row.active = False
        audit(db, by, f"{kind}.remove", f"{kind} {row.name}", {"name": row.name}, None)
        return ChoiceOut(id=row.id, name=row.name, position=row.position, active=False)


# --- API tokens --------------------------------------------------------------------------------


def _aware(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


def token_out(tok: ApiToken, login: str) -> TokenOut:
    expires = _aware(tok.expires_at)
    assert expires is not None
    state = "revoked" if tok.revoked_at else ("expired" if expires <= utcnow() else "active")
    return TokenOut(
        id=tok.id,
        name=tok.name,
        prefix=tok.prefix,
        user_login=login,
        scopes=[str(s) for s in (tok.scopes or {}).get("scopes", ())],
        created_by=tok.created_by,
        created_at=_aware(tok.created_at),  # type: ignore[arg-type]
        expires_at=expires,
        revoked_at=_aware(tok.revoked_at),
        last_used_at=_aware(tok.last_used_at),
        state=state,  # type: ignore[arg-type]
    )


async def list_tokens(sessions: async_sessionmaker[AsyncSession]) -> list[TokenOut]:
    async with sessions() as db:
        rows = await db.execute(
            select(ApiToken, User.login)
            .join(User, User.id == ApiToken.user_id)
            .order_by(ApiToken.id.desc())
        )
        return [token_out(t, login) for t, login in rows.all()]


async def make_token(
    sessions: async_sessionmaker[AsyncSession],
    *,
    user_id: int,
    name: str,
    scopes: list[str],
    days: int,
    by: str,
) -> tuple[str, TokenOut]:
    async with sessions.begin() as db:
        try:
            made: MadeToken = await create_token(
                db, user_id=user_id, name=name, scopes=scopes, days=days, created_by=by
            )
        except TokenError as exc:
            raise AdminError(str(exc)) from None
        login = await db.scalar(select(User.login).where(User.id == user_id)) or ""
        out = token_out(made.row, login)
        audit(
            db,
            by,
            "token.create",
            f"token {name}",
            None,
            out.model_dump(
                mode="json", include={"name", "prefix", "user_login", "scopes", "expires_at"}
            ),
        )
        return made.token, out


async def revoke_token(
    sessions: async_sessionmaker[AsyncSession], token_id: int, *, by: str
) -> TokenOut:
    async with sessions.begin() as db:
        row = await db.get(ApiToken, token_id)
        if row is None:
            raise NotFound(_("no such token"))
        login = await db.scalar(select(User.login).where(User.id == row.user_id)) or ""
        if row.revoked_at is None:
            row.revoked_at = utcnow()
            audit(
                db,
                by,
                "token.revoke",
                f"token {row.name}",
                {"state": "active"},
                {"state": "revoked"},
            )
        return token_out(row, login)


# --- the audit log -----------------------------------------------------------------------------


async def audit_entries(
    sessions: async_sessionmaker[AsyncSession], *, limit: int = 50, before: int | None = None
) -> tuple[list[AuditOut], int | None]:
    """The newest entries first; ``before``: only entries with a smaller id (next page)."""
    query = select(AuditLog).order_by(AuditLog.id.desc()).limit(limit + 1)
    if before is not None:
        query = query.where(AuditLog.id < before)
    async with sessions() as db:
        rows = list(await db.scalars(query))
    more = len(rows) > limit
    rows = rows[:limit]
    items = [
        AuditOut(
            id=r.id,
            at=_aware(r.at),  # type: ignore[arg-type]
            who=r.user_login,
            action=r.action,
            target=r.target,
            before=(r.detail or {}).get("before"),
            after=(r.detail or {}).get("after", {k: v for k, v in (r.detail or {}).items()}),
        )
        for r in rows
    ]
    return items, (rows[-1].id if more and rows else None)


# --- tariffs and IVR menus -----------------------------------------------------------------------


async def list_tariffs(sessions: async_sessionmaker[AsyncSession]) -> list[TariffPlanOut]:
    from contact_center.store.models import TariffPlan, TariffRate

    async with sessions() as db:
        counts = dict(
            (
                await db.execute(
                    select(TariffRate.plan_id, func.count()).group_by(TariffRate.plan_id)
                )
            ).all()
        )
        plans = list(await db.scalars(select(TariffPlan).order_by(TariffPlan.name)))
    return [
        TariffPlanOut(
            name=p.name,
            direction=p.direction,
            currency=p.currency,
            rates=int(counts.get(p.id, 0)),
            imported_at=_aware(p.imported_at),
        )
        for p in plans
    ]


async def upload_tariffs(
    sessions: async_sessionmaker[AsyncSession],
    files: Sequence[tuple[str, bytes]],
    *,
    check_only: bool,
    by: str,
) -> TariffResult:
    """Check every file as ``tariffs import`` does; save all of them, or none."""
    from contact_center.billing.repository import save_plans
    from contact_center.billing.upload import check_uploads

    plans, errors = check_uploads(files)
    checked = [
        TariffPlanOut(name=p.name, direction=p.direction, currency=p.currency, rates=len(p.rates))
        for p in plans
    ]
    if errors or check_only or not plans:
        return TariffResult(saved=False, plans=checked, errors=[str(e) for e in errors])
    saved = await save_plans(sessions, plans)
    async with sessions.begin() as db:
        audit(
            db,
            by,
            "tariffs.import",
            ", ".join(name for name, _ in saved),
            None,
            {name: {"rates": rates} for name, rates in saved},
        )
    return TariffResult(saved=True, plans=checked, errors=[])


def ivr_check(directory: Path) -> IvrCheck:
    """The menus as ``contact-center ivr check`` sees them: the usable ones and every problem."""
    from contact_center.ivr.menus import check_directory, node_targets

    if not directory.is_dir():
        return IvrCheck(
            directory=str(directory), menus=[], problems=[f"{directory}: not a directory"]
        )
    menus, errors = check_directory(directory, str(directory).rstrip("/"))
    out = [
        IvrMenu(
            name=m.name,
            title=m.title,
            file=Path(m.path).name,
            languages=list(m.languages),
            start=m.start,
            nodes=[
                IvrNode(
                    id=n.id,
                    type=n.type,
                    line=n.line,
                    goes_to=[f"{field} → {target}" for field, target, _ in node_targets(n)],
                )
                for n in sorted(m.nodes.values(), key=lambda n: n.line)
            ],
        )
        for m in sorted(menus.menus.values(), key=lambda m: m.name)
    ]
    return IvrCheck(directory=str(directory), menus=out, problems=[str(e) for e in errors])
