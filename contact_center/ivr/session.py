"""The AGI commands an IVR needs, as typed methods over one :class:`AgiConnection`.

Hang-ups surface as :class:`AgiHangup`: ``result=-1`` from an input command, ``511`` on a dead
channel, or any channel command after Asterisk wrote its ``HANGUP`` line. Commands Asterisk
allows on a dead channel (variables, ``VERBOSE``, ``EXEC``) keep working after a hang-up, so
clean-up code can still record what happened.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from contact_center.ivr.agi import (
    AgiCommandError,
    AgiConnection,
    AgiHangup,
    AgiReply,
    AgiRequest,
)

log = logging.getLogger(__name__)

# res_agi.c marks these usable on a dead channel; everything else answers 511.
_DEAD_OK = (
    "GET VARIABLE",
    "GET FULL VARIABLE",
    "SET VARIABLE",
    "VERBOSE",
    "NOOP",
    "EXEC",
    "DATABASE",
)
_SPECIAL = set(' \t"\\')
# Interactive commands may legitimately take as long as the prompt plus the caller's time.
_INPUT_SLACK_SECONDS = 120.0


def quote(arg: str) -> str:
    """Quote one AGI argument the way res_agi's parse_args reads it back."""
    if "\n" in arg or "\r" in arg:
        raise ValueError(f"AGI argument may not contain a newline: {arg!r}")
    if arg and not (_SPECIAL & set(arg)):
        return arg
    return '"' + arg.replace("\\", "\\\\").replace('"', '\\"') + '"'


@dataclass(frozen=True, slots=True)
class Digits:
    """What ``GET DATA`` collected; ``timed_out`` when the caller stopped typing."""

    digits: str
    timed_out: bool


