"""Who may access which recording: pure functions, default deny.

- admin: every recording;
- qa and supervisor: recordings of the queues they are assigned to;
- operator: recordings of their own calls (their queue-member interface);
- anyone else, or a principal without the needed queue/interface: nothing.

Scoring follows the same scope but is for qa and admin only; operators read the scores of
their own calls.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

ROLES = ("operator", "supervisor", "qa", "admin")
QUEUE_SCOPED_ROLES = frozenset({"supervisor", "qa"})
REVIEWER_ROLES = frozenset({"qa", "admin"})


@dataclass(frozen=True, slots=True)
class Principal:
    """The signed-in user as far as recordings care."""

    login: str
    role: str
    interface: str = ""  # queue-member interface of an operator, e.g. PJSIP/101
    queues: frozenset[str] = field(default_factory=frozenset)
    user_id: int | None = None


@dataclass(frozen=True, slots=True)
class RecordingScope:
    """The facts of a recording that access depends on."""

    queue: str
    operator_interface: str


def can_access(principal: Principal, recording: RecordingScope) -> bool:
    """May this principal see, play and download this recording?"""
    if principal.role == "admin":
        return True
    if principal.role in QUEUE_SCOPED_ROLES:
        return bool(recording.queue) and recording.queue in principal.queues
    if principal.role == "operator":
        return bool(principal.interface) and principal.interface == recording.operator_interface
    return False


def can_review(principal: Principal, recording: RecordingScope) -> bool:
    """May this principal score this recording?"""
    return principal.role in REVIEWER_ROLES and can_access(principal, recording)


def principal_from_user(
    *,
    login: str,
    role: str,
    interface: str = "",
    user_queues: Mapping[str, Any] | None = None,
    supervised: Iterable[str] = (),
    user_id: int | None = None,
) -> Principal:
    """A Principal from a ``users`` row: its queues plus those listing it as supervisor."""
    queues = frozenset(user_queues or {}) | frozenset(supervised)
    return Principal(login=login, role=role, interface=interface, queues=queues, user_id=user_id)
