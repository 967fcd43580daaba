"""QA pages over real HTTP: access matrix, Range, traversal, audit, search, scoring."""

from __future__ import annotations

import contextlib
import itertools
import os
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from yarl import URL

from contact_center.bus import MemoryBus
from contact_center.config import load_settings
from contact_center.recording import http as recording_http
from contact_center.recording.process import ProcessOptions, process_file
from contact_center.store.db import utcnow
from contact_center.store.models import AuditLog, Customer, QaForm, Queue, Recording, User
from tests.integration.web_support import Browser, add_user, database, sign_in, web_server
from tests.unit.recording_audio import silence, tone, write_wav

FORM = {
    "sections": [
        {"id": "open", "title": "Opening", "questions": [{"id": "greet", "text": "Greeted"}]},
        {
            "id": "work",
            "title": "Handling",
            "weight": 2,
            "questions": [
                {"id": "solved", "text": "Solved", "max": 5},
                {"id": "pci", "text": "Paused for card data", "auto_fail": True},
            ],
        },
    ]
}

USERS = {
    "ada": ("admin", "", {}),
    "quinn": ("qa", "", {"support": 0}),
    "qsales": ("qa", "", {"sales": 0}),
    "sam": ("supervisor", "", {}),  # supervises support through queues.supervisors
    "op101": ("operator", "Local/101@agents", {"support": 0}),
    "op102": ("operator", "Local/102@agents", {"sales": 0}),
}


@dataclass
class Site:
    server: TestServer
    sessions: async_sessionmaker[AsyncSession]
    spool: Path
    ids: dict[str, int]
    users: dict[str, int]
    browsers: dict[str, Browser]

    async def as_user(self, login: str) -> Browser:
        if login not in self.browsers:
            browser = await sign_in(self.server, login)
            async with browser.http.get(browser.url("/qa/recordings")) as resp:
                page = await resp.text()
            match = re.search(r'name="csrf-token" content="([^"]+)"', page)
            assert match is not None, page
            browser.csrf = match.group(1)
            self.browsers[login] = browser
        return self.browsers[login]


async def _recording(db: AsyncSession, spool: Path, name: str, **values: object) -> int:
    rec = Recording(
        server="pbx1", call_linkedid=name, file_name=f"{name}.wav", started_at=utcnow(), **values
    )
    db.add(rec)
    await db.flush()
    return rec.id


@pytest.fixture
async def site(sqlite_url: str, tmp_path: Path) -> AsyncIterator[Site]:
    async with open_site(sqlite_url, tmp_path) as opened:
        yield opened


@pytest.fixture
async def site_on_both(db_url: str, tmp_path: Path) -> AsyncIterator[Site]:
    """The same site on SQLite and on PostgreSQL (for the matrix and the scoring flow)."""
    async with open_site(db_url, tmp_path) as opened:
        yield opened


@contextlib.asynccontextmanager
async def open_site(db_url: str, tmp_path: Path) -> AsyncIterator[Site]:
    spool = tmp_path / "spool"
    spool.mkdir()
    write_wav(spool / "r-support.wav", [tone(4), silence(6)])
    result = process_file(spool / "r-support.wav", ProcessOptions())
    (spool / "r-support.wav").unlink()
    write_wav(spool / "r-sales.wav", [tone(3)])
    write_wav(spool / "r-failed.wav", [tone(1)])
    outside = tmp_path / "outside.wav"
    write_wav(outside, [tone(1)])
    os.symlink(outside, spool / "r-link.wav")
    async with database(db_url) as (_, sessions):
        users = {}
        for login, (role, interface, _queues) in USERS.items():
            users[login] = await add_user(sessions, login, role, interface=interface)
        async with sessions.begin() as db:
            for login, (_, _, queues) in USERS.items():
                user = await db.get(User, users[login])
                assert user is not None
                user.queues = queues
            db.add(Queue(name="support", supervisors={"logins": ["sam"]}))
            ivan = Customer(name="Ivan Petrov", created_at=utcnow(), updated_at=utcnow())
            db.add(ivan)
            await db.flush()
            m = result.metrics
            ids = {
                "support": await _recording(
                    db,
                    spool,
                    "r-support",
                    status="done",
                    queue="support",
                    operator_interface="Local/101@agents",
                    customer_id=ivan.id,
                    compact_name=result.compact_name,
                    duration_seconds=m.duration_seconds,
                    silence_share=m.silence_share,
                    outcome="answered",
                    peaks={"values": list(m.peaks), "seconds_per_peak": m.seconds_per_peak},
                    pauses={"gaps": [[1.0, 2.5, "muted"]]},
                ),
                "sales": await _recording(
                    db,
                    spool,
                    "r-sales",
                    status="stopped",
                    queue="sales",
                    operator_interface="Local/102@agents",
                    outcome="answered",
                ),
                "failed": await _recording(
                    db,
                    spool,
                    "r-failed",
                    status="failed",
                    queue="support",
                    operator_interface="Local/101@agents",
                    failure="truncated: test",
                    outcome="abandoned",
                ),
            }
            db.add(QaForm(name="Basics", definition=FORM, active=True, created_at=utcnow()))
        cfg = load_settings(environ={}, overrides={"recording": {"spool_dir": str(spool)}})
        async with web_server(sessions, MemoryBus(), plugins=[recording_http], cfg=cfg) as srv:
            site = Site(srv, sessions, spool, ids, users, {})
            try:
                yield site
            finally:
                for browser in site.browsers.values():
                    await browser.close()


