"""Tariff files: YAML and CSV load into plans; mistakes are reported as file:line: reason."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from contact_center.billing.errors import TariffError
from contact_center.billing.tariffs import load_plans

TARIFFS = Path(__file__).resolve().parents[2] / "tariffs"

GOOD = """\
name: t
currency: rub
bands:
  - {name: peak, days: [mon, tue], from: "09:00", to: "18:00"}
defaults: {increment: 30/6, grace: 2}
rates:
  - {prefix: "7", per_minute: "1.10"}
  - {prefix: "7", band: peak, per_minute: 1.2, increment: 1/1}
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_the_shipped_example_plans_load() -> None:
    names = {p.name for f in sorted(TARIFFS.glob("*.yaml")) for p in load_plans(f)}
    assert {"outbound", "inbound"} == names


def test_yaml_plan_with_defaults_and_bands(tmp_path: Path) -> None:
    (plan,) = load_plans(write(tmp_path, "t.yaml", GOOD))
    assert ("t", "RUB", "outbound", "dialled") == (
        plan.name,
        plan.currency,
        plan.direction,
        plan.match,
    )
    default, peak = plan.rates
    assert (Decimal("1.10"), 30, 6, 2) == (
        default.per_minute,
        default.first_increment,
        default.next_increment,
        default.grace_seconds,
    )
    # A YAML float keeps its written value, not its binary approximation.
    assert (Decimal("1.2"), 1, 1) == (peak.per_minute, peak.first_increment, peak.next_increment)


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [
        (GOOD.replace('"1.10"', '"-1"'), 7, "per_minute must be a non-negative amount"),
        (GOOD.replace("30/6", "30"), 5, "increment must look like 60/60"),
        (GOOD.replace('"7", band: peak', '"7x", band: peak'), 8, "prefix must be digits"),
        (GOOD.replace("band: peak", "band: lunch"), 8, "unknown band 'lunch'"),
        (
            GOOD.replace('  - {prefix: "7", per_minute: "1.10"}\n', ""),
            7,
            "prefix 7 has no rate for band(s) standard",
        ),
        (GOOD + '  - {prefix: "7", per_minute: "2"}\n', 9, "duplicate rate for prefix 7"),
        (GOOD.replace('"18:00"', '"25:00"'), 4, "to must be a time HH:MM"),
        (GOOD.replace("currency: rub", "currency: rubles"), 2, "currency must be a 3-letter"),
        (GOOD.replace("defaults:", "default:"), 1, "unknown key(s) default"),
        (GOOD.replace("rates:\n", "rates: [\n"), 7, "invalid YAML"),
    ],
)
def test_yaml_errors_name_file_and_line(tmp_path: Path, text: str, line: int, reason: str) -> None:
    path = write(tmp_path, "bad.yaml", text)
    with pytest.raises(TariffError) as caught:
        load_plans(path)
    assert f"{path}:{line}" == f"{caught.value.path}:{caught.value.line}"
    assert reason in str(caught.value)
    assert str(caught.value).startswith(f"{path}:{line}: ")


def test_csv_plans(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "rates.csv",
        (
            "plan,currency,prefix,per_minute,increment,connection_fee\n"
            "a,EUR,44,0.10,60/1,0.05\n"
            "a,EUR,4420,0.08,,\n"
            "b,USD,1,0.01,1/1,\n"
        ),
    )
    plans = {p.name: p for p in load_plans(path)}
    assert ["a", "b"] == sorted(plans)
    assert ("EUR", 2) == (plans["a"].currency, len(plans["a"].rates))
    assert (60, 60) == (plans["a"].rates[1].first_increment, plans["a"].rates[1].next_increment)


def test_csv_error_names_the_row_line(tmp_path: Path) -> None:
    path = write(
        tmp_path, "rates.csv", "plan,currency,prefix,per_minute\na,EUR,44,0.1\na,EUR,45,x\n"
    )
    with pytest.raises(TariffError, match=r"rates.csv:3: per_minute must be a decimal amount"):
        load_plans(path)


def test_yaml_rates_file_is_read_relative_to_the_plan(tmp_path: Path) -> None:
    write(tmp_path, "big.csv", "prefix,per_minute,description\n4420,0.5,London\n")
    (plan,) = load_plans(write(tmp_path, "p.yaml", GOOD + "rates_file: big.csv\n"))
    assert "London" == plan.table.longest_match("442071234567")[1][""].description  # type: ignore[index]


def test_a_plan_bills_from_the_answer_by_default_or_the_operators_talk(tmp_path: Path) -> None:
    from contact_center.billing.tariffs import plan_from_definition

    (default,) = load_plans(write(tmp_path, "a.yaml", GOOD))
    (talk,) = load_plans(
        write(tmp_path, "b.yaml", GOOD.replace("currency:", "bill: talk\ncurrency:"))
    )
    assert ("answer", "talk") == (default.bill, talk.bill)
    stored = plan_from_definition(
        name=talk.name, direction=talk.direction, currency=talk.currency,
        definition=talk.definition(), rates=talk.rates,
    )  # fmt: skip
    assert "talk" == stored.bill  # kept in tariff_plans.definition
    with pytest.raises(TariffError, match=r"c.yaml:2: plan 't': bill must be one of"):
        load_plans(write(tmp_path, "c.yaml", GOOD.replace("currency:", "bill: minutes\ncurrency:")))
