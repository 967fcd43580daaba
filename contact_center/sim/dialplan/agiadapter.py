"""What an ``AGI()`` step sees of a simulated channel (``sim.agistep.AgiChannel``).

Besides variables, the script may move the channel on once it returns (``SET CONTEXT``,
``SET EXTENSION``, ``SET PRIORITY``): :attr:`AgiAdapter.goto` collects that.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from contact_center.sim.agistep import new_command_id
from contact_center.sim.model import Channel

if TYPE_CHECKING:
    from contact_center.sim.pbx import SimPbx


class AgiAdapter:
    """What an AGI step sees of a channel (see agistep.AgiChannel)."""

    def __init__(self, pbx: SimPbx, ch: Channel) -> None:
        self.pbx = pbx
        self.ch = ch
        self.name = ch.name
        self.goto: dict[str, str] = {}  # context, extension, priority set by the script
        self.uniqueid = ch.uniqueid

    def agi_environment(self, url: str, args: list[str]) -> dict[str, str]:
        ch = self.ch
        env = {
            "agi_network": "yes",
            "agi_network_script": url.rsplit("/", 1)[-1],
            "agi_request": url,
            "agi_channel": ch.name,
            "agi_language": "en",
            "agi_type": ch.name.split("/", 1)[0],
            "agi_uniqueid": ch.uniqueid,
            "agi_version": "22.10.1",
            "agi_callerid": ch.caller_num,
            "agi_calleridname": ch.caller_name,
            "agi_callingpres": "0",
            "agi_callingani2": "0",
            "agi_callington": "0",
            "agi_callingtns": "0",
            "agi_dnid": "unknown",
            "agi_rdnis": "unknown",
            "agi_context": ch.context,
            "agi_extension": ch.exten,
            "agi_priority": str(ch.priority),
            "agi_enhanced": "0.0",
            "agi_accountcode": "",
            "agi_threadid": str(id(ch)),
        }
        for n, arg in enumerate(args, 1):
            env[f"agi_arg_{n}"] = arg
        return env

    async def agi_read_digit(self, timeout: float) -> str | None:
        return await self.pbx.read_digit(self.ch, timeout)

    def agi_set_variable(self, name: str, value: str) -> None:
        if name.upper().startswith("CDR(IVR_CHOICE)"):
            self.ch.cdr_ivr_choice = value
            return
        if name.upper().startswith("CDR(USERFIELD)"):
            self.ch.cdr_userfield = value
            return
        self.pbx.set_var(self.ch, name, value)

    def agi_set_location(self, what: str, value: str) -> None:
        """``SET CONTEXT|EXTENSION|PRIORITY``: where the dial plan goes on after AGI()."""
        self.goto[what] = value

    def agi_get_variable(self, name: str) -> str:
        return self.ch.variables.get(name, "")

    def agi_exec_start(self, command: str) -> int:
        cid = new_command_id()
        self.pbx.emit_channel(
            "AGIExecStart", "agi", self.ch, [("CommandId", str(cid)), ("Command", command)]
        )
        return cid

    def agi_exec_end(self, command_id: int, command: str, code: int, result: str) -> None:
        self.pbx.emit_channel(
            "AGIExecEnd",
            "agi",
            self.ch,
            [
                ("CommandId", str(command_id)),
                ("Command", command),
                ("ResultCode", str(code)),
                ("Result", result),
            ],
        )
