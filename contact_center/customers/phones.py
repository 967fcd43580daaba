"""Phone number normalisation: whatever the PBX or a CSV file gives us → E.164.

Numbers arrive as ``84951234567``, ``+7 (495) 123-45-67``, ``74951234567``, ``4951234567``,
``1234567`` (a local number, completed with the configured area code), internal extensions
like ``101``, and ``anonymous``/``unknown``/empty. Caller ID is attacker-controlled (any SIP
peer can send anything), so this never raises and never lets control characters through to
``display``.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat

Kind = Literal["e164", "extension", "anonymous", "invalid"]

# What Asterisk and carriers put in CALLERID(num) when the caller is withheld.
ANONYMOUS_WORDS = frozenset(
    {"", "anonymous", "unknown", "restricted", "private", "unavailable", "withheld", "<unknown>"}
)
# Separators people and PBXes put inside numbers; anything else (letters, SIP URIs with
# hosts, control characters) makes the input invalid rather than guessed at.
_SEPARATORS = frozenset(" -().\u00a0/\t")
# E.164 allows 15 digits; a generous cap keeps hostile 10 KB strings cheap to reject.
MAX_INPUT_CHARS = 64
MAX_EXTENSION_DIGITS = 6
MAX_DISPLAY_CHARS = 40


@dataclass(frozen=True, slots=True)
class PhoneNumber:
    """A normalised number. ``e164`` is set only when ``kind == "e164"``."""

    raw: str
    e164: str | None
    kind: Kind
    display: str
    digits: str = ""  # the ASCII digits found in raw ("" when the input is not number-like)

    @property
    def is_e164(self) -> bool:
        return self.kind == "e164"


def normalize_number(raw: str, *, region: str = "RU", area_code: str = "") -> PhoneNumber:
    """Classify and normalise ``raw``; never raises."""
    if not isinstance(raw, str):
        raw = "" if raw is None else str(raw)
    text = raw.strip()
    if text.lower() in ANONYMOUS_WORDS:
        return PhoneNumber(raw, None, "anonymous", "anonymous")
    if len(text) > MAX_INPUT_CHARS:
        return _invalid(raw)
    plus, digits = _split_digits(text)
    if digits is None or not digits:
        return _invalid(raw)
    return _classify(raw, plus, digits, region.upper(), area_code)


def phone_suffix(e164: str) -> str:
    """The value stored in ``customer_phones.suffix``: the number's digits reversed.

    Reversed so that "the last N digits equal X" becomes a prefix range on an ordinary
    b-tree index (``suffix >= rev(X) AND suffix < next(rev(X))``) on SQLite and PostgreSQL,
    whatever N is configured to.
    """
    return "".join(ch for ch in reversed(e164) if ch.isdigit())[:16]


def _classify(raw: str, plus: bool, digits: str, region: str, area_code: str) -> PhoneNumber:
    if not plus and area_code.isdigit() and 5 <= len(digits) <= 7:
        # A short city number: complete it with the configured area code first, since a
        # 7-digit string is more likely a local number than an extension.
        local = _parse(area_code + digits, region)
        if local is not None:
            return PhoneNumber(raw, local[0], "e164", local[1], digits)
    if not plus and len(digits) <= MAX_EXTENSION_DIGITS:
        return PhoneNumber(raw, None, "extension", digits, digits)
    parsed = _parse(("+" if plus else "") + digits, region)
    if parsed is None:
        return PhoneNumber(raw, None, "invalid", _safe_display(raw), digits)
    return PhoneNumber(raw, parsed[0], "e164", parsed[1], digits)


@lru_cache(maxsize=4096)
def _parse(text: str, region: str) -> tuple[str, str] | None:
    """(E.164, international display) for a valid number, else None.

    Cached because the same few thousand callers call again and again.
    """
    try:
        number = phonenumbers.parse(text, region)
    except NumberParseException:
        return None
    except Exception:  # phonenumbers on an unknown region or odd input: treat as invalid
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return (
        phonenumbers.format_number(number, PhoneNumberFormat.E164),
        phonenumbers.format_number(number, PhoneNumberFormat.INTERNATIONAL),
    )


def _split_digits(text: str) -> tuple[bool, str | None]:
    """(leading plus, ASCII digits) or (False, None) when text is not number-like."""
    plus = text.startswith("+")
    if plus:
        text = text[1:]
    out: list[str] = []
    for ch in text:
        if "0" <= ch <= "9":
            out.append(ch)
        elif ch in _SEPARATORS:
            continue
        elif ch.isdecimal():
            # Unicode digits (Arabic-Indic, full-width …) mean the same number.
            out.append(str(unicodedata.decimal(ch)))
        else:
            return False, None
    return plus, "".join(out)


def _invalid(raw: str) -> PhoneNumber:
    return PhoneNumber(raw, None, "invalid", _safe_display(raw))


def _safe_display(raw: str) -> str:
    """Printable characters only, bounded: safe for logs, HTML and CSV."""
    shown = "".join(ch for ch in raw[: MAX_DISPLAY_CHARS * 4] if ch.isprintable())
    shown = shown.strip()
    if len(shown) > MAX_DISPLAY_CHARS:
        shown = shown[: MAX_DISPLAY_CHARS - 1] + "…"
    return shown
