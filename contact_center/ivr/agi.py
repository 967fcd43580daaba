"""Our own FastAGI server on asyncio streams: one session per call, with time limits.

Why not panoramisk's ``fast_agi``: measured with panoramisk 1.4, a peer that closes before the
blank line ending the environment spins the event loop at 100 % CPU (``readline`` returns
``b""`` forever); a multi-line ``520-`` usage reply and Asterisk's unsolicited ``HANGUP`` line
are read as the reply to the *next* command, so replies drift away from their commands; and a
plain (non-async) route handler is wrapped with ``asyncio.coroutine``, which Python 3.11 removed.
Here every read has an end (EOF, size limit, time limit), a ``520`` block and ``HANGUP`` lines
are consumed where they belong, and a handler may be ``async def`` or plain.

FastAGI has no authentication: anyone who can connect can run the IVR and read what it says.
Bind it to the PBX network only (``[agi] host``), never to a public interface.

Wire facts (tests/fixtures/08-fastagi.jsonl): the environment is ``agi_key: value`` lines ended
by an empty line, possibly spread over several TCP segments; replies are ``200 result=<n>
[(data)] [endpos=<n>]``; ``510`` unknown command; ``511`` command on a dead channel; ``520-``
starts a usage block ended by a ``520 `` line; after the caller hangs up Asterisk writes a bare
``HANGUP`` line before the reply to the next command.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from contact_center.ivr.session import AgiSession

log = logging.getLogger(__name__)

MAX_LINE_BYTES = 8192  # Asterisk's AGI_BUF_LEN is 2048; anything far longer is not Asterisk
MAX_ENV_LINES = 200
MAX_USAGE_LINES = 200


class AgiError(Exception):
    """Base of every FastAGI error."""


class AgiProtocolError(AgiError):
    """The peer broke the AGI protocol (truncated environment, malformed reply, oversize line)."""


class AgiHangup(AgiError):
    """The caller hung up: ``result=-1`` on input, ``511`` dead channel, ``HANGUP`` line, EOF."""


class AgiCommandError(AgiError):
    """Asterisk refused a command: ``510`` unknown command or ``520`` usage error."""

    def __init__(self, command: str, reply: AgiReply) -> None:
        detail = reply.usage.splitlines()[0] if reply.usage else reply.text
        super().__init__(f"{command!r} refused with {reply.code}: {detail}")
        self.command = command
        self.reply = reply


class AgiTimeout(AgiError):
    """A command or the environment got no answer in time; the connection is closed."""


@dataclass(frozen=True, slots=True)
class AgiReply:
    """One reply to one command. ``usage`` holds the body of a ``520-`` block."""

    code: int
    result: str = ""  # the text after result= ("" for `result= (timeout)`)
    data: str = ""  # the parenthesised part, e.g. a variable value or "timeout"
    endpos: int | None = None
    text: str = ""  # the raw first line
    usage: str = ""

    @property
    def result_int(self) -> int | None:
        try:
            return int(self.result)
        except ValueError:
            return None

    @property
    def timed_out(self) -> bool:
        return self.data == "timeout"


_REPLY_RE = re.compile(
    r"^(?P<code>\d{3})[ -]"
    r"(?:result=(?P<result>\S*)(?: \((?P<data>.*)\))?(?: endpos=(?P<endpos>-?\d+))?)?"
)


def parse_reply(line: str) -> AgiReply:
    """Parse the first line of a reply (pure; no I/O)."""
    match = _REPLY_RE.match(line)
    if match is None:
        raise AgiProtocolError(f"malformed AGI reply line {line!r}")
    endpos = match.group("endpos")
    return AgiReply(
        code=int(match.group("code")),
        result=match.group("result") or "",
        data=match.group("data") or "",
        endpos=int(endpos) if endpos is not None else None,
        text=line,
    )


@dataclass(frozen=True, slots=True)
class AgiRequest:
    """The agi_* environment Asterisk sent when the session began."""

    env: MappingProxyType[str, str]

    @classmethod
    def from_env(cls, env: dict[str, str]) -> AgiRequest:
        return cls(env=MappingProxyType(dict(env)))

    def get(self, name: str, default: str = "") -> str:
        return self.env.get(f"agi_{name}", default)

    @property
    def script(self) -> str:
        """The path after host:port in ``agi://host:port/script`` (``agi_network_script``)."""
        return self.get("network_script")

    @property
    def args(self) -> tuple[str, ...]:
        out: list[str] = []
        while f"agi_arg_{len(out) + 1}" in self.env:
            out.append(self.env[f"agi_arg_{len(out) + 1}"])
        return tuple(out)

    @property
    def uniqueid(self) -> str:
        return self.get("uniqueid")

    @property
    def channel(self) -> str:
        return self.get("channel")

    @property
    def callerid(self) -> str:
        value = self.get("callerid")
        return "" if value == "unknown" else value

    @property
    def calleridname(self) -> str:
        value = self.get("calleridname")
        return "" if value == "unknown" else value

    @property
    def language(self) -> str:
        return self.get("language", "en") or "en"


