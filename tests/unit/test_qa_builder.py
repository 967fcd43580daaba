"""The QA form builder's fields → a form definition: order, empty rows, located errors."""

from __future__ import annotations

import pytest

from contact_center.recording.errors import FormInvalid
from contact_center.recording.qa import DEMO_FORM, definition_from_fields, parse_form, score_answers


def test_builder_fields_make_a_form_in_their_numbered_order() -> None:
    fields = {
        "name": "Sales calls",
        "s2.title": "Closing",
        "s2.q1.text": "Asked for the order",
        "s2.q1.max": "5",
        "s2.q1.weight": "2,5",
        "s1.title": "Opening",
        "s1.weight": "2",
        "s1.q10.text": "Verified the customer",
        "s1.q10.auto_fail": "on",
        "s1.q2.text": "Greeted",
        "s1.q3.text": "",  # an empty row of the builder
        "s1.q3.max": "3",
        "s3.title": "",  # an untouched section
        "s3.q1.text": "",
    }
    definition = definition_from_fields(fields)
    form = parse_form(definition)
    assert [(s.title, s.weight) for s in form.sections] == [("Opening", 2.0), ("Closing", 1.0)]
    assert [(q.text, q.max, q.weight, q.auto_fail) for q in form.questions()] == [
        ("Greeted", 1, 1.0, False),
        ("Verified the customer", 1, 1.0, True),
        ("Asked for the order", 5, 2.5, False),
    ]
    ids = [q.id for q in form.questions()]
    assert len(set(ids)) == 3
    # the built form scores like any other: the auto-fail criterion answered "no" fails it
    answers = dict.fromkeys(ids, 1)
    answers[ids[2]] = 5
    assert score_answers(form, answers).value == 100.0
    answers[ids[1]] = 0
    assert score_answers(form, answers).auto_failed


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({}, "the form needs at least one criterion"),
        ({"s1.title": "Opening"}, "section 1 (Opening) needs at least one criterion"),
        (
            {"s1.title": "Opening", "s1.q1.text": "Greeted", "s1.q1.max": "11"},
            "section 1 (Opening), criterion 1 (Greeted): points must be a whole number 1..10",
        ),
        (
            {"s1.q1.text": "Greeted", "s1.q1.weight": "-1"},
            "section 1, criterion 1 (Greeted): the weight must be a positive number",
        ),
        (
            {"s1.title": "Open", "s1.weight": "nan", "s1.q1.text": "Greeted"},
            "section 1 (Open): the weight must be a positive number",
        ),
        ({f"s1.q{n}.text": "x" for n in range(2100)}, "the form has too many fields"),
    ],
)
def test_builder_errors_name_what_the_reviewer_typed(fields: dict[str, str], message: str) -> None:
    with pytest.raises(FormInvalid) as caught:
        definition_from_fields(fields)
    assert str(caught.value) == message


def test_the_demo_form_is_valid() -> None:
    form = parse_form(DEMO_FORM)
    assert any(q.auto_fail for q in form.questions())
