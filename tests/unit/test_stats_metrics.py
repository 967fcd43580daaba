"""Exact figures for known event sequences (formulas: docs/metrics.md)."""

from __future__ import annotations

import json

from contact_center.calls import events as ev
from contact_center.stats.metrics import LiveMetrics, MetricsConfig, business_day, day_start
from tests.unit.stats_events import (
    SERVER,
    T0,
    abandoned_call,
    answered,
    answered_call,
    completed,
    ended,
    login,
    offered,
    queued,
)

OP = "Local/101@agents"


def run(events: list[ev.DomainEvent], config: MetricsConfig | None = None) -> LiveMetrics:
    metrics = LiveMetrics(config or MetricsConfig(service_level_seconds=20))
    metrics.apply_all(events)
    return metrics


def test_answered_call_counts_answered_in_service_level_with_asa_and_aht() -> None:
    metrics = run([login(T0), *answered_call(T0 + 10, "c1", hold=2, talk=6)])

    snap = metrics.snapshot(T0 + 100)
    q = snap.queues["support"]
    assert (1, 1, 1, 0, 1) == (q.offered, q.answered, q.answered_in_sl, q.abandoned, q.completed)
    assert 100.0 == q.service_level_pct
    assert 0.0 == q.abandon_rate_pct
    assert 2.0 == q.asa_seconds
    assert 6.0 == q.aht_seconds
    assert (0, 0.0) == (q.waiting, q.longest_wait_seconds)
    assert {
        "available": 1,
        "ringing": 0,
        "on_call": 0,
        "wrapup": 0,
        "paused": 0,
        "staffed": 1,
    } == dict(q.operators)
    op = snap.operators[OP]
    assert ("available", 1, 6.0) == (op.state, op.calls, op.talk_seconds)
    assert T0 + 18 == op.since
    assert 82.0 == op.seconds_in_state


def test_operator_goes_ringing_then_on_call_then_available() -> None:
    metrics = run([login(T0), queued(T0 + 1, "c1"), offered(T0 + 2, "c1")])
    assert "ringing" == metrics.snapshot(T0 + 3).operators[OP].state
    metrics.apply(answered(T0 + 3, "c1", hold=2))
    snap = metrics.snapshot(T0 + 5)
    assert ("on_call", "c1", 2.0) == (
        snap.operators[OP].state,
        snap.operators[OP].current_call,
        snap.operators[OP].seconds_in_state,
    )
    assert 1 == snap.queues["support"].operators["on_call"]
    metrics.apply(completed(T0 + 13, "c1", talk=10))
    assert "available" == metrics.snapshot(T0 + 14).operators[OP].state


def test_waiting_caller_and_longest_wait_are_live() -> None:
    metrics = run(
        [
            login(T0, paused=True, reason="lunch"),
            queued(T0 + 1, "c1"),
            queued(T0 + 4, "c2", position=2),
        ]
    )

    q = metrics.snapshot(T0 + 11).queues["support"]
    assert (2, 10.0) == (q.waiting, q.longest_wait_seconds)
    assert {"lunch": 1} == dict(q.paused_reasons)
    assert (1, 0) == (q.operators["paused"], q.operators["staffed"])


def test_abandon_counts_against_service_level_and_short_abandon_does_not() -> None:
    config = MetricsConfig(service_level_seconds=20, short_abandon_seconds=5)
    metrics = run(
        [
            *answered_call(T0, "c1", hold=3, talk=30),
            *abandoned_call(T0 + 100, "c2", hold=10),
            *abandoned_call(T0 + 200, "c3", hold=4),
        ],
        config,
    )

    q = metrics.snapshot(T0 + 300).queues["support"]
    assert (3, 1, 2, 1) == (q.offered, q.answered, q.abandoned, q.short_abandoned)
    assert 50.0 == q.service_level_pct  # 1 in SL / (1 answered + 2 abandoned − 1 short)
    assert 50.0 == q.abandon_rate_pct  # (2 − 1) / 2
    assert 10.0 == q.max_wait_seconds


