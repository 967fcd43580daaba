"""ConfBridge() and ChanSpy(): rooms with an announcer, and a supervisor listening in."""

from __future__ import annotations

from typing import TYPE_CHECKING

from contact_center.sim.errors import ChannelHungUp
from contact_center.sim.model import Bridge, Channel

if TYPE_CHECKING:
    from contact_center.sim.pbx import SimPbx


class Rooms:
    """The conferences of one PBX (AMI ConfbridgeList/Kick/Mute read :attr:`conferences`)."""

    def __init__(self, pbx: SimPbx) -> None:
        self.pbx = pbx
        self.conferences: dict[str, Bridge] = {}

    async def conference(self, ch: Channel, room: str) -> None:
        """ConfBridge(room,…): join (creating the room), stay until hung up."""
        pbx = self.pbx
        bridge = self.conferences.get(room)
        first = bridge is None
        if bridge is None:
            bridge = pbx.bridge_create(
                bridge_type="base", technology="softmix", creator="ConfBridge", name=room
            )
            bridge.extra_channels = 1
            self.conferences[room] = bridge
            pbx.emit("ConfbridgeStart", "call", [("Conference", room), *bridge.block()])
            pbx.device_state(f"confbridge:{room}", "INUSE")
            # the "you are the only person" prompt delays the first party's join
            await pbx.wait(ch, pbx.config.prompt_seconds)
        try:
            if first:
                self.confbridge_join(bridge, room, ch, muted=False)
                pbx.bridge_enter(bridge, ch)
            else:
                pbx.bridge_enter(bridge, ch)
                self.confbridge_join(bridge, room, ch, muted=False)
            await pbx.wait(ch, None)
        except ChannelHungUp:
            self.conference_leave(bridge, room, ch)
            raise

    def confbridge_join(self, bridge: Bridge, room: str, ch: Channel, *, muted: bool) -> None:
        ch.variables["__CONF_MUTED"] = "No"
        self.pbx.emit(
            "ConfbridgeJoin",
            "call",
            [("Conference", room), *bridge.block(), *ch.block(), ("Admin", "No"), ("Muted", "No")],
        )

    def conference_leave(self, bridge: Bridge, room: str, ch: Channel) -> None:
        pbx = self.pbx
        # Asterisk's CDR engine pairs a party with each party that joined after it.
        ch.cdr_peers = [c.name for c in bridge.history if c.created > ch.created]
        pbx.emit(
            "ConfbridgeLeave",
            "call",
            [("Conference", room), *bridge.block(), *ch.block(), ("Admin", "No")],
        )
        if ch.on_hold_music:
            ch.on_hold_music = False
            pbx.emit_channel("MusicOnHoldStop", "call", ch)
        pbx.bridge_leave(bridge, ch)
        if len(bridge.channels) == 1:
            alone = bridge.channels[0]
            alone.on_hold_music = True
            pbx.emit_channel("MusicOnHoldStart", "call", alone, [("Class", "default")])
        if not bridge.channels:
            pbx.device_state(f"confbridge:{room}", "NOT_INUSE")
            pbx.emit("ConfbridgeEnd", "call", [("Conference", room), *bridge.block()])
            pbx.bridge_destroy(bridge)
            pbx.device_state(f"CBAnn/{room}", "INUSE")
            pbx.device_state(f"CBAnn/{room}", "UNKNOWN")
            self.conferences.pop(room, None)

    async def chanspy(self, ch: Channel, target: str) -> None:
        """ChanSpy(prefix,options): spy on the first bridged channel named ``prefix-…``."""
        pbx = self.pbx
        spyee = next(
            (c for c in pbx.channels.values() if c.name.startswith(target + "-") and c.bridge),
            None,
        )
        if spyee is None:
            await pbx.wait(ch, pbx.config.prompt_seconds)
            return
        pbx.emit("ChanSpyStart", "call", [*ch.block("Spyer"), *spyee.block("Spyee")])
        try:
            await pbx.wait(ch, None)
        finally:
            pbx.emit("ChanSpyStop", "call", [*ch.block("Spyer"), *spyee.block("Spyee")])
