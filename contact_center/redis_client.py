"""Every Redis client of the service is made here, with the settings its loops rely on.

redis-py 6+ changed defaults under us; two of them broke stopping a task on Python 3.11
(measured: cancelling a consumer blocked on ``XREADGROUP`` lost the cancellation once in a few
dozen tries on redis-py 8.2, never in 1,500 on 7.4 or 5.2; the CI run hung for 120 s on it):

- a default ``socket_timeout`` of 5 s makes each send go through ``asyncio.wait_for``, which on
  Python 3.11 swallows a cancellation that arrives as the send completes (fixed in 3.12);
- "maintenance notifications" read pending pushes at checkout with ``asyncio.wait_for`` too.

So no socket timeout (blocking stream reads wait by design; callers that need a bound wrap the
command in ``asyncio.timeout``, which has no such flaw) and no maintenance notifications (a
Redis Cloud feature). Loops over Redis still check ``aio.raise_if_cancelling`` after each
command, for whatever library swallows a cancellation next.
"""

from __future__ import annotations

from typing import Any

import redis.asyncio as aioredis

try:  # redis-py 7+: maintenance notifications (off here); older versions have none
    from redis.maint_notifications import MaintNotificationsConfig
except ImportError:  # pragma: no cover - redis-py < 7
    MaintNotificationsConfig = None  # type: ignore[assignment,misc]


def client(
    url: str, *, decode_responses: bool = False, connect_timeout: float | None = 5.0
) -> aioredis.Redis:
    """A Redis client for ``url`` (``redis://host:port/db``) with the settings above."""
    options: dict[str, Any] = {
        "decode_responses": decode_responses,
        "socket_timeout": None,
        "socket_connect_timeout": connect_timeout,
    }
    if MaintNotificationsConfig is not None:
        options["maint_notifications_config"] = MaintNotificationsConfig(enabled=False)
    return aioredis.Redis.from_url(url, **options)
