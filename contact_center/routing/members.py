"""What Asterisk should have for an operator, and the member actions that get it there —
pure functions, no I/O (``OperatorStates`` reads Asterisk, plans, acts and reads again)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from contact_center.routing.ports import Member


@dataclass(frozen=True, slots=True)
class Wanted:
    penalty: int
    paused: bool
    reason: str


@dataclass(frozen=True, slots=True)
class Step:
    """One member action: add | remove | pause | unpause | penalty, in one queue."""

    action: str
    queue: str
    penalty: int = 0
    reason: str = ""
    paused: bool = False  # of an added member

    def __str__(self) -> str:
        extra = self.reason or (str(self.penalty) if self.action in ("add", "penalty") else "")
        if self.action == "add" and self.paused and not self.reason:
            extra = "paused"
        return f"{self.action} {self.queue}" + (f" ({extra})" if extra else "")


def penalty_for(skills: Mapping[str, int], queue_skills: Iterable[str], base: int = 0) -> int:
    """Penalty from skill levels (1 = novice … 5 = expert): experts ring first (penalty 0)."""
    levels = [int(skills.get(s, 0)) for s in queue_skills]
    if not levels:
        return base
    return base + max(0, 5 - min(levels))


def plan(have: Mapping[str, Member], want: Mapping[str, Wanted]) -> list[Step]:
    """The member actions that turn Asterisk's memberships ``have`` into ``want``."""
    steps: list[Step] = []
    for queue in sorted(have.keys() - want.keys()):
        steps.append(Step("remove", queue))
    for queue in sorted(want):
        w, m = want[queue], have.get(queue)
        if m is None:
            steps.append(Step("add", queue, w.penalty, w.reason if w.paused else "", w.paused))
            continue
        if m.penalty != w.penalty:
            steps.append(Step("penalty", queue, w.penalty))
        if w.paused and (not m.paused or m.reason != w.reason):
            steps.append(Step("pause", queue, reason=w.reason))
        elif not w.paused and m.paused:
            steps.append(Step("unpause", queue))
    return steps


def agrees(have: Mapping[str, Member], want: Mapping[str, Wanted]) -> bool:
    return not plan(have, want)
