"""The simulator's dial plan: extensions.conf read (``parser``) and executed (``engine``)."""

from contact_center.sim.dialplan.varsets import reports_varset

__all__ = ["reports_varset"]
