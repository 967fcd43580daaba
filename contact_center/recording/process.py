"""Post-processing of one finished recording file: checks, measurements, compact copy.

Everything here is synchronous and picklable: it runs in a worker process
(:class:`~contact_center.recording.worker.RecordingWorker` owns the ProcessPoolExecutor).

The compact copy (MP3 or Opus) is made by pydub: ``AudioSegment.from_file(...).export(...,
format=..., bitrate=...)``, which runs ffmpeg. It runs in a thread *while* the measurements run
(the thread mostly waits on ffmpeg, so both proceed in parallel) and a file costs about as much
as ffmpeg alone (bench/bench_recording.py). pydub holds the whole file in memory, so only files
up to ``ProcessOptions.pydub_max_bytes`` go through it; bigger ones (still within ``max_bytes``)
are converted by streaming them through ffmpeg directly.

Measurements do NOT use pydub: its ``detect_silence`` is ~30× slower than ffmpeg's
``silencedetect`` (measured, see bench/). They come from our own streaming pass over the PCM in
50 ms windows with ``audioop`` (C speed, no numpy), so memory stays flat however long the call.
"""

from __future__ import annotations

import ast
import math
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from array import array
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Protocol

from contact_center.config import RecordingSettings
from contact_center.recording.errors import AudioRejected

with warnings.catch_warnings():
    # audioop is deprecated in 3.11/3.12 and provided by audioop-lts from 3.13 on.
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop

    from pydub import AudioSegment
    from pydub.exceptions import CouldntDecodeError, CouldntEncodeError

FULL_SCALE = 32768.0
CHUNK_SECONDS = 4  # bytes read per step: bounded memory, few Python-level iterations
WAV_HEADER_BYTES = 44
CODECS = {"mp3": ("libmp3lame", "mp3", ".mp3"), "opus": ("libopus", "ogg", ".opus")}


@dataclass(frozen=True, slots=True)
class AnalysisOptions:
    window_ms: int = 50  # silence and peaks resolution
    silence_threshold_dbfs: float = -45.0
    min_silence_seconds: float = 1.0
    max_peaks: int = 1000  # waveform points stored for the player


@dataclass(frozen=True, slots=True)
class ProcessOptions:
    output_format: str = "mp3"  # mp3 | opus
    bitrate: str = "24k"
    max_bytes: int = 512 * 1024 * 1024
    max_seconds: float = 300.0  # wall time allowed for one file
    # pydub holds the whole file in memory (twice while exporting): above this, stream via ffmpeg.
    pydub_max_bytes: int = 64 * 1024 * 1024  # ~70 min of 8 kHz 16-bit mono
    analysis: AnalysisOptions = field(default_factory=AnalysisOptions)

    @classmethod
    def from_settings(cls, settings: RecordingSettings) -> ProcessOptions:
        if settings.output_format not in CODECS:
            raise ValueError(
                f"recording.output_format must be one of {sorted(CODECS)}, "
                f"got {settings.output_format!r}"
            )
        return cls(
            output_format=settings.output_format,
            bitrate=settings.bitrate,
            max_bytes=settings.max_bytes,
            max_seconds=settings.max_seconds,
            analysis=AnalysisOptions(
                silence_threshold_dbfs=settings.silence_threshold_dbfs,
                min_silence_seconds=settings.min_silence_seconds,
            ),
        )


@dataclass(frozen=True, slots=True)
class AudioMetrics:
    duration_seconds: float
    loudness_dbfs: float | None  # RMS level of the whole file; None for digital silence
    silence_share: float  # share of the duration in silences >= min_silence_seconds
    longest_silence_seconds: float
    clipping_share: float  # share of samples at full scale
    peaks: tuple[float, ...]  # 0..1, evenly spaced over the duration
    seconds_per_peak: float


@dataclass(frozen=True, slots=True)
class ProcessResult:
    metrics: AudioMetrics
    compact_name: str  # file name of the compact copy, beside the original


