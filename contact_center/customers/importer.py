"""Bulk customer import from CSV or XLSX: streaming, batched, merged on phone number.

Rows are read one at a time (``csv`` / openpyxl read-only) and written in chunks, one
transaction per chunk, so a file of millions of rows needs memory for one chunk only.
Duplicates are merged, not inserted twice: inside a chunk by a dict, across chunks (and
with customers already stored) by one indexed query per chunk, since earlier chunks are
already committed.
"""

from __future__ import annotations

import contextlib
import csv
import json
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO, cast

from sqlalchemy import Table, bindparam, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from contact_center.customers.phones import normalize_number, phone_suffix, safe_display
from contact_center.store.bulk import allocate_ids, bulk_insert, lock_for_writing
from contact_center.store.db import utcnow
from contact_center.store.models import Customer, CustomerPhone

CHUNK_SIZE = 5_000
MAX_KEPT_REJECTS = 1_000
# SQLite (≥ 3.32) and asyncpg allow 32766 bound parameters per statement.
IN_BATCH = 5_000
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
}
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
    "mobile": "phone",
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
}
IGNORE = "-"

_NO_CUSTOM: dict[str, str] = {}  # shared, so bulk_insert serialises it once per chunk
_CUSTOMERS = cast(Table, Customer.__table__)
_PHONES = cast(Table, CustomerPhone.__table__)
_TEXT_FIELDS = tuple(name for name in FIELDS if name != "account_number")
_CUSTOMER_COLUMNS = ("id", *_TEXT_FIELDS, "account_number", "custom", "created_at", "updated_at")


class CustomerImportError(Exception):
    """The file as a whole cannot be imported; the message says why."""


class UnsupportedFormat(CustomerImportError):
    pass


class MappingError(CustomerImportError):
    pass


@dataclass(frozen=True, slots=True)
class Reject:
    row: int  # spreadsheet numbering: the header is row 1
    reason: str


@dataclass(slots=True)
class ImportReport:
    rows: int = 0
    inserted: int = 0
    updated: int = 0
    merged: int = 0  # rows folded into an earlier row of the same chunk (same phone/account)
    rejected: int = 0
    seconds: float = 0.0
    rejects: list[Reject] = field(default_factory=list)  # the first MAX_KEPT_REJECTS

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "inserted": self.inserted,
            "updated": self.updated,
            "merged": self.merged,
            "rejected": self.rejected,
            "seconds": round(self.seconds, 3),
            "rows_per_second": round(self.rows_per_second),
        }


@dataclass(frozen=True, slots=True)
class ColumnMap:
    """Which column feeds which field; unmapped columns become custom fields."""

    fields: tuple[tuple[int, str], ...]  # (column index, customer field)
    phones: tuple[int, ...]
    custom: tuple[tuple[int, str], ...]  # (column index, custom field name)
    limits: tuple[tuple[int, str, int], ...] = ()  # fields with their maximum lengths

    @classmethod
    def from_header(cls, header: Sequence[str], overrides: Mapping[str, str]) -> ColumnMap:
        fields: list[tuple[int, str]] = []
        phones: list[int] = []
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
            if target == "phone":
                phones.append(index)
            elif target.startswith("custom."):
                custom.append((index, target.removeprefix("custom.")))
            elif target in FIELDS:
                fields.append((index, target))
            else:
                allowed = ", ".join([*FIELDS, "phone", "custom.NAME", IGNORE])
                raise MappingError(f"column {title!r}: unknown field {target!r} (use {allowed})")
        if not phones:
            raise MappingError("no phone column (map one with --mapping COLUMN=phone)")
        if "name" not in {name for _, name in fields}:
            raise MappingError("no name column (map one with --mapping COLUMN=name)")
        limits = tuple((index, name, FIELDS[name]) for index, name in fields)
        return cls(tuple(fields), tuple(phones), tuple(custom), limits)


