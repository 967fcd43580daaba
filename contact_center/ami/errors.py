"""AMI errors: one small hierarchy, clear messages, converted at the boundary."""

from __future__ import annotations


class AmiError(Exception):
    """Base of every AMI failure."""


class AmiAuthError(AmiError):
    """Asterisk refused our login (wrong secret, unknown user, wrong MD5 key, ACL)."""


class AmiInjectionError(AmiError, ValueError):
    """An action value contained CR or LF and would have smuggled extra AMI headers/actions."""


class AmiNotConnected(AmiError):
    """An action was attempted while there is no logged-in connection (it is not queued)."""


class AmiConnectionLost(AmiError):
    """The connection dropped before Asterisk answered; the action is *not* resent, because
    Asterisk may already have executed it (an Originate would ring twice)."""


class AmiTimeout(AmiError):
    """Asterisk did not answer in time."""


class AmiActionError(AmiError):
    """Asterisk answered ``Response: Error`` (or a failed OriginateResponse)."""

    def __init__(self, action: str, message: str) -> None:
        super().__init__(f"AMI {action} failed: {message or 'no reason given'}")
        self.action = action
        self.reason = message


class AmiPermissionDenied(AmiActionError):
    """The AMI user lacks the write class for this action (see manager.conf)."""


class AmiNoSuchChannel(AmiActionError):
    """The channel named in the action does not exist (any more)."""
