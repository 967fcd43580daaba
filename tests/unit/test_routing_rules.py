from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from contact_center.routing.rules import (
    CallFacts,
    QueueState,
    RoutingConfigError,
    decide,
    load_rules,
)
from contact_center.routing.targets import InvalidTarget, check_interface, parse_target

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "routing"
STAFFED = {
    q: QueueState(logged_in=2, available=1)
    for q in ("support", "support_l2", "sales", "vip", "complaints")
}


@pytest.fixture(scope="module")
def rules():
    return load_rules(FIX / "good.yaml")


def test_ivr_choice_picks_the_queue(rules) -> None:
    d = decide(rules, CallFacts(ivr_choice="1"), STAFFED)
    assert ("sales", 0, "queue") == (d.queue, d.priority, d.action)
    assert ("rule 'sales from the menu'",) == d.reasons


def test_no_rule_matches_goes_to_the_default_queue(rules) -> None:
    d = decide(rules, CallFacts(ivr_choice="7"), STAFFED)
    assert "support" == d.queue
    assert ("default queue support",) == d.reasons


def test_vip_with_open_complaint_gets_highest_priority_and_first_queue(rules) -> None:
    d = decide(rules, CallFacts(segment="vip", open_complaint=True, customer_id=4), STAFFED)
    assert ("vip", 10) == (d.queue, d.priority)
    assert 2 == len(d.reasons)


def test_language_adds_a_skill(rules) -> None:
    d = decide(rules, CallFacts(language="EN"), STAFFED)
    assert ("en",) == d.skills


def test_overflow_when_nobody_is_logged_in(rules) -> None:
    queues = dict(STAFFED, support=QueueState(logged_in=0))
    d = decide(rules, CallFacts(), queues)
    assert "support_l2" == d.queue
    assert "overflow support -> support_l2 (nobody logged in)" in d.reasons


def test_overflow_after_the_longest_wait(rules) -> None:
    queues = dict(STAFFED, support=QueueState(logged_in=3, longest_wait=121))
    assert "support_l2" == decide(rules, CallFacts(), queues).queue
    queues = dict(STAFFED, support=QueueState(logged_in=3, longest_wait=119))
    assert "support" == decide(rules, CallFacts(), queues).queue


def test_empty_queue_with_callback_policy_offers_a_callback(rules) -> None:
    queues = dict(STAFFED, sales=QueueState(logged_in=0))
    d = decide(rules, CallFacts(ivr_choice="1"), queues)
    assert ("sales", "callback") == (d.queue, d.action)


def test_sticky_rings_the_last_operator_first_only_when_available(rules) -> None:
    facts = CallFacts(customer_id=1, last_operator="PJSIP/101", last_served_days_ago=3)
    d = decide(rules, facts, STAFFED, frozenset({"PJSIP/101"}))
    assert ("PJSIP/101", 12) == (d.preferred_interface, d.ring_first_seconds)
    d = decide(rules, facts, STAFFED, frozenset({"PJSIP/102"}))
    assert ("", 0) == (d.preferred_interface, d.ring_first_seconds)
    old = CallFacts(customer_id=1, last_operator="PJSIP/101", last_served_days_ago=90)
    assert "" == decide(rules, old, STAFFED, frozenset({"PJSIP/101"})).preferred_interface


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("unknown_queue.yaml", "unknown_queue.yaml:8: rule 'typo': unknown queue 'salse'"),
        ("unknown_condition.yaml", "unknown_condition.yaml:3: unknown condition 'colour'"),
        ("syntax.yaml", "syntax.yaml:4: YAML syntax"),
        (
            "bad_hours.yaml",
            "bad_hours.yaml:5: queue support: hours: unknown timezone 'Europe/Moskow'",
        ),
    ],
)
def test_broken_rules_files_name_file_line_and_reason(name: str, message: str) -> None:
    with pytest.raises(RoutingConfigError) as info:
        load_rules(FIX / name)
    assert message in str(info.value)


@pytest.mark.parametrize(
    ("text", "kind", "context", "exten"),
    [
        ("102", "extension", "transfer-targets", "102"),
        ("sales", "queue", "transfer-targets", "sales"),
        ("+74951234567", "external", "cc-originate", "+74951234567"),
        ("+7 495 123-45-67", "external", "cc-originate", "+74951234567"),
    ],
)
def test_user_typed_targets_become_dialplan_destinations(text, kind, context, exten) -> None:
    t = parse_target(text)
    assert (kind, context, exten) == (t.kind, t.context, t.exten)


@pytest.mark.parametrize(
    "text",
    [
        "102\r\nAction: Originate",
        "sales\n",
        "System(rm -rf /)",
        "../etc",
        "",
        "a" * 80,
        "${SHELL(id)}",
        "102&103",
    ],
)
def test_dangerous_targets_are_refused(text: str) -> None:
    with pytest.raises(InvalidTarget):
        parse_target(text)


def test_interfaces_are_checked() -> None:
    assert "PJSIP/101" == check_interface("PJSIP/101")
    assert "Local/101@agents" == check_interface("Local/101@agents")
    for bad in ("PJSIP/101\r\n", "Console/dsp", "PJSIP/1 01", "PJSIP/${X}"):
        with pytest.raises(InvalidTarget):
            check_interface(bad)


def test_without_live_figures_nothing_overflows(rules) -> None:
    d = decide(rules, CallFacts(), {})
    assert ("support", "queue") == (d.queue, d.action)


def test_the_ivr_choice_wins_over_the_default_queue_when_no_rule_names_one(rules) -> None:
    d = decide(rules, CallFacts(segment="regular"), STAFFED, fallback_queue="sales")
    assert "sales" == d.queue
    assert ("IVR chose sales",) == d.reasons
    d = decide(rules, CallFacts(segment="VIP"), STAFFED, fallback_queue="sales")
    assert ("vip", 10) == (d.queue, d.priority)


MONDAY_NOON_MSK = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
MONDAY_NIGHT_MSK = datetime(2026, 11, 23, 20, 0, tzinfo=UTC)  # 23:00 in Moscow
NEW_YEAR_NOON_MSK = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)  # a Thursday, a holiday


@pytest.mark.parametrize(
    ("now", "action"),
    [
        (MONDAY_NOON_MSK, "queue"),
        (MONDAY_NIGHT_MSK, "callback"),
        (NEW_YEAR_NOON_MSK, "callback"),
        (None, "queue"),  # no clock given: hours are not checked
    ],
)
def test_a_closed_queue_takes_callbacks(rules, now: datetime | None, action: str) -> None:
    facts = CallFacts(open_complaint=True, customer_id=4)
    d = decide(rules, facts, STAFFED, now=now)
    assert ("complaints", action) == (d.queue, d.action)
    assert (action != "queue") == ("complaints is closed: callback" in d.reasons)


def test_an_empty_queue_with_voicemail_policy_sends_to_voicemail(rules) -> None:
    queues = dict(STAFFED, vip=QueueState(logged_in=0))
    d = decide(rules, CallFacts(segment="VIP", customer_id=4), queues, now=MONDAY_NOON_MSK)
    assert ("vip", "voicemail") == (d.queue, d.action)
    assert "vip has nobody logged in: voicemail" in d.reasons