class AgiSession:
    """One call's AGI session: the request environment and typed commands."""

    def __init__(self, conn: AgiConnection, request: AgiRequest) -> None:
        self.conn = conn
        self.request = request
        self.commands_sent = 0

    @property
    def hung_up(self) -> bool:
        return self.conn.hung_up

    async def command(self, *words: str, timeout: float | None = None) -> AgiReply:
        """Send a raw command (first words verbatim, the rest quoted) and check the reply."""
        name = " ".join(words[:1])
        text = " ".join([words[0], *[quote(w) for w in words[1:]]])
        dead_ok = text.upper().startswith(_DEAD_OK)
        if self.conn.hung_up and not dead_ok:
            raise AgiHangup(f"channel hung up before {name}")
        self.commands_sent += 1
        reply = await self.conn.command(text, timeout=timeout)
        if reply.code == 511:
            raise AgiHangup(f"{name}: dead channel")
        if reply.code in (510, 520):
            raise AgiCommandError(text, reply)
        if reply.code != 200:
            raise AgiCommandError(text, reply)
        if self.conn.hung_up and not dead_ok:
            raise AgiHangup(f"channel hung up during {name}")
        return reply

    def _input_timeout(self, seconds: float) -> float:
        return self.conn.command_timeout + seconds + _INPUT_SLACK_SECONDS

    # --- call control ---------------------------------------------------------------------

    async def answer(self) -> None:
        reply = await self.command("ANSWER")
        if reply.result == "-1":
            raise AgiHangup("ANSWER failed: channel gone")

    async def hangup(self) -> None:
        await self.command("HANGUP")

    async def goto(self, context: str, extension: str, priority: int | str = 1) -> None:
        """Continue the dialplan at context,extension,priority once the script returns."""
        await self.command("SET CONTEXT", context)
        await self.command("SET EXTENSION", extension)
        await self.command("SET PRIORITY", str(priority))

    async def exec(self, app: str, *args: str) -> int:
        """Run a dialplan application; its arguments are joined with commas."""
        words = ["EXEC", app]
        if args:
            words.append(",".join(args))
        reply = await self.command(*words, timeout=self._input_timeout(0))
        if reply.result == "-2":
            raise AgiCommandError(f"EXEC {app}", reply)
        return reply.result_int or 0

    async def verbose(self, message: str, level: int = 1) -> None:
        await self.command("VERBOSE", message, str(level))

    # --- variables ------------------------------------------------------------------------

    async def set_variable(self, name: str, value: str) -> None:
        await self.command("SET VARIABLE", name, value)

    async def get_variable(self, name: str) -> str | None:
        reply = await self.command("GET VARIABLE", name)
        return reply.data if reply.result == "1" else None

    async def get_full_variable(self, expression: str) -> str | None:
        reply = await self.command("GET FULL VARIABLE", expression)
        return reply.data if reply.result == "1" else None

    async def linkedid(self) -> str:
        """The call id (Linkedid); falls back to this leg's uniqueid."""
        value = await self.get_variable("CHANNEL(linkedid)")
        return value or self.request.uniqueid

    # --- audio and input -------------------------------------------------------------------

    async def stream_file(self, name: str, escape_digits: str = "") -> str:
        """Play a prompt; return the digit that interrupted it, or ""."""
        reply = await self.command(
            "STREAM FILE", name, escape_digits, timeout=self._input_timeout(0)
        )
        code = reply.result_int or 0
        if code < 0:
            # A missing file and a hang-up both read -1; a hang-up shows on the next command.
            log.warning("STREAM FILE %s failed (%s)", name, reply.text)
            return ""
        return chr(code) if code else ""

    async def get_data(self, prompt: str, timeout_ms: int, max_digits: int) -> Digits:
        """Play ``prompt`` and collect up to ``max_digits`` (``#`` ends early)."""
        reply = await self._get_data(prompt, timeout_ms, max_digits)
        if reply.result == "-1" and prompt and await self.alive():
            # GET DATA answers -1 at once when the prompt file is missing, exactly as on a
            # hang-up (res_agi.c handle_getdata ← main/app.c ast_app_getdata_full returns
            # ast_streamfile's -1). The caller is still there: take the digits without the
            # prompt rather than drop the call.
            log.warning(
                "GET DATA: prompt %s not found by Asterisk (sounds/<language>/%s); "
                "collecting digits without it",
                prompt,
                prompt,
            )
            reply = await self._get_data("", timeout_ms, max_digits)
        if reply.result == "-1":
            raise AgiHangup("caller hung up during GET DATA")
        return Digits(digits=reply.result, timed_out=reply.timed_out)

    async def _get_data(self, prompt: str, timeout_ms: int, max_digits: int) -> AgiReply:
        return await self.command(
            "GET DATA",
            prompt,
            str(timeout_ms),
            str(max_digits),
            timeout=self._input_timeout(timeout_ms / 1000 * (max_digits + 1)),
        )

    async def alive(self) -> bool:
        """Whether the channel is still up: ``CHANNEL STATUS`` answers 511 (after Asterisk's
        ``HANGUP`` line) on a dead one."""
        try:
            await self.command("CHANNEL STATUS")
        except AgiHangup:
            return False
        return True

    async def wait_for_digit(self, timeout_ms: int) -> str:
        """One digit, or "" on timeout."""
        reply = await self.command(
            "WAIT FOR DIGIT", str(timeout_ms), timeout=self._input_timeout(timeout_ms / 1000)
        )
        code = reply.result_int or 0
        if code < 0:
            raise AgiHangup("caller hung up during WAIT FOR DIGIT")
        return chr(code) if code else ""

    async def _say(self, *words: str) -> str:
        reply = await self.command(*words, timeout=self._input_timeout(0))
        code = reply.result_int or 0
        if code < 0:
            raise AgiHangup(f"{words[0]} failed: channel gone")
        return chr(code) if code else ""

    async def say_digits(self, digits: str, escape_digits: str = "") -> str:
        return await self._say("SAY DIGITS", digits, escape_digits)

    async def say_number(self, number: int, escape_digits: str = "") -> str:
        return await self._say("SAY NUMBER", str(int(number)), escape_digits)

    async def say_date(self, epoch_seconds: int, escape_digits: str = "") -> str:
        return await self._say("SAY DATE", str(int(epoch_seconds)), escape_digits)

    async def say_money(
        self,
        amount: Decimal,
        currency: str,
        *,
        unit_prompt: str,
        cents_prompt: str,
        minus_prompt: str = "",
    ) -> None:
        """Say an amount as "<units> <unit_prompt> <cents> <cents_prompt>".

        AGI has no money command, so the currency words are prompts of their own.
        """
        cents_total = int((abs(amount) * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))
        units, cents = divmod(cents_total, 100)
        if amount < 0 and minus_prompt:
            await self.stream_file(minus_prompt)
        await self.say_number(units)
        await self.stream_file(unit_prompt)
        if cents:
            await self.say_number(cents)
            await self.stream_file(cents_prompt)
