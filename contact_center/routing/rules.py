"""Routing rules: a YAML file, validated like IVR menus, evaluated when the IVR hands a call over.

A rules file looks like::

    default_queue: support
    queues:
      support: {overflow: {after_seconds: 120, to: support_l2}, when_empty: callback}
      vip: {}
      sales:
        hours:   # outside these hours (and on holidays) calls go to voicemail or callback
          timezone: Europe/Moscow
          open: {mon-fri: "09:00-18:00", sat: "10:00-14:00"}
          holidays: [2026-01-01]
          when_closed: voicemail
      billing: {skills: [billing]}   # operators' penalty here from their billing level
    sticky: {enabled: true, ring_first_seconds: 15, max_age_days: 30}
    rules:
      - name: sales from the menu
        when: {ivr_choice: "1"}
        queue: sales
      - name: VIPs first
        when: {segment: VIP}
        priority: 10
        queue: vip
      - name: open complaint
        when: {open_complaint: true}
        priority: 5
      - name: English speakers
        when: {language: en}
        skills: [en]

Rules are applied in order; each matching rule may set the queue (the first one to do so
wins), raise the priority (the highest wins) and add skills. Every rule that matched is kept as
a reason, so the decision can be logged into the call's history with why it was made.

The service reads the file through :class:`RulesFile`: re-read when it changes; a version that
does not load is logged as ``file:line: reason`` and the previous rules stay in use.
"""

from __future__ import annotations

import logging
import re
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

import yaml

log = logging.getLogger(__name__)

CONDITION_KEYS = frozenset(
    {"ivr_choice", "segment", "language", "open_complaint", "known_customer", "did", "vip"}
)
WHEN_EMPTY = frozenset({"queue", "callback", "voicemail"})
WHEN_CLOSED = frozenset({"callback", "voicemail"})
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
SPAN_RE = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-4]):([0-5]\d)$")


class RoutingConfigError(ValueError):
    """A rules file is invalid; the message names file, line and reason."""


@dataclass(frozen=True, slots=True)
class Overflow:
    after_seconds: int
    to: str


@dataclass(frozen=True, slots=True)
class BusinessHours:
    timezone: str
    open: Mapping[int, tuple[tuple[time, time], ...]]  # weekday (0 = Monday) -> spans
    holidays: frozenset[date] = frozenset()
    when_closed: str = "voicemail"

    def is_open(self, now: datetime) -> bool:
        local = now.astimezone(zoneinfo.ZoneInfo(self.timezone))
        if local.date() in self.holidays:
            return False
        t = local.time()
        return any(start <= t < end for start, end in self.open.get(local.weekday(), ()))


@dataclass(frozen=True, slots=True)
class QueuePolicy:
    name: str
    overflow: Overflow | None = None
    when_empty: str = "queue"  # stay in queue, or offer a callback / voicemail
    hours: BusinessHours | None = None  # None: always open
    # skills an operator needs here: their level sets their penalty (experts ring first)
    skills: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    when: Mapping[str, Any]
    queue: str = ""
    priority: int = 0
    skills: tuple[str, ...] = ()
    line: int = 0


@dataclass(frozen=True, slots=True)
class StickyPolicy:
    enabled: bool = True
    ring_first_seconds: int = 15
    max_age_days: int = 30


@dataclass(frozen=True, slots=True)
class RoutingRules:
    default_queue: str
    queues: Mapping[str, QueuePolicy]
    rules: tuple[Rule, ...]
    sticky: StickyPolicy = field(default_factory=StickyPolicy)


@dataclass(frozen=True, slots=True)
class CallFacts:
    """What routing knows about a call when the IVR hands it over."""

    ivr_choice: str = ""
    did: str = ""
    customer_id: int | None = None
    segment: str = ""
    language: str = ""
    open_complaint: bool = False
    last_operator: str = ""  # interface of the operator who last served this customer
    last_served_days_ago: float | None = None


@dataclass(frozen=True, slots=True)
class QueueState:
    """Live figures routing needs for one queue."""

    logged_in: int = 0
    available: int = 0
    longest_wait: float = 0.0


@dataclass(frozen=True, slots=True)
class Decision:
    queue: str
    priority: int
    skills: tuple[str, ...]
    preferred_interface: str  # ring this operator first (sticky), "" for none
    ring_first_seconds: int
    action: str  # queue | callback | voicemail
    reasons: tuple[str, ...]


