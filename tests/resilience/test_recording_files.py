"""Recordings against hostile paths and bad files, through the whole service: the real HTTP
routes (raw requests, so no client tidies the path first), the indexer fed from the bus, and
the post-processing worker. Nothing outside the spool is ever served; bad files end as
``failed`` with the reason; the service keeps serving."""

from __future__ import annotations

import asyncio
import os
import resource
import struct
import time
from pathlib import Path

from sqlalchemy import select
from yarl import URL

from contact_center.calls import events as ev
from contact_center.store.models import Recording
from contact_center.web.auth import SESSION_COOKIE
from tests.conftest import wait_for
from tests.e2e.service_support import sign_in
from tests.integration.recording_support import add_recording
from tests.resilience.rig import fault_rig
from tests.unit.recording_audio import silence, tone, write_wav

SECRET = b"TOP-SECRET outside the spool"
HUGE = 5 * 1024**3  # sparse: costs no disk
BODY_CAP = 1 << 20  # never read more than this of any answer

TRAVERSALS = [
    "/qa/recordings/../../../../etc/passwd",
    "/qa/recordings/%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd/audio",
    "/qa/recordings/1%2f..%2f..%2fsecret.wav/audio",
    "/qa/recordings/%252e%252e%252fsecret.wav/audio",
    "/qa/recordings/..%5c..%5csecret.wav/audio",
    "/static/../../../../../../etc/passwd",
    "/static/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    "/static/..%2f..%2f..%2f..%2f..%2fetc%2fpasswd",
    "/static/%252e%252e%252f%252e%252e%252fetc%252fpasswd",
    "/static/stats/..%2f..%2f..%2f..%2fsecret.wav",
]
HOSTILE_NAMES = [  # MIXMONITOR_FILENAME values, as a compromised dialplan could set them
    "/var/spool/asterisk/monitor/../../../../etc/passwd",
    "../secret.wav",
    "..%2f..%2fsecret.wav",
    "%252e%252e%252fsecret.wav",
    "link.wav/../../secret.wav",
]


