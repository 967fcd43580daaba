"""queues.conf as the simulator reads it: templates, includes, the knobs it honours."""

from __future__ import annotations

from pathlib import Path

import pytest

from contact_center.sim.config import QueueConfig
from contact_center.sim.dialplan.sources import queue_files_for
from contact_center.sim.queueconf import QueueConfigError, load_queues


def test_the_shipped_queues_come_from_their_template() -> None:
    queues = {q.name: q for q in load_queues(*queue_files_for("shipped"))}

    shipped = {"wrapuptime": 3.0, "autopause": "all", "shared_lastcall": True}
    assert QueueConfig("support", "rrmemory", 15.0, 2.0, 20, **shipped) == queues["support"]
    assert QueueConfig("sales", "leastrecent", 15.0, 2.0, 20, **shipped) == queues["sales"]
    assert QueueConfig("vip", "ringall", 20.0, 2.0, 20, **shipped) == queues["vip"]
    assert "queue-template" not in queues and "general" not in queues


def test_the_rig_has_its_queues_and_the_states_queue_of_config_more() -> None:
    queues = {q.name: q for q in load_queues(*queue_files_for("rig"))}

    support = queues["support"]
    assert (8.0, 1.0, 60) == (support.timeout, support.retry, support.servicelevel)
    states = queues["states"]
    assert (5.0, 4.0, "yes") == (states.timeout, states.wrapuptime, states.autopause)
    assert ("no", 0.0) == (support.autopause, support.wrapuptime)


def test_autopause_modes_as_app_queue_reads_them(tmp_path: Path) -> None:
    conf = tmp_path / "queues.conf"
    conf.write_text("[a]\nautopause = true\n[b]\nautopause = all\n[c]\nautopause = 0\n")

    assert ["yes", "all", "no"] == [q.autopause for q in load_queues(conf)]
    conf.write_text("[a]\n\nautopause = sometimes\n")
    with pytest.raises(QueueConfigError, match=r"queues\.conf:3: autopause = sometimes"):
        load_queues(conf)


def test_include_and_a_strategy_it_cannot_run(tmp_path: Path) -> None:
    (tmp_path / "more.conf").write_text("[q2]\n\nstrategy = fewestcalls\n")
    main = tmp_path / "queues.conf"
    main.write_text("[q1]\ntimeout = 3 ; short\n#include more.conf\n")

    with pytest.raises(QueueConfigError, match=r"more\.conf:3: strategy fewestcalls"):
        load_queues(main)
    (tmp_path / "more.conf").write_text("[q2](missing)\n")
    with pytest.raises(QueueConfigError, match=r"more\.conf:1: unknown template 'missing'"):
        load_queues(main)


def test_a_queue_keeps_its_templates_strategy_as_asterisk_does(tmp_path: Path) -> None:
    # app_queue.c reload_single_queue: a static queue's strategy is the first `strategy`
    # of its section (a template's lines come first), its own later one is skipped; every
    # other setting is set line by line, the last one winning. A real Asterisk 22.10.1 ran
    # [sales](queue-template) with `strategy = leastrecent` on the template's rrmemory.
    conf = tmp_path / "queues.conf"
    conf.write_text(
        "[t](!)\nstrategy = rrmemory\ntimeout = 15\n"
        "[sales](t)\nstrategy = leastrecent\ntimeout = 20\n"
        "[vip]\nstrategy = ringall\nstrategy = leastrecent\n"
        "[own](t)\n"
    )
    queues = {q.name: q for q in load_queues(conf)}

    assert ("rrmemory", 20.0) == (queues["sales"].strategy, queues["sales"].timeout)
    assert "ringall" == queues["vip"].strategy
    assert "rrmemory" == queues["own"].strategy
