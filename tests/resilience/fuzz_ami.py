"""Coverage-guided fuzzing (atheris, libFuzzer) of the AMI parser.

Each input becomes junk bytes followed by one good frame, fed to :func:`parse` in up to six
TCP reads cut where the input says, through either frame filter the service uses. The
properties, checked on every input: ``parse`` never raises; the good frame after the junk is
delivered; the bytes the parser holds between reads never exceed its frame cap.

    python -m tests.resilience.fuzz_ami -runs=50000 -seed=1 [CORPUS_DIR]

takes libFuzzer's flags. A failing input is written as ``crash-<sha1>`` (``-artifact_prefix``)
and the process exits non-zero; replay it with ``python -m tests.resilience.fuzz_ami FILE``.
``tests/resilience/test_fuzz_ami.py`` runs it bounded in ``make test``, longer with CC_SOAK=1.
"""

from __future__ import annotations

import functools
import logging
import sys
import types
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from contact_center.ami import parser
from contact_center.ami.parser import END_COMMAND_BYTES, KEEP_ALL, Frame, FrameFilter, parse
from contact_center.ami.tracker import TRACKER_FILTER

GOOD = b"Event: Hangup\r\nPrivilege: call,all\r\nUniqueid: 42.1\r\nLinkedid: 42.1\r\n\r\n"
# Small, so inputs of libFuzzer's default length (4 KiB) reach the cap and its drop paths.
MAX_FRAME = 512
MAX_READS = 6
# Real AMI frames, so the fuzzer starts from the protocol's shape rather than from nothing.
SEEDS = (
    b"Asterisk Call Manager/11.0.0\r\n" + GOOD,
    b"Response: Success\r\nActionID: c-1\r\nMessage: Authentication accepted\r\n\r\n",
    b"Event: Newchannel\r\nPrivilege: call,all\r\nChannel: PJSIP/trunk-00000001\r\n"
    b"CallerIDNum: +74951234567\r\nCallerIDName: Response: Follows\r\nUniqueid: 1.1\r\n"
    b"Linkedid: 1.1\r\n\r\n",
    b"Event: VarSet\r\nVariable: MIXMONITOR_FILENAME\r\nValue: /spool/a.wav\r\n\r\n",
    b"Response: Follows\r\nPrivilege: Command\r\nline one\r\n\r\nline two\r\n"
    b"--END COMMAND--\r\n\r\n",
    b"Event: QueueMember\r\nActionID: c-2\r\nEventList: start\n\nResponse: Error\n\n",
)
# Inputs that failed once, as (junk, cuts): replayed first in every run.
REGRESSIONS: tuple[tuple[bytes, tuple[int, ...]], ...] = (
    # a bare-LF blank line, then the CRLF blank line before the good frame split "\r\n\r" |
    # "\n": the leftover was normalised to "\n\r\n", which glued the good frame to the junk
    (b"Event: Newchannel\n\nUniqueid: 1", (33,)),
    # a banner line that never ends: held whole between reads, past any cap
    (b"Asterisk Call Manager/" + b"9" * 1000, (900,)),
    # an over-long frame dropped before its end, whose rest (after a read boundary) began
    # with "Response: Follows": taken for command output, it held back every later frame
    (b"Event: X\r\nValue: " + b"0" * 600 + b"Response: Follows" + b"0" * 100, (617,)),
)

# Protocol words for libFuzzer's -dict: markers the parser branches on.
DICTIONARY = (
    b"Asterisk Call Manager/",
    b"Event: ",
    b"Response: ",
    b"Response: Follows",
    b"--END COMMAND--",
    b"ActionID: ",
    b"Variable: MIXMONITOR_FILENAME",
    b"EventList: start",
    b"\r\n",
    b"\r\n\r\n",
    b"\n\n",
)


def opens_command_body(junk: bytes) -> bool:
    """Whether a frame of ``junk`` *begins* with "Response: Follows": legacy command output,
    which only --END COMMAND-- ends (Asterisk always sends it; the connector never asks)."""
    return any(line.lstrip().startswith(parser.FOLLOWS_BYTES) for line in junk.splitlines())


