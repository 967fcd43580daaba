"""Import rows → customers: the column map, what makes a row acceptable, merging a chunk.

A customer is identified by its external id (the company's own id for it), or by its account
number when the file has no external id — never by a phone number: one number may belong to
several customers (a family, an office switchboard), and each stays a customer of its own.
Rows are merged on their phone numbers only when asked (``merge_by_phone``), for files that
carry no id at all.

Pure functions on plain data, no I/O and no database: the importer runs ``parse_chunk``
in its own process for a small file and in a worker process for a big one, so a row means
the same thing either way. Of this project, the worker imports only this and phones.py.
"""

from __future__ import annotations

import signal
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from contact_center.customers.phones import normalize_number, phone_suffix, safe_display

PHONE_SEPARATORS = (",", ";", "|")

# Customer columns an import may set, with their maximum lengths.
FIELDS: dict[str, int] = {
    "name": 200,
    "company": 200,
    "segment": 40,
    "language": 16,
    "email": 200,
    "address": 400,
    "notes": 100_000,
    "account_number": 40,
    "external_id": 80,
}
FIELD_NAMES = tuple(FIELDS)
NAME = FIELD_NAMES.index("name")
ACCOUNT = FIELD_NAMES.index("account_number")
EXTERNAL_ID = FIELD_NAMES.index("external_id")
# What identifies a customer across imports, in order of preference.
IDENTITIES = ("external_id", "account_number")
# A number's type, written as the mapping target ``phone:TYPE`` (``phone`` alone: none).
PHONE_TYPES = ("mobile", "work", "home", "fax", "other")
# Header spellings we recognise without a --mapping (lower-cased, spaces/dashes → "_").
SYNONYMS: dict[str, str] = {
    "name": "name",
    "full_name": "name",
    "customer": "name",
    "fio": "name",
    "фио": "name",
    "имя": "name",
    "phone": "phone",
    "phones": "phone",
    "telephone": "phone",
    "tel": "phone",
    "mobile": "phone:mobile",
    "mobile_phone": "phone:mobile",
    "cell": "phone:mobile",
    "cell_phone": "phone:mobile",
    "мобильный": "phone:mobile",
    "work_phone": "phone:work",
    "office_phone": "phone:work",
    "phone_work": "phone:work",
    "рабочий_телефон": "phone:work",
    "home_phone": "phone:home",
    "phone_home": "phone:home",
    "домашний_телефон": "phone:home",
    "fax": "phone:fax",
    "phone_number": "phone",
    "телефон": "phone",
    "company": "company",
    "organization": "company",
    "organisation": "company",
    "компания": "company",
    "segment": "segment",
    "tier": "segment",
    "language": "language",
    "lang": "language",
    "email": "email",
    "e_mail": "email",
    "mail": "email",
    "address": "address",
    "адрес": "address",
    "notes": "notes",
    "note": "notes",
    "comment": "notes",
    "account": "account_number",
    "account_number": "account_number",
    "account_no": "account_number",
    "лицевой_счет": "account_number",
    "external_id": "external_id",
    "ext_id": "external_id",
    "crm_id": "external_id",
    "customer_id": "external_id",
    "client_id": "external_id",
}
IGNORE = "-"

# Shared by every row without custom columns: pickled once per chunk, serialised once.
NO_CUSTOM: dict[str, str] = {}
NO_LABELS: dict[str, str] = {}


class CustomerImportError(Exception):
    """The file as a whole cannot be imported; the message says why."""


class MappingError(CustomerImportError):
    pass


class BadRow(list[str]):
    """A record the CSV reader could not read: rejected with ``reason``, the import goes on."""

    def __init__(self, reason: str) -> None:
        super().__init__()
        self.reason = reason


