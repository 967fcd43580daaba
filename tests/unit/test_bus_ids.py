from __future__ import annotations

import pytest

from contact_center.bus.base import InvalidStreamId, compare_ids, parse_id


def test_parse_id_reads_redis_ids() -> None:
    assert (1700000000000, 3) == parse_id("1700000000000-3")
    assert (0, 0) == parse_id("0")
    assert (0, 0) == parse_id("")
    assert (5, 0) == parse_id("5")


def test_compare_ids_orders_by_time_then_sequence() -> None:
    assert -1 == compare_ids("5-9", "6-0")
    assert 1 == compare_ids("6-10", "6-9")
    assert 0 == compare_ids("6-0", "6")


def test_parse_id_rejects_garbage() -> None:
    with pytest.raises(InvalidStreamId, match="invalid stream id 'abc'"):
        parse_id("abc")