def _matches(rule: Rule, facts: CallFacts) -> bool:
    for key, expected in rule.when.items():
        if key == "ivr_choice" and str(expected) != facts.ivr_choice:
            return False
        if key == "did" and str(expected) != facts.did:
            return False
        if key == "segment" and str(expected).lower() != facts.segment.lower():
            return False
        if key == "vip" and bool(expected) != (facts.segment.upper() == "VIP"):
            return False
        if key == "language" and str(expected).lower() != facts.language.lower():
            return False
        if key == "open_complaint" and bool(expected) != facts.open_complaint:
            return False
        if key == "known_customer" and bool(expected) != (facts.customer_id is not None):
            return False
    return True


def decide(
    rules: RoutingRules,
    facts: CallFacts,
    queues: Mapping[str, QueueState],
    available_operators: frozenset[str] = frozenset(),
    *,
    fallback_queue: str = "",
    now: datetime | None = None,
) -> Decision:
    """Pick queue, priority, skills and a preferred operator for a call, with the reasons.

    ``fallback_queue`` (the IVR menu's choice) wins over the file's default queue when no
    rule names a queue. ``now`` (timezone-aware) checks the queue's business hours."""
    queue = ""
    priority = 0
    skills: list[str] = []
    reasons: list[str] = []
    for rule in rules.rules:
        if not _matches(rule, facts):
            continue
        reasons.append(f"rule '{rule.name}'")
        if rule.queue and not queue:
            queue = rule.queue
        priority = max(priority, rule.priority)
        skills.extend(s for s in rule.skills if s not in skills)
    if not queue and fallback_queue:
        queue = fallback_queue
        reasons.append(f"IVR chose {queue}")
    if not queue:
        queue = rules.default_queue
        reasons.append(f"default queue {queue}")
    action = "queue"
    policy = rules.queues.get(queue)
    live = queues.get(queue)
    state = live or QueueState()
    hours = policy.hours if policy is not None else None
    if hours is not None and now is not None and not hours.is_open(now):
        action = hours.when_closed
        reasons.append(f"{queue} is closed: {action}")
    # Without live figures for the queue (stats not running yet) nothing overflows: a guess
    # of "nobody logged in" would send every call away.
    elif policy is not None and live is not None:
        if policy.overflow and (
            state.logged_in == 0 or state.longest_wait >= policy.overflow.after_seconds
        ):
            why = "nobody logged in" if state.logged_in == 0 else "waits too long"
            reasons.append(f"overflow {queue} -> {policy.overflow.to} ({why})")
            queue = policy.overflow.to
            state = queues.get(queue, QueueState())
            policy = rules.queues.get(queue, policy)
        if state.logged_in == 0 and policy.when_empty != "queue":
            action = policy.when_empty
            reasons.append(f"{queue} has nobody logged in: {action}")
    preferred = ""
    ring_first = 0
    sticky = rules.sticky
    if (
        sticky.enabled
        and facts.last_operator
        and facts.last_operator in available_operators
        and (
            facts.last_served_days_ago is None or facts.last_served_days_ago <= sticky.max_age_days
        )
    ):
        preferred = facts.last_operator
        ring_first = sticky.ring_first_seconds
        reasons.append(f"sticky: {preferred} served this customer last")
    return Decision(
        queue=queue,
        priority=priority,
        skills=tuple(skills),
        preferred_interface=preferred,
        ring_first_seconds=ring_first,
        action=action,
        reasons=tuple(reasons),
    )


# --- loading and validation ---------------------------------------------------------------


class _LineLoader(yaml.SafeLoader):
    """Keeps the line of every mapping so errors can point at it."""


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> dict[str, Any]:
    mapping = {str(k): v for k, v in loader.construct_mapping(node, deep=True).items()}
    mapping["__line__"] = node.start_mark.line + 1
    return mapping


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _err(path: Path, line: int, reason: str) -> RoutingConfigError:
    return RoutingConfigError(f"{path}:{line}: {reason}")


def _int(path: Path, line: int, value: Any, what: str) -> int:
    if isinstance(value, bool):
        raise _err(path, line, f"{what} must be a whole number, got {value!r}")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise _err(path, line, f"{what} must be a whole number, got {value!r}") from None


