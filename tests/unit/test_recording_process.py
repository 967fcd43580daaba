"""Measurements and checks of recording files (synthesised audio with known content)."""

from __future__ import annotations

import shutil
import struct
import subprocess
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from contact_center.recording.errors import AudioRejected
from contact_center.recording.process import (
    AnalysisOptions,
    ProcessOptions,
    analyse_pcm,
    inspect_wav,
    iter_wav_pcm,
    process_file,
)
from tests.conftest import FIXTURES
from tests.unit.recording_audio import silence, square, tone, write_wav

REAL_CALL = FIXTURES / "02-inbound-ivr-queue-answered.recording.wav"
NEVER_BRIDGED = FIXTURES / "03-queue-abandon.recording.wav"


def measure(path: Path, options: AnalysisOptions = AnalysisOptions()):  # type: ignore[no-untyped-def]
    fmt = inspect_wav(path, max_bytes=10**9)
    assert fmt is not None
    return analyse_pcm(
        iter_wav_pcm(path, fmt),
        sample_rate=fmt.sample_rate,
        sample_width=fmt.sample_width,
        channels=fmt.channels,
        options=options,
    )


def ffprobe_duration(path: Path) -> float:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", path],
        capture_output=True,
        text=True,
        check=True,
    )
    return float(out.stdout.strip())


def test_known_silence_is_measured(tmp_path: Path) -> None:
    path = write_wav(tmp_path / "a.wav", [tone(3), silence(4), tone(2), silence(0.5), tone(0.5)])

    metrics = measure(path)

    assert 10.0 == metrics.duration_seconds
    # Only the 4 s gap is dead air; the 0.5 s pause is normal speech rhythm.
    assert 0.4 == metrics.silence_share
    assert 4.0 == metrics.longest_silence_seconds
    assert 0.0 == metrics.clipping_share


def test_marked_pauses_are_not_dead_air(tmp_path: Path) -> None:
    # 2 s speech, 5 s muted for a card number, 2 s speech, 3 s real dead air.
    path = write_wav(tmp_path / "a.wav", [tone(2), silence(5), tone(2), silence(3)])
    fmt = inspect_wav(path, max_bytes=10**6)
    assert fmt is not None

    metrics = analyse_pcm(iter_wav_pcm(path, fmt), sample_rate=8000, excluded=[(2.0, 7.0)])

    assert 0.25 == metrics.silence_share
    assert 3.0 == metrics.longest_silence_seconds


def test_loudness_of_a_half_scale_sine_is_minus_9_dbfs(tmp_path: Path) -> None:
    path = write_wav(tmp_path / "a.wav", [tone(2, amplitude=0.5)])

    metrics = measure(path)

    assert metrics.loudness_dbfs is not None
    assert -9.03 == pytest.approx(metrics.loudness_dbfs, abs=0.05)
    assert 0.5 == pytest.approx(max(metrics.peaks), abs=0.01)


def test_digital_silence_has_no_loudness(tmp_path: Path) -> None:
    metrics = measure(write_wav(tmp_path / "a.wav", [silence(3)]))

    assert None is metrics.loudness_dbfs
    assert 1.0 == metrics.silence_share
    assert 3.0 == metrics.longest_silence_seconds


def test_clipping_share_counts_full_scale_samples(tmp_path: Path) -> None:
    metrics = measure(write_wav(tmp_path / "a.wav", [square(1), tone(3, amplitude=0.3)]))

    assert 0.25 == metrics.clipping_share


def test_peaks_are_bounded_and_cover_the_duration(tmp_path: Path) -> None:
    path = write_wav(tmp_path / "a.wav", [tone(30, amplitude=0.8), silence(30)])

    metrics = measure(path, AnalysisOptions(max_peaks=100))

    assert len(metrics.peaks) <= 100
    assert 60.0 == pytest.approx(len(metrics.peaks) * metrics.seconds_per_peak, abs=1.0)
    half = len(metrics.peaks) // 2
    assert all(p == pytest.approx(0.8, abs=0.01) for p in metrics.peaks[: half - 1])
    assert all(p == 0.0 for p in metrics.peaks[half + 1 :])


def test_stereo_is_measured_as_mono(tmp_path: Path) -> None:
    path = write_wav(tmp_path / "a.wav", [tone(2), silence(3)], channels=2)

    metrics = measure(path)

    assert 5.0 == metrics.duration_seconds
    assert 0.6 == metrics.silence_share