def test_service_level_threshold_is_inclusive() -> None:
    metrics = run(
        [*answered_call(T0, "c1", hold=20, talk=5), *answered_call(T0 + 100, "c2", hold=21, talk=5)]
    )

    q = metrics.snapshot(T0 + 300).queues["support"]
    assert (2, 1, 50.0) == (q.answered, q.answered_in_sl, q.service_level_pct)
    assert 20.5 == q.asa_seconds


def test_queue_timeout_is_left_not_abandoned_and_misses_service_level() -> None:
    left = ev.CallLeftQueue(
        server=SERVER,
        call_id="c2",
        at=T0 + 400,
        queue="support",
        reason="timeout",
        hold_seconds=300,
    )
    metrics = run([*answered_call(T0, "c1", hold=1, talk=5), queued(T0 + 100, "c2"), left])

    q = metrics.snapshot(T0 + 500).queues["support"]
    assert (2, 0, 1, 50.0) == (q.offered, q.abandoned, q.left, q.service_level_pct)
    assert 300.0 == q.max_wait_seconds


def test_callback_request_turns_the_abandon_into_a_callback() -> None:
    callback = ev.CallbackRequested(
        server=SERVER, call_id="c1", at=T0 + 5, number="+7495", queue="support"
    )
    metrics = run(
        [
            queued(T0, "c1"),
            callback,
            ev.CallAbandoned(
                server=SERVER,
                call_id="c1",
                at=T0 + 6,
                queue="support",
                position=1,
                original_position=1,
                hold_seconds=6,
            ),
        ]
    )

    q = metrics.snapshot(T0 + 10).queues["support"]
    assert (1, 0, 1, None) == (q.offered, q.abandoned, q.callbacks, q.service_level_pct)


def test_transfer_counts_once_per_call() -> None:
    transfer = ev.CallTransferred(
        server=SERVER, call_id="c1", at=T0 + 8, transfer_type="blind", target="200", by_interface=OP
    )
    metrics = run(
        [
            login(T0),
            queued(T0, "c1"),
            answered(T0 + 2, "c1", hold=2),
            transfer,
            completed(T0 + 9, "c1", talk=7, reason="transfer"),
        ]
    )

    q = metrics.snapshot(T0 + 10).queues["support"]
    assert (1, 1, 7.0) == (q.transferred, q.completed, q.aht_seconds)


def test_timed_wrapup_adds_to_aht_and_ends_by_itself() -> None:
    config = MetricsConfig(queue_wrapup_seconds={"support": 10})
    metrics = run([login(T0), *answered_call(T0, "c1", hold=2, talk=6)], config)

    during = metrics.snapshot(T0 + 12)
    assert ("wrapup", 4.0) == (during.operators[OP].state, during.operators[OP].wrapup_seconds)
    assert 10.0 == during.queues["support"].aht_seconds  # 6 talk + 4 wrap-up so far
    after = metrics.snapshot(T0 + 60)
    assert ("available", T0 + 18) == (after.operators[OP].state, after.operators[OP].since)
    assert 16.0 == after.queues["support"].aht_seconds
    assert 10.0 == after.operators[OP].wrapup_seconds


def test_pause_with_wrapup_reason_is_wrapup_not_pause() -> None:
    metrics = run(
        [
            login(T0),
            *answered_call(T0, "c1", hold=2, talk=6),
            login(T0 + 8, paused=True, reason="acw"),
            login(T0 + 38),
        ]
    )

    snap = metrics.snapshot(T0 + 50)
    op = snap.operators[OP]
    assert (30.0, 0.0) == (op.wrapup_seconds, op.pause_seconds)
    assert 36.0 == snap.queues["support"].aht_seconds