@dataclass(frozen=True, slots=True)
class PcmFormat:
    sample_rate: int
    sample_width: int  # bytes per sample
    channels: int
    data_offset: int
    data_bytes: int


# --- checking a WAV file ------------------------------------------------------------------


def inspect_wav(path: str | Path, *, max_bytes: int) -> PcmFormat | None:
    """The PCM layout of a WAV file; None if it is not PCM WAV (decode with ffmpeg then).

    Raises AudioRejected for files that are empty, huge, corrupt or truncated.
    """
    size = _checked_size(path, max_bytes)
    with open(path, "rb") as fh:
        head = fh.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return None
        fmt: tuple[int, int, int, int] | None = None
        while True:
            chunk_head = fh.read(8)
            if len(chunk_head) < 8:
                raise AudioRejected("corrupt: WAV file has no data chunk")
            chunk_id, chunk_size = struct.unpack("<4sI", chunk_head)
            if chunk_id == b"fmt ":
                body = fh.read(chunk_size)
                if len(body) < 16:
                    raise AudioRejected("corrupt: WAV fmt chunk is too short")
                audio_format, channels, rate, _byte_rate = struct.unpack("<HHII", body[:12])
                fmt = (audio_format, channels, rate, struct.unpack("<H", body[14:16])[0])
                fh.seek(chunk_size & 1, os.SEEK_CUR)  # chunks are word aligned
            elif chunk_id == b"data":
                return _pcm_format(fmt, fh.tell(), chunk_size, size)
            else:
                fh.seek(chunk_size + (chunk_size & 1), os.SEEK_CUR)


def _checked_size(path: str | Path, max_bytes: int) -> int:
    try:
        size = os.stat(path).st_size
    except FileNotFoundError:
        raise AudioRejected("missing: the recording file is not in the spool") from None
    if size == 0:
        raise AudioRejected("empty: the file has no bytes")
    if size > max_bytes:
        raise AudioRejected(f"too large: {size} bytes, the limit is {max_bytes} bytes")
    return size


