"""The shipped menus (ivr_menus/) run over real FastAGI TCP sessions, the simulator as Asterisk.

Each test is one call: the scripted caller presses digits, stays silent or hangs up, and the
test checks what the PBX was told (commands, channel variables, dialplan target), the domain
events the IVR emitted and what landed in the database.
"""

from __future__ import annotations

import asyncio
import shutil
import wave
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from contact_center.calls.events import (
    CallbackRequested,
    CallerIdentified,
    DomainEvent,
    IvrStep,
    RecordingMuted,
)
from contact_center.ivr import runner as runner_module
from contact_center.ivr.agi import FastAgiServer
from contact_center.ivr.cli import declared_prompts
from contact_center.ivr.data import SqlIvrData
from contact_center.ivr.menus import MenuLibrary
from contact_center.ivr.runner import CallOutcome, IvrRunner
from contact_center.ivr.session import AgiSession
from contact_center.sim.agi import (
    AgiCallResult,
    AgiEnvironment,
    HangUp,
    Press,
    ScriptedCaller,
    Silence,
    Step,
    run_fastagi,
)
from contact_center.store.db import create_engine, session_factory, utcnow
from contact_center.store.models import Base, Callback, Customer, Order, Payment
from tests.conftest import wait_for

MENUS = Path(__file__).resolve().parents[2] / "ivr_menus"
OPEN = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)  # Monday 13:00 in Moscow
CLOSED = datetime(2026, 11, 22, 20, 0, tzinfo=UTC)  # Sunday 23:00 in Moscow
HOLIDAY = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)
PAID_AT = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
ACCOUNT, PIN, CARD = "40817810", "1234", "4111111111111111"
CHEAP_ARGON2 = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