def test_pause_time_accumulates_per_operator() -> None:
    metrics = run(
        [
            login(T0),
            login(T0 + 10, paused=True, reason="lunch"),
            login(T0 + 70),
            login(T0 + 100, paused=True, reason="break"),
        ]
    )

    op = metrics.snapshot(T0 + 105).operators[OP]
    assert ("paused", "break", 65.0) == (op.state, op.reason, op.pause_seconds)


def test_logout_makes_operator_offline_and_leaves_the_queue() -> None:
    metrics = run([login(T0), login(T0 + 5, logged_in=False)])

    snap = metrics.snapshot(T0 + 6)
    assert "offline" == snap.operators[OP].state
    assert 0 == snap.queues["support"].operators["staffed"]


def test_day_rolls_over_at_configured_hour_in_configured_timezone() -> None:
    # Moscow is UTC+3; the business day starts at 06:00 local = 03:00 UTC.
    config = MetricsConfig(timezone="Europe/Moscow", day_start_hour=6)
    boundary = day_start(business_day(T0, config), config) + 86400  # next 06:00 MSK
    metrics = run(
        [
            login(boundary - 3600, paused=True, reason="lunch"),
            *answered_call(boundary - 600, "c1", hold=3, talk=60),
            *abandoned_call(boundary - 300, "c2", hold=30),
            queued(boundary - 50, "c3"),
        ],
        config,
    )
    before = metrics.snapshot(boundary - 1)
    assert (3, 1, 1, 1) == (
        before.queues["support"].offered,
        before.queues["support"].answered,
        before.queues["support"].abandoned,
        before.queues["support"].waiting,
    )

    metrics.apply(answered(boundary + 10, "c3", hold=60))
    after = metrics.snapshot(boundary + 100)
    q = after.queues["support"]
    # c3 was offered yesterday and answered today: it counts in today's answered only
    assert (0, 1, 0, 0) == (q.offered, q.answered, q.answered_in_sl, q.abandoned)
    assert str(business_day(boundary, config)) == after.day
    # paused since yesterday until c3 is answered: today's pause time starts at the boundary
    op = after.operators[OP]
    assert (10.0, 1) == (op.pause_seconds, op.calls)
    assert 1 == q.hourly[0]["answered"]  # bucket 0 = the first hour of the new day


def test_day_rollover_without_events_resets_counters_when_snapshotted() -> None:
    config = MetricsConfig()
    metrics = run([*answered_call(T0, "c1", hold=2, talk=6)], config)
    tomorrow = day_start(business_day(T0, config), config) + 86400 + 5

    q = metrics.snapshot(tomorrow).queues["support"]
    assert (0, 0, None, None) == (q.offered, q.answered, q.service_level_pct, q.asa_seconds)


def test_state_round_trips_through_json_and_continues_like_an_uninterrupted_run() -> None:
    config = MetricsConfig(queue_wrapup_seconds={"support": 5})
    first = [
        login(T0),
        login(T0, "Local/102@agents"),
        *answered_call(T0, "c1", 2, 6),
        queued(T0 + 20, "c2"),
        offered(T0 + 21, "c2"),
        login(T0 + 22, paused=True, reason="lunch", iface="Local/102@agents"),
    ]
    rest = [
        answered(T0 + 25, "c2", hold=5),
        completed(T0 + 45, "c2", talk=20),
        ended(T0 + 45, "c2"),
        *abandoned_call(T0 + 50, "c3", hold=12),
    ]
    whole = run(first + rest, config)

    part = run(first, config)
    restored = LiveMetrics.from_state(json.loads(json.dumps(part.to_state())), config)
    restored.apply_all(rest)

    assert whole.snapshot(T0 + 100).to_dict() == restored.snapshot(T0 + 100).to_dict()


