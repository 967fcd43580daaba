"""A circuit breaker: after a run of failures, stop asking for a while, then try once.

A CRM that is down would otherwise cost every call its whole timeout; while the breaker is
open the lookup answers "unavailable" at once, and one trial request per ``open_seconds``
finds out when the CRM is back.
"""

from __future__ import annotations

import time
from collections.abc import Callable


class CircuitBreaker:
    def __init__(
        self,
        failures_to_open: int = 5,
        open_seconds: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.failures_to_open = max(1, failures_to_open)
        self.open_seconds = open_seconds
        self._clock = clock
        self._failures = 0
        self._open_until: float | None = None
        self._trial_running = False

    @property
    def state(self) -> str:
        """closed | open | half-open (the open time is over: the next request is a trial)."""
        if self._open_until is None:
            return "closed"
        return "open" if self._clock() < self._open_until else "half-open"

    def allow(self) -> bool:
        """May a request go to the CRM now? In half-open state only one at a time does."""
        state = self.state
        if state == "closed":
            return True
        if state == "open" or self._trial_running:
            return False
        self._trial_running = True
        return True

    def succeeded(self) -> None:
        self._failures = 0
        self._open_until = None
        self._trial_running = False

    def failed(self) -> None:
        self._trial_running = False
        self._failures += 1
        if self._open_until is not None or self._failures >= self.failures_to_open:
            self._open_until = self._clock() + self.open_seconds
