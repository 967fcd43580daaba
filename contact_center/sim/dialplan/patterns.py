"""Extension patterns as Asterisk's pbx.c matches and sorts them.

An extension starting with ``_`` is a pattern: ``X`` 0-9, ``Z`` 1-9, ``N`` 2-9, ``[a-z0-9]``
a set, ``.`` one or more of anything, ``!`` zero or more, ``-`` ignored; any other character
is itself. A context's extensions are kept in ``ext_cmp`` order (main/pbx.c): literal
extensions first, then patterns, more specific character sets first; a call runs the first
extension in that order that matches (``extenpatternmatchnew = no``, the default).
"""

from __future__ import annotations

import functools

_SETS = {"X": "0123456789", "Z": "123456789", "N": "23456789"}
_DOT = 0x18000  # '.'
_BANG = 0x28000  # '!'
_END = 0x30000  # end of pattern


class PatternError(ValueError):
    """A malformed pattern (an unclosed ``[``)."""


def _chars(pattern: str) -> list[str | frozenset[str]]:
    """``_1XX`` → ['1', {0-9}, {0-9}]; ``.``/``!`` stay as they are."""
    out: list[str | frozenset[str]] = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        i += 1
        if c == "-":
            continue
        if c.upper() in _SETS:
            out.append(frozenset(_SETS[c.upper()]))
        elif c == "[":
            end = pattern.find("]", i)
            if end < 0:
                raise PatternError(f"unclosed [ in pattern {pattern!r}")
            out.append(_set(pattern[i:end]))
            i = end + 1
        else:
            out.append(c)
    return out


def _set(body: str) -> frozenset[str]:
    chars: set[str] = set()
    i = 0
    while i < len(body):
        if i + 2 < len(body) and body[i + 1] == "-":
            chars.update(chr(c) for c in range(ord(body[i]), ord(body[i + 2]) + 1))
            i += 3
        else:
            chars.add(body[i])
            i += 1
    return frozenset(chars)


def check(exten: str) -> None:
    """Raise :class:`PatternError` if ``exten`` is not a well-formed extension or pattern."""
    if exten.startswith("_"):
        _chars(exten[1:])


def matches(exten: str, number: str) -> bool:
    """Whether the dialled ``number`` runs extension ``exten`` (literal or ``_`` pattern)."""
    if not exten.startswith("_"):
        return exten.replace("-", "") == number
    return _match(_chars(exten[1:]), number, whole=True)


def can_match_more(exten: str, prefix: str) -> bool:
    """Whether more digits after ``prefix`` could still match ``exten`` (Asterisk's
    MATCHMORE: a ``!`` pattern never asks for more)."""
    if not exten.startswith("_"):
        literal = exten.replace("-", "")
        return literal.startswith(prefix) and len(literal) > len(prefix)
    return _match(_chars(exten[1:]), prefix, whole=False)


def _match(parts: list[str | frozenset[str]], number: str, *, whole: bool) -> bool:
    i = 0
    for part in parts:
        if part == ".":
            return len(number) > i or not whole
        if part == "!":
            return whole
        if i >= len(number):
            return not whole  # the number ended inside the pattern: more could match
        ch = number[i]
        if isinstance(part, frozenset):
            if ch not in part:
                return False
        elif ch != part:
            return False
        i += 1
    return i == len(number) if whole else False


def _position_weight(part: str | frozenset[str]) -> tuple[int, bytes]:
    """ext_cmp_pattern_pos: count of characters << 8 | the lowest, plus the set's bitmap."""
    if part == ".":
        return _DOT, b""
    if part == "!":
        return _BANG, b""
    chars = {part} if isinstance(part, str) else set(part)
    bitmap = bytearray(32)
    for c in chars:
        code = ord(c) & 0xFF
        bitmap[code // 8] |= 1 << (7 - code % 8)
    low = min(ord(c) & 0xFF for c in chars)
    return (len(chars) << 8) | low, bytes(bitmap)


def _cmp_patterns(left: str, right: str) -> int:
    lparts, rparts = _chars(left), _chars(right)
    for i in range(max(len(lparts), len(rparts)) + 1):
        lw, lbits = _position_weight(lparts[i]) if i < len(lparts) else (_END, b"")
        rw, rbits = _position_weight(rparts[i]) if i < len(rparts) else (_END, b"")
        if lw != rw:
            return lw - rw
        if lbits != rbits:
            # memcmp(right, left): more significant bits (lower characters) sort first
            return -1 if rbits < lbits else 1
        if lw == _END:
            return 0
    return 0


def _cmp_literals(left: str, right: str) -> int:
    a, b = left.replace("-", ""), right.replace("-", "")
    return (a > b) - (a < b)


def ext_cmp(left: str, right: str) -> int:
    """pbx.c ``ext_cmp``: literal extensions before patterns, then by specificity."""
    if not left.startswith("_"):
        if right.startswith("_"):
            return -1
        return _cmp_literals(left, right)
    if not right.startswith("_"):
        return 1
    return _cmp_patterns(left[1:], right[1:])


sort_key = functools.cmp_to_key(ext_cmp)
