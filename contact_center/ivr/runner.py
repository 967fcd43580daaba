"""Run an IVR menu for one call over an :class:`AgiSession`.

Every node the caller passes produces an :class:`IvrStep` for the call (the Linkedid), given
to the injected ``sink`` so history and the screen pop see the IVR path. Sensitive input (PIN,
card number) is never emitted, never set as a channel variable (VarSet would carry it over
AMI) and is wrapped in ``RecordingMuted`` events so the recording policy can pause recording.

When the menu hands the call on (queue, transfer) the runner sets the channel variables the
dialplan reads — ``CC_QUEUE``, ``CC_PRIORITY`` (and app_queue's own ``QUEUE_PRIO``),
``CC_SKILLS``, ``CC_CUSTOMER_ID``, ``CC_LANGUAGE``, ``CC_IVR_PATH`` — and returns, so the
dialplan continues after ``AGI()``.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import math
import re
import time
import zoneinfo
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from contact_center.calls.events import (
    CallbackRequested,
    CallerIdentified,
    DomainEvent,
    IvrStep,
    RecordingMuted,
    make_key,
)
from contact_center.ivr.agi import AgiHangup
from contact_center.ivr.data import (
    CallbackRequest,
    CustomerInfo,
    IvrData,
    IvrDataError,
    verify_pin,
)
from contact_center.ivr.menus import Menu, MenuLibrary, MenuSet, Node
from contact_center.ivr.session import AgiSession, Digits

log = logging.getLogger(__name__)

Sink = Callable[[DomainEvent], Awaitable[None]]
Estimate = Callable[[str], "tuple[int, float | None] | Awaitable[tuple[int, float | None]]"]
ALL_DIGITS = "0123456789*#"
CALLBACK_PROMPT = "common/callback-done"  # ivr_menus/common.yaml
CALLBACK_OFFER_PROMPT = "common/callback-offer"  # "…to be called back, press 1"
GOODBYE_PROMPT = "common/goodbye"
# Prompts are STREAM FILE cc/<path>: Asterisk finds them in sounds/<language>/cc/<path>.wav,
# where docker-compose.yml mounts ivr_menus/prompts/<language> (see docs/deployment.md).
PROMPT_PREFIX = "cc"
# How long a caller waits on routing or the wait estimate (Redis or the database slow or
# away) before the menu goes on without them: the menu's queue, no announcement.
DEPENDENCY_WAIT_SECONDS = 2.0
# The FastAGI scripts the shipped dialplan calls (deploy/asterisk/extensions.conf):
# TRUNK_SCRIPT gets the DID and runs its menu ([agi] did_menus, else the default menu);
# CALLBACK_OFFER_SCRIPT gets the queue a caller waited in until QUEUESTATUS=TIMEOUT.
TRUNK_SCRIPT = "main"
CALLBACK_OFFER_SCRIPT = "callback-offer"
CALLBACK_OFFER_NODE = Node("callback_offer", "callback", 0, {})
CALLBACK_OFFER_ATTEMPTS = 2
QUEUE_NAME = re.compile(r"[a-z][a-z0-9_-]{0,63}")
VOICEMAIL_CONTEXT = "voicemail"  # deploy/asterisk/extensions.conf: mailbox per queue
MAX_SUB_DEPTH = 8


class IvrError(Exception):
    """The menu cannot go on (unknown menu, too many steps)."""


@dataclass(frozen=True, slots=True)
class CallOutcome:
    """How the IVR part of a call ended."""

    menu: str
    end: str  # queue | transfer | callback | voicemail | hangup | caller_hangup | return
    path: tuple[str, ...]
    queue: str = ""
    extension: str = ""
    customer_id: int | None = None
    language: str = ""


@dataclass
class _Call:
    menu: str
    call_id: str
    leg_id: str
    caller: str
    language: str
    customer: CustomerInfo | None = None
    variables: dict[str, str] = field(default_factory=dict)
    path: list[str] = field(default_factory=list)
    digits: list[str] = field(default_factory=list)  # non-sensitive digits, in order
    stack: list[tuple[str, str]] = field(default_factory=list)
    seq: int = 0
    node: Node | None = None
    node_menu: str = ""


@dataclass(frozen=True, slots=True)
class HandOff:
    """What the IVR hands to routing at a queue node, and what routing answers.

    The menu's queue, priority and skills are the defaults; a router may change them (VIP
    priority, overflow, the operator who served this customer last)."""

    server: str
    call_id: str
    caller: str
    customer_id: int | None
    menu: str
    digits: str  # the digits of the caller's menu choices, in order
    language: str
    queue: str
    priority: int
    skills: tuple[str, ...]
    preferred_interface: str = ""
    ring_first_seconds: int = 0
    # queue | callback | voicemail: routing may decide the call is not queued (closed,
    # nobody logged in); the IVR then takes a callback request or sends it to voicemail.
    action: str = "queue"


Router = Callable[[HandOff], Awaitable[HandOff]]


@dataclass(frozen=True, slots=True)
class _Next:
    """A node's verdict: go to ``target`` (relative to its menu) or end with ``end``."""

    target: str = ""
    end: str = ""
    queue: str = ""
    extension: str = ""


