"""Errors raised by the simulator."""

from __future__ import annotations


class SimError(Exception):
    """Base of every simulator error."""


class ChannelHungUp(SimError):
    """The channel was hung up while an application was running on it."""


class NoSuchChannel(SimError):
    """An action named a channel that does not exist."""


class ScenarioError(SimError):
    """A scenario file is malformed; the message names the file and the step."""


class Redirected(ChannelHungUp):
    """The channel was sent elsewhere in the dial plan (AMI Redirect) mid-application."""


class TransferFailed(SimError):
    """BlindTransfer/Atxfer named a channel that is not an operator bridged with a caller."""


class QueueError(SimError):
    """A queue action failed; the message is the one Asterisk answers with."""
