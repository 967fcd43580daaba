"""Stream rows to the client as CSV, a JSON array or an XLSX workbook while they are read.

Both carry ``X-Total-Rows`` (counted before the first row) so a client can show progress
while the body streams in, without the server holding the whole export in memory.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
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


XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_XLSX_BATCH = 500
_XLSX_MAX_TEXT = 32_767  # Excel's limit for one cell


async def stream_xlsx(
    request: web.Request,
    *,
    filename: str,
    columns: Sequence[str],
    rows: AsyncIterator[dict[str, Any]],
    total: int,
    cell: Callable[[Any], object] = csv_cell_of,
) -> web.StreamResponse:
    """An XLSX download: one sheet, a header row, every text cell stored as text (never a
    formula, whatever it starts with). openpyxl's write-only mode keeps memory flat; the
    workbook is built in a temporary file off the event loop, then streamed."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    book = Workbook(write_only=True)
    sheet = book.create_sheet("export")

    def text_cell(value: object) -> Any:
        if isinstance(value, bool) or not isinstance(value, int | float):
            text = "" if value is None else str(value)[:_XLSX_MAX_TEXT]
            # Control characters are illegal in a worksheet; lone surrogates in any XML.
            text = ILLEGAL_CHARACTERS_RE.sub("", text)
            text = text.encode("utf-8", "replace").decode("utf-8")
            written = WriteOnlyCell(sheet, value=text)
            written.data_type = "s"  # "=HYPERLINK(…)" from a caller stays text
            return written
        return value

    def append(batch: list[list[object]]) -> None:
        for values in batch:
            sheet.append([text_cell(v) for v in values])

    with tempfile.TemporaryFile() as fh:
        batch: list[list[object]] = [list(columns)]
        async for row in rows:
            batch.append([cell(row.get(c)) for c in columns])
            if len(batch) >= _XLSX_BATCH:
                await asyncio.to_thread(append, batch)
                batch = []
        await asyncio.to_thread(append, batch)
        await asyncio.to_thread(book.save, fh)
        response = web.StreamResponse(headers=_headers(XLSX_TYPE, filename, total))
        await response.prepare(request)
        fh.seek(0)
        while chunk := await asyncio.to_thread(fh.read, _CHUNK_BYTES):
            await response.write(chunk)
        await response.write_eof()
    return response
