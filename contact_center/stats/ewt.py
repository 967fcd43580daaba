"""Estimated wait time per queue, from the live figures, for the IVR to tell callers.

Two estimates (formulas in docs/metrics.md):

* ``linear``: callers ahead that no free (or ringing) operator takes now × AHT ÷ staffed.
* ``erlang``: Erlang C with today's arrival rate and AHT; falls back to ``linear`` when the
  queue is overloaded (traffic ≥ operators), where Erlang C has no finite answer.

Asterisk's own announcement (``(holdtime + 30 − waited) / 60`` from an EWMA, ignoring the
queue length) is not used.
"""

from __future__ import annotations

import inspect
import math
import time
from collections.abc import Awaitable, Callable
from typing import NamedTuple

from contact_center.stats.metrics import (
    AVAILABLE,
    RINGING,
    LiveMetrics,
    MetricsConfig,
    QueueFigures,
    business_day,
    day_start,
)
from contact_center.stats.store import StatsStore

DEFAULT_AHT_SECONDS = 180.0  # until the queue has completed a call today


class WaitEstimate(NamedTuple):
    position: int  # 1 = next to be answered
    seconds: float | None  # None: nobody staffed, no estimate possible


def linear_wait(position: int, aht: float, staffed: int, available: int) -> float | None:
    """Seconds until ``position`` is answered: callers ahead beyond free operators × AHT ÷ staff."""
    if staffed <= 0:
        return None
    ahead = max(0, position - available)
    return round(ahead * aht / staffed, 1)


def erlang_c_probability(agents: int, traffic: float) -> float:
    """Probability that a caller waits (Erlang C), for ``traffic`` Erlangs on ``agents``."""
    if agents <= 0 or traffic >= agents:
        return 1.0
    # the Erlang B recursion is numerically stable for large agent counts
    b = 1.0
    for k in range(1, agents + 1):
        b = traffic * b / (k + traffic * b)
    return b / (1.0 - (traffic / agents) * (1.0 - b))


def erlang_c_asa(agents: int, arrival_per_second: float, aht: float) -> float | None:
    """Mean wait of all callers (ASA = P_wait · h / (m − A)); None when overloaded."""
    traffic = arrival_per_second * aht
    if agents <= 0 or traffic >= agents:
        return None
    return erlang_c_probability(agents, traffic) * aht / (agents - traffic)


def erlang_c_service_level(
    agents: int, arrival_per_second: float, aht: float, t: float
) -> float | None:
    """Share answered within ``t`` s: 1 − P_wait · e^(−(m−A)·t/h)."""
    traffic = arrival_per_second * aht
    if agents <= 0 or traffic >= agents:
        return None
    p_wait = erlang_c_probability(agents, traffic)
    return 1.0 - p_wait * math.exp(-(agents - traffic) * t / aht)


def estimate_for(
    figures: QueueFigures | None,
    position: int,
    *,
    method: str = "linear",
    arrival_per_second: float = 0.0,
    default_aht: float = DEFAULT_AHT_SECONDS,
) -> WaitEstimate:
    """The estimate for a caller at ``position`` in a queue with these figures."""
    if figures is None:
        return WaitEstimate(position, None)
    aht = figures.aht_seconds or default_aht
    staffed = figures.operators.get("staffed", 0)
    # an operator ringing is about to take a waiting caller: as good as free for the others
    available = figures.operators.get(AVAILABLE, 0) + figures.operators.get(RINGING, 0)
    if method == "erlang":
        asa = erlang_c_asa(staffed, arrival_per_second, aht)
        if asa is not None:
            return WaitEstimate(position, round(asa, 1))
    return WaitEstimate(position, linear_wait(position, aht, staffed, available))


MetricsSource = Callable[[], LiveMetrics | Awaitable[LiveMetrics]]


class WaitEstimator:
    """``await estimate(queue)`` → (position, seconds) for the IVR."""

    def __init__(
        self,
        source: MetricsSource,
        *,
        method: str = "linear",
        default_aht: float = DEFAULT_AHT_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if method not in {"linear", "erlang"}:
            raise ValueError(f"unknown wait estimate method {method!r} (linear or erlang)")
        self._source = source
        self.method = method
        self.default_aht = default_aht
        self._clock = clock

    @classmethod
    def from_store(
        cls, store: StatsStore, config: MetricsConfig, **kwargs: object
    ) -> WaitEstimator:
        """An estimator in a process without the consumer (reads the shared store)."""

        async def load() -> LiveMetrics:
            state = await store.load()
            return LiveMetrics.from_state(state or {}, config)

        return cls(load, **kwargs)  # type: ignore[arg-type]

    async def estimate(self, queue: str, call_id: str = "") -> WaitEstimate:
        """Position and expected wait of ``call_id`` (or of a caller joining now)."""
        metrics = self._source()
        if inspect.isawaitable(metrics):
            metrics = await metrics
        now = self._clock()
        snapshot = metrics.snapshot(now)
        position = metrics.position_of(queue, call_id)
        figures = snapshot.queues.get(queue)
        day_began = day_start(business_day(now, metrics.config), metrics.config)
        rate = (figures.offered if figures else 0) / max(3600.0, now - day_began)
        return estimate_for(
            figures,
            position,
            method=self.method,
            arrival_per_second=rate,
            default_aht=self.default_aht,
        )
