"""Supervisor wallboard, live figures API, reports (page, CSV, JSON) and wallboard actions.

Routes (supervisor and admin only):

* ``GET /wallboard`` — tiles per queue, operators table, day charts; ``?queue=`` preselects.
* ``GET /wallboard/ws`` — websocket: ``{"type": "snapshot", "snapshot": {...}}`` on every
  published change (the stats worker publishes on the bus stream ``stats``).
* ``GET /api/stats/live`` — the latest snapshot as JSON.
* ``GET /reports`` and ``GET /api/stats/reports?start=&end=&interval=&group=&queue=&format=``
  — historical rows (``format=csv`` for a download).
* ``POST /wallboard/action`` — ``action`` = listen | whisper | barge | pause | unpause with
  ``interface`` (and ``reason``): done by the executor given as ``SUPERVISION_KEY`` (routing's
  ChanSpy / QueuePause), or else published as an ``OperatorCommand`` (listen / whisper /
  barge with ``interface``; ``force_pause`` / ``force_unpause`` with the operator's ``login``)
  on the ``events`` stream for the connector's executor, which drives Asterisk.

Every web instance runs one :class:`WallboardHub` that follows the ``stats`` stream, loads the
snapshot from the stats store on each notice and fans it out; each socket has a one-slot
mailbox, so a slow browser simply skips to the newest snapshot instead of delaying the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import aiohttp_jinja2
from aiohttp import WSMsgType, web

from contact_center.admin.services import choice_names
from contact_center.backoff import Backoff
from contact_center.bus.base import EVENTS, Bus, BusError, BusUnavailable
from contact_center.calls import events as ev
from contact_center.config import WallboardSettings, wallboard_overrides
from contact_center.i18n import gettext as _
from contact_center.i18n import lazy_gettext
from contact_center.routing.operators import PAUSE_REASONS
from contact_center.stats import services
from contact_center.stats.consumer import STATS_STREAM
from contact_center.stats.levels import with_stored_levels
from contact_center.stats.metrics import MetricsConfig
from contact_center.stats.report_view import report_lines
from contact_center.stats.reports import INTERVALS, ReportError, report, rows_to_csv
from contact_center.stats.schemas import ReportQuery, ReportRows, Snapshot, WallboardActionForm
from contact_center.web.auth import Role, current_user, require_role
from contact_center.web.forms import documented, read_form, read_query
from contact_center.web.keys import (
    BUS_KEY,
    SESSIONS_KEY,
    SETTINGS_KEY,
    add_template_dir,
    allowed_origins,
)
from contact_center.web.ws import CloseCode, origin_allowed

log = logging.getLogger(__name__)

HERE = Path(__file__).parent
SUPERVISORS = (Role.SUPERVISOR, Role.ADMIN)
ACTIONS = ("listen", "whisper", "barge", "pause", "unpause")
MAX_REPORT_DAYS = 92
# Pause reasons as people read them (the codes stay what Asterisk and the API carry).
REASON_LABELS = {
    "break": lazy_gettext("Break"),
    "lunch": lazy_gettext("Lunch"),
    "training": lazy_gettext("Training"),
    "meeting": lazy_gettext("Meeting"),
    "after-call work": lazy_gettext("After-call work"),
    "technical": lazy_gettext("Technical problem"),
    "wrapup": lazy_gettext("Wrap-up"),
    "Auto-Pause": lazy_gettext("No answer — auto-pause"),
}


def reason_label(code: str) -> str:
    return str(REASON_LABELS.get(code, code))


def reader_zone(request: web.Request, config: MetricsConfig) -> str:
    """The time zone a page shows times in: the user's own when they have one, else the
    call center's."""
    return str(getattr(current_user(request), "timezone", "") or "") or config.timezone or "UTC"


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Tile colours: red at or beyond the first bound, amber at or beyond the second."""

    sl_red_below: float = 80.0
    sl_amber_below: float = 90.0
    wait_amber_seconds: float = 60.0
    wait_red_seconds: float = 120.0
    abandon_amber_pct: float = 5.0
    abandon_red_pct: float = 10.0
    ok_colour: str = "#276749"
    amber_colour: str = "#b7791f"
    red_colour: str = "#c53030"

    def to_dict(self) -> dict[str, float | str]:
        return dataclasses.asdict(self)


@dataclass(frozen=True, slots=True)
class WallboardLook:
    """The thresholds and colours of every queue: the defaults, and each queue's own."""

    default: Thresholds = field(default_factory=Thresholds)
    queues: Mapping[str, Thresholds] = field(default_factory=dict)

    @classmethod
    def from_settings(cls, settings: WallboardSettings) -> WallboardLook:
        names = {f.name for f in dataclasses.fields(Thresholds)}
        default = Thresholds(
            **{k: v for k, v in dataclasses.asdict(settings).items() if k in names}
        )
        queues = {
            queue: dataclasses.replace(default, **values)  # type: ignore[arg-type]
            for queue, values in wallboard_overrides(settings).items()
        }
        return cls(default, queues)

    def for_queue(self, queue: str) -> Thresholds:
        return self.queues.get(queue, self.default)

    def to_dict(self) -> dict[str, Any]:
        return {
            "default": self.default.to_dict(),
            "queues": {q: t.to_dict() for q, t in self.queues.items()},
        }