ALLOWED = {
    ("ada", "support"),
    ("ada", "sales"),
    ("ada", "failed"),
    ("quinn", "support"),
    ("quinn", "failed"),
    ("qsales", "sales"),
    ("sam", "support"),
    ("sam", "failed"),
    ("op101", "support"),
    ("op101", "failed"),
    ("op102", "sales"),
}


async def test_access_matrix_over_http(site_on_both: Site) -> None:
    site = site_on_both
    results = {}
    for login, rec in itertools.product(USERS, site.ids):
        browser = await site.as_user(login)
        rec_id = site.ids[rec]
        async with browser.http.get(browser.url(f"/qa/recordings/{rec_id}/audio")) as resp:
            audio_status = resp.status
            await resp.read()
        async with browser.http.get(browser.url(f"/qa/recordings/{rec_id}")) as resp:
            page_status = resp.status
        results[(login, rec)] = (audio_status, page_status)

    expected = {key: (200, 200) if key in ALLOWED else (404, 404) for key in results}
    assert expected == results


async def test_range_requests_seek_into_the_audio(site: Site) -> None:
    browser = await site.as_user("quinn")
    url = browser.url(f"/qa/recordings/{site.ids['support']}/audio")
    body = (site.spool / "r-support.mp3").read_bytes()
    size = len(body)

    async def get(range_header: str) -> tuple[int, str, bytes]:
        async with browser.http.get(url, headers={"Range": range_header}) as resp:
            return resp.status, resp.headers.get("Content-Range", ""), await resp.read()

    assert (206, f"bytes 0-99/{size}", body[:100]) == await get("bytes=0-99")
    assert (206, f"bytes 1000-{size - 1}/{size}", body[1000:]) == await get("bytes=1000-")
    assert (206, f"bytes {size - 50}-{size - 1}/{size}", body[-50:]) == await get("bytes=-50")
    status, content_range, _ = await get(f"bytes={size + 10}-")
    assert (416, f"bytes */{size}") == (status, content_range)
    async with browser.http.get(url) as resp:
        assert (200, "audio/mpeg", "bytes") == (
            resp.status,
            resp.headers["Content-Type"],
            resp.headers.get("Accept-Ranges"),
        )


TRAVERSALS = [
    "/qa/recordings/..%2f..%2fetc%2fpasswd/audio",
    "/qa/recordings/%2e%2e%2f%2e%2e%2fetc%2fpasswd/audio",
    "/qa/recordings/%252e%252e%252fetc/audio",
    "/qa/recordings/1%2f..%2f..%2f..%2fetc%2fpasswd/audio",
    "/qa/recordings/1/audio/../../../../etc/passwd",
    "/qa/recordings/-1/audio",
    "/qa/recordings/1.0/audio",
    "/qa/recordings/1/audio%00.mp3",
    "/qa/recordings/99999999/audio",
    "/static/recording/..%2f..%2f..%2fconfig.py",
    "/static/recording/%2e%2e/http.py",
]


async def test_traversal_variants_are_refused(site: Site) -> None:
    browser = await site.as_user("ada")
    answers = {}

    for path in TRAVERSALS:
        async with browser.http.get(URL(browser.base + path, encoded=True)) as resp:
            body = await resp.read()
        answers[path] = resp.status
        assert b"root:" not in body and b"import" not in body, path

    assert {path: 404 for path in TRAVERSALS} == answers


