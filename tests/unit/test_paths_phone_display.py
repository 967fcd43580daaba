"""Caller numbers as people read them: the provider's raw digits become the international
form of the configured default region; extensions and withheld numbers stay as they are."""

from __future__ import annotations

import pytest

from contact_center.customers.phones import display_number


@pytest.mark.parametrize(
    ("number", "raw", "region", "shown"),
    [
        ("+74950370372", "74950370372", "RU", "+7 495 037-03-72"),  # the tracker's E.164
        ("", "74950370372", "RU", "+7 495 037-03-72"),  # the provider's digits, no +
        ("", "84950370372", "RU", "+7 495 037-03-72"),  # the national prefix
        ("", "2025550143", "US", "+1 202-555-0143"),  # read in the configured region
        ("", "101", "RU", "101"),  # an operator's extension
        ("", "anonymous", "RU", "anonymous"),
        ("", "+7 (495) <b>", "RU", "+7 (495) <b>"),  # not a number: as sent (escaped later)
    ],
)
def test_display_number(number: str, raw: str, region: str, shown: str) -> None:
    assert shown == display_number(number, raw, region=region)
