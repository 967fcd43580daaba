"""Bulk customer import from CSV or XLSX: streaming, batched, upserted by external id.

Rows are read one at a time (``csv`` / openpyxl read-only) and written in chunks, one
transaction per chunk, so a file of millions of rows needs memory for a few chunks only.
A customer is who its external id (else its account number) says, never its phone number
(``rows.py``): rows of the same id are merged, not inserted twice — inside a chunk by a dict,
across chunks (and with customers already stored) by one indexed query per chunk, since
earlier chunks are already committed. Two people on one number stay two customers. Rows
are merged on a shared number only when asked (``merge_by_phone``).

A dry run reads what it needs to tell inserts from updates and writes nothing: the ids it
would have given stay in memory (a placeholder per new customer), so a customer repeated
in a later chunk still counts once.

What a row means (``rows.py``) is decided by one pure function, run in this process for a
small file and, for a big one, in a worker process that parses the next chunks while this
one writes: parsing (phone number normalisation) and writing each need most of a core.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import multiprocessing
import re
import sys
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any, TextIO, cast

from sqlalchemy import Table, bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from contact_center.customers.matching import ImportPlan, batches
from contact_center.customers.rows import (
    FIELD_NAMES,
    BadRow,
    ColumnMap,
    CustomerImportError,
    ParsedChunk,
    RowParser,
    init_worker,
    parse_chunk,
)
from contact_center.customers.rows import MappingError as MappingError
from contact_center.store.bulk import allocate_ids, bulk_insert_columns, lock_for_writing
from contact_center.store.db import utcnow
from contact_center.store.models import Customer, CustomerPhone

CHUNK_SIZE = 10_000
MAX_KEPT_REJECTS = 1_000
# Chunks read ahead of the one being written: the worker parses them meanwhile. Two keep
# it busy while a chunk is written, and memory bounded to a few chunks.
READ_AHEAD = 2
# Rows read before parsing moves to a worker process: fewer take well under a second here,
# and starting a worker costs about 0.1 s of the other core.
WORKER_AFTER_ROWS = 10_000

_CUSTOMERS = cast(Table, Customer.__table__)
_PHONES = cast(Table, CustomerPhone.__table__)
# SQLite connection settings for the import, restored after it (see _tuned_for_import).
_SQLITE_IMPORT_SETTINGS = {
    # Random inserts into the phone indexes thrash the default 2 MB page cache once the
    # tables grow; 64 MB is still bounded.
    "cache_size": -65_536,
    # A checkpoint once the WAL passes 16384 pages (64 MB) rather than 1000: every chunk
    # writes more than 1000 pages, so by default each commit also copied all the index
    # pages it touched into the database file (a tenth of a million-row import's time).
    "wal_autocheckpoint": 16_384,
}


class UnsupportedFormat(CustomerImportError):
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
    merged: int = 0  # rows folded into an earlier row of the same chunk (same customer)
    rejected: int = 0
    phones_added: int = 0  # numbers a customer did not have before
    seconds: float = 0.0
    dry_run: bool = False  # nothing was written: the counts say what an import would do
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
            "phones_added": self.phones_added,
            "dry_run": self.dry_run,
            "seconds": round(self.seconds, 3),
            "rows_per_second": round(self.rows_per_second),
        }


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
    # Undecodable bytes are kept (surrogateescape), so a corrupt row is rejected on its own
    # (and written back byte for byte to the rejects file) instead of ending the import.
    fh = stack.enter_context(
        path.open("r", encoding="utf-8-sig", errors="surrogateescape", newline="")
    )
    sample = fh.read(64 * 1024)
    fh.seek(0)
    _check_encoding(path, sample)
    try:
        dialect: Any = csv.Sniffer().sniff(sample, delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    # strict: a quote left open, which would silently swallow every later line into one
    # cell, is an error for that record instead, reported with its line.
    reader = csv.reader(fh, dialect, strict=True)
    try:
        header = next(reader)
    except StopIteration:
        raise CustomerImportError(f"{path}: the file is empty") from None
    except csv.Error as exc:
        raise CustomerImportError(f"{path}: line 1: cannot read the header: {exc}") from None

    def rows() -> Iterator[list[str]]:
        while True:
            line = reader.line_num + 1
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                # the reader starts afresh on the next line: only this record is lost
                if "unexpected end of data" in str(exc):
                    yield BadRow(f"a quote opened at line {line} is never closed")
                else:
                    yield BadRow(f"malformed CSV at line {line}: {exc}")
                continue
            yield row

    return header, rows()


_VALID_NON_ASCII = re.compile("[^\x00-\x7f\udc80-\udcff]")


def _check_encoding(path: Path, sample: str) -> None:
    """Refuse a file in another encoding (Latin-1, cp1251…) before anything is written: its
    first 64 KiB hold undecodable bytes and no UTF-8 beyond ASCII. UTF-8 text with a corrupt
    byte somewhere is imported; that row is rejected."""
    try:
        sample.encode("utf-8")
        return
    except UnicodeEncodeError as exc:
        bad = exc.start
    if _VALID_NON_ASCII.search(sample):
        return
    line = sample.count("\n", 0, bad) + 1
    byte = ord(sample[bad]) - 0xDC00
    raise CustomerImportError(
        f"{path}: line {line}: not UTF-8 text (byte 0x{byte:02x}); save the file as UTF-8"
    )


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
        would = "dry run, would have " if report.dry_run else ""
        line = (
            f"{report.rows:>10,} rows  {report.rows / elapsed:>9,.0f} rows/s  "
            f"{would}inserted {report.inserted:,}  updated {report.updated:,}  "
            f"rejected {report.rejected:,}"
        )
        end = "\n" if final or not self._tty else ""
        self._stream.write(("\r" if self._tty else "") + line + end)
        self._stream.flush()


# --- importing ------------------------------------------------------------------------------


class CustomerImporter:
    """Import customers into the database at ``engine``; see the module docstring.

    ``worker_after_rows``: parse in a worker process once a file has more than one chunk
    and this many rows (``None``: always in this process). The worker is spawned, so like
    any multiprocessing program a script using this keeps its top level under
    ``if __name__ == "__main__":`` (the worker imports the script's main module).
    """

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
        worker_after_rows: int | None = WORKER_AFTER_ROWS,
        merge_by_phone: bool = False,
        dry_run: bool = False,
    ) -> None:
        self._engine = engine
        self._region = region
        self._area_code = area_code
        self._mapping = dict(mapping or {})
        self._chunk_size = max(1, chunk_size)
        self._on_change = on_change  # e.g. CustomerLookup.invalidate
        self._on_reject = on_reject
        self._progress = progress
        self._worker_after_rows = worker_after_rows
        self._merge_by_phone = merge_by_phone
        self._dry_run = dry_run

    async def import_file(self, path: str | Path) -> ImportReport:
        with open_table(Path(path)) as (header, rows):
            return await self.import_rows(header, rows)

    async def import_rows(
        self, header: Sequence[str], rows: Iterable[Sequence[str]]
    ) -> ImportReport:
        columns = ColumnMap.from_header(header, self._mapping, merge_by_phone=self._merge_by_phone)
        parser = RowParser(columns, self._region, self._area_code, self._merge_by_phone)
        report = ImportReport(dry_run=self._dry_run)
        plan = ImportPlan(columns.identity, self._merge_by_phone, self._dry_run)
        started = time.monotonic()
        chunks = _read_chunks(rows, self._chunk_size)
        async with self._engine.connect() as conn, _tuned_for_import(conn):
            with _ChunkParsing(parser, self._worker_after_rows) as parsing:
                read_error: Exception | None = None
                while True:
                    try:
                        chunk = next(chunks, None)
                    except Exception as exc:  # the rows' source failed (I/O, a broken file)
                        # The whole chunks read before it are still written, as when
                        # reading and writing one chunk at a time.
                        read_error, chunk = exc, None
                    if chunk is None:
                        break
                    parsing.add(chunk)
                    while len(parsing) > READ_AHEAD:
                        await self._write_chunk(conn, plan, *await parsing.next(), report)
                        self._show_progress(report, started)
                while len(parsing):
                    await self._write_chunk(conn, plan, *await parsing.next(), report)
                    self._show_progress(report, started)
                if read_error is not None:
                    raise read_error
        report.seconds = time.monotonic() - started
        if self._progress:
            self._progress.update(report, final=True)
        return report

    def _show_progress(self, report: ImportReport, started: float) -> None:
        report.seconds = time.monotonic() - started
        if self._progress:
            self._progress.update(report)

    def _reject(
        self, row_number: int, reason: str, row: Sequence[str], report: ImportReport
    ) -> None:
        reject = Reject(row_number, reason)
        report.rejected += 1
        if len(report.rejects) < MAX_KEPT_REJECTS:
            report.rejects.append(reject)
        if self._on_reject:
            self._on_reject(reject, row)

    async def _write_chunk(
        self,
        conn: AsyncConnection,
        plan: ImportPlan,
        chunk: _RawChunk,
        parsed: ParsedChunk,
        report: ImportReport,
    ) -> None:
        """One transaction: the chunk's customers inserted, or merged into stored ones."""
        report.rows += len(chunk.rows)
        for row, reason in parsed.rejects:
            self._reject(row, reason, chunk.cells(row), report)
        if not parsed.rows:
            return
        async with conn.begin() as transaction:
            if not plan.dry_run:
                await lock_for_writing(conn, _CUSTOMERS)
            owners, conflicts, stored = await plan.attach(conn, parsed)
            for index, reason in conflicts.items():
                self._reject(parsed.rows[index], reason, chunk.cells(parsed.rows[index]), report)
            new = [i for i, owner in enumerate(owners) if owner is None and i not in conflicts]
            old = [i for i, owner in enumerate(owners) if owner is not None and i not in conflicts]
            if plan.dry_run:
                await transaction.rollback()  # it only read
                added = plan.remember(parsed, new, owners, conflicts, stored)
            else:
                await _insert_customers(conn, parsed, new, owners)
                await _update_customers(conn, parsed, old, owners)
                added = await _insert_missing_phones(conn, parsed, owners, conflicts, stored)
        report.merged += parsed.merged
        report.inserted += len(new)
        report.updated += len(old)
        report.phones_added += added
        if self._on_change and not plan.dry_run:
            self._on_change()


@contextlib.asynccontextmanager
async def _tuned_for_import(conn: AsyncConnection) -> AsyncIterator[None]:
    """On SQLite, ``_SQLITE_IMPORT_SETTINGS`` for the import, then this connection's own
    again. They are the connection's, not the database's: other connections and the
    safety of each commit are unchanged."""
    if conn.dialect.name != "sqlite":
        yield
        return
    saved: dict[str, Any] = {}
    for name, value in _SQLITE_IMPORT_SETTINGS.items():
        saved[name] = (await conn.exec_driver_sql(f"PRAGMA {name}")).scalar()
        await conn.exec_driver_sql(f"PRAGMA {name} = {int(value)}")
    await conn.commit()
    try:
        yield
    finally:
        for name, value in saved.items():
            await conn.exec_driver_sql(f"PRAGMA {name} = {int(value)}")
        await conn.commit()


@dataclass(frozen=True, slots=True)
class _RawChunk:
    """Consecutive rows as read, the first of them numbered ``first_row``."""

    first_row: int
    rows: list[Sequence[str]]

    def cells(self, row: int) -> Sequence[str]:
        return self.rows[row - self.first_row]


def _read_chunks(rows: Iterable[Sequence[str]], size: int) -> Iterator[_RawChunk]:
    source = iter(rows)
    first_row = 2  # spreadsheet numbering: the header is row 1
    while batch := list(islice(source, size)):
        yield _RawChunk(first_row, batch)
        first_row += len(batch)


class _ChunkParsing:
    """Chunks parsed in file order: here, or by one worker process once the file proves
    long enough (a second chunk and ``worker_after_rows`` rows).

    The chunks read before the worker exists are parsed here; every later one goes to the
    worker as it is read, so the worker parses up to ``READ_AHEAD`` chunks while this
    process writes. The worker is spawned, not forked: forking a process that runs an
    event loop and a database thread is unsafe. ``close`` stops it and waits for it on
    every way out.
    """

    def __init__(self, parser: RowParser, worker_after_rows: int | None) -> None:
        self._parser = parser
        self._worker_after_rows = worker_after_rows
        self._chunks = self._rows = 0
        self._pending: deque[tuple[_RawChunk, Future[ParsedChunk] | None]] = deque()
        self._pool: ProcessPoolExecutor | None = None

    def __enter__(self) -> _ChunkParsing:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def __len__(self) -> int:
        return len(self._pending)

    def add(self, chunk: _RawChunk) -> None:
        self._chunks += 1
        self._rows += len(chunk.rows)
        if self._pool is None and self._worth_a_worker():
            self._pool = ProcessPoolExecutor(
                max_workers=1,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=init_worker,
            )
        parsing = None
        if self._pool is not None:
            parsing = self._pool.submit(parse_chunk, self._parser, chunk.first_row, chunk.rows)
        self._pending.append((chunk, parsing))

    def _worth_a_worker(self) -> bool:
        after = self._worker_after_rows
        return after is not None and self._chunks > 1 and self._rows >= after

    async def next(self) -> tuple[_RawChunk, ParsedChunk]:
        """The next chunk in file order, parsed."""
        chunk, parsing = self._pending.popleft()
        if parsing is None:
            return chunk, parse_chunk(self._parser, chunk.first_row, chunk.rows)
        return chunk, await asyncio.wrap_future(parsing)

    def close(self) -> None:
        """Stop the worker and wait for it to exit; chunks it has not begun are dropped."""
        self._pending.clear()
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


async def _insert_customers(
    conn: AsyncConnection, parsed: ParsedChunk, new: list[int], owners: list[int | None]
) -> None:
    if not new:
        return
    ids = await allocate_ids(conn, _CUSTOMERS, len(new))
    for index, customer_id in zip(new, ids, strict=True):
        owners[index] = customer_id
    if len(new) == len(parsed.rows):  # a fresh import: every customer of the chunk is new
        fields, custom = parsed.fields, parsed.custom
    else:
        fields = [parsed.fields[i] for i in new]
        custom = [parsed.custom[i] for i in new]
    columns: dict[str, Sequence[Any]] = dict(
        zip(FIELD_NAMES, zip(*fields, strict=True), strict=True)
    )
    columns["account_number"] = [account or None for account in columns["account_number"]]
    columns["external_id"] = [key or None for key in columns["external_id"]]
    now = (utcnow(),) * len(new)
    await bulk_insert_columns(
        conn,
        _CUSTOMERS,
        {"id": ids, **columns, "custom": custom, "created_at": now, "updated_at": now},
    )


async def _update_customers(
    conn: AsyncConnection, parsed: ParsedChunk, old: list[int], owners: list[int | None]
) -> None:
    if not old:
        return
    stored_custom: dict[int, dict[str, Any]] = {}
    ids = sorted({owner for i in old if (owner := owners[i]) is not None})
    for batch in batches(ids):
        result = await conn.execute(
            select(Customer.id, Customer.custom).where(Customer.id.in_(batch))
        )
        stored_custom.update({i: dict(custom or {}) for i, custom in result})
    now = utcnow()
    # Group by the set of columns a row changes: executemany needs one statement shape.
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for index in old:
        customer_id = owners[index]
        assert customer_id is not None
        values = {name: v for name, v in zip(FIELD_NAMES, parsed.fields[index], strict=True) if v}
        custom = {
            **stored_custom.get(customer_id, {}),
            **{k: v for k, v in parsed.custom[index].items() if v},
        }
        params = {**values, "custom": custom, "updated_at": now, "_id": customer_id}
        groups.setdefault(tuple(sorted(params)), []).append(params)
    for keys, params_list in groups.items():
        statement = (
            update(Customer)
            .where(Customer.id == bindparam("_id"))
            .values({k: _new_value(k) for k in keys if k != "_id"})
        )
        await conn.execute(statement, params_list)


def _new_value(column: str) -> Any:
    """The value an update sets: the row's, except that a stored external id is never
    replaced (a row merged by phone into someone else cannot rename their identity)."""
    if column == "external_id":
        return func.coalesce(Customer.external_id, bindparam(column))
    return bindparam(column)


async def _insert_missing_phones(
    conn: AsyncConnection,
    parsed: ParsedChunk,
    owners: list[int | None],
    conflicts: dict[int, str],
    stored: set[tuple[int, str]],
) -> int:
    """Add the numbers the chunk's customers do not have yet; how many were added. A number
    a customer has already gets the type the file gives it."""
    customer_ids = [owners[i] for i in parsed.phone_owner]
    e164, suffix, raw = parsed.phone_e164, parsed.phone_suffix, parsed.phone_raw
    label = parsed.phone_label
    if stored or conflicts:
        keep = [
            k
            for k, (index, customer_id) in enumerate(
                zip(parsed.phone_owner, customer_ids, strict=True)
            )
            if index not in conflicts and (customer_id, e164[k]) not in stored
        ]
        relabel = [
            {"_c": customer_ids[k], "_e": e164[k], "label": label[k]}
            for k, index in enumerate(parsed.phone_owner)
            if label[k] and index not in conflicts and (customer_ids[k], e164[k]) in stored
        ]
        if relabel:
            await conn.execute(
                update(CustomerPhone)
                .where(
                    CustomerPhone.customer_id == bindparam("_c"),
                    CustomerPhone.e164 == bindparam("_e"),
                )
                .values(label=bindparam("label")),
                relabel,
            )
        customer_ids = [customer_ids[k] for k in keep]
        e164, suffix, raw, label = (
            [column[k] for k in keep] for column in (e164, suffix, raw, label)
        )
    await bulk_insert_columns(
        conn,
        _PHONES,
        {"customer_id": customer_ids, "e164": e164, "suffix": suffix, "raw": raw, "label": label},
    )
    return len(customer_ids)
