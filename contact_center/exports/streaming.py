"""Stream rows to the client as CSV or a JSON array while they are read from the database.

Both carry ``X-Total-Rows`` (counted before the first row) so a client can show progress
while the body streams in, without the server holding the whole export in memory.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

from aiohttp import web

from contact_center.exports.csvsafe import csv_line

TOTAL_HEADER = "X-Total-Rows"
_CHUNK_BYTES = 64 * 1024


def _headers(content_type: str, filename: str, total: int) -> dict[str, str]:
    return {
        "Content-Type": content_type,
        "Content-Disposition": f'attachment; filename="{filename}"',
        "Cache-Control": "no-store",
        TOTAL_HEADER: str(total),
    }


async def _write_chunks(
    request: web.Request,
    response: web.StreamResponse,
    pieces: AsyncIterator[str],
) -> web.StreamResponse:
    await response.prepare(request)
    buffer: list[str] = []
    size = 0
    async for piece in pieces:
        buffer.append(piece)
        size += len(piece)
        if size >= _CHUNK_BYTES:
            await response.write("".join(buffer).encode())
            buffer, size = [], 0
    if buffer:
        await response.write("".join(buffer).encode())
    await response.write_eof()
    return response


def csv_cell_of(value: Any) -> object:
    """Lists as space-separated words, dicts as JSON, everything else as is."""
    if isinstance(value, list | tuple):
        return " ".join(str(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return "" if value is None else value


async def stream_csv(
    request: web.Request,
    *,
    filename: str,
    columns: Sequence[str],
    rows: AsyncIterator[dict[str, Any]],
    total: int,
    cell: Callable[[Any], object] = csv_cell_of,
) -> web.StreamResponse:
    """A CSV download with a header line; every cell is formula-injection safe."""

    async def pieces() -> AsyncIterator[str]:
        yield csv_line(columns)
        async for row in rows:
            yield csv_line([cell(row.get(c)) for c in columns])

    response = web.StreamResponse(headers=_headers("text/csv; charset=utf-8", filename, total))
    return await _write_chunks(request, response, pieces())


async def stream_json(
    request: web.Request, *, filename: str, rows: AsyncIterator[dict[str, Any]], total: int
) -> web.StreamResponse:
    """A JSON array download, one object per line inside it."""

    async def pieces() -> AsyncIterator[str]:
        yield "["
        first = True
        async for row in rows:
            yield ("\n" if first else ",\n") + json.dumps(row, ensure_ascii=False, default=str)
            first = False
        yield "\n]\n"

    response = web.StreamResponse(
        headers=_headers("application/json; charset=utf-8", filename, total)
    )
    return await _write_chunks(request, response, pieces())