def test_real_mixmonitor_capture() -> None:
    metrics = measure(REAL_CALL)

    # 47 840 frames at 8 kHz. Local channels carry no media, so MixMonitor wrote silence.
    assert 5.98 == metrics.duration_seconds
    assert 1.0 == metrics.silence_share


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda p: p.write_bytes(b""), "empty: the file has no bytes"),
        (lambda p: shutil.copy(NEVER_BRIDGED, p), "empty: WAV header only"),
        (lambda p: p.write_bytes(REAL_CALL.read_bytes()[:5000]), "truncated: WAV header declares"),
        (
            lambda p: p.write_bytes(REAL_CALL.read_bytes()[:40] + b"\0\0\0\0" + b"\1" * 800),
            "truncated: WAV header was never finalised",
        ),
        (lambda p: p.write_bytes(b"RIFF\x10\0\0\0WAVEjunk\xff\xff\0\0"), "corrupt: WAV file"),
        (
            lambda p: p.write_bytes(
                b"RIFF\x24\0\0\0WAVEfmt \x10\0\0\0"
                + struct.pack("<HHIIHH", 1, 0, 0, 0, 0, 3)
                + b"data\0\0\0\0"
            ),
            "corrupt: impossible WAV format",
        ),
    ],
    ids=["zero-bytes", "header-only", "truncated", "unfinalised", "no-data-chunk", "bad-fmt"],
)
def test_broken_files_are_rejected_with_the_reason(tmp_path: Path, make, reason: str) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "r.wav"
    make(path)

    with pytest.raises(AudioRejected) as caught:
        process_file(path, ProcessOptions())

    assert caught.value.reason.startswith(reason), caught.value.reason
    assert path.exists()
    assert [path] == list(tmp_path.iterdir())  # no compact copy, no leftover .part


def test_huge_file_is_rejected_before_reading(tmp_path: Path) -> None:
    path = write_wav(tmp_path / "big.wav", [tone(2)])

    with pytest.raises(AudioRejected) as caught:
        process_file(path, ProcessOptions(max_bytes=10_000))

    assert (
        f"too large: {path.stat().st_size} bytes, the limit is 10000 bytes" == caught.value.reason
    )


def test_garbage_that_is_not_wav_is_corrupt(tmp_path: Path) -> None:
    path = tmp_path / "r.wav"
    path.write_bytes(b"\x13\x37" * 3000)

    with pytest.raises(AudioRejected) as caught:
        process_file(path, ProcessOptions())

    assert caught.value.reason.startswith("corrupt: ffmpeg cannot decode it")


@pytest.mark.parametrize("fmt", ["mp3", "opus"])
def test_process_file_writes_a_compact_copy_beside_the_original(tmp_path: Path, fmt: str) -> None:
    path = write_wav(tmp_path / "20261122-104833-1795344512.1.wav", [tone(3), silence(3)])

    result = process_file(path, ProcessOptions(output_format=fmt))

    compact = tmp_path / result.compact_name
    assert f"20261122-104833-1795344512.1.{fmt}" == result.compact_name
    assert path.exists()  # the worker deletes the original only after the row is saved
    assert compact.stat().st_size < path.stat().st_size / 3
    # MP3 framing pads the end a little.
    assert 6.0 == pytest.approx(ffprobe_duration(compact), abs=0.25)
    assert 0.5 == result.metrics.silence_share


def test_non_pcm_input_is_decoded_by_ffmpeg(tmp_path: Path) -> None:
    wav = write_wav(tmp_path / "src.wav", [tone(2), silence(2)])
    alaw = tmp_path / "call.wav"  # WAV with a-law samples (format 6), as MixMonitor can write
    subprocess.run(["sox", wav, "-e", "a-law", alaw], check=True)
    assert inspect_wav(alaw, max_bytes=10**6) is None  # not linear PCM: ffmpeg decodes it

    result = process_file(alaw, ProcessOptions())

    assert 4.0 == pytest.approx(result.metrics.duration_seconds, abs=0.05)
    assert 0.5 == pytest.approx(result.metrics.silence_share, abs=0.03)