def write_silence(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\0\0" * 80)


@pytest.fixture(scope="module")
def menus_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shipped menu files, with stand-in WAVs so no espeak-ng run is needed."""
    directory = tmp_path_factory.mktemp("ivr_menus")
    for path in MENUS.glob("*.yaml"):
        shutil.copy(path, directory / path.name)
    for lang, name in declared_prompts(directory):
        write_silence(directory / "prompts" / lang / f"{name}.wav")
    return directory


async def seed(sessions: async_sessionmaker[AsyncSession]) -> int:
    now = utcnow()
    async with sessions() as db:
        customer = Customer(
            name="Ivan Petrov",
            account_number=ACCOUNT,
            pin_hash=CHEAP_ARGON2.hash(PIN),
            balance=Decimal("1520.50"),
            currency="RUB",
            language="ru",
            custom={},
            created_at=now,
            updated_at=now,
        )
        db.add(customer)
        await db.flush()
        db.add_all(
            [
                Payment(
                    customer_id=customer.id,
                    amount=Decimal("700.00"),
                    currency="RUB",
                    paid_at=PAID_AT,
                ),
                Payment(
                    customer_id=customer.id,
                    amount=Decimal("99.90"),
                    currency="RUB",
                    paid_at=datetime(2026, 10, 1, tzinfo=UTC),
                ),
                Order(
                    customer_id=customer.id,
                    number="100234",
                    status="shipped",
                    amount=Decimal("2490"),
                    currency="RUB",
                    created_at=now,
                    updated_at=now,
                ),
            ]
        )
        await db.commit()
        return customer.id


@dataclass
class Ivr:
    server: FastAgiServer
    sessions: async_sessionmaker[AsyncSession]
    customer_id: int
    events: list[DomainEvent] = field(default_factory=list)
    outcomes: list[CallOutcome] = field(default_factory=list)

    async def call(
        self,
        menu: str,
        steps: list[Step],
        *,
        linkedid: str = "1795344647.106",
        callerid: str = "+74951234567",
    ) -> AgiCallResult:
        return await run_fastagi(
            f"agi://127.0.0.1:{self.server.port}/ivr",
            [menu],
            caller=ScriptedCaller(steps),
            env=AgiEnvironment(callerid=callerid),
            linkedid=linkedid,
            timeout=10,
        )

    def steps(self, node: str | None = None) -> list[IvrStep]:
        return [
            e for e in self.events if isinstance(e, IvrStep) and (node is None or e.node == node)
        ]

    def path(self) -> list[str]:
        return [e.node for e in self.steps()]


MakeIvr = Callable[..., Awaitable[Ivr]]


@pytest.fixture
async def make_ivr(menus_dir: Path) -> AsyncIterator[MakeIvr]:
    cleanups: list[Callable[[], Awaitable[None]]] = []

    async def make(url: str, *, now: datetime = OPEN, estimate: Any = None) -> Ivr:
        engine = create_engine(url)
        async with engine.begin() as conn:
            await conn.run_sync(Base.metadata.create_all)
        sessions = session_factory(engine)
        customer_id = await seed(sessions)
        library = MenuLibrary(menus_dir)
        assert [] == library.reload()
        events: list[DomainEvent] = []
        outcomes: list[CallOutcome] = []

        async def sink(event: DomainEvent) -> None:
            events.append(event)

        runner = IvrRunner(
            library,
            sink,
            data=SqlIvrData(sessions),
            now=lambda: now,
            estimate=estimate or (lambda queue: (3, 150.0)),
        )

        async def handler(session: AgiSession) -> None:
            outcomes.append(await runner.handle(session))

        server = FastAgiServer(handler, port=0)
        await server.start()
        cleanups.append(server.close)
        cleanups.append(engine.dispose)
        return Ivr(server, sessions, customer_id, events, outcomes)

    yield make
    for cleanup in cleanups:
        await cleanup()


# --- bank line ---------------------------------------------------------------------------------


async def test_bank_operator_choice_queues_with_priority_skills_and_wait_announcement(
    make_ivr: MakeIvr, sqlite_url: str
) -> None:
    async def estimate(queue: str) -> tuple[int, float]:
        return (4 if queue == "support" else 0), 150.0

    ivr = await make_ivr(sqlite_url, estimate=estimate)
    result = await ivr.call("bank", [Press("2"), Press("0")])
    assert "SUCCESS" == result.status
    assert {
        "CHANNEL(language)": "ru",
        "CC_QUEUE": "support",
        "CC_PRIORITY": "5",
        "QUEUE_PRIO": "5",
        "CC_SKILLS": "banking",
        "CC_LANGUAGE": "ru",
        "CC_IVR_PATH": "welcome>language>hours>main>wait_info>support_queue",
    } == result.variables
    assert ["welcome", "language", "hours", "main", "wait_info", "support_queue"] == ivr.path()
    commands = result.commands()
    position = commands.index('STREAM FILE cc/common/you-are-number ""')
    assert ['SAY NUMBER 4 ""', 'STREAM FILE cc/common/wait-is ""', 'SAY NUMBER 3 ""'] == commands[
        position + 1 : position + 4
    ]
    assert {e.call_id for e in ivr.events} == {"1795344647.106"}
    assert "queue" == ivr.outcomes[0].end


async def test_wait_announcement_is_skipped_when_nobody_is_staffed(
    make_ivr: MakeIvr, sqlite_url: str
) -> None:
    async def estimate(queue: str) -> tuple[int, float | None]:
        return 2, None  # the queue has nobody logged in: no wait time to promise

    ivr = await make_ivr(sqlite_url, estimate=estimate)
    result = await ivr.call("bank", [Press("2"), Press("0")])

    assert ["position=2 wait=unknown"] == [s.result for s in ivr.steps("wait_info")]
    commands = result.commands()
    assert 'STREAM FILE cc/common/you-are-number ""' not in commands
    assert not any(c.startswith("SAY NUMBER") for c in commands)
    assert "support" == result.variables["CC_QUEUE"]
    assert "queue" == ivr.outcomes[0].end


@pytest.mark.parametrize("trouble", ["fails", "hangs"])
async def test_wait_announcement_is_skipped_when_the_statistics_are_away(
    make_ivr: MakeIvr, sqlite_url: str, trouble: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Redis (the live statistics) refusing, or not answering at all: the caller hears no
    figure after a bounded wait and goes on to the queue."""
    monkeypatch.setattr(runner_module, "DEPENDENCY_WAIT_SECONDS", 0.2)

    async def estimate(queue: str) -> tuple[int, float]:
        if trouble == "fails":
            raise ConnectionError("Redis unavailable")
        await asyncio.Event().wait()  # a host that stopped answering
        raise AssertionError("unreachable")

    ivr = await make_ivr(sqlite_url, estimate=estimate)
    result = await ivr.call("bank", [Press("2"), Press("0")])

    assert ["unavailable"] == [s.result for s in ivr.steps("wait_info")]
    assert not any(c.startswith("SAY NUMBER") for c in result.commands())
    assert "support" == result.variables["CC_QUEUE"]
    assert "queue" == ivr.outcomes[0].end


async def test_bank_invalid_choice_then_operator_desk_transfer(
    make_ivr: MakeIvr, sqlite_url: str
) -> None:
    ivr = await make_ivr(sqlite_url)
    result = await ivr.call("bank", [Press("1"), Press("7"), Press("9")])
    assert ("agents", "100", "1") == (result.context, result.extension, result.priority)
    assert "100@agents" == result.variables["CC_TRANSFER"]
    assert [("invalid", "7"), ("ok", "9")] == [(s.result, s.digits) for s in ivr.steps("main")]
    assert 'STREAM FILE cc/bank/invalid ""' in result.commands()
    assert ["transfer:100@agents"] == [s.result for s in ivr.steps("operator_desk")]


async def test_bank_menu_timeouts_fall_through_to_the_queue(
    make_ivr: MakeIvr, sqlite_url: str
) -> None:
    ivr = await make_ivr(sqlite_url)
    result = await ivr.call("bank", [Press("1"), Silence(), Silence(), Silence()])
    assert ["timeout"] * 3 == [s.result for s in ivr.steps("main")]
    assert "support" == result.variables["CC_QUEUE"]


async def test_language_timeout_keeps_channel_language(make_ivr: MakeIvr, sqlite_url: str) -> None:
    ivr = await make_ivr(sqlite_url)
    result = await ivr.call("bank", [Silence(), Silence(), Silence(), Press("0")])
    assert ["timeout"] * 3 == [s.result for s in ivr.steps("language")]
    assert "en" == result.variables["CC_LANGUAGE"]
    assert "CHANNEL(language)" not in result.variables


async def test_caller_hangs_up_mid_menu(make_ivr: MakeIvr, sqlite_url: str) -> None:
    ivr = await make_ivr(sqlite_url)
    result = await ivr.call("bank", [Press("1"), HangUp()])
    assert "HANGUP" == result.status
    assert ("main", "hangup") == (ivr.steps()[-1].node, ivr.steps()[-1].result)
    assert "caller_hangup" == ivr.outcomes[0].end
    assert "CC_QUEUE" not in result.variables
    # GET DATA's -1 is a hang-up or a missing prompt; one CHANNEL STATUS (511) tells which
    assert ["GET DATA cc/bank/main 5000 1", "CHANNEL STATUS"] == result.commands()[-2:]


async def test_closed_hours_callback_is_stored_and_announced(
    make_ivr: MakeIvr, db_url: str
) -> None:
    ivr = await make_ivr(db_url, now=CLOSED)
    result = await ivr.call("bank", [Press("1"), Press("1")], linkedid="1795344661.110")
    assert ["closed"] == [s.result for s in ivr.steps("hours")]
    assert ["callback"] == [s.result for s in ivr.steps("callback")]
    assert "HANGUP" == result.commands()[-1]  # common:goodbye hangs up after the prompt
    async with ivr.sessions() as db:
        rows = (await db.execute(select(Callback))).scalars().all()
    assert [("+74951234567", "support", "pending", "1795344661.110")] == [
        (r.number, r.queue, r.status, r.call_linkedid) for r in rows
    ]
    callbacks = [e for e in ivr.events if isinstance(e, CallbackRequested)]
    assert [("+74951234567", "support")] == [(e.number, e.queue) for e in callbacks]


async def test_holiday_goes_to_closed_and_goodbye(make_ivr: MakeIvr, sqlite_url: str) -> None:
    ivr = await make_ivr(sqlite_url, now=HOLIDAY)
    await ivr.call("bank", [Press("1"), Silence(), Silence()])
    assert ["holiday"] == [s.result for s in ivr.steps("hours")]
    assert ["welcome", "language", "hours", "closed", "closed", "goodbye"] == ivr.path()
    assert "hangup" == ivr.outcomes[0].end


async def test_identify_by_pin_then_balance_and_last_payment_from_db(
    make_ivr: MakeIvr, db_url: str
) -> None:
    ivr = await make_ivr(db_url)
    result = await ivr.call(
        "bank",
        [
            Press("1"),
            Press("1"),
            Press(ACCOUNT + "#"),
            Press(PIN + "#"),
            Press("0"),
        ],
    )
    commands = result.commands()
    start = commands.index('STREAM FILE cc/bank/balance-is ""')
    assert [
        'SAY NUMBER 1520 ""',
        'STREAM FILE cc/common/currency-rub ""',
        'SAY NUMBER 50 ""',
        'STREAM FILE cc/common/currency-rub-minor ""',
        'STREAM FILE cc/bank/last-payment-is ""',
        'SAY NUMBER 700 ""',
        'STREAM FILE cc/common/currency-rub ""',
        f'SAY DATE {int(PAID_AT.timestamp())} ""',
    ] == commands[start + 1 : start + 9]
    identified = [e for e in ivr.events if isinstance(e, CallerIdentified)]
    assert [(ivr.customer_id, "pin")] == [(e.customer_id, e.method) for e in identified]
    assert str(ivr.customer_id) == result.variables["CC_CUSTOMER_ID"]
    assert [True, False] == [e.muted for e in ivr.events if isinstance(e, RecordingMuted)]
    assert all(PIN not in e.digits for e in ivr.steps())
    assert [("pin_ok", True), ("identified", False)] == [
        (s.result, s.sensitive) for s in ivr.steps("identify")
    ]
    assert ["balance", "last_payment"] == [
        s.result for s in ivr.steps() if s.node in ("balance", "last_payment")
    ]


async def test_wrong_pin_retries_then_fails_over_to_operator(
    make_ivr: MakeIvr, sqlite_url: str
) -> None:
    ivr = await make_ivr(sqlite_url)
    wrong = [Press(ACCOUNT + "#"), Press("9999#")]
    result = await ivr.call("bank", [Press("1"), Press("1"), *wrong * 3])
    assert ["pin_wrong", "not_found"] * 3 == [s.result for s in ivr.steps("identify")]
    assert [] == [e for e in ivr.events if isinstance(e, CallerIdentified)]
    assert "support" == result.variables["CC_QUEUE"]
    assert "CC_CUSTOMER_ID" not in result.variables


async def test_lost_card_number_is_muted_and_never_leaves_the_ivr(
    make_ivr: MakeIvr, sqlite_url: str
) -> None:
    ivr = await make_ivr(sqlite_url)
    result = await ivr.call("bank", [Press("1"), Press("2"), Press(CARD + "#")])
    assert ("support", "10", "cards") == (
        result.variables["CC_QUEUE"],
        result.variables["CC_PRIORITY"],
        result.variables["CC_SKILLS"],
    )
    assert [("ok", "", True)] == [(s.result, s.digits, s.sensitive) for s in ivr.steps("lost_card")]
    assert [True, False] == [e.muted for e in ivr.events if isinstance(e, RecordingMuted)]
    assert CARD not in repr(ivr.events)
    assert CARD not in repr(result.variables)
    assert not any(c.startswith("SET VARIABLE CARD_NUMBER") for c in result.commands())


# --- shop line ---------------------------------------------------------------------------------


async def test_order_status_from_db_with_barge_in_welcome(make_ivr: MakeIvr, db_url: str) -> None:
    ivr = await make_ivr(db_url)
    result = await ivr.call(
        "shop",
        [
            Press("1", barge_in=True),
            Press("1"),
            Press("100234#"),
            Press("9"),
        ],
    )
    assert [("interrupted", "1")] == [(s.result, s.digits) for s in ivr.steps("welcome")]
    commands = result.commands()
    start = commands.index('STREAM FILE cc/shop/order ""')
    assert ['SAY DIGITS 100234 ""', 'STREAM FILE cc/shop/status-shipped ""'] == commands[
        start + 1 : start + 3
    ]
    assert "100234" == result.variables["ORDER_NUMBER"]
    assert ["order_status:shipped"] == [s.result for s in ivr.steps("order_status")]
    assert "hangup" == ivr.outcomes[0].end


async def test_unknown_order_then_returns_queue_sets_variables(
    make_ivr: MakeIvr, sqlite_url: str
) -> None:
    ivr = await make_ivr(sqlite_url)
    result = await ivr.call("shop", [Press("1"), Press("555555#"), Press("2")])
    assert ["missing"] == [s.result for s in ivr.steps("order_status")]
    assert {
        "CC_REASON": "returns",
        "CC_QUEUE": "sales",
        "CC_PRIORITY": "2",
        "CC_SKILLS": "returns",
    }.items() <= result.variables.items()


async def test_collect_invalid_and_timeout_branches(make_ivr: MakeIvr, sqlite_url: str) -> None:
    ivr = await make_ivr(sqlite_url)
    result = await ivr.call("shop", [Press("1"), Press("12#"), Silence(), Press("12#")])
    assert [("invalid", "12"), ("timeout", ""), ("invalid", "12")] == [
        (s.result, s.digits) for s in ivr.steps("order_number")
    ]
    assert 1 == result.commands().count('STREAM FILE cc/shop/invalid ""')
    assert "sales" == result.variables["CC_QUEUE"]


async def test_sub_menu_returns_to_the_caller_node(make_ivr: MakeIvr, sqlite_url: str) -> None:
    ivr = await make_ivr(sqlite_url)
    result = await ivr.call("shop", [Press("0")])
    assert [
        "welcome",
        "hours",
        "main",
        "sales",
        "wait_info",
        "wait_done",
        "sales_queue",
    ] == ivr.path()
    assert ("sales", "1", "orders") == (
        result.variables["CC_QUEUE"],
        result.variables["QUEUE_PRIO"],
        result.variables["CC_SKILLS"],
    )


async def test_shop_callback_after_status_stored_for_identified_order_line(
    make_ivr: MakeIvr, sqlite_url: str
) -> None:
    ivr = await make_ivr(sqlite_url)
    await ivr.call("shop", [Press("1"), Press("100234#"), Press("2")], callerid="+74957654321")
    async with ivr.sessions() as db:
        rows = (await db.execute(select(Callback))).scalars().all()
    assert [("+74957654321", "sales", "order line: call back about an order")] == [
        (r.number, r.queue, r.note) for r in rows
    ]


# --- the simulator's AGI() step --------------------------------------------------------------


class FakeSimChannel:
    """The sim.agistep.AgiChannel surface: DTMF in, variables and AGIExec events out."""

    def __init__(self, digits: str, *, hang_up_when_silent: bool = False) -> None:
        self.name = "Local/4951110005@inbound-0000001c;2"
        self.uniqueid = "1795344669.115"
        self.linkedid = "1795344669.114"
        self.digits = list(digits)
        self.hang_up_when_silent = hang_up_when_silent
        self.hung_up = False
        self.variables: dict[str, str] = {}
        self.execs: list[tuple[str, str, int]] = []

    def agi_environment(self, url: str, args: list[str]) -> dict[str, str]:
        env = {
            "agi_network": "yes",
            "agi_network_script": url.rsplit("/", 1)[-1],
            "agi_channel": self.name,
            "agi_uniqueid": self.uniqueid,
            "agi_callerid": "+74951234567",
            "agi_calleridname": "Ivan Petrov",
        }
        env.update({f"agi_arg_{n}": arg for n, arg in enumerate(args, 1)})
        return env

    async def agi_read_digit(self, timeout: float) -> str | None:
        from contact_center.sim.errors import ChannelHungUp

        if self.digits:
            return self.digits.pop(0)
        if self.hang_up_when_silent:
            self.hung_up = True
            raise ChannelHungUp(self.name)
        return None

    def agi_set_variable(self, name: str, value: str) -> None:
        self.variables[name] = value

    def agi_get_variable(self, name: str) -> str:
        return self.variables.get(name, "")

    def agi_exec_start(self, command: str) -> int:
        self.execs.append(("start", command, 0))
        return len(self.execs)

    def agi_exec_end(self, command_id: int, command: str, code: int, result: str) -> None:
        self.execs.append(("end", command, code))


async def test_sim_agi_step_runs_the_menu_with_channel_dtmf(
    make_ivr: MakeIvr, sqlite_url: str
) -> None:
    from contact_center.sim.agi import FastAgiStep

    ivr = await make_ivr(sqlite_url)
    channel = FakeSimChannel("0")
    status = await FastAgiStep(timeout=10)(
        channel, f"agi://127.0.0.1:{ivr.server.port}/ivr", ["shop"]
    )
    assert "SUCCESS" == status
    assert ("sales", "orders") == (channel.variables["CC_QUEUE"], channel.variables["CC_SKILLS"])
    assert {"1795344669.114"} == {e.call_id for e in ivr.events}
    starts = [c for kind, c, _ in channel.execs if kind == "start"]
    ends = [(c, code) for kind, c, code in channel.execs if kind == "end"]
    assert [(c, 200) for c in starts] == ends
    assert "GET DATA cc/shop/main 5000 1" in starts


async def test_sim_agi_step_raises_when_the_caller_hangs_up(
    make_ivr: MakeIvr, sqlite_url: str
) -> None:
    from contact_center.sim.agi import FastAgiStep
    from contact_center.sim.errors import ChannelHungUp

    ivr = await make_ivr(sqlite_url)
    channel = FakeSimChannel("", hang_up_when_silent=True)
    with pytest.raises(ChannelHungUp):
        await FastAgiStep(timeout=10)(channel, f"agi://127.0.0.1:{ivr.server.port}/ivr", ["shop"])
    assert ("main", "hangup") == (ivr.steps()[-1].node, ivr.steps()[-1].result)
    assert "CC_QUEUE" not in channel.variables


# --- the service: server + menus reloaded on change --------------------------------------------


async def test_service_reloads_changed_menus_and_keeps_the_last_good_version(
    menus_dir: Path, tmp_path: Path
) -> None:
    from contact_center.config import AgiSettings
    from contact_center.ivr.service import IvrService

    directory = tmp_path / "menus"
    shutil.copytree(menus_dir, directory)
    events: list[DomainEvent] = []

    async def sink(event: DomainEvent) -> None:
        events.append(event)

    settings = AgiSettings(host="127.0.0.1", port=0, menus_dir=str(directory))
    shop = directory / "shop.yaml"
    async with IvrService(settings, sink=sink, reload_interval=0.05, now=lambda: OPEN) as service:
        url = f"agi://127.0.0.1:{service.port}/ivr"
        first = await run_fastagi(url, ["shop"], caller=ScriptedCaller([Press("2")]), timeout=5)
        assert "2" == first.variables["CC_PRIORITY"]

        shop.write_text(shop.read_text().replace("priority: 2", "priority: 7"))
        await wait_for(
            lambda: service.library.current.menus["shop"].nodes["returns_queue"]["priority"] == 7,
            timeout=5,
        )
        good = service.library.current.menus["shop"]

        shop.write_text(shop.read_text().replace("next: returns_queue", "next: nowhere"))
        await wait_for(lambda: bool(service.library.errors), timeout=5)
        assert ["missing target 'nowhere'"] == [e.reason for e in service.library.errors]
        assert good is service.library.current.menus["shop"]
        again = await run_fastagi(url, ["shop"], caller=ScriptedCaller([Press("2")]), timeout=5)
        assert "7" == again.variables["CC_PRIORITY"]


SAY_MENU = """\
start: ask
nodes:
  ask:
    type: collect
    prompt: hello
    variable: AMOUNT
    max: 4
    on_invalid: bye
    next: say
  say:
    type: say
    lookup: variable
    variable: AMOUNT
    as: number
    prompt: hello
    next: bye
  bye:
    type: hangup
"""


async def test_say_variable_as_number_then_hangup(tmp_path: Path) -> None:
    (tmp_path / "m.yaml").write_text(SAY_MENU)
    write_silence(tmp_path / "prompts" / "en" / "hello.wav")
    library = MenuLibrary(tmp_path)
    assert [] == library.reload()
    events: list[DomainEvent] = []

    async def sink(event: DomainEvent) -> None:
        events.append(event)

    runner = IvrRunner(library, sink, prompt_prefix="")
    async with FastAgiServer(runner.handle, port=0) as server:
        result = await run_fastagi(
            f"agi://127.0.0.1:{server.port}/m", caller=ScriptedCaller([Press("0042#")]), timeout=5
        )
    assert [
        "GET DATA hello 5000 4",
        "SET VARIABLE AMOUNT 0042",
        'STREAM FILE hello ""',
        'SAY NUMBER 42 ""',
        "HANGUP",
    ] == result.commands()[2:]
    assert ["ok", "said", "hangup_by_ivr"] == [e.result for e in events if isinstance(e, IvrStep)]


async def test_database_down_sends_the_caller_to_an_operator(
    menus_dir: Path, sqlite_url: str
) -> None:
    engine = create_engine(sqlite_url)  # no tables: every query fails like a lost database
    library = MenuLibrary(menus_dir)
    library.reload()
    events: list[DomainEvent] = []

    async def sink(event: DomainEvent) -> None:
        events.append(event)

    runner = IvrRunner(library, sink, data=SqlIvrData(session_factory(engine)), now=lambda: OPEN)
    try:
        async with FastAgiServer(runner.handle, port=0) as server:
            result = await run_fastagi(
                f"agi://127.0.0.1:{server.port}/ivr",
                ["bank"],
                caller=ScriptedCaller([Press("1"), Press("1"), Press(ACCOUNT + "#")]),
                timeout=5,
            )
    finally:
        await engine.dispose()
    assert [("identify", "unavailable")] == [
        (e.node, e.result) for e in events if isinstance(e, IvrStep) and e.node == "identify"
    ]
    assert "support" == result.variables["CC_QUEUE"]