def _mapping(path: Path, line: int, value: Any, what: str) -> dict[str, Any]:
    """``value`` as a mapping (absent: empty), else a located error."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _err(path, line, f"{what} must be a mapping")
    return value


def _list(path: Path, line: int, value: Any, what: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise _err(path, line, f"{what} must be a list")
    return value


def _read(path: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise _err(path, 0, f"cannot read: {exc.strerror or exc}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise _err(path, line, f"not UTF-8 text (byte 0x{data[exc.start]:02x})") from None


def _days(key: str) -> list[int] | None:
    first, _, last = key.lower().partition("-")
    if first not in DAYS or (last and last not in DAYS):
        return None
    a, b = DAYS.index(first), DAYS.index(last or first)
    return list(range(a, b + 1)) if a <= b else [*range(a, 7), *range(0, b + 1)]


def _hours(path: Path, line: int, queue: str, raw: Any) -> BusinessHours:
    """``hours: {timezone, open: {mon-fri: "09:00-18:00"}, holidays: [...], when_closed}``."""
    where = f"queue {queue}: hours"
    if not isinstance(raw, dict):
        raise _err(path, line, f"{where} must be a mapping")
    line = int(raw.get("__line__", line))
    tz = str(raw.get("timezone", ""))
    try:
        zoneinfo.ZoneInfo(tz)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise _err(path, line, f"{where}: unknown timezone {tz!r}") from None
    week_raw = raw.get("open")
    if not isinstance(week_raw, dict):
        raise _err(path, line, f"{where}: 'open' must map days (mon, mon-fri) to HH:MM-HH:MM")
    week: dict[int, list[tuple[time, time]]] = {}
    for key, spans in week_raw.items():
        if key == "__line__":
            continue
        days = _days(str(key))
        if days is None:
            raise _err(path, line, f"{where}: invalid day range {key!r}")
        for span in spans if isinstance(spans, list) else [spans]:
            m = SPAN_RE.match(str(span))
            if m is None:
                raise _err(path, line, f"{where}: invalid hours {span!r} (HH:MM-HH:MM)")
            h1, m1, h2, m2 = (int(g) for g in m.groups())
            if h2 == 24 and m2:
                raise _err(path, line, f"{where}: invalid hours {span!r} (HH:MM-HH:MM)")
            end = time.max if h2 == 24 else time(h2, m2)
            for day in days:
                week.setdefault(day, []).append((time(h1, m1), end))
    holidays: set[date] = set()
    for item in _list(path, line, raw.get("holidays"), f"{where}: 'holidays'"):
        try:
            holidays.add(item if isinstance(item, date) else date.fromisoformat(str(item)))
        except ValueError:
            raise _err(path, line, f"{where}: invalid holiday {item!r}") from None
    when_closed = str(raw.get("when_closed", "voicemail"))
    if when_closed not in WHEN_CLOSED:
        raise _err(path, line, f"{where}: when_closed must be one of {sorted(WHEN_CLOSED)}")
    return BusinessHours(
        timezone=tz,
        open={d: tuple(v) for d, v in week.items()},
        holidays=frozenset(holidays),
        when_closed=when_closed,
    )


def load_rules(path: str | Path) -> RoutingRules:
    """Load and validate a rules file; raise RoutingConfigError naming file:line: reason."""
    path = Path(path)
    try:
        data = yaml.load(_read(path), Loader=_LineLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        reason = f"YAML syntax: {exc.problem or exc.context}"
        if exc.context and exc.context_mark is not None and exc.problem:
            # where the unclosed bracket or quote began, when the error shows only at the end
            reason += f" ({exc.context} started at line {exc.context_mark.line + 1})"
        raise _err(path, mark.line + 1 if mark else 0, reason) from None
    except yaml.YAMLError as exc:
        raise _err(path, 0, f"YAML syntax: {exc}") from None
    if not isinstance(data, dict):
        raise _err(path, 1, "the file must be a mapping")
    top = int(data.get("__line__", 1))
    queues_raw = data.get("queues") or {}
    if not isinstance(queues_raw, dict):
        raise _err(path, top, "'queues' must be a mapping")
    queues: dict[str, QueuePolicy] = {}
    for name, raw in queues_raw.items():
        if name == "__line__":
            continue
        raw = raw or {}
        line = int(raw.get("__line__", top)) if isinstance(raw, dict) else top
        if not isinstance(raw, dict):
            raise _err(path, line, f"queue {name}: must be a mapping")
        overflow = None
        if "overflow" in raw:
            o = raw["overflow"]
            if not isinstance(o, dict) or "to" not in o or "after_seconds" not in o:
                raise _err(path, line, f"queue {name}: overflow needs 'to' and 'after_seconds'")
            after = _int(path, line, o["after_seconds"], f"queue {name}: overflow after_seconds")
            overflow = Overflow(after_seconds=after, to=str(o["to"]))
        when_empty = str(raw.get("when_empty", "queue"))
        if when_empty not in WHEN_EMPTY:
            raise _err(path, line, f"queue {name}: when_empty must be one of {sorted(WHEN_EMPTY)}")
        hours = _hours(path, line, str(name), raw["hours"]) if "hours" in raw else None
        skills = _list(path, line, raw.get("skills"), f"queue {name}: 'skills'")
        queues[str(name)] = QueuePolicy(
            name=str(name),
            overflow=overflow,
            when_empty=when_empty,
            hours=hours,
            skills=tuple(str(s) for s in skills),
        )
    default_queue = str(data.get("default_queue", ""))
    if not default_queue:
        raise _err(path, top, "'default_queue' is required")
    rules: list[Rule] = []
    for index, raw in enumerate(_list(path, top, data.get("rules"), "'rules'")):
        if not isinstance(raw, dict):
            raise _err(path, top, f"rule #{index + 1}: must be a mapping")
        line = int(raw.get("__line__", top))
        when_raw = _mapping(path, line, raw.get("when"), "'when'")
        when = {k: v for k, v in when_raw.items() if k != "__line__"}
        unknown = set(when) - CONDITION_KEYS
        if unknown:
            raise _err(path, line, f"unknown condition {sorted(unknown)[0]!r}")
        skills = raw.get("skills") or []
        if not isinstance(skills, list):
            raise _err(path, line, "'skills' must be a list")
        priority = _int(path, line, raw.get("priority", 0), "'priority'")
        rules.append(
            Rule(
                name=str(raw.get("name") or f"rule {index + 1}"),
                when=when,
                queue=str(raw.get("queue", "")),
                priority=priority,
                skills=tuple(str(s) for s in skills),
                line=line,
            )
        )
    known = set(queues) | {default_queue}
    for rule in rules:
        if rule.queue and rule.queue not in known:
            raise _err(path, rule.line, f"rule '{rule.name}': unknown queue {rule.queue!r}")
    for policy in queues.values():
        if policy.overflow and policy.overflow.to not in known:
            raise _err(path, top, f"queue {policy.name}: overflow to unknown queue")
    sticky_raw = _mapping(path, top, data.get("sticky"), "'sticky'")
    sticky_line = int(sticky_raw.get("__line__", top))
    sticky = StickyPolicy(
        enabled=bool(sticky_raw.get("enabled", True)),
        ring_first_seconds=_int(
            path, sticky_line, sticky_raw.get("ring_first_seconds", 15), "sticky ring_first_seconds"
        ),
        max_age_days=_int(
            path, sticky_line, sticky_raw.get("max_age_days", 30), "sticky max_age_days"
        ),
    )
    return RoutingRules(
        default_queue=default_queue, queues=queues, rules=tuple(rules), sticky=sticky
    )


def queue_skills(rules: RoutingRules | None) -> dict[str, tuple[str, ...]]:
    """The skills each queue requires (queues without any are left out)."""
    if rules is None:
        return {}
    return {name: q.skills for name, q in rules.queues.items() if q.skills}


class RulesFile:
    """The rules in use, re-read when the file changes (checked at each hand-off: one stat).

    A change that does not load is reported once (file:line: reason) and the previous rules
    stay in use; with no good version yet, or no file, there are no rules and the IVR menus
    choose the queue alone."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.rules: RoutingRules | None = None
        self.error = ""  # why the file on disk is not the one in use ("" when it is)
        self._stamp: tuple[int, int, int] | None = None
        self._seen = False

    def current(self) -> RoutingRules | None:
        try:
            st = self.path.stat()
            # an editor that saves by rename makes a new inode, even within one mtime tick
            stamp: tuple[int, int, int] | None = (st.st_mtime_ns, st.st_size, st.st_ino)
        except OSError:
            stamp = None
        if stamp != self._stamp or not self._seen:
            self._seen, self._stamp = True, stamp
            self._reload(stamp is not None)
        return self.rules

    def _reload(self, exists: bool) -> None:
        if not exists:
            if self.rules is not None:
                log.warning("routing rules %s removed: IVR menus choose queues alone", self.path)
            else:
                log.info("no routing rules at %s: IVR menus choose queues alone", self.path)
            self.rules, self.error = None, ""
            return
        try:
            rules = load_rules(self.path)
        except RoutingConfigError as exc:
            self.error = str(exc)
            kept = "keeping the previous rules" if self.rules else "IVR menus choose queues alone"
            log.error("routing rules not loaded: %s (%s)", exc, kept)
            return
        self.rules, self.error = rules, ""
        log.info("routing rules loaded from %s: %d rule(s)", self.path, len(rules.rules))
