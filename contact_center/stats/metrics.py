"""Live queue and operator metrics computed from domain events — pure, no I/O.

:class:`LiveMetrics` applies events in order (``apply``) and answers figures for a moment
(``snapshot``). Every formula is written down in ``docs/metrics.md``; the names of the fields
here are the names used there, on the wallboard, in reports and in the JSON of
``contact-center stats``.

Counters belong to a *business day* that starts at ``day_start_hour`` in ``timezone``; the
first event (or snapshot) after the boundary rolls the day over: counters start again from
zero while live facts (callers waiting, operator states) carry on.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import math
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from contact_center.calls import events as ev
from contact_center.config import ConfigError, Settings
from contact_center.routing.operators import presence_of

# Operator states, most specific first: an operator on a call who is also paused is "on_call".
OFFLINE = "offline"
AVAILABLE = "available"
RINGING = "ringing"
ON_CALL = "on_call"
WRAPUP = "wrapup"
PAUSED = "paused"
OPERATOR_STATES = (AVAILABLE, RINGING, ON_CALL, WRAPUP, PAUSED, OFFLINE)

BUCKET_FIELDS = ("offered", "answered", "answered_in_sl", "abandoned", "short_abandoned", "left")


@dataclass(frozen=True, slots=True)
class MetricsConfig:
    """What the figures depend on besides the events."""

    service_level_seconds: int = 20
    short_abandon_seconds: int = 5
    day_start_hour: int = 0
    timezone: str = "UTC"
    # queue -> threshold, for queues whose service level differs from the default
    queue_service_levels: Mapping[str, int] = field(default_factory=dict)
    # queue -> automatic wrap-up after each call (queues.conf wrapuptime)
    queue_wrapup_seconds: Mapping[str, int] = field(default_factory=dict)
    # pause reasons that mean after-call work: counted as wrap-up, not as pause
    wrapup_reasons: frozenset[str] = frozenset({"wrapup", "acw", "after-call-work"})

    @classmethod
    def from_settings(
        cls, settings: Settings, *, service_level_seconds: int | None = None
    ) -> MetricsConfig:
        """The config from ``[stats]`` (and ``general.timezone``); an explicit SL wins."""
        stats = settings.stats
        levels = _parse_pairs(stats.queue_service_levels, "stats.queue_service_levels")
        if service_level_seconds is not None:
            levels = {}  # the command line threshold applies to every queue
        return cls(
            service_level_seconds=(
                stats.service_level_seconds
                if service_level_seconds is None
                else service_level_seconds
            ),
            short_abandon_seconds=stats.short_abandon_seconds,
            day_start_hour=stats.day_start_hour,
            timezone=stats.timezone or settings.general.timezone,
            queue_service_levels=levels,
            queue_wrapup_seconds=_parse_pairs(
                stats.queue_wrapup_seconds, "stats.queue_wrapup_seconds"
            ),
            wrapup_reasons=frozenset(
                r.strip() for r in stats.wrapup_reasons.split(",") if r.strip()
            ),
        )

    def service_level_for(self, queue: str) -> int:
        return int(self.queue_service_levels.get(queue, self.service_level_seconds))

    def wrapup_for(self, queue: str) -> int:
        return int(self.queue_wrapup_seconds.get(queue, 0))


def _parse_pairs(text: str, where: str) -> dict[str, int]:
    """``"support=60,sales=30"`` → ``{"support": 60, "sales": 30}``."""
    pairs: dict[str, int] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, sep, value = item.partition("=")
        try:
            if not sep or not name.strip():
                raise ValueError
            pairs[name.strip()] = int(value)
        except ValueError:
            raise ConfigError(f"{where}: expected queue=seconds, got {item!r}") from None
    return pairs


# --- business day -----------------------------------------------------------------------------


def business_day(at: float, config: MetricsConfig) -> date:
    """The business day an epoch instant belongs to (local date, shifted by the start hour)."""
    local = datetime.fromtimestamp(at, ZoneInfo(config.timezone))
    return (local - timedelta(hours=config.day_start_hour)).date()


def day_start(day: date, config: MetricsConfig) -> float:
    """Epoch of the first instant of a business day."""
    tz = ZoneInfo(config.timezone)
    local = datetime(day.year, day.month, day.day, config.day_start_hour, tzinfo=tz)
    return local.timestamp()


def day_bucket(at: float, config: MetricsConfig) -> int:
    """Hour of the business day (0 = the first hour after the day starts) for day charts."""
    start = day_start(business_day(at, config), config)
    return max(0, min(23, int((at - start) // 3600)))


# --- published figures --------------------------------------------------------------------------


def _shallow(figures: Any) -> dict[str, Any]:
    # not dataclasses.asdict: it deep-copies every value, and the wallboard snapshot of 1,000
    # operators is built several times a second; the field names once per class (fields()
    # itself was a tenth of the snapshot's time)
    cls = type(figures)
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = _FIELD_NAMES[cls] = tuple(f.name for f in dataclasses.fields(cls))
    return {name: getattr(figures, name) for name in names}


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


@dataclass(frozen=True, slots=True)
class QueueFigures:
    queue: str
    service_level_seconds: int
    # live
    waiting: int
    longest_wait_seconds: float
    operators: Mapping[str, int]  # state -> count, plus "staffed"
    paused_reasons: Mapping[str, int]
    # today
    offered: int
    answered: int
    answered_in_sl: int
    abandoned: int
    short_abandoned: int
    left: int
    callbacks: int
    transferred: int
    completed: int
    service_level_pct: float | None
    abandon_rate_pct: float | None
    asa_seconds: float | None
    aht_seconds: float | None
    avg_talk_seconds: float | None
    avg_wrapup_seconds: float | None
    talk_seconds: float
    wrapup_seconds: float
    max_wait_seconds: float
    hourly: tuple[Mapping[str, int], ...]  # 24 buckets of BUCKET_FIELDS

    def to_dict(self) -> dict[str, Any]:
        data = _shallow(self)  # the nested fields are copied below
        data["operators"] = dict(self.operators)
        data["paused_reasons"] = dict(self.paused_reasons)
        data["hourly"] = [dict(b) for b in self.hourly]
        return data


@dataclass(frozen=True, slots=True)
class OperatorFigures:
    interface: str
    name: str
    state: str
    reason: str
    since: float
    seconds_in_state: float
    queues: tuple[str, ...]
    calls: int
    talk_seconds: float
    pause_seconds: float
    wrapup_seconds: float
    current_call: str
    until: float = 0.0  # when a running wrap-up ends (0: none)

    def to_dict(self) -> dict[str, Any]:
        data = _shallow(self)
        data["queues"] = list(self.queues)
        return data


@dataclass(frozen=True, slots=True)
class Snapshot:
    at: float
    day: str
    queues: Mapping[str, QueueFigures]
    operators: Mapping[str, OperatorFigures]

    def to_dict(self) -> dict[str, Any]:
        return {
            "at": self.at,
            "day": self.day,
            "queues": {name: q.to_dict() for name, q in sorted(self.queues.items())},
            "operators": {k: o.to_dict() for k, o in sorted(self.operators.items())},
        }


@dataclass(frozen=True, slots=True)
class Changed:
    """Which queues and operators an event touched (what a store must write)."""

    queues: frozenset[str] = frozenset()
    operators: frozenset[str] = frozenset()
    day_rolled: bool = False

    @property
    def empty(self) -> bool:
        return not (self.queues or self.operators or self.day_rolled)


# --- internal, mutable state (serialisable with dataclasses.asdict) ---------------------------


@dataclass(slots=True)
class _Waiting:
    since: float
    position: int
    callback: bool = False
    moved: bool = False  # routing moved it to another queue (overflow): not an abandon


@dataclass(slots=True)
class _Member:
    name: str
    paused: bool = False
    reason: str = ""


@dataclass(slots=True)
class _QueueState:
    waiting: dict[str, _Waiting] = field(default_factory=dict)  # call id -> entry
    members: dict[str, _Member] = field(default_factory=dict)  # interface -> membership
    offered: int = 0
    answered: int = 0
    answered_in_sl: int = 0
    abandoned: int = 0
    short_abandoned: int = 0
    left: int = 0
    callbacks: int = 0
    transferred: int = 0
    completed: int = 0
    hold_total: float = 0.0
    talk_total: float = 0.0
    wrapup_total: float = 0.0
    max_wait: float = 0.0
    transferred_calls: list[str] = field(default_factory=list)
    hourly: list[dict[str, int]] = field(default_factory=list)

    def reset_day(self) -> None:
        live_waiting, live_members = self.waiting, self.members
        fresh = _QueueState(waiting=live_waiting, members=live_members)
        for f in dataclasses.fields(self):
            setattr(self, f.name, getattr(fresh, f.name))

    def bump(self, bucket: int, name: str, by: int = 1) -> None:
        if not self.hourly:
            self.hourly = [dict.fromkeys(BUCKET_FIELDS, 0) for _ in range(24)]
        self.hourly[bucket][name] += by


@dataclass(slots=True)
class _OperatorState:
    name: str = ""
    state: str = OFFLINE
    reason: str = ""
    since: float = 0.0
    accounted_from: float = 0.0  # state time before this instant is already in the totals
    call_id: str = ""  # call on now ("?" when known only from a QueueStatus snapshot)
    call_queue: str = ""
    ringing: list[str] = field(default_factory=list)
    wrapup_queue: str = ""
    wrapup_until: float = 0.0  # 0: no timed wrap-up running
    calls: int = 0
    talk_seconds: float = 0.0
    pause_seconds: float = 0.0
    wrapup_seconds: float = 0.0
    # The service's own word (routing's OperatorStates, published as OperatorAction with a
    # state): offline | available | paused | wrapup. Operators it manages take their state
    # from it; members added by hand in Asterisk are derived from the member events.
    managed: bool = False
    presence: str = ""
    presence_reason: str = ""
    presence_until: float = 0.0


def _from_dict(cls: type[Any], data: Mapping[str, Any]) -> Any:
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in data.items() if k in names})


# --- the metrics ------------------------------------------------------------------------------


class LiveMetrics:
    """Per-queue and per-operator figures of one business day, fed with domain events."""

    def __init__(self, config: MetricsConfig | None = None) -> None:
        self.config = config or MetricsConfig()
        self.day: date | None = None
        self.last_at = 0.0  # newest event time seen
        self._day_end = -math.inf  # first instant after the current business day
        self._day_begin = math.inf
        self._next_wrapup_end = math.inf  # earliest timed wrap-up end (skip the scan before)
        # call id -> interfaces ringing for it / connected to it (derived, rebuilt on load)
        self._ringing_by_call: dict[str, set[str]] = {}
        self._operators_by_call: dict[str, set[str]] = {}
        self.queues: dict[str, _QueueState] = {}
        self.operators: dict[str, _OperatorState] = {}
        self._dirty_queues: set[str] = set()
        self._dirty_operators: set[str] = set()
        # each queue's members as its saved document holds them, built once per change of
        # membership: with 1,000 members, rebuilding them on every save was most of a
        # worker's CPU on Redis (the member handlers below drop the entry)
        self._members_doc: dict[str, dict[str, dict[str, Any]]] = {}
        # per queue, a number that changes whenever its members do (unique across instances:
        # a store may keep their encoding by it)
        self._members_versions: dict[str, int] = {}
        self._rolled = False

    # -- driving ---------------------------------------------------------------------------

    def apply(self, event: ev.DomainEvent) -> Changed:
        """Apply one event; returns what changed."""
        if event.at <= 0:
            # list items (QueueStatus) carry no Asterisk timestamp: they happen "now"
            event = dataclasses.replace(event, at=self.last_at)
        self.last_at = max(self.last_at, event.at)
        self.advance(event.at)
        handler = _HANDLERS.get(type(event))
        if handler is not None:
            handler(self, event)
        return self.take_changes()

    def apply_all(self, events: Iterable[ev.DomainEvent]) -> None:
        for event in events:
            self.apply(event)

    def advance(self, now: float) -> None:
        """Let time pass: roll the day over and end timed wrap-ups due before ``now``.

        What this changes is reported by the next :meth:`apply` or :meth:`take_changes`.
        """
        if now >= self._day_end or self.day is None:
            day = business_day(now, self.config)
            if self.day is None:
                self.day = day
            if day > self.day:
                # wrap-ups that ended before midnight belong to the old day
                self._end_wrapups_due(day_start(day, self.config))
                self._roll_day(day)
            self._day_begin = day_start(self.day, self.config)
            self._day_end = day_start(self.day + timedelta(days=1), self.config)
        self._end_wrapups_due(now)

    def _bucket(self, at: float) -> int:
        if self._day_begin <= at < self._day_end:
            return max(0, min(23, int((at - self._day_begin) // 3600)))
        return day_bucket(at, self.config)

    def _end_wrapups_due(self, now: float) -> None:
        if now < self._next_wrapup_end:
            return
        for iface, op in self.operators.items():
            if op.wrapup_until and op.wrapup_until <= now:
                self._end_timed_wrapup(iface, op)
        self._next_wrapup_end = min(
            (op.wrapup_until for op in self.operators.values() if op.wrapup_until),
            default=math.inf,
        )

    def _set_call(self, iface: str, op: _OperatorState, call_id: str, queue: str) -> None:
        """Connect an operator to a call ("" = none), keeping the call index in step."""
        if op.call_id:
            holders = self._operators_by_call.get(op.call_id)
            if holders is not None:
                holders.discard(iface)
                if not holders:
                    del self._operators_by_call[op.call_id]
        op.call_id, op.call_queue = call_id, queue
        if call_id:
            self._operators_by_call.setdefault(call_id, set()).add(iface)

    def _ring(self, iface: str, op: _OperatorState, call_id: str, ringing: bool) -> None:
        if ringing and call_id not in op.ringing:
            op.ringing.append(call_id)
            self._ringing_by_call.setdefault(call_id, set()).add(iface)
        elif not ringing and call_id in op.ringing:
            op.ringing.remove(call_id)
            ifaces = self._ringing_by_call.get(call_id)
            if ifaces is not None:
                ifaces.discard(iface)
                if not ifaces:
                    del self._ringing_by_call[call_id]

    def _roll_day(self, day: date) -> None:
        boundary = day_start(day, self.config)
        for iface, op in self.operators.items():
            if op.accounted_from < boundary:
                self._account(op, boundary)  # the old day's share; discarded just below
            op.calls, op.talk_seconds, op.pause_seconds, op.wrapup_seconds = 0, 0.0, 0.0, 0.0
            self._dirty_operators.add(iface)
        for name, q in self.queues.items():
            q.reset_day()
            self._dirty_queues.add(name)
        self.day = day
        self._rolled = True

    def take_changes(self) -> Changed:
        """What changed since the last call (what a store must write)."""
        changed = Changed(
            frozenset(self._dirty_queues), frozenset(self._dirty_operators), self._rolled
        )
        self._dirty_queues.clear()
        self._dirty_operators.clear()
        self._rolled = False
        return changed

    # -- helpers used by the handlers ---------------------------------------------------------

    def _queue(self, name: str) -> _QueueState:
        self._dirty_queues.add(name)
        q = self.queues.get(name)
        if q is None:
            q = self.queues[name] = _QueueState()
        return q

    def _operator(self, iface: str, name: str = "") -> _OperatorState:
        self._dirty_operators.add(iface)
        op = self.operators.get(iface)
        if op is None:
            op = self.operators[iface] = _OperatorState(name=name or iface)
        elif name:
            op.name = name
        return op

    def _account(self, op: _OperatorState, until: float) -> None:
        """Add the time spent in the current state up to ``until`` to the day's totals."""
        spent = max(0.0, until - max(op.accounted_from, op.since))
        if op.state == PAUSED:
            op.pause_seconds += spent
        elif op.state == WRAPUP:
            op.wrapup_seconds += spent
            if op.wrapup_queue in self.queues:
                self._queue(op.wrapup_queue).wrapup_total += spent
        op.accounted_from = max(op.accounted_from, until)

    def _memberships(self, iface: str) -> list[_Member]:
        return [q.members[iface] for q in self.queues.values() if iface in q.members]

    def _derive(self, iface: str, op: _OperatorState) -> tuple[str, str]:
        if op.call_id:
            return ON_CALL, ""
        if op.wrapup_until:
            return WRAPUP, ""
        if op.managed:
            return _managed_state(op)
        members = self._memberships(iface)
        wrapup_pause = [m for m in members if m.paused and m.reason in self.config.wrapup_reasons]
        if op.ringing and members:
            return RINGING, ""
        if not members:
            return OFFLINE, ""
        if all(m.paused for m in members):
            if wrapup_pause:
                return WRAPUP, wrapup_pause[0].reason
            return PAUSED, members[0].reason
        return AVAILABLE, ""

    def _refresh(self, iface: str, at: float) -> None:
        """Recompute an operator's state; a change closes the time of the previous state."""
        op = self._operator(iface)
        state, reason = self._derive(iface, op)
        if (state, reason) == (op.state, op.reason):
            return
        self._account(op, at)
        if state == WRAPUP and op.state != WRAPUP and not op.wrapup_until:
            op.wrapup_queue = op.call_queue or op.wrapup_queue
        op.state, op.reason, op.since = state, reason, at
        op.accounted_from = at
        for qname, q in self.queues.items():
            if iface in q.members:
                self._dirty_queues.add(qname)

    def _end_timed_wrapup(self, iface: str, op: _OperatorState) -> None:
        until = op.wrapup_until
        op.wrapup_until = 0.0
        self._refresh(iface, until)

    def _stop_ringing(self, call_id: str, at: float) -> None:
        for iface in list(self._ringing_by_call.get(call_id, ())):
            self._ring(iface, self._operator(iface), call_id, False)
            self._refresh(iface, at)

    # -- figures ---------------------------------------------------------------------------

    def snapshot(self, now: float) -> Snapshot:
        """The figures at ``now`` (rolls the day and ends due wrap-ups first)."""
        self.advance(now)
        queues = {name: self._queue_figures(name, q, now) for name, q in self.queues.items()}
        operators = {
            iface: self._operator_figures(iface, op, now) for iface, op in self.operators.items()
        }
        return Snapshot(now, str(self.day or business_day(now, self.config)), queues, operators)

    async def snapshot_dict(
        self, now: float, *, slice_size: int = 100
    ) -> tuple[dict[str, Any], float]:
        """``snapshot(now).to_dict()`` built ``slice_size`` operators at a time, the event
        loop getting a turn between slices, and the seconds the building itself took.

        With 1,000 operators the whole snapshot is tens of milliseconds of pure CPU on a
        loaded machine: in one piece it held every screen pop that came meanwhile. Events
        applied between two slices show in the operators not built yet (each operator's
        figures are whole, all at ``now``)."""
        started = time.perf_counter()
        self.advance(now)
        queues = {
            name: self._queue_figures(name, q, now).to_dict()
            for name, q in sorted(self.queues.items())
        }
        day = str(self.day or business_day(now, self.config))
        operators: dict[str, Any] = {}
        cost = 0.0
        for i, iface in enumerate(sorted(self.operators)):
            if i and i % slice_size == 0:
                cost += time.perf_counter() - started
                await asyncio.sleep(0)
                started = time.perf_counter()
            op = self.operators.get(iface)
            if op is not None:  # gone meanwhile
                operators[iface] = self._operator_dict(iface, op, now)
        cost += time.perf_counter() - started
        return {"at": now, "day": day, "queues": queues, "operators": operators}, cost

    def _operator_dict(self, iface: str, op: _OperatorState, now: float) -> dict[str, Any]:
        """``_operator_figures(...).to_dict()`` without the frozen dataclass in between (its
        constructor was a third of a 1,000-operator snapshot)."""
        running = max(0.0, now - max(op.accounted_from, op.since))
        state = op.state
        return {
            "interface": iface,
            "name": op.name,
            "state": state,
            "reason": op.reason,
            "since": op.since,
            "seconds_in_state": round(max(0.0, now - op.since), 3),
            "queues": sorted(n for n, q in self.queues.items() if iface in q.members),
            "calls": op.calls,
            "talk_seconds": round(op.talk_seconds, 3),
            "pause_seconds": round(op.pause_seconds + (running if state == PAUSED else 0.0), 3),
            "wrapup_seconds": round(op.wrapup_seconds + (running if state == WRAPUP else 0.0), 3),
            "current_call": op.call_id,
            "until": _wrapup_end(op),
        }

    def _queue_figures(self, name: str, q: _QueueState, now: float) -> QueueFigures:
        counts = dict.fromkeys((*OPERATOR_STATES[:-1], "staffed"), 0)
        reasons: dict[str, int] = {}
        for iface, member in q.members.items():
            op = self.operators.get(iface)
            state = op.state if op else AVAILABLE
            if state == PAUSED or (member.paused and state == AVAILABLE):
                state = PAUSED  # paused in this queue, maybe available in another
                reasons[member.reason] = reasons.get(member.reason, 0) + 1
            counts[state] = counts.get(state, 0) + 1
            if state != PAUSED:
                counts["staffed"] += 1
        waits = [now - w.since for w in q.waiting.values()]
        outcomes = q.answered + q.abandoned - q.short_abandoned + q.left
        # talk and wrap-up of the calls completed today, including wrap-ups still running
        wrapup = q.wrapup_total + sum(
            now - max(op.accounted_from, op.since)
            for op in self.operators.values()
            if op.state == WRAPUP and op.wrapup_queue == name
        )
        hourly = tuple(dict(b) for b in q.hourly) or tuple(
            dict.fromkeys(BUCKET_FIELDS, 0) for _ in range(24)
        )
        return QueueFigures(
            queue=name,
            service_level_seconds=self.config.service_level_for(name),
            waiting=len(q.waiting),
            longest_wait_seconds=round(max(waits, default=0.0), 3),
            operators=counts,
            paused_reasons=reasons,
            offered=q.offered,
            answered=q.answered,
            answered_in_sl=q.answered_in_sl,
            abandoned=q.abandoned,
            short_abandoned=q.short_abandoned,
            left=q.left,
            callbacks=q.callbacks,
            transferred=q.transferred,
            completed=q.completed,
            service_level_pct=_pct(q.answered_in_sl, outcomes),
            abandon_rate_pct=_pct(q.abandoned - q.short_abandoned, outcomes),
            asa_seconds=_mean(q.hold_total, q.answered),
            aht_seconds=_mean(q.talk_total + wrapup, q.completed),
            avg_talk_seconds=_mean(q.talk_total, q.completed),
            avg_wrapup_seconds=_mean(wrapup, q.completed),
            talk_seconds=round(q.talk_total, 3),
            wrapup_seconds=round(wrapup, 3),
            max_wait_seconds=round(max(q.max_wait, *waits, 0.0), 3),
            hourly=hourly,
        )

    def _operator_figures(self, iface: str, op: _OperatorState, now: float) -> OperatorFigures:
        running = max(0.0, now - max(op.accounted_from, op.since))
        return OperatorFigures(
            interface=iface,
            name=op.name,
            state=op.state,
            reason=op.reason,
            since=op.since,
            seconds_in_state=round(max(0.0, now - op.since), 3),
            queues=tuple(sorted(n for n, q in self.queues.items() if iface in q.members)),
            calls=op.calls,
            talk_seconds=round(op.talk_seconds, 3),
            pause_seconds=round(op.pause_seconds + (running if op.state == PAUSED else 0.0), 3),
            wrapup_seconds=round(op.wrapup_seconds + (running if op.state == WRAPUP else 0.0), 3),
            current_call=op.call_id,
            until=_wrapup_end(op),
        )

    def position_of(self, queue: str, call_id: str = "") -> int:
        """1-based place of a waiting caller (by arrival), or the place of a caller joining now."""
        q = self.queues.get(queue)
        if q is None:
            return 1
        order = sorted(q.waiting, key=lambda cid: (q.waiting[cid].since, cid))
        if call_id in q.waiting:
            return order.index(call_id) + 1
        return len(order) + 1

    # -- persistence -----------------------------------------------------------------------------

    def members_version(self, name: str) -> int:
        """Changes whenever the members of queue ``name`` change (never the same number for
        other members, in any instance)."""
        version = self._members_versions.get(name)
        if version is None:
            version = self._members_versions[name] = next(_MEMBERS_VERSIONS)
        return version

    def _members_changed(self, name: str) -> None:
        self._members_versions[name] = next(_MEMBERS_VERSIONS)

    def queue_state(self, name: str) -> dict[str, Any]:
        # by hand: dataclasses.asdict deep-copies every value and is 20× slower
        q = self.queues[name]
        data = {f: getattr(q, f) for f in _QUEUE_SCALARS}
        data["waiting"] = {
            k: {"since": w.since, "position": w.position, "callback": w.callback, "moved": w.moved}
            for k, w in q.waiting.items()
        }
        members = self._members_doc.get(name)
        if members is None:
            members = self._members_doc[name] = {
                k: {"name": m.name, "paused": m.paused, "reason": m.reason}
                for k, m in q.members.items()
            }
        data["members"] = members
        data["transferred_calls"] = list(q.transferred_calls)
        data["hourly"] = [dict(b) for b in q.hourly]
        return data

    def operator_state(self, iface: str) -> dict[str, Any]:
        op = self.operators[iface]
        data = {f: getattr(op, f) for f in _OPERATOR_SCALARS}
        data["ringing"] = list(op.ringing)
        return data

    def to_state(self) -> dict[str, Any]:
        """Everything needed to continue after a restart, JSON-ready."""
        return {
            "day": self.day.isoformat() if self.day else "",
            "last_at": self.last_at,
            "queues": {n: self.queue_state(n) for n in self.queues},
            "operators": {i: self.operator_state(i) for i in self.operators},
        }

    @classmethod
    def from_state(
        cls, state: Mapping[str, Any], config: MetricsConfig | None = None
    ) -> LiveMetrics:
        metrics = cls(config)
        if state.get("day"):
            metrics.day = date.fromisoformat(str(state["day"]))
        metrics.last_at = float(state.get("last_at", 0.0))
        for name, data in state.get("queues", {}).items():
            q = _from_dict(_QueueState, data)
            q.waiting = {k: _from_dict(_Waiting, v) for k, v in data.get("waiting", {}).items()}
            q.members = {k: _from_dict(_Member, v) for k, v in data.get("members", {}).items()}
            q.transferred_calls = list(data.get("transferred_calls", []))
            q.hourly = [dict(b) for b in data.get("hourly", [])]
            metrics.queues[name] = q
        for iface, data in state.get("operators", {}).items():
            op = _from_dict(_OperatorState, data)
            op.ringing = []
            metrics.operators[iface] = op
            for call_id in data.get("ringing", []):
                metrics._ring(iface, op, str(call_id), True)
            call_id, op.call_id = op.call_id, ""
            metrics._set_call(iface, op, call_id, op.call_queue)
            if op.wrapup_until:
                metrics._next_wrapup_end = min(metrics._next_wrapup_end, op.wrapup_until)
        metrics._dirty_queues.clear()
        metrics._dirty_operators.clear()
        return metrics


