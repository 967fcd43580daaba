"""``${...}`` and ``$[...]`` substitution as pbx_substitute_variables_helper does it.

Inner references are substituted first (``${GLOBAL(RING_${EXTEN})}``), then the outer one
is looked up: a function ``NAME(args)``, or a variable with an optional ``:offset:length``.
Pure functions (``IF``, ``LEN``, ``STRFTIME``) live here; functions about a channel or the
PBX (``CALLERID``, ``GLOBAL``, ``CDR``, ``CHANNEL``…) are asked of the :class:`Scope`.
"""

from __future__ import annotations

import re
import time
from typing import Protocol

from contact_center.sim.dialplan.expr import evaluate

PURE_FUNCTIONS = frozenset({"IF", "LEN", "STRFTIME"})
SCOPE_FUNCTIONS = frozenset({"CALLERID", "GLOBAL", "CDR", "CHANNEL", "TIMEOUT"})
FUNCTIONS = PURE_FUNCTIONS | SCOPE_FUNCTIONS
_FUNCTION_CALL = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\(")


class SubstitutionError(ValueError):
    """An unclosed ``${``/``$[``, an unknown function, a bad expression."""


class Scope(Protocol):
    """Where substitution finds values: a channel and the PBX around it."""

    def variable(self, name: str) -> str: ...

    def function(self, name: str, args: str) -> str: ...


def functions_used(text: str) -> list[str]:
    """The names of the dialplan functions ``text`` calls (for checks at load time)."""
    return _FUNCTION_CALL.findall(text)


def substitute(text: str, scope: Scope) -> str:
    """``text`` with every ``${...}`` and ``$[...]`` replaced by its value."""
    out: list[str] = []
    i = 0
    while i < len(text):
        if text.startswith(("${", "$["), i):
            close = _closing(text, i)
            inner = substitute(text[i + 2 : close], scope)
            if text[i + 1] == "{":
                out.append(_lookup(inner, scope))
            else:
                try:
                    out.append(evaluate(inner))
                except ValueError as exc:
                    raise SubstitutionError(str(exc)) from exc
            i = close + 1
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def _closing(text: str, start: int) -> int:
    """Index of the bracket closing the ``${``/``$[`` at ``start`` (nesting counted)."""
    opening, closing = ("{", "}") if text[start + 1] == "{" else ("[", "]")
    depth = 1
    i = start + 2
    while i < len(text):
        if text[i] == opening:
            depth += 1
        elif text[i] == closing:
            depth -= 1
            if depth == 0:
                return i
        i += 1
    raise SubstitutionError(f"unclosed ${opening} in {text[start:]!r}")


def _lookup(inner: str, scope: Scope) -> str:
    name, paren, rest = inner.partition("(")
    if paren and ")" in rest:
        args, _, tail = rest.rpartition(")")
        value = call_function(name.strip(), args, scope)
        cut = tail[1:].split(":") if tail.startswith(":") else []
    else:
        name, *cut = inner.split(":")
        value = scope.variable(name)
    if cut:
        return _substring(value, cut)
    return value


def _substring(value: str, cut: list[str]) -> str:
    try:
        offset = int(cut[0] or 0)
        length = int(cut[1]) if len(cut) > 1 and cut[1] != "" else None
    except ValueError as exc:
        raise SubstitutionError(f"bad substring {':'.join(cut)!r}") from exc
    start = offset if offset >= 0 else max(len(value) + offset, 0)
    if length is None:
        return value[start:]
    if length < 0:
        return value[start : len(value) + length]
    return value[start : start + length]


def call_function(name: str, args: str, scope: Scope) -> str:
    """Read ``NAME(args)`` (args already substituted)."""
    upper = name.upper()
    if upper == "IF":
        return if_function(args)
    if upper == "LEN":
        return str(len(args))
    if upper == "STRFTIME":
        return strftime_function(args)
    if upper in SCOPE_FUNCTIONS:
        return scope.function(upper, args)
    raise SubstitutionError(f"function {name}() is not supported")


def if_function(args: str) -> str:
    """``IF(cond?true:false)``: pbx_checkcondition on ``cond``."""
    cond, question, rest = args.partition("?")
    if not question:
        raise SubstitutionError(f"IF({args}) has no '?'")
    yes, _, no = rest.partition(":")
    return yes if check_condition(cond) else no


def check_condition(text: str) -> bool:
    """pbx_checkcondition: empty is false, a number is its value, other text is true."""
    text = text.strip()
    if not text:
        return False
    try:
        return float(text) != 0
    except ValueError:
        return True


def strftime_function(args: str) -> str:
    """``STRFTIME([epoch][,timezone[,format]])`` in the server's time zone."""
    epoch, _, rest = args.partition(",")
    zone, _, fmt = rest.partition(",")
    if zone.strip():
        raise SubstitutionError(f"STRFTIME with a time zone ({zone}) is not supported")
    try:
        seconds = float(epoch) if epoch.strip() else time.time()
    except ValueError as exc:
        raise SubstitutionError(f"STRFTIME: bad epoch {epoch!r}") from exc
    return time.strftime(fmt or "%c", time.localtime(seconds))