def _header_key(title: str) -> str:
    return title.strip().lower().replace(" ", "_").replace("-", "_")


@dataclass(slots=True)
class _Candidate:
    row: int
    values: dict[str, str]
    phones: list[str]  # E.164, in file order
    raw_phones: dict[str, str]
    custom: dict[str, str]
    cells: Sequence[str]  # the row as read, for the rejects file
    customer_id: int | None = None
    conflict: str = ""  # why the database refuses this row, found while attaching

    def absorb(self, other: _Candidate) -> None:
        """A later row for the same person: its non-empty values win."""
        self.values.update({k: v for k, v in other.values.items() if v})
        extra = {k: v for k, v in other.custom.items() if v}
        if extra:  # a new dict: self.custom may be the shared empty one
            self.custom = {**self.custom, **extra}
        for e164 in other.phones:
            if e164 not in self.raw_phones:
                self.phones.append(e164)
                self.raw_phones[e164] = other.raw_phones[e164]


# --- reading --------------------------------------------------------------------------------


@contextlib.contextmanager
def open_table(path: Path) -> Iterator[tuple[list[str], Iterator[list[str]]]]:
    """(header, data rows) of a .csv or .xlsx file, streamed; closed on exit."""
    suffix = path.suffix.lower()
    if suffix not in {".csv", ".txt", ".tsv", ".xlsx"}:
        raise UnsupportedFormat(f"{path}: unsupported file type {suffix!r} (use .csv or .xlsx)")
    if not path.is_file():
        raise CustomerImportError(f"{path}: no such file")
    with contextlib.ExitStack() as stack:
        if suffix == ".xlsx":
            header, rows = _read_xlsx(path, stack)
        else:
            header, rows = _read_csv(path, stack)
        yield header, rows


def _read_csv(path: Path, stack: contextlib.ExitStack) -> tuple[list[str], Iterator[list[str]]]:
    fh = stack.enter_context(path.open("r", encoding="utf-8-sig", newline=""))
    try:
        sample = fh.read(64 * 1024)
        fh.seek(0)
        try:
            dialect: Any = csv.Sniffer().sniff(sample, delimiters=",;\t")
        except csv.Error:
            dialect = csv.excel
        reader = csv.reader(fh, dialect)
        header = next(reader)
    except StopIteration:
        raise CustomerImportError(f"{path}: the file is empty") from None
    except (csv.Error, UnicodeDecodeError) as exc:
        raise CustomerImportError(f"{path}: cannot read the header: {exc}") from None

    def rows() -> Iterator[list[str]]:
        try:
            yield from reader
        except (csv.Error, UnicodeDecodeError) as exc:
            # Rows before this one are already imported (committed chunk by chunk).
            raise CustomerImportError(
                f"{path}: stopped near line {reader.line_num}: {exc}"
            ) from None

    return header, rows()


def _read_xlsx(path: Path, stack: contextlib.ExitStack) -> tuple[list[str], Iterator[list[str]]]:
    from openpyxl import load_workbook

    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many types for a broken file
        raise CustomerImportError(f"{path}: not a readable .xlsx file: {exc}") from None
    stack.callback(book.close)
    cells = book.worksheets[0].iter_rows(values_only=True)
    try:
        header = [_cell_text(v) for v in next(cells)]
    except StopIteration:
        raise CustomerImportError(f"{path}: the first sheet is empty") from None
    return header, ([_cell_text(v) for v in values] for values in cells)


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # Excel stores 74951234567 as a float
    return str(value)


# --- progress -------------------------------------------------------------------------------


