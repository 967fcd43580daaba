"""Scenario files (YAML) for tests and demos: operators, queue members, calls, steps, load.

Example::

    name: morning-rush
    description: two operators, one never answers, three callers
    operators:
      - {interface: Local/101@agents, name: Operator 101, answer_after: 2, talk: 30}
      - {interface: Local/102@agents, name: Operator 102, answer_after: null}   # never answers
      - {interface: Local/104@agents, name: Operator 104, manual: true}         # a person
    members:
      - {queue: support, interface: Local/101@agents, name: Operator 101}
      - {queue: support, interface: Local/102@agents, name: Operator 102, penalty: 1}
    calls:
      - {at: 0, did: "4951110001", caller: "+74951234567", name: Ivan Petrov, dtmf: "2", talk: 20}
      - {at: 3, did: "4951110004", caller: "+74997654321", talk: 5}     # hangs up after 5 s
    steps:
      - {at: 10, action: pause, queue: support, interface: Local/101@agents, reason: lunch}
    load:                                     # optional: random calls on top
      calls_per_second: 2
      duration: 60

Times are seconds from the start of the run (scaled by the PBX's ``time_scale``).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from contact_center.sim.config import Operator
from contact_center.sim.errors import ScenarioError
from contact_center.sim.load import LoadProfile, LoadReport, run_load
from contact_center.sim.pbx import SimPbx

STEP_ACTIONS = frozenset({"pause", "unpause", "add", "remove", "answer", "hangup_operator"})


@dataclass(frozen=True, slots=True)
class MemberSpec:
    queue: str
    interface: str
    name: str = ""
    penalty: int = 0
    paused: bool = False


@dataclass(frozen=True, slots=True)
class CallSpec:
    at: float
    did: str
    caller: str
    name: str = ""
    dtmf: str = ""
    dtmf_delay: float = 1.0
    talk: float | None = None  # the phone hangs up this long after the DTMF; None: holds


@dataclass(frozen=True, slots=True)
class StepSpec:
    at: float
    action: str
    interface: str
    queue: str = ""
    reason: str = ""
    name: str = ""


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    description: str = ""
    operators: tuple[Operator, ...] = ()
    members: tuple[MemberSpec, ...] = ()
    calls: tuple[CallSpec, ...] = ()
    steps: tuple[StepSpec, ...] = ()
    load: LoadProfile | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def length(self) -> float:
        """When the last scripted thing starts (seconds)."""
        times = [c.at for c in self.calls] + [s.at for s in self.steps] + [0.0]
        return max(times)


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario file; errors name the file and the entry."""
    p = Path(path)
    try:
        raw = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ScenarioError(f"{p}: {exc}") from None
    return parse_scenario(raw, str(p))


def parse_scenario(raw: Any, source: str = "<scenario>") -> Scenario:
    if not isinstance(raw, dict):
        raise ScenarioError(f"{source}: a scenario is a mapping")
    known = {"name", "description", "operators", "members", "calls", "steps", "load"}
    unknown = set(raw) - known
    if unknown:
        raise ScenarioError(f"{source}: unknown keys {sorted(unknown)}")
    return Scenario(
        name=str(raw.get("name", Path(source).stem)),
        description=str(raw.get("description", "")),
        operators=tuple(_items(raw, "operators", source, _operator)),
        members=tuple(_items(raw, "members", source, _member)),
        calls=tuple(_items(raw, "calls", source, _call)),
        steps=tuple(_items(raw, "steps", source, _step)),
        load=_load(raw["load"], f"{source}: load") if raw.get("load") else None,
    )


def _items(raw: dict[str, Any], key: str, source: str, build: Any) -> list[Any]:
    items = raw.get(key) or []
    if not isinstance(items, list):
        raise ScenarioError(f"{source}: {key} must be a list")
    out = []
    for n, item in enumerate(items, 1):
        where = f"{source}: {key}[{n}]"
        if not isinstance(item, dict):
            raise ScenarioError(f"{where}: must be a mapping")
        try:
            out.append(build(item, where))
        except (KeyError, TypeError, ValueError) as exc:
            raise ScenarioError(f"{where}: {exc!r}") from None
    return out


