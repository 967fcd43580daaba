"""queues.conf as the simulator reads it: templates, includes, the knobs it honours."""

from __future__ import annotations

from pathlib import Path

import pytest

from contact_center.sim.config import QueueConfig
from contact_center.sim.dialplan.sources import queue_files_for
from contact_center.sim.queueconf import QueueConfigError, load_queues


def test_the_shipped_queues_come_from_their_template() -> None:
    queues = {q.name: q for q in load_queues(*queue_files_for("shipped"))}

    assert QueueConfig("support", "rrmemory", 15.0, 2.0, 20) == queues["support"]
    assert QueueConfig("sales", "leastrecent", 15.0, 2.0, 20) == queues["sales"]
    assert QueueConfig("vip", "ringall", 20.0, 2.0, 20) == queues["vip"]
    assert "queue-template" not in queues and "general" not in queues


def test_the_rig_has_its_queues_and_the_states_queue_of_config_more() -> None:
    queues = {q.name: q for q in load_queues(*queue_files_for("rig"))}

    support = queues["support"]
    assert (8.0, 1.0, 60) == (support.timeout, support.retry, support.servicelevel)
    assert 5.0 == queues["states"].timeout


def test_include_and_a_strategy_it_cannot_run(tmp_path: Path) -> None:
    (tmp_path / "more.conf").write_text("[q2]\n\nstrategy = fewestcalls\n")
    main = tmp_path / "queues.conf"
    main.write_text("[q1]\ntimeout = 3 ; short\n#include more.conf\n")

    with pytest.raises(QueueConfigError, match=r"more\.conf:3: strategy fewestcalls"):
        load_queues(main)
    (tmp_path / "more.conf").write_text("[q2](missing)\n")
    with pytest.raises(QueueConfigError, match=r"more\.conf:1: unknown template 'missing'"):
        load_queues(main)
