"""The pop card: data (:class:`PopCard`) and its HTML (jinja2, autoescaped, overridable).

The company overrides the card by putting its own ``pop_card.html`` (the frame, rendered when
the phone rings), ``pop_customer.html`` (who is calling) or ``pop_history.html`` (open items
and recent interactions) in a folder named by ``web.pop_templates_dir``; the built-in templates
are the fallback and show every field. The last two depend only on who is calling, so they are
rendered when the caller is looked up — before the phone rings — and the ring only renders
the frame around them.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup, escape

from contact_center import i18n
from contact_center.crm.contacts import CRM_OFF, CrmResult
from contact_center.customers.lookup import CustomerCard
from contact_center.customers.phones import display_number
from contact_center.history.describe import QUIET_KINDS, PlainRow, plain
from contact_center.screenpop.context import IvrStepView, QueueVisit, TransferView

BUILTIN_TEMPLATES = Path(__file__).parent / "templates"
CARD_TEMPLATE = "pop_card.html"
CUSTOMER_TEMPLATE = "pop_customer.html"
HISTORY_TEMPLATE = "pop_history.html"
MAX_TEXT = 200  # caller names are attacker-controlled; a 10 KB name must not flood the card

DISPOSITIONS = ("resolved", "callback", "escalated", "sale", "complaint", "wrong number", "other")


@dataclass(frozen=True, slots=True)
class HistoryItem:
    at: datetime
    kind: str
    summary: str
    actor: str
    outcome: str
    data: dict[str, object] = field(default_factory=dict)

    def plain(self) -> PlainRow:
        """The row in plain words, in the current language."""
        return plain(self.kind, self.summary, self.actor, dict(self.data))


@dataclass(frozen=True, slots=True)
class OpenItem:
    kind: str
    title: str
    status: str


@dataclass(frozen=True, slots=True)
class PopCard:
    """Everything one operator's card shows for one call."""

    server: str
    call_id: str
    stage: str  # offered | answered | identified
    match: str  # known | several | unknown | identified
    interface: str
    caller_number: str  # E.164 when it normalises
    caller_number_raw: str  # as dialled / as Asterisk reported it
    caller_name: str
    did: str
    customers: tuple[CustomerCard, ...]
    history: tuple[HistoryItem, ...] = ()
    open_items: tuple[OpenItem, ...] = ()
    ivr: tuple[IvrStepView, ...] = ()
    ivr_digits: str = ""
    queues: tuple[QueueVisit, ...] = ()
    queue: str = ""
    waited_seconds: float = 0.0
    previous_operator: str = ""
    transfers: tuple[TransferView, ...] = ()
    notes: tuple[tuple[str, str], ...] = ()  # (operator, text) typed on this call so far
    dispositions: tuple[str, ...] = field(default=DISPOSITIONS)
    crm: CrmResult = CRM_OFF  # the external CRM's answer (status off without one)
    path: str = ""  # how the call reached this operator (see CallContext.path)
    answered: bool = False  # this operator has the call: the wrap-up and recording show

    @property
    def shown_history(self) -> tuple[HistoryItem, ...]:
        """The rows a person reads (each call's small steps are summed up by its end)."""
        return tuple(h for h in self.history if h.kind not in QUIET_KINDS)

    @property
    def customer(self) -> CustomerCard | None:
        return self.customers[0] if len(self.customers) == 1 else None

    @property
    def caller_display(self) -> str:
        """The caller's number as people write it (``+7 495 037-03-72``), not the
        provider's raw digits; ``caller_number`` is E.164 already when it normalises (the
        tracker reads it in the configured default region)."""
        return display_number(self.caller_number, self.caller_number_raw)