@dataclass(eq=False)
class Watcher:
    """One wallboard socket: holds only the newest frame not yet sent."""

    frame: str | None = None
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    socket: web.WebSocketResponse | None = None

    def offer(self, frame: str) -> None:
        self.frame = frame  # an unsent older snapshot is simply replaced
        self.ready.set()

    async def next_frame(self) -> str:
        await self.ready.wait()
        self.ready.clear()
        frame, self.frame = self.frame, None
        return frame or ""


SnapshotLoader = Callable[[], Awaitable[dict[str, Any] | None]]


class WallboardHub:
    """Follows the ``stats`` stream and hands each snapshot to every wallboard socket."""

    def __init__(self, bus: Bus, load: SnapshotLoader, *, block_ms: int = 1000) -> None:
        self.bus = bus
        self.load = load
        self.block_ms = block_ms
        self.latest: dict[str, Any] | None = None
        self._frame: str | None = None
        self.watchers: set[Watcher] = set()
        self.started = asyncio.Event()
        # a newer snapshot is announced but not loaded: with no wallboard open it is loaded
        # when a page asks (``current``), not on every notice (1,000 operators: tens of ms)
        self._stale = False
        self._loading = asyncio.Lock()
        self.notices = 0  # "changed" notices read from the stream

    def publish_local(self, snapshot: dict[str, Any]) -> None:
        self.latest = snapshot
        self._frame = None
        frame = self.latest_frame if self.watchers else None
        if frame is not None:
            for watcher in self.watchers:
                watcher.offer(frame)

    @property
    def latest_frame(self) -> str | None:
        """The websocket frame of the latest snapshot, encoded once someone watches: with no
        wallboard open, a snapshot of 1,000 operators several times a second is not encoded
        for nobody (it held the loop, and every screen pop with it)."""
        if self._frame is None and self.latest is not None:
            self._frame = json.dumps(
                {"type": "snapshot", "snapshot": self.latest}, separators=(",", ":")
            )
        return self._frame

    async def current(self) -> dict[str, Any] | None:
        """The newest snapshot, loaded now if a newer one was announced since the last
        load."""
        if self._stale:
            async with self._loading:
                if self._stale:
                    self._stale = False
                    await self._reload()
        return self.latest

    def watch(self, socket: web.WebSocketResponse | None = None) -> Watcher:
        watcher = Watcher(socket=socket)
        frame = self.latest_frame
        if frame is not None:
            watcher.offer(frame)
        self.watchers.add(watcher)
        return watcher

    def unwatch(self, watcher: Watcher) -> None:
        self.watchers.discard(watcher)

    async def run(self) -> None:
        """Follow the stream forever (owned by the app's cleanup context)."""
        cursor = await self._start()
        backoff = Backoff(first=0.2, ceiling=5.0)
        while True:
            try:
                entries = await self.bus.read(STATS_STREAM, cursor, 100, self.block_ms)
                backoff.reset()
            except BusUnavailable as exc:
                delay = backoff.next()
                log.warning("wallboard hub cannot read the bus, retry in %.1f s: %s", delay, exc)
                await backoff.sleep(delay)
                continue
            if not entries:
                continue
            cursor = entries[-1][0]
            if any(m.get("type") == "changed" for _sid, m in entries):
                self.notices += 1
                if self.watchers:
                    await self._reload()  # many notices in one read: one load, the newest
                else:
                    self._stale = True

    async def _reload(self) -> None:
        try:
            snapshot = await self.load()
        except Exception:
            log.exception("wallboard hub: cannot load the snapshot")
            return
        if snapshot is not None:
            self.publish_local(snapshot)

    async def _start(self) -> str:
        cursor = "0-0"
        while True:
            try:
                cursor = await self.bus.last_id(STATS_STREAM)
                break
            except BusUnavailable as exc:
                log.warning("wallboard hub waits for the bus: %s", exc)
                await asyncio.sleep(1.0)
        await self._reload()
        self.started.set()
        return cursor


