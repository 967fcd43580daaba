"""Synthesised call audio with known content, for the recording tests and bench."""

from __future__ import annotations

import math
import wave
from array import array
from collections.abc import Sequence
from pathlib import Path

RATE = 8000


def tone(seconds: float, *, amplitude: float = 0.5, freq: float = 440.0, rate: int = RATE) -> array:
    n = int(seconds * rate)
    step = 2 * math.pi * freq / rate
    return array("h", (int(amplitude * 32767 * math.sin(i * step)) for i in range(n)))


def silence(seconds: float, rate: int = RATE) -> array:
    return array("h", bytes(2 * int(seconds * rate)))


def square(seconds: float, rate: int = RATE) -> array:
    """Full-scale square wave: every sample clips."""
    n = int(seconds * rate)
    return array("h", (32767 if (i // 10) % 2 else -32768 for i in range(n)))


def write_wav(path: Path, parts: Sequence[array], *, rate: int = RATE, channels: int = 1) -> Path:
    samples = array("h")
    for part in parts:
        samples.extend(part)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        if channels == 2:
            stereo = array("h", (s for s in samples for _ in (0, 1)))
            w.writeframes(stereo.tobytes())
        else:
            w.writeframes(samples.tobytes())
    return path