class Progress:
    """A one-line progress display on a stream (stderr by default); no dependencies."""

    def __init__(self, stream: TextIO | None = None, interval: float = 0.5) -> None:
        self._stream = stream or sys.stderr
        self._interval = interval
        self._tty = bool(getattr(self._stream, "isatty", lambda: False)())
        self._start = time.monotonic()
        self._last = 0.0

    def note(self, message: str) -> None:
        """A line of its own (a rejected row) without garbling the progress line."""
        self._stream.write(("\r\x1b[K" if self._tty else "") + message + "\n")
        self._last = 0.0  # redraw the progress line at the next update

    def update(self, report: ImportReport, *, final: bool = False) -> None:
        now = time.monotonic()
        # Not a terminal (a log file, CI): one line every 10 s rather than a redraw storm.
        interval = self._interval if self._tty else 10.0
        if not final and now - self._last < interval:
            return
        self._last = now
        elapsed = max(now - self._start, 1e-9)
        line = (
            f"{report.rows:>10,} rows  {report.rows / elapsed:>9,.0f} rows/s  "
            f"inserted {report.inserted:,}  updated {report.updated:,}  "
            f"rejected {report.rejected:,}"
        )
        end = "\n" if final or not self._tty else ""
        self._stream.write(("\r" if self._tty else "") + line + end)
        self._stream.flush()


# --- importing ------------------------------------------------------------------------------


class CustomerImporter:
    """Import customers into the database at ``engine``; see the module docstring."""

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        region: str = "RU",
        area_code: str = "",
        mapping: Mapping[str, str] | None = None,
        chunk_size: int = CHUNK_SIZE,
        on_change: Callable[[], None] | None = None,
        on_reject: Callable[[Reject, Sequence[str]], None] | None = None,
        progress: Progress | None = None,
    ) -> None:
        self._engine = engine
        self._region = region
        self._area_code = area_code
        self._mapping = dict(mapping or {})
        self._chunk_size = max(1, chunk_size)
        self._on_change = on_change  # e.g. CustomerLookup.invalidate
        self._on_reject = on_reject
        self._progress = progress

    async def import_file(self, path: str | Path) -> ImportReport:
        with open_table(Path(path)) as (header, rows):
            return await self.import_rows(header, rows)

    async def import_rows(
        self, header: Sequence[str], rows: Iterable[Sequence[str]]
    ) -> ImportReport:
        columns = ColumnMap.from_header(header, self._mapping)
        report = ImportReport()
        started = time.monotonic()
        chunk: list[_Candidate] = []
        # Sequential on purpose: writing chunk N while parsing N+1 was measured slower —
        # the driver thread and the parser fight over the GIL.
        for row_number, row in enumerate(rows, start=2):
            report.rows += 1
            candidate = self._candidate(row_number, row, columns, report)
            if candidate is not None:
                chunk.append(candidate)
            if len(chunk) >= self._chunk_size:
                await self._write_chunk(chunk, report)
                chunk = []
                report.seconds = time.monotonic() - started
                if self._progress:
                    self._progress.update(report)
        if chunk:
            await self._write_chunk(chunk, report)
        report.seconds = time.monotonic() - started
        if self._progress:
            self._progress.update(report, final=True)
        return report

    def _candidate(
        self, row_number: int, row: Sequence[str], columns: ColumnMap, report: ImportReport
    ) -> _Candidate | None:
        reason, candidate = self._parse_row(row_number, row, columns)
        if reason is None:
            return candidate
        self._reject(row_number, reason, row, report)
        return None

    def _reject(
        self, row_number: int, reason: str, row: Sequence[str], report: ImportReport
    ) -> None:
        reject = Reject(row_number, reason)
        report.rejected += 1
        if len(report.rejects) < MAX_KEPT_REJECTS:
            report.rejects.append(reject)
        if self._on_reject:
            self._on_reject(reject, row)

    def _parse_row(
        self, row_number: int, row: Sequence[str], columns: ColumnMap
    ) -> tuple[str | None, _Candidate | None]:
        if not any(row):
            return "empty row", None
        width = len(row)
        values: dict[str, str] = {}
        for index, name, limit in columns.limits:
            text = row[index].strip() if index < width else ""
            if len(text) > limit:
                return f"{name} longer than {limit} characters", None
            values[name] = text
        if not values.get("name"):
            return "missing name", None
        raw_phones: dict[str, str] = {}
        region, area_code = self._region, self._area_code
        for index in columns.phones:
            if index >= width or not row[index]:
                continue
            for raw in _split_phones(row[index]):
                number = normalize_number(
                    raw, region=region, area_code=area_code, with_display=False
                )
                if number.e164 is None:
                    what = {"extension": "an internal extension"}.get(number.kind, "not a number")
                    return f"phone {safe_display(raw)!r} is {what}", None
                if number.e164 not in raw_phones:
                    raw_phones[number.e164] = raw[:64]
        if not raw_phones:
            return "no phone number", None
        custom = (
            {name: row[index].strip() for index, name in columns.custom if index < width}
            if columns.custom
            else _NO_CUSTOM
        )
        return None, _Candidate(row_number, values, list(raw_phones), raw_phones, custom, row)

    async def _write_chunk(self, chunk: list[_Candidate], report: ImportReport) -> None:
        merged = _merge_within_chunk(chunk)
        async with self._engine.begin() as conn:
            await lock_for_writing(conn, _CUSTOMERS)
            if conn.dialect.name == "sqlite":
                # Random inserts into the phone indexes thrash SQLite's default 2 MB page
                # cache once the tables grow; 64 MB is still bounded.
                await conn.exec_driver_sql("PRAGMA cache_size = -65536")
            stored_phones = await _attach_existing(conn, merged)
            for refused in [c for c in merged if c.conflict]:
                self._reject(refused.row, refused.conflict, refused.cells, report)
            merged = [c for c in merged if not c.conflict]
            new = [c for c in merged if c.customer_id is None]
            old = [c for c in merged if c.customer_id is not None]
            await _insert_customers(conn, new)
            await _update_customers(conn, old)
            await _insert_missing_phones(conn, merged, stored_phones)
        report.merged += len(chunk) - len(merged) - sum(1 for c in chunk if c.conflict)
        report.inserted += len(new)
        report.updated += len(old)
        if self._on_change:
            self._on_change()


