"""Report rows as people read them: m:ss, intervals in words, operators by name."""

from __future__ import annotations

from contact_center.stats.report_view import interval_label, mmss, percent, report_lines


def test_durations_read_like_the_wallboard() -> None:
    assert [mmss(None), mmss(0), mmss(12.4), mmss(146.93), mmss(3725)] == [
        "—",
        "0:00",
        "0:12",
        "2:27",
        "1:02:05",
    ]
    assert [percent(None), percent(33.33), percent(100.0)] == ["—", "33 %", "100 %"]


def test_intervals_in_words_in_their_own_offset() -> None:
    assert interval_label("2026-12-06T21:00:00+03:00", "hour") == "6 Dec 2026, 21:00–22:00"
    assert interval_label("2026-12-06T23:45:00+03:00", "15min") == "6 Dec 2026, 23:45–00:00"
    assert interval_label("2026-12-06T00:00:00+03:00", "day") == "6 Dec 2026"


def test_operators_by_name_with_the_phone_as_detail() -> None:
    row = {
        "interval_start": "2026-12-06T09:00:00+00:00",
        "queue": "support",
        "operator": "PJSIP/101",
        "offered": 3,
        "answered": 2,
        "answered_in_sl": 1,
        "abandoned": 1,
        "short_abandoned": 0,
        "left": 0,
        "service_level_pct": 33.33,
        "abandon_rate_pct": 33.33,
        "asa_seconds": 52.56,
        "aht_seconds": 146.93,
        "talk_seconds": 293.86,
    }
    named, unknown = report_lines(
        [row, {**row, "operator": "PJSIP/199"}], "hour", {"PJSIP/101": "Anna Smirnova"}
    )
    assert (named.operator, named.operator_detail, named.asa, named.aht, named.talk) == (
        "Anna Smirnova",
        "PJSIP/101",
        "0:53",
        "2:27",
        "4:54",
    )
    assert (unknown.operator, unknown.operator_detail) == ("PJSIP/199", "")