_MEMBERS_VERSIONS = itertools.count(1)

_QUEUE_SCALARS = tuple(
    f.name
    for f in dataclasses.fields(_QueueState)
    if f.name not in {"waiting", "members", "transferred_calls", "hourly"}
)
_OPERATOR_SCALARS = tuple(f.name for f in dataclasses.fields(_OperatorState) if f.name != "ringing")


def _managed_state(op: _OperatorState) -> tuple[str, str]:
    """State of an operator the service manages: its published presence, plus ringing."""
    if op.presence in (OFFLINE, WRAPUP):
        return op.presence, ""
    if op.ringing:
        return RINGING, ""
    if op.presence == PAUSED:
        return PAUSED, op.presence_reason
    return AVAILABLE, ""


def _wrapup_end(op: _OperatorState) -> float:
    if op.state != WRAPUP:
        return 0.0
    return op.wrapup_until or (op.presence_until if op.presence == WRAPUP else 0.0)


def whole_seconds(seconds: float) -> int:
    """Waits compare in whole seconds, as app_queue and queue_log count them (1.003 s → 1)."""
    return math.floor(seconds + 1e-6)


def _pct(part: float, whole: float) -> float | None:
    return None if whole <= 0 else round(100.0 * part / whole, 2)


def _mean(total: float, count: int) -> float | None:
    return None if count <= 0 else round(total / count, 2)


