"""Feed a recorded AMI capture through the live parser and tracker.

``contact-center replay CAPTURE`` prints one JSON line per call, ordered by start. The capture
format is the ``jsonl-v1`` transcript of ``tests/fixtures`` (one record per socket read); reads
are fed one by one, exactly as the connector feeds TCP reads, so replay exercises the same
chunk handling as live.
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from contact_center.ami.parser import parse
from contact_center.ami.tracker import TRACKER_FILTER, CallTracker
from contact_center.calls.events import DomainEvent


def capture_reads(path: str | Path) -> Iterator[tuple[str, bytes]]:
    """(connection, bytes) of every AMI read Asterisk sent, in capture order."""
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            record = json.loads(line)
            if record.get("proto") != "ami" or record.get("dir") != "in":
                continue
            if "data_b64" in record:
                yield record["conn"], base64.b64decode(record["data_b64"])
            else:
                yield record["conn"], record["data"].encode("utf-8")


def capture_stream(path: str | Path, conn: str | None = None) -> bytes:
    """The whole byte stream of one connection (the first one when ``conn`` is None)."""
    chunks: list[bytes] = []
    for name, data in capture_reads(path):
        if conn is None:
            conn = name
        if name == conn:
            chunks.append(data)
    return b"".join(chunks)


def default_normalize() -> Callable[[str], str]:
    """The storage engineer's phone normaliser when installed, else identity."""
    try:
        from contact_center.customers.phones import normalize_number
    except ImportError:
        return lambda raw: raw

    def normalize(raw: str) -> str:
        number = normalize_number(raw)
        return number.e164 or raw

    return normalize


def _replay(
    path: str | Path, server_id: str, normalize: Callable[[str], str] | None
) -> tuple[CallTracker, list[DomainEvent]]:
    tracker = CallTracker(server_id, normalize or default_normalize())
    leftovers: dict[str, bytes] = {}
    events: list[DomainEvent] = []
    for conn, data in capture_reads(path):
        frames, leftovers[conn] = parse(leftovers.get(conn, b"") + data, TRACKER_FILTER)
        for frame in frames:
            events.extend(tracker.feed(frame))
    return tracker, events


def replay_events(
    path: str | Path, server_id: str = "pbx1", normalize: Callable[[str], str] | None = None
) -> list[DomainEvent]:
    """Every domain event the capture produces, in order."""
    return _replay(path, server_id, normalize)[1]


def replay_calls(
    path: str | Path, server_id: str = "pbx1", normalize: Callable[[str], str] | None = None
) -> list[dict[str, Any]]:
    """One record per call (ended, then still live at the end of the capture), by start time."""
    tracker, _ = _replay(path, server_id, normalize)
    states = tracker.ended_calls + list(tracker.calls.values())
    states.sort(key=lambda state: (state.started_at, state.call_id))
    return [state.as_record() for state in states]


def add_arguments_cmd_replay(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("capture", help="AMI capture (jsonl-v1 transcript)")
    parser.add_argument("--server", default="pbx1", help="server id to stamp on the calls")
    parser.add_argument(
        "--events", action="store_true", help="print domain events instead of calls"
    )


def cmd_replay(args: argparse.Namespace) -> int:
    path = Path(args.capture)
    if not path.is_file():
        print(f"replay: no such capture file: {path}", file=sys.stderr)
        return 2
    if args.events:
        from contact_center.calls.events import to_dict

        for event in replay_events(path, args.server):
            print(json.dumps(to_dict(event), ensure_ascii=False))
        return 0
    for record in replay_calls(path, args.server):
        print(json.dumps(record, ensure_ascii=False))
    return 0
