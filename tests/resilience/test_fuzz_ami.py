"""The AMI parser under atheris (coverage-guided, libFuzzer): a bounded run in ``make test``, a
long one with CC_SOAK=1, and the inputs it found failing, replayed on their own."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from contact_center.ami.parser import DROPPED, KEEP_ALL, FrameFilter, parse
from contact_center.ami.tracker import TRACKER_FILTER
from tests.e2e.service_support import ROOT
from tests.resilience import fuzz_ami

SOAK = pytest.mark.skipif(not os.environ.get("CC_SOAK"), reason="soak: set CC_SOAK=1")


GRANDCHILD = "import subprocess, sys; sys.exit(subprocess.run(sys.argv[1:]).returncode)"


def run_fuzzer(tmp_path: Path, *flags: str) -> tuple[str, float]:
    """``python -m tests.resilience.fuzz_ami`` on the seed corpus; (libFuzzer's log, seconds)."""
    pytest.importorskip("atheris")
    corpus = tmp_path / "corpus"
    fuzz_ami.write_seeds(corpus)
    fuzz_ami.write_dictionary(tmp_path / "ami.dict")
    started = time.monotonic()
    done = subprocess.run(
        [
            # through a small Python of its own: Linux keeps a process's peak RSS across
            # exec, so the fuzzer started straight from this (pytest) process measured the
            # test worker's memory against its 512 MB cap (an "out-of-memory" at 513 MB
            # while the fuzzer itself used 48 MB); a grandchild starts its count afresh
            sys.executable, "-c", GRANDCHILD,
            sys.executable, "-m", "tests.resilience.fuzz_ami", *flags,
            "-seed=1", "-max_len=2048", "-rss_limit_mb=512",
            f"-dict={tmp_path / 'ami.dict'}", f"-artifact_prefix={tmp_path}/", str(corpus),
        ],
        cwd=ROOT, capture_output=True, text=True, errors="replace", timeout=900,
    )  # fmt: skip
    elapsed = time.monotonic() - started
    crashes = sorted(p.name for p in tmp_path.glob("crash-*"))
    assert (0, []) == (done.returncode, crashes), done.stderr[-3000:]
    return done.stderr, elapsed


def report(log: str, elapsed: float) -> str:
    runs = re.search(r"Done (\d+) runs", log)
    last = [line for line in log.splitlines() if " cov: " in line][-1]
    rss = re.search(r"rss: (\d+)Mb", last)
    cov = re.search(r"cov: (\d+)", last)
    assert runs and rss and cov, log[-2000:]
    return (
        f"{runs[1]} inputs in {elapsed:.1f} s, 0 failures, parser branches covered {cov[1]}, "
        f"fuzzer RSS {rss[1]} MB"
    )


def test_atheris_fuzzed_frames_never_crash_keep_the_next_frame_and_cap_memory(
    tmp_path: Path,
) -> None:
    """Property: for every input libFuzzer generates (30,000, from real frames and protocol
    words), parsing junk + a good frame in any TCP chunking, through either filter, never
    raises, delivers the good frame, and never holds more bytes between reads than the frame
    cap (fuzz_ami.check); the fuzzer process stays under 512 MB."""
    log, elapsed = run_fuzzer(tmp_path, "-runs=30000")
    assert "Done 30000 runs" in log
    print(f"\natheris on the AMI parser: {report(log, elapsed)}")


@pytest.mark.soak
@pytest.mark.timeout(600)
@SOAK
def test_atheris_soak(tmp_path: Path) -> None:
    """Property: as above, for five minutes of fuzzing."""
    log, elapsed = run_fuzzer(tmp_path, "-max_total_time=300")
    print(f"\natheris soak on the AMI parser: {report(log, elapsed)}")


@pytest.mark.parametrize("frame_filter", [KEEP_ALL, TRACKER_FILTER], ids=["all", "tracker"])
@pytest.mark.parametrize(
    "junk,cuts", fuzz_ami.REGRESSIONS, ids=["crlf-split", "long-banner", "rest-of-dropped"]
)
def test_inputs_the_fuzzer_found_hold(
    junk: bytes, cuts: tuple[int, ...], frame_filter: FrameFilter
) -> None:
    """Property (regression): the inputs atheris found failing now deliver the good frame and
    keep the held bytes under the cap (without atheris installed, too)."""
    fuzz_ami.check(junk, list(cuts), frame_filter)


def test_crlf_blank_line_split_after_bare_lf_keeps_frames_apart() -> None:
    """Property (regression): a read holding a bare-LF blank line and ending inside a CRLF
    blank line ("\\r\\n\\r" | "\\n…") does not glue the next frame to the one before it."""
    first, second = b"Event: A\n\nEvent: B\r\nUniqueid: 1\r\n\r", b"\nEvent: C\r\n\r\n"
    frames, leftover = parse(first)
    more, leftover = parse(leftover + second)
    assert (["A", "B", "C"], b"") == ([f.name for f in [*frames, *more]], leftover)
    assert "1" == more[0].get("Uniqueid")


def test_banner_line_without_end_is_capped() -> None:
    """Property (regression): a peer that sends "Asterisk Call Manager/" and never a newline
    does not make the parser hold everything it sends."""
    frames, leftover = parse(b"Asterisk Call Manager/" + b"9" * 10_000, max_frame=4096)
    assert ([], DROPPED) == (frames, leftover)


def test_rest_of_a_dropped_frame_is_not_taken_for_a_frame() -> None:
    """Property (regression): when an over-long frame is dropped before its end, the bytes
    of it that come next are skipped up to its blank line, even when a read boundary puts
    "Response: Follows" (or "Event: ") at their start."""
    good = b"Event: Hangup\r\nUniqueid: 42.1\r\n\r\n"
    for word in (b"Response: Follows", b"Event: Hangup"):
        _, leftover = parse(b"Event: X\r\nValue: " + b"0" * 600, max_frame=512)
        frames, leftover = parse(leftover + word + b"0" * 50 + b"\r\n\r\n" + good, max_frame=512)
        assert ([("Hangup", "42.1")], b"") == (
            [(f.name, f.get("Uniqueid")) for f in frames],
            leftover,
        )