HUB_KEY = web.AppKey("cc_stats_wallboard_hub", WallboardHub)
STATS_STORE_KEY = web.AppKey("cc_stats_store", object)  # a StatsStore (Protocol)
THRESHOLDS_KEY = web.AppKey("cc_stats_thresholds", WallboardLook)
# optional: async (user: CurrentUser, action, interface, reason) -> None that performs a
# wallboard action; without it the action is published as an OperatorCommand event
SUPERVISION_KEY = web.AppKey("cc_stats_supervision", object)


# --- who sees which queue ----------------------------------------------------------------------


async def visible_queues(request: web.Request) -> set[str] | None:
    """Queues this user may watch; None = all (admins, or no supervisor assignment at all).

    A supervisor sees the queues whose ``queues.supervisors`` lists their login. While no
    queue names any supervisor (a fresh install), supervisors see every queue.
    """
    user = current_user(request)
    if user.role == Role.ADMIN:
        return None
    async with request.app[SESSIONS_KEY]() as db:
        return await services.supervised_queues(db, role=user.role, login=user.login)


def filter_snapshot(snapshot: dict[str, Any], queues: set[str] | None) -> dict[str, Any]:
    if queues is None:
        return snapshot
    operators = {
        iface: op
        for iface, op in snapshot.get("operators", {}).items()
        if set(op.get("queues", [])) & queues
    }
    return {
        **snapshot,
        "queues": {n: q for n, q in snapshot.get("queues", {}).items() if n in queues},
        "operators": operators,
    }


# --- pages and API -------------------------------------------------------------------------------


@require_role(*SUPERVISORS)
async def wallboard_page(request: web.Request) -> web.StreamResponse:
    queues = await visible_queues(request)
    latest = await request.app[HUB_KEY].current() or {
        "queues": {},
        "operators": {},
        "day": "",
        "at": 0,
    }
    config = MetricsConfig.from_settings(request.app[SETTINGS_KEY])
    async with request.app[SESSIONS_KEY]() as db:
        people = await services.phone_owners(db)
    look = request.app[THRESHOLDS_KEY]
    data = {
        "snapshot": filter_snapshot(latest, queues),
        "thresholds": look.default.to_dict(),
        "queue_thresholds": {q: t.to_dict() for q, t in look.queues.items()},
        "queue": request.query.get("queue", ""),
        "reasons": {code: reason_label(code) for code in (*PAUSE_REASONS, *REASON_LABELS)},
        "logins": {p.interface: p.login for p in people},  # the drill-down links
        "names": {p.interface: p.name for p in people},  # people, not phones
        "day_start_hour": config.day_start_hour,
    }
    # the admin's list (admin_choices, seeded with PAUSE_REASONS), as the console offers it
    codes = await choice_names(request.app[SESSIONS_KEY], "pause_reason")
    pause_reasons = [(code, reason_label(code)) for code in codes]
    return aiohttp_jinja2.render_template(
        "wallboard.html",
        request,
        {"title": _("Wallboard"), "data": data, "pause_reasons": pause_reasons},
    )


