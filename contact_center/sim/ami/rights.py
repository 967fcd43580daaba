"""manager.conf rights: the write classes each action needs, the read classes a session hears."""

from __future__ import annotations

from contact_center.sim.config import ALL_CLASSES, parse_classes

# Write classes an action needs (any one of them), as registered in Asterisk 22.
# An empty set means every logged-in user may run it.
ACTION_RIGHTS: dict[str, frozenset[str]] = {
    "ping": frozenset(),
    "events": frozenset(),
    "logoff": frozenset(),
    "listcommands": frozenset(),
    "coresettings": frozenset({"system", "reporting"}),
    "corestatus": frozenset({"system", "reporting"}),
    "coreshowchannels": frozenset({"system", "reporting"}),
    "status": frozenset({"system", "call", "reporting"}),
    "originate": frozenset({"originate"}),
    "redirect": frozenset({"call"}),
    "blindtransfer": frozenset({"call"}),
    "atxfer": frozenset({"call"}),
    "hangup": frozenset({"system", "call"}),
    "getvar": frozenset({"call", "reporting"}),
    "setvar": frozenset({"call"}),
    "playdtmf": frozenset({"call"}),
    "queueadd": frozenset({"agent"}),
    "queueremove": frozenset({"agent"}),
    "queuepause": frozenset({"agent"}),
    "queuepenalty": frozenset({"agent"}),
    "queuelog": frozenset({"agent"}),
    "queuestatus": frozenset(),
    "queuesummary": frozenset(),
    "mixmonitor": frozenset({"system"}),
    "stopmixmonitor": frozenset({"system", "call"}),
    "mixmonitormute": frozenset({"system", "call"}),
    "confbridgelist": frozenset({"reporting"}),
    "confbridgelistrooms": frozenset({"reporting"}),
    "confbridgekick": frozenset({"call"}),
    "confbridgemute": frozenset({"call"}),
    "confbridgeunmute": frozenset({"call"}),
    "userevent": frozenset({"user"}),
    "devicestatelist": frozenset({"call", "reporting"}),
    "extensionstate": frozenset({"call", "reporting"}),
    "bridgelist": frozenset({"reporting"}),
    "command": frozenset({"command"}),
}


def event_mask(text: str, read: frozenset[str]) -> frozenset[str]:
    """The event classes a session hears: its ``Events:``/``EventMask:`` within its read classes."""
    text = text.strip().lower()
    if text in {"off", "no", "false", "0"}:
        return frozenset()
    if text in {"on", "yes", "true", "1", ""}:
        return read
    return parse_classes(text) & read if text != "all" else read & ALL_CLASSES