# --- event handlers ---------------------------------------------------------------------------


def _on_queued(m: LiveMetrics, e: ev.CallQueued) -> None:
    q = m._queue(e.queue)
    if e.call_id in q.waiting:
        return  # seen already (a QueueStatus resync re-reports waiting callers)
    q.waiting[e.call_id] = _Waiting(since=e.at, position=e.position)
    q.offered += 1
    q.bump(m._bucket(e.at), "offered")


def _on_offered(m: LiveMetrics, e: ev.CallOffered) -> None:
    op = m._operator(e.interface, e.member_name)
    m._ring(e.interface, op, e.call_id, True)
    m._refresh(e.interface, e.at)


def _on_ring_no_answer(m: LiveMetrics, e: ev.CallRingNoAnswer) -> None:
    op = m._operator(e.interface, e.member_name)
    m._ring(e.interface, op, e.call_id, False)
    m._refresh(e.interface, e.at)


def _on_answered(m: LiveMetrics, e: ev.CallAnswered) -> None:
    if e.via == "queue" and e.queue:
        # Queue figures count the queue's own answers; an operator reached by a direct or
        # sticky Dial, a transfer or a call they placed is counted for the operator only.
        q = m._queue(e.queue)
        q.waiting.pop(e.call_id, None)
        q.answered += 1
        q.hold_total += e.hold_seconds
        q.max_wait = max(q.max_wait, e.hold_seconds)
        bucket = m._bucket(e.at)
        q.bump(bucket, "answered")
        if whole_seconds(e.hold_seconds) <= m.config.service_level_for(e.queue):
            q.answered_in_sl += 1
            q.bump(bucket, "answered_in_sl")
    m._stop_ringing(e.call_id, e.at)
    op = m._operator(e.interface, e.member_name)
    op.calls += 1
    m._set_call(e.interface, op, e.call_id, e.queue)
    op.wrapup_until = 0.0
    m._refresh(e.interface, e.at)


