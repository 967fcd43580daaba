"""A QA grade lands on the customer's timeline and in the pop's last interactions, on SQLite
and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

from contact_center.history.views import customer_timeline
from contact_center.recording.qa import create_form, submit_review
from contact_center.store.models import Call, Recording
from tests.integration.recording_support import add_recording, add_user, database
from tests.integration.web_support import add_customer

FORM = {"sections": [{"id": "s", "questions": [{"id": "greet"}, {"id": "solved", "max": 5}]}]}


async def test_a_qa_grade_is_on_the_customers_timeline(db_url: str) -> None:
    async with database(db_url) as sessions:
        quinn = await add_user(sessions, "quinn", "qa", queues={"support": 0})
        anna = await add_customer(sessions, "Anna", ["+74951112233"])
        # The recording does not name the customer; its call does.
        async with sessions.begin() as session:
            session.add(Call(server="pbx1", linkedid="c1", customer_id=anna,
                             started_at=datetime(2026, 12, 6, tzinfo=UTC)))  # fmt: skip
        recording_id = await add_recording(sessions, "c1.wav", status="done", duration_seconds=60)
        async with sessions() as session, session.begin():
            form = await create_form(session, "Basics", FORM)
            recording = await session.get(Recording, recording_id)
            assert recording is not None
            await submit_review(
                session,
                recording=recording,
                form=form,
                reviewer_id=quinn,
                answers={"greet": 1, "solved": 3},
            )
        page = await customer_timeline(sessions, anna)

    assert [("qa.review", "QA score 80/100, Basics", "quinn", "c1")] == [
        (i.kind, i.summary, i.actor, i.call) for i in page.items
    ]