async def raw_get(port: int, target: str, cookie: str, range_: str = "") -> tuple[int, bytes]:
    """GET ``target`` exactly as written (no client normalises it); (status, body ≤ 1 MiB)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    head = [f"GET {target} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Connection: close"]
    head += [f"Cookie: {SESSION_COOKIE}={cookie}"] + ([f"Range: {range_}"] if range_ else [])
    writer.write(("\r\n".join(head) + "\r\n\r\n").encode())
    data = b""
    try:
        while len(data) < BODY_CAP and (chunk := await reader.read(65536)):
            data += chunk
    finally:
        writer.transport.abort()
    status = int(data.split(b" ", 2)[1])
    return status, data.partition(b"\r\n\r\n")[2]


def wav_header(data_bytes: int) -> bytes:
    """A PCM 8 kHz mono 16-bit WAV header announcing ``data_bytes`` of samples (at most
    what the 32-bit sizes of the format can say)."""
    data_bytes = min(data_bytes, 0xFFFFFFFF - 36)
    fmt = struct.pack("<HHIIHH", 1, 1, 8000, 16000, 2, 16)
    return (
        b"RIFF" + struct.pack("<I", 36 + data_bytes) + b"WAVE"
        + b"fmt " + struct.pack("<I", len(fmt)) + fmt
        + b"data" + struct.pack("<I", data_bytes)
    )  # fmt: skip


async def test_recording_paths_and_bad_files_never_leave_the_spool(
    tmp_path: Path, postgres_url: str
) -> None:
    """Property: `../`, URL-encoded and double-encoded traversal on every route that takes a
    path get 4xx and never the file outside; a recording whose file is a symlink out of the
    spool is not served (404) and is marked failed; another operator's recording is 404 for
    anna (no existence leak) but plays for their supervisor; hostile MIXMONITOR_FILENAME
    values are reduced to a plain name or ignored by the indexer; a corrupt file and a 5 GB
    (sparse) file are marked failed with the reason, the huge one still answers a Range
    request without being read whole; a good recording is processed and served; no 5xx and
    the service stays ready throughout."""
    async with fault_rig(tmp_path, postgres_url) as rig:
        spool = Path(rig.settings.recording.spool_dir)
        spool.mkdir(parents=True, exist_ok=True)
        secret = tmp_path / "secret.wav"
        secret.write_bytes(SECRET)
        write_wav(spool / "anna-good.wav", [tone(0.5), silence(0.5)])
        write_wav(spool / "boris-call.wav", [tone(0.5)])
        (spool / "corrupt.wav").write_bytes(wav_header(1600)[:20] + b"\x00garbage" * 64)
        with (spool / "huge.wav").open("wb") as fh:
            fh.write(wav_header(HUGE - 44))
            fh.truncate(HUGE)
        os.symlink(secret, spool / "link.wav")
        sessions = rig.service.core.sessions  # type: ignore[union-attr]
        ids = {
            name: await add_recording(sessions, f"{name}.wav", queue=queue, operator=operator)
            for name, queue, operator in [
                ("anna-good", "support", "Local/101@agents"),
                ("boris-call", "sales", "Local/102@agents"),
                ("corrupt", "support", "Local/101@agents"),
                ("huge", "support", "Local/101@agents"),
                ("link", "support", "Local/101@agents"),
            ]
        }
        publish = rig.service.core.publish  # type: ignore[union-attr]
        for i, name in enumerate(HOSTILE_NAMES):
            call = {"server": "pbx1", "call_id": f"hostile.{i}", "at": time.time()}
            await publish(ev.RecordingStarted(**call, key=f"hostile.{i}.start", file=name))
            await publish(ev.RecordingStopped(**call, key=f"hostile.{i}.stop", file=name))
        rig.service.components["recording_worker"].notify()

        async def statuses() -> dict[str, tuple[str, str]]:
            async with sessions() as db:
                rows = (await db.scalars(select(Recording))).all()
            return {r.file_name: (r.status, r.failure) for r in rows}

        async def settled() -> bool:
            got = await statuses()
            return len(got) == len(ids) + 2 and all(
                s in ("done", "failed") for s, _ in got.values()
            )

        await wait_for(settled, timeout=30, interval=0.1)
        got = await statuses()
        assert ("done", "") == got["anna-good.wav"]
        assert got["corrupt.wav"][0] == "failed" and got["corrupt.wav"][1], got
        assert ("failed", f"too large: {HUGE} bytes, the limit is 536870912 bytes") == got[
            "huge.wav"
        ]
        assert ("failed", "recording file 'link.wav' points outside the spool") == got["link.wav"]
        # hostile names: reduced to their last component, looked up inside the spool only
        # (where there is no such file), or not indexed at all
        hostile = {n: got[n] for n in got if n not in {f"{k}.wav" for k in ids}}
        assert {
            "passwd": ("failed", "missing: recording file 'passwd' is not in the spool"),
            "secret.wav": ("failed", "missing: recording file 'secret.wav' is not in the spool"),
        } == hostile

        anna = await sign_in(rig.base, "anna")
        sue = await sign_in(rig.base, "sue")
        try:
            port = rig.service.web_port
            cookie = anna.http.cookie_jar.filter_cookies(URL(rig.base))[SESSION_COOKIE].value
            sue_cookie = sue.http.cookie_jar.filter_cookies(URL(rig.base))[SESSION_COOKIE].value
            answers: dict[str, int] = {}
            for target in TRAVERSALS:
                status, body = await raw_get(port, target, cookie)
                answers[target] = status
                assert SECRET not in body and b"root:" not in body, target
            assert all(400 <= s < 500 for s in answers.values()), answers

            def audio(name: str) -> str:
                return f"/qa/recordings/{ids[name]}/audio"

            status, body = await raw_get(port, audio("link"), cookie)
            assert (404, False) == (status, SECRET in body)
            assert 404 == (await raw_get(port, audio("boris-call"), cookie))[0]
            assert 404 == (await raw_get(port, f"/qa/recordings/{ids['boris-call']}", cookie))[0]
            assert 200 == (await raw_get(port, audio("boris-call"), sue_cookie))[0]
            status, body = await raw_get(port, audio("anna-good"), cookie)
            assert 200 == status and body.startswith((b"ID3", b"\xff\xfb", b"\xff\xf3")), body[:8]

            rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            started = time.monotonic()
            status, body = await raw_get(port, audio("huge"), cookie, range_="bytes=-16")
            tail_seconds = time.monotonic() - started
            assert (206, b"\x00" * 16) == (status, body)
            rss_grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before
            assert rss_grown < 64 * 1024, f"RSS grew {rss_grown} KiB serving a 5 GB file's tail"
            status, page = await raw_get(port, f"/qa/recordings/{ids['huge']}", cookie)
            assert 200 == status and b"failed: too large" in page

            assert 200 == (await raw_get(port, "/readyz", cookie))[0]
        finally:
            await anna.http.close()
            await sue.http.close()
    print(
        f"\nrecordings: {len(TRAVERSALS)} traversal URLs -> {sorted(set(answers.values()))}, "
        f"0 bytes from outside the spool; 5 GB file tail in {tail_seconds * 1000:.0f} ms, "
        f"peak RSS +{rss_grown} KiB; corrupt: {got['corrupt.wav'][1]!r}"
    )