@documented(
    "GET",
    "/api/stats/live",
    operation_id="statsLive",
    tag="stats",
    summary="The latest wallboard snapshot, limited to the queues you supervise",
    answer=Snapshot,
    answer_description="The snapshot.",
    extra_responses={
        503: {
            "description": "No figures published yet.",
            "content": {"text/plain": {"schema": {"type": "string"}}},
        }
    },
)
@require_role(*SUPERVISORS)
async def live_api(request: web.Request) -> web.Response:
    latest = await request.app[HUB_KEY].current()
    if latest is None:
        raise web.HTTPServiceUnavailable(text="no figures published yet")
    return web.json_response(filter_snapshot(latest, await visible_queues(request)))


@require_role(*SUPERVISORS)
async def wallboard_socket(request: web.Request) -> web.StreamResponse:
    if not origin_allowed(request, allowed_origins(request.app[SETTINGS_KEY])):
        raise web.HTTPForbidden(text="websocket origin not allowed")
    queues = await visible_queues(request)
    ws = web.WebSocketResponse(heartbeat=20.0, max_msg_size=4096, compress=False)
    await ws.prepare(request)
    hub = request.app[HUB_KEY]
    await hub.current()
    watcher = hub.watch(ws)
    writer = asyncio.create_task(_write_snapshots(ws, watcher, queues), name="wallboard-writer")
    try:
        async for msg in ws:
            if msg.type == WSMsgType.ERROR:
                break
    finally:
        hub.unwatch(watcher)
        writer.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await writer
        if not ws.closed:
            await ws.close(code=CloseCode.NORMAL)
    return ws


async def _write_snapshots(
    ws: web.WebSocketResponse, watcher: Watcher, queues: set[str] | None
) -> None:
    while True:
        frame = await watcher.next_frame()
        if queues is not None:
            message = json.loads(frame)
            message["snapshot"] = filter_snapshot(message["snapshot"], queues)
            frame = json.dumps(message, separators=(",", ":"))
        await ws.send_str(frame)


@require_role(*SUPERVISORS)
async def wallboard_action(request: web.Request) -> web.Response:
    """Listen / whisper / barge / force pause: an OperatorCommand on the events stream."""
    form = await read_form(request, WallboardActionForm)
    action, interface = form.action, form.interface
    latest = await request.app[HUB_KEY].current() or {}
    operator = latest.get("operators", {}).get(interface)
    queues = await visible_queues(request)
    if queues is not None and not (operator and set(operator.get("queues", [])) & queues):
        raise web.HTTPForbidden(text=_("This operator is in none of the queues you supervise."))
    codes = await choice_names(request.app[SESSIONS_KEY], "pause_reason")
    if action == "pause" and form.reason not in codes:
        # a forced pause says why, as the operator's own does: no silent default
        raise web.HTTPBadRequest(
            text=_("Choose a pause reason: %(reasons)s", reasons=", ".join(codes))
        )
    user = current_user(request)
    settings = request.app[SETTINGS_KEY]
    now = time.time()
    call_id = str(operator.get("current_call", "")) if operator else ""
    detail = {"interface": interface, "reason": form.reason[:80]}
    execute = request.app.get(SUPERVISION_KEY)
    if execute is not None:
        # the composition root's executor (routing: ChanSpy originate, QueuePause) logs its
        # own OperatorAction into the call history
        try:
            await execute(user, action, interface, detail["reason"])  # type: ignore[operator]
        except (PermissionError, ValueError) as exc:
            raise web.HTTPConflict(text=str(exc)) from None
        return web.json_response(
            {"ok": True, "action": f"supervisor.{action}", "interface": interface}
        )
    command, args, server = await _supervisor_command(request, action, interface, detail["reason"])
    event = ev.OperatorCommand(
        # the connector of the Asterisk server the operator's phone is on
        server=server or settings.general.server_id,
        call_id="" if call_id == "?" else call_id,
        at=now,
        key=ev.make_key("supervisor", user.login, action, interface, now),
        user=user.login,
        role=str(user.role),
        interface=user.interface,
        command=command,
        args=args,
    )
    try:
        await request.app[BUS_KEY].publish(EVENTS, ev.to_dict(event))
    except BusError as exc:
        raise web.HTTPServiceUnavailable(text=f"action not sent: {exc}") from exc
    return web.json_response(
        {"ok": True, "action": f"supervisor.{action}", "command": command, "interface": interface}
    )