def _remove_waiting(m: LiveMetrics, queue: str, call_id: str) -> _Waiting | None:
    q = m._queue(queue)
    return q.waiting.pop(call_id, None)


def _count_abandon(m: LiveMetrics, queue: str, hold: float, at: float, callback: bool) -> None:
    q = m._queue(queue)
    q.max_wait = max(q.max_wait, hold)
    if callback:
        return  # the caller asked to be called back: not an abandon (counted in callbacks)
    bucket = m._bucket(at)
    q.abandoned += 1
    q.bump(bucket, "abandoned")
    if whole_seconds(hold) < m.config.short_abandon_seconds:
        q.short_abandoned += 1
        q.bump(bucket, "short_abandoned")


def _on_abandoned(m: LiveMetrics, e: ev.CallAbandoned) -> None:
    entry = _remove_waiting(m, e.queue, e.call_id)
    if entry is not None and entry.moved:
        # Asterisk reports a redirected caller as abandoned; routing moved it (overflow):
        # it left this queue without an operator, and is offered in the next one
        q = m._queue(e.queue)
        q.max_wait = max(q.max_wait, e.hold_seconds)
        q.left += 1
        q.bump(m._bucket(e.at), "left")
    else:
        _count_abandon(m, e.queue, e.hold_seconds, e.at, bool(entry and entry.callback))
    m._stop_ringing(e.call_id, e.at)


