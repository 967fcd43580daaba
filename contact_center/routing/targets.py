"""Validation of targets typed by users (transfer destinations, numbers to call).

Anything a user types ends up in an AMI action: it is checked against a short allow-list of
shapes, and never reaches an Application (CVE-2024-42365) or carries CR/LF.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

EXTENSION = re.compile(r"^[0-9]{2,6}$")
QUEUE = re.compile(r"^[a-z][a-z0-9_-]{0,39}$")
EXTERNAL = re.compile(r"^\+?[0-9]{5,15}$")
INTERFACE = re.compile(r"^(PJSIP|SIP|IAX2|Local)/[A-Za-z0-9_.@-]{1,64}$")


class InvalidTarget(ValueError):
    """A target a user typed is not allowed."""


@dataclass(frozen=True, slots=True)
class Target:
    kind: str  # extension | queue | external
    value: str
    context: str
    exten: str


def parse_target(
    text: str, *, transfer_context: str = "transfer-targets", external_context: str = "cc-originate"
) -> Target:
    """Turn user input into a dialplan destination, or raise InvalidTarget with the reason."""
    if any(c in text for c in "\r\n\x00"):
        raise InvalidTarget("control characters are not allowed in a target")
    value = (
        text.strip().replace(" ", "").replace("-", "")
        if text.strip().startswith("+")
        else text.strip()
    )
    if EXTENSION.fullmatch(value):
        return Target("extension", value, transfer_context, value)
    if QUEUE.fullmatch(value):
        return Target("queue", value, transfer_context, value)
    if EXTERNAL.fullmatch(value):
        return Target("external", value, external_context, value)
    raise InvalidTarget(f"not an extension, queue or phone number: {text[:40]!r}")


def check_interface(interface: str) -> str:
    if not INTERFACE.fullmatch(interface):
        raise InvalidTarget(f"not a device interface: {interface[:40]!r}")
    return interface
