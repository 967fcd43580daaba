"""The simulator's dial plan: extensions.conf read (``parser``) and executed (``engine``)."""

from contact_center.sim.dialplan.engine import DIDS, TRUNK_CONTEXT, Dialplan, reports_varset

__all__ = ["DIDS", "TRUNK_CONTEXT", "Dialplan", "reports_varset"]