async def test_files_outside_the_spool_are_never_served(site: Site) -> None:
    async with site.sessions.begin() as db:
        link = Recording(
            server="pbx1",
            call_linkedid="x1",
            file_name="r-link.wav",
            status="failed",
            queue="support",
            started_at=utcnow(),
        )
        evil = Recording(
            server="pbx1",
            call_linkedid="x2",
            file_name="../../etc/passwd",
            status="failed",
            queue="support",
            started_at=utcnow(),
        )
        db.add_all([link, evil])
        await db.flush()
        ids = (link.id, evil.id)
    browser = await site.as_user("ada")

    statuses = []
    for rec_id in ids:
        async with browser.http.get(browser.url(f"/qa/recordings/{rec_id}/audio")) as resp:
            statuses.append(resp.status)
            assert b"root:" not in await resp.read()

    assert [404, 404] == statuses


async def test_listens_and_downloads_are_audited(site: Site) -> None:
    browser = await site.as_user("quinn")
    rec_id = site.ids["support"]
    url = browser.url(f"/qa/recordings/{rec_id}/audio")
    size = (site.spool / "r-support.mp3").stat().st_size

    for headers in ({}, {"Range": "bytes=0-"}, {"Range": "bytes=500-"}):
        async with browser.http.get(url, headers=headers) as resp:
            await resp.read()
    async with browser.http.get(url + "?download=1") as resp:
        await resp.read()
        disposition = resp.headers["Content-Disposition"]
    async with browser.http.head(url) as resp:  # headers only: no audio served
        assert 200 == resp.status

    async with site.sessions() as db:
        rows = (await db.scalars(select(AuditLog).order_by(AuditLog.id))).all()
    # One row per request that served audio, naming the bytes it served.
    whole = f"0-{size - 1}/{size}"
    assert [
        ("quinn", "recording.listen", f"recording:{rec_id}", whole),
        ("quinn", "recording.listen", f"recording:{rec_id}", whole),
        ("quinn", "recording.listen", f"recording:{rec_id}", f"500-{size - 1}/{size}"),
        ("quinn", "recording.download", f"recording:{rec_id}", whole),
    ] == [(r.user_login, r.action, r.target, r.detail["bytes"]) for r in rows]
    assert f'attachment; filename="recording-{rec_id}.mp3"' == disposition


@pytest.mark.parametrize(
    "range_header",
    ["bytes=-999999999999", "bytes=00-", "bytes=0-99999999999", "bytes=-50", "bytes=0-0,5-9",
     "bytes=5-1", "items=0-", "bytes=0-\t"],
)  # fmt: skip
async def test_every_byte_served_is_audited_whatever_the_range(
    site: Site, range_header: str
) -> None:
    """Issue 21, item 4: a full download through ``bytes=-999999999999`` or ``bytes=00-``
    was served without an audit row. Now each request serving bytes is audited once, with
    exactly the bytes the response carried."""
    browser = await site.as_user("quinn")
    rec_id = site.ids["support"]
    body = (site.spool / "r-support.mp3").read_bytes()
    size = len(body)
    async with browser.http.get(
        browser.url(f"/qa/recordings/{rec_id}/audio"), headers={"Range": range_header}
    ) as resp:
        status, served = resp.status, await resp.read()
        content_range = resp.headers.get("Content-Range", f"bytes 0-{size - 1}/{size}")
    first, last = (int(x) for x in content_range.split()[1].split("/")[0].split("-"))
    assert status in (200, 206)
    assert body[first : last + 1] == served
    async with site.sessions() as db:
        rows = (await db.scalars(select(AuditLog))).all()
    assert [f"{first}-{last}/{size}"] == [r.detail["bytes"] for r in rows]


async def test_an_empty_suffix_range_is_not_satisfiable(site: Site) -> None:
    """RFC 9110 14.1.1: a suffix-range of length zero is unsatisfiable (416), not a 206."""
    browser = await site.as_user("quinn")
    size = (site.spool / "r-support.mp3").stat().st_size
    async with browser.http.get(
        browser.url(f"/qa/recordings/{site.ids['support']}/audio"), headers={"Range": "bytes=-0"}
    ) as resp:
        assert (416, f"bytes */{size}") == (resp.status, resp.headers["Content-Range"])
    async with site.sessions() as db:
        assert [] == (await db.scalars(select(AuditLog))).all()


def result_ids(page: str) -> list[int]:
    return [int(x) for x in re.findall(r'data-recording="(\d+)"', page)]


