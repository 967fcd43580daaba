"""One AMI connection: framing, login, rights, event delivery, dispatch through the handler
table.

The actions themselves live in the ``actions_*`` modules, one per job; each registers its
handlers in :data:`HANDLERS` with :func:`register`, and ``server.py`` imports them all.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING

from contact_center.sim.ami.fields import event_tv
from contact_center.sim.ami.rights import ACTION_RIGHTS, event_mask
from contact_center.sim.config import User
from contact_center.sim.errors import NoSuchChannel, QueueError
from contact_center.sim.wire import BANNER, Headers, Request, encode, parse_requests

if TYPE_CHECKING:
    from contact_center.sim.core import Event, PbxCore

log = logging.getLogger(__name__)

GOODBYE = "Thanks for all the fish."
AUTH_FAIL_CLOSE_DELAY = 1.0  # Asterisk closes a failed login's socket about 1 s later
MAX_UNSENT = 16 * 1024 * 1024  # bytes queued for a client before it counts as stuck


class AmiSession:
    """One AMI connection: the plumbing every action uses (responses, list items, events)."""

    def __init__(
        self,
        pbx: PbxCore,
        users: Mapping[str, User],
        name: str,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        self.pbx = pbx
        self.users = users
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
        self.name = name
        self.recorder = pbx.recorder
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

    def listen(self, mask: frozenset[str]) -> None:
        """Hear the events of the classes in ``mask`` from now on (AMI Events)."""
        self.event_mask = mask
        if self.event_mask and self._unsubscribe is None:
            self._unsubscribe = self.pbx.subscribe(self.on_event)

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
        tv = event_tv(now)
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
            ("SessionTV", event_tv(self.opened) if session_tv else "1970-01-01T00:00:00.000+0000"),
        ]
        self.pbx.emit(name, "security", fields)

    def bad_format(self, action: str) -> None:
        """RequestBadFormat: unlike its siblings, AccountID comes last."""
        fields: Headers = [
            ("EventTV", event_tv(time.time())),
            ("Severity", "Error"),
            ("Service", "AMI"),
            ("EventVersion", "1"),
            ("SessionID", self.session_id),
            ("LocalAddress", self.local),
            ("RemoteAddress", self.remote),
            ("RequestType", f"Action: {action}"),
            ("SessionTV", event_tv(self.opened)),
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
        user = self.users.get(username)
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
        self.event_mask = event_mask(events, user.read)
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


Handler = Callable[[AmiSession, Request], Awaitable[None]]

# The handler table: lower-case action name → handler. Login, Challenge and Logoff are the
# session's own (they run before a user is known) and are not in it.
HANDLERS: dict[str, Handler] = {}


def register(handlers: Mapping[str, Handler]) -> None:
    """Add a module's actions to :data:`HANDLERS` (an action registered twice is a bug)."""
    for action, handler in handlers.items():
        if action in HANDLERS:
            raise ValueError(f"AMI action {action!r} is registered twice")
        HANDLERS[action] = handler
