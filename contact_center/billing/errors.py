"""Billing errors: one small hierarchy with messages a person can act on."""

from __future__ import annotations


class BillingError(Exception):
    """Base of billing errors."""


class TariffError(BillingError):
    """A tariff file is malformed; the message names the file, the line and the reason."""

    def __init__(self, path: str, line: int | None, reason: str) -> None:
        self.path = path
        self.line = line
        self.reason = reason
        where = f"{path}:{line}" if line else path
        super().__init__(f"{where}: {reason}")


class NoRateError(BillingError):
    """No destination prefix of the plan matches the number."""

    def __init__(self, plan: str, number: str) -> None:
        self.plan = plan
        self.number = number
        super().__init__(f"plan {plan!r} has no rate for number {number!r}")


class UnknownPlanError(BillingError):
    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"no tariff plan named {name!r} (import it with `tariffs import`)")
