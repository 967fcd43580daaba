"""Tariff plans: the model and its import from YAML or CSV files.

A plan prices calls to (outbound) or from (inbound: toll-free, DID) destination prefixes. Each
rate row is ``prefix`` × ``band``; an empty band applies in every band. Time bands are chosen
by weekday and hour in the plan's time zone, and holiday bands on the plan's holidays.

YAML layout (see ``tariffs/example.yaml``)::

    name: outbound-standard
    direction: outbound          # outbound | inbound
    match: dialled               # dialled | caller: which number is looked up
    bill: answer                 # answer | talk: from the call's answer to its end (as
                                 # Asterisk's CDR bills) or the operators' talk only
    currency: RUB
    timezone: Europe/Moscow
    rounding: {places: 2, mode: half_up}
    default_band: standard       # the band when no other band matches
    bands:
      - {name: peak, days: [mon, tue, wed, thu, fri], from: "09:00", to: "18:00"}
      - {name: holiday, holiday: true}
    holidays: ["2026-01-01"]
    defaults: {increment: 60/60, grace: 0, free: 0, connection_fee: "0", minimum: "0"}
    rates:
      - {prefix: "7495", per_minute: "1.50", description: Moscow}
      - {prefix: "7495", band: peak, per_minute: "2.00"}
    rates_file: more-rates.csv   # optional CSV with the same columns, relative to the YAML

CSV alone: columns ``plan, currency, prefix, per_minute`` and optionally ``direction, band,
description, connection_fee, increment, grace, free, minimum``; one plan per distinct ``plan``.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import (
    ROUND_CEILING,
    ROUND_DOWN,
    ROUND_FLOOR,
    ROUND_HALF_EVEN,
    ROUND_HALF_UP,
    ROUND_UP,
    Decimal,
    InvalidOperation,
)
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from contact_center.billing.errors import TariffError

ZERO = Decimal(0)
ALL_DAYS: frozenset[int] = frozenset(range(7))
DAY_NAMES = {"mon": 0, "tue": 1, "wed": 2, "thu": 3, "fri": 4, "sat": 5, "sun": 6}
ROUNDING_MODES = {
    "half_up": ROUND_HALF_UP,
    "half_even": ROUND_HALF_EVEN,
    "up": ROUND_UP,
    "down": ROUND_DOWN,
    "ceiling": ROUND_CEILING,
    "floor": ROUND_FLOOR,
}
DIRECTIONS = ("outbound", "inbound")
_INCREMENT = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")
_NON_DIGITS = re.compile(r"[^0-9]")
_HHMM = re.compile(r"^(\d{1,2}):(\d{2})$")


# --- the model -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Rate:
    """The price of one destination prefix in one band ("" = every band)."""

    prefix: str
    per_minute: Decimal
    band: str = ""
    description: str = ""
    connection_fee: Decimal = ZERO
    first_increment: int = 60
    next_increment: int = 60
    grace_seconds: int = 0  # calls up to this long are free
    free_seconds: int = 0  # the first seconds of every call are not billed
    minimum_charge: Decimal = ZERO


@dataclass(frozen=True, slots=True)
class TimeBand:
    """Weekdays and a local time window [start, end) in minutes; end < start wraps midnight."""

    name: str
    days: frozenset[int] = ALL_DAYS
    start_minute: int = 0
    end_minute: int = 1440
    holiday: bool = False  # a holiday band: applies on the plan's holidays only

    def covers(self, weekday: int, minute: float) -> bool:
        if self.start_minute <= self.end_minute:
            return weekday in self.days and self.start_minute <= minute < self.end_minute
        # Over midnight: the evening belongs to this weekday, the morning to the next day's.
        if minute >= self.start_minute:
            return weekday in self.days
        return minute < self.end_minute and (weekday - 1) % 7 in self.days


@dataclass(frozen=True, slots=True)
class Rounding:
    places: int = 2
    mode: str = "half_up"

    @property
    def quantum(self) -> Decimal:
        return Decimal(1).scaleb(-self.places)

    def apply(self, amount: Decimal) -> Decimal:
        return amount.quantize(self.quantum, rounding=ROUNDING_MODES[self.mode])


class PrefixTable:
    """Longest-prefix match over digit strings: one dict probe per distinct prefix length.

    With real numbering plans there are few distinct lengths (1-8), so a match costs a handful
    of dict look-ups whatever the number of prefixes.
    """

    __slots__ = ("_by_prefix", "_lengths")

    def __init__(self, entries: Mapping[str, dict[str, Rate]]) -> None:
        self._by_prefix: dict[str, dict[str, Rate]] = dict(entries)
        self._lengths: tuple[int, ...] = tuple(
            sorted({len(p) for p in self._by_prefix}, reverse=True)
        )

    def __len__(self) -> int:
        return len(self._by_prefix)

    def longest_match(self, digits: str) -> tuple[str, dict[str, Rate]] | None:
        by_prefix = self._by_prefix
        n = len(digits)
        for length in self._lengths:
            if length > n:
                continue
            prefix = digits[:length]
            found = by_prefix.get(prefix)
            if found is not None:
                return prefix, found
        return None


BILL_BASES = ("answer", "talk")


@dataclass(frozen=True)
class TariffPlan:
    name: str
    currency: str
    rates: tuple[Rate, ...]
    direction: str = "outbound"
    match: str = "dialled"  # dialled | caller
    # What is billed: "answer" — from the call's answer to its end, as Asterisk's CDR bills
    # (a transferred call's ringing and hold between operators included); "talk" — only the
    # operators' talk with the customer (the sum of each operator's own talk).
    bill: str = "answer"
    bands: tuple[TimeBand, ...] = ()
    holidays: frozenset[date] = frozenset()
    default_band: str = "standard"
    timezone: str = "UTC"
    rounding: Rounding = field(default_factory=Rounding)
    table: PrefixTable = field(init=False, repr=False, compare=False)
    tz: ZoneInfo = field(init=False, repr=False, compare=False)
    boundaries: tuple[int, ...] = field(init=False, repr=False, compare=False)
    # epoch minute -> (band, next edge); filled by rating (see rating._band_and_edge)
    band_cache: dict[int, tuple[str, int]] = field(
        init=False, repr=False, compare=False, default_factory=dict
    )

    def __post_init__(self) -> None:
        entries: dict[str, dict[str, Rate]] = {}
        for rate in self.rates:
            entries.setdefault(rate.prefix, {})[rate.band] = rate
        object.__setattr__(self, "table", PrefixTable(entries))
        object.__setattr__(self, "tz", ZoneInfo(self.timezone))
        edges = {0, 1440}
        for band in self.bands:
            edges.update((band.start_minute, band.end_minute))
        object.__setattr__(self, "boundaries", tuple(sorted(edges)))

    @property
    def band_names(self) -> tuple[str, ...]:
        names = [self.default_band, *(b.name for b in self.bands)]
        return tuple(dict.fromkeys(names))

    def band_at(self, day: date, weekday: int, minute: float) -> str:
        """The band in force at a local date/time (minute of day, fractional)."""
        holiday = day in self.holidays
        for band in self.bands:
            if band.holiday != holiday:
                continue
            if band.covers(weekday, minute):
                return band.name
        if holiday:
            # No holiday band: a holiday is an ordinary day of the week.
            for band in self.bands:
                if not band.holiday and band.covers(weekday, minute):
                    return band.name
        return self.default_band

    def definition(self) -> dict[str, Any]:
        """Plan settings other than rates, JSON-ready (stored in tariff_plans.definition)."""
        return {
            "match": self.match,
            "bill": self.bill,
            "default_band": self.default_band,
            "timezone": self.timezone,
            "rounding": {"places": self.rounding.places, "mode": self.rounding.mode},
            "holidays": sorted(d.isoformat() for d in self.holidays),
            "bands": [
                {
                    "name": b.name,
                    "days": sorted(b.days),
                    "start_minute": b.start_minute,
                    "end_minute": b.end_minute,
                    "holiday": b.holiday,
                }
                for b in self.bands
            ],
        }


def plan_from_definition(
    *,
    name: str,
    direction: str,
    currency: str,
    definition: Mapping[str, Any],
    rates: Iterable[Rate],
) -> TariffPlan:
    """Rebuild a plan stored by :meth:`TariffPlan.definition` (trusted input)."""
    rounding = definition.get("rounding") or {}
    return TariffPlan(
        name=name,
        currency=currency,
        direction=direction,
        rates=tuple(rates),
        match=str(definition.get("match", "dialled")),
        bill=str(definition.get("bill", "answer")),
        default_band=str(definition.get("default_band", "standard")),
        timezone=str(definition.get("timezone", "UTC")),
        rounding=Rounding(int(rounding.get("places", 2)), str(rounding.get("mode", "half_up"))),
        holidays=frozenset(date.fromisoformat(d) for d in definition.get("holidays", [])),
        bands=tuple(
            TimeBand(
                name=str(b["name"]),
                days=frozenset(int(d) for d in b.get("days", range(7))),
                start_minute=int(b.get("start_minute", 0)),
                end_minute=int(b.get("end_minute", 1440)),
                holiday=bool(b.get("holiday", False)),
            )
            for b in definition.get("bands", [])
        ),
    )


def tidy_money(amount: Decimal) -> Decimal:
    """Money as people write it: stored 6 places trimmed back to at least 2 (1.500000 -> 1.50)."""
    exponent = amount.normalize().as_tuple().exponent
    places = max(2, -exponent) if isinstance(exponent, int) else 2
    return amount.quantize(Decimal(1).scaleb(-places))


def digits_of(number: str) -> str:
    """The digits a prefix is matched against: '+7 (495) 123' -> '7495123'."""
    # Fast paths first: rating calls this for every call, and E.164 is the usual input.
    if number.isascii():
        if number.isdigit():
            return number
        if number[:1] == "+" and number[1:].isdigit():
            return number[1:]
    return _NON_DIGITS.sub("", number)


# --- loading files ------------------------------------------------------------------------------


class _LineDict(dict[str, Any]):
    line: int = 0
    key_lines: dict[str, int] | None = None  # where each key is written


class _LineLoader(yaml.SafeLoader):
    """A safe YAML loader whose mappings remember their line, for file:line errors."""


def _construct_line_map(loader: _LineLoader, node: yaml.MappingNode) -> _LineDict:
    loader.flatten_mapping(node)
    data = _LineDict({str(k): v for k, v in loader.construct_mapping(node, deep=True).items()})
    data.line = node.start_mark.line + 1
    data.key_lines = {str(k.value): k.start_mark.line + 1 for k, _ in node.value}
    return data


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_line_map)


@dataclass(frozen=True, slots=True)
class _Source:
    path: str
    line: int | None

    def error(self, reason: str) -> TariffError:
        return TariffError(self.path, self.line, reason)

    def at(self, doc: Mapping[str, Any], key: str) -> _Source:
        """The line of ``key`` in ``doc`` (a YAML mapping), else this source's line."""
        lines = getattr(doc, "key_lines", None) or {}
        return _Source(self.path, lines.get(key, self.line))


