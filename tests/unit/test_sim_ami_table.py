"""The simulator's AMI handler table: every action module registered its actions, each once."""

from __future__ import annotations

import pytest

from contact_center.sim.ami import ACTION_RIGHTS, HANDLERS
from contact_center.sim.ami.session import register


def test_every_action_with_rights_has_a_handler() -> None:
    # Logoff (like Login and Challenge) is the session's own: it runs before a user is known
    assert set(ACTION_RIGHTS) - {"logoff"} == set(HANDLERS)
    assert 35 == len(HANDLERS)


def test_handlers_come_from_the_module_of_their_job() -> None:
    modules = {
        action: handler.__module__.rpartition(".")[2] for action, handler in HANDLERS.items()
    }
    assert "actions_calls" == modules["originate"] == modules["atxfer"]
    assert "actions_queues" == modules["queueadd"] == modules["queuepause"]
    assert "actions_lists" == modules["coreshowchannels"] == modules["queuestatus"]
    assert "actions_recording" == modules["mixmonitormute"]
    assert "actions_conference" == modules["confbridgekick"]
    assert "actions_system" == modules["ping"]


def test_an_action_registered_twice_is_refused() -> None:
    with pytest.raises(ValueError, match="'ping' is registered twice"):
        register({"ping": HANDLERS["ping"]})
    assert 35 == len(HANDLERS)
