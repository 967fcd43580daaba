"""In a real chromium: a QA reviewer finds a call, plays it, scores it; the operator sees it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestServer
from sqlalchemy import select

from contact_center.bus import MemoryBus
from contact_center.config import load_settings
from contact_center.recording import http as recording_http
from contact_center.recording.process import ProcessOptions, process_file
from contact_center.store.db import utcnow
from contact_center.store.models import AuditLog, Customer, QaForm, QaReview, Recording, User
from tests.browser.conftest import sign_in_page
from tests.conftest import wait_for
from tests.integration.web_support import add_user, database, web_server
from tests.unit.recording_audio import silence, tone, write_wav

pytestmark = pytest.mark.browser

FORM = {
    "sections": [
        {
            "id": "open",
            "title": "Opening",
            "questions": [{"id": "greet", "text": "Greeted with the company name"}],
        },
        {
            "id": "work",
            "title": "Handling",
            "weight": 2,
            "questions": [
                {"id": "solved", "text": "Solved the issue", "max": 5},
                {"id": "pci", "text": "Paused for card data", "auto_fail": True},
            ],
        },
    ]
}


@pytest.fixture
async def qa_server(sqlite_url: str, tmp_path: Path) -> AsyncIterator[tuple[TestServer, object]]:
    spool = tmp_path / "spool"
    spool.mkdir()
    write_wav(spool / "call-a.wav", [tone(3), silence(3), tone(4)])
    result = process_file(spool / "call-a.wav", ProcessOptions())
    write_wav(spool / "call-b.wav", [tone(2)])
    async with database(sqlite_url) as (_, sessions):
        await add_user(sessions, "quinn", "qa")
        await add_user(sessions, "op101", "operator", interface="Local/101@agents")
        async with sessions.begin() as db:
            quinn = await db.scalar(select(User).where(User.login == "quinn"))
            assert quinn is not None
            quinn.queues = {"support": 0}
            ivan = Customer(name="Ivan Petrov", created_at=utcnow(), updated_at=utcnow())
            db.add(ivan)
            await db.flush()
            m = result.metrics
            db.add_all(
                [
                    Recording(
                        server="pbx1",
                        call_linkedid="c-a",
                        file_name="call-a.wav",
                        compact_name=result.compact_name,
                        status="done",
                        queue="support",
                        operator_interface="Local/101@agents",
                        customer_id=ivan.id,
                        outcome="answered",
                        started_at=utcnow(),
                        duration_seconds=m.duration_seconds,
                        silence_share=m.silence_share,
                        peaks={"values": list(m.peaks), "seconds_per_peak": m.seconds_per_peak},
                        pauses={"gaps": [[3.0, 6.0, "muted"]]},
                    ),
                    Recording(
                        server="pbx1",
                        call_linkedid="c-b",
                        file_name="call-b.wav",
                        status="stopped",
                        queue="support",
                        operator_interface="Local/102@agents",
                        outcome="answered",
                        started_at=utcnow(),
                    ),
                    QaForm(
                        name="Support basics", definition=FORM, active=True, created_at=utcnow()
                    ),
                ]
            )
        cfg = load_settings(environ={}, overrides={"recording": {"spool_dir": str(spool)}})
        async with web_server(sessions, MemoryBus(), plugins=[recording_http], cfg=cfg) as srv:
            yield srv, sessions


async def sign_in(browser: Any, base: str, login: str) -> Any:
    page = await sign_in_page(browser, base, login, path="/qa/recordings")
    await page.wait_for_url("**/qa/recordings")
    return page


async def test_reviewer_finds_plays_and_scores_and_operator_sees_it(
    qa_server: tuple[TestServer, Any], chromium: Any
) -> None:
    server, sessions = qa_server
    base = str(server.make_url("")).rstrip("/")
    browser = chromium  # the session's chromium plays audio without a click
    reviewer = await sign_in(browser, base, "quinn")

    # Find: by customer name and operator.
    await reviewer.fill("input[name=customer]", "petrov")
    await reviewer.fill("input[name=operator]", "Local/101@agents")
    await reviewer.click("#qa-search-submit")
    rows = reviewer.locator("#qa-results tbody tr[data-recording]")
    assert 1 == await rows.count()
    await rows.first.locator("a").click()
    await reviewer.wait_for_selector("#waveform")
    assert 1 == await reviewer.locator("#waveform rect.gap").count()

    # Play at 1.5×, seek by clicking the waveform.
    await reviewer.select_option("#speed", "1.5")
    await reviewer.evaluate("document.getElementById('audio').play()")

    async def playing() -> bool:
        # Polled from here: wait_for_function would need 'unsafe-eval' under our CSP.
        return await reviewer.evaluate("document.getElementById('audio').currentTime") > 0.3

    await wait_for(playing, timeout=10)
    assert 1.5 == await reviewer.evaluate("document.getElementById('audio').playbackRate")
    box = await reviewer.locator("#waveform").bounding_box()
    assert box is not None
    await reviewer.mouse.click(box["x"] + box["width"] * 0.8, box["y"] + box["height"] / 2)
    assert await reviewer.evaluate("document.getElementById('audio').currentTime") >= 7.5

    # Score, with a comment at the current time.
    await reviewer.select_option("#a_greet", "1")
    await reviewer.select_option("#a_solved", "4")
    await reviewer.select_option("#a_pci", "1")
    await reviewer.click(".comment-row .now")
    await reviewer.fill(".comment-row input[name=comment_text]", "long hold here")
    await reviewer.click(".submit-score")
    await reviewer.wait_for_selector("article.qa-review")
    assert "93.33" == await reviewer.locator("article.qa-review .score").inner_text()
    assert "long hold here" in await reviewer.locator("article.qa-review").inner_text()
    assert 0 == await reviewer.locator("form.qa-score").count()  # frozen: no second form

    # The operator sees the score of their call.
    operator = await sign_in(browser, base, "op101")
    await operator.goto(base + "/qa/scores")
    assert "93.33" == await operator.locator("#scores td.score").inner_text()
    assert "93.3" == await operator.locator("#average").inner_text()
    await operator.click("#scores a")
    assert "long hold here" in await operator.locator("#reviews").inner_text()

    async with sessions() as db:
        actions = set((await db.scalars(select(AuditLog.action))).all())
        comments = (await db.scalars(select(QaReview.comments))).one()
    assert {"recording.listen"} <= actions
    assert ["long hold here"] == [c["text"] for c in comments["items"]]
    assert comments["items"][0]["at"] >= 7.5
