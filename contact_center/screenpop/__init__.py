"""Screen pop: domain events in, one rendered customer card per operator out (bus ``pops``)."""

from __future__ import annotations

from contact_center.screenpop.context import CallContext, CallContexts
from contact_center.screenpop.render import CardRenderer, PopCard
from contact_center.screenpop.service import OperatorDirectory, ScreenPop

__all__ = [
    "CallContext",
    "CallContexts",
    "CardRenderer",
    "OperatorDirectory",
    "PopCard",
    "ScreenPop",
]
