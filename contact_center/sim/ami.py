"""The AMI TCP server of the simulator: login, rights, actions, event delivery."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import logging
import random
import re
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from contact_center import aio
from contact_center.sim.config import ALL_CLASSES, User, parse_classes
from contact_center.sim.errors import NoSuchChannel, TransferFailed
from contact_center.sim.model import Channel
from contact_center.sim.queues import QueueError
from contact_center.sim.wire import BANNER, Headers, Request, encode, parse_requests, timestamp

if TYPE_CHECKING:
    from contact_center.sim.pbx import Event, SimPbx

log = logging.getLogger(__name__)

GOODBYE = "Thanks for all the fish."
AUTH_FAIL_CLOSE_DELAY = 1.0  # Asterisk closes a failed login's socket about 1 s later
MAX_UNSENT = 16 * 1024 * 1024  # bytes queued for a client before it counts as stuck

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


class AmiServer:
    """Listens for AMI clients and runs a :class:`AmiSession` for each."""

    def __init__(self, pbx: SimPbx) -> None:
        self.pbx = pbx
        self.users = {u.username: u for u in pbx.config.users}
        self.sessions: set[AmiSession] = set()
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[None]] = set()
        self.connection_ids = itertools.count(1)
        self.port = 0
        self.local_port = 0

    async def start(self, host: str, port: int) -> None:
        self._server = await asyncio.start_server(self._accept, host, port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for session in list(self.sessions):
            session.close()
        handlers = list(self._handlers)
        for task in handlers:
            task.cancel()
        await asyncio.gather(*handlers, return_exceptions=True)
        if self._server is not None:
            with contextlib.suppress(Exception):
                await aio.wait_for(self._server.wait_closed(), 1.0)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        session = AmiSession(self, reader, writer)
        self.sessions.add(session)
        task = asyncio.current_task()
        if task is not None:
            self._handlers.add(task)
        try:
            await session.run()
        except asyncio.CancelledError:
            pass  # the server is stopping; this is the top of the connection's task
        finally:
            self.sessions.discard(session)
            self._handlers.discard(task)  # type: ignore[arg-type]
            session.close()


class AmiSession:
    """One AMI connection."""

    def __init__(
        self, server: AmiServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.server = server
        self.pbx = server.pbx
        self.reader = reader
        self.writer = writer
        self.user: User | None = None
        self.event_mask: frozenset[str] = frozenset()
        self.challenge = ""
        self.session_id = f"0x{random.getrandbits(44):x}"
        self.opened = time.time()
        self._unsubscribe: Callable[[], None] | None = None
        peer = writer.get_extra_info("peername") or ("127.0.0.1", 0)
        sock = writer.get_extra_info("sockname") or ("127.0.0.1", 5038)
        self.remote = f"IPV4/TCP/{peer[0]}/{peer[1]}"
        self.local = f"IPV4/TCP/{sock[0]}/{sock[1]}"
        self.closing = False
        self.name = f"ami-{next(server.connection_ids)}"
        self.recorder = server.pbx.recorder
        if self.recorder is not None:
            self.recorder.conn("ami", self.name, "open")

    # ------------------------------------------------------------ I/O
    def write(self, data: bytes) -> None:
        if not self.closing:
            if self.writer.transport.get_write_buffer_size() > MAX_UNSENT:
                # like manager.conf writetimeout: a client that stops reading is dropped
                log.warning("AMI %s: client is not reading, closing", self.name)
                self.close()
                return
            self.writer.write(data)
            if self.recorder is not None:
                self.recorder.data("ami", self.name, "in", data)

    def respond(self, req: Request, response: str, *fields: tuple[str, str]) -> None:
        headers: Headers = [("Response", response)]
        if req.action_id is not None:
            headers.append(("ActionID", req.action_id))
        headers.extend(fields)
        self.write(encode(headers))

    def error(self, req: Request, message: str) -> None:
        self.respond(req, "Error", ("Message", message))

    def list_item(self, name: str, fields: Headers, req: Request, *, id_last: bool = False) -> None:
        """A list item event: no Privilege, no Timestamp; ActionID first or last."""
        aid = [("ActionID", req.action_id)] if req.action_id is not None else []
        headers: Headers = [("Event", name)]
        headers += [*fields, *aid] if id_last else [*aid, *fields]
        self.write(encode(headers))

    def list_complete(self, name: str, req: Request, count: int, *extra: tuple[str, str]) -> None:
        fields: Headers = [("EventList", "Complete"), ("ListItems", str(count)), *extra]
        self.list_item(name, fields, req)

    def on_event(self, event: Event) -> None:
        if self.user is None or event.privilege not in self.event_mask:
            return
        self.write(event.raw)

    def close(self, *, by_client: bool = False) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if not self.closing:
            self.closing = True
            if self.recorder is not None:
                self.recorder.conn("ami", self.name, "close-by-us" if by_client else "close")
            with contextlib.suppress(Exception):
                self.writer.close()

    async def run(self) -> None:
        self.write(BANNER)
        buffer = b""
        while not self.closing:
            try:
                chunk = await self.reader.read(65536)
            except (ConnectionError, OSError):
                break
            if not chunk:
                self.close(by_client=True)
                break
            if self.recorder is not None:
                self.recorder.data("ami", self.name, "out", chunk)
            requests, buffer = parse_requests(buffer + chunk)
            for req in requests:
                await self.handle(req)
                if self.closing:
                    break
            with contextlib.suppress(ConnectionError, OSError):
                await self.writer.drain()

    # ------------------------------------------------------------ dispatch
    async def handle(self, req: Request) -> None:
        action = req.action.lower()
        if not req.has("Action"):
            self.error(req, "Missing action in request")
            self.bad_format("NONE")
            return
        if action == "login":
            await self.login(req)
            return
        if action == "challenge":
            self.do_challenge(req)
            return
        if action == "logoff":
            self.respond(req, "Goodbye", ("Message", GOODBYE))
            self.close()
            return
        if self.user is None:
            self.error(req, "Permission denied")
            return
        handler = HANDLERS.get(action)
        if handler is None:
            self.error(
                req,
                f"Invalid/unknown command: {req.action}. "
                "Use Action: ListCommands to show available commands.",
            )
            self.bad_format(req.action)
            return
        needed = ACTION_RIGHTS.get(action, frozenset())
        if needed and not needed & self.user.write:
            self.error(req, "Permission denied")
            self.security("RequestNotAllowed", [("RequestType", f"Action: {req.action}")])
            return
        try:
            await handler(self, req)
        except NoSuchChannel:
            self.error(req, "No such channel")
        except QueueError as exc:
            self.error(req, str(exc))
        except ValueError as exc:
            # a malformed number in a header: answer like a failed action, keep the session
            log.info("AMI %s: bad %s: %s", self.name, req.action, exc)
            self.error(req, f"Invalid parameter: {exc}")

    # ------------------------------------------------------------ security events
    def security(
        self,
        name: str,
        extra: Headers,
        *,
        account: str | None = None,
        version: str = "1",
        severity: str = "Error",
        session_tv: bool = True,
    ) -> None:
        now = time.time()
        tv = _event_tv(now)
        fields: Headers = [
            ("EventTV", tv),
            ("Severity", severity),
            ("Service", "AMI"),
            ("EventVersion", version),
            (
                "AccountID",
                account if account is not None else (self.user.username if self.user else ""),
            ),
            ("SessionID", self.session_id),
            ("LocalAddress", self.local),
            ("RemoteAddress", self.remote),
            *extra,
            ("SessionTV", _event_tv(self.opened) if session_tv else "1970-01-01T00:00:00.000+0000"),
        ]
        self.pbx.emit(name, "security", fields)

    def bad_format(self, action: str) -> None:
        """RequestBadFormat: unlike its siblings, AccountID comes last."""
        fields: Headers = [
            ("EventTV", _event_tv(time.time())),
            ("Severity", "Error"),
            ("Service", "AMI"),
            ("EventVersion", "1"),
            ("SessionID", self.session_id),
            ("LocalAddress", self.local),
            ("RemoteAddress", self.remote),
            ("RequestType", f"Action: {action}"),
            ("SessionTV", _event_tv(self.opened)),
            ("AccountID", self.user.username if self.user else ""),
        ]
        self.pbx.emit("RequestBadFormat", "security", fields)

    # ------------------------------------------------------------ login
    def do_challenge(self, req: Request) -> None:
        if req.get("AuthType").lower() != "md5":
            self.error(req, "Must specify AuthType")
            return
        self.challenge = str(random.randint(10_000_000, 999_999_999))
        self.respond(req, "Success", ("Challenge", self.challenge))

    async def login(self, req: Request) -> None:
        username = req.get("Username")
        user = self.server.users.get(username)
        if req.get("AuthType").lower() == "md5":
            key = req.get("Key")
            expected = (
                hashlib.md5((self.challenge + user.secret).encode()).hexdigest() if user else ""
            )
            if user is None or not self.challenge or key != expected:
                self.security(
                    "ChallengeResponseFailed",
                    [
                        ("Challenge", self.challenge),
                        ("Response", key),
                        ("ExpectedResponse", expected),
                    ],
                    account="",
                )
                await self.fail_login(req)
                return
        elif user is None:
            self.security("InvalidAccountID", [], account=username, session_tv=False)
            await self.fail_login(req)
            return
        elif req.get("Secret") != user.secret:
            self.security("InvalidPassword", [], account=username, version="2", session_tv=False)
            await self.fail_login(req)
            return
        self.user = user
        events = req.get("Events", "on").strip().lower() if req.has("Events") else "on"
        self.event_mask = _event_mask(events, user.read)
        self.respond(req, "Success", ("Message", "Authentication accepted"))
        if self.event_mask:
            self._unsubscribe = self.pbx.subscribe(self.on_event)
            if "system" in self.event_mask:
                uptime = str(int(time.time() - self.pbx.started))
                self.write(
                    encode(
                        [
                            ("Event", "FullyBooted"),
                            ("Privilege", "system,all"),
                            ("Uptime", uptime),
                            ("LastReload", uptime),
                            ("Status", "Fully Booted"),
                        ]
                    )
                )
        self.security("SuccessfulAuth", [("UsingPassword", "0")], severity="Informational")

    async def fail_login(self, req: Request) -> None:
        self.error(req, "Authentication failed")
        with contextlib.suppress(ConnectionError, OSError):
            await self.writer.drain()
        await asyncio.sleep(AUTH_FAIL_CLOSE_DELAY * self.pbx.config.time_scale)
        self.close()

    # ------------------------------------------------------------ simple actions
    async def list_commands(self, req: Request) -> None:
        # main/manager.c action_listcommands: one "Name: synopsis (Priv: …)" line per action
        # the user's write classes grant (or that needs none).
        write = self.user.write if self.user is not None else frozenset()
        granted = [a for a in HANDLERS if not ACTION_RIGHTS.get(a) or ACTION_RIGHTS[a] & write]
        privs = {a: ",".join(sorted(ACTION_RIGHTS.get(a, ()))) or "<none>" for a in granted}
        self.respond(req, "Success", *((a, f"{a} (Priv: {privs[a]})") for a in granted))

    async def ping(self, req: Request) -> None:
        self.respond(req, "Success", ("Ping", "Pong"), ("Timestamp", timestamp()))

    async def events(self, req: Request) -> None:
        assert self.user is not None
        mask = req.get("EventMask", "on").strip().lower()
        self.event_mask = _event_mask(mask, self.user.read)
        if self.event_mask and self._unsubscribe is None:
            self._unsubscribe = self.pbx.subscribe(self.on_event)
        self.respond(req, "Success", ("Events", "On" if self.event_mask else "Off"))

    async def core_settings(self, req: Request) -> None:
        self.respond(
            req,
            "Success",
            ("AMIversion", "11.0.0"),
            ("AsteriskVersion", "22.10.1"),
            ("SystemName", ""),
            ("CoreMaxCalls", "0"),
            ("CoreMaxLoadAvg", "0.000000"),
            ("CoreRunUser", ""),
            ("CoreRunGroup", ""),
            ("CoreMaxFilehandles", "0"),
            ("CoreRealTimeEnabled", "No"),
            ("CoreCDRenabled", "Yes"),
            ("CoreHTTPenabled", "No"),
            ("SoundsSearchCustomDir", "No"),
        )

    async def core_status(self, req: Request) -> None:
        started = time.gmtime(self.pbx.started)
        date, clock = time.strftime("%Y-%m-%d", started), time.strftime("%H:%M:%S", started)
        calls = len({ch.linkedid for ch in self.pbx.channels.values()})
        self.respond(
            req,
            "Success",
            ("CoreStartupDate", date),
            ("CoreStartupTime", clock),
            ("CoreReloadDate", date),
            ("CoreReloadTime", clock),
            ("CoreCurrentCalls", str(calls)),
            ("CoreProcessedCalls", str(self.pbx.processed_calls)),
        )

    # ------------------------------------------------------------ channels
    async def originate(self, req: Request) -> None:
        target = req.get("Channel")
        if not target:
            self.error(req, "Channel not specified")
            return
        priority = req.get("Priority", "1") or "1"
        if req.has("Exten") and not priority.isdigit():
            self.error(req, "Invalid priority")
            return
        application = req.get("Application")
        if application:
            then = ("", application, req.get("Data"))
        else:
            then = (req.get("Context", "default"), req.get("Exten", "s"), "")
        match = re.fullmatch(r"Local/([^@]+)@([^/]+?)(/n)?", target)
        phone = re.fullmatch(r"PJSIP/([^@/]+)", target)
        if phone is not None:
            self.originate_phone(req, phone.group(1), then)
            return
        if match is None:
            self.error(req, "Originate failed")
            return
        variables = _variables(req.get_all("Variable"))
        timeout = float(req.get("Timeout", "30000") or 30000) / 1000
        self.respond(req, "Success", ("Message", "Originate successfully queued"))
        self.pbx.dialplan.originate(
            match.group(1),
            match.group(2),
            caller=_parse_callerid(req.get("CallerID")) if req.has("CallerID") else None,
            then=then,
            variables=variables,
            action_id=req.action_id,
            timeout=timeout,
            report=_truthy(req.get("Async")),
            ids=(req.get("ChannelId"), req.get("OtherChannelId")),
        )

    def originate_phone(self, req: Request, endpoint: str, then: tuple[str, str, str]) -> None:
        """Originate ``PJSIP/<endpoint>`` (an operator's phone, capture 27)."""
        if then[0] and not self.pbx.dialplan.exists(then[0], then[1]):
            self.error(req, "Originate failed")
            return
        self.respond(req, "Success", ("Message", "Originate successfully queued"))
        report_async = _truthy(req.get("Async"))

        def report(phone: Any, ok: bool) -> None:
            if report_async:
                self.pbx.dialplan.originate_response(phone, then, req.action_id, ok=ok)

        self.pbx.phones.originate(
            endpoint,
            then,
            caller=_parse_callerid(req.get("CallerID")) if req.has("CallerID") else None,
            variables=_variables(req.get_all("Variable")),
            report=report,
            timeout=float(req.get("Timeout", "30000") or 30000) / 1000,
            uniqueid=req.get("ChannelId"),
        )

    async def hangup(self, req: Request) -> None:
        name = req.get("Channel")
        cause = int(req.get("Cause", "16") or 16)
        if len(name) > 2 and name.startswith("/") and name.endswith("/"):
            matched = self.pbx.channels_matching(name[1:-1])
            self.respond(
                req, "Success", ("EventList", "start"), ("Message", "Channels hung up will follow")
            )
            for ch in matched:
                self.pbx.request_hangup(ch, cause)
                self.list_item("ChannelHungup", [("Channel", ch.name)], req, id_last=True)
            self.list_complete("ChannelsHungupListComplete", req, len(matched))
            return
        ch = self.pbx.find(name)
        self.respond(req, "Success", ("Message", "Channel Hungup"))
        self.pbx.request_hangup(ch, cause)

    async def redirect(self, req: Request) -> None:
        ch = self.pbx.find(req.get("Channel"))
        context, exten = req.get("Context"), req.get("Exten")
        priority = req.get("Priority", "1")
        if not priority.isdigit():
            self.error(req, "Invalid priority")
            return
        if not self.pbx.dialplan.exists(context, exten):
            self.error(req, "Redirect failed")
            return
        extra = None
        if req.get("ExtraChannel"):
            # the second channel (e.g. the operator, for a conference) moves too
            extra = self.pbx.find(req.get("ExtraChannel"))
            extra_target = (
                req.get("ExtraContext") or context,
                req.get("ExtraExten") or exten,
                req.get("ExtraPriority") or priority,
            )
            if not extra_target[2].isdigit():
                self.error(req, "Invalid ExtraPriority")
                return
            if not self.pbx.dialplan.exists(extra_target[0], extra_target[1]):
                self.error(req, "Redirect failed")
                return
        self.respond(
            req,
            "Success",
            ("Message", "Dual Redirect successful" if extra else "Redirect successful"),
        )
        self.pbx.redirect(ch, context, exten, int(priority))
        if extra is not None:
            self.pbx.redirect(extra, extra_target[0], extra_target[1], int(extra_target[2]))

    async def blind_transfer(self, req: Request) -> None:
        """BlindTransfer: the channels bridged to ``Channel`` go to Context/Exten."""
        name, exten = req.get("Channel"), req.get("Exten")
        if not name:
            self.error(req, "No channel specified")
            return
        if not exten:
            self.error(req, "No extension specified")
            return
        ch = self.pbx.find(name)
        context = req.get("Context") or ch.variables.get("TRANSFER_CONTEXT") or ch.context
        if not self.pbx.dialplan.exists(context, exten):
            self.error(req, "Transfer invalid")
            return
        try:
            self.pbx.transfer_blind(ch, context, exten)
        except TransferFailed:
            self.error(req, "Transfer failed")
            return
        self.respond(req, "Success", ("Message", "Transfer succeeded"))

    async def atxfer(self, req: Request) -> None:
        """Atxfer: ``Channel`` (the operator) consults Context/Exten, its caller on hold."""
        name, exten = req.get("Channel"), req.get("Exten")
        if not name:
            self.error(req, "No channel specified")
            return
        if not exten:
            self.error(req, "No extension specified")
            return
        ch = self.pbx.channels.get(name)
        if ch is None or ch.dead:
            self.error(req, "Channel specified does not exist")
            return
        context = req.get("Context") or ch.variables.get("TRANSFER_CONTEXT") or ch.context
        if not self.pbx.dialplan.exists(context, exten):
            self.error(req, "Extension does not exist")
            return
        try:
            self.pbx.transfer_attended(ch, context, exten)
        except TransferFailed:
            self.error(req, "Atxfer failed")
            return
        self.respond(req, "Success", ("Message", "Atxfer successfully queued"))

    async def getvar(self, req: Request) -> None:
        name = req.get("Variable")
        if not name:
            self.error(req, "No variable specified")
            return
        ch = self.pbx.find(req.get("Channel"))
        value = ch.caller_id if name.upper() == "CALLERID(ALL)" else ch.variables.get(name, "")
        if name.upper() == "CALLERID(NUM)":
            value = ch.caller_num
        self.respond(req, "Success", ("Variable", name), ("Value", value))

    async def setvar(self, req: Request) -> None:
        name = req.get("Variable")
        if not name:
            self.error(req, "No variable specified")
            return
        ch = self.pbx.find(req.get("Channel"))
        self.pbx.set_var(ch, name, req.get("Value"), event=False)
        self.respond(req, "Success", ("Message", "Variable Set"))

    async def play_dtmf(self, req: Request) -> None:
        digit = req.get("Digit")
        if not digit:
            self.error(req, "No digit specified")
            return
        ch = self.pbx.find(req.get("Channel"))
        self.respond(req, "Success", ("Message", "DTMF successfully queued"))
        self.pbx.play_dtmf(ch, digit[0], int(req.get("Duration", "250") or 250))

    async def core_show_channels(self, req: Request) -> None:
        channels = list(self.pbx.channels.values())
        self.respond(req, "Success", ("EventList", "start"), ("Message", "Channels will follow"))
        for ch in channels:
            fields = [
                *ch.block(),
                ("Application", ch.app),
                ("ApplicationData", ch.appdata),
                ("Duration", _hms(time.time() - ch.created)),
                ("BridgeId", ch.bridge.uniqueid if ch.bridge else ""),
            ]
            self.list_item("CoreShowChannel", fields, req)
        self.list_complete("CoreShowChannelsComplete", req, len(channels))

    async def status(self, req: Request) -> None:
        name = req.get("Channel")
        channels = [self.pbx.find(name)] if name else list(self.pbx.channels.values())
        self.respond(
            req, "Success", ("EventList", "start"), ("Message", "Channel status will follow")
        )
        all_vars = req.get("AllVariables").lower() in {"true", "yes", "1"}
        for ch in channels:
            fields: Headers = [
                ("Privilege", "Call"),
                *ch.block(),
                ("Type", "Local"),
                ("DNID", ""),
                ("EffectiveConnectedLineNum", ch.conn_num),
                ("EffectiveConnectedLineName", ch.conn_name),
                ("TimeToHangup", "0"),
                ("BridgeID", ch.bridge.uniqueid if ch.bridge else ""),
                ("Application", ch.app),
                ("Data", ch.appdata),
                ("Nativeformats", "(slin)"),
                ("Readformat", "slin"),
                ("Readtrans", ""),
                ("Writeformat", "slin"),
                ("Writetrans", ""),
                ("Callgroup", "0"),
                ("Pickupgroup", "0"),
                ("Seconds", str(int(time.time() - ch.created))),
            ]
            if all_vars:
                fields += [("Variable", f"{k}={v}") for k, v in ch.variables.items()]
            self.list_item("Status", fields, req, id_last=True)
        self.list_complete("StatusComplete", req, len(channels), ("Items", str(len(channels))))

    # ------------------------------------------------------------ queues
    async def queue_add(self, req: Request) -> None:
        if not req.get("Queue"):
            self.error(req, "'Queue' not specified.")
            return
        if not req.get("Interface"):
            self.error(req, "'Interface' not specified.")
            return
        self.pbx.queues.add_member(
            req.get("Queue"),
            req.get("Interface"),
            req.get("MemberName"),
            req.get("StateInterface"),
            int(req.get("Penalty", "0") or 0),
            _truthy(req.get("Paused")),
            req.get("Reason"),
        )
        self.respond(req, "Success", ("Message", "Added interface to queue"))

    async def queue_remove(self, req: Request) -> None:
        if not req.get("Queue") or not req.get("Interface"):
            self.error(req, "Need 'Queue' and 'Interface' parameters.")
            return
        self.pbx.queues.remove_member(req.get("Queue"), req.get("Interface"))
        self.respond(req, "Success", ("Message", "Removed interface from queue"))

    async def queue_pause(self, req: Request) -> None:
        if not req.get("Interface") or not req.get("Paused"):
            self.error(req, "Need 'Interface' and 'Paused' parameters.")
            return
        paused = _truthy(req.get("Paused"))
        self.pbx.queues.pause_member(
            req.get("Queue"), req.get("Interface"), paused, req.get("Reason")
        )
        word = "paused" if paused else "unpaused"
        self.respond(req, "Success", ("Message", f"Interface {word} successfully"))

    async def queue_penalty(self, req: Request) -> None:
        penalty = req.get("Penalty")
        if not req.get("Interface") or not penalty.lstrip("-").isdigit():
            self.error(req, "Need 'Interface' and 'Penalty' parameters.")
            return
        self.pbx.queues.set_penalty(req.get("Queue"), req.get("Interface"), int(penalty))
        self.respond(req, "Success", ("Message", "Interface penalty set successfully"))

    async def queue_log(self, req: Request) -> None:
        self.pbx.queue_log.write(
            req.get("UniqueID", "NONE") or "NONE",
            req.get("Queue"),
            req.get("Interface"),
            req.get("Event"),
            req.get("Message"),
        )
        self.respond(req, "Success", ("Message", "Event added successfully"))

    async def queue_status(self, req: Request) -> None:
        queue, member = req.get("Queue"), req.get("Member")
        self.respond(
            req, "Success", ("EventList", "start"), ("Message", "Queue status will follow")
        )
        count = 0
        now = time.time()
        for q in self.pbx.queues.queues.values():
            if queue and q.name != queue:
                continue
            s = q.stats
            params: Headers = [
                ("Queue", q.name),
                ("Max", "0"),
                ("Strategy", q.config.strategy),
                ("Calls", str(len(q.entries))),
                ("Holdtime", str(int(s.holdtime))),
                ("TalkTime", str(int(s.talktime))),
                ("Completed", str(s.completed)),
                ("Abandoned", str(s.abandoned)),
                ("ServiceLevel", str(q.config.servicelevel)),
                ("ServicelevelPerf", s.sl_perf()),
                ("ServicelevelPerf2", s.sl_perf2()),
                ("Weight", "0"),
            ]
            self.list_item("QueueParams", params, req, id_last=True)
            count += 1
            for m in q.members.values():
                if member and m.interface != member:
                    continue
                self.list_item("QueueMember", m.headers(m.busy, listing=True), req, id_last=True)
                count += 1
            for pos, entry in enumerate(q.entries, 1):
                ch = entry.channel
                fields: Headers = [
                    ("Queue", q.name),
                    ("Position", str(pos)),
                    ("Channel", ch.name),
                    ("Uniqueid", ch.uniqueid),
                    ("CallerIDNum", ch.caller_num),
                    ("CallerIDName", ch.caller_name),
                    ("ConnectedLineNum", ch.conn_num),
                    ("ConnectedLineName", ch.conn_name),
                    ("Wait", str(int(now - entry.joined))),
                    ("Priority", str(entry.priority)),
                ]
                self.list_item("QueueEntry", fields, req, id_last=True)
                count += 1
        self.list_complete("QueueStatusComplete", req, count)

    async def queue_summary(self, req: Request) -> None:
        queue = req.get("Queue")
        self.respond(
            req, "Success", ("EventList", "start"), ("Message", "Queue summary will follow")
        )
        count = 0
        now = time.time()
        for q in self.pbx.queues.queues.values():
            if queue and q.name != queue:
                continue
            longest = max((now - e.joined for e in q.entries), default=0.0)
            available = sum(1 for m in q.members.values() if not m.paused and not m.busy)
            fields: Headers = [
                ("Queue", q.name),
                ("LoggedIn", str(len(q.members))),
                ("Available", str(available)),
                ("Callers", str(len(q.entries))),
                ("HoldTime", str(int(q.stats.holdtime))),
                ("TalkTime", str(int(q.stats.talktime))),
                ("LongestHoldTime", str(int(longest))),
            ]
            self.list_item("QueueSummary", fields, req, id_last=True)
            count += 1
        self.list_complete("QueueSummaryComplete", req, count)

    # ------------------------------------------------------------ recording
    async def mixmonitor(self, req: Request) -> None:
        ch = self.pbx.find(req.get("Channel"))
        filename = req.get("File") or f"{ch.uniqueid}.wav"
        self.pbx.start_mixmonitor(ch, filename)
        self.respond(req, "Success")

    async def stop_mixmonitor(self, req: Request) -> None:
        ch = self.pbx.find(req.get("Channel"))
        self.pbx.stop_mixmonitor(ch)
        self.respond(req, "Success")

    async def mixmonitor_mute(self, req: Request) -> None:
        ch = self.pbx.find(req.get("Channel"))
        direction = req.get("Direction", "both") or "both"
        state = "1" if _truthy(req.get("State")) else "0"
        if ch.recording is not None:
            ch.recording.set_muted(state == "1", time.time())
        self.respond(req, "Success")
        self.pbx.emit_channel(
            "MixMonitorMute", "call", ch, [("Direction", direction), ("State", state)]
        )

    # ------------------------------------------------------------ ConfBridge
    async def confbridge_list_rooms(self, req: Request) -> None:
        rooms = self.pbx.dialplan.conferences
        if not rooms:
            self.error(req, "No active conferences.")
            return
        self.respond(
            req,
            "Success",
            ("EventList", "start"),
            ("Message", "Confbridge conferences will follow"),
        )
        for room, bridge in rooms.items():
            fields: Headers = [
                ("Conference", room),
                ("Parties", str(len(bridge.channels))),
                ("Marked", "0"),
                ("Locked", "No"),
                ("Muted", "No"),
            ]
            self.list_item("ConfbridgeListRooms", fields, req)
        self.list_complete("ConfbridgeListRoomsComplete", req, len(rooms))

    def _conference(self, req: Request) -> tuple[str, list[Channel]] | None:
        room = req.get("Conference")
        if not room:
            self.error(req, "No Conference name provided.")
            return None
        bridge = self.pbx.dialplan.conferences.get(room)
        if bridge is None:
            self.error(req, "No Conference by that name found.")
            return None
        return room, list(bridge.channels)

    async def confbridge_list(self, req: Request) -> None:
        found = self._conference(req)
        if found is None:
            return
        room, channels = found
        self.respond(
            req, "Success", ("EventList", "start"), ("Message", "Confbridge user list will follow")
        )
        for ch in channels:
            answered = int(time.time() - (ch.answered or ch.created))
            fields: Headers = [
                ("Conference", room),
                ("Admin", "No"),
                ("MarkedUser", "No"),
                ("WaitMarked", "No"),
                ("EndMarked", "No"),
                ("EndMarkedAny", "No"),
                ("Waiting", "No"),
                ("Muted", ch.variables.get("__CONF_MUTED", "No")),
                ("Talking", "No"),
                ("AnsweredTime", str(answered)),
                *ch.block(),
            ]
            self.list_item("ConfbridgeList", fields, req)
        self.list_complete("ConfbridgeListComplete", req, len(channels))

    def _conference_member(self, req: Request) -> tuple[str, Channel] | None:
        found = self._conference(req)
        if found is None:
            return None
        room, channels = found
        name = req.get("Channel")
        ch = next((c for c in channels if c.name == name), None)
        if ch is None:
            self.error(req, "No Channel by that name found in Conference.")
            return None
        return room, ch

    async def confbridge_kick(self, req: Request) -> None:
        found = self._conference_member(req)
        if found is None:
            return
        self.respond(req, "Success", ("Message", "User kicked"))
        self.pbx.request_hangup(found[1])

    async def confbridge_mute(self, req: Request) -> None:
        await self._mute(req, True)

    async def confbridge_unmute(self, req: Request) -> None:
        await self._mute(req, False)

    async def _mute(self, req: Request, mute: bool) -> None:
        found = self._conference_member(req)
        if found is None:
            return
        room, ch = found
        ch.variables["__CONF_MUTED"] = "Yes" if mute else "No"
        self.respond(req, "Success", ("Message", "User muted" if mute else "User unmuted"))
        bridge = self.pbx.dialplan.conferences[room]
        self.pbx.emit(
            "ConfbridgeMute" if mute else "ConfbridgeUnmute",
            "call",
            [("Conference", room), *bridge.block(), *ch.block(), ("Admin", "No")],
        )

    # ------------------------------------------------------------ misc
    async def user_event(self, req: Request) -> None:
        name = req.get("UserEvent")
        if not name:
            self.error(req, "UserEvent not specified")
            return
        self.respond(req, "Success", ("Message", "Event Sent"))
        extra = [(k, v) for k, v in req.headers if k.lower() not in {"action", "userevent"}]
        self.pbx.emit("UserEvent", "user", [("UserEvent", name), *extra])

    async def device_state_list(self, req: Request) -> None:
        states = dict(self.pbx.queues.device_states)
        for room in self.pbx.dialplan.conferences:
            states[f"confbridge:{room}"] = "INUSE"
        self.respond(
            req, "Success", ("EventList", "start"), ("Message", "Device State Changes will follow")
        )
        for device, state in states.items():
            self.list_item("DeviceStateChange", [("Device", device), ("State", state)], req)
        self.list_complete("DeviceStateListComplete", req, len(states))

    async def extension_state(self, req: Request) -> None:
        self.respond(
            req,
            "Success",
            ("Message", "Extension Status"),
            ("Exten", req.get("Exten")),
            ("Context", req.get("Context")),
            ("Hint", ""),
            ("Status", "-1"),
            ("StatusText", "Unknown"),
        )

    async def command(self, req: Request) -> None:
        words = req.get("Command").split()
        if words[:2] == ["queue", "show"] and len(words) == 3:
            output = self.pbx.queues.show(words[2])
        else:
            output = [f"No such command '{req.get('Command')}' (type 'core show help "
                      f"{' '.join(words[:1])}' for other possible commands)"]  # fmt: skip
        self.respond(
            req,
            "Success",
            ("Message", "Command output follows"),
            *[("Output", line) for line in output],
        )

    async def bridge_list(self, req: Request) -> None:
        bridges = list(self.pbx.bridges.values())
        self.respond(
            req, "Success", ("EventList", "start"), ("Message", "Bridge listing will follow")
        )
        for bridge in bridges:
            self.list_item("BridgeListItem", bridge.block(), req)
        self.list_complete("BridgeListComplete", req, len(bridges))


Handler = Callable[[AmiSession, Request], Awaitable[None]]

HANDLERS: dict[str, Handler] = {
    "ping": AmiSession.ping,
    "listcommands": AmiSession.list_commands,
    "events": AmiSession.events,
    "coresettings": AmiSession.core_settings,
    "corestatus": AmiSession.core_status,
    "originate": AmiSession.originate,
    "hangup": AmiSession.hangup,
    "redirect": AmiSession.redirect,
    "blindtransfer": AmiSession.blind_transfer,
    "atxfer": AmiSession.atxfer,
    "getvar": AmiSession.getvar,
    "setvar": AmiSession.setvar,
    "playdtmf": AmiSession.play_dtmf,
    "coreshowchannels": AmiSession.core_show_channels,
    "status": AmiSession.status,
    "queueadd": AmiSession.queue_add,
    "queueremove": AmiSession.queue_remove,
    "queuepause": AmiSession.queue_pause,
    "queuepenalty": AmiSession.queue_penalty,
    "queuelog": AmiSession.queue_log,
    "queuestatus": AmiSession.queue_status,
    "queuesummary": AmiSession.queue_summary,
    "mixmonitor": AmiSession.mixmonitor,
    "stopmixmonitor": AmiSession.stop_mixmonitor,
    "mixmonitormute": AmiSession.mixmonitor_mute,
    "confbridgelistrooms": AmiSession.confbridge_list_rooms,
    "confbridgelist": AmiSession.confbridge_list,
    "confbridgekick": AmiSession.confbridge_kick,
    "confbridgemute": AmiSession.confbridge_mute,
    "confbridgeunmute": AmiSession.confbridge_unmute,
    "userevent": AmiSession.user_event,
    "devicestatelist": AmiSession.device_state_list,
    "extensionstate": AmiSession.extension_state,
    "bridgelist": AmiSession.bridge_list,
    "command": AmiSession.command,
}


def _event_mask(text: str, read: frozenset[str]) -> frozenset[str]:
    text = text.strip().lower()
    if text in {"off", "no", "false", "0"}:
        return frozenset()
    if text in {"on", "yes", "true", "1", ""}:
        return read
    return parse_classes(text) & read if text != "all" else read & ALL_CLASSES


def _truthy(text: str) -> bool:
    return text.strip().lower() in {"1", "true", "yes", "on"}


def _parse_callerid(text: str) -> tuple[str, str]:
    match = re.fullmatch(r'\s*"?([^"<]*?)"?\s*<([^>]*)>\s*', text)
    if match:
        return match.group(2), match.group(1)
    return text.strip(), ""


def _hms(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"


def _event_tv(now: float) -> str:
    ms = int((now % 1) * 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{ms:03d}+0000"


def _variables(items: list[str]) -> dict[str, str]:
    """Originate ``Variable:`` headers (``a=1,b=2`` or one per header)."""
    variables: dict[str, str] = {}
    for item in items:
        for part in item.split(","):
            name, _, value = part.partition("=")
            if name:
                variables[name.strip()] = value
    return variables