async def test_search_is_scoped_and_filtered(site: Site) -> None:
    quinn, ada, op102 = [await site.as_user(n) for n in ("quinn", "ada", "op102")]

    async def search(browser: Browser, query: str) -> tuple[int, str]:
        async with browser.http.get(browser.url("/qa/recordings?" + query)) as resp:
            return resp.status, await resp.text()

    ids = site.ids
    assert {ids["support"], ids["failed"]} == set(result_ids((await search(quinn, ""))[1]))
    assert [ids["sales"]] == result_ids((await search(op102, ""))[1])
    assert [ids["support"]] == result_ids((await search(ada, "customer=petrov"))[1])
    assert [ids["support"]] == result_ids((await search(ada, "min_dead_air=50"))[1])
    assert [ids["failed"]] == result_ids((await search(ada, "outcome=abandoned"))[1])
    assert [ids["sales"]] == result_ids((await search(ada, "operator=Local/102@agents"))[1])
    today = utcnow().date().isoformat()
    assert 3 == len(result_ids((await search(ada, f"date_from={today}&date_to={today}"))[1]))
    assert [] == result_ids((await search(ada, "date_to=2020-01-01"))[1])
    status, page = await search(ada, "date_from=yesterday")
    assert (400, True) == (status, "date_from must be a date" in page)


async def score(
    browser: Browser, rec_id: int, form_id: int, **answers: str
) -> aiohttp.ClientResponse:
    data = {
        "form_id": str(form_id),
        "csrf_token": browser.csrf,
        "comment_at": "3.5",
        "comment_text": "late greeting",
    }
    data.update({f"a_{k}": v for k, v in answers.items()})
    return await browser.post(f"/qa/recordings/{rec_id}/reviews", data)


async def test_reviewer_scores_once_and_the_operator_sees_it(site_on_both: Site) -> None:
    site = site_on_both
    async with site.sessions() as db:
        form_id = await db.scalar(select(QaForm.id))
    assert form_id is not None
    quinn = await site.as_user("quinn")
    rec_id = site.ids["support"]

    first = await score(quinn, rec_id, form_id, greet="1", solved="4", pci="1")
    again = await score(quinn, rec_id, form_id, greet="0", solved="0", pci="1")
    denied = await score(
        await site.as_user("op101"), rec_id, form_id, greet="1", solved="5", pci="1"
    )
    supervisor = await score(
        await site.as_user("sam"), rec_id, form_id, greet="1", solved="5", pci="1"
    )
    outside = await score(
        await site.as_user("qsales"), rec_id, form_id, greet="1", solved="5", pci="1"
    )

    assert (303, 303, 403, 403, 404) == (
        first.status,
        again.status,
        denied.status,
        supervisor.status,
        outside.status,
    )
    assert f"/qa/recordings/{rec_id}#reviews" == first.headers["Location"]
    assert "already+scored" in again.headers["Location"]
    # opening 100 %, handling (0.8 + 1) / 2 = 90 % with weight 2: (100 + 2·90) / 3 = 93.33
    op101 = await site.as_user("op101")
    async with op101.http.get(op101.url("/qa/scores")) as resp:
        scores_page = await resp.text()
    async with op101.http.get(op101.url(f"/qa/recordings/{rec_id}")) as resp:
        player = await resp.text()
    op102 = await site.as_user("op102")
    async with op102.http.get(op102.url("/qa/scores?operator=Local/101@agents")) as resp:
        other = await resp.text()
    assert re.findall(r'class="score">([\d.]+)<', scores_page) == ["93.33"]
    assert "late greeting" in player and 'data-seek="3.5"' in player
    assert "score-form" not in player  # operators read reviews, they do not score
    assert "No reviewed calls yet." in other


async def test_qa_creates_forms_and_bad_ones_are_explained(site: Site) -> None:
    quinn = await site.as_user("quinn")

    ok = await quinn.post(
        "/qa/forms",
        {
            "name": "Sales",
            "definition": '{"sections": [{"questions": [{"id": "q"}]}]}',
            "csrf_token": quinn.csrf,
        },
    )
    bad = await quinn.post(
        "/qa/forms", {"name": "Bad", "definition": "{", "csrf_token": quinn.csrf}
    )
    empty = await quinn.post(
        "/qa/forms", {"name": "Empty", "definition": "{}", "csrf_token": quinn.csrf}
    )
    op = await site.as_user("op101")
    denied = await op.post("/qa/forms", {"name": "X", "definition": "{}", "csrf_token": op.csrf})

    assert (303, 400, 400, 403) == (ok.status, bad.status, empty.status, denied.status)
    assert "not valid JSON" in await bad.text()
    assert "non-empty list of sections" in await empty.text()
    async with site.sessions() as db:
        assert ["Basics", "Sales"] == sorted((await db.scalars(select(QaForm.name))).all())