async def _supervisor_command(
    request: web.Request, action: str, interface: str, reason: str
) -> tuple[str, dict[str, Any], str]:
    """The executor's command for a wallboard action and the Asterisk server it goes to (the
    operator's; empty: the default): spying names the operator's phone, a forced pause names
    the operator (their login, from the users table)."""
    async with request.app[SESSIONS_KEY]() as db:
        owner = await services.phone_user(db, interface)
    login, server = owner if owner is not None else (None, "")
    if action in ("listen", "whisper", "barge"):
        return action, {"interface": interface}, server
    if login is None:
        raise web.HTTPNotFound(text=_("No user has the phone %(phone)s.", phone=interface))
    if action == "unpause":
        return "force_unpause", {"login": login}, server
    return "force_pause", {"login": login, "reason": reason}, server  # checked by the caller


def _moment(raw: str, zone: tzinfo, *, end: bool) -> datetime | None:
    """A picked day (``2026-12-06``: its start, or the start of the next for the end) or
    a time (checked by :class:`.ReportQuery`); without an offset it is in ``zone``."""
    if not raw:
        return None
    moment = datetime.fromisoformat(raw)
    if len(raw) == 10 and end:  # a day: the whole of it
        moment += timedelta(days=1)
    return moment if moment.tzinfo else moment.replace(tzinfo=zone)


def _parse_period(
    query: ReportQuery, config: MetricsConfig, zone_name: str = ""
) -> tuple[datetime, datetime]:
    """The report's period; a date or time without an offset (the page's pickers) is in the
    reader's time zone, as the people who pick it read their clocks. The end day counts."""
    zone = zone_named(zone_name or config.timezone)
    start = _moment(query.start, zone, end=False)
    end = _moment(query.end, zone, end=True)
    now = datetime.now(UTC)
    if start is None:
        today = now.astimezone(zone).replace(hour=0, minute=0, second=0, microsecond=0)
        start = today if end is None else end - timedelta(days=1)
    end = end or now
    # compared with stored UTC times (SQLite compares them as text)
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    if end - start > timedelta(days=MAX_REPORT_DAYS):
        raise web.HTTPBadRequest(
            text=_("A report covers at most %(days)s days.", days=MAX_REPORT_DAYS)
        )
    return start, end


async def _report_rows(
    request: web.Request, query: ReportQuery
) -> tuple[list[dict[str, Any]], str]:
    # the admin's per-queue service levels over the configured ones
    config = await with_stored_levels(
        MetricsConfig.from_settings(request.app[SETTINGS_KEY]), request.app[SESSIONS_KEY]
    )
    zone = reader_zone(request, config)
    start, end = _parse_period(query, config, zone)
    config = dataclasses.replace(config, timezone=zone)  # intervals in the reader's zone
    allowed = await visible_queues(request)
    wanted = list(query.queue)
    if allowed is not None:
        wanted = [q for q in wanted if q in allowed] if wanted else sorted(allowed)
        if not wanted:
            return [], "queue"
    try:
        rows = await report(
            request.app[SESSIONS_KEY],
            start=start,
            end=end,
            interval=query.interval,
            group=query.group,
            queues=wanted,
            config=config,
        )
    except ReportError as exc:
        raise web.HTTPBadRequest(text=str(exc)) from None
    return [r.to_dict() for r in rows], rows_to_csv(rows)


@documented(
    "GET",
    "/api/stats/reports",
    operation_id="statsReports",
    tag="stats",
    summary="Historical figures per interval and queue or operator (at most 92 days)",
    query=ReportQuery,
    answer=ReportRows,
    answer_description="The rows (CSV download when `format=csv`).",
    also_content={"text/csv": {"schema": {"type": "string"}}},
)
@require_role(*SUPERVISORS)
async def reports_api(request: web.Request) -> web.Response:
    query = read_query(request, ReportQuery)
    rows, csv_text = await _report_rows(request, query)
    if query.format == "csv":
        return web.Response(
            text=csv_text,
            content_type="text/csv",
            headers={"Content-Disposition": 'attachment; filename="report.csv"'},
        )
    return web.json_response({"rows": rows})


