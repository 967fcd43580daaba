"""Fast bulk inserts: one prepared statement, tuples in, through the driver's executemany.

``conn.execute(insert(T), list_of_dicts)`` spends most of its time building per-row
parameter dicts; for imports of millions of rows we compile the INSERT once per dialect and
hand the driver plain tuples, converting only the columns whose type needs it (JSON,
dates on SQLite) with SQLAlchemy's own bind processors, so stored values are identical.
Columns left out get their model's Python-side default (``default=""``, ``default=dict``),
so a column added to the models later does not break callers.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sqlalchemy import Table, insert, text
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection


@dataclass(frozen=True, slots=True)
class _Plan:
    sql: str
    order: tuple[int, ...]  # index into (given values + defaults) for each placeholder
    processors: tuple[Callable[[Any], Any] | None, ...]  # per placeholder
    constants: tuple[Any, ...]  # defaults of the columns the caller left out …
    factories: tuple[tuple[int, Callable[[Any], Any]], ...]  # … and callable ones, by position


async def bulk_insert_columns(
    conn: AsyncConnection, table: Table, values: Mapping[str, Sequence[Any]]
) -> None:
    """INSERT one row per position of the sequences in ``values`` (column → its values).

    Column-wise because that is how callers holding many rows can build them cheaply, and
    converting whole columns runs in C (zip, map) instead of a Python loop per value.
    """
    count = len(next(iter(values.values()), ()))
    if not count:
        return
    if any(len(column) != count for column in values.values()):
        raise ValueError(f"{table.name}: columns of different lengths")
    plan = _plan(conn.dialect, table, tuple(values))
    filled: list[Sequence[Any]] = [
        *values.values(),
        *((value,) * count for value in plan.constants),
    ]
    for position, factory in plan.factories:
        filled[len(values) + position] = [factory(None) for _ in range(count)]
    ordered = [filled[i] for i in plan.order]
    for index, processor in enumerate(plan.processors):
        if processor is not None:
            ordered[index] = _convert(ordered[index], processor)
    await conn.exec_driver_sql(plan.sql, list(zip(*ordered, strict=True)))  # type: ignore[arg-type]


async def lock_for_writing(conn: AsyncConnection, table: Table) -> None:
    """Serialise bulk writers of ``table`` for the rest of this transaction.

    SQLite: take the database write lock now, before the transaction reads, so ids from
    ``allocate_ids`` and decisions made from what it reads cannot be overtaken by another
    writer (a stale WAL snapshot fails here, loudly). PostgreSQL: ids come from the
    sequence; a transaction-scoped advisory lock keeps two imports from both inserting
    "new" customers for the same phone number.
    """
    if conn.dialect.name == "sqlite":
        await conn.exec_driver_sql(f"UPDATE {table.name} SET id = id WHERE id = -1")
    elif conn.dialect.name == "postgresql":
        await conn.execute(
            text("SELECT pg_advisory_xact_lock(hashtext(:key))"),
            {"key": f"contact_center.bulk.{table.name}"},
        )


async def allocate_ids(conn: AsyncConnection, table: Table, count: int) -> list[int]:
    """``count`` fresh values of ``table.id``, known before inserting.

    Why not INSERT … RETURNING: SQLite cannot guarantee RETURNING order for a multi-row
    insert, so SQLAlchemy falls back to one statement per row — several times slower.
    On SQLite the caller must hold the write lock (``lock_for_writing``).
    """
    if count <= 0:
        return []
    if conn.dialect.name == "postgresql":
        result = await conn.exec_driver_sql(
            f"SELECT nextval(pg_get_serial_sequence('{table.name}', 'id')) "
            f"FROM generate_series(1, {int(count)})"
        )
        return [int(v) for v in result.scalars()]
    top = (await conn.exec_driver_sql(f"SELECT coalesce(max(id), 0) FROM {table.name}")).scalar()
    return list(range(int(top or 0) + 1, int(top or 0) + 1 + count))


def _convert(values: Sequence[Any], processor: Callable[[Any], Any]) -> Sequence[Any]:
    """Bind-process a column; one object repeated (a chunk's timestamp) converts once."""
    first = values[0]
    if len(set(map(id, values))) == 1:
        return (None if first is None else processor(first),) * len(values)
    return [None if v is None else processor(v) for v in values]


@lru_cache(maxsize=128)
def _plan(dialect: Dialect, table: Table, columns: tuple[str, ...]) -> _Plan:
    missing = [c for c in table.columns if c.key not in columns and c.default is not None]
    constants: list[Any] = []
    factories: list[tuple[int, Callable[[Any], Any]]] = []
    for position, column in enumerate(missing):
        default: Any = column.default
        if default.is_callable:
            factories.append((position, default.arg))
            constants.append(None)
        elif default.is_scalar:
            constants.append(default.arg)
        else:
            raise ValueError(f"{table.name}.{column.key}: give a value (SQL-expression default)")
    names = (*columns, *(c.key for c in missing))
    compiled = insert(table).compile(dialect=dialect, column_keys=list(names))
    placeholders = tuple(compiled.positiontup or ())
    if sorted(placeholders) != sorted(names):
        raise ValueError(f"{table.name}: placeholders {placeholders} differ from {names}")
    order = tuple(names.index(name) for name in placeholders)
    processors = tuple(table.c[name].type._cached_bind_processor(dialect) for name in placeholders)
    return _Plan(str(compiled), order, processors, tuple(constants), tuple(factories))
