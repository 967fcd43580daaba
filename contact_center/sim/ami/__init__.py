"""The simulator's AMI: ``server.py`` (TCP), ``session.py`` (one connection: login, rights,
dispatch), ``rights.py`` (manager.conf classes), ``fields.py`` (header values) and the actions,
one module per job (``actions_calls``, ``actions_queues``, ``actions_lists``,
``actions_recording``, ``actions_conference``, ``actions_system``)."""

from contact_center.sim.ami.rights import ACTION_RIGHTS
from contact_center.sim.ami.server import AmiServer
from contact_center.sim.ami.session import HANDLERS, AmiSession, Handler

__all__ = ["ACTION_RIGHTS", "HANDLERS", "AmiServer", "AmiSession", "Handler"]
