"""What the pop card remembers of a call, folded from domain events (no I/O)."""

from __future__ import annotations

from typing import Any

from contact_center.calls import events as ev
from contact_center.screenpop.context import MASK, CallContexts, IvrStepView, QueueVisit


def base(at: float, call_id: str = "c1") -> dict[str, Any]:
    return {"server": "pbx1", "call_id": call_id, "at": at}


def test_ivr_queue_operators_and_transfers_are_remembered_in_order() -> None:
    contexts = CallContexts()
    for event in [
        ev.CallArrived(
            **base(0),
            caller_number="+74951234567",
            caller_number_raw="84951234567",
            caller_name="Ivan",
            did="4951110001",
        ),
        ev.IvrStep(**base(1), menu="main", node="start", digits="2"),
        ev.IvrStep(**base(2), menu="main", node="pin", digits="1234", sensitive=True),
        ev.CallQueued(**base(3), queue="support", position=2),
        ev.CallAnswered(
            **base(9),
            queue="support",
            interface="PJSIP/101",
            member_name="A",
            hold_seconds=6,
            ring_seconds=1,
        ),
        ev.CallTransferred(**base(20), transfer_type="blind", target="sales"),
        ev.CallQueued(**base(21), queue="sales", position=1),
    ]:
        ctx = contexts.apply(event)
    assert ctx is not None
    assert [IvrStepView("main", "start", "2", ""), IvrStepView("main", "pin", MASK, "")] == ctx.ivr
    assert "2" + MASK == ctx.ivr_digits
    assert [QueueVisit("support", 3, 2), QueueVisit("sales", 21, 1)] == ctx.queues
    assert ("sales", 4.0) == (ctx.queue, ctx.waited(25))
    assert "PJSIP/101" == ctx.previous_operator("PJSIP/102")
    assert "" == ctx.previous_operator("PJSIP/101")
    assert "PJSIP/101" == ctx.transfers[0].by_interface  # the operator who had the call


def test_offer_from_an_unseen_queue_and_ring_no_answer() -> None:
    contexts = CallContexts()
    ctx = contexts.apply(ev.CallOffered(**base(5), queue="support", interface="X", member_name="x"))
    assert ctx is not None
    assert (["support"], {"X"}) == ([q.queue for q in ctx.queues], ctx.offered)
    contexts.apply(
        ev.CallRingNoAnswer(
            **base(13), queue="support", interface="X", member_name="x", ring_seconds=8
        )
    )
    assert set() == ctx.offered


def test_events_of_no_call_are_ignored_and_old_calls_age_out() -> None:
    contexts = CallContexts(max_calls=2)
    assert None is contexts.apply(ev.OperatorAction(**base(0, ""), user="a", action="pause"))
    for n in range(3):
        contexts.apply(ev.CallQueued(**base(n, f"c{n}"), queue="q", position=1))
    assert (2, None) == (len(contexts), contexts.get("pbx1", "c0"))
