"""How AMI header values are read and written (no I/O)."""

from __future__ import annotations

import re
import time


def truthy(text: str) -> bool:
    return text.strip().lower() in {"1", "true", "yes", "on"}


def parse_callerid(text: str) -> tuple[str, str]:
    match = re.fullmatch(r'\s*"?([^"<]*?)"?\s*<([^>]*)>\s*', text)
    if match:
        return match.group(2), match.group(1)
    return text.strip(), ""


def hms(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"


def event_tv(now: float) -> str:
    ms = int((now % 1) * 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{ms:03d}+0000"


def originate_variables(items: list[str]) -> dict[str, str]:
    """Originate ``Variable:`` headers (``a=1,b=2`` or one per header)."""
    variables: dict[str, str] = {}
    for item in items:
        for part in item.split(","):
            name, _, value = part.partition("=")
            if name:
                variables[name.strip()] = value
    return variables