def _split_phones(cell: str) -> list[str]:
    cell = cell.strip()
    if not cell:
        return []
    for sep in PHONE_SEPARATORS:
        if sep in cell:
            return [part for part in (p.strip() for p in cell.split(sep)) if part]
    return [cell]


def _merge_within_chunk(chunk: list[_Candidate]) -> list[_Candidate]:
    by_phone: dict[str, _Candidate] = {}
    by_account: dict[str, _Candidate] = {}
    merged: list[_Candidate] = []
    for candidate in chunk:
        account = candidate.values.get("account_number") or ""
        target = next((by_phone[p] for p in candidate.phones if p in by_phone), None)
        if target is None and account:
            target = by_account.get(account)
        if target is None:
            merged.append(candidate)
            target = candidate
        else:
            target.absorb(candidate)
        for e164 in candidate.phones:
            by_phone.setdefault(e164, target)
        if account:
            by_account.setdefault(account, target)
    return merged


async def _attach_existing(conn: AsyncConnection, merged: list[_Candidate]) -> set[tuple[int, str]]:
    """Set customer_id on candidates whose phone (or account number) is already stored;
    return the stored (customer_id, e164) pairs among the chunk's phones."""
    phones = {p for c in merged for p in c.phones}
    owner_of_phone: dict[str, int] = {}
    stored: set[tuple[int, str]] = set()
    for batch in _batches(sorted(phones)):
        result = await _select_in(conn, _PHONES, ("e164", "customer_id"), "e164", batch)
        for e164, customer_id in result:
            owner_of_phone.setdefault(e164, customer_id)
            stored.add((customer_id, e164))
    accounts = {c.values["account_number"] for c in merged if c.values.get("account_number")}
    owner_of_account: dict[str, int] = {}
    for batch in _batches(sorted(accounts)):
        result = await _select_in(
            conn, _CUSTOMERS, ("account_number", "id"), "account_number", batch
        )
        owner_of_account.update({a: i for a, i in result if a is not None})
    for candidate in merged:
        account = candidate.values.get("account_number") or ""
        found = next((owner_of_phone[p] for p in candidate.phones if p in owner_of_phone), None)
        account_owner = owner_of_account.get(account)
        if found is None:
            found = account_owner
        elif account_owner is not None and account_owner != found:
            # Merging on the phone would give this customer another customer's account.
            candidate.conflict = (
                f"account_number {account!r} belongs to another customer than the phone"
            )
        candidate.customer_id = found
    return stored


