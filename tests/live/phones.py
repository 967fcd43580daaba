"""Operator phones for the live tests: sipp running ``sipp/phone.xml``.

``async with sip_phone() as phone:`` registers a phone as extension 101 with the live Asterisk
and answers every call that rings it (after ``ring_seconds``), staying in the call until
Asterisk hangs up. The phone's scenario logs what it does (``-trace_logs``):
``phone.count(ANSWERED)`` reads that log, ``await phone.wait_for(ANSWERED)`` waits for a line.
On exit sipp is stopped and the registration removed (sipp again, from the same port, with
``Expires: 0``), so the next test's phone does not meet a stale contact (``max_contacts``).
``sip_phone(voice=True)`` makes the phone speak: from the ACK until the BYE it streams a tone
to Asterisk as PCMU over RTP (so recordings of its calls hold audio); ``voice=<a WAV file>``
streams that instead. Without ``sipp`` (Debian package ``sip-tester``) the test fails."""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import shutil
import socket
import tempfile
import wave
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import pytest

SCENARIO = Path(__file__).parent / "sipp" / "phone.xml"

# What the scenario logs, one line each: "<EVENT> <call-id> ..."
REGISTERED = "REGISTERED"
RINGING = "RINGING"
ANSWERED = "ANSWERED"
ESTABLISHED = "ESTABLISHED"
HUNGUP = "HUNGUP"
CANCELLED = "CANCELLED"
REQUEST = "REQUEST"
SPEAKING = "SPEAKING"  # voice on: the phone started streaming RTP into the call

VOICE_FILE = "voice.ulaw"  # in sipp's working directory; the scenario names it
VOICE_RATE = 8000  # G.711: 8 kHz, one byte a sample


@dataclass(frozen=True)
class PhoneEvent:
    name: str
    call_id: str
    rest: str


@dataclass
class SipPhone:
    """A running phone. Counts are read from sipp's log when asked."""

    extension: str
    local_host: str
    local_port: int
    log_path: Path
    error_path: Path
    messages_path: Path  # every SIP message, with trace_messages=True

    @property
    def contact(self) -> str:
        """The address Asterisk records for the phone (``pjsip show contacts``)."""
        return f"sip:{self.extension}@{self.local_host}:{self.local_port}"

    def events(self, name: str | None = None) -> list[PhoneEvent]:
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return []
        found = []
        for line in text.splitlines():
            event, _, rest = line.strip().partition(" ")
            call_id, _, rest = rest.partition(" ")
            if event and (name is None or event == name):
                found.append(PhoneEvent(event, call_id, rest))
        return found

    def count(self, name: str) -> int:
        """How many times the phone logged ``name``: RINGING (180 sent), ANSWERED (200 sent),
        ESTABLISHED (its ACK came), HUNGUP (a BYE answered), SPEAKING (voice streamed)."""
        return len(self.events(name))

    @property
    def in_call(self) -> int:
        """Calls up right now."""
        return self.count(ESTABLISHED) - self.count(HUNGUP)

    def errors(self) -> str:
        """sipp's error file (-trace_err): warnings, unexpected messages."""
        try:
            return self.error_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    async def wait_for(self, name: str, count: int = 1, timeout: float = 15.0) -> PhoneEvent:
        """The ``count``-th ``name`` event (``ANSWERED``, ``HUNGUP``...) once it happened."""
        try:
            async with asyncio.timeout(timeout):
                while True:
                    events = self.events(name)
                    if len(events) >= count:
                        return events[count - 1]
                    await asyncio.sleep(0.05)
        except TimeoutError:
            seen = "\n".join(f"{e.name} {e.call_id} {e.rest}" for e in self.events())
            message = f"phone {self.extension}: {count}x {name} not seen in {timeout:g} s"
            raise AssertionError(f"{message}; it logged:\n{seen}") from None


def _free_udp_port(host: str, also_plus: int = 0) -> int:
    """A UDP port free on ``host`` now (and ``port + also_plus`` too, if asked)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as first:
            first.bind((host, 0))
            port: int = first.getsockname()[1]
            if not also_plus:
                return port
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as second:
                try:
                    second.bind((host, port + also_plus))
                except OSError:
                    continue
                return port
    raise RuntimeError(f"no free UDP port on {host}")


def _ulaw(sample: int) -> int:
    """One 16-bit linear sample as a G.711 u-law byte."""
    sign = 0x80 if sample < 0 else 0
    magnitude = min(abs(sample), 32635) + 0x84  # clip, then the u-law bias
    exponent = max(magnitude.bit_length() - 8, 0)  # the segment: 0 (biased < 256) .. 7
    mantissa = (magnitude >> (exponent + 3)) & 0x0F
    return ~(sign | exponent << 4 | mantissa) & 0xFF


def _tone(seconds: float = 1.0, frequency: float = 440.0) -> list[int]:
    """A vowel-like sound: ``frequency`` with two overtones, -10 dBFS or so. A whole second
    of a whole number of cycles, so that it loops without a click."""
    samples = []
    for n in range(round(seconds * VOICE_RATE)):
        t = 2 * math.pi * frequency * n / VOICE_RATE
        value = 0.6 * math.sin(t) + 0.25 * math.sin(2 * t) + 0.15 * math.sin(3 * t)
        samples.append(round(10000 * value))
    return samples


def _wav_samples(path: Path) -> list[int]:
    """The samples of a WAV file that is 8 kHz mono 16-bit PCM (what G.711 carries)."""
    with wave.open(str(path), "rb") as wav:
        shape = (wav.getframerate(), wav.getnchannels(), wav.getsampwidth())
        if shape != (VOICE_RATE, 1, 2):
            raise ValueError(
                f"{path}: {shape[0]} Hz, {shape[1]} channel(s), {8 * shape[2]}-bit; "
                f"the phone's voice must be {VOICE_RATE} Hz mono 16-bit PCM"
            )
        frames = wav.readframes(wav.getnframes())
    return [
        int.from_bytes(frames[i : i + 2], "little", signed=True) for i in range(0, len(frames), 2)
    ]


def _write_voice(path: Path, voice: bool | str | os.PathLike[str]) -> None:
    """The raw u-law the scenario streams (``voice`` on) or must at least find (off):
    whole 20 ms packets of 160 bytes."""
    if voice is False:
        samples = [0] * 160  # never played; sipp only needs to load it
    elif voice is True:
        samples = _tone()
    else:
        samples = _wav_samples(Path(voice))
        if not samples:
            raise ValueError(f"{voice}: no audio")
    samples += [0] * (-len(samples) % 160)
    path.write_bytes(bytes(_ulaw(sample) for sample in samples))


def _local_address(host: str, port: int) -> str:
    """Our address on the route to the Asterisk (what goes into Via and Contact)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect((host, port))
        address: str = probe.getsockname()[0]
        return address