def stream_of(junk: bytes) -> bytes:
    """The junk, a blank line, the terminator a real command body would get, the good frame."""
    end = END_COMMAND_BYTES + b"\r\n\r\n" if opens_command_body(junk) else b""
    return junk + b"\r\n\r\n" + end + GOOD


def feed(
    stream: bytes, cuts: list[int], frame_filter: FrameFilter, max_frame: int = MAX_FRAME
) -> tuple[list[Frame], int]:
    """Parse ``stream`` split at ``cuts`` as TCP reads; (frames, most bytes held between reads)."""
    frames: list[Frame] = []
    leftover = b""
    held = 0
    start = 0
    for cut in [*sorted(c % (len(stream) + 1) for c in cuts), len(stream)]:
        chunk, start = stream[start:cut], max(start, cut)
        got, leftover = parse(leftover + chunk, frame_filter, max_frame=max_frame)
        frames.extend(got)
        held = max(held, len(leftover))
    return frames, held


def check(junk: bytes, cuts: list[int], frame_filter: FrameFilter) -> None:
    """Raise AssertionError when a property fails (not ``assert``: ``-O`` must not skip it)."""
    stream = stream_of(junk)
    frames, held = feed(stream, cuts, frame_filter)
    if not any(f.name == "Hangup" and f.get("Uniqueid") == "42.1" for f in frames):
        raise AssertionError(f"good frame lost after {junk[:300]!r} cut at {cuts}")
    if held > MAX_FRAME:
        raise AssertionError(f"parser held {held} bytes > cap {MAX_FRAME} for {junk[:300]!r}")


def decode(data: bytes) -> tuple[bytes, list[int], FrameFilter]:
    """An input's layout: one byte (bit 0: the tracker's filter, bits 1-3: how many reads are
    cut short), two bytes per cut, then the junk."""
    if not data:
        return b"", [], KEEP_ALL
    flags, count = data[0], min((data[0] >> 1) & 7, MAX_READS)
    cuts = [int.from_bytes(data[1 + 2 * i : 3 + 2 * i], "big") for i in range(count)]
    frame_filter = TRACKER_FILTER if flags & 1 else KEEP_ALL
    return data[1 + 2 * count :], cuts, frame_filter


def encode(junk: bytes, cuts: Sequence[int] = (), tracker_filter: bool = False) -> bytes:
    flags = (len(cuts) << 1) | int(tracker_filter)
    return bytes([flags]) + b"".join(c.to_bytes(2, "big") for c in cuts) + junk


def one_input(data: bytes) -> None:
    check(*decode(data))


def write_seeds(corpus: Path) -> None:
    """The seed frames as inputs, through both filters, whole and cut mid-frame."""
    corpus.mkdir(parents=True, exist_ok=True)
    for i, seed in enumerate(SEEDS):
        for tracker_filter in (False, True):
            for cuts in ((), (len(seed) // 2,), (len(seed) - 3,)):
                name = f"seed-{i}-{int(tracker_filter)}-{len(cuts)}"
                (corpus / name).write_bytes(encode(seed, cuts, tracker_filter))
    for i, (junk, cuts) in enumerate(REGRESSIONS):
        (corpus / f"regression-{i}").write_bytes(encode(junk, cuts))


def write_dictionary(path: Path) -> None:
    """The protocol words in libFuzzer's dictionary format (``-dict=PATH``)."""
    lines = ('"' + "".join(f"\\x{b:02x}" for b in word) + '"' for word in DICTIONARY)
    path.write_text("\n".join(lines) + "\n")


def instrument_parser() -> None:
    """Coverage for the parser's functions only (it is imported before atheris can hook
    imports): libFuzzer then steers by the parser's branches, not the harness's."""
    import atheris

    for value in vars(parser).values():
        func: Any = value
        if isinstance(func, functools._lru_cache_wrapper):
            func = func.__wrapped__
        if isinstance(func, types.FunctionType) and func.__module__ == parser.__name__:
            atheris.instrument_func(func)


def main(argv: list[str]) -> None:
    import atheris

    logging.disable(logging.WARNING)  # the parser logs every skipped frame: millions here
    instrument_parser()
    atheris.Setup(argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main(sys.argv)
