"""Phone number normalisation: whatever the PBX or a CSV file gives us → E.164.

Numbers arrive as ``84951234567``, ``+7 (495) 123-45-67``, ``74951234567``, ``4951234567``,
``1234567`` (a local number, completed with the configured area code), internal extensions
like ``101``, and ``anonymous``/``unknown``/empty. Caller ID is attacker-controlled (any SIP
peer can send anything), so this never raises and never lets control characters through to
``display``.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

import phonenumbers
from phonenumbers import NumberParseException, PhoneMetadata, PhoneNumberFormat

Kind = Literal["e164", "extension", "anonymous", "invalid"]

# What Asterisk and carriers put in CALLERID(num) when the caller is withheld.
ANONYMOUS_WORDS = frozenset(
    {"", "anonymous", "unknown", "restricted", "private", "unavailable", "withheld", "<unknown>"}
)
# Separators people and PBXes put inside numbers; anything else (letters, SIP URIs with
# hosts, control characters) makes the input invalid rather than guessed at.
_SEPARATORS = frozenset(" -().\u00a0/\t")
_DROP_SEPARATORS = str.maketrans(dict.fromkeys(_SEPARATORS))
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


def normalize_number(
    raw: str, *, region: str = "RU", area_code: str = "", with_display: bool = True
) -> PhoneNumber:
    """Classify and normalise ``raw``; never raises.

    ``with_display=False`` skips the international formatting (``display`` is then the
    E.164 form), which bulk import does not need and which costs a quarter of the time.
    """
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
    return _classify(raw, plus, digits, region.upper(), area_code, with_display)


def display_number(number: str, raw: str = "", *, region: str = "RU") -> str:
    """How people read a caller's number: ``+7 495 037-03-72`` for one that normalises (the
    E.164 ``number``, else ``raw`` as the provider sent it, e.g. ``74950370372``, read in
    ``region``), an extension as its digits, anything else as printable text."""
    for candidate in (number, raw):
        if candidate:
            parsed = normalize_number(candidate, region=region)
            if parsed.kind in ("e164", "extension", "anonymous"):
                return parsed.display
    return safe_display(raw or number)


def phone_suffix(e164: str) -> str:
    """The value stored in ``customer_phones.suffix``: the number's digits reversed.

    Reversed so that "the last N digits equal X" becomes a prefix range on an ordinary
    b-tree index (``suffix >= rev(X) AND suffix < next(rev(X))``) on SQLite and PostgreSQL,
    whatever N is configured to.
    """
    digits = e164[1:] if e164.startswith("+") else e164
    if not digits.isdigit():
        digits = "".join(ch for ch in digits if "0" <= ch <= "9")
    return digits[::-1][:16]


def _classify(
    raw: str, plus: bool, digits: str, region: str, area_code: str, with_display: bool
) -> PhoneNumber:
    if not plus and area_code.isdigit() and 5 <= len(digits) <= 7:
        # A short city number: complete it with the configured area code first, since a
        # 7-digit string is more likely a local number than an extension.
        local = _parse(area_code + digits, region, with_display)
        if local is not None:
            return PhoneNumber(raw, local[0], "e164", local[1], digits)
    if not plus and len(digits) <= MAX_EXTENSION_DIGITS:
        return PhoneNumber(raw, None, "extension", digits, digits)
    parsed = _parse(("+" if plus else "") + digits, region, with_display)
    if parsed is None:
        return PhoneNumber(raw, None, "invalid", safe_display(raw), digits)
    return PhoneNumber(raw, parsed[0], "e164", parsed[1], digits)


@lru_cache(maxsize=4096)
def _parse(text: str, region: str, with_display: bool) -> tuple[str, str] | None:
    """(E.164, display) for a valid number, else None.

    Cached because the same few thousand callers call again and again.
    """
    e164 = _parse_fast(text, region)
    if e164 is None:
        e164 = _parse_full(text, region)
    if e164 is None or not with_display:
        return None if e164 is None else (e164, e164)
    number = phonenumbers.parse(e164)
    return e164, phonenumbers.format_number(number, PhoneNumberFormat.INTERNATIONAL)


def _parse_full(text: str, region: str) -> str | None:
    try:
        number = phonenumbers.parse(text, region)
    except NumberParseException:
        return None
    except Exception:  # phonenumbers on an unknown region or odd input: treat as invalid
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, PhoneNumberFormat.E164)


@dataclass(frozen=True, slots=True)
class _RegionRules:
    country_code: str
    national_prefix: str
    # National number length → one pattern that holds when the general rule and some
    # number type (mobile and fixed line first) accept the number; None: no rule allows
    # that length. One regex call per number instead of a Python loop over the types.
    by_length: dict[int, re.Pattern[str] | None]
    other_lengths: re.Pattern[str] | None  # for lengths no rule lists


_TYPE_ORDER = (
    "mobile",
    "fixed_line",
    "toll_free",
    "premium_rate",
    "shared_cost",
    "voip",
    "personal_number",
    "pager",
    "uan",
    "voicemail",
)


@lru_cache(maxsize=64)
def _region_rules(region: str) -> _RegionRules | None:
    """Validation rules of a region whose prefix rules are plain strings, or None.

    Only the main region of a calling code (RU for +7, US for +1): for the others the
    region a number belongs to is decided by phonenumbers across several regions.
    """
    meta = PhoneMetadata.metadata_for_region(region)
    if meta is None or meta.country_code is None or meta.national_prefix_transform_rule:
        return None
    if phonenumbers.region_code_for_country_code(meta.country_code) != region:
        return None
    prefix = meta.national_prefix or ""
    if meta.national_prefix_for_parsing not in (None, prefix) or meta.general_desc is None:
        return None
    general = _desc_rule(meta.general_desc, ())
    if general is None:
        return None
    types = [
        rule
        for name in _TYPE_ORDER
        if (rule := _desc_rule(getattr(meta, name, None), meta.general_desc.possible_length))
        is not None
    ]
    listed = set(general[1]).union(*(lengths for _, lengths in types))
    return _RegionRules(
        str(meta.country_code),
        prefix,
        {length: _pattern_for_length(general, types, length) for length in listed},
        _pattern_for_length(general, types, None),
    )


_Rule = tuple[str, frozenset[int]]  # (national number pattern, possible lengths; empty: any)


def _desc_rule(desc: Any, fallback_lengths: Any) -> _Rule | None:
    if desc is None or not desc.national_number_pattern:
        return None
    lengths = desc.possible_length or fallback_lengths or ()
    return desc.national_number_pattern, frozenset(lengths)


def _pattern_for_length(
    general: _Rule, types: list[_Rule], length: int | None
) -> re.Pattern[str] | None:
    """For ``fullmatch``: the general pattern (a lookahead) and then any type's pattern,
    among the rules accepting ``length`` (None: a length no rule lists)."""

    def accepts(lengths: frozenset[int]) -> bool:
        return not lengths or length in lengths

    alternatives = [f"(?:{pattern})" for pattern, lengths in types if accepts(lengths)]
    if not accepts(general[1]) or not alternatives:
        return None
    return re.compile(f"(?=(?:{general[0]})\\Z)(?:{'|'.join(alternatives)})")


def _parse_fast(text: str, region: str) -> str | None:
    """The common shapes (+CC NSN, national prefix + NSN, bare NSN of the default region)
    checked directly against the region's metadata, without ``phonenumbers.parse`` and
    ``is_valid_number`` — they are nearly all of the cost of a bulk import.

    Returns a number only when it is valid; anything else (other countries, leading zeros,
    odd prefixes) goes the full way. The unit tests check that both ways agree.
    """
    rules = _region_rules(region)
    if rules is None:
        return None
    cc = rules.country_code
    if text.startswith("+"):
        if not text.startswith(cc, 1):
            return None
        nsn = text[1 + len(cc) :]
    elif rules.national_prefix and text.startswith(rules.national_prefix):
        nsn = text[len(rules.national_prefix) :]
    else:
        nsn = text
    if not nsn or nsn[0] == "0" or not nsn.isdigit():
        return None
    pattern = rules.by_length.get(len(nsn), rules.other_lengths)
    if pattern is None or pattern.fullmatch(nsn) is None:
        return None
    return f"+{cc}{nsn}"


def _split_digits(text: str) -> tuple[bool, str | None]:
    """(leading plus, ASCII digits) or (False, None) when text is not number-like."""
    plus = text.startswith("+")
    if plus:
        text = text[1:]
    compact = text.translate(_DROP_SEPARATORS)
    if compact.isascii() and (compact.isdigit() or not compact):
        return plus, compact  # the common case, without a Python loop per character
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
    return PhoneNumber(raw, None, "invalid", safe_display(raw))


def safe_display(raw: str) -> str:
    """Printable characters only, bounded: safe for logs, HTML and CSV."""
    shown = "".join(ch for ch in raw[: MAX_DISPLAY_CHARS * 4] if ch.isprintable())
    shown = shown.strip()
    if len(shown) > MAX_DISPLAY_CHARS:
        shown = shown[: MAX_DISPLAY_CHARS - 1] + "…"
    return shown