def _operator(d: dict[str, Any], where: str) -> Operator:
    answer = d.get("answer_after", 1.0)
    talk = d.get("talk")
    return Operator(
        interface=str(d["interface"]),
        name=str(d.get("name", "")),
        answer_after=None if answer is None else float(answer),
        manual=bool(d.get("manual", False)),
        talk=None if talk is None else float(talk),
    )


def _member(d: dict[str, Any], where: str) -> MemberSpec:
    return MemberSpec(
        queue=str(d["queue"]),
        interface=str(d["interface"]),
        name=str(d.get("name", "")),
        penalty=int(d.get("penalty", 0)),
        paused=bool(d.get("paused", False)),
    )


def _call(d: dict[str, Any], where: str) -> CallSpec:
    talk = d.get("talk")
    return CallSpec(
        at=float(d.get("at", 0)),
        did=str(d["did"]),
        caller=str(d["caller"]),
        name=str(d.get("name", "")),
        dtmf=str(d.get("dtmf", "")),
        dtmf_delay=float(d.get("dtmf_delay", 1.0)),
        talk=None if talk is None else float(talk),
    )


def _step(d: dict[str, Any], where: str) -> StepSpec:
    action = str(d["action"])
    if action not in STEP_ACTIONS:
        raise ValueError(f"action {action!r} is not one of {sorted(STEP_ACTIONS)}")
    return StepSpec(
        at=float(d.get("at", 0)),
        action=action,
        interface=str(d["interface"]),
        queue=str(d.get("queue", "")),
        reason=str(d.get("reason", "")),
        name=str(d.get("name", "")),
    )


def _load(d: Any, where: str) -> LoadProfile:
    if not isinstance(d, dict):
        raise ScenarioError(f"{where}: must be a mapping")
    try:
        return LoadProfile(**{k: v for k, v in d.items()})
    except TypeError as exc:
        raise ScenarioError(f"{where}: {exc}") from None


async def run_scenario(pbx: SimPbx, scenario: Scenario) -> LoadReport | None:
    """Play a scenario on a running PBX; returns the load report if it had a load section.

    Operators of the scenario are added to the PBX's operator table; members log in at
    once; calls and steps start at their times."""
    for op in scenario.operators:
        pbx.operators[op.interface] = op
    for m in scenario.members:
        pbx.queues.add_member(m.queue, m.interface, m.name, penalty=m.penalty, paused=m.paused)
    tasks = [asyncio.create_task(_call_at(pbx, c)) for c in scenario.calls]
    tasks += [asyncio.create_task(_step_at(pbx, s)) for s in scenario.steps]
    try:
        report = await run_load(pbx, scenario.load) if scenario.load else None
        await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()
    return report


async def _sleep_until(pbx: SimPbx, at: float) -> None:
    await asyncio.sleep(at * pbx.config.time_scale)


async def _call_at(pbx: SimPbx, c: CallSpec) -> None:
    await _sleep_until(pbx, c.at)
    await pbx.place_call(c.did, c.caller, c.name, dtmf=c.dtmf, dtmf_delay=c.dtmf_delay, talk=c.talk)


async def _step_at(pbx: SimPbx, s: StepSpec) -> None:
    await _sleep_until(pbx, s.at)
    q = pbx.queues
    if s.action == "pause":
        q.pause_member(s.queue, s.interface, True, s.reason)
    elif s.action == "unpause":
        q.pause_member(s.queue, s.interface, False)
    elif s.action == "add":
        q.add_member(s.queue, s.interface, s.name)
    elif s.action == "remove":
        q.remove_member(s.queue, s.interface)
    elif s.action == "answer":
        await pbx.answer(s.interface)
    elif s.action == "hangup_operator":
        await pbx.hangup_operator(s.interface)