def _on_routing_decided(m: LiveMetrics, e: ev.RoutingDecided) -> None:
    """A caller waiting in one queue is being moved to ``e.queue`` (overflow of waiting
    callers); a decision at IVR hand-off finds the caller in no queue and changes nothing."""
    for name, q in m.queues.items():
        entry = q.waiting.get(e.call_id)
        if entry is not None and name != e.queue:
            entry.moved = True
            m._dirty_queues.add(name)


def _on_left(m: LiveMetrics, e: ev.CallLeftQueue) -> None:
    entry = _remove_waiting(m, e.queue, e.call_id)
    q = m._queue(e.queue)
    hold = e.hold_seconds or (e.at - entry.since if entry else 0.0)
    q.max_wait = max(q.max_wait, hold)
    if not (entry and entry.callback):
        q.left += 1
        q.bump(m._bucket(e.at), "left")
    m._stop_ringing(e.call_id, e.at)


def _on_callback(m: LiveMetrics, e: ev.CallbackRequested) -> None:
    marked = False
    for name, q in m.queues.items():
        entry = q.waiting.get(e.call_id)
        if entry is not None and (not e.queue or e.queue == name):
            entry.callback = True
            q.callbacks += 1
            m._dirty_queues.add(name)
            marked = True
    if not marked and e.queue:
        m._queue(e.queue).callbacks += 1


