"""``contact-center stats CAPTURE``: the live figures a capture produces, as JSON.

The capture goes through the same parser and call tracker as live (``ami.replay``) and the same
:class:`~contact_center.stats.metrics.LiveMetrics` as the wallboard, so the numbers printed
here are the numbers a supervisor would have seen at the end of the capture.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from contact_center.config import ConfigError, load_settings
from contact_center.stats.metrics import LiveMetrics, MetricsConfig

# what the command prints per queue and per operator (the wallboard has more: charts, since…)
QUEUE_FIELDS = (
    "offered", "answered", "answered_in_sl", "abandoned", "short_abandoned", "left",
    "callbacks", "transferred", "completed", "service_level_seconds", "service_level_pct",
    "abandon_rate_pct", "asa_seconds", "aht_seconds", "avg_talk_seconds", "talk_seconds",
    "wrapup_seconds", "waiting", "longest_wait_seconds", "max_wait_seconds",
)  # fmt: skip
OPERATOR_FIELDS = ("name", "state", "calls", "talk_seconds", "pause_seconds", "wrapup_seconds")


def add_arguments_cmd_stats(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("capture", help="AMI capture (jsonl-v1 transcript)")
    parser.add_argument(
        "--service-level-seconds",
        type=int,
        default=None,
        metavar="N",
        help="service level threshold for every queue (default: [stats])",
    )
    parser.add_argument("--server-id", default="pbx1", help="Asterisk server id")


def figures_for_capture(
    path: str | Path, config: MetricsConfig, server_id: str = "pbx1"
) -> dict[str, Any]:
    """Per-queue and per-operator figures at the last event of the capture."""
    from contact_center.ami.replay import replay_events

    events = replay_events(path, server_id=server_id)
    metrics = LiveMetrics(config)
    metrics.apply_all(events)
    snapshot = metrics.snapshot(metrics.last_at).to_dict()
    return {
        "capture": Path(path).name,
        "day": snapshot["day"],
        "queues": {name: {f: q[f] for f in QUEUE_FIELDS} for name, q in snapshot["queues"].items()},
        "operators": {
            iface: {f: o[f] for f in OPERATOR_FIELDS} for iface, o in snapshot["operators"].items()
        },
    }


def cmd_stats(args: argparse.Namespace) -> int:
    try:
        settings = load_settings(getattr(args, "config", None))
        config = MetricsConfig.from_settings(
            settings, service_level_seconds=args.service_level_seconds
        )
    except ConfigError as exc:
        print(f"contact-center stats: {exc}", file=sys.stderr)
        return 2
    if not Path(args.capture).is_file():
        print(f"contact-center stats: {args.capture}: no such capture file", file=sys.stderr)
        return 2
    figures = figures_for_capture(args.capture, config, args.server_id)
    json.dump(figures, sys.stdout, indent=2, sort_keys=False)
    sys.stdout.write("\n")
    return 0