@dataclass(frozen=True, slots=True)
class ColumnMap:
    """Which column feeds which field; unmapped columns become custom fields."""

    fields: tuple[tuple[int, str], ...]  # (column index, customer field)
    phones: tuple[tuple[int, str], ...]  # (column index, the numbers' type or "")
    custom: tuple[tuple[int, str], ...]  # (column index, custom field name)
    # (column index, position in FIELDS, field, maximum length) of the mapped fields
    limits: tuple[tuple[int, int, str, int], ...] = ()
    identity: str = ""  # external_id | account_number | "" (none mapped)

    @classmethod
    def from_header(
        cls, header: Sequence[str], overrides: Mapping[str, str], *, merge_by_phone: bool = False
    ) -> ColumnMap:
        """The map of ``header``; ``overrides`` (column → field) win over known spellings.
        Without an identity column (external_id, account_number) the file is refused unless
        ``merge_by_phone``: its customers could never be told apart on a later import."""
        fields: list[tuple[int, str]] = []
        phones: list[tuple[int, str]] = []
        custom: list[tuple[int, str]] = []
        known = {h.strip() for h in header}
        for column in overrides:
            if column not in known:
                raise MappingError(f"--mapping {column}=…: no column {column!r} in the header")
        for index, title in enumerate(header):
            title = title.strip()
            target = overrides.get(title) or SYNONYMS.get(_header_key(title)) or f"custom.{title}"
            if target == IGNORE or not title:
                continue
            if target == "phone" or target.startswith("phone:"):
                kind = target.partition(":")[2]
                if kind and kind not in PHONE_TYPES:
                    types = ", ".join(PHONE_TYPES)
                    raise MappingError(f"column {title!r}: unknown phone type {kind!r} ({types})")
                phones.append((index, kind))
            elif target.startswith("custom."):
                custom.append((index, target.removeprefix("custom.")))
            elif target in FIELDS:
                fields.append((index, target))
            else:
                allowed = ", ".join([*FIELDS, "phone", "phone:TYPE", "custom.NAME", IGNORE])
                raise MappingError(f"column {title!r}: unknown field {target!r} (use {allowed})")
        if not phones:
            raise MappingError("no phone column (map one with --mapping COLUMN=phone)")
        if "name" not in {name for _, name in fields}:
            raise MappingError("no name column (map one with --mapping COLUMN=name)")
        mapped = {name for _, name in fields}
        identity = next((name for name in IDENTITIES if name in mapped), "")
        if not identity and not merge_by_phone:
            raise MappingError(
                "no external_id or account_number column: nothing tells the customers apart "
                "on a later import (map one with --mapping COLUMN=external_id, or merge rows "
                "with the same phone number with --merge-by-phone)"
            )
        limits = tuple(
            (index, FIELD_NAMES.index(name), name, FIELDS[name]) for index, name in fields
        )
        return cls(tuple(fields), tuple(phones), tuple(custom), limits, identity)


def _header_key(title: str) -> str:
    return title.strip().lower().replace(" ", "_").replace("-", "_")


@dataclass(slots=True)
class Candidate:
    """An acceptable row: a customer to insert, or to merge into one stored or read before."""

    row: int  # spreadsheet numbering: the header is row 1
    fields: list[str]  # in FIELD_NAMES order, "" when not given
    phones: dict[str, str]  # E.164 → the number as written, in file order
    custom: dict[str, str]
    labels: dict[str, str] = field(default_factory=lambda: NO_LABELS)  # E.164 → its type

    def absorb(self, other: Candidate) -> None:
        """A later row for the same person: its non-empty values win."""
        self.fields = [
            theirs or ours for ours, theirs in zip(self.fields, other.fields, strict=True)
        ]
        extra = {k: v for k, v in other.custom.items() if v}
        if extra:  # a new dict: self.custom may be the shared empty one
            self.custom = {**self.custom, **extra}
        for e164, raw in other.phones.items():
            self.phones.setdefault(e164, raw)
        if other.labels:
            self.labels = {**other.labels, **self.labels}


@dataclass(frozen=True, slots=True)
class RowParser:
    """Checks and normalises one row; cheap to pickle, so it travels to the worker."""

    columns: ColumnMap
    region: str = "RU"
    area_code: str = ""
    merge_by_phone: bool = False

    def parse(self, row_number: int, row: Sequence[str]) -> Candidate | str:
        """The row as a candidate customer, or the reason it is refused."""
        if isinstance(row, BadRow):
            return row.reason
        if not any(row):
            return "empty row"
        undecodable = _undecodable(row)
        if undecodable is not None:
            return undecodable
        width = len(row)
        fields = [""] * len(FIELD_NAMES)
        for index, position, name, limit in self.columns.limits:
            text = row[index].strip() if index < width else ""
            if len(text) > limit:
                return f"{name} longer than {limit} characters"
            fields[position] = text
        if not fields[NAME]:
            return "missing name"
        identity = self.columns.identity
        if identity and not self.merge_by_phone and not fields[FIELD_NAMES.index(identity)]:
            return f"missing {identity} (it tells this customer apart from others)"
        phones: dict[str, str] = {}
        labels = NO_LABELS
        region, area_code = self.region, self.area_code
        for index, kind in self.columns.phones:
            if index >= width or not row[index]:
                continue
            for raw in split_phones(row[index]):
                number = normalize_number(
                    raw, region=region, area_code=area_code, with_display=False
                )
                if number.e164 is None:
                    what = {"extension": "an internal extension"}.get(number.kind, "not a number")
                    return f"phone {safe_display(raw)!r} is {what}"
                phones.setdefault(number.e164, raw[:64])
                if kind:
                    if labels is NO_LABELS:
                        labels = {}
                    labels.setdefault(number.e164, kind)
        if not phones:
            return "no phone number"
        custom = (
            {name: row[index].strip() for index, name in self.columns.custom if index < width}
            if self.columns.custom
            else NO_CUSTOM
        )
        return Candidate(row_number, fields, phones, custom, labels)


