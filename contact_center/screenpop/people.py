"""A user's change the screen pops must follow at once (her language, her phone, her name).

The web publishes it on the bus ``events`` stream as an ``OperatorAction`` (action
``user.changed``, ``call_id`` empty) after the change is committed; the pop service reads the
stream in order, so every pop of a call offered after the change is rendered as she now wants
it — in this process or another — without waiting for its operator directory's reload.
"""

from __future__ import annotations

import logging
import time

from contact_center.bus.base import EVENTS, Bus, BusError
from contact_center.calls import events as ev

USER_CHANGED = "user.changed"
log = logging.getLogger(__name__)


def user_changed(*, server: str, login: str, language: str, by: str) -> ev.OperatorAction:
    """The event for a user's changed settings (``language`` as stored: "" = the default)."""
    now = time.time()
    return ev.OperatorAction(
        server=server,
        call_id="",
        at=now,
        key=ev.make_key(USER_CHANGED, login, language, by, now),
        user=by,
        action=USER_CHANGED,
        detail={"login": login, "language": language},
    )


def change_of(event: ev.DomainEvent) -> tuple[str, str] | None:
    """(login, language) of a ``user.changed`` event, else None."""
    if not isinstance(event, ev.OperatorAction) or event.action != USER_CHANGED:
        return None
    login, language = event.detail.get("login"), event.detail.get("language", "")
    if not isinstance(login, str) or not login or not isinstance(language, str):
        return None
    return login, language


async def announce_user_changed(
    bus: Bus, *, server: str, login: str, language: str, by: str
) -> None:
    """Publish :func:`user_changed`; a bus that is down only delays it (the pop service's
    directory reloads on its own within its TTL)."""
    event = user_changed(server=server, login=login, language=language, by=by)
    try:
        await bus.publish(EVENTS, ev.to_dict(event))
    except BusError as exc:
        log.warning("change of user %s not announced to the screen pops: %s", login, exc)