def load_plans(path: str | Path) -> list[TariffPlan]:
    """Read and validate the plan(s) in a YAML or CSV file; errors name file:line."""
    p = Path(path)
    text = _read_text(p)
    if p.suffix.lower() == ".csv":
        return _plans_from_csv(str(p), text)
    if p.suffix.lower() in {".yaml", ".yml"}:
        return [_plan_from_yaml(p, text)]
    raise TariffError(str(p), None, "unknown file type (expected .yaml, .yml or .csv)")


def _read_text(p: Path, reason: str = "cannot read") -> str:
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise TariffError(str(p), None, f"{reason}: {exc.strerror or exc}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        byte = data[exc.start]
        raise TariffError(str(p), line, f"not UTF-8 text (byte 0x{byte:02x})") from None


def _a_list(value: Any, what: str, src: _Source) -> list[Any]:
    """``value`` when it is a list (absent: empty), else a located error."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise src.error(f"{what} must be a list")
    return value


def _plan_from_yaml(p: Path, text: str) -> TariffPlan:
    where = str(p)
    try:
        doc = yaml.load(text, Loader=_LineLoader)  # a SafeLoader subclass: no arbitrary objects
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else None
        raise TariffError(where, line, f"invalid YAML: {exc.problem}") from None
    except yaml.YAMLError as exc:
        raise TariffError(where, None, f"invalid YAML: {exc}") from None
    if not isinstance(doc, _LineDict):
        raise TariffError(where, 1, "expected a mapping with name, currency and rates")
    top = _Source(where, doc.line)
    known = {
        "name", "direction", "match", "bill", "currency", "timezone", "rounding",
        "default_band", "bands", "holidays", "defaults", "rates", "rates_file",
    }  # fmt: skip
    _reject_unknown(doc, known, top)
    defaults = doc.get("defaults") or {}
    if not isinstance(defaults, dict):
        raise top.at(doc, "defaults").error("defaults must be a mapping")
    defaults_src = _Source(where, getattr(defaults, "line", doc.line))
    _reject_unknown(defaults, _RATE_KEYS - {"prefix", "band", "plan", "currency"}, defaults_src)
    rates: list[tuple[Rate, _Source]] = []
    for item in _a_list(doc.get("rates"), "rates", top.at(doc, "rates")):
        src = _Source(where, getattr(item, "line", doc.line))
        if not isinstance(item, dict):
            raise src.error("each rate must be a mapping with prefix and per_minute")
        rates.append((_rate_from_row(item, defaults, src, defaults_src), src))
    if doc.get("rates_file"):
        csv_path = p.parent / str(doc["rates_file"])
        if not csv_path.is_file():
            raise top.at(doc, "rates_file").error(f"rates_file {csv_path}: no such file")
        csv_text = _read_text(csv_path, "rates_file")
        for row, src in _csv_rows(str(csv_path), csv_text):
            rates.append((_rate_from_row(row, defaults, src, defaults_src), src))
    return _build_plan(doc, rates, top)


def _plans_from_csv(where: str, text: str) -> list[TariffPlan]:
    grouped: dict[str, list[tuple[Rate, _Source]]] = {}
    meta: dict[str, dict[str, Any]] = {}
    for row, src in _csv_rows(where, text):
        name = (row.get("plan") or "").strip()
        if not name:
            raise src.error("missing plan name (column 'plan')")
        info = {"name": name, "currency": row.get("currency", ""),
                "direction": row.get("direction") or "outbound"}  # fmt: skip
        if name in meta and (meta[name]["currency"], meta[name]["direction"]) != (
            info["currency"],
            info["direction"],
        ):
            raise src.error(f"plan {name!r}: currency/direction differ from its first row")
        meta.setdefault(name, info)
        grouped.setdefault(name, []).append((_rate_from_row(row, {}, src), src))
    if not grouped:
        raise TariffError(where, None, "no rates in file")
    return [
        _build_plan(meta[n], rows, _Source(where, rows[0][1].line)) for n, rows in grouped.items()
    ]


def _csv_rows(where: str, text: str) -> Iterator[tuple[dict[str, str], _Source]]:
    reader = csv.DictReader(text.splitlines())
    required = {"prefix", "per_minute"}
    if reader.fieldnames is None or not required <= {f.strip() for f in reader.fieldnames}:
        raise TariffError(where, 1, f"CSV header must include {sorted(required)}")
    for row in reader:
        clean = {(k or "").strip(): (v or "").strip() for k, v in row.items() if k}
        if not any(clean.values()):
            continue
        yield clean, _Source(where, reader.line_num)


def _reject_unknown(data: Mapping[str, Any], known: set[str], src: _Source) -> None:
    unknown = sorted(set(data) - known)
    if unknown:
        raise src.error(f"unknown key(s) {', '.join(unknown)}; expected some of {sorted(known)}")


_RATE_KEYS = {
    "prefix", "band", "description", "per_minute", "connection_fee", "increment", "grace",
    "free", "minimum", "plan", "currency", "direction",
}  # fmt: skip


def _rate_from_row(
    row: Mapping[str, Any],
    defaults: Mapping[str, Any],
    src: _Source,
    defaults_src: _Source | None = None,
) -> Rate:
    _reject_unknown(row, _RATE_KEYS, src)

    def pick(key: str, fallback: Any) -> tuple[Any, _Source]:
        """The row's value, else the plan default (errors then point at the defaults line)."""
        value = row.get(key)
        if value is not None and value != "":
            return value, src
        if key in defaults:
            return defaults[key], defaults_src or src
        return fallback, src

    prefix = digits_of(str(row.get("prefix") or ""))
    if not prefix or prefix != str(row.get("prefix")).strip().lstrip("+"):
        raise src.error(f"prefix must be digits, got {row.get('prefix')!r}")
    first, nxt = _increment(*pick("increment", "60/60"))
    return Rate(
        prefix=prefix,
        band=str(row.get("band") or ""),
        description=str(row.get("description") or ""),
        per_minute=_money(row.get("per_minute"), "per_minute", src),
        connection_fee=_money(*_named(pick("connection_fee", "0"), "connection_fee")),
        first_increment=first,
        next_increment=nxt,
        grace_seconds=_seconds(*_named(pick("grace", 0), "grace")),
        free_seconds=_seconds(*_named(pick("free", 0), "free")),
        minimum_charge=_money(*_named(pick("minimum", "0"), "minimum")),
    )


def _named(picked: tuple[Any, _Source], name: str) -> tuple[Any, str, _Source]:
    return picked[0], name, picked[1]


def _money(value: Any, name: str, src: _Source) -> Decimal:
    if value is None or value == "":
        raise src.error(f"{name} is required")
    if isinstance(value, float):
        # YAML floats are binary; go through their shortest repr so 1.1 stays 1.1.
        value = repr(value)
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise src.error(f"{name} must be a decimal amount, got {value!r}") from None
    if not amount.is_finite() or amount < 0:
        raise src.error(f"{name} must be a non-negative amount, got {value!r}")
    return amount


def _seconds(value: Any, name: str, src: _Source) -> int:
    try:
        seconds = int(str(value).strip())
    except ValueError:
        raise src.error(f"{name} must be whole seconds, got {value!r}") from None
    if seconds < 0:
        raise src.error(f"{name} must not be negative, got {value!r}")
    return seconds


def _increment(value: Any, src: _Source) -> tuple[int, int]:
    match = _INCREMENT.match(str(value))
    if not match:
        raise src.error(f"increment must look like 60/60 or 30/6, got {value!r}")
    first, nxt = int(match[1]), int(match[2])
    if first < 1 or nxt < 1:
        raise src.error(f"increment seconds must be at least 1, got {value!r}")
    return first, nxt


def _minute_of(value: Any, name: str, src: _Source) -> int:
    text = str(value).strip()
    match = _HHMM.match(text)
    if not match or int(match[2]) >= 60 or int(match[1]) * 60 + int(match[2]) > 1440:
        raise src.error(f"{name} must be a time HH:MM between 00:00 and 24:00, got {value!r}")
    return int(match[1]) * 60 + int(match[2])


def _band(item: Any, src: _Source) -> TimeBand:
    if not isinstance(item, dict) or not item.get("name"):
        raise src.error("each band needs a name")
    _reject_unknown(item, {"name", "days", "from", "to", "holiday"}, src)
    days = item.get("days")
    if days is None:
        day_set = ALL_DAYS
    else:
        try:
            day_set = frozenset(DAY_NAMES[str(d).lower()[:3]] for d in days)
        except (KeyError, TypeError):
            raise src.error(f"band {item['name']!r}: days must be names like mon, tue") from None
    start = _minute_of(item.get("from", "00:00"), "from", src)
    end = _minute_of(item.get("to", "24:00"), "to", src)
    if start == end:
        raise src.error(f"band {item['name']!r}: from and to are equal")
    return TimeBand(str(item["name"]), day_set, start, end, bool(item.get("holiday", False)))


def _build_plan(
    doc: Mapping[str, Any], rates: list[tuple[Rate, _Source]], top: _Source
) -> TariffPlan:
    name = str(doc.get("name") or "").strip()
    if not name:
        raise top.error("plan needs a name")
    currency = str(doc.get("currency") or "").strip().upper()
    if not re.fullmatch(r"[A-Z]{3}", currency):
        raise top.at(doc, "currency").error(
            f"plan {name!r}: currency must be a 3-letter code, got {currency!r}"
        )
    direction = str(doc.get("direction") or "outbound")
    if direction not in DIRECTIONS:
        raise top.at(doc, "direction").error(
            f"plan {name!r}: direction must be one of {DIRECTIONS}"
        )
    match = str(doc.get("match") or ("caller" if direction == "inbound" else "dialled"))
    if match not in {"dialled", "caller"}:
        raise top.at(doc, "match").error(f"plan {name!r}: match must be dialled or caller")
    bill = str(doc.get("bill") or "answer")
    if bill not in BILL_BASES:
        raise top.at(doc, "bill").error(f"plan {name!r}: bill must be one of {BILL_BASES}")
    timezone = str(doc.get("timezone") or "UTC")
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise top.at(doc, "timezone").error(
            f"plan {name!r}: unknown time zone {timezone!r}"
        ) from None
    rounding_doc = doc.get("rounding") or {}
    if not isinstance(rounding_doc, dict):
        raise top.at(doc, "rounding").error(
            "rounding must be a mapping like {places: 2, mode: half_up}"
        )
    places = rounding_doc.get("places", 2)
    if isinstance(places, bool) or not isinstance(places, int | str) or not str(places).isdigit():
        raise top.at(doc, "rounding").error(
            f"rounding places must be a whole number, got {places!r}"
        )
    rounding = Rounding(int(places), str(rounding_doc.get("mode", "half_up")))
    if rounding.mode not in ROUNDING_MODES:
        raise top.at(doc, "rounding").error(
            f"rounding mode must be one of {sorted(ROUNDING_MODES)}"
        )
    bands_doc = _a_list(doc.get("bands"), "bands", top.at(doc, "bands"))
    bands = tuple(_band(b, _Source(top.path, getattr(b, "line", top.line))) for b in bands_doc)
    holidays: set[date] = set()
    for raw in _a_list(doc.get("holidays"), "holidays", top.at(doc, "holidays")):
        try:
            holidays.add(raw if isinstance(raw, date) else date.fromisoformat(str(raw)))
        except ValueError:
            raise top.at(doc, "holidays").error(
                f"holiday must be a date YYYY-MM-DD, got {raw!r}"
            ) from None
    if not rates:
        raise top.error(f"plan {name!r} has no rates")
    plan = TariffPlan(
        name=name,
        currency=currency,
        direction=direction,
        match=match,
        bill=bill,
        rates=tuple(r for r, _ in rates),
        bands=bands,
        holidays=frozenset(holidays),
        default_band=str(doc.get("default_band") or "standard"),
        timezone=timezone,
        rounding=rounding,
    )
    _check_coverage(plan, rates)
    return plan


def _check_coverage(plan: TariffPlan, rates: list[tuple[Rate, _Source]]) -> None:
    """Every prefix must have a price in every band, or rating could fail mid-call."""
    names = set(plan.band_names)
    seen: dict[tuple[str, str], _Source] = {}
    first_src: dict[str, _Source] = {}
    for rate, src in rates:
        if rate.band and rate.band not in names:
            raise src.error(f"unknown band {rate.band!r}; plan bands are {sorted(names)}")
        if (rate.prefix, rate.band) in seen:
            other = seen[(rate.prefix, rate.band)]
            raise src.error(
                f"duplicate rate for prefix {rate.prefix} band {rate.band or '(all)'!s}"
                f" (first at line {other.line})"
            )
        seen[(rate.prefix, rate.band)] = src
        first_src.setdefault(rate.prefix, src)
    covered: dict[str, set[str]] = {}
    for prefix, band in seen:
        covered.setdefault(prefix, set()).update(names if band == "" else {band})
    for prefix, bands in covered.items():
        missing = names - bands
        if missing:
            raise first_src[prefix].error(
                f"prefix {prefix} has no rate for band(s) {', '.join(sorted(missing))}"
                " (add a row without a band as the default)"
            )