def _frame_texts() -> dict[str, Any]:
    from contact_center.i18n import gettext as _

    return {
        "stages": {
            "offered": _("Ringing"),
            "answered": _("Talking"),
            "identified": _("Identified"),
        },
        "caller_id": _("Caller ID:"),
        "call": _("Call type"),
        # how the call reached this operator (CallContext.path)
        "paths": {
            "queue": _("Queue call"),
            "direct": _("Rings you directly"),
            "transfer": _("Transferred to you"),
            "callback": _("Callback"),
            "outbound": _("Outbound call"),
        },
        "dialled": _("Dialled"),
        "queue": _("Queue"),
        "waited": _("Waited"),
        "ivr": _("IVR"),
        "digits": _("Digits"),
        "queues": _("Queues"),
        "previous_operator": _("Previous operator"),
        "transfer": _("Transfer"),
        "transfer_types": {"blind": _("Blind"), "attended": _("Attended")},
        "note": _("Note"),
        "wrapup": _("Wrap-up"),
        "wrapup_saved": _("Wrap-up saved."),
        "disposition": _("Disposition"),
        "choose": _("— choose —"),
        "notes": _("Notes"),
        "save_wrapup": _("Save wrap-up"),
    }


@functools.cache
def frame_texts(lang: str) -> dict[str, Any]:
    """The card frame's words in ``lang``, escaped once: the frame is rendered while the
    phone rings, and a translation call per label per pop costs more than the rest."""
    with i18n.use_locale(lang):
        texts = _frame_texts()
    return {
        k: {s: Markup(escape(t)) for s, t in v.items()}
        if isinstance(v, dict)
        else Markup(escape(v))
        for k, v in texts.items()
    }


def clip(value: object, limit: int = MAX_TEXT) -> str:
    """Shorten long text for display (the full value stays in the data)."""
    text = "" if value is None else str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def seconds(value: float) -> str:
    total = round(value)
    return f"{total // 60}:{total % 60:02d}"


def waited_cell(value: float) -> str:
    """How the built-in card shows the wait (kept in step with pop_card.html)."""
    return f'<dd class="waited">{seconds(value)}</dd>'


def when(value: datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return i18n.format_datetime(value.astimezone(UTC), format="short")


class CardRenderer:
    """Renders :class:`PopCard`s with the first ``pop_card.html`` found in ``template_dirs``."""

    def __init__(self, template_dirs: Sequence[str | Path] = ()) -> None:
        dirs = [str(d) for d in template_dirs if str(d)] + [str(BUILTIN_TEMPLATES)]
        self.env = self._environment(dirs)
        i18n.install(self.env)
        self._template = self.env.get_template(CARD_TEMPLATE)
        # The built-in frame shows the wait as WAITED(…) and nothing of the ringing
        # interface or stage but what pre-rendering accounts for (see ScreenPop).
        self.builtin_frame = Path(self._template.filename or "").parent == BUILTIN_TEMPLATES
        if self.builtin_frame:
            # Rendered while the phone rings: its words come translated in L, and an
            # environment without the i18n globals resolves the frame's names faster.
            self._template = self._environment(dirs).get_template(CARD_TEMPLATE)
        self._customer = self.env.get_template(CUSTOMER_TEMPLATE)
        self._history = self.env.get_template(HISTORY_TEMPLATE)

    @staticmethod
    def _environment(dirs: list[str]) -> jinja2.Environment:
        env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(dirs),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        env.filters["clip"] = clip
        env.filters["mmss"] = seconds
        env.filters["when"] = when
        return env

    def render_parts(self, card: PopCard) -> CardParts:
        """The parts of the card that depend only on who is calling (current language)."""
        return CardParts(
            Markup(self._customer.render(card=card)),
            Markup(self._history.render(card=card)),
            i18n.current_locale(),
        )

    def render(self, card: PopCard, parts: CardParts | None = None) -> str:
        """The whole card in the current language; ``parts`` rendered earlier for the same
        caller (used when in the same language), or now."""
        if parts is None or parts.locale != i18n.current_locale():
            parts = self.render_parts(card)
        return self._template.render(
            card=card,
            customer_html=parts.customer_html,
            history_html=parts.history_html,
            L=frame_texts(i18n.current_locale()),
        )


@dataclass(frozen=True, slots=True)
class CardParts:
    customer_html: Markup
    history_html: Markup
    locale: str = i18n.DEFAULT_LOCALE