def _pcm_format(
    fmt: tuple[int, int, int, int] | None, data_offset: int, declared: int, file_size: int
) -> PcmFormat | None:
    if fmt is None:
        raise AudioRejected("corrupt: WAV data comes before its fmt chunk")
    audio_format, channels, sample_rate, bits = fmt
    if audio_format not in (1, 0xFFFE):  # not linear PCM (e.g. GSM, a-law): let ffmpeg decode
        return None
    if not 1 <= channels <= 8 or not 4000 <= sample_rate <= 192_000 or bits not in (8, 16, 24, 32):
        raise AudioRejected(
            f"corrupt: impossible WAV format ({channels} channels, {sample_rate} Hz, {bits} bit)"
        )
    available = file_size - data_offset
    if declared == 0 and available == 0:
        raise AudioRejected("empty: WAV header only, no audio (the call was never bridged)")
    if declared == 0:
        raise AudioRejected(
            f"truncated: WAV header was never finalised ({available} bytes of audio follow)"
        )
    if declared > available:
        raise AudioRejected(
            f"truncated: WAV header declares {declared} bytes of audio, the file holds {available}"
        )
    if declared // (bits // 8 * channels) * 1000 < sample_rate:
        raise AudioRejected(f"empty: {declared} bytes of audio, under a millisecond")
    return PcmFormat(sample_rate, bits // 8, channels, data_offset, declared)


def iter_wav_pcm(path: str | Path, fmt: PcmFormat) -> Iterator[bytes]:
    """The data chunk of a WAV file in frame-aligned pieces."""
    frame = fmt.sample_width * fmt.channels
    step = max(frame, fmt.sample_rate * frame * CHUNK_SECONDS)
    left = fmt.data_bytes - fmt.data_bytes % frame
    with open(path, "rb") as fh:
        fh.seek(fmt.data_offset)
        while left > 0:
            piece = fh.read(min(step, left))
            if not piece:
                return
            left -= len(piece)
            yield piece


def to_mono16(piece: bytes, sample_width: int, channels: int) -> bytes:
    """Any linear PCM piece as 16-bit mono (what the measurements work on)."""
    if sample_width == 1:  # 8-bit WAV is unsigned
        piece = audioop.lin2lin(audioop.bias(piece, 1, -128), 1, 2)
    elif sample_width != 2:
        piece = audioop.lin2lin(piece, sample_width, 2)
    if channels == 2:
        piece = audioop.tomono(piece, 2, 0.5, 0.5)
    elif channels > 2:
        # Keep the first channel: rare for call recordings, and exact enough for QA figures.
        frame = 2 * channels
        piece = b"".join(piece[i : i + 2] for i in range(0, len(piece), frame))
    return piece


# --- measuring --------------------------------------------------------------------------------


class _Analyser:
    """Streaming measurements over 16-bit mono PCM, fed in arbitrary pieces."""

    def __init__(
        self,
        sample_rate: int,
        options: AnalysisOptions,
        excluded: Sequence[tuple[float, float]] = (),
    ) -> None:
        self.rate = sample_rate
        # Pauses marked on the recording (card payments) are silent by design: not dead air.
        self.excluded = sorted(
            (int(start * sample_rate), int(min(end, 1e9) * sample_rate))
            for start, end in excluded
            if end > start
        )
        self.next_excluded = 0
        self.options = options
        self.window_bytes = max(1, sample_rate * options.window_ms // 1000) * 2
        self.threshold = FULL_SCALE * 10 ** (options.silence_threshold_dbfs / 20)
        self.min_silence = int(options.min_silence_seconds * sample_rate)
        self.pending = b""
        self.samples = 0
        self.sum_squares = 0.0
        self.clipped = 0
        self.run = 0  # samples in the current silent run
        self.silent_samples = 0
        self.longest_run = 0
        self.window_peaks: list[int] = []

    def feed(self, piece: bytes) -> None:
        data = self.pending + piece if self.pending else piece
        step = self.window_bytes
        usable = len(data) - len(data) % step
        view = memoryview(data)
        for start in range(0, usable, step):
            self._window(view[start : start + step])
        self.pending = bytes(view[usable:])

    def _window(self, window: memoryview) -> None:
        # The hot path (one call per 50 ms of audio): C-level audioop only, no per-sample
        # Python work; clipped samples are counted only in windows that reach full scale.
        n = len(window) // 2
        rms = audioop.rms(window, 2)
        peak = audioop.max(window, 2)
        self.window_peaks.append(peak)
        position = self.samples
        self.samples += n
        self.sum_squares += float(rms) * rms * n
        if peak >= 32767:
            self.clipped += _count_full_scale(window)
        if self.excluded and self._in_excluded(position):
            if self.run:
                self._close_run()
        elif rms < self.threshold:
            self.run += n
        elif self.run:
            self._close_run()

    def _in_excluded(self, position: int) -> bool:
        ranges, i = self.excluded, self.next_excluded
        while i < len(ranges) and ranges[i][1] <= position:
            i += 1
        self.next_excluded = i
        return i < len(ranges) and ranges[i][0] <= position

    def _close_run(self) -> None:
        self.longest_run = max(self.longest_run, self.run)
        if self.run >= self.min_silence:
            self.silent_samples += self.run
        self.run = 0

    def finish(self) -> AudioMetrics:
        if len(self.pending) >= 2:
            self._window(memoryview(self.pending[: len(self.pending) // 2 * 2]))
        self.pending = b""
        self._close_run()
        if self.samples == 0:
            raise AudioRejected("empty: no audio samples")
        mean_square = self.sum_squares / self.samples
        loudness = 10 * math.log10(mean_square / FULL_SCALE**2) if mean_square > 0 else None
        peaks, per_peak = self._downsampled_peaks()
        return AudioMetrics(
            duration_seconds=round(self.samples / self.rate, 3),
            loudness_dbfs=None if loudness is None else round(loudness, 2),
            silence_share=round(self.silent_samples / self.samples, 4),
            longest_silence_seconds=round(self.longest_run / self.rate, 3),
            clipping_share=round(self.clipped / self.samples, 6),
            peaks=peaks,
            seconds_per_peak=per_peak,
        )

    def _downsampled_peaks(self) -> tuple[tuple[float, ...], float]:
        values = self.window_peaks
        per_bucket = max(1, math.ceil(len(values) / self.options.max_peaks))
        peaks = tuple(
            round(min(1.0, max(values[i : i + per_bucket]) / FULL_SCALE), 3)
            for i in range(0, len(values), per_bucket)
        )
        return peaks, round(per_bucket * self.options.window_ms / 1000, 4)


def _count_full_scale(window: memoryview) -> int:
    samples = array("h")
    samples.frombytes(window)
    if sys.byteorder == "big":
        samples.byteswap()
    return samples.count(32767) + samples.count(-32768)


def analyse_pcm(
    pieces: Iterable[bytes],
    *,
    sample_rate: int,
    sample_width: int = 2,
    channels: int = 1,
    options: AnalysisOptions = AnalysisOptions(),
    deadline: float | None = None,
    excluded: Sequence[tuple[float, float]] = (),
) -> AudioMetrics:
    """Duration, loudness, dead air, clipping and waveform peaks of linear PCM pieces.

    ``excluded``: (start, end) seconds not counted as dead air (marked recording pauses).
    """
    analyser = _Analyser(sample_rate, options, excluded)
    for piece in pieces:
        if deadline is not None and time.monotonic() > deadline:
            raise AudioRejected("timed out while measuring the audio")
        analyser.feed(to_mono16(piece, sample_width, channels))
    return analyser.finish()


# --- converting -------------------------------------------------------------------------------


def ffmpeg_binary() -> str:
    found = shutil.which("ffmpeg")
    if found is None:
        raise AudioRejected("ffmpeg is not installed on this host")
    return found


def compact_name_for(file_name: str, output_format: str) -> str:
    """The compact copy's name beside ``file_name``: never ``file_name`` itself, or the
    conversion would overwrite the original and the worker then delete the only copy."""
    extension = CODECS[output_format][2]
    name = Path(file_name).stem + extension
    if name == file_name:
        name = Path(file_name).stem + ".compact" + extension
    return name


def conversion_command(src: Path, dst: Path, options: ProcessOptions) -> list[str]:
    codec, container, _ = CODECS[options.output_format]
    return [
        ffmpeg_binary(),
        "-nostdin",
        "-hide_banner",
        "-loglevel",
        "error",
        "-y",
        "-i",
        str(src),
        "-vn",
        "-ac",
        "1",
        "-c:a",
        codec,
        "-b:a",
        options.bitrate,
        "-f",
        container,
        str(dst),
    ]


def decode_command(src: Path, sample_rate: int = 8000) -> list[str]:
    """ffmpeg decoding any input to 16-bit mono PCM on stdout (for non-PCM-WAV files)."""
    return [
        ffmpeg_binary(),
        "-nostdin",
        "-hide_banner",
        "-loglevel",
        "error",
        "-i",
        str(src),
        "-vn",
        "-ac",
        "1",
        "-ar",
        str(sample_rate),
        "-f",
        "s16le",
        "-",
    ]


def _stderr_tail(proc: subprocess.Popen[bytes], log: IO[bytes]) -> str:
    log.seek(0)
    err = log.read()[-4000:]
    lines = [line for line in err.decode(errors="replace").splitlines() if line.strip()]
    return lines[-1][:300] if lines else f"exit status {proc.returncode}"


def _decoded_pieces(src: Path, deadline: float, keep: list[bytes] | None = None) -> Iterator[bytes]:
    """16-bit mono 8 kHz PCM of any input, decoded by ffmpeg; ``keep`` collects the pieces
    too (for the pydub export of a non-PCM file, so it is decoded once)."""
    # stderr goes to a file: a pipe nobody reads would block a chatty ffmpeg.
    with (
        tempfile.TemporaryFile() as log,
        subprocess.Popen(decode_command(src), stdout=subprocess.PIPE, stderr=log) as proc,
    ):
        assert proc.stdout is not None
        try:
            while piece := proc.stdout.read(8000 * 2 * CHUNK_SECONDS):
                if keep is not None:
                    keep.append(piece)
                yield piece
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        finally:
            if proc.poll() is None:
                proc.kill()
        if proc.returncode != 0:
            raise AudioRejected(f"corrupt: ffmpeg cannot decode it ({_stderr_tail(proc, log)})")


class _Conversion(Protocol):
    """A compact copy being written to a ``.part`` file."""

    def wait(self, deadline: float, limit: float) -> None: ...

    def abort(self) -> None: ...


class _FfmpegConversion:
    """ffmpeg streaming the original to the compact copy (files too big for pydub)."""

    def __init__(self, src: Path, part: Path, options: ProcessOptions) -> None:
        self._log = tempfile.TemporaryFile()
        self._proc = subprocess.Popen(
            conversion_command(src, part, options), stdout=subprocess.DEVNULL, stderr=self._log
        )
        self._part = part

    def wait(self, deadline: float, limit: float) -> None:
        try:
            _wait_for_conversion(self._proc, self._log, deadline, limit)
        finally:
            self._log.close()

    def abort(self) -> None:
        if self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        self._log.close()
        self._part.unlink(missing_ok=True)


FFMPEG_QUIET = ("-hide_banner", "-loglevel", "error")  # only ffmpeg's complaints in errors
ABANDON_GRACE_SECONDS = 5.0  # how long a failed file waits for its pydub thread to let go


class _PydubConversion:
    """``AudioSegment.from_file(...).export(...)`` in a thread: pydub mostly waits on ffmpeg,
    so the measurements run meanwhile. pydub's ffmpeg call has no timeout of its own:
    ``-timelimit`` (CPU seconds) stops a runaway ffmpeg, and an abandoned export removes its
    own output when it finally returns."""

    def __init__(self, load: Any, part: Path, options: ProcessOptions) -> None:
        self._load = load  # () -> AudioSegment
        self._part = part
        self._options = options
        self._error: BaseException | None = None
        self._abandoned = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pydub-export", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        codec, container, _ = CODECS[self._options.output_format]
        try:
            segment = self._load()
            handle = segment.export(
                str(self._part),
                format=container,
                codec=codec,
                bitrate=self._options.bitrate,
                parameters=[*FFMPEG_QUIET, "-ac", "1", "-timelimit", self._cpu_limit()],
            )
            handle.close()
        except BaseException as exc:  # handed to wait(), which runs in the caller's thread
            if isinstance(exc, CouldntEncodeError):
                _remove_pydub_leftovers(str(exc))
            self._error = exc
        finally:
            if self._abandoned.is_set():
                self._part.unlink(missing_ok=True)

    def _cpu_limit(self) -> str:
        return str(math.ceil(self._options.max_seconds) + 1)

    def wait(self, deadline: float, limit: float) -> None:
        self._thread.join(timeout=max(0.0, deadline - time.monotonic()))
        if self._thread.is_alive():
            raise AudioRejected(f"timed out: conversion took longer than {limit:g} s")
        if isinstance(self._error, CouldntDecodeError | CouldntEncodeError):
            raise AudioRejected(f"conversion failed: {_last_line(str(self._error))}")
        if isinstance(self._error, OSError):
            raise AudioRejected(f"conversion failed: {self._error}")
        if self._error is not None:
            raise self._error

    def abort(self) -> None:
        self._abandoned.set()
        self._thread.join(timeout=ABANDON_GRACE_SECONDS)
        self._part.unlink(missing_ok=True)


def _remove_pydub_leftovers(message: str) -> None:
    """pydub leaves its temporary WAV copy and output behind when ffmpeg fails; its error
    names them in the command line it quotes (``Command:[...]``)."""
    start, end = message.find("Command:["), message.find("]\n")
    if start < 0 or end < start:
        return
    try:
        command = ast.literal_eval(message[start + len("Command:") : end + 1])
    except (ValueError, SyntaxError):
        return
    scratch = Path(tempfile.gettempdir())
    if not isinstance(command, list) or "-i" not in command:
        return
    for name in (command[command.index("-i") + 1], command[-1]):
        if isinstance(name, str) and Path(name).parent == scratch:
            Path(name).unlink(missing_ok=True)


def _last_line(text: str) -> str:
    """ffmpeg's own complaint from a pydub error (which carries the whole stderr)."""
    lines = [
        line.strip()
        for line in text.splitlines()
        if line.strip() and line.strip() != "Conversion failed!"
    ]
    return lines[-1][:300] if lines else "no message"


def _pydub_wav(src: Path) -> Any:
    return AudioSegment.from_file(str(src), format="wav")


def _pydub_pcm(pieces: list[bytes]) -> Any:
    return AudioSegment(data=b"".join(pieces), sample_width=2, frame_rate=8000, channels=1)


def process_file(
    path: str | Path,
    options: ProcessOptions,
    *,
    excluded: Sequence[tuple[float, float]] = (),
) -> ProcessResult:
    """Check, measure and convert one recording; the compact copy is written beside it.

    ``excluded`` are the recording's marked pauses (seconds), not counted as dead air.
    The original is never touched. Raises AudioRejected with the reason on any failure; a
    partial compact file is removed then.
    """
    src = Path(path)
    deadline = time.monotonic() + options.max_seconds
    fmt = inspect_wav(src, max_bytes=options.max_bytes)
    final = src.with_name(compact_name_for(src.name, options.output_format))
    part = final.with_name(final.name + ".part")
    in_memory = src.stat().st_size <= options.pydub_max_bytes
    converter: _Conversion | None = None
    decoded: list[bytes] | None = None
    if fmt is not None and in_memory:
        converter = _PydubConversion(lambda: _pydub_wav(src), part, options)
    elif fmt is None and in_memory:
        decoded = []  # converted from the decoded PCM once measured: decoded once
    else:
        converter = _FfmpegConversion(src, part, options)
    try:
        if fmt is not None:
            metrics = analyse_pcm(
                iter_wav_pcm(src, fmt),
                sample_rate=fmt.sample_rate,
                sample_width=fmt.sample_width,
                channels=fmt.channels,
                options=options.analysis,
                deadline=deadline,
                excluded=excluded,
            )
        else:
            metrics = analyse_pcm(
                _decoded_pieces(src, deadline, decoded),
                sample_rate=8000,
                options=options.analysis,
                deadline=deadline,
                excluded=excluded,
            )
        if converter is None:
            pieces = decoded or []
            converter = _PydubConversion(lambda: _pydub_pcm(pieces), part, options)
        converter.wait(deadline, options.max_seconds)
    except BaseException:
        if converter is not None:
            converter.abort()
        part.unlink(missing_ok=True)
        raise
    os.replace(part, final)
    return ProcessResult(metrics=metrics, compact_name=final.name)


def _wait_for_conversion(
    converter: subprocess.Popen[bytes], log: IO[bytes], deadline: float, limit: float
) -> None:
    try:
        converter.wait(timeout=max(0.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        raise AudioRejected(f"timed out: conversion took longer than {limit:g} s") from None
    if converter.returncode != 0:
        raise AudioRejected(f"conversion failed: {_stderr_tail(converter, log)}")


__all__ = [
    "WAV_HEADER_BYTES",
    "AnalysisOptions",
    "AudioMetrics",
    "PcmFormat",
    "ProcessOptions",
    "ProcessResult",
    "analyse_pcm",
    "compact_name_for",
    "inspect_wav",
    "iter_wav_pcm",
    "process_file",
]
