"""Asterisk's durable files: queue_log lines, cdr_csv Master.csv rows, MixMonitor WAVs."""

from __future__ import annotations

import math
import struct
import time
from dataclasses import dataclass
from pathlib import Path

SAMPLE_RATE = 8000


class QueueLog:
    """Appends ``epoch|callid|queue|agent|EVENT|data…`` lines like Asterisk's queue_log."""

    def __init__(self, path: str) -> None:
        self.path = Path(path) if path else None
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)

    def write(self, callid: str, queue: str, agent: str, event: str, *data: str) -> None:
        if self.path is None:
            return
        fields = [str(int(time.time())), callid, queue, agent, event, *data]
        if not data:
            fields.append("")
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write("|".join(fields) + "\n")


@dataclass(frozen=True, slots=True)
class CdrRecord:
    """One CDR as both the AMI ``Cdr`` event and a Master.csv row show it."""

    source: str
    destination: str
    destination_context: str
    caller_id: str
    channel: str
    destination_channel: str
    last_application: str
    last_data: str
    start: float
    answer: float | None
    end: float
    disposition: str
    uniqueid: str
    linkedid: str
    userfield: str
    ivr_choice: str
    sequence: int

    @property
    def duration(self) -> int:
        return int(self.end - self.start)

    @property
    def billsec(self) -> int:
        return int(self.end - self.answer) if self.answer is not None else 0

    def ami_headers(self) -> list[tuple[str, str]]:
        return [
            ("AccountCode", ""),
            ("Source", self.source),
            ("Destination", self.destination),
            ("DestinationContext", self.destination_context),
            ("CallerID", self.caller_id),
            ("Channel", self.channel),
            ("DestinationChannel", self.destination_channel),
            ("LastApplication", self.last_application),
            ("LastData", self.last_data),
            ("StartTime", _cdr_time(self.start)),
            ("AnswerTime", _cdr_time(self.answer)),
            ("EndTime", _cdr_time(self.end)),
            ("Duration", str(self.duration)),
            ("BillableSeconds", str(self.billsec)),
            ("Disposition", self.disposition),
            ("AMAFlags", "DOCUMENTATION"),
            ("UniqueID", self.uniqueid),
            ("UserField", self.userfield),
            ("IVRChoice", self.ivr_choice),
        ]

    def csv_row(self) -> str:
        """A cdr_csv line (loguniqueid=yes, newcdrcolumns=yes): strings quoted, numbers not."""

        def q(value: str) -> str:
            return '"' + value.replace('"', '""') + '"'

        parts = [
            q(""),
            q(self.source),
            q(self.destination),
            q(self.destination_context),
            q(self.caller_id),
            q(self.channel),
            q(self.destination_channel),
            q(self.last_application),
            q(self.last_data),
            q(_cdr_time(self.start)),
            q(_cdr_time(self.answer)),
            q(_cdr_time(self.end)),
            str(self.duration),
            str(self.billsec),
            q(self.disposition),
            q("DOCUMENTATION"),
            q(self.uniqueid),
            q(self.userfield),
            q(""),
            q(self.linkedid),
            str(self.sequence),
        ]
        return ",".join(parts) + "\n"


def _cdr_time(value: float | None) -> str:
    if value is None:
        return ""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(value))


class CdrCsv:
    """Appends rows to Master.csv; rows over 1024 bytes are dropped, as cdr_csv does."""

    def __init__(self, path: str) -> None:
        self.path = Path(path) if path else None
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)

    def write(self, record: CdrRecord) -> None:
        if self.path is None:
            return
        row = record.csv_row()
        if len(row.encode()) > 1024:
            return
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(row)


def wav_header(frames: int) -> bytes:
    """A 44-byte PCM WAV header for 8 kHz 16-bit mono."""
    data_len = frames * 2
    return (
        b"RIFF"
        + struct.pack("<I", 36 + data_len)
        + b"WAVEfmt "
        + struct.pack("<IHHIIHH", 16, 1, 1, SAMPLE_RATE, SAMPLE_RATE * 2, 2, 16)
        + b"data"
        + struct.pack("<I", data_len)
    )


def _tone_second(seed: int) -> bytes:
    # Two voices alternating, so a recording sounds like a conversation, not a test tone.
    freq = 330.0 + 40.0 * (seed % 5)
    samples = []
    for n in range(SAMPLE_RATE):
        speaking = (n // 2000) % 2 == 0
        f = freq if speaking else freq * 1.5
        samples.append(int(3000 * math.sin(2 * math.pi * f * n / SAMPLE_RATE)))
    return struct.pack(f"<{SAMPLE_RATE}h", *samples)


_TONES: dict[int, bytes] = {}


class Recording:
    """A MixMonitor file. With option ``b`` audio is written only while the call is bridged;
    spans muted with MixMonitorMute are written as silence (QA hears the gap)."""

    def __init__(self, path: Path, seed: int = 0) -> None:
        self.path = path
        self.seed = seed
        self.bridged_at: float | None = None
        self.seconds = 0.0
        self.muted = False
        self.muted_since: float | None = None  # audio offset (s) where the open mute began
        self.silent: list[tuple[float, float]] = []  # muted spans, audio offsets in seconds
        self.closed = False
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(wav_header(0))  # Asterisk creates the file (header only) at once

    def offset(self, now: float) -> float:
        """Seconds of audio written so far (only bridged time counts)."""
        running = now - self.bridged_at if self.bridged_at is not None else 0.0
        return self.seconds + max(0.0, running)

    def set_muted(self, muted: bool, now: float) -> None:
        """MixMonitorMute: from now on write silence (or audio again)."""
        if muted and self.muted_since is None:
            self.muted_since = self.offset(now)
        elif not muted and self.muted_since is not None:
            self.silent.append((self.muted_since, self.offset(now)))
            self.muted_since = None
        self.muted = muted

    def bridge_started(self, now: float) -> None:
        if self.bridged_at is None:
            self.bridged_at = now

    def bridge_ended(self, now: float) -> None:
        if self.bridged_at is not None:
            self.seconds += max(0.0, now - self.bridged_at)
            self.bridged_at = None

    def close(self, now: float) -> None:
        """Write the audio for the bridged time; a never-bridged call keeps the bare header."""
        if self.closed:
            return
        self.set_muted(False, now)
        self.closed = True
        self.bridge_ended(now)
        frames = int(self.seconds * SAMPLE_RATE)
        if frames == 0:
            return
        tone = _TONES.setdefault(self.seed % 5, _tone_second(self.seed % 5))
        audio = bytearray(tone * (frames * 2 // len(tone) + 1))[: frames * 2]
        for begin, end in self.silent:
            first = min(frames, int(begin * SAMPLE_RATE)) * 2
            last = min(frames, int(end * SAMPLE_RATE)) * 2
            audio[first:last] = bytes(last - first)
        with self.path.open("wb") as fh:
            fh.write(wav_header(frames))
            fh.write(audio)