async def _read_line(reader: asyncio.StreamReader) -> str:
    """One ``\\n``-terminated line without the newline; EOF and oversize lines end the session."""
    try:
        raw = await reader.readuntil(b"\n")
    except asyncio.IncompleteReadError as exc:
        raise AgiHangup("connection closed by the PBX") from exc
    except asyncio.LimitOverrunError as exc:
        raise AgiProtocolError(f"AGI line longer than {MAX_LINE_BYTES} bytes") from exc
    return raw.decode("utf-8", "replace").rstrip("\r\n")


async def read_environment(reader: asyncio.StreamReader) -> dict[str, str]:
    """Read the ``agi_*`` block up to its empty line.

    A peer that closes before the empty line raises :class:`AgiProtocolError` at once (the
    panoramisk loop spun on it forever).
    """
    env: dict[str, str] = {}
    for _ in range(MAX_ENV_LINES):
        try:
            line = await _read_line(reader)
        except AgiHangup as exc:
            raise AgiProtocolError(
                f"peer closed before the end of the AGI environment ({len(env)} variables read)"
            ) from exc
        if not line:
            return env
        key, sep, value = line.partition(":")
        if not sep or not key.startswith("agi_"):
            raise AgiProtocolError(f"malformed AGI environment line {line!r}")
        env[key.strip()] = value.strip()
    raise AgiProtocolError(f"AGI environment longer than {MAX_ENV_LINES} lines")