def test_queue_snapshot_rebuilds_live_state_after_restart() -> None:
    snapshot = ev.QueueSnapshot(
        server=SERVER,
        call_id="",
        at=T0 + 100,
        queue="support",
        members=[
            {"interface": OP, "member_name": "Operator 101", "paused": False, "in_call": True},
            {
                "interface": "Local/103@agents",
                "member_name": "Operator 103",
                "paused": True,
                "pause_reason": "break",
            },
        ],
        entries=[{"call_id": "c9", "position": 1, "wait_seconds": 42}],
    )
    metrics = LiveMetrics(MetricsConfig())
    metrics.apply(snapshot)

    snap = metrics.snapshot(T0 + 108)
    q = snap.queues["support"]
    assert (1, 50.0) == (q.waiting, q.longest_wait_seconds)
    assert (1, 1, {"break": 1}) == (
        q.operators["on_call"],
        q.operators["paused"],
        dict(q.paused_reasons),
    )
    assert 0 == q.offered  # offered before the restart: counted from the history, not here
    # the caller seen in the snapshot is answered: the call we did not see start is replaced
    metrics.apply(answered(T0 + 110, "c9", hold=52, iface="Local/103@agents"))
    assert 0 == metrics.snapshot(T0 + 111).queues["support"].waiting


def test_replayed_queue_event_is_not_counted_twice() -> None:
    metrics = run([queued(T0, "c1"), queued(T0, "c1")])
    assert 1 == metrics.snapshot(T0 + 1).queues["support"].offered


def test_missed_abandon_is_counted_from_the_hangup() -> None:
    metrics = run([queued(T0, "c1"), ended(T0 + 7, "c1", "abandoned")])
    q = metrics.snapshot(T0 + 8).queues["support"]
    assert (0, 1, 0) == (q.waiting, q.abandoned, q.short_abandoned)


def test_hourly_buckets_feed_the_day_charts() -> None:
    config = MetricsConfig()
    start = day_start(business_day(T0, config), config)
    metrics = run(
        [
            *answered_call(start + 3600 * 9 + 5, "c1", hold=2, talk=6),
            *abandoned_call(start + 3600 * 10 + 5, "c2", hold=30),
        ],
        config,
    )

    hourly = metrics.snapshot(start + 3600 * 11).queues["support"].hourly
    assert {
        "offered": 1,
        "answered": 1,
        "answered_in_sl": 1,
        "abandoned": 0,
        "short_abandoned": 0,
        "left": 0,
    } == dict(hourly[9])
    assert (1, 1) == (hourly[10]["offered"], hourly[10]["abandoned"])


def test_config_from_settings_reads_per_queue_thresholds() -> None:
    from contact_center.config import load_settings

    settings = load_settings(
        environ={
            "CC_GENERAL_TIMEZONE": "Europe/Moscow",
            "CC_STATS_QUEUE_SERVICE_LEVELS": "support=60, sales=30",
            "CC_STATS_QUEUE_WRAPUP_SECONDS": "support=10",
            "CC_STATS_WRAPUP_REASONS": "acw",
        }
    )
    config = MetricsConfig.from_settings(settings)
    assert (60, 30, 20, 10, "Europe/Moscow", frozenset({"acw"})) == (
        config.service_level_for("support"),
        config.service_level_for("sales"),
        config.service_level_for("other"),
        config.wrapup_for("support"),
        config.timezone,
        config.wrapup_reasons,
    )
    # an explicit threshold (the CLI's --service-level-seconds) applies to every queue
    assert 5 == MetricsConfig.from_settings(settings, service_level_seconds=5).service_level_for(
        "support"
    )


def test_malformed_per_queue_threshold_names_the_setting() -> None:
    import pytest

    from contact_center.config import ConfigError, load_settings

    settings = load_settings(environ={"CC_STATS_QUEUE_SERVICE_LEVELS": "support:60"})
    with pytest.raises(ConfigError, match=r"stats.queue_service_levels: expected queue=seconds"):
        MetricsConfig.from_settings(settings)


def presence(at: float, state: str, reason: str = "", until: float = 0.0) -> ev.OperatorAction:
    """What routing's OperatorStates publishes for an operator it manages."""
    return ev.OperatorAction(
        server=SERVER,
        call_id="",
        at=at,
        user="anna",
        action="pause",
        detail={"state": state, "reason": reason, "until": until, "interface": OP, "name": "Anna"},
    )


