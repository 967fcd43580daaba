"""``$[...]`` as ast_expr2 evaluates it, and ``${...}`` substitution with functions."""

from __future__ import annotations

import time

import pytest

from contact_center.sim.dialplan.expr import ExpressionError, evaluate
from contact_center.sim.dialplan.subst import SubstitutionError, substitute


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ('"1" = "1"', "1"),
        ('"2" = "1"', "0"),
        ('"" = ""', "1"),
        ('"" != ""', "0"),
        ("1 = 1.0", "1"),  # two numbers compare as numbers
        ('"1" = 1', "0"),  # a quoted string keeps its quotes
        ("10 > 9", "1"),
        ("abc < abd", "1"),
        ("10 < 9a", "1"),  # 9a is a string: "10" < "9a" as text
        ("3 + 4 * 2", "11"),
        ("(3 + 4) * 2", "14"),
        ("7 / 2", "3"),
        ("7 % 3", "1"),
        ("-5 + 2", "-3"),
        ("1 & 0", "0"),
        ("x & y", "x"),
        ('"" | fallback', '""'),  # a quoted empty string is not empty: it has its quotes
        ("0 | 5", "5"),
        ("a | b", "a"),
        ("!0", "1"),
        ("!x", "0"),
        ("1 ? yes :: no", "yes"),
        ("0 ? yes :: no", "no"),
        ('"" ? yes :: no', "no"),
        ("a ~~ b", "ab"),
        ("5=5&2>1", "1"),
        ("", ""),
    ],
)
def test_expressions(text: str, value: str) -> None:
    assert value == evaluate(text)


@pytest.mark.parametrize("text", ["1 +", "(1", "a + 1", "x : y", "1 / 0", "f(1)", "1 ? 2"])
def test_bad_expressions_are_errors(text: str) -> None:
    with pytest.raises(ExpressionError):
        evaluate(text)


class Scope:
    def __init__(self, **variables: str) -> None:
        self.variables = variables
        self.globals = {"RING_101": "3"}

    def variable(self, name: str) -> str:
        return self.variables.get(name, "")

    def function(self, name: str, args: str) -> str:
        if name == "GLOBAL":
            return self.globals.get(args, "")
        if name == "CALLERID" and args == "num":
            return "+74951234567"
        raise SubstitutionError(f"{name}({args})")


def test_nested_variables_functions_and_expressions() -> None:
    scope = Scope(EXTEN="101", CHOICE="2", RING="")

    assert "3" == substitute("${GLOBAL(RING_${EXTEN})}", scope)
    assert "1" == substitute('${IF($["${RING}" = ""]?1:${RING})}', scope)
    assert "0?to-queue,sales,1" == substitute('$["${CHOICE}" = "1"]?to-queue,sales,1', scope)
    assert "Caller +74951234567 len 12" == substitute(
        "Caller ${CALLERID(num)} len ${LEN(${CALLERID(num)})}", scope
    )
    assert "74951234567" == substitute("${CALLERID(num):1}", scope)
    assert "101" == substitute("${EXTEN:0:3}", scope)
    assert "no vars here" == substitute("no vars here", scope)


def test_strftime_uses_the_servers_time_zone() -> None:
    epoch = 1764950400
    expected = time.strftime("%Y%m%d-%H%M%S", time.localtime(epoch))

    assert f"{expected}-1.2.wav" == substitute(
        "${STRFTIME(${E},,%Y%m%d-%H%M%S)}-${U}.wav", Scope(E=str(epoch), U="1.2")
    )


def test_unclosed_and_unknown_are_errors() -> None:
    with pytest.raises(SubstitutionError, match="unclosed"):
        substitute("${EXTEN", Scope())
    with pytest.raises(SubstitutionError, match="SHELL"):
        substitute("${SHELL(ls)}", Scope())
    with pytest.raises(SubstitutionError, match="end of"):
        substitute("$[1 +]", Scope())