class AgiConnection:
    """The command/reply channel of one session: one command in flight at a time."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        command_timeout: float = 30.0,
    ) -> None:
        self._reader = reader
        self._writer = writer
        self._lock = asyncio.Lock()
        self.command_timeout = command_timeout
        self.hung_up = False  # set once Asterisk reports the hangup (HANGUP line, 511, EOF)
        self.broken = False  # a timeout or protocol error left replies out of step: stop

    async def command(self, text: str, *, timeout: float | None = None) -> AgiReply:
        """Send one command line and return its reply (``HANGUP`` lines are noted, skipped)."""
        if "\n" in text or "\r" in text:
            raise ValueError("an AGI command must be one line")
        if self.broken:
            raise AgiProtocolError("connection unusable after an earlier error")
        async with self._lock:
            self._writer.write(text.encode() + b"\n")
            try:
                async with asyncio.timeout(timeout or self.command_timeout):
                    await self._writer.drain()
                    return await self._read_reply()
            except TimeoutError as exc:
                self.broken = True
                raise AgiTimeout(
                    f"no reply to {text!r} within {timeout or self.command_timeout} s"
                ) from exc
            except AgiHangup:
                self.hung_up = True
                self.broken = True
                raise
            except (AgiProtocolError, ConnectionError) as exc:
                self.broken = True
                if isinstance(exc, ConnectionError):
                    self.hung_up = True
                    raise AgiHangup(f"connection lost: {exc}") from exc
                raise

    async def _read_reply(self) -> AgiReply:
        while True:
            line = await _read_line(self._reader)
            if line == "HANGUP":
                # Unsolicited: the channel hung up. The reply to our command still follows.
                self.hung_up = True
                continue
            if not line:
                continue
            reply = parse_reply(line)
            if line.startswith("520-"):
                return await self._read_usage(reply)
            if reply.code == 511:
                self.hung_up = True
            return reply

    async def _read_usage(self, first: AgiReply) -> AgiReply:
        body: list[str] = []
        for _ in range(MAX_USAGE_LINES):
            line = await _read_line(self._reader)
            if line.startswith("520 "):
                return AgiReply(code=520, text=first.text, usage="\n".join(body))
            body.append(line)
        raise AgiProtocolError(f"520 usage block longer than {MAX_USAGE_LINES} lines")

    async def close(self) -> None:
        if self._writer.is_closing():
            return
        self._writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await self._writer.wait_closed()


Handler = Callable[["AgiSession"], Awaitable[Any] | Any]


@dataclass
class _Stats:
    sessions_started: int = 0
    sessions_failed: int = 0
    bad_environments: int = 0


@dataclass
class FastAgiServer:
    """A FastAGI server: ``await server.start()``, ``server.port``, ``await server.close()``.

    ``handler(session)`` runs once per call; it may be ``async def`` or plain (a plain one that
    returns an awaitable is awaited too). When it returns, the connection is closed and the
    dialplan continues after ``AGI()``. Each session is limited to ``session_timeout`` seconds
    and each command to ``command_timeout``. Sessions are owned tasks, cancelled on close.
    """

    handler: Handler
    host: str = "127.0.0.1"
    port: int = 4573  # 0 picks a free port; read .port after start()
    session_timeout: float = 600.0
    command_timeout: float = 30.0
    env_timeout: float = 5.0
    backlog: int = 1024  # a burst of new calls must not overflow the accept queue
    stats: _Stats = field(default_factory=_Stats)
    _server: asyncio.Server | None = field(default=None, init=False, repr=False)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set, init=False, repr=False)

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._accept, self.host, self.port, limit=MAX_LINE_BYTES, backlog=self.backlog
        )
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("FastAGI listening on %s:%s", self.host, self.port)

    @property
    def active_sessions(self) -> int:
        return len(self._tasks)

    async def close(self) -> None:
        """Stop listening, cancel running sessions and wait for them."""
        if self._server is not None:
            self._server.close()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> FastAgiServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.get_running_loop().create_task(self._session(reader, writer))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        from contact_center.ivr.session import AgiSession

        conn = AgiConnection(reader, writer, command_timeout=self.command_timeout)
        peer = writer.get_extra_info("peername")
        try:
            try:
                async with asyncio.timeout(self.env_timeout):
                    env = await read_environment(reader)
            except (AgiProtocolError, TimeoutError) as exc:
                self.stats.bad_environments += 1
                log.warning("FastAGI %s: bad environment: %s", peer, exc or "timeout")
                return
            session = AgiSession(conn, AgiRequest.from_env(env))
            self.stats.sessions_started += 1
            try:
                async with asyncio.timeout(self.session_timeout):
                    await self._run_handler(session)
            except TimeoutError:
                self.stats.sessions_failed += 1
                log.warning(
                    "FastAGI %s: session over %s s, closed",
                    env.get("agi_uniqueid"),
                    self.session_timeout,
                )
            except AgiHangup:
                pass  # the caller left; the normal end of many calls
            except AgiError as exc:
                self.stats.sessions_failed += 1
                log.warning("FastAGI %s: %s", env.get("agi_uniqueid"), exc)
            except Exception:
                self.stats.sessions_failed += 1
                log.exception("FastAGI %s: handler failed", env.get("agi_uniqueid"))
        finally:
            await conn.close()

    async def _run_handler(self, session: AgiSession) -> None:
        result = self.handler(session)
        if inspect.isawaitable(result):
            await result
