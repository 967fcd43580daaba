"""The pop card: data (:class:`PopCard`) and its HTML (jinja2, autoescaped, overridable).

The company overrides the card by putting its own ``pop_card.html`` (the frame, rendered when
the phone rings), ``pop_customer.html`` (who is calling) or ``pop_history.html`` (open items
and recent interactions) in a folder named by ``web.pop_templates_dir``; the built-in templates
are the fallback and show every field. The last two depend only on who is calling, so they are
rendered when the caller is looked up — before the phone rings — and the ring only renders
the frame around them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import jinja2
from markupsafe import Markup

from contact_center import i18n
from contact_center.crm.contacts import CRM_OFF, CrmResult
from contact_center.customers.lookup import CustomerCard
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
    answered: bool = False  # this operator has the call: the wrap-up and recording show

    @property
    def shown_history(self) -> tuple[HistoryItem, ...]:
        """The rows a person reads (each call's small steps are summed up by its end)."""
        return tuple(h for h in self.history if h.kind not in QUIET_KINDS)

    @property
    def customer(self) -> CustomerCard | None:
        return self.customers[0] if len(self.customers) == 1 else None


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
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(dirs),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        i18n.install(self.env)
        self.env.filters["clip"] = clip
        self.env.filters["mmss"] = seconds
        self.env.filters["when"] = when
        self._template = self.env.get_template(CARD_TEMPLATE)
        # The built-in frame shows the wait as WAITED(…) and nothing of the ringing
        # interface or stage but what pre-rendering accounts for (see ScreenPop).
        self.builtin_frame = Path(self._template.filename or "").parent == BUILTIN_TEMPLATES
        self._customer = self.env.get_template(CUSTOMER_TEMPLATE)
        self._history = self.env.get_template(HISTORY_TEMPLATE)

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
            card=card, customer_html=parts.customer_html, history_html=parts.history_html
        )


@dataclass(frozen=True, slots=True)
class CardParts:
    customer_html: Markup
    history_html: Markup
    locale: str = i18n.DEFAULT_LOCALE
