"""Metrics from domain events, and JSON log lines."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from prometheus_client import REGISTRY

from contact_center.calls import events as ev
from contact_center.config import GeneralSettings
from contact_center.observability.logging import configure, configure_from_settings
from contact_center.observability.metrics import Metrics

BASE: dict[str, Any] = {"server": "pbx1", "at": 1000.0}


def value(metrics: Metrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels)


async def test_call_counters_and_queue_depth() -> None:
    metrics = Metrics(clock=lambda: 1002.5)
    for call in ("1", "2", "3"):
        arrived = ev.CallArrived(
            server="pbx1",
            at=1000.0,
            call_id=call,
            caller_number="+7",
            caller_number_raw="7",
            caller_name="",
        )
        await metrics.handle(arrived)
        await metrics.handle(ev.CallQueued(**BASE, call_id=call, queue="support", position=1))
    assert 3.0 == value(metrics, "cc_queue_depth", queue="support")
    answered = ev.CallAnswered(
        server="pbx1",
        at=1000.0,
        call_id="1",
        queue="support",
        interface="PJSIP/101",
        member_name="A",
        hold_seconds=1,
        ring_seconds=1,
    )
    await metrics.handle(answered)
    await metrics.handle(ev.CallAbandoned(**BASE, call_id="2", queue="support", position=1,
                                          original_position=2, hold_seconds=9))  # fmt: skip
    assert 1.0 == value(metrics, "cc_queue_depth", queue="support")
    # Ended while still queued (a leave event was missed): no longer waiting.
    await metrics.handle(ev.CallEnded(**BASE, call_id="3", cause=16, outcome="abandoned"))
    await metrics.handle(ev.CallEnded(**BASE, call_id="1", cause=16, outcome="answered"))
    await metrics.handle(ev.CallEnded(**BASE, call_id="2", cause=16, outcome=""))
    assert (0.0, 1.0, 1.0, 1.0, 3.0) == (
        value(metrics, "cc_queue_depth", queue="support"),
        value(metrics, "cc_calls_total", outcome="answered"),
        value(metrics, "cc_calls_total", outcome="abandoned"),
        value(metrics, "cc_calls_total", outcome="unknown"),
        value(metrics, "cc_calls_arrived_total", direction="inbound"),
    )
    assert 2.5 == value(metrics, "cc_bus_lag_seconds", consumer="metrics")


async def test_queue_snapshot_replaces_depth() -> None:
    metrics = Metrics()
    await metrics.handle(ev.CallQueued(**BASE, call_id="old", queue="sales", position=1))
    entries: list[dict[str, object]] = [{"call_id": "a", "position": 1}, {"call_id": "b"}]
    snapshot = ev.QueueSnapshot(
        server="pbx1", at=1000.0, call_id="", queue="sales", entries=entries
    )
    await metrics.handle(snapshot)
    assert 2.0 == value(metrics, "cc_queue_depth", queue="sales")


def test_gauges_histogram_and_own_registry() -> None:
    metrics = Metrics()
    metrics.ami_event(ev.CallHeld(**BASE, call_id="1", held=True))
    metrics.ami_event(ev.CallHeld(**BASE, call_id="1", held=False))
    metrics.observe_pop_latency(0.12)
    metrics.observe_pop_latency(0.4)
    backlog = [7]
    metrics.track_worker_backlog("history", lambda: backlog[0])
    metrics.set_websocket_clients(4)
    assert (2.0, 2.0, 1.0, 7.0, 4.0) == (
        value(metrics, "cc_ami_events_total", kind="call.held"),
        value(metrics, "cc_pop_latency_seconds_count"),
        value(metrics, "cc_pop_latency_seconds_bucket", le="0.2"),
        value(metrics, "cc_worker_backlog", worker="history"),
        value(metrics, "cc_websocket_clients"),
    )
    backlog[0] = 3
    body, content_type = metrics.render()
    assert b'cc_worker_backlog{worker="history"} 3.0' in body
    assert content_type.startswith("text/plain")
    # Two instances side by side (tests, several apps) do not clash: not the global registry.
    Metrics()
    assert REGISTRY.get_sample_value("cc_ami_events_total", {"kind": "call.held"}) is None


@pytest.fixture
def restore_root_logger() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_json_log_lines(restore_root_logger: None) -> None:
    out = io.StringIO()
    configure_from_settings(GeneralSettings(log_json=True, log_level="info"), stream=out)
    log = logging.getLogger("contact_center.test")
    log.debug("hidden")
    log.info("call %s answered", "17.1", extra={"call_id": "1700000000.17"})
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        log.exception('bad "input"\nsecond line')
    lines = out.getvalue().splitlines()
    assert 2 == len(lines)  # one object per line, even for a multi-line message
    first, second = (json.loads(line) for line in lines)
    assert ("INFO", "contact_center.test", "call 17.1 answered", "1700000000.17") == (
        first["level"], first["logger"], first["message"], first["call_id"],
    )  # fmt: skip
    assert first["time"].endswith("+00:00")
    assert ('bad "input"\nsecond line', "ERROR") == (second["message"], second["level"])
    assert "RuntimeError: boom" in second["exc"]
    assert "call_id" not in second


def test_text_logs_and_bad_level(restore_root_logger: None) -> None:
    out = io.StringIO()
    configure("WARNING", json_lines=False, stream=out)
    logging.getLogger("x").warning("plain %d", 1)
    assert out.getvalue().rstrip().endswith("WARNING x: plain 1")
    with pytest.raises(ValueError, match="unknown log level"):
        configure("LOUD")
