"""``$[...]`` expressions as Asterisk's main/ast_expr2 evaluates them.

Tokens: operators ``| & = == != < > <= >= + - * / % ! ? :: ( )`` and ``~~``; a run of digits
(optionally ``.digits``) is a *numeric string*; anything else (``"quoted"`` with its quotes
kept, or bare words) is a *string*. Comparisons compare as strings (``strcoll``) when either
side is a string, else as numbers. ``a | b`` is ``a`` unless it is empty or zero, then
``b``; ``a & b`` is ``a`` unless either side is empty or zero, then ``0``. Precedence, lowest
first: ``? ::``, ``|``, ``&``, comparisons, ``+ -``, ``* / %``, unary ``! -``, ``~~``.
The regex operators ``:`` and ``=~`` and functions inside expressions are refused.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<op>\|\||&&|==|=~|~~|>=|<=|!=|::|[|&=<>+\-*/%?!:(),])
      | (?P<quoted>"[^"]*")
      | (?P<number>[0-9]+(?:\.[0-9]+)?(?![A-Za-z.';\\_^\#@$]))
      | (?P<word>(?:[A-Za-z0-9.';\\_^\#@\x80-\uffff]|\$(?!\{))+)
    )""",
    re.VERBOSE,
)


class ExpressionError(ValueError):
    """An expression Asterisk would reject (syntax error) or we do not support."""


@dataclass(frozen=True, slots=True)
class Value:
    text: str
    numeric: bool  # Asterisk's number / numeric_string (as opposed to string)

    def number(self) -> float:
        try:
            return float(self.text)
        except ValueError:
            return 0.0

    def is_zero_or_null(self) -> bool:
        if self.text == "":
            return True
        return self.numeric and self.number() == 0


def _num(value: float) -> Value:
    text = str(int(value)) if float(value).is_integer() else repr(value)
    return Value(text, True)


def _tokens(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            raise ExpressionError(f"syntax error at {text[pos:]!r} in $[{text}]")
        kind = m.lastgroup or ""
        token = m.group(kind)
        out.append((kind, {"||": "|", "&&": "&", "==": "="}.get(token, token)))
        pos = m.end()
    return out


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokens(text)
        self.pos = 0

    def peek(self) -> str | None:
        if self.pos < len(self.tokens) and self.tokens[self.pos][0] == "op":
            return self.tokens[self.pos][1]
        return None

    def take(self, op: str) -> bool:
        if self.peek() == op:
            self.pos += 1
            return True
        return False

    def parse(self) -> Value:
        if not self.tokens:
            return Value("", False)
        value = self.conditional()
        if self.pos != len(self.tokens):
            raise ExpressionError(
                f"syntax error near {self.tokens[self.pos][1]!r} in $[{self.text}]"
            )
        return value

    def conditional(self) -> Value:
        cond = self.or_()
        while self.take("?"):
            yes = self.or_()
            if not self.take("::"):
                raise ExpressionError(f"'?' without '::' in $[{self.text}]")
            no = self.or_()
            cond = yes if _truth(cond) else no
        return cond

    def or_(self) -> Value:
        left = self.and_()
        while self.take("|"):
            right = self.and_()
            left = right if left.is_zero_or_null() else left
        return left

    def and_(self) -> Value:
        left = self.compare()
        while self.take("&"):
            right = self.compare()
            zero = left.is_zero_or_null() or right.is_zero_or_null()
            left = Value("0", True) if zero else left
        return left

    def compare(self) -> Value:
        left = self.additive()
        while (op := self.peek()) in {"=", "!=", "<", ">", "<=", ">="}:
            self.pos += 1
            right = self.additive()
            left = _num(float(_compare(op or "", left, right)))
        return left

    def additive(self) -> Value:
        left = self.multiplicative()
        while (op := self.peek()) in {"+", "-"}:
            self.pos += 1
            right = self.multiplicative()
            self._numbers(op or "", left, right)
            left = _num(
                left.number() + right.number() if op == "+" else left.number() - right.number()
            )
        return left

    def multiplicative(self) -> Value:
        left = self.unary()
        while (op := self.peek()) in {"*", "/", "%"}:
            self.pos += 1
            right = self.unary()
            self._numbers(op or "", left, right)
            a, b = left.number(), right.number()
            if op != "*" and b == 0:
                raise ExpressionError(f"division by zero in $[{self.text}]")
            if op == "*":
                left = _num(a * b)
            elif op == "/":
                left = _num(int(a / b) if a.is_integer() and b.is_integer() else a / b)
            else:
                left = _num(a - b * int(a / b))
        return left

    def _numbers(self, op: str, left: Value, right: Value) -> None:
        if not (left.numeric and right.numeric):
            raise ExpressionError(f"non-numeric argument to {op!r} in $[{self.text}]")

    def unary(self) -> Value:
        if self.take("!"):
            value = self.unary()
            return Value("1" if value.is_zero_or_null() else "0", True)
        if self.take("-"):
            value = self.unary()
            if not value.numeric:
                raise ExpressionError(f"non-numeric argument to '-' in $[{self.text}]")
            return _num(-value.number())
        return self.concat()

    def concat(self) -> Value:
        left = self.primary()
        while True:
            op = self.peek()
            if op == "~~":
                self.pos += 1
                right = self.primary()
                left = Value(left.text.strip('"') + right.text.strip('"'), False)
            elif op in {":", "=~"}:
                raise ExpressionError(
                    f"the regex operator {op!r} is not supported in $[{self.text}]"
                )
            else:
                return left

    def primary(self) -> Value:
        if self.take("("):
            value = self.conditional()
            if not self.take(")"):
                raise ExpressionError(f"missing ')' in $[{self.text}]")
            return value
        if self.pos >= len(self.tokens):
            raise ExpressionError(f"unexpected end of $[{self.text}]")
        kind, token = self.tokens[self.pos]
        if kind == "op":
            raise ExpressionError(f"syntax error near {token!r} in $[{self.text}]")
        self.pos += 1
        if self.peek() == "(":
            raise ExpressionError(
                f"functions inside $[] are not supported: {token}( in $[{self.text}]"
            )
        return Value(token, kind == "number")


def _compare(op: str, left: Value, right: Value) -> bool:
    a: str | float
    b: str | float
    if left.numeric and right.numeric:
        a, b = left.number(), right.number()
    else:
        a, b = left.text, right.text
    return {
        "=": a == b,
        "!=": a != b,
        "<": a < b,  # type: ignore[operator]
        ">": a > b,  # type: ignore[operator]
        "<=": a <= b,  # type: ignore[operator]
        ">=": a >= b,  # type: ignore[operator]
    }[op]


def _truth(value: Value) -> bool:
    """op_cond: a string is true unless empty, ``""`` or ``0``; a number unless zero."""
    if not value.numeric:
        return value.text not in {"", '""', "0"}
    return value.number() != 0


def evaluate(text: str) -> str:
    """The value of the expression inside ``$[...]`` (variables already substituted)."""
    return _Parser(text).parse().text