def _on_agent_completed(m: LiveMetrics, e: ev.AgentCompleted) -> None:
    q = m._queue(e.queue)
    q.completed += 1
    q.talk_total += e.talk_seconds
    if e.reason == "transfer":
        _count_transfer(m, e.queue, e.call_id)
    op = m._operator(e.interface, e.member_name)
    if op.call_id == e.call_id:
        # Not yet told by an OperatorLeft (the tracker sends it first, with the operator's
        # own talk; an AgentComplete may even come long after the operator left: a
        # Redirect, capture 18).
        op.talk_seconds += e.talk_seconds
        _end_call(m, e.interface, op, e.queue, e.at)


def _on_operator_left(m: LiveMetrics, e: ev.OperatorLeft) -> None:
    """One operator's own part of a call is over: their talk (a transferred call has one
    per operator) and the start of their wrap-up."""
    op = m._operator(e.interface, e.member_name)
    op.talk_seconds += e.talk_seconds
    if op.call_id == e.call_id:
        _end_call(m, e.interface, op, e.queue, e.at)


def _end_call(m: LiveMetrics, iface: str, op: _OperatorState, queue: str, at: float) -> None:
    m._set_call(iface, op, "", "")
    op.wrapup_queue = queue
    wrapup = m.config.wrapup_for(queue)
    op.wrapup_until = at + wrapup if wrapup > 0 else 0.0
    if op.wrapup_until:
        m._next_wrapup_end = min(m._next_wrapup_end, op.wrapup_until)
    m._refresh(iface, at)


