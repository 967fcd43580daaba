"""Every kind of timeline row reads as a sentence, in English and Russian, with names for
phones, m:ss for durations and times in the reader's zone."""

from __future__ import annotations

import dataclasses
import typing
from datetime import UTC, datetime, timedelta

import pytest

from contact_center.calls import events as ev
from contact_center.history.describe import NOT_HISTORY, describe
from contact_center.history.sentences import (
    KNOWN_KINDS,
    Clock,
    Names,
    Talk,
    call_headline,
    phone,
    sentence,
)
from contact_center.i18n import use_locale

# Rows written outside the event stream: the console's wrap-up, QA, the callback dialer.
OTHER_ROWS = {"operator.wrapup", "qa.review", "callback.attempt"}
SAMPLE = {str: "x", int: 1, float: 1.0, bool: True}
DAY = timedelta(days=1)
NAMES = Names(by_interface={"PJSIP/101": "Anna Petrova"}, by_login={"quinn": "Quinn"})


def _instance(cls: type[ev.DomainEvent]) -> ev.DomainEvent:
    hints = typing.get_type_hints(cls)
    values = {}
    for f in dataclasses.fields(cls):
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            values[f.name] = SAMPLE.get(hints[f.name], "x")
    return cls(**values)


def test_every_kind_of_row_has_a_sentence() -> None:
    # every kind the history writer keeps (billing writes the charges' rows itself)
    stored = {k for k, t in ev.EVENT_TYPES.items() if not issubclass(t, NOT_HISTORY)} | {
        ev.CallCharged.kind
    }
    assert stored | OTHER_ROWS <= KNOWN_KINDS
    for kind in sorted(stored):
        data = describe(_instance(ev.EVENT_TYPES[kind])).data
        for lang in ("en", "ru"):
            with use_locale(lang):
                text = sentence(kind, data, summary="FALLBACK", names=NAMES)
            assert text != "FALLBACK" and "%(" not in text, (kind, lang, text)


@pytest.mark.parametrize(
    ("lang", "expected"),
    [
        (
            "en",
            "Called from +7 495 123-45-67, waited 0:42, talked 1:10 with Anna Petrova"
            " and 2:00 with Boris",
        ),
        (
            "ru",
            "Звонок с +7 495 123-45-67, ожидание 0:42, разговор 1:10 с Anna Petrova и 2:00 с Boris",
        ),
    ],
)
def test_a_call_in_one_line_names_who_talked_how_long(lang: str, expected: str) -> None:
    with use_locale(lang):
        assert expected == call_headline(
            direction="inbound", caller_number="+74951234567", did="", outcome="answered",
            wait_seconds=42.2, talk_seconds=190.0, answered=True,
            talks=[Talk("Anna Petrova", 70.0), Talk("Boris", 120.0)], operator="Anna Petrova",
        )  # fmt: skip


def test_rows_in_plain_words() -> None:
    moscow = Clock("Europe/Moscow")
    next_try = datetime(2026, 3, 3, 11, 30, tzinfo=UTC)
    tried = datetime(2026, 3, 3, 11, 15, tzinfo=UTC)
    attempt = {"callback_id": 4, "outcome": "no_answer", "status": "pending"}
    review = {"score": 86.67, "form": "Call handling", "auto_failed": False}
    answered = {"interface": "PJSIP/101", "member_name": "Local/101", "hold_seconds": 42.0}
    with use_locale("en"):
        assert "Callback: no answer, next try 14:30" == sentence(  # the same day: the time
            "callback.attempt", attempt, clock=moscow, callback_next=next_try, at=tried
        )
        assert "Callback: no answer, next try 3/4/26, 2:30\u202fPM" == sentence(
            "callback.attempt", attempt, clock=moscow, callback_next=next_try + DAY, at=tried
        )
        assert "QA score 87 % by Quinn (Call handling)" == sentence(
            "qa.review", review, actor="quinn", names=NAMES
        )
        assert "Anna Petrova answered after 0:42 waiting" == sentence(
            "call.answered", answered, names=NAMES
        )
        assert "Callback: no answer, given up" == sentence(
            "callback.attempt", {**attempt, "status": "failed"}
        )
        assert "Cost 1.43 RUB (2:00 billed)" == sentence(
            "call.charged", {"amount": "1.430000", "currency": "RUB", "billed_seconds": 120}
        )
        assert "stored text" == sentence("something.new", {}, summary="stored text")
    with use_locale("ru"):
        assert "Обратный звонок: нет ответа, следующая попытка 14:30" == sentence(
            "callback.attempt", attempt, clock=moscow, callback_next=next_try, at=tried
        )
        assert "Обратный звонок: нет ответа, следующая попытка 04.03.2026, 14:30" == sentence(
            "callback.attempt", attempt, clock=moscow, callback_next=next_try + DAY, at=tried
        )
        assert "Оценка качества 87 % от Quinn (Call handling)" == sentence(
            "qa.review", review, actor="quinn", names=NAMES
        )
    assert "+7 495 123-45-67" == phone("+74951234567")
    assert "101" == phone("101")
