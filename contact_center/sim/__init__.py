"""An Asterisk simulator: a real AMI TCP server and a call model that behave like the captures.

Start one with :class:`contact_center.sim.pbx.SimPbx` (see ``contact_center/testing.py`` for
pytest helpers) and read ``README.md`` here for what it emits and what it leaves out.
"""

from __future__ import annotations

from contact_center.sim.config import Operator, SimConfig, User
from contact_center.sim.pbx import SimPbx

__all__ = ["Operator", "SimConfig", "SimPbx", "User"]
