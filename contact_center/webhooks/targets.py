"""Which URLs a subscription may point at, and which events it may ask for."""

from __future__ import annotations

from urllib.parse import urlsplit

from contact_center.webhooks.errors import InvalidTarget, UnknownEventKind

# What other systems subscribe to. ``call.disposition`` is the operator's disposition of a
# call (an ``operator.action`` with action "disposition"), sent after the call ended.
WEBHOOK_KINDS: tuple[str, ...] = (
    "call.arrived",
    "call.offered",
    "call.answered",
    "call.abandoned",
    "call.ended",
    "call.disposition",
    "call.callback_requested",
    "recording.ready",
    "call.charged",
)
MAX_URL_LENGTH = 400


def validate_target_url(url: str) -> str:
    """The URL, stripped, if it is an absolute http(s) URL safe to put in a request line.

    CR/LF and other control characters are refused outright: they could split the request
    or inject headers in a client that does not escape them.
    """
    url = url.strip()
    if not url:
        raise InvalidTarget(url, "empty")
    if len(url) > MAX_URL_LENGTH:
        raise InvalidTarget(url, f"longer than {MAX_URL_LENGTH} characters")
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in url) or " " in url:
        raise InvalidTarget(url, "contains spaces, CR/LF or other control characters")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise InvalidTarget(url, "only http and https URLs are allowed")
    if not parts.hostname:
        raise InvalidTarget(url, "no host")
    if parts.username or parts.password:
        raise InvalidTarget(url, "credentials in the URL would be stored in clear; use the secret")
    try:
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError:
        raise InvalidTarget(url, "malformed port") from None
    return url


def validate_kinds(kinds: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """The distinct kinds in catalogue order; at least one, all known."""
    chosen = {k.strip() for k in kinds if k.strip()}
    for kind in chosen:
        if kind not in WEBHOOK_KINDS:
            raise UnknownEventKind(kind, WEBHOOK_KINDS)
    if not chosen:
        raise UnknownEventKind("", WEBHOOK_KINDS)
    return tuple(k for k in WEBHOOK_KINDS if k in chosen)
