"""A TCP proxy for fault injection: ``cut()`` resets every connection (a crash or a pulled
cable reported by the kernel), ``stall()`` keeps connections open but forwards nothing in
either direction (a half-open link: no FIN, no RST, no replies), ``restore()`` heals both.
It also keeps what the client sent, so a test can count the AMI actions that went out."""

from __future__ import annotations

import asyncio
import contextlib


class FaultProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = 0
        self.up = True
        self.stalled = False
        self.accepted = 0
        self.sent = bytearray()  # every byte clients sent towards the target
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        self.cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def cut(self) -> None:
        """Reset every open connection and refuse new ones until :meth:`restore`."""
        self.up = False
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    def stall(self) -> None:
        """Stop forwarding, keep the sockets open: the peer sees silence, not a close."""
        self.stalled = True

    def restore(self) -> None:
        self.up = True
        self.stalled = False

    def connections(self) -> int:
        return len(self._writers) // 2

    def actions(self) -> list[dict[str, str]]:
        """The AMI actions clients sent through this proxy, as header dicts, in order."""
        out: list[dict[str, str]] = []
        for block in bytes(self.sent).split(b"\r\n\r\n"):
            headers: dict[str, str] = {}
            for line in block.decode("utf-8", "replace").split("\r\n"):
                name, sep, value = line.partition(":")
                if sep:
                    headers.setdefault(name.strip().lower(), value.strip())
            if "action" in headers:
                out.append(headers)
        return out

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        if not self.up:
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self._writers.update((writer, up_writer))
        pumps = [
            asyncio.create_task(self._pump(reader, up_writer, record=True)),
            asyncio.create_task(self._pump(up_reader, writer, record=False)),
        ]
        self._tasks.update(pumps)
        for pump in pumps:
            pump.add_done_callback(self._tasks.discard)

    async def _pump(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, record: bool
    ) -> None:
        try:
            while data := await reader.read(65536):
                if record:
                    self.sent += data  # what the client sent, delivered or not
                if self.stalled:
                    continue  # swallowed: a black hole, the connection stays "up"
                writer.write(data)
                await writer.drain()
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            self._writers.discard(writer)
            with contextlib.suppress(Exception):
                writer.transport.abort()
