"""Operators as the users table says (penalties from skill levels) and their intents as
``operator_sessions`` keeps them, on SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import update

from contact_center.routing.directory import StoreOperators
from contact_center.routing.operators import Intent, Operator
from contact_center.store.models import Queue, User
from tests.integration.web_support import add_user, database


async def test_penalties_come_from_skill_levels_and_intents_survive(db_url: str) -> None:
    async with database(db_url) as (_, sessions):
        await add_user(sessions, "anna", "operator", "PJSIP/101")
        await add_user(sessions, "boris", "operator", "PJSIP/102")
        await add_user(sessions, "sue", "supervisor", "PJSIP/105")
        async with sessions.begin() as db:
            db.add(Queue(name="billing", wrapup_seconds=30))
            db.add(Queue(name="sales", wrapup_seconds=10))
            await db.execute(
                update(User)
                .where(User.login == "anna")
                .values(queues={"billing": 1, "sales": 0}, skills={"billing": 4, "ru": 5})
            )
            await db.execute(
                update(User).where(User.login == "boris").values(queues={"billing": 0})
            )
        required = {"billing": ("billing", "ru")}
        directory = StoreOperators(sessions, queue_skills=lambda: required)
        assert [
            Operator("anna", "PJSIP/101", "Anna", {"billing": 2, "sales": 0}, 30),
            Operator("boris", "PJSIP/102", "Boris", {"billing": 5}, 30),
        ] == await directory.all()  # sue has no queues: not an operator here
        assert (await directory.operator("anna")) == (await directory.by_interface("PJSIP/101"))

        assert {} == await directory.load_intents()
        await directory.save_intent("anna", Intent("paused", "Auto-Pause", 1_790_000_000.0))
        await directory.save_intent("boris", Intent("available", "", 1_790_000_001.0))
        await directory.save_intent("anna", Intent("offline", "", 1_790_000_002.0))
        await directory.save_intent("nobody", Intent("available"))  # no such user: ignored
        assert {
            "anna": Intent("offline", ""),
            "boris": Intent("available", ""),
        } == await directory.load_intents()


async def test_every_operator_is_read_however_many_pages_they_fill(db_url: str) -> None:
    """The sweep's read of all operators goes a page at a time (the loop gets turns between
    pages): operators past the first pages, and those mixed with users without queues, are
    all there, once each, in order."""
    from contact_center.routing import directory as directory_module

    async with database(db_url) as (_, sessions):
        expected = []
        for n in range(directory_module.SLICE * 2 + 7):
            login = f"op{n:04d}"
            no_queues = n % 10 == 3  # a supervisor-like user between operators
            await add_user(
                sessions, login, "operator", f"PJSIP/{1000 + n}",
                queues=None if no_queues else {"support": n % 3},
            )  # fmt: skip
            if not no_queues:
                expected.append((login, f"PJSIP/{1000 + n}", {"support": n % 3}))
        operators = await StoreOperators(sessions).all()
        assert expected == [(op.login, op.interface, dict(op.queues)) for op in operators]