async def _insert_customers(conn: AsyncConnection, new: list[_Candidate]) -> None:
    if not new:
        return
    now = utcnow()
    ids = await allocate_ids(conn, _CUSTOMERS, len(new))
    rows = []
    for candidate, customer_id in zip(new, ids, strict=True):
        candidate.customer_id = customer_id
        values = candidate.values
        rows.append(
            (
                customer_id,
                *[values.get(name, "") for name in _TEXT_FIELDS],
                values.get("account_number") or None,
                candidate.custom or _NO_CUSTOM,
                now,
                now,
            )
        )
    await bulk_insert(conn, _CUSTOMERS, _CUSTOMER_COLUMNS, rows)


async def _update_customers(conn: AsyncConnection, old: list[_Candidate]) -> None:
    if not old:
        return
    stored_custom: dict[int, dict[str, Any]] = {}
    ids = sorted({c.customer_id for c in old if c.customer_id is not None})
    for batch in _batches(ids):
        result = await conn.execute(
            select(Customer.id, Customer.custom).where(Customer.id.in_(batch))
        )
        stored_custom.update({i: dict(custom or {}) for i, custom in result})
    now = utcnow()
    # Group by the set of columns a row changes: executemany needs one statement shape.
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for c in old:
        assert c.customer_id is not None
        values = {k: v for k, v in c.values.items() if v}
        custom = {
            **stored_custom.get(c.customer_id, {}),
            **{k: v for k, v in c.custom.items() if v},
        }
        params = {**values, "custom": custom, "updated_at": now, "_id": c.customer_id}
        groups.setdefault(tuple(sorted(params)), []).append(params)
    for keys, params_list in groups.items():
        statement = (
            update(Customer)
            .where(Customer.id == bindparam("_id"))
            .values({k: bindparam(k) for k in keys if k != "_id"})
        )
        await conn.execute(statement, params_list)


async def _insert_missing_phones(
    conn: AsyncConnection, merged: list[_Candidate], existing: set[tuple[int, str]]
) -> None:
    rows = [
        (c.customer_id, e164, phone_suffix(e164), c.raw_phones[e164], "")
        for c in merged
        for e164 in c.phones
        if (c.customer_id, e164) not in existing
    ]
    await bulk_insert(conn, _PHONES, ("customer_id", "e164", "suffix", "raw", "label"), rows)


async def _select_in(
    conn: AsyncConnection, table: Table, columns: Sequence[str], key: str, values: Sequence[str]
) -> Any:
    """``SELECT columns FROM table WHERE key IN values`` with the list as ONE parameter.

    An IN list of thousands of placeholders costs more to render than to run; a JSON array
    (SQLite's json_each) or an array (PostgreSQL's ANY) is one bound value. Both use the
    index on ``key``.
    """
    selected = ", ".join(columns)
    if conn.dialect.name == "postgresql":
        sql = f"SELECT {selected} FROM {table.name} WHERE {key} = ANY(:values) ORDER BY 2"
        return await conn.execute(text(sql), {"values": list(values)})
    sql = (
        f"SELECT {selected} FROM {table.name} "
        f"WHERE {key} IN (SELECT value FROM json_each(:values)) ORDER BY 2"
    )
    return await conn.execute(text(sql), {"values": json.dumps(list(values))})


def _batches(items: Sequence[Any], size: int = IN_BATCH) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
