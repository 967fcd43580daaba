"""A TCP proxy between a client and a real server that tests can cut and restore.

One implementation serves every suite: :class:`tests.resilience.proxy.FaultProxy` (it can
also stall without closing and keeps what clients sent)."""

from __future__ import annotations

from tests.resilience.proxy import FaultProxy as TcpProxy

__all__ = ["TcpProxy"]