def test_silence_agrees_with_ffmpeg_silencedetect(tmp_path: Path) -> None:
    path = write_wav(tmp_path / "a.wav", [tone(2), silence(3), tone(1), silence(1.5), tone(2.5)])
    out = subprocess.run(
        [
            "ffmpeg",
            "-nostdin",
            "-hide_banner",
            "-i",
            path,
            "-af",
            "silencedetect=noise=-45dB:d=1",
            "-f",
            "null",
            "-",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    ffmpeg_silence = sum(
        float(line.rsplit("silence_duration:", 1)[1])
        for line in out.stderr.splitlines()
        if "silence_duration:" in line
    )

    metrics = measure(path)

    assert ffmpeg_silence == pytest.approx(
        metrics.silence_share * metrics.duration_seconds, abs=0.1
    )


def test_time_limit_stops_the_work_and_cleans_up(tmp_path: Path) -> None:
    path = write_wav(tmp_path / "long.wav", [tone(20)])

    with pytest.raises(AudioRejected) as caught:
        process_file(path, ProcessOptions(max_seconds=0.0))

    assert caught.value.reason.startswith("timed out")
    assert [path] == list(tmp_path.iterdir())


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    audio_format=st.sampled_from([1, 0xFFFE, 6, 0]),
    channels=st.integers(0, 10),
    rate=st.sampled_from([0, 1, 8000, 16000, 44100, 10**9]),
    bits=st.sampled_from([0, 8, 16, 24, 32, 12]),
    declared=st.integers(0, 2**32 - 1),
    payload=st.binary(max_size=4000),
    junk=st.binary(max_size=40),
)
# One full-scale sample: under a millisecond, it used to be "measured" as 0.0 s long.
@example(audio_format=1, channels=1, rate=8000, bits=16, declared=2, payload=b"\xff\x7f", junk=b"")
def test_any_wav_shaped_bytes_are_measured_or_rejected_never_crash(
    tmp_path: Path,
    audio_format: int,
    channels: int,
    rate: int,
    bits: int,
    declared: int,
    payload: bytes,
    junk: bytes,
) -> None:
    fmt_chunk = b"fmt " + struct.pack("<IHHIIHH", 16, audio_format, channels, rate, 0, 0, bits)
    body = junk + fmt_chunk + b"data" + struct.pack("<I", declared) + payload
    path = tmp_path / "fuzz.wav"
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body) + 4) + b"WAVE" + body)
    try:
        fmt = inspect_wav(path, max_bytes=10**6)
        if fmt is not None:
            metrics = analyse_pcm(
                iter_wav_pcm(path, fmt),
                sample_rate=fmt.sample_rate,
                sample_width=fmt.sample_width,
                channels=fmt.channels,
            )
            assert 0 <= metrics.silence_share <= 1 and 0 <= metrics.clipping_share <= 1
            assert metrics.duration_seconds > 0
    except AudioRejected as exc:
        assert exc.reason.split(":")[0] in {"empty", "truncated", "corrupt", "too large"}


class ExportSpy:
    """Wraps pydub's ``AudioSegment.export`` to see which files went through pydub."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        from contact_center.recording import process

        self.calls: list[dict[str, object]] = []
        real = process.AudioSegment.export

        def export(segment, out_f=None, **kwargs):  # type: ignore[no-untyped-def]
            self.calls.append({"seconds": round(segment.duration_seconds, 2), **kwargs})
            return real(segment, out_f, **kwargs)

        monkeypatch.setattr(process.AudioSegment, "export", export)


@pytest.mark.parametrize(("fmt", "container"), [("mp3", "mp3"), ("opus", "ogg")])
def test_compact_copy_is_exported_by_pydub(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fmt: str, container: str
) -> None:
    spy = ExportSpy(monkeypatch)
    path = write_wav(tmp_path / "call.wav", [tone(2), silence(2)])

    result = process_file(path, ProcessOptions(output_format=fmt, bitrate="32k"))

    assert [(4.0, container, "32k")] == [
        (c["seconds"], c["format"], c["bitrate"]) for c in spy.calls
    ]
    assert 4.0 == pytest.approx(ffprobe_duration(tmp_path / result.compact_name), abs=0.25)
    assert 0.5 == result.metrics.silence_share  # measured by our pass, not pydub
    assert sorted(["call.wav", f"call.{fmt}"]) == sorted(p.name for p in tmp_path.iterdir())


def test_non_pcm_input_is_decoded_once_and_exported_by_pydub(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spy = ExportSpy(monkeypatch)
    wav = write_wav(tmp_path / "src.wav", [tone(2), silence(1)])
    alaw = tmp_path / "call.wav"
    subprocess.run(["sox", wav, "-e", "a-law", alaw], check=True)
    wav.unlink()

    result = process_file(alaw, ProcessOptions())

    assert [3.0] == [c["seconds"] for c in spy.calls]
    assert 3.0 == pytest.approx(ffprobe_duration(tmp_path / result.compact_name), abs=0.25)


def test_files_above_the_pydub_limit_stream_through_ffmpeg(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spy = ExportSpy(monkeypatch)
    path = write_wav(tmp_path / "long.wav", [tone(3)])

    result = process_file(path, ProcessOptions(pydub_max_bytes=path.stat().st_size - 1))

    assert [] == spy.calls  # never loaded into memory
    assert 3.0 == pytest.approx(ffprobe_duration(tmp_path / result.compact_name), abs=0.25)


def test_pydub_conversion_failure_is_rejected_with_the_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scratch = tmp_path / "scratch"  # where pydub puts its temporary copies
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    path = write_wav(tmp_path / "call.wav", [tone(1)])

    with pytest.raises(AudioRejected) as caught:
        process_file(path, ProcessOptions(bitrate="not-a-bitrate"))

    assert caught.value.reason.startswith("conversion failed: "), caught.value.reason
    assert "incorrect parameters such as bit_rate" in caught.value.reason
    assert sorted([path, scratch]) == sorted(tmp_path.iterdir())  # original kept, no .part
    assert [] == list(scratch.iterdir())  # pydub's leftovers removed
