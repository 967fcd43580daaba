"""Recording post-processing: audio hours processed per minute, ours vs ffmpeg alone.

Same files, same run, one file at a time on one core each:

(a) ffmpeg converting WAV → MP3 (what any pipeline must at least pay);
(b) ffmpeg converting *and* measuring in one process (``silencedetect`` + ``volumedetect`` on
    a second output) — ffmpeg alone doing the whole job;
(c) ours: ``process_file`` — header checks, streaming measurements (duration, loudness, dead
    air, clipping, waveform peaks) while pydub (``from_file(...).export(...)``, running ffmpeg)
    converts in a thread;
(d) optional ``--pydub``: pydub ``AudioSegment`` + ``detect_silence`` (seek_step=1) + export on
    the first file, the approach the issue measured 30× slower than ffmpeg.

The files are 8 kHz 16-bit mono WAVs like MixMonitor writes: speech-like noisy tones with
pauses of known length.

    .venv/bin/python -m bench.bench_recording [--files 6] [--minutes 5] [--pydub]
"""

from __future__ import annotations

import argparse
import json
import math
import random
import subprocess
import tempfile
import time
import wave
from array import array
from pathlib import Path
from typing import Any

from contact_center.recording.process import ProcessOptions, process_file

RATE = 8000


def pattern(seed: int) -> bytes:
    """10 s: 3 s voice, 2 s pause, 4 s voice, 1 s pause (voice = tone + noise, like speech)."""
    rnd = random.Random(seed)
    samples = array("h")
    for seconds, voiced in ((3, True), (2, False), (4, True), (1, False)):
        for i in range(seconds * RATE):
            if voiced:
                value = 6000 * math.sin(2 * math.pi * (180 + 40 * (i // 4000 % 3)) * i / RATE)
                value += rnd.gauss(0, 1500)
            else:
                value = rnd.gauss(0, 30)  # line noise, well under the dead-air threshold
            samples.append(max(-32768, min(32767, int(value))))
    return samples.tobytes()


def make_files(folder: Path, count: int, minutes: float) -> list[Path]:
    paths = []
    for n in range(count):
        block = pattern(n)
        repeats = max(1, int(minutes * 60 / 10))
        path = folder / f"bench-{n}.wav"
        with wave.open(str(path), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(RATE)
            w.writeframes(block * repeats)
        paths.append(path)
    return paths


def ffmpeg_convert(src: Path, dst: Path) -> None:
    subprocess.run(
        [
            "ffmpeg",
            "-nostdin",
            "-hide_banner",
            "-loglevel",
            "error",
            "-y",
            "-i",
            str(src),
            "-ac",
            "1",
            "-c:a",
            "libmp3lame",
            "-b:a",
            "24k",
            str(dst),
        ],
        check=True,
    )


def ffmpeg_convert_and_measure(src: Path, dst: Path) -> None:
    subprocess.run(
        [
            "ffmpeg",
            "-nostdin",
            "-hide_banner",
            "-loglevel",
            "info",
            "-y",
            "-i",
            str(src),
            "-map",
            "0:a",
            "-ac",
            "1",
            "-c:a",
            "libmp3lame",
            "-b:a",
            "24k",
            str(dst),
            "-map",
            "0:a",
            "-af",
            "silencedetect=noise=-45dB:d=1,volumedetect",
            "-f",
            "null",
            "-",
        ],
        check=True,
        capture_output=True,
    )


def pydub_way(src: Path, dst: Path) -> None:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from pydub import AudioSegment, silence

    segment = AudioSegment.from_wav(str(src))
    silence.detect_silence(segment, min_silence_len=1000, silence_thresh=-45, seek_step=1)
    _ = segment.dBFS
    segment.export(str(dst), format="mp3", bitrate="24k")


def clock(run: Any, *args: Any) -> float:
    start = time.perf_counter()
    run(*args)
    return time.perf_counter() - start


def interleaved(files: list[Path], out: Path) -> tuple[dict[str, float], list[Any]]:
    """Each file through every contender in turn, so load drift hits all of them alike."""
    options = ProcessOptions(max_bytes=4 * 1024**3, max_seconds=3600)
    totals = {"ffmpeg": 0.0, "ffmpeg_full": 0.0, "ours": 0.0}
    results = []
    for path in files:
        totals["ffmpeg"] += clock(ffmpeg_convert, path, out / f"{path.stem}.ffmpeg.mp3")
        totals["ffmpeg_full"] += clock(
            ffmpeg_convert_and_measure, path, out / f"{path.stem}.full.mp3"
        )
        start = time.perf_counter()
        results.append(process_file(path, options))
        totals["ours"] += time.perf_counter() - start
    return totals, results


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=6)
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--pydub", action="store_true", help="also time pydub on one file")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-recording-") as tmp:
        folder = Path(tmp)
        files = make_files(folder, args.files, args.minutes)
        audio_hours = args.files * args.minutes / 60
        clock(ffmpeg_convert, files[0], folder / "warm.mp3")  # page cache and binary warm
        totals, results = interleaved(files, folder)
        ffmpeg_s, ffmpeg_full_s, ours_s = totals["ffmpeg"], totals["ffmpeg_full"], totals["ours"]
        figures: dict[str, Any] = {
            "files": args.files,
            "minutes_each": args.minutes,
            "audio_hours": round(audio_hours, 3),
            "ffmpeg_convert_seconds": round(ffmpeg_s, 3),
            "ffmpeg_convert_and_measure_seconds": round(ffmpeg_full_s, 3),
            "ours_seconds": round(ours_s, 3),
            "ffmpeg_hours_per_minute": round(audio_hours / (ffmpeg_s / 60), 1),
            "ours_hours_per_minute": round(audio_hours / (ours_s / 60), 1),
            "ratio_ours_vs_ffmpeg_convert": round(ours_s / ffmpeg_s, 3),
            "ratio_ours_vs_ffmpeg_convert_and_measure": round(ours_s / ffmpeg_full_s, 3),
            "target_ratio": 1.5,
            "dead_air_share_measured": results[0].metrics.silence_share,
            "dead_air_share_expected": 0.3,
        }
        if args.pydub:
            pydub_s = clock(pydub_way, files[0], folder / "pydub.mp3")
            per_file_ffmpeg = ffmpeg_full_s / len(files)
            figures["pydub_one_file_seconds"] = round(pydub_s, 3)
            figures["ratio_pydub_vs_ffmpeg_convert_and_measure"] = round(
                pydub_s / per_file_ffmpeg, 2
            )
    return figures


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
