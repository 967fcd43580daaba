"""Structured logs: one JSON object per line, or plain text for a terminal.

Each JSON line has ``time`` (UTC ISO 8601), ``level``, ``logger``, ``message``, and any
context passed with ``extra=`` — ``log.info("answered", extra={"call_id": linkedid})`` gives
``"call_id": "…"`` — plus ``exc`` with the traceback when one is logged. Secrets must never
be put in ``extra``.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import IO, Any

from contact_center.config import GeneralSettings

# Attributes every LogRecord has; anything else on a record came from ``extra=``.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "taskName",
}
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class JsonFormatter(logging.Formatter):
    """A log record as one line of JSON."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        # default=str: a stray object in extra= must not lose the whole line.
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure(
    level: str = "INFO", *, json_lines: bool = False, stream: IO[str] | None = None
) -> None:
    """Send the root logger to ``stream`` (stderr) as JSON lines or text, at ``level``."""
    numeric = logging.getLevelNamesMapping().get(level.upper())
    if numeric is None:
        raise ValueError(f"unknown log level {level!r}")
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if json_lines else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(numeric)


def configure_from_settings(general: GeneralSettings, *, stream: IO[str] | None = None) -> None:
    """``configure`` from ``general.log_level`` / ``general.log_json``."""
    configure(general.log_level, json_lines=general.log_json, stream=stream)