def _open_for_writing(path: Path) -> IO[bytes]:
    return path.open("wb")


async def _stop(process: asyncio.subprocess.Process) -> None:
    if process.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        process.terminate()
    try:
        await asyncio.wait_for(process.wait(), 3.0)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()


@contextlib.asynccontextmanager
async def sip_phone(
    extension: str = "101",
    password: str = "change-me",
    asterisk_host: str = "127.0.0.1",
    asterisk_port: int = 5060,
    *,
    ring_seconds: float = 1.0,
    expires: int = 300,
    register_timeout: float = 10.0,
    trace_messages: bool = False,
    voice: bool | str | os.PathLike[str] = False,
) -> AsyncIterator[SipPhone]:
    """A phone registered as ``extension`` while the block runs; answers each call after
    ``ring_seconds`` of ringing. Fails if the registration is not confirmed in time.
    ``trace_messages`` keeps every SIP message in ``phone.messages_path`` (debugging).
    ``voice``: once a call is up, the phone talks until it ends, streaming RTP (PCMU, the
    codec it offers first) to the address in Asterisk's SDP, from the port in its own. True:
    a 440 Hz tone with overtones, looped; a path: that WAV file (8 kHz mono 16-bit), looped.
    False (the default): no RTP at all, so recordings of its calls are silent."""
    sipp = shutil.which("sipp")
    if sipp is None:
        # a live Asterisk was given (the live suite runs): a missing phone is a failure, not
        # a quiet skip of the tests that would ring it
        pytest.fail("sipp is not installed: apt-get install sip-tester for the phone tests")
    host = _local_address(asterisk_host, asterisk_port)
    port = _free_udp_port(host)
    media_port = _free_udp_port(host, also_plus=2)  # sipp binds the port and the port + 2
    with tempfile.TemporaryDirectory(prefix=f"sipp-{extension}-") as workdir:
        work = Path(workdir)
        phone = SipPhone(
            extension, host, port, work / "phone.log", work / "errors.log", work / "messages.log"
        )
        _write_voice(work / VOICE_FILE, voice)

        def command(expires_value: int, log: Path) -> list[str]:
            return [
                sipp,
                f"{asterisk_host}:{asterisk_port}",
                "-sf", str(SCENARIO),
                "-oocsf", str(SCENARIO),
                "-m", "1",
                "-s", extension,
                "-au", extension,
                "-ap", password,
                "-set", "expires", str(expires_value),
                "-set", "ring_ms", str(round(ring_seconds * 1000)),
                "-set", "voice", "1" if voice is not False else "0",
                "-i", host,
                "-p", str(port),
                "-mi", host,
                "-mp", str(media_port),
                "-cp", str(_free_udp_port("0.0.0.0")),
                "-nostdin",
                "-trace_logs", "-log_file", str(log),
                "-trace_err", "-error_file", str(phone.error_path),
            ] + (
                ["-trace_msg", "-message_file", str(phone.messages_path)]
                if trace_messages and expires_value
                else []
            )  # fmt: skip

        stderr_path = work / "stderr.log"
        with _open_for_writing(stderr_path) as stderr:
            process = await asyncio.create_subprocess_exec(
                *command(expires, phone.log_path),
                cwd=work,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=stderr,
            )
        registered = False
        try:
            try:
                async with asyncio.timeout(register_timeout):
                    while not phone.events(REGISTERED):
                        if process.returncode is not None:
                            break
                        await asyncio.sleep(0.05)
            except TimeoutError:
                pass
            registered = bool(phone.events(REGISTERED))
            if not registered:
                await _stop(process)
                raise RuntimeError(
                    f"sipp phone {extension} did not register with "
                    f"{asterisk_host}:{asterisk_port} within {register_timeout:g} s "
                    f"(exit {process.returncode}):\n"
                    f"{stderr_path.read_text(errors='replace')[-2000:]}\n"
                    f"{phone.errors()[-3000:]}"
                )
            yield phone
        finally:
            await _stop(process)
            if registered:
                # Remove the contact: the same Contact from the same port, Expires: 0.
                unregister = await asyncio.create_subprocess_exec(
                    *command(0, work / "unregister.log"),
                    cwd=work,
                    stdin=asyncio.subprocess.DEVNULL,
                    stdout=asyncio.subprocess.DEVNULL,
                    stderr=asyncio.subprocess.DEVNULL,
                )
                try:
                    await asyncio.wait_for(unregister.wait(), 5.0)
                except TimeoutError:
                    await _stop(unregister)
