"""QA forms and scoring: weights, N/A, auto-fail, bands, comments."""

from __future__ import annotations

from typing import Any

import pytest

from contact_center.recording.errors import FormInvalid
from contact_center.recording.qa import band_of, clean_comments, parse_form, score_answers

FORM: dict[str, Any] = {
    "sections": [
        {
            "id": "opening",
            "title": "Opening",
            "weight": 1,
            "questions": [
                {"id": "greet", "text": "Greeted with the company name", "max": 1},
                {"id": "name", "text": "Asked the caller's name", "max": 1},
            ],
        },
        {
            "id": "handling",
            "title": "Handling",
            "weight": 3,
            "questions": [
                {"id": "solved", "text": "Solved the issue", "max": 5, "weight": 2},
                {"id": "polite", "text": "Polite", "max": 5},
                {"id": "pci", "text": "Paused recording for card data", "max": 1,
                 "auto_fail": True},
            ],
        },
    ]
}  # fmt: skip


def test_weighted_score() -> None:
    form = parse_form(FORM)

    score = score_answers(form, {"greet": 1, "name": 0, "solved": 5, "polite": 2, "pci": 1})

    # opening 50 %; handling (2·1 + 1·0.4 + 1·1) / 4 = 85 %; total (50 + 3·85) / 4 = 76.25
    assert {"opening": 50.0, "handling": 85.0} == score.sections
    assert 76.25 == score.value
    assert "meets" == score.band
    assert not score.auto_failed


def test_auto_fail_item_zeroes_the_score() -> None:
    score = score_answers(
        parse_form(FORM), {"greet": 1, "name": 1, "solved": 5, "polite": 5, "pci": 0}
    )

    assert (0.0, True, "issue") == (score.value, score.auto_failed, score.band)


def test_not_applicable_answers_are_left_out() -> None:
    score = score_answers(
        parse_form(FORM), {"greet": None, "name": None, "solved": 5, "polite": 5, "pci": 1}
    )

    assert {"opening": None, "handling": 100.0} == score.sections
    assert 100.0 == score.value


@pytest.mark.parametrize(
    ("answers", "message"),
    [
        ({"greet": 1, "name": 1, "solved": 5, "polite": 5}, "question 'pci' is not answered"),
        ({"greet": 1, "name": 1, "solved": 6, "polite": 5, "pci": 1}, "answer must be 0..5"),
        ({"greet": 1, "name": 1, "solved": 5, "polite": 5, "pci": None}, "cannot be N/A"),
        ({"greet": True, "name": 1, "solved": 5, "polite": 5, "pci": 1}, "answer must be 0..1"),
        ({"greet": 1, "name": 1, "solved": 5, "polite": 5, "pci": 1, "x": 1}, "unknown questions"),
    ],
)
def test_bad_answers_are_refused(answers: dict[str, Any], message: str) -> None:
    with pytest.raises(FormInvalid, match=message):
        score_answers(parse_form(FORM), answers)


@pytest.mark.parametrize(
    ("definition", "message"),
    [
        ({}, "non-empty list of sections"),
        ({"sections": [{"id": "a", "questions": []}]}, "non-empty list of questions"),
        ({"sections": [{"questions": [{"id": "q"}, {"id": "q"}]}]}, "used twice"),
        ({"sections": [{"weight": 0, "questions": [{"id": "q"}]}]}, "weight must be positive"),
        ({"sections": [{"questions": [{"id": "q", "max": 0}]}]}, "max must be an integer"),
        ({"sections": [{"questions": [{"text": "no id"}]}]}, "needs an id"),
    ],
)
def test_bad_forms_are_refused(definition: dict[str, Any], message: str) -> None:
    with pytest.raises(FormInvalid, match=message):
        parse_form(definition)


def test_bands() -> None:
    assert ["issue", "improvement", "meets", "exceeds"] == [band_of(v) for v in (10, 55, 70, 95)]


def test_comments_are_sorted_and_checked_against_the_duration() -> None:
    cleaned = clean_comments(
        [{"at": 12.345, "text": " late greeting "}, {"at": 1, "text": "ok"}, {"at": 3, "text": ""}],
        duration=60,
    )

    assert [{"at": 1.0, "text": "ok"}, {"at": 12.35, "text": "late greeting"}] == cleaned
    with pytest.raises(FormInvalid, match="outside the recording"):
        clean_comments([{"at": 100, "text": "x"}], duration=60)
