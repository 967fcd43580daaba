"""Estimated wait: the linear formula, Erlang C and the IVR-facing estimator."""

from __future__ import annotations

import math

import pytest

from contact_center.stats.ewt import (
    WaitEstimate,
    WaitEstimator,
    erlang_c_asa,
    erlang_c_probability,
    erlang_c_service_level,
    linear_wait,
)
from contact_center.stats.metrics import LiveMetrics, MetricsConfig
from tests.unit.stats_events import T0, answered_call, login, queued


def test_linear_wait_counts_callers_no_free_operator_can_take() -> None:
    assert 0.0 == linear_wait(position=1, aht=120, staffed=2, available=1)
    assert 120.0 == linear_wait(position=3, aht=120, staffed=2, available=1)  # 2 ahead × 120 / 2
    assert linear_wait(position=1, aht=120, staffed=0, available=0) is None


def test_erlang_c_matches_the_textbook_example() -> None:
    # 10 Erlangs on 11 agents: P_wait ≈ 0.6821 (standard Erlang C table)
    assert 0.6821 == round(erlang_c_probability(11, 10.0), 4)
    # 360 calls/h, AHT 100 s → A = 10; ASA = P·h/(m−A) = 0.6821·100/1
    assert 68.21 == round(erlang_c_asa(11, 0.1, 100.0) or 0.0, 2)
    sl = erlang_c_service_level(11, 0.1, 100.0, 20.0) or 0.0
    assert round(1 - 0.682113 * math.exp(-0.2), 3) == round(sl, 3)
    assert erlang_c_asa(10, 0.1, 100.0) is None  # overloaded: no finite mean wait


async def test_estimator_tells_a_caller_position_and_wait() -> None:
    metrics = LiveMetrics(MetricsConfig())
    metrics.apply_all(
        [
            login(T0),
            login(T0, "Local/102@agents"),
            *answered_call(T0, "c0", hold=2, talk=100),
            *answered_call(T0, "c00", hold=2, talk=140, iface="Local/102@agents"),
            login(T0 + 200, "Local/102@agents", paused=True, reason="lunch"),
            queued(T0 + 300, "c1"),
            queued(T0 + 301, "c2"),
            queued(T0 + 302, "c3"),
        ]
    )
    estimator = WaitEstimator(lambda: metrics, clock=lambda: T0 + 310)

    # AHT 120 s, one staffed operator (102 is paused) who is available: c1 is next
    assert WaitEstimate(1, 0.0) == await estimator.estimate("support", "c1")
    assert WaitEstimate(3, 240.0) == await estimator.estimate("support", "c3")
    assert WaitEstimate(4, 360.0) == await estimator.estimate("support")
    assert WaitEstimate(1, None) == await estimator.estimate("sales")


def test_unknown_method_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown wait estimate method"):
        WaitEstimator(lambda: LiveMetrics(), method="guess")
