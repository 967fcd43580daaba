"""Phone number normalisation: the formats the PBX and CSV files give us, and hostile input."""

from __future__ import annotations

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from phonenumbers import PhoneNumberFormat, PhoneNumberType

from contact_center.customers.phones import (
    PhoneNumber,
    _parse_fast,
    _parse_full,
    normalize_number,
    phone_suffix,
)

MOSCOW = "+74951234567"


@pytest.mark.parametrize(
    "raw",
    [
        "84951234567",
        "+7 (495) 123-45-67",
        "74951234567",
        "4951234567",
        " +7-495-123-45-67 ",
        "8 (495) 123 45 67",
        "+74951234567",
        "\u0668\u0664\u0669\u0665\u0661\u0662\u0663\u0664\u0665\u0666\u0667",
        "\uff18\uff14\uff19\uff15\uff11\uff12\uff13\uff14\uff15\uff16\uff17",
    ],
)
def test_russian_formats_normalise_to_the_same_e164(raw: str) -> None:
    number = normalize_number(raw, region="RU")
    assert ("e164", MOSCOW) == (number.kind, number.e164)
    assert "+7 495 123-45-67" == number.display


def test_local_number_is_completed_with_the_area_code() -> None:
    assert MOSCOW == normalize_number("1234567", region="RU", area_code="495").e164
    assert "invalid" == normalize_number("1234567", region="RU").kind


def test_other_countries_keep_their_code() -> None:
    assert "+14155552671" == normalize_number("+1 415 555 2671", region="RU").e164
    assert "+442079460000" == normalize_number("020 7946 0000", region="GB").e164


@pytest.mark.parametrize("raw", ["101", "1001", "  2001 ", "12345"])
def test_internal_extensions_are_not_e164(raw: str) -> None:
    number = normalize_number(raw, region="RU", area_code="495")
    assert ("extension", None, raw.strip()) == (number.kind, number.e164, number.display)


@pytest.mark.parametrize(
    "raw", ["", "   ", "anonymous", "Anonymous", "unknown", "<unknown>", "Restricted"]
)
def test_withheld_numbers_are_anonymous(raw: str) -> None:
    number = normalize_number(raw)
    assert ("anonymous", None) == (number.kind, number.e164)


@pytest.mark.parametrize(
    "raw",
    [
        "+7495\r\n1234567",
        "8495123456\nX",
        "abc",
        "+7 495 CALL-NOW",
        "9" * 10_000,
        "+" + "1" * 40,
        "sip:101@evil",
        "\x00\x01",
        "+",
        "+7",
        "0000000000",
        "'; DROP TABLE",
    ],
)
def test_hostile_input_is_invalid_and_safe_to_display(raw: str) -> None:
    number = normalize_number(raw, region="RU", area_code="495")
    assert ("invalid", None) == (number.kind, number.e164)
    assert "\r" not in number.display and "\n" not in number.display
    assert len(number.display) <= 40


def test_suffix_is_the_reversed_digits() -> None:
    assert "76543215947" == phone_suffix(MOSCOW)


@settings(max_examples=300, deadline=None)
@given(
    st.text(max_size=80),
    st.sampled_from(["RU", "US", "GB", "DE", "ZZ"]),
    st.sampled_from(["", "495", "812", "x"]),
)
def test_never_raises_on_any_text(raw: str, region: str, area_code: str) -> None:
    number = normalize_number(raw, region=region, area_code=area_code)
    assert isinstance(number, PhoneNumber)
    assert (number.e164 is not None) == (number.kind == "e164")
    assert all(ch.isprintable() for ch in number.display)


def _example_numbers() -> list[tuple[str, str]]:
    """(formatted number, region) from phonenumbers' own examples, in several formats."""
    out: list[tuple[str, str]] = []
    for region in ("RU", "US", "GB", "DE", "KZ"):
        for kind in (PhoneNumberType.FIXED_LINE, PhoneNumberType.MOBILE):
            example = phonenumbers.example_number_for_type(region, kind)
            if example is None:
                continue
            for fmt in (
                PhoneNumberFormat.NATIONAL,
                PhoneNumberFormat.INTERNATIONAL,
                PhoneNumberFormat.E164,
            ):
                out.append((phonenumbers.format_number(example, fmt), region))
    return out


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(_example_numbers()), st.sampled_from(["RU", "US", "GB", "DE"]))
def test_idempotent_on_its_own_e164_output(example: tuple[str, str], region: str) -> None:
    raw, home = example
    first = normalize_number(raw, region=home)
    assert "e164" == first.kind
    again = normalize_number(first.e164 or "", region=region)
    assert (first.e164, "e164") == (again.e164, again.kind)


@settings(max_examples=400, deadline=None)
@given(
    st.text(alphabet="0123456789+ -()", min_size=1, max_size=20),
    st.sampled_from(["RU", "US", "GB", "DE"]),
    st.sampled_from(["", "495"]),
)
def test_any_e164_output_is_a_fixed_point(raw: str, region: str, area_code: str) -> None:
    first = normalize_number(raw, region=region, area_code=area_code)
    if first.e164 is not None:
        again = normalize_number(first.e164, region=region, area_code=area_code)
        assert first.e164 == again.e164


@settings(max_examples=500, deadline=None)
@given(
    st.text(alphabet="0123456789", min_size=5, max_size=15),
    st.sampled_from(["", "+"]),
    st.sampled_from(["RU", "US", "GB", "DE", "KZ", "FR"]),
)
def test_fast_path_agrees_with_phonenumbers_parse(digits: str, plus: str, region: str) -> None:
    fast = _parse_fast(plus + digits, region)
    if fast is not None:
        assert _parse_full(plus + digits, region) == fast


@pytest.mark.parametrize("raw", ["+74951234567", "84951234567", "4951234567", "+79161234567"])
def test_fast_path_covers_the_common_russian_shapes(raw: str) -> None:
    assert (_parse_full(raw, "RU"), True) == (_parse_fast(raw, "RU"), True)