def _undecodable(row: Sequence[str]) -> str | None:
    """Why a row read with surrogateescape is not UTF-8 text, or None when it is."""
    try:
        "".join(row).encode("utf-8")
        return None
    except UnicodeEncodeError:
        pass
    for column, cell in enumerate(row, start=1):
        try:
            cell.encode("utf-8")
        except UnicodeEncodeError as exc:
            byte = ord(cell[exc.start]) - 0xDC00
            return f"not UTF-8 text (byte 0x{byte:02x} in column {column})"
    return "not UTF-8 text"


def split_phones(cell: str) -> list[str]:
    cell = cell.strip()
    if not cell:
        return []
    for sep in PHONE_SEPARATORS:
        if sep in cell:
            return [part for piece in cell.split(sep) if (part := piece.strip())]
    return [cell]


def merge_within_chunk(
    candidates: list[Candidate], identity: str = "account_number", merge_by_phone: bool = False
) -> tuple[list[Candidate], list[tuple[int, str]]]:
    """Fold rows of the same customer into its first row: the same ``identity`` (external
    id or account number), or — only with ``merge_by_phone`` — a shared phone number.

    Also the rows refused (row, reason): one giving another customer's account number.
    """
    key_at = FIELD_NAMES.index(identity) if identity else -1
    by_key: dict[str, Candidate] = {}
    by_phone: dict[str, Candidate] = {}
    by_account: dict[str, Candidate] = {}
    merged: list[Candidate] = []
    refused: list[tuple[int, str]] = []
    for candidate in candidates:
        key = candidate.fields[key_at] if key_at >= 0 else ""
        account = candidate.fields[ACCOUNT]
        target = by_key.get(key) if key else None
        if target is None and merge_by_phone:
            for e164 in candidate.phones:
                target = by_phone.get(e164)
                if target is not None:
                    break
        owner = by_account.get(account) if account else None
        if owner is not None and owner is not (target or candidate) and key_at != ACCOUNT:
            refused.append(
                (candidate.row, f"account_number {account!r} is also given in row {owner.row}")
            )
            continue
        if target is None:
            merged.append(candidate)
            target = candidate
        else:
            target.absorb(candidate)
        if key:
            by_key.setdefault(key, target)
        if merge_by_phone:
            for e164 in candidate.phones:
                by_phone.setdefault(e164, target)
        if account:
            by_account.setdefault(account, target)
    return merged, refused


@dataclass(slots=True)
class ParsedChunk:
    """A chunk of rows as the writer needs it: the refused rows, and the customers left
    after merging, column by column (lists of strings cross a process boundary several
    times faster than objects do)."""

    rejects: list[tuple[int, str]] = field(default_factory=list)  # (row, reason), in order
    merged: int = 0  # rows folded into an earlier row of the same chunk
    rows: list[int] = field(default_factory=list)  # per customer: its (first) row
    fields: list[tuple[str, ...]] = field(default_factory=list)  # per customer, FIELD_NAMES
    custom: list[dict[str, str]] = field(default_factory=list)  # per customer
    # Per phone number; a customer's numbers are adjacent, in file order.
    phone_owner: list[int] = field(default_factory=list)  # index of its customer
    phone_e164: list[str] = field(default_factory=list)
    phone_suffix: list[str] = field(default_factory=list)
    phone_raw: list[str] = field(default_factory=list)
    phone_label: list[str] = field(default_factory=list)


def parse_chunk(parser: RowParser, first_row: int, rows: Sequence[Sequence[str]]) -> ParsedChunk:
    """Parse and merge consecutive rows, the first of them numbered ``first_row``."""
    chunk = ParsedChunk()
    candidates: list[Candidate] = []
    for row_number, row in enumerate(rows, start=first_row):
        result = parser.parse(row_number, row)
        if isinstance(result, str):
            chunk.rejects.append((row_number, result))
        else:
            candidates.append(result)
    merged, refused = merge_within_chunk(candidates, parser.columns.identity, parser.merge_by_phone)
    if refused:
        chunk.rejects = sorted(chunk.rejects + refused)
    chunk.merged = len(candidates) - len(merged) - len(refused)
    chunk.rows = [candidate.row for candidate in merged]
    chunk.fields = [tuple(candidate.fields) for candidate in merged]
    chunk.custom = [candidate.custom for candidate in merged]
    for index, candidate in enumerate(merged):
        phones = candidate.phones
        chunk.phone_owner += [index] * len(phones)
        chunk.phone_e164 += phones
        chunk.phone_raw += phones.values()
        labels = candidate.labels
        chunk.phone_label += (
            [labels.get(e164, "") for e164 in phones] if labels else [""] * len(phones)
        )
    chunk.phone_suffix = list(map(phone_suffix, chunk.phone_e164))
    return chunk


def init_worker() -> None:
    """In the worker process: Ctrl-C reaches the whole process group, but only the importer
    decides what stops; it shuts the worker down itself."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