def test_a_managed_operator_shows_the_services_state_with_calls_on_top() -> None:
    # Asterisk's members say "not paused" (the pause has not reached it yet, or a stale
    # event): the service's word decides; a call still shows as on call.
    metrics = run([login(T0), presence(T0 + 1, "paused", "meeting")])
    op = metrics.snapshot(T0 + 2).operators[OP]
    assert ("paused", "meeting", "Anna") == (op.state, op.reason, op.name)
    metrics.apply(presence(T0 + 3, "available"))
    metrics.apply_all(answered_call(T0 + 4, "c1", hold=1, talk=5)[:3])
    assert "on_call" == metrics.snapshot(T0 + 6).operators[OP].state
    metrics.apply(completed(T0 + 10, "c1", hold=1, talk=5))
    metrics.apply(presence(T0 + 10, "wrapup", until=T0 + 40))
    op = metrics.snapshot(T0 + 11).operators[OP]
    assert ("wrapup", T0 + 40, T0 + 10) == (op.state, op.until, op.since)
    metrics.apply(presence(T0 + 20, "offline"))
    op = metrics.snapshot(T0 + 21).operators[OP]
    assert ("offline", 0.0) == (op.state, op.until)
    assert 10.0 == op.wrapup_seconds


async def test_the_snapshot_built_in_slices_is_the_snapshot() -> None:
    """The wallboard's snapshot, built a slice of operators at a time (the loop gets a turn
    between slices), has exactly the figures of the one built in one piece."""
    operators = [f"Local/{1000 + i}@agents" for i in range(25)]
    events: list[ev.DomainEvent] = [login(T0, iface) for iface in operators]
    events += answered_call(T0 + 10, "c1", hold=2, talk=6)
    # paused, in two queues, and in wrap-up: every figure that depends on the state
    events += [login(T0 + 20, operators[3], paused=True, reason="lunch")]
    events += [login(T0 + 20, operators[5], "sales"), login(T0 + 21, operators[5], "billing")]
    metrics = run(events)

    built, cost = await metrics.snapshot_dict(T0 + 100, slice_size=4)

    assert json.dumps(metrics.snapshot(T0 + 100).to_dict()) == json.dumps(built)
    assert 25 <= len(built["operators"])
    assert cost >= 0.0
    assert ("paused", "lunch") == (
        built["operators"][operators[3]]["state"],
        built["operators"][operators[3]]["reason"],
    )
    assert ["billing", "sales", "support"] == built["operators"][operators[5]]["queues"]


def test_the_saved_members_follow_every_change_of_membership() -> None:
    m = LiveMetrics()
    other = "Local/102@agents"

    def members() -> dict[str, tuple[str, bool, str]]:
        saved = m.queue_state("support")["members"]
        return {k: (v["name"], v["paused"], v["reason"]) for k, v in saved.items()}

    m.apply(login(T0, OP))
    m.apply(login(T0 + 1, other))
    assert {OP: ("Operator 101", False, ""), other: ("Operator 102", False, "")} == members()
    assert members() == members()  # read twice, nothing changed: the same
    m.apply(login(T0 + 2, OP, paused=True, reason="lunch"))
    assert ("Operator 101", True, "lunch") == members()[OP]
    m.apply(login(T0 + 3, other, logged_in=False))
    assert [OP] == list(members())
    m.apply(
        ev.QueueSnapshot(
            server="pbx1",
            call_id="",
            at=T0 + 4,
            queue="support",
            members=[{"interface": other, "member_name": "Boris", "paused": False}],
            entries=[],
        )
    )
    assert {other: ("Boris", False, "")} == members()
    restored = LiveMetrics.from_state(m.to_state())
    assert m.queue_state("support") == restored.queue_state("support")
