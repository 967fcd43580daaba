"""HMAC-SHA256 signatures of webhook deliveries, and how a receiver checks them.

Every delivery is a POST with a JSON body and these headers:

* ``X-CC-Timestamp``: Unix time (seconds) when this attempt was sent.
* ``X-CC-Signature``: ``sha256=<hex>``, the HMAC-SHA256 with the subscription's secret over
  the bytes ``<timestamp>.<raw body>`` (the timestamp header value, a dot, then the body
  exactly as received — do not re-serialise the JSON).
* ``X-CC-Event``: the event kind (``call.answered`` …); ``X-CC-Delivery``: the delivery id,
  the same on every retry of one delivery.

A receiver verifies like this (Python)::

    expected = hmac.new(secret, f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
    ok = hmac.compare_digest("sha256=" + expected, request.headers["X-CC-Signature"])
    fresh = abs(time.time() - int(ts)) <= 300   # refuse replays of old requests

and treats ``X-CC-Delivery`` as an idempotency key: a delivery may arrive more than once
(at-least-once: a timeout after the receiver stored it makes us retry), so store the id and
ignore repeats. Answer 2xx to acknowledge; anything else (or no answer within the timeout) is
retried with exponential backoff and, after the last attempt, put on the dead-letter list.
"""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_HEADER = "X-CC-Signature"
TIMESTAMP_HEADER = "X-CC-Timestamp"
EVENT_HEADER = "X-CC-Event"
DELIVERY_HEADER = "X-CC-Delivery"
DEFAULT_TOLERANCE_SECONDS = 300


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The ``X-CC-Signature`` value for ``body`` sent at ``timestamp``."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(
    secret: str,
    timestamp: str,
    body: bytes,
    signature: str,
    *,
    now: float,
    tolerance: float = DEFAULT_TOLERANCE_SECONDS,
) -> bool:
    """True when ``signature`` matches and ``timestamp`` is within ``tolerance`` of ``now``."""
    try:
        sent = int(timestamp)
    except ValueError:
        return False
    if abs(now - sent) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, sent, body), signature)
