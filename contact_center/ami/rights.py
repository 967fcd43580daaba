"""The AMI rights the service needs, and a check of them at login.

Asterisk grants an action when the user's ``write`` classes share one class with the action's
registration (``ast_manager_register_xml(name, authority, …)``; authority 0: every logged-in
user), and delivers an event only when the user's ``read`` classes hold the event's class
(``(readperm & category) == category`` in ``process_events``). The tables below are Asterisk
22.10.1's, each with the line it comes from; ``tests/unit/test_deploy_config.py`` checks that
every action our code sends is in :data:`ACTION_CLASSES` and that ``deploy/asterisk/manager.conf``
grants them, and that every event the tracker consumes is readable and passes the event filter.

At login the connector asks Asterisk itself: ``ListCommands`` (authority 0, no side effect) lists
exactly the actions the user may run (``(writeperm & authority) || authority == 0``,
``action_listcommands`` in main/manager.c). An action we need that is not listed is a missing
right, reported by class — "AMI rights missing: reporting (CoreShowChannels, ConfbridgeList)" —
instead of surfacing later as "Permission denied" in the middle of a resync.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from contact_center.ami.connection import AmiConnection
from contact_center.ami.parser import Frame

# Action -> the write classes that grant it (any one), Asterisk 22.10.1.
# m = main/manager.c, q = apps/app_queue.c, mm = apps/app_mixmonitor.c,
# cb = apps/app_confbridge.c, dt = apps/app_senddtmf.c (load_module registrations).
ACTION_CLASSES: Mapping[str, frozenset[str]] = {
    # Session actions: authority 0 (m:9736-9740, 9760).
    "Challenge": frozenset(),
    "Login": frozenset(),
    "Logoff": frozenset(),
    "Ping": frozenset(),
    "ListCommands": frozenset(),
    # Calls.
    "Originate": frozenset({"originate"}),  # m:9753 EVENT_FLAG_ORIGINATE
    "Redirect": frozenset({"call"}),  # m:9750 EVENT_FLAG_CALL
    "BlindTransfer": frozenset({"call"}),  # m:9774 EVENT_FLAG_CALL
    "Atxfer": frozenset({"call"}),  # m:9751 EVENT_FLAG_CALL
    "Hangup": frozenset({"system", "call"}),  # m:9741 EVENT_FLAG_SYSTEM | EVENT_FLAG_CALL
    "Setvar": frozenset({"call"}),  # m:9743 EVENT_FLAG_CALL
    "PlayDTMF": frozenset({"call"}),  # dt:291 EVENT_FLAG_CALL
    # Queue members.
    "QueueAdd": frozenset({"agent"}),  # q:12240 EVENT_FLAG_AGENT
    "QueueRemove": frozenset({"agent"}),  # q:12241 EVENT_FLAG_AGENT
    "QueuePause": frozenset({"agent"}),  # q:12242 EVENT_FLAG_AGENT
    "QueuePenalty": frozenset({"agent"}),  # q:12244 EVENT_FLAG_AGENT (skills → penalties)
    "QueueStatus": frozenset(),  # q:12238 authority 0
    # Recording control (starting one is the dialplan's job: the AMI MixMonitor is system).
    "StopMixMonitor": frozenset({"system", "call"}),  # mm:1926 SYSTEM | CALL
    "MixMonitorMute": frozenset({"system", "call"}),  # mm:1924 SYSTEM | CALL
    # Conferences.
    "ConfbridgeKick": frozenset({"call"}),  # cb:4707 EVENT_FLAG_CALL
    "ConfbridgeList": frozenset({"reporting"}),  # cb:4703 EVENT_FLAG_REPORTING
    # Resync after a gap.
    "CoreShowChannels": frozenset({"system", "reporting"}),  # m:9768 SYSTEM | REPORTING
    # the channel list when CoreShowChannels is refused (m:9742 SYSTEM | CALL | REPORTING)
    "Status": frozenset({"system", "call", "reporting"}),
}

# Event -> its class, Asterisk 22.10.1 (the class its manager event is raised with).
EVENT_CLASSES: Mapping[str, str] = {
    # main/manager_channels.c (managerEvent docs and channel_*_cb): EVENT_FLAG_CALL
    "Newchannel": "call",
    "NewCallerid": "call",
    "Newstate": "call",
    "Hangup": "call",
    "Hold": "call",
    "BridgeEnter": "call",
    "Unhold": "call",
    "DialEnd": "call",  # manager_channels.c:251-252 (managerEvent DialEnd) EVENT_FLAG_CALL
    # manager_channels.c:1345 channel_dial_cb manager_event(EVENT_FLAG_CALL, "DialBegin"):
    # an operator rung outside a queue (direct, sticky, transfer target, consultation)
    "DialBegin": "call",
    # manager_channels.c:946 channel_chanspy_start_cb manager_event(EVENT_FLAG_CALL, …):
    # the spying call is a supervisor's, not a customer's
    "ChanSpyStart": "call",
    "DTMFEnd": "dtmf",  # manager_channels.c EVENT_FLAG_DTMF
    "Newexten": "dialplan",  # manager_channels.c:698 EVENT_FLAG_DIALPLAN
    "VarSet": "dialplan",  # main/stasis_channels.c varset_to_ami EVENT_FLAG_DIALPLAN
    # main/stasis_bridges.c
    "BlindTransfer": "call",
    "AttendedTransfer": "call",
    # apps/app_queue.c: EVENT_FLAG_AGENT
    "QueueCallerJoin": "agent",
    "QueueCallerLeave": "agent",
    "QueueCallerAbandon": "agent",
    "AgentCalled": "agent",
    "AgentRingNoAnswer": "agent",
    "AgentConnect": "agent",
    "AgentComplete": "agent",
    "QueueMemberAdded": "agent",
    "QueueMemberStatus": "agent",
    "QueueMemberPause": "agent",
    "QueueMemberPenalty": "agent",
    "QueueMemberRinginuse": "agent",
    "QueueMemberRemoved": "agent",
    # apps/confbridge/confbridge_manager.c: EVENT_FLAG_CALL
    "ConfbridgeJoin": "call",
    "ConfbridgeLeave": "call",
    # apps/app_mixmonitor.c: EVENT_FLAG_CALL
    "MixMonitorStart": "call",
    "MixMonitorStop": "call",
    "MixMonitorMute": "call",
    # main/asterisk.c:1012 ast_manager_publish_event(..., EVENT_FLAG_SYSTEM, ...)
    "FullyBooted": "system",
    "Shutdown": "system",
    # main/manager.c (manager_doc.xml): EVENT_FLAG_CALL; an async Originate's outcome
    "OriginateResponse": "call",
}

# List items come inside the action's answer (astman_append), never through the event queue:
# no read class, no event filter applies to them.
LIST_ITEM_EVENTS = frozenset(
    {"QueueMember", "QueueParams", "QueueEntry", "CoreShowChannel", "Status"}
)


@dataclass(frozen=True, slots=True)
class RightsReport:
    """Which of the needed actions the user may not run, by the classes that would grant them."""

    missing_actions: tuple[str, ...] = ()
    missing_classes: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.missing_actions

    def describe(self) -> str:
        """ "ok", or "AMI rights missing: reporting (CoreShowChannels, ConfbridgeList)"."""
        if self.ok:
            return "ok"
        classes = ", ".join(self.missing_classes)
        return f"AMI rights missing: {classes} ({', '.join(self.missing_actions)})"


def needed_actions() -> tuple[str, ...]:
    """Actions the service sends that need a write class (session actions need none)."""
    return tuple(name for name, classes in ACTION_CLASSES.items() if classes)


def granted_actions(list_commands: Frame) -> frozenset[str]:
    """Action names (lower case) from a ``ListCommands`` answer: one ``Name: synopsis (Priv:
    …)`` header per action the user may run."""
    names = {key for key in list_commands.headers if key not in ("Response", "ActionID")}
    names.update(key for key, _value in list_commands.repeated)
    return frozenset(name.lower() for name in names)


def least_class(classes: Iterable[str]) -> str:
    """The class to ask for: never ``system`` when a narrower one grants the action."""
    narrower = sorted(c for c in classes if c != "system")
    return narrower[0] if narrower else "system"


def check(granted: frozenset[str], needed: Iterable[str] | None = None) -> RightsReport:
    """Compare the actions Asterisk grants with those we need."""
    missing = [a for a in (needed if needed is not None else needed_actions())]
    missing = [a for a in missing if a.lower() not in granted]
    classes: list[str] = []
    for action in missing:
        cls = least_class(ACTION_CLASSES.get(action, frozenset({"system"})))
        if cls not in classes:
            classes.append(cls)
    return RightsReport(tuple(missing), tuple(classes))


async def check_rights(conn: AmiConnection) -> RightsReport:
    """Ask Asterisk which actions this login may run (``ListCommands``) and compare."""
    result = await conn.send_action("ListCommands")
    return check(granted_actions(result.response))
