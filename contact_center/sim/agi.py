"""The FastAGI *client*: what Asterisk's ``AGI(agi://host:port/script,arg1,…)`` does.

It connects to a FastAGI server, sends the ``agi_*`` environment exactly as Asterisk 22 does
in ``tests/fixtures/08-fastagi.jsonl`` (same keys, same order, ended by an empty line, in two
TCP writes), then answers each command the way Asterisk answers it there, while a caller —
scripted, or a simulated channel — presses digits, stays silent or hangs up.

Two ways in:

* :func:`run_fastagi` with a :class:`ScriptedCaller` — for tests and benchmarks::

      result = await run_fastagi(
          f"agi://127.0.0.1:{port}/ivr", ["bank"],
          caller=ScriptedCaller([Press("1"), Press("12345678#"), Silence(), HangUp()]),
          env=AgiEnvironment(callerid="+74951234567", uniqueid="1795344647.107"),
          linkedid="1795344647.106",
      )
      result.status          # AGISTATUS: SUCCESS | HANGUP | FAILURE
      result.variables       # channel variables after the script (CC_QUEUE, …)
      result.transcript      # [(command, reply), …]

* :class:`FastAgiStep` — the simulator's dialplan ``AGI()`` step (``sim.agistep.AgiStep``):
  digits come from the simulated channel's DTMF (``agi_read_digit``), variables live on the
  channel, and each command is reported through ``agi_exec_start``/``agi_exec_end`` so the
  AMI stream shows ``AGIExecStart``/``AGIExecEnd`` as in the capture.

Caller steps are consumed in order by the commands that listen: ``GET DATA`` and ``WAIT FOR
DIGIT`` take the next :class:`Press` or :class:`Silence`; a prompt (``STREAM FILE``, ``SAY …``
with escape digits) takes a :class:`Press` only when it is marked ``barge_in``; a
:class:`HangUp` is taken by the next command that plays or listens. With no steps left the
caller stays silent. After a hang-up the client behaves like Asterisk: the listening command
answers ``result=-1``, a bare ``HANGUP`` line precedes the next reply, and commands that need a
live channel answer ``511``.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlsplit

from contact_center import aio

STREAM_FILE_USAGE = (
    "Send the given file, allowing playback to be interrupted by the given digits, if any. "
    "Returns <literal>0</literal> if playback completes without a digit being pressed, or the "
    "ASCII numerical value of the digit if one was pressed, or <literal>-1</literal> on error "
    "or if the channel was disconnected. If musiconhold is playing before calling stream file "
    "it will be automatically stopped and will not be restarted after completion.\n"
    "It sets the following channel variables upon completion:\n"
    "<variable>PLAYBACKSTATUS</variable>: The status of the playback attempt as a text string.\n"
    "    <value>SUCCESS</value>\n"
    "    <value>FAILED</value>\n"
)
DEAD_CHANNEL = "511 Command Not Permitted on a dead channel or intercept routine"
UNKNOWN_COMMAND = "510 Invalid or unknown command"
# Commands res_agi allows on a dead channel (its `dead` flag); all others answer 511.
DEAD_OK = (
    "ASYNCAGI BREAK",
    "DATABASE",
    "EXEC",
    "GET FULL VARIABLE",
    "GET VARIABLE",
    "NOOP",
    "SET VARIABLE",
    "VERBOSE",
    "SPEECH DESTROY",
    "SPEECH UNLOAD GRAMMAR",
)
KNOWN_APPS = frozenset(
    {
        "answer",
        "playback",
        "background",
        "set",
        "noop",
        "wait",
        "goto",
        "gotoif",
        "queue",
        "dial",
        "hangup",
        "mixmonitor",
        "stopmixmonitor",
        "verbose",
        "saynumber",
        "saydigits",
        "read",
        "progress",
        "ringing",
        "musiconhold",
        "system",
        "macro",
        "gosub",
        "return",
    }
)
SAY_COMMANDS = (
    "SAY DIGITS",
    "SAY NUMBER",
    "SAY ALPHA",
    "SAY PHONETIC",
    "SAY DATE",
    "SAY TIME",
    "SAY DATETIME",
)


# res_agi.c MAX_AGI_CONNECT: a FastAGI server that has not accepted within 2 s is FAILURE.
MAX_AGI_CONNECT = 2.0


class AgiClientError(Exception):
    """The FastAGI server could not be reached or spoke nonsense."""


# --- the caller ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Press:
    """The caller types ``digits`` at the next input (a ``#`` ends GET DATA early)."""

    digits: str
    barge_in: bool = False  # also interrupts an interruptible prompt


@dataclass(frozen=True, slots=True)
class Silence:
    """The caller types nothing: the next input times out."""


@dataclass(frozen=True, slots=True)
class HangUp:
    """The caller hangs up during the next command that plays audio or listens.

    With ``while_listening`` only ``GET DATA``/``WAIT FOR DIGIT`` take it (prompts play on).
    """

    while_listening: bool = False


Step = Press | Silence | HangUp


@dataclass(frozen=True, slots=True)
class Input:
    """What the caller did at one input point."""

    digits: str = ""
    timed_out: bool = False
    hangup: bool = False


class Caller(Protocol):
    """The caller's side of a call as the AGI commands see it."""

    async def collect(self, max_digits: int, timeout: float) -> Input: ...

    async def one_digit(self, timeout: float) -> Input: ...

    async def during_prompt(self, escape_digits: str) -> Input: ...


class ScriptedCaller:
    """A caller that follows a list of steps (see the module docstring for the rules)."""

    def __init__(self, steps: Sequence[Step] = ()) -> None:
        self.steps: list[Step] = list(steps)
        self.used: list[Step] = []

    def _take(self) -> Step | None:
        if not self.steps:
            return None
        step = self.steps.pop(0)
        self.used.append(step)
        return step

    async def collect(self, max_digits: int, timeout: float) -> Input:
        step = self._take()
        if isinstance(step, HangUp):
            return Input(hangup=True)
        if not isinstance(step, Press):
            return Input(timed_out=True)
        typed, hash_, _ = step.digits.partition("#")
        if len(typed) >= max_digits:
            return Input(digits=typed[:max_digits])
        return Input(digits=typed, timed_out=not hash_)

    async def one_digit(self, timeout: float) -> Input:
        step = self._take()
        if isinstance(step, HangUp):
            return Input(hangup=True)
        if isinstance(step, Press) and step.digits:
            return Input(digits=step.digits[0])
        return Input(timed_out=True)

    async def during_prompt(self, escape_digits: str) -> Input:
        step = self.steps[0] if self.steps else None
        if isinstance(step, HangUp) and not step.while_listening:
            self._take()
            return Input(hangup=True)
        if (
            isinstance(step, Press)
            and step.barge_in
            and step.digits
            and step.digits[0] in escape_digits
        ):
            self._take()
            return Input(digits=step.digits[0])
        return Input()


# --- the environment --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AgiEnvironment:
    """The channel facts Asterisk puts in the agi_* block (defaults from capture 08)."""

    channel: str = "Local/4951110003@inbound-0000001a;2"
    uniqueid: str = "1795344647.107"
    callerid: str = "+74951234567"
    calleridname: str = "Ivan Petrov"
    language: str = "en"
    type: str = "Local"
    context: str = "inbound"
    extension: str = "4951110003"
    priority: str = "3"
    accountcode: str = ""
    threadid: str = "140070344976064"
    version: str = "22.10.1"
    dnid: str = "unknown"
    rdnis: str = "unknown"


def build_environment(url: str, args: Sequence[str], env: AgiEnvironment) -> list[tuple[str, str]]:
    """The agi_* pairs in Asterisk's order; ``url`` is ``agi://host:port/script``."""
    script = urlsplit(url).path.lstrip("/")
    request = url.split("?", 1)[0]
    pairs = [
        ("agi_network", "yes"),
        ("agi_network_script", script),
        ("agi_request", request),
        ("agi_channel", env.channel),
        ("agi_language", env.language),
        ("agi_type", env.type),
        ("agi_uniqueid", env.uniqueid),
        ("agi_version", env.version),
        ("agi_callerid", env.callerid or "unknown"),
        ("agi_calleridname", env.calleridname or "unknown"),
        ("agi_callingpres", "0"),
        ("agi_callingani2", "0"),
        ("agi_callington", "0"),
        ("agi_callingtns", "0"),
        ("agi_dnid", env.dnid),
        ("agi_rdnis", env.rdnis),
        ("agi_context", env.context),
        ("agi_extension", env.extension),
        ("agi_priority", env.priority),
        ("agi_enhanced", "0.0"),
        ("agi_accountcode", env.accountcode),
        ("agi_threadid", env.threadid),
    ]
    pairs += [(f"agi_arg_{i}", arg) for i, arg in enumerate(args, 1)]
    return pairs


def encode_environment(pairs: Sequence[tuple[str, str]]) -> tuple[bytes, bytes]:
    """The block in the two writes Asterisk makes (split before agi_extension)."""
    lines = [f"{k}: {v}\n" for k, v in pairs]
    cut = next((i for i, (k, _) in enumerate(pairs) if k == "agi_extension"), len(lines))
    return "".join(lines[:cut]).encode(), ("".join(lines[cut:]) + "\n").encode()


def parse_agi_args(line: str) -> list[str]:
    """Split a command line like res_agi's parse_args (quotes and backslash escapes)."""
    args: list[str] = []
    cur: list[str] = []
    quoted = escaped = False
    in_word = False
    for ch in line:
        if escaped:
            cur.append(ch)
            escaped = False
            in_word = True
        elif ch == "\\":
            escaped = True
        elif ch == '"':
            quoted = not quoted
            in_word = True
        elif ch in " \t" and not quoted:
            if in_word:
                args.append("".join(cur))
                cur, in_word = [], False
        else:
            cur.append(ch)
            in_word = True
    if in_word:
        args.append("".join(cur))
    return args


# --- the Asterisk side of one session --------------------------------------------------------


@dataclass
class AgiCallResult:
    """What happened in one AGI() run."""

    status: str  # AGISTATUS: SUCCESS | HANGUP | FAILURE
    variables: dict[str, str] = field(default_factory=dict)
    transcript: list[tuple[str, str]] = field(default_factory=list)
    played: list[str] = field(default_factory=list)
    context: str = ""
    extension: str = ""
    priority: str = ""
    hung_up: bool = False
    language: str = "en"
    reset: bool = False  # the server reset the connection (AGISTATUS still SUCCESS/HANGUP)

    def commands(self) -> list[str]:
        return [command for command, _ in self.transcript]


_VAR_RE = re.compile(r"\$\{([^{}]+)\}")


class AsteriskAgi:
    """Answers AGI commands like Asterisk 22 (replies copied from capture 08).

    Subclass and override :meth:`get_variable`, :meth:`set_variable`,
    :meth:`command_started`, :meth:`command_finished` to tie it to a simulated channel.
    """

    def __init__(
        self,
        caller: Caller,
        env: AgiEnvironment,
        *,
        variables: Mapping[str, str] | None = None,
        linkedid: str = "",
        missing_prompts: Callable[[str], bool] | None = None,
        answered: bool = False,
    ) -> None:
        self.caller = caller
        self.env = env
        self.variables: dict[str, str] = dict(variables or {})
        self.linkedid = linkedid or env.uniqueid
        self.language = env.language
        self.missing_prompts = missing_prompts or (lambda name: False)
        self.answered = answered
        self.dead = False
        self._hangup_line_due = False
        self.result = AgiCallResult(status="SUCCESS")
        self.database: dict[tuple[str, str], str] = {}

    # -- hooks for a simulated channel --
    def get_variable(self, name: str) -> str | None:
        builtin = {
            "CHANNEL(linkedid)": self.linkedid,
            "CHANNEL(uniqueid)": self.env.uniqueid,
            "CHANNEL(language)": self.language,
            "CHANNEL(name)": self.env.channel,
            "CALLERID(num)": self.env.callerid,
            "CALLERID(name)": self.env.calleridname,
            "CALLERID(all)": f'"{self.env.calleridname}" <{self.env.callerid}>',
            "UNIQUEID": self.env.uniqueid,
        }
        if name in builtin:
            return builtin[name]
        return self.variables.get(name)

    def set_variable(self, name: str, value: str) -> None:
        if name == "CHANNEL(language)":
            self.language = value
        self.variables[name] = value

    def command_started(self, command: str) -> Any:
        return None

    def command_finished(self, token: Any, command: str, code: int, result: str) -> None:
        return None

    @property
    def caller_hung_up(self) -> bool:
        """The caller left on their own (checked before each command)."""
        return False

    # -- the protocol --
    async def reply_to(self, line: str) -> str:
        """The full reply (one or more lines, each ending in ``\\n``) to one command line."""
        if self.caller_hung_up and not self.dead:
            self._die()
        prefix = "HANGUP\n" if self._hangup_line_due else ""
        self._hangup_line_due = False
        token = self.command_started(line)
        body = await self._answer(line)
        code = int(body[:3])
        self.command_finished(token, line, code, "Success" if code == 200 else "Failure")
        self.result.transcript.append((line, body.rstrip("\n")))
        return prefix + body

    def _die(self) -> None:
        if not self.dead:
            self.dead = True
            self._hangup_line_due = True
            self.result.hung_up = True

    async def _answer(self, line: str) -> str:
        args = parse_agi_args(line)
        upper = [a.upper() for a in args]
        name = " ".join(upper[:3])
        if not args:
            return UNKNOWN_COMMAND + "\n"
        if self.dead and not any(" ".join(upper).startswith(c) for c in DEAD_OK):
            if _known(upper):
                return DEAD_CHANNEL + "\n"
        if upper[0] == "ANSWER":
            self.answered = True
            return "200 result=0\n"
        if upper[0] == "HANGUP":
            self._die()
            return "200 result=1\n"
        if upper[0] in ("VERBOSE",):
            return "200 result=1\n"
        if upper[0] == "NOOP":
            return "200 result=0\n"
        if upper[:2] == ["CHANNEL", "STATUS"]:
            return f"200 result={6 if self.answered else 4}\n"
        if upper[:2] == ["GET", "VARIABLE"]:
            if len(args) < 3:
                return _usage("GET VARIABLE")
            value = self.get_variable(args[2])
            return f"200 result=1 ({value})\n" if value is not None else "200 result=0\n"
        if upper[:3] == ["GET", "FULL", "VARIABLE"]:
            if len(args) < 4:
                return _usage("GET FULL VARIABLE")
            expanded = _VAR_RE.sub(lambda m: self.get_variable(m.group(1)) or "", args[3])
            return f"200 result=1 ({expanded})\n"
        if upper[:2] == ["SET", "VARIABLE"]:
            if len(args) < 4:
                return _usage("SET VARIABLE")
            self.set_variable(args[2], args[3])
            return "200 result=1\n"
        if upper[:2] in (["SET", "CONTEXT"], ["SET", "EXTENSION"], ["SET", "PRIORITY"]):
            if len(args) < 3:
                return _usage(name)
            setattr(self.result, upper[1].lower(), args[2])
            return "200 result=0\n"
        if upper[:2] == ["STREAM", "FILE"]:
            if len(args) < 4:
                return (
                    "520-Invalid command syntax.  Proper usage follows:\n"
                    + STREAM_FILE_USAGE
                    + "520 End of proper usage.\n"
                )
            return await self._stream(args[2], args[3])
        if upper[:2] == ["GET", "DATA"]:
            if len(args) < 3:
                return _usage("GET DATA")
            return await self._get_data(args)
        if upper[:3] == ["WAIT", "FOR", "DIGIT"]:
            if len(args) < 4:
                return _usage("WAIT FOR DIGIT")
            got = await self.caller.one_digit(_ms(args[3]) / 1000)
            if got.hangup:
                self._die()
                return "200 result=-1\n"
            return f"200 result={ord(got.digits) if got.digits else 0}\n"
        if " ".join(upper[:2]) in SAY_COMMANDS:
            if len(args) < 4:
                return _usage(" ".join(upper[:2]))
            got = await self.caller.during_prompt(args[3])
            if got.hangup:
                self._die()
                return "200 result=-1\n"
            return f"200 result={ord(got.digits) if got.digits else 0}\n"
        if upper[0] == "EXEC":
            if len(args) < 2:
                return _usage("EXEC")
            return self._exec(args[1], args[2] if len(args) > 2 else "")
        if upper[0] == "DATABASE" and len(upper) >= 4:
            return self._database(upper[1], args[2:])
        return UNKNOWN_COMMAND + "\n"

    async def _stream(self, name: str, escape: str) -> str:
        got = await self.caller.during_prompt(escape)
        endpos = 800 * (len(name) + 4)  # a stable, plausible sample offset
        if got.hangup:
            self._die()
            return f"200 result=-1 endpos={endpos // 2}\n"
        if self.missing_prompts(name):
            return "200 result=-1 endpos=0\n"
        self.result.played.append(name)
        if got.digits:
            return f"200 result={ord(got.digits)} endpos={endpos // 2}\n"
        return f"200 result=0 endpos={endpos}\n"

    async def _get_data(self, args: list[str]) -> str:
        timeout_ms = _ms(args[3]) if len(args) > 3 else 6000
        max_digits = int(args[4]) if len(args) > 4 and args[4].isdigit() else 1024
        if not self.missing_prompts(args[2]):
            self.result.played.append(args[2])
        got = await self.caller.collect(max_digits, timeout_ms / 1000)
        if got.hangup:
            self._die()
            return "200 result=-1\n"
        if got.timed_out:
            return f"200 result={got.digits} (timeout)\n"
        return f"200 result={got.digits}\n"

    def _exec(self, app: str, data: str) -> str:
        if app.lower() not in KNOWN_APPS:
            return "200 result=-2\n"
        if app.lower() == "set" and "=" in data:
            key, _, value = data.partition("=")
            self.set_variable(key, value)
        if app.lower() == "hangup":
            self._die()
        return "200 result=0\n"

    def _database(self, verb: str, args: list[str]) -> str:
        if verb == "PUT" and len(args) >= 3:
            self.database[(args[0], args[1])] = args[2]
            return "200 result=1\n"
        if verb == "GET" and len(args) >= 2:
            value = self.database.get((args[0], args[1]))
            return f"200 result=1 ({value})\n" if value is not None else "200 result=0\n"
        if verb == "DEL" and len(args) >= 2:
            return f"200 result={int(self.database.pop((args[0], args[1]), None) is not None)}\n"
        return _usage(f"DATABASE {verb}")


def _known(upper: list[str]) -> bool:
    text = " ".join(upper)
    return text.startswith(
        (
            "ANSWER",
            "HANGUP",
            "CHANNEL STATUS",
            "STREAM FILE",
            "GET DATA",
            "WAIT FOR DIGIT",
            "SET CONTEXT",
            "SET EXTENSION",
            "SET PRIORITY",
            "CONTROL STREAM FILE",
            "RECORD FILE",
            "SET MUSIC",
            "GET OPTION",
            *SAY_COMMANDS,
        )
    )


def _ms(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        return 0


def _usage(command: str) -> str:
    return (
        "520-Invalid command syntax.  Proper usage follows:\n"
        f"Usage: {command} ...\n"
        "520 End of proper usage.\n"
    )


# --- the client ------------------------------------------------------------------------------


def _host_port(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    if parts.scheme != "agi" or not parts.hostname:
        raise AgiClientError(f"not a FastAGI URL: {url!r}")
    return parts.hostname, parts.port or 4573


async def serve_session(
    url: str,
    args: Sequence[str],
    agi: AsteriskAgi,
    *,
    timeout: float = 60.0,
    max_commands: int = 10_000,
    connect_timeout: float | None = None,
) -> AgiCallResult:
    """Connect, send the environment and answer commands until the server closes.

    AGISTATUS as res_agi.c (22.10.1) sets it: FAILURE when the server cannot be reached
    (refused, no answer within MAX_AGI_CONNECT, the first line not sent —
    ``launch_netscript``); once connected, the server closing *or resetting* the connection
    is the script's end (``run_agi``'s read fails, "AGI Script … completed"): SUCCESS, or
    HANGUP when the channel hung up meanwhile. ``timeout`` (the whole session) is the
    simulator's own guard: Asterisk waits for ever; over it is FAILURE here.
    ``connect_timeout`` defaults to ``timeout``; the dial plan's AGI() (:class:`FastAgiStep`)
    uses Asterisk's MAX_AGI_CONNECT.
    """
    host, port = _host_port(url)
    result = agi.result
    try:
        reader, writer = await aio.wait_for(
            asyncio.open_connection(host, port), min(timeout, connect_timeout or timeout)
        )
    except (OSError, TimeoutError) as exc:
        result.status = "FAILURE"
        raise AgiClientError(f"cannot connect to {url}: {exc}") from exc
    failed = False
    try:
        async with asyncio.timeout(timeout):
            first, second = encode_environment(build_environment(url, args, agi.env))
            try:
                writer.write(first)  # starts with agi_network: yes, res_agi's checked send
                await writer.drain()
            except ConnectionError:
                failed = True
                raise
            writer.write(second)
            await writer.drain()
            for _ in range(max_commands):
                line = await reader.readline()
                if not line:
                    break  # the script returned: the dialplan continues after AGI()
                text = line.decode("utf-8", "replace").rstrip("\r\n")
                if not text:
                    continue
                writer.write((await agi.reply_to(text)).encode())
                await writer.drain()
            else:
                raise AgiClientError(f"more than {max_commands} AGI commands")
    except TimeoutError as exc:
        result.status = "FAILURE"
        raise AgiClientError(f"AGI session still running after {timeout} s") from exc
    except ConnectionError:
        result.reset = True  # for Asterisk the script ended (failed: nothing was sent)
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await writer.wait_closed()
    result.status = "FAILURE" if failed else "HANGUP" if agi.dead else "SUCCESS"
    result.variables = dict(agi.variables)
    result.language = agi.language
    return result


async def run_fastagi(
    url: str,
    args: Sequence[str] = (),
    *,
    caller: Caller | None = None,
    env: AgiEnvironment | None = None,
    variables: Mapping[str, str] | None = None,
    linkedid: str = "",
    missing_prompts: Callable[[str], bool] | None = None,
    timeout: float = 60.0,
) -> AgiCallResult:
    """Run ``AGI(url,args…)`` against a FastAGI server with a (scripted) caller.

    ``linkedid`` answers ``GET VARIABLE CHANNEL(linkedid)`` (default: the uniqueid);
    ``variables`` are the channel's variables before AGI() (e.g. ``CC_DID``);
    ``missing_prompts(name)`` says which prompt files Asterisk would not find.
    """
    agi = AsteriskAgi(
        caller or ScriptedCaller(),
        env or AgiEnvironment(),
        variables=variables,
        linkedid=linkedid,
        missing_prompts=missing_prompts,
    )
    return await serve_session(url, args, agi, timeout=timeout)


# --- the simulator's dialplan step -------------------------------------------------------------


class _ChannelCaller:
    """Caller input read from a simulated channel's DTMF (``agi_read_digit``)."""

    def __init__(self, channel: Any) -> None:
        self.channel = channel

    async def _digit(self, timeout: float) -> str | None:
        from contact_center.sim.errors import ChannelHungUp

        try:
            digit: str | None = await self.channel.agi_read_digit(timeout)
        except ChannelHungUp:
            raise _CallerGone from None
        return digit

    async def collect(self, max_digits: int, timeout: float) -> Input:
        digits = ""
        try:
            while len(digits) < max_digits:
                digit = await self._digit(timeout)
                if digit is None:
                    return Input(digits=digits, timed_out=True)
                if digit == "#":
                    break
                digits += digit
        except _CallerGone:
            return Input(hangup=True)
        return Input(digits=digits)

    async def one_digit(self, timeout: float) -> Input:
        try:
            digit = await self._digit(timeout)
        except _CallerGone:
            return Input(hangup=True)
        return Input(digits=digit or "", timed_out=digit is None)

    async def during_prompt(self, escape_digits: str) -> Input:
        return Input(hangup=channel_hung_up(self.channel))


class _CallerGone(Exception):
    pass


def channel_hung_up(channel: Any) -> bool:
    """``channel.hung_up`` when the channel offers it, else the sim channel's hangup event."""
    if hasattr(channel, "hung_up"):
        return bool(channel.hung_up)
    inner = getattr(channel, "ch", None)
    event = getattr(inner, "hangup_requested", None)
    return bool(event is not None and event.is_set())


def channel_linkedid(channel: Any) -> str:
    """``channel.linkedid`` (or the wrapped sim channel's), "" when unknown."""
    value = getattr(channel, "linkedid", "") or getattr(
        getattr(channel, "ch", None), "linkedid", ""
    )
    return str(value or "")


class _ChannelAgi(AsteriskAgi):
    def __init__(self, channel: Any, env: AgiEnvironment, linkedid: str) -> None:
        super().__init__(_ChannelCaller(channel), env, linkedid=linkedid)
        self.channel = channel

    def get_variable(self, name: str) -> str | None:
        value = self.channel.agi_get_variable(name)
        if value:
            return str(value)
        return super().get_variable(name) if "(" in name else None

    def set_variable(self, name: str, value: str) -> None:
        super().set_variable(name, value)
        self.channel.agi_set_variable(name, value)

    def command_started(self, command: str) -> Any:
        return self.channel.agi_exec_start(command)

    def command_finished(self, token: Any, command: str, code: int, result: str) -> None:
        self.channel.agi_exec_end(token, command, code, result)

    @property
    def caller_hung_up(self) -> bool:
        return channel_hung_up(self.channel)


@dataclass(frozen=True, slots=True)
class FastAgiStep:
    """``sim.agistep.AgiStep`` over a real FastAGI connection: ``await step(channel, url, args)``.

    Returns AGISTATUS (SUCCESS or FAILURE) and raises ``ChannelHungUp`` once the session is
    over if the channel hung up (the caller, or the script's ``HANGUP``), as the sim's
    dialplan expects of an AGI step. The environment comes from
    ``channel.agi_environment(url, args)``; ``GET VARIABLE CHANNEL(linkedid)`` answers
    ``channel.linkedid``; prompts notice a hang-up through ``channel.hung_up`` (both looked
    up on a wrapped ``channel.ch`` too).
    """

    timeout: float = 600.0
    connect_timeout: float = MAX_AGI_CONNECT

    async def __call__(self, channel: Any, url: str, args: list[str]) -> str:
        env_dict = channel.agi_environment(url, args)
        env = AgiEnvironment(
            channel=env_dict.get("agi_channel", channel.name),
            uniqueid=env_dict.get("agi_uniqueid", channel.uniqueid),
            callerid=env_dict.get("agi_callerid", ""),
            calleridname=env_dict.get("agi_calleridname", ""),
            language=env_dict.get("agi_language", "en"),
            context=env_dict.get("agi_context", ""),
            extension=env_dict.get("agi_extension", ""),
            priority=env_dict.get("agi_priority", "1"),
        )
        agi = _ChannelAgi(channel, env, channel_linkedid(channel))
        try:
            result = await serve_session(
                url, args, agi, timeout=self.timeout, connect_timeout=self.connect_timeout
            )
        except AgiClientError:
            return "FAILURE"
        set_location = getattr(channel, "agi_set_location", None)
        for what in ("context", "extension", "priority"):
            value = getattr(result, what, "")
            if value and set_location is not None:
                set_location(what, value)  # SET CONTEXT/EXTENSION/PRIORITY: where to go on
        if result.status == "HANGUP":
            from contact_center.sim.errors import ChannelHungUp

            raise ChannelHungUp(f"{env.channel} hung up during AGI({url})")
        return result.status
