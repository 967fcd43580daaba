"""Card-payment pause from the operator console, end to end over real TCP: console API →
bus → the connector's pause policy → AMI MixMonitorMute at the simulator → the gap marked
on the recording row and silent in the audio."""

from __future__ import annotations

import asyncio
import json
import subprocess
from array import array
from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy import select

from contact_center.sim.config import Operator
from contact_center.sim.pbx import Event
from contact_center.store.models import Recording
from tests.conftest import wait_for
from tests.e2e.service_support import DID, Rig, running_service, sign_in

OPERATORS = (
    Operator("PJSIP/101", "Anna", manual=True),
    Operator("PJSIP/102", "Boris", manual=True),
)
GAP_SECONDS = 1.2
TALK_SECONDS = 0.8


async def next_pop(ws: aiohttp.ClientWebSocketResponse, stage: str) -> dict[str, Any]:
    async with asyncio.timeout(10):
        while True:
            msg = await ws.receive()
            assert msg.type == aiohttp.WSMsgType.TEXT, msg
            data = json.loads(msg.data)
            if data.get("type") == "pop" and data.get("stage") == stage:
                return data


async def recording_of(rig: Rig, linkedid: str) -> Recording | None:
    sessions = rig.service.core.sessions  # type: ignore[union-attr]
    async with sessions() as db:
        return (
            await db.execute(select(Recording).where(Recording.call_linkedid == linkedid))
        ).scalar_one_or_none()


def rms_between(path: Path, start: float, end: float) -> float:
    """RMS of the decoded audio between two offsets (ffmpeg decodes the compact copy)."""
    pcm = subprocess.run(
        [
            *("ffmpeg", "-nostdin", "-loglevel", "error", "-i", str(path)),
            *("-ss", f"{start:.3f}", "-to", f"{end:.3f}", "-ac", "1", "-ar", "8000"),
            *("-f", "s16le", "-"),
        ],
        capture_output=True,
        check=True,
    ).stdout
    samples = array("h", pcm[: len(pcm) // 2 * 2])
    assert len(samples) > 0.8 * 8000 * (end - start)
    return (sum(s * s for s in samples) / len(samples)) ** 0.5


async def test_card_payment_pause_mutes_the_recording_and_marks_the_gap(
    tmp_path: Path, db_url: str
) -> None:
    async with running_service(tmp_path, db_url, operators=OPERATORS, dialplan="shipped") as rig:
        mutes: list[tuple[str, str]] = []

        def on_event(event: Event) -> None:
            if event.name == "MixMonitorMute":
                mutes.append((event.get("Linkedid"), event.get("State")))

        unsubscribe = rig.pbx.subscribe(on_event)
        anna = await sign_in(rig.base, "anna")
        boris = await sign_in(rig.base, "boris")
        try:
            ws = await anna.ws()
            await rig.command("anna", "operator", "PJSIP/101", "available")
            await wait_for(
                lambda: "PJSIP/101" in str(rig.pbx.queues.queues["support"].members),
                timeout=5,
            )
            call = await rig.pbx.place_call(
                DID, "+74951234567", "Ivan Petrov", dtmf="2", dtmf_delay=0.3
            )
            await next_pop(ws, "offered")
            await rig.pbx.answer("PJSIP/101")
            await next_pop(ws, "answered")
            api = f"/api/calls/{rig.settings.general.server_id}/{call.linkedid}/recording"
            await asyncio.sleep(TALK_SECONDS)  # some conversation before the payment

            # Not his call: boris may not pause it; no CSRF token: refused too.
            async with await boris.post(f"{api}/pause", {"reason": "card_payment"}) as resp:
                assert 403 == resp.status
            async with anna.http.post(rig.base + f"{api}/pause") as resp:
                assert 403 == resp.status
            async with await anna.post(f"{api}/pause", {"reason": "bogus"}) as resp:
                assert 400 == resp.status
            assert [] == mutes

            async with await anna.post(f"{api}/pause", {"reason": "card_payment"}) as resp:
                assert 202 == resp.status, await resp.text()
                assert {"action": "recording.pause", "reason": "card_payment"}.items() <= (
                    await resp.json()
                ).items()
            await wait_for(lambda: [(call.linkedid, "1")] == mutes, timeout=5)
            await asyncio.sleep(GAP_SECONDS)  # the card number is read out meanwhile
            async with await anna.post(f"{api}/resume", {"reason": "card_payment"}) as resp:
                assert 202 == resp.status, await resp.text()
            await wait_for(lambda: [(call.linkedid, "1"), (call.linkedid, "0")] == mutes, 5)
            await asyncio.sleep(TALK_SECONDS)
            await rig.pbx.hangup_caller(call)

            async def processed() -> bool:
                row = await recording_of(rig, call.linkedid)
                return row is not None and row.status in ("done", "failed")

            await wait_for(processed, timeout=20)
            row = await recording_of(rig, call.linkedid)
            assert row is not None
            assert "done" == row.status, row.failure
            [gap] = row.pauses["gaps"]
            start, end, _reason = gap
            assert GAP_SECONDS <= end - start < GAP_SECONDS + 0.5
            assert TALK_SECONDS <= start < TALK_SECONDS + 1.0
            assert end < row.duration_seconds

            # The WAV was silent in the gap and not outside it: the peaks our pass measured
            # on it before it was replaced by the compact copy, then that copy itself.
            values, step = row.peaks["values"], row.peaks["seconds_per_peak"]
            inside = values[int((start + 0.2) / step) : int((end - 0.2) / step)]
            before = values[: int((start - 0.2) / step)]
            assert inside and max(inside) == 0.0
            assert before and min(before) > 0.05
            compact = Path(rig.settings.recording.spool_dir) / row.compact_name
            assert rms_between(compact, start + 0.2, end - 0.2) < 30
            assert rms_between(compact, 0.1, start - 0.2) > 1000
        finally:
            unsubscribe()
            await anna.http.close()
            await boris.http.close()