async def test_qa_builds_a_form_and_mistakes_keep_what_was_typed(site: Site) -> None:
    quinn = await site.as_user("quinn")
    typed = {
        "name": "Retention",
        "s1.title": "Offer",
        "s1.q1.text": "Offered the retention discount",
        "s1.q1.max": "5",
        "s1.q2.text": "Read the terms",
        "s1.q2.weight": "zero",
        "csrf_token": quinn.csrf,
    }
    bad = await quinn.post("/qa/forms", typed)
    page = await bad.text()
    assert bad.status == 400
    assert "criterion 2 (Read the terms): the weight must be a positive number" in page
    # nothing typed is lost: the builder shows it again
    assert 'value="Offered the retention discount"' in page and 'value="zero"' in page
    good = await quinn.post("/qa/forms", {**typed, "s1.q2.weight": "2", "s1.q2.auto_fail": "on"})
    assert good.status == 303
    async with site.sessions() as db:
        form = await db.scalar(select(QaForm).where(QaForm.name == "Retention"))
    assert form is not None
    questions = form.definition["sections"][0]["questions"]
    assert [(q["text"], q["max"], q["weight"], q["auto_fail"]) for q in questions] == [
        ("Offered the retention discount", 5, 1.0, False),
        ("Read the terms", 1, 2.0, True),
    ]
    async with quinn.http.get(quinn.url("/qa/forms")) as resp:
        listing = await resp.text()
    assert "Read the terms" in listing and "auto-fail" in listing


async def test_names_not_interfaces_and_empty_recordings_stay_out_of_review(
    site_on_both: Site,
) -> None:
    site = site_on_both
    async with site.sessions.begin() as db:
        empty_id = await _recording(
            db,
            site.spool,
            "r-empty",
            status="empty",
            failure="empty: WAV header only, no audio (the call was never bridged)",
            queue="support",
            operator_interface="",
            outcome="abandoned",
        )
        form_id = await db.scalar(select(QaForm.id))
    assert form_id is not None
    quinn = await site.as_user("quinn")

    async def listed(query: str = "") -> list[int]:
        async with quinn.http.get(quinn.url("/qa/recordings" + query)) as resp:
            return [int(n) for n in re.findall(r'data-recording="(\d+)"', await resp.text())]

    support, failed = site.ids["support"], site.ids["failed"]
    # the empty recording of an abandoned call is not offered for review
    assert sorted(await listed()) == sorted([support, failed])
    # the operator filter takes a name, a login or the phone interface
    assert sorted(await listed("?operator=Op101")) == sorted([support, failed])
    assert sorted(await listed("?operator=op101")) == sorted([support, failed])
    assert sorted(await listed("?operator=Local/101@agents")) == sorted([support, failed])
    assert await listed("?operator=Op102") == []  # sales: not quinn's queue
    async with quinn.http.get(quinn.url("/qa/recordings")) as resp:
        page = await resp.text()
    assert "<td>Op101</td>" in page and "<td>Local/101@agents</td>" not in page
    # opened directly, it offers no scoring, and a review of it is refused
    async with quinn.http.get(quinn.url(f"/qa/recordings/{empty_id}")) as resp:
        player = await resp.text()
    assert resp.status == 200 and "score-form" not in player
    refused = await score(quinn, empty_id, form_id, greet="1", solved="4", pci="1")
    assert refused.status == 409 and "no audio to score" in await refused.text()

    # scores: by name, and an overview of every reviewed operator without one
    assert (await score(quinn, support, form_id, greet="1", solved="4", pci="1")).status == 303
    async with quinn.http.get(quinn.url("/qa/scores")) as resp:
        overview = await resp.text()
    assert re.search(
        r'data-operator="op101"><td><a href="[^"]+">Op101</a></td><td>1</td>', overview
    )
    async with quinn.http.get(quinn.url("/qa/scores?operator=Op101")) as resp:
        by_name = await resp.text()
    assert '<span id="operator-name">Op101</span>' in by_name
    assert re.findall(r'class="score">([\d.]+)<', by_name) == ["93.33"]
    async with quinn.http.get(quinn.url("/qa/scores?operator=nobody")) as resp:
        unknown = await resp.text()
    assert "No operator “nobody” has been reviewed." in unknown


async def test_a_huge_page_number_is_explained_not_a_server_error(site: Site) -> None:
    browser = await site.as_user("quinn")
    async with browser.http.get(browser.url("/qa/recordings?page=" + "9" * 40)) as resp:
        status, page = resp.status, await resp.text()
    assert 400 == status
    assert "page must be a whole number up to 100000" in page
