"""Reviews are stored once per form, recording and reviewer, and feed the operator's chart."""

from __future__ import annotations

import pytest

from contact_center.recording.errors import ReviewExists
from contact_center.recording.qa import create_form, operator_scores, submit_review
from contact_center.store.models import Recording
from tests.integration.recording_support import add_recording, add_user, database

FORM = {"sections": [{"id": "s", "questions": [{"id": "greet"}, {"id": "solved", "max": 5}]}]}


async def test_review_is_frozen_and_shows_in_operator_scores(db_url: str) -> None:
    async with database(db_url) as sessions:
        qa1 = await add_user(sessions, "qa1", "qa", queues={"support": 0})
        qa2 = await add_user(sessions, "qa2", "qa", queues={"support": 0})
        first = await add_recording(sessions, "a.wav", status="done", duration_seconds=60.0)
        second = await add_recording(sessions, "b.wav", status="done", duration_seconds=60.0)
        async with sessions() as session, session.begin():
            form = await create_form(session, "Support basics", FORM)
            rec_a = await session.get(Recording, first)
            rec_b = await session.get(Recording, second)
            assert rec_a is not None and rec_b is not None
            review = await submit_review(
                session,
                recording=rec_a,
                form=form,
                reviewer_id=qa1,
                answers={"greet": 1, "solved": 3},
                comments=[{"at": 5, "text": "good opening"}],
            )
            await submit_review(
                session,
                recording=rec_a,
                form=form,
                reviewer_id=qa2,
                answers={"greet": 0, "solved": 5},
            )
            await submit_review(
                session,
                recording=rec_b,
                form=form,
                reviewer_id=qa1,
                answers={"greet": 1, "solved": 5},
            )
        assert 80.0 == review.score
        assert {"items": [{"at": 5.0, "text": "good opening"}]} == review.comments

        async with sessions() as session:
            rec_a = await session.get(Recording, first)
            assert rec_a is not None
            with pytest.raises(ReviewExists):
                await submit_review(
                    session,
                    recording=rec_a,
                    form=form,
                    reviewer_id=qa1,
                    answers={"greet": 1, "solved": 5},
                )

        async with sessions() as session:
            points = await operator_scores(session, "Local/101@agents")
            other = await operator_scores(session, "Local/102@agents")
        assert [(80.0, first), (50.0, first), (100.0, second)] == [
            (p.score, p.recording_id) for p in points
        ]
        assert [] == other