def zone_named(name: str) -> tzinfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


@require_role(*SUPERVISORS)
async def reports_page(request: web.Request) -> web.StreamResponse:
    query = read_query(request, ReportQuery)
    rows, _csv = await _report_rows(request, query)
    config = MetricsConfig.from_settings(request.app[SETTINGS_KEY])
    zone_name = reader_zone(request, config)
    zone = zone_named(zone_name)
    start, end = _parse_period(query, config, zone_name)
    interval = query.interval
    allowed = await visible_queues(request)
    async with request.app[SESSIONS_KEY]() as db:
        names = {p.interface: p.name for p in await services.phone_owners(db)}
        queues = await services.queue_names(db, allowed)
    last_day = (end - timedelta(microseconds=1)).astimezone(zone)
    return aiohttp_jinja2.render_template(
        "stats_reports.html",
        request,
        {
            "title": _("Reports"),
            "lines": report_lines(rows, interval, names),
            "intervals": [
                ("15min", _("15 minutes")),
                ("hour", _("hour")),
                ("day", _("day")),
            ],
            "interval": interval if interval in INTERVALS else "hour",
            "queues": queues,
            "query": dict(request.query),
            "start": start.astimezone(zone).strftime("%Y-%m-%d"),
            "end": last_day.strftime("%Y-%m-%d"),
            "zone": zone_name,
            "query_string": request.query_string,
        },
    )


# --- wiring -------------------------------------------------------------------------------------


async def _run_hub(app: web.Application) -> AsyncIterator[None]:
    hub = app[HUB_KEY]
    task = asyncio.create_task(hub.run(), name="wallboard-hub")
    started = asyncio.create_task(hub.started.wait())
    await asyncio.wait({task, started}, return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        started.cancel()
        task.result()  # the hub died while starting: fail the start loudly
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def _close_sockets(app: web.Application) -> None:
    # open wallboards would otherwise hold the shutdown until its timeout
    for watcher in list(app[HUB_KEY].watchers):
        if watcher.socket is not None and not watcher.socket.closed:
            await watcher.socket.close(code=CloseCode.GOING_AWAY, message=b"server shutdown")


def setup(app: web.Application) -> None:
    """Register the wallboard and reports.

    ``create_app(extras=...)`` must give ``STATS_STORE_KEY`` (the StatsStore the stats worker
    writes: the same MemoryStatsStore object embedded, a RedisStatsStore otherwise) and may
    give ``THRESHOLDS_KEY``.
    """
    add_template_dir(app, HERE / "templates")
    store = app.get(STATS_STORE_KEY)
    if store is None:
        raise RuntimeError("stats.http.setup: pass extras={STATS_STORE_KEY: store} to create_app")
    app[HUB_KEY] = WallboardHub(app[BUS_KEY], store.load_snapshot)  # type: ignore[attr-defined]
    if THRESHOLDS_KEY not in app:
        app[THRESHOLDS_KEY] = WallboardLook.from_settings(app[SETTINGS_KEY].wallboard)
    app.router.add_static("/static/stats", HERE / "static", name="stats_static")
    app.router.add_get("/wallboard", wallboard_page, name="wallboard")
    app.router.add_get("/wallboard/ws", wallboard_socket, name="wallboard_ws")
    app.router.add_post("/wallboard/action", wallboard_action, name="wallboard_action")
    app.router.add_get("/api/stats/live", live_api, name="stats_live")
    app.router.add_get("/api/stats/reports", reports_api, name="stats_reports_api")
    app.router.add_get("/reports", reports_page, name="stats_reports")
    from contact_center.stats import operator_day  # builds on this module's keys and scope

    app.router.add_get(
        "/wallboard/operators/{login}", operator_day.operator_page, name="wallboard_operator"
    )
    app.cleanup_ctx.append(_run_hub)
    app.on_shutdown.append(_close_sockets)