class IvrRunner:
    """Runs menus for calls. Use :meth:`handle` as the :class:`FastAgiServer` handler."""

    def __init__(
        self,
        menus: MenuLibrary | MenuSet,
        sink: Sink,
        *,
        data: IvrData | None = None,
        server_id: str = "pbx1",
        estimate: Estimate | None = None,
        now: Callable[[], datetime] | None = None,
        prompt_prefix: str = PROMPT_PREFIX,
        default_menu: str = "",
        did_menus: Mapping[str, str] | None = None,
        router: Router | None = None,
        max_steps: int = 300,
        answer: bool = True,
    ) -> None:
        self.menus = menus
        self.sink = sink
        self.data = data
        self.server_id = server_id
        self.estimate = estimate
        self.now = now or (lambda: datetime.now(UTC))
        self.prompt_prefix = prompt_prefix
        self.default_menu = default_menu
        self.did_menus = dict(did_menus or {})
        self.router = router
        self.max_steps = max_steps
        self.answer = answer

    def _menuset(self) -> MenuSet:
        return self.menus.current if isinstance(self.menus, MenuLibrary) else self.menus

    @property
    def scripts(self) -> Mapping[str, Callable[[AgiSession], Awaitable[CallOutcome]]]:
        """FastAGI scripts with a handler of their own; any other script runs a menu."""
        return {CALLBACK_OFFER_SCRIPT: self.offer_callback}

    async def handle(self, session: AgiSession) -> CallOutcome:
        """FastAGI entry: ``AGI(agi://host:port/ivr,<menu>)``, or the script names the menu,
        or it is one of :attr:`scripts`."""
        own = self.scripts.get(session.request.script)
        if own is not None:
            return await own(session)
        args = session.request.args
        name = (args[0] if args else "") or session.request.script
        # A trunk dialplan passes the DID (AGI(agi://…/main,${EXTEN})): the DID picks the menu.
        mapped = self.did_menus.get(name, "")
        if mapped in self._menuset().menus:
            name = mapped
        if name not in self._menuset().menus and self.default_menu:
            log.warning("no IVR menu %r; running %r", name, self.default_menu)
            name = self.default_menu
        return await self.run(session, name)

    async def offer_callback(self, session: AgiSession) -> CallOutcome:
        """``AGI(agi://…/callback-offer,<queue>)`` after the queue timed out: offer a callback
        (press 1), store it the way a menu's ``callback`` node does (one per call, announced
        as ``CallbackRequested``) and tell the caller; the dialplan hangs up after us."""
        req = session.request
        queue = req.args[0] if req.args else ""
        call = _Call(
            menu=CALLBACK_OFFER_SCRIPT,
            call_id="",
            leg_id=req.uniqueid,
            caller=req.callerid,
            language=req.language,
            node=CALLBACK_OFFER_NODE,
            node_menu=CALLBACK_OFFER_SCRIPT,
        )
        call.path.append(CALLBACK_OFFER_NODE.id)
        node = CALLBACK_OFFER_NODE
        try:
            outcome = await self._offer_callback(session, call, queue)
            # We decided (offered, declined, stored): the dial plan hangs up. A server gone
            # mid-offer leaves this unset, and the dial plan sends the caller to voicemail.
            await session.set_variable("CC_IVR_DONE", "1")
            return outcome
        except AgiHangup:
            await self._step(call, node, result="hangup")
            return self._outcome(call, "caller_hangup", queue)

    async def _offer_callback(self, session: AgiSession, call: _Call, queue: str) -> CallOutcome:
        node = CALLBACK_OFFER_NODE
        call.call_id = await session.linkedid()
        if not QUEUE_NAME.fullmatch(queue):
            log.warning(
                "callback-offer: no queue name in %r; nothing offered", session.request.args
            )
            await self._step(call, node, result="no_queue")
            return self._outcome(call, "hangup")
        choice = ""
        for _ in range(CALLBACK_OFFER_ATTEMPTS):
            got = await session.get_data(self._file(CALLBACK_OFFER_PROMPT), 5000, 1)
            choice = got.digits
            if choice:
                break
        if choice != "1":
            await self._step(call, node, result="declined", digits=choice)
            await self._play(session, GOODBYE_PROMPT)
            return self._outcome(call, "hangup", queue)
        created = await self._store_callback(call, node, queue, "queue timeout: offered")
        if created is None:
            await self._step(call, node, result="unavailable", digits=choice)
            await self._play(session, GOODBYE_PROMPT)
            return self._outcome(call, "hangup", queue)
        await self._play(session, CALLBACK_PROMPT)
        await self._step(
            call, node, result=f"callback:{queue}" if created else "callback_exists", digits="1"
        )
        return self._outcome(call, "callback", queue)

    async def run(self, session: AgiSession, menu_name: str, *, linkedid: str = "") -> CallOutcome:
        """Run ``menu_name`` from its start node until it hands the call on or ends."""
        menus = self._menuset()  # one consistent version for the whole call, even on reload
        if menu_name not in menus.menus or menus.menus[menu_name].start is None:
            raise IvrError(f"no IVR menu {menu_name!r} with a start node")
        req = session.request
        call = _Call(
            menu=menu_name,
            call_id="",
            leg_id=req.uniqueid,
            caller=req.callerid,
            language=req.language,
        )
        try:
            # A plain-looking Linkedid argument could be spoofed only by the dialplan author.
            call.call_id = linkedid or await session.linkedid()
            if self.answer:
                await session.answer()
            outcome = await self._walk(session, menus, call)
        except AgiHangup:
            if call.node is not None:
                await self._step(call, call.node, result="hangup")
            return self._outcome(call, "caller_hangup")
        if not session.hung_up and outcome.end not in ("hangup", "callback"):
            try:
                await session.set_variable("CC_IVR_PATH", ">".join(call.path)[-200:])
            except AgiHangup:
                pass
        return outcome

    def _outcome(self, call: _Call, end: str, queue: str = "", extension: str = "") -> CallOutcome:
        return CallOutcome(
            menu=call.menu,
            end=end,
            path=tuple(call.path),
            queue=queue,
            extension=extension,
            customer_id=call.customer.id if call.customer else None,
            language=call.language,
        )

    async def _walk(self, session: AgiSession, menus: MenuSet, call: _Call) -> CallOutcome:
        menu, node = menus.start(call.menu)
        for _ in range(self.max_steps):
            call.node, call.node_menu = node, menu.name
            call.path.append(node.id if menu.name == call.menu else f"{menu.name}:{node.id}")
            handler = getattr(self, f"_node_{node.type}")
            verdict: _Next = await handler(session, call, menu, node)
            if verdict.end:
                return self._outcome(call, verdict.end, verdict.queue, verdict.extension)
            menu, node = menus.resolve(menu.name, verdict.target)
        raise IvrError(f"menu {call.menu!r}: more than {self.max_steps} steps")

    # --- events -----------------------------------------------------------------------------

    def _base(self, call: _Call, kind: str) -> dict[str, Any]:
        call.seq += 1
        return {
            "server": self.server_id,
            "call_id": call.call_id,
            "leg_id": call.leg_id,
            "at": time.time(),
            "seq": call.seq,
            "key": make_key(self.server_id, call.call_id, call.leg_id, kind, call.seq),
        }

    async def _step(
        self, call: _Call, node: Node, *, result: str, digits: str = "", sensitive: bool = False
    ) -> None:
        if digits and not sensitive:
            call.digits.append(digits)
        await self.sink(
            IvrStep(
                **self._base(call, "ivr_step"),
                menu=call.node_menu or call.menu,
                node=node.id,
                digits="" if sensitive else digits,
                result=result,
                sensitive=sensitive,
            )
        )

    async def _muted(self, call: _Call, muted: bool, reason: str) -> None:
        await self.sink(
            RecordingMuted(**self._base(call, f"muted-{muted}"), muted=muted, reason=reason)
        )

    # --- helpers ----------------------------------------------------------------------------

    def _file(self, prompt: str) -> str:
        return f"{self.prompt_prefix}/{prompt}" if self.prompt_prefix else prompt

    async def _play(self, session: AgiSession, prompt: str | None, escape: str = "") -> str:
        return await session.stream_file(self._file(prompt), escape) if prompt else ""

    async def _collect(
        self, session: AgiSession, prompt: str, node: Node, max_digits: int
    ) -> Digits:
        timeout_ms = int(node.get("timeout", 5.0) * 1000)
        return await session.get_data(self._file(prompt), timeout_ms, max_digits)

    # --- node types -------------------------------------------------------------------------

    async def _node_play(self, session: AgiSession, call: _Call, menu: Menu, node: Node) -> _Next:
        digit = await self._play(
            session, node["prompt"], ALL_DIGITS if node["interruptible"] else ""
        )
        await self._step(call, node, result="interrupted" if digit else "ok", digits=digit)
        return _Next(node["next"])

    async def _node_menu(self, session: AgiSession, call: _Call, menu: Menu, node: Node) -> _Next:
        options: dict[str, tuple[str, int]] = dict(node["options"])
        for attempt in range(node["retries"] + 1):
            got = await self._collect(session, node["prompt"], node, 1)
            last = attempt == node["retries"]
            if got.digits in options:
                await self._step(call, node, result="ok", digits=got.digits)
                return _Next(options[got.digits][0])
            if not got.digits:
                await self._step(call, node, result="timeout")
                if last:
                    return _Next(node.get("on_timeout") or node["on_invalid"])
                continue
            await self._step(call, node, result="invalid", digits=got.digits)
            if last:
                return _Next(node["on_invalid"])
            await self._play(session, node.get("invalid_prompt"))
        raise AssertionError("unreachable")

    async def _node_collect(
        self, session: AgiSession, call: _Call, menu: Menu, node: Node
    ) -> _Next:
        sensitive = bool(node["sensitive"])
        if sensitive:
            await self._muted(call, True, f"ivr:{node.id}")
        try:
            for attempt in range(node["retries"] + 1):
                got = await self._collect(session, node["prompt"], node, node["max"])
                last = attempt == node["retries"]
                if not got.digits:
                    await self._step(call, node, result="timeout", sensitive=sensitive)
                    if last:
                        return _Next(node.get("on_timeout") or node["on_invalid"])
                    continue
                if node["min"] <= len(got.digits) <= node["max"] and got.digits.isdigit():
                    await self._step(
                        call, node, result="ok", digits=got.digits, sensitive=sensitive
                    )
                    call.variables[node["variable"]] = got.digits
                    if not sensitive:
                        await session.set_variable(node["variable"], got.digits)
                    return _Next(node["next"])
                await self._step(
                    call, node, result="invalid", digits=got.digits, sensitive=sensitive
                )
                if last:
                    return _Next(node["on_invalid"])
                await self._play(session, node.get("invalid_prompt"))
        finally:
            if sensitive and not session.hung_up:
                await self._muted(call, False, f"ivr:{node.id}")
            elif sensitive:
                await self._muted(call, False, f"ivr:{node.id}:hangup")
        raise AssertionError("unreachable")

    async def _node_identify(
        self, session: AgiSession, call: _Call, menu: Menu, node: Node
    ) -> _Next:
        if self.data is None:
            raise IvrError("identify node needs the customer database")
        for attempt in range(node["retries"] + 1):
            last = attempt == node["retries"]
            got = await self._collect(session, node["prompt"], node, node["max"])
            if not got.digits:
                await self._step(call, node, result="timeout")
                if last:
                    return _Next(node["on_fail"])
                continue
            customer = None
            try:
                if node["min"] <= len(got.digits) <= node["max"]:
                    customer = await self.data.customer_by_account(got.digits)
            except IvrDataError as exc:
                log.warning("identify %s: %s", node.id, exc)
                await self._step(call, node, result="unavailable", digits=got.digits)
                return _Next(node["on_fail"])
            if customer is not None and node["by"] == "pin":
                customer = await self._check_pin(session, call, node, customer)
            if customer is not None:
                call.customer = customer
                await self._step(call, node, result="identified", digits=got.digits)
                await self.sink(
                    CallerIdentified(
                        **self._base(call, "identified"), customer_id=customer.id, method=node["by"]
                    )
                )
                await session.set_variable("CC_CUSTOMER_ID", str(customer.id))
                return _Next(node["next"])
            await self._step(call, node, result="not_found", digits=got.digits)
            if last:
                return _Next(node["on_fail"])
            await self._play(session, node.get("invalid_prompt"))
        raise AssertionError("unreachable")

    async def _check_pin(
        self, session: AgiSession, call: _Call, node: Node, customer: CustomerInfo
    ) -> CustomerInfo | None:
        await self._muted(call, True, f"ivr:{node.id}:pin")
        try:
            got = await self._collect(session, node["pin_prompt"], node, node["pin_max"])
        finally:
            await self._muted(call, False, f"ivr:{node.id}:pin")
        ok = await verify_pin(customer.pin_hash, got.digits)
        await self._step(call, node, result="pin_ok" if ok else "pin_wrong", sensitive=True)
        return customer if ok else None

    async def _say_money(self, session: AgiSession, amount: Decimal, currency: str) -> None:
        cur = (currency or "rub").lower()
        await session.say_money(
            amount,
            cur,
            unit_prompt=self._file(f"common/currency-{cur}"),
            cents_prompt=self._file(f"common/currency-{cur}-minor"),
            minus_prompt=self._file("common/minus"),
        )

    async def _node_say(self, session: AgiSession, call: _Call, menu: Menu, node: Node) -> _Next:
        lookup = node["lookup"]
        if lookup == "variable":
            value = call.variables.get(node["variable"], "")
            await self._play(session, node.get("prompt"))
            if value.isdigit():
                if node["as"] == "number":
                    await session.say_number(int(value))
                else:
                    await session.say_digits(value)
            await self._step(call, node, result="said" if value else "missing")
            return _Next(node["next"])
        try:
            said = await self._lookup(session, call, node, lookup)
        except IvrDataError as exc:
            log.warning("say %s: %s", node.id, exc)
            said = ""
        await self._step(call, node, result=said or "missing")
        return _Next(node["next"] if said else node["on_missing"])

    async def _lookup(self, session: AgiSession, call: _Call, node: Node, lookup: str) -> str:
        """Speak one lookup; return what was said, or "" when there is nothing to say."""
        if self.data is None:
            return ""
        customer = call.customer
        if lookup == "balance":
            if customer is None or customer.balance is None:
                return ""
            await self._play(session, node.get("prompt"))
            await self._say_money(session, customer.balance, customer.currency)
            return "balance"
        if lookup == "last_payment":
            payment = await self.data.last_payment(customer.id) if customer else None
            if payment is None:
                return ""
            await self._play(session, node.get("prompt"))
            await self._say_money(session, payment.amount, payment.currency)
            await session.say_date(int(payment.paid_at.timestamp()))
            return "last_payment"
        number = call.variables.get(node["variable"], "")
        order = await self.data.order(number, customer.id if customer else None) if number else None
        if order is None:
            return ""
        statuses: dict[str, tuple[str, int]] = dict(node["statuses"])
        await self._play(session, node.get("prompt"))
        await session.say_digits(order.number)
        prompt = statuses.get(order.status) or statuses.get("other")
        if prompt:
            await self._play(session, prompt[0])
        return f"order_status:{order.status}"

    async def _node_language(
        self, session: AgiSession, call: _Call, menu: Menu, node: Node
    ) -> _Next:
        options: dict[str, str] = dict(node["options"])
        for _attempt in range(node["retries"] + 1):
            got = await self._collect(session, node["prompt"], node, 1)
            if got.digits in options:
                call.language = options[got.digits]
                await session.set_variable("CHANNEL(language)", call.language)
                await self._step(call, node, result=call.language, digits=got.digits)
                return _Next(node["next"])
            await self._step(
                call, node, result="timeout" if not got.digits else "invalid", digits=got.digits
            )
        return _Next(node["next"])  # keep the channel's language

    async def _node_hours(self, session: AgiSession, call: _Call, menu: Menu, node: Node) -> _Next:
        local = self.now().astimezone(zoneinfo.ZoneInfo(node["timezone"]))
        if local.date() in node["holidays"]:
            await self._step(call, node, result="holiday")
            return _Next(node.get("on_holiday") or node["on_closed"])
        spans = node["open"].get(local.weekday(), ())
        now_t = local.time()
        is_open = any(start <= now_t < end for start, end in spans)
        await self._step(call, node, result="open" if is_open else "closed")
        return _Next(node["on_open"] if is_open else node["on_closed"])

    async def _node_set(self, session: AgiSession, call: _Call, menu: Menu, node: Node) -> _Next:
        for name, value in node["variables"].items():
            await session.set_variable(name, value)
            call.variables[name] = value
        await self._step(call, node, result="ok")
        return _Next(node["next"])

    async def _node_queue(self, session: AgiSession, call: _Call, menu: Menu, node: Node) -> _Next:
        await self._play(session, node.get("prompt"))
        hand = HandOff(
            server=self.server_id,
            call_id=call.call_id,
            caller=call.caller,
            customer_id=call.customer.id if call.customer is not None else None,
            menu=call.menu,
            digits="".join(call.digits),
            language=call.language,
            queue=node["queue"],
            priority=int(node["priority"]),
            skills=tuple(node["skills"]),
        )
        if self.router is not None:
            try:
                async with asyncio.timeout(DEPENDENCY_WAIT_SECONDS):
                    hand = await self.router(hand)
            except TimeoutError:
                log.warning(
                    "routing did not answer within %.1f s for call %s; using the menu's queue",
                    DEPENDENCY_WAIT_SECONDS, call.call_id,
                )  # fmt: skip
            except Exception:  # routing down must not drop the caller: the menu's queue
                log.exception("routing failed for call %s; using the menu's queue", call.call_id)
        if hand.action == "callback":
            return await self._routed_callback(session, call, node, hand.queue)
        if hand.action == "voicemail":
            return await self._routed_voicemail(session, call, node, hand.queue)
        queue, priority = hand.queue, hand.priority
        if call.customer is not None:
            await session.set_variable("CC_CUSTOMER_ID", str(call.customer.id))
        await session.set_variable("CC_QUEUE", queue)
        await session.set_variable("CC_PRIORITY", str(priority))
        await session.set_variable("QUEUE_PRIO", str(priority))
        await session.set_variable("CC_SKILLS", ",".join(hand.skills))
        await session.set_variable("CC_LANGUAGE", call.language)
        if hand.preferred_interface:
            # The dialplan rings this operator first, then queues (sticky routing).
            await session.set_variable("CC_PREFERRED", hand.preferred_interface)
            await session.set_variable("CC_PREFERRED_SECONDS", str(hand.ring_first_seconds))
        await self._step(call, node, result=f"queue:{queue}")
        return _Next(end="queue", queue=queue)

    async def _routed_callback(
        self, session: AgiSession, call: _Call, node: Node, queue: str
    ) -> _Next:
        """Routing said nobody can take the call now: store a callback request, tell the
        caller and hang up. Without a database or a number to call back: voicemail."""
        created = await self._store_callback(call, node, queue, "routing: no operator")
        if created is None:
            return await self._routed_voicemail(session, call, node, queue)
        await self._play(session, CALLBACK_PROMPT)
        await self._step(call, node, result=f"callback:{queue}" if created else "callback_exists")
        await session.hangup()
        return _Next(end="callback", queue=queue)

    async def _routed_voicemail(
        self, session: AgiSession, call: _Call, node: Node, queue: str
    ) -> _Next:
        """Routing said nobody can take the call now: the queue's mailbox in the dialplan's
        ``[voicemail]`` context (deploy/asterisk/extensions.conf)."""
        await session.set_variable("CC_TRANSFER", f"{queue}@{VOICEMAIL_CONTEXT}")
        await session.goto(VOICEMAIL_CONTEXT, queue, 1)
        await self._step(call, node, result=f"voicemail:{queue}")
        return _Next(end="voicemail", queue=queue, extension=queue)

    async def _node_transfer(
        self, session: AgiSession, call: _Call, menu: Menu, node: Node
    ) -> _Next:
        await self._play(session, node.get("prompt"))
        extension, context = node["extension"], node["context"]
        await session.set_variable("CC_TRANSFER", f"{extension}@{context}")
        await session.goto(context, extension, 1)
        await self._step(call, node, result=f"transfer:{extension}@{context}")
        return _Next(end="transfer", extension=extension)

    async def _node_callback(
        self, session: AgiSession, call: _Call, menu: Menu, node: Node
    ) -> _Next:
        created = await self._store_callback(call, node, node["queue"], node["note"])
        if created is None:
            await self._step(call, node, result="unavailable")
            return _Next(node["next"])
        await self._play(session, node.get("prompt"))
        await self._step(call, node, result="callback" if created else "callback_exists")
        return _Next(node["next"])

    async def _store_callback(self, call: _Call, node: Node, queue: str, note: str) -> bool | None:
        """Store a callback request (once per call and node) and announce it on the bus.

        True: stored now; False: it was already there; None: it cannot be stored."""
        if self.data is None or not call.caller:
            return None
        customer_id = call.customer.id if call.customer else None
        request = CallbackRequest(
            key=make_key(self.server_id, call.call_id, "callback", node.id),
            number=call.caller,
            queue=queue,
            note=note,
            customer_id=customer_id,
            call_linkedid=call.call_id,
            requested_at=self.now(),
        )
        try:
            created = await self.data.store_callback(request)
        except IvrDataError as exc:
            log.warning("callback %s: %s", node.id, exc)
            return None
        if created:
            await self.sink(
                CallbackRequested(
                    **self._base(call, "callback"),
                    number=call.caller,
                    queue=queue,
                    customer_id=customer_id,
                    note=note,
                )
            )
        return created

    async def _node_announce(
        self, session: AgiSession, call: _Call, menu: Menu, node: Node
    ) -> _Next:
        if self.estimate is None:
            await self._step(call, node, result="unavailable")
            return _Next(node["next"])
        try:
            async with asyncio.timeout(DEPENDENCY_WAIT_SECONDS):
                estimate = self.estimate(node["queue"])
                position, seconds = await estimate if inspect.isawaitable(estimate) else estimate
        except Exception as exc:  # statistics away: the caller goes on without the figure
            log.warning("wait estimate for %s unavailable: %r", node["queue"], exc)
            await self._step(call, node, result="unavailable")
            return _Next(node["next"])
        if seconds is None:  # nobody staffed: no honest estimate to give
            await self._step(call, node, result=f"position={position} wait=unknown")
            return _Next(node["next"])
        minutes = max(1, math.ceil(seconds / 60))
        await self._play(session, node["position_prompt"])
        await session.say_number(position)
        await self._play(session, node["wait_prompt"])
        await session.say_number(minutes)
        await self._play(session, node["minutes_prompt"])
        await self._step(call, node, result=f"position={position} wait={minutes}m")
        return _Next(node["next"])

    async def _node_hangup(self, session: AgiSession, call: _Call, menu: Menu, node: Node) -> _Next:
        await self._play(session, node.get("prompt"))
        await self._step(call, node, result="hangup_by_ivr")
        await session.hangup()
        return _Next(end="hangup")

    async def _node_goto(self, session: AgiSession, call: _Call, menu: Menu, node: Node) -> _Next:
        await self._step(call, node, result="ok")
        return _Next(node["target"])

    async def _node_sub(self, session: AgiSession, call: _Call, menu: Menu, node: Node) -> _Next:
        if len(call.stack) >= MAX_SUB_DEPTH:
            raise IvrError(f"sub-menus nested deeper than {MAX_SUB_DEPTH} at {node.id!r}")
        back = node["next"]
        back_menu, _, back_node = back.rpartition(":") if ":" in back else (menu.name, "", back)
        call.stack.append((back_menu, back_node))
        await self._step(call, node, result="ok")
        return _Next(node["target"])

    async def _node_return(self, session: AgiSession, call: _Call, menu: Menu, node: Node) -> _Next:
        await self._step(call, node, result="ok")
        if not call.stack:
            return _Next(end="return")
        back_menu, back_node = call.stack.pop()
        return _Next(f"{back_menu}:{back_node}")
