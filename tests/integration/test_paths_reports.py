"""Per-operator talk in history and reports, from real captures replayed through the tracker
and written by the history writer (SQLite and PostgreSQL): every operator of a transferred call
is credited with the call and their own talk, as Asterisk's queue_log counts it."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from contact_center.ami import queue_log
from contact_center.ami.replay import replay_events
from contact_center.history.writer import HistoryWriter
from contact_center.stats.consumer import StatsConsumer
from contact_center.stats.metrics import LiveMetrics, MetricsConfig
from contact_center.stats.reports import history_events, report
from contact_center.stats.store import MemoryStatsStore
from contact_center.store import models
from tests.conftest import FIXTURES
from tests.integration.history_support import Sessions, database

# queue_log names members by MemberName (log_membername_as_agent); the legs by interface
MEMBERS = {
    "Operator 101": "Local/101@agents",
    "Operator 103": "Local/103@agents",
    "Anna": "PJSIP/101",
    "Boris": "PJSIP/102",
}
EVER = (datetime(2020, 1, 1, tzinfo=UTC), datetime(2030, 1, 1, tzinfo=UTC))


async def operator_figures(
    sessions: Sessions,
) -> dict[tuple[str, str], tuple[int, float]]:
    """(queue, operator) → (calls handled, talk seconds), summed over the report's days."""
    rows = await report(
        sessions,
        start=EVER[0],
        end=EVER[1],
        interval="day",
        group="operator",
        config=MetricsConfig(service_level_seconds=20),
    )
    out: dict[tuple[str, str], tuple[int, float]] = {}
    for row in rows:
        handled, talk = out.get((row.queue, row.operator), (0, 0.0))
        out[(row.queue, row.operator)] = (handled + row.answered, talk + row.talk_seconds)
    return out


def logged_visits(name: str) -> list[queue_log.QueueCall]:
    lines, _ = queue_log.read_lines(FIXTURES / f"{name}.queue_log")
    return [v for v in queue_log.queue_visits(lines) if v.agent and v.talk_seconds is not None]


async def write_captures(sessions: Sessions, tmp_path: Path, *names: str) -> None:
    writer = HistoryWriter(sessions, spill_dir=tmp_path / "spill", batch_size=16)
    for name in names:
        for event in replay_events(FIXTURES / f"{name}.jsonl"):
            await writer.handle(event)
    await writer.flush()


@pytest.mark.parametrize(
    "name", ["17-transfer-chain", "19-attended-cancel-then-queue", "27-live-pjsip-deploy"]
)
async def test_each_queue_operator_has_queue_logs_talk(
    name: str, db_url: str, tmp_path: Path
) -> None:
    async with database(db_url) as sessions:
        await write_captures(sessions, tmp_path, name)
        figures = await operator_figures(sessions)

    visits = logged_visits(name)
    assert visits, "the capture has queue calls with talk"
    want: dict[tuple[str, str], tuple[int, float]] = {}
    for visit in visits:
        key = (visit.queue, MEMBERS[visit.agent])
        handled, talk = want.get(key, (0, 0.0))
        want[key] = (handled + 1, talk + float(visit.talk_seconds or 0))
    for key, (handled, talk) in want.items():
        got_handled, got_talk = figures[key]
        # queue_log counts whole seconds per line; transfers to persons in the same queue's
        # row add calls and talk queue_log does not know
        assert got_handled >= handled, key
        assert got_talk >= talk - handled, (key, got_talk, talk)


async def test_a_transfer_chain_credits_every_operator_with_their_own_talk(
    db_url: str, tmp_path: Path
) -> None:
    """17: 101 takes the call from `support` and blind-transfers it to 104, who hands it to
    103 by an attended transfer. queue_log knows 101's part (BLINDTRANSFER …|hold|talk|);
    each of the three handled the call once, with their own talk, in the queue it came from."""
    async with database(db_url) as sessions:
        await write_captures(sessions, tmp_path, "17-transfer-chain")
        figures = await operator_figures(sessions)
        async with sessions() as db:
            call = (await db.execute(select(models.Call))).scalars().one()
            legs = (
                (await db.execute(select(models.CallLeg).where(models.CallLeg.role == "operator")))
                .scalars()
                .all()
            )

    (transfer,) = logged_visits("17-transfer-chain")
    assert transfer.transfers  # queue_log's BLINDTRANSFER line ends 101's part
    assert {"support"} == {queue for queue, _ in figures}
    operators = {op: figures[("support", op)] for _, op in figures}
    assert {"Local/101@agents", "Local/104@agents", "Local/103@agents"} == set(operators)
    assert {1} == {handled for handled, _ in operators.values()}
    first_talk = operators["Local/101@agents"][1]
    assert abs(first_talk - float(transfer.talk_seconds or 0)) <= 1.0
    # the customer's talk is the sum of the operators' own parts, nobody counted twice
    assert sum(talk for _, talk in operators.values()) == pytest.approx(call.talk_seconds, abs=0.01)
    vias = {(leg.channel, leg.via) for leg in legs}
    assert {
        ("Local/101@agents", "queue"),
        ("Local/104@agents", "transfer"),
        ("Local/103@agents", "transfer"),
    } == vias


async def test_a_redirect_splits_queue_logs_talk_between_the_two_operators(
    db_url: str, tmp_path: Path
) -> None:
    """18: 103 answers in `sales`, the caller is redirected to 105. app_queue sees no
    transfer: its COMPLETECALLER talk covers both; the report gives each their share."""
    async with database(db_url) as sessions:
        await write_captures(sessions, tmp_path, "18-redirect-to-person")
        figures = await operator_figures(sessions)

    (visit,) = logged_visits("18-redirect-to-person")
    assert {("sales", "Local/103@agents"), ("sales", "Local/105@agents")} == set(figures)
    assert {1} == {handled for handled, _ in figures.values()}
    total = sum(talk for _, talk in figures.values())
    assert abs(total - float(visit.talk_seconds or 0)) <= 1.0
    assert all(talk > 1.0 for _, talk in figures.values())


async def test_per_operator_talk_rebuilt_from_history_equals_the_live_figures(
    db_url: str, tmp_path: Path
) -> None:
    """After a restart the wallboard's per-operator figures are rebuilt from the history:
    every operator of the transferred calls keeps their own talk and calls handled."""
    names = ("17-transfer-chain", "19-attended-cancel-then-queue")
    events = [e for name in names for e in replay_events(FIXTURES / f"{name}.jsonl")]
    live = LiveMetrics(MetricsConfig(service_level_seconds=20))
    live.apply_all(events)
    end = max(e.at for e in events) + 1
    want = {
        i: (o.calls, round(o.talk_seconds, 2))
        for i, o in live.snapshot(end).operators.items()
        if o.calls  # who took calls (a member who never talked is not in the history)
    }

    async with database(db_url) as sessions:
        await write_captures(sessions, tmp_path, *names)
        consumer = StatsConsumer(
            MemoryStatsStore(), MetricsConfig(service_level_seconds=20), clock=lambda: end
        )
        await consumer.rebuild(await history_events(sessions, *EVER))
    got = {
        i: (o.calls, round(o.talk_seconds, 2))
        for i, o in consumer.snapshot().operators.items()
        if o.calls
    }

    assert {"Local/101@agents", "Local/103@agents", "Local/104@agents"} <= set(want)
    assert want == got
