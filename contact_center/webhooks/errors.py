"""Errors of the webhooks package."""

from __future__ import annotations


class WebhookError(Exception):
    """Base of webhook errors."""


class InvalidTarget(WebhookError, ValueError):
    """A subscription's URL cannot be used as a webhook target."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"webhook URL {url[:200]!r} refused: {reason}")
        self.reason = reason


class TargetRefused(WebhookError, OSError):
    """A connection to this address is not allowed (an OSError, so the HTTP client reports
    it as a failed connection and opens no socket)."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"webhook target refused: {reason}")
        self.reason = reason


class UnknownEventKind(WebhookError, ValueError):
    def __init__(self, kind: str, known: tuple[str, ...]) -> None:
        super().__init__(
            f"unknown webhook event kind {kind[:80]!r} (expected one of {', '.join(known)})"
        )


class NotFound(WebhookError, LookupError):
    def __init__(self, what: str, ident: int) -> None:
        super().__init__(f"no {what} with id {ident}")