def _count_transfer(m: LiveMetrics, queue: str, call_id: str) -> None:
    q = m._queue(queue)
    if call_id not in q.transferred_calls:
        q.transferred_calls.append(call_id)
        q.transferred += 1


def _on_transferred(m: LiveMetrics, e: ev.CallTransferred) -> None:
    for iface in m._operators_by_call.get(e.call_id, ()):
        op = m.operators[iface]
        if op.call_queue:
            _count_transfer(m, op.call_queue, e.call_id)
            return


def _on_ended(m: LiveMetrics, e: ev.CallEnded) -> None:
    for name, q in m.queues.items():
        entry = q.waiting.pop(e.call_id, None)
        if entry is not None:  # the abandon was missed (AMI gap): count it from the hang-up
            m._dirty_queues.add(name)
            _count_abandon(m, name, e.at - entry.since, e.at, entry.callback)
    m._stop_ringing(e.call_id, e.at)
    for iface in list(m._operators_by_call.get(e.call_id, ())):
        op = m._operator(iface)  # AgentComplete was missed: close the call without talk
        _end_call(m, iface, op, op.call_queue, e.at)


def _on_operator_state(m: LiveMetrics, e: ev.OperatorState) -> None:
    q = m._queue(e.queue)
    m._operator(e.interface, e.member_name)
    old = q.members.get(e.interface)
    before = None if old is None else (old.name, old.paused, old.reason)
    if not e.logged_in:
        q.members.pop(e.interface, None)
        after = None
    else:
        member = q.members.setdefault(e.interface, _Member(name=e.member_name))
        member.name = e.member_name or member.name
        member.paused = e.paused
        member.reason = e.pause_reason if e.paused else ""
        after = (member.name, member.paused, member.reason)
    if after != before:
        # this member's entry only (a call's state changes come as these events too, and
        # change nothing here)
        m._members_changed(e.queue)
        doc = m._members_doc.get(e.queue)
        if doc is not None:
            if after is None:
                doc.pop(e.interface, None)
            else:
                doc[e.interface] = {"name": after[0], "paused": after[1], "reason": after[2]}
    m._refresh(e.interface, e.at)


