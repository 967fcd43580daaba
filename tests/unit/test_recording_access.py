"""The access matrix: every role × every kind of recording, all denied but the allowed."""

from __future__ import annotations

import itertools

import pytest

from contact_center.recording.access import (
    Principal,
    RecordingScope,
    can_access,
    can_review,
    principal_from_user,
)

PRINCIPALS = {
    "admin": Principal("root", "admin"),
    "qa-support": Principal("qa1", "qa", queues=frozenset({"support"})),
    "qa-none": Principal("qa2", "qa"),
    "supervisor-support": Principal("sup1", "supervisor", queues=frozenset({"support"})),
    "supervisor-sales": Principal("sup2", "supervisor", queues=frozenset({"sales"})),
    "operator-101": Principal("op101", "operator", interface="Local/101@agents"),
    "operator-102": Principal("op102", "operator", interface="Local/102@agents"),
    "operator-no-interface": Principal("op0", "operator"),
    "unknown-role": Principal("x", "guest", interface="Local/101@agents",
                              queues=frozenset({"support", "sales"})),
    "empty-role": Principal("y", "", queues=frozenset({"support"})),
}  # fmt: skip

RECORDINGS = {
    "support-by-101": RecordingScope("support", "Local/101@agents"),
    "sales-by-102": RecordingScope("sales", "Local/102@agents"),
    "support-unanswered": RecordingScope("support", ""),
    "no-queue-by-101": RecordingScope("", "Local/101@agents"),
    "no-queue-no-operator": RecordingScope("", ""),
}

ALLOWED = {("admin", rec) for rec in RECORDINGS} | {
    ("qa-support", "support-by-101"),
    ("qa-support", "support-unanswered"),
    ("supervisor-support", "support-by-101"),
    ("supervisor-support", "support-unanswered"),
    ("supervisor-sales", "sales-by-102"),
    ("operator-101", "support-by-101"),
    ("operator-101", "no-queue-by-101"),
    ("operator-102", "sales-by-102"),
}

REVIEWERS = {("admin", rec) for rec in RECORDINGS} | {
    ("qa-support", "support-by-101"),
    ("qa-support", "support-unanswered"),
}


@pytest.mark.parametrize(
    ("who", "what"), list(itertools.product(PRINCIPALS, RECORDINGS)), ids="{}".format
)
def test_access_matrix(who: str, what: str) -> None:
    expected = (who, what) in ALLOWED

    assert expected == can_access(PRINCIPALS[who], RECORDINGS[what])


@pytest.mark.parametrize(
    ("who", "what"), list(itertools.product(PRINCIPALS, RECORDINGS)), ids="{}".format
)
def test_review_matrix(who: str, what: str) -> None:
    expected = (who, what) in REVIEWERS

    assert expected == can_review(PRINCIPALS[who], RECORDINGS[what])


def test_principal_queues_include_supervised_ones() -> None:
    p = principal_from_user(
        login="sup", role="supervisor", user_queues={"support": 0}, supervised=["sales"]
    )

    assert frozenset({"support", "sales"}) == p.queues
    assert can_access(p, RECORDINGS["sales-by-102"])
