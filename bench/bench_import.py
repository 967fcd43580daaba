"""Customer import throughput on SQLite (target ≥ 20,000 rows/s, also at 1,000,000 rows).

Baseline in the same run: the same CSV read with ``csv`` and written with plain ``sqlite3``
``executemany`` (no normalisation, no merge) — the floor of what any importer can do.
The importer parses in a worker process from its second chunk on: CPU figures include the
worker's, and the peak RSS of both processes is shown (memory must stay flat with --rows).

    .venv/bin/python -m bench.bench_import [--rows 100000] [--chunk-size N]
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import resource
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any

# The project's modules are imported inside the functions: the importer's worker process
# (spawned) imports this module again, and should start as light as under
# `contact-center customers import`.


def _cpu_seconds() -> float:
    """This process (all threads) and its finished children (the importer's worker)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


async def _run_importer(csv_path: Path, db_path: Path, chunk_size: int) -> dict[str, Any]:
    from contact_center.customers.importer import CustomerImporter
    from contact_center.store import migrate
    from contact_center.store.db import create_engine

    url = f"sqlite+aiosqlite:///{db_path}"
    await migrate.upgrade(url)
    engine = create_engine(url)
    cpu_started = _cpu_seconds()
    try:
        report = await CustomerImporter(engine, chunk_size=chunk_size).import_file(csv_path)
    finally:
        await engine.dispose()
    cpu = _cpu_seconds() - cpu_started
    # CPU time (all threads, and the worker) is the figure a shared, busy machine does not
    # distort.
    return {
        **report.to_dict(),
        "cpu_seconds": round(cpu, 2),
        "rows_per_cpu_second": round(report.rows / cpu) if cpu else 0,
    }


def _run_raw_sqlite(csv_path: Path, db_path: Path, chunk_size: int) -> tuple[float, float]:
    """(rows/s, rows per CPU second) of csv → sqlite3.executemany into the same tables."""
    from contact_center.store import migrate

    asyncio.run(migrate.upgrade(f"sqlite+aiosqlite:///{db_path}"))
    conn = sqlite3.connect(db_path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    started = time.perf_counter()
    cpu_started = time.process_time()
    rows = 0
    next_id = 1
    with csv_path.open(newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        next(reader)
        chunk: list[list[str]] = []
        for row in reader:
            chunk.append(row)
            rows += 1
            if len(chunk) >= chunk_size:
                next_id = _raw_chunk(conn, chunk, next_id)
                chunk = []
        if chunk:
            _raw_chunk(conn, chunk, next_id)
    seconds = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    conn.close()
    return rows / seconds, rows / cpu


def _raw_chunk(conn: sqlite3.Connection, chunk: list[list[str]], next_id: int) -> int:
    now = "2026-01-01 00:00:00"
    customers = []
    phones = []
    for offset, row in enumerate(chunk):
        customer_id = next_id + offset
        customers.append(
            (
                customer_id,
                row[0],
                row[2],
                row[3],
                row[4],
                row[5],
                row[6],
                "",
                row[7],
                "",
                "{}",
                "",
                now,
                now,
            )
        )
        for phone in row[1].split(", "):
            phones.append((customer_id, phone, phone[::-1], phone, ""))
    with conn:
        conn.executemany(
            "INSERT INTO customers (id, name, company, segment, language, email, address, notes,"
            " account_number, currency, custom, tariff_plan, created_at, updated_at)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            customers,
        )
        conn.executemany(
            "INSERT INTO customer_phones (customer_id, e164, suffix, raw, label)"
            " VALUES (?,?,?,?,?)",
            phones,
        )
    return next_id + len(chunk)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--chunk-size", type=int, help="default: the importer's")
    args = parser.parse_args(argv)
    from contact_center.customers.demo_data import write_demo_csv
    from contact_center.customers.importer import CHUNK_SIZE

    chunk_size = args.chunk_size or CHUNK_SIZE
    with tempfile.TemporaryDirectory() as tmp:
        csv_path = Path(tmp) / "customers.csv"
        write_demo_csv(csv_path, args.rows, seed=7)
        report = asyncio.run(_run_importer(csv_path, Path(tmp) / "import.sqlite3", chunk_size))
        raw_rate, raw_cpu_rate = _run_raw_sqlite(csv_path, Path(tmp) / "raw.sqlite3", chunk_size)
    figures = {
        "benchmark": "customer import, SQLite",
        "rows": args.rows,
        "importer": report,
        "importer_rows_per_second": report["rows_per_second"],
        "importer_rows_per_cpu_second": report["rows_per_cpu_second"],
        "baseline_raw_sqlite3_rows_per_second": round(raw_rate),
        "baseline_raw_sqlite3_rows_per_cpu_second": round(raw_cpu_rate),
        "ratio_importer_to_raw": round(report["rows_per_second"] / raw_rate, 3),
        "ratio_importer_to_raw_cpu": round(report["rows_per_cpu_second"] / raw_cpu_rate, 3),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "worker_peak_rss_mb": round(
            resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1
        ),
        "target_rows_per_second": 20_000,
        "meets_target": report["rows_per_second"] >= 20_000,
    }
    print(json.dumps(figures, indent=2))
    return figures


if __name__ == "__main__":
    main()