def _on_operator_action(m: LiveMetrics, e: ev.OperatorAction) -> None:
    """The service's word on an operator's state (routing's OperatorStates)."""
    found = presence_of(e)
    if found is None:
        return
    iface, state, reason, until = found
    name = e.detail.get("name")
    op = m._operator(iface, name if isinstance(name, str) else "")
    op.managed = True
    op.presence, op.presence_reason, op.presence_until = state, reason, until
    m._refresh(iface, e.at)


def _on_snapshot(m: LiveMetrics, e: ev.QueueSnapshot) -> None:
    """Replace the live part of one queue with what Asterisk reports (QueueStatus)."""
    q = m._queue(e.queue)
    m._members_doc.pop(e.queue, None)
    m._members_changed(e.queue)
    old_members = set(q.members)
    q.members = {}
    for member in e.members:
        iface = str(member["interface"])
        name = str(member.get("member_name", "")) or iface
        paused = bool(member.get("paused", False))
        q.members[iface] = _Member(
            name, paused, str(member.get("pause_reason", "")) if paused else ""
        )
        op = m._operator(iface, name)
        in_call = bool(member.get("in_call", False))
        if in_call and not op.call_id:
            m._set_call(iface, op, "?", e.queue)  # on a call we did not see start
        elif not in_call and op.call_id == "?":
            m._set_call(iface, op, "", "")
    live = {str(x["call_id"]): x for x in e.entries}
    for call_id in list(q.waiting):
        if call_id not in live:
            del q.waiting[call_id]  # left while we were not listening; counted from history
    for call_id, entry in live.items():
        wait = float(entry.get("wait_seconds", 0.0))
        if call_id in q.waiting:
            q.waiting[call_id].position = int(entry.get("position", 0))
        else:
            q.waiting[call_id] = _Waiting(since=e.at - wait, position=int(entry.get("position", 0)))
    for iface in old_members | set(q.members):
        m._refresh(iface, e.at)


_HANDLERS: dict[type[ev.DomainEvent], Any] = {
    ev.CallQueued: _on_queued,
    ev.CallOffered: _on_offered,
    ev.CallRingNoAnswer: _on_ring_no_answer,
    ev.CallAnswered: _on_answered,
    ev.CallAbandoned: _on_abandoned,
    ev.CallLeftQueue: _on_left,
    ev.CallbackRequested: _on_callback,
    ev.RoutingDecided: _on_routing_decided,
    ev.AgentCompleted: _on_agent_completed,
    ev.OperatorLeft: _on_operator_left,
    ev.CallTransferred: _on_transferred,
    ev.CallEnded: _on_ended,
    ev.OperatorState: _on_operator_state,
    ev.OperatorAction: _on_operator_action,
    ev.QueueSnapshot: _on_snapshot,
}
