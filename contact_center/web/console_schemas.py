"""The console's forms and answers as pydantic models (:mod:`contact_center.web.console`):
the handlers read their bodies with them and the OpenAPI document is written from them.

Every check is here, worded for the operator (translated): the console shows the 400's text
as it is. Checks that compare with what the admin keeps (pause reasons, dispositions) read
it from the validation context (``parse_form(..., reasons=…)``).
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    Field,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from contact_center.bus.base import InvalidStreamId, parse_id
from contact_center.i18n import gettext as _
from contact_center.routing.targets import InvalidTarget, Target, parse_target
from contact_center.web.forms import Form, refuse

STATES = ("available", "paused", "offline")
TRANSFER_MODES = ("blind", "attended")
RECORDING_PAUSE_REASONS = ("manual", "card_payment")
MAX_NOTE = 500  # a note on a call (a transfer note)
MAX_DISPOSITION = 80
MAX_NOTES = 4000
CONTACT_FIELDS = {"name": 200, "company": 200, "email": 200, "address": 400, "language": 16}
ID_PATTERN = "^[0-9]{1,18}$"

# An id in a form: text of up to 18 digits (inside a BIGINT), None when blank.
OptionalId = Annotated[
    int | None, WithJsonSchema({"type": "string", "pattern": ID_PATTERN}, mode="validation")
]


def text(value: Any, label: str, limit: int) -> str:
    """One text field, stripped: refused when longer than ``limit`` or with control
    characters (PostgreSQL refuses NUL; the others are never typed)."""
    value = str(value if value is not None else "").strip()
    if len(value) > limit:
        raise refuse(_("%(field)s is longer than %(limit)s characters", field=label, limit=limit))
    if any(ord(c) < 32 and c not in "\n\t\r" for c in value):
        raise refuse(_("%(field)s contains control characters", field=label))
    return value


def optional_id(value: Any, name: str) -> int | None:
    raw = str(value if value is not None else "").strip()
    if not raw:
        return None
    # isdecimal, not isdigit: int() refuses "²"; 18 digits keep it inside a BIGINT
    if not raw.isdecimal() or len(raw) > 18:
        raise refuse(_("%(field)s must be a number", field=name))
    return int(raw)


def target(value: Any, name: str, *, required: bool) -> str:
    """A transfer / conference / click-to-call target as typed (checked)."""
    raw = str(value or "")
    if not raw.strip():
        if required:
            raise refuse(_("%(field)s is required", field=name))
        return ""
    try:
        parse_target(raw)
    except InvalidTarget as exc:
        raise refuse(str(exc)) from None
    return raw


def _context(info: ValidationInfo, key: str) -> tuple[str, ...]:
    return tuple((info.context or {}).get(key, ()))


# --- state ---------------------------------------------------------------------------------


class StateForm(Form):
    state: Literal["available", "paused", "offline"]
    reason: str = Field(
        default="",
        description="A pause reason the admin keeps (GET /api/lists/pause_reason); "
        "required when paused, ignored otherwise.",
    )

    @field_validator("state", mode="before")
    @classmethod
    def _state(cls, value: Any) -> Any:
        if value not in STATES:
            raise refuse(_("State must be one of %(values)s", values=", ".join(STATES)))
        return value

    @model_validator(mode="after")
    def _reason(self, info: ValidationInfo) -> StateForm:
        if self.state != "paused":
            self.reason = ""
            return self
        self.reason = self.reason.strip()
        reasons = _context(info, "reasons")
        if self.reason not in reasons:
            raise refuse(_("Choose a pause reason: %(reasons)s", reasons=", ".join(reasons)))
        return self


# --- call control ----------------------------------------------------------------------------


def _note(value: Any) -> str:
    note = str(value or "").strip()
    if len(note) > MAX_NOTE:
        raise refuse(_("The note is longer than %(limit)s characters", limit=MAX_NOTE))
    return note


class TransferForm(Form):
    target: str = Field(min_length=1, description="An extension, a queue or an external number.")
    mode: Literal["blind", "attended"] = "blind"
    note: str = Field(
        default="",
        max_length=MAX_NOTE,
        description="Shown on the next operator's pop (published as a note first).",
    )

    @field_validator("mode", mode="before")
    @classmethod
    def _mode(cls, value: Any) -> Any:
        if value not in TRANSFER_MODES:
            raise refuse(_("Mode must be blind or attended"))
        return value

    @field_validator("target", mode="before")
    @classmethod
    def _target(cls, value: Any) -> str:
        return target(value, "target", required=True)

    @field_validator("note", mode="before")
    @classmethod
    def _note(cls, value: Any) -> str:
        return _note(value)

    def parsed(self) -> Target:
        return parse_target(self.target)


class NoteForm(Form):
    text: str = Field(min_length=1, max_length=MAX_NOTE)

    @field_validator("text", mode="before")
    @classmethod
    def _text(cls, value: Any) -> str:
        note = _note(value)
        if not note:
            raise refuse(_("Write the note first"))
        return note


class ConferenceForm(Form):
    target: str = Field(default="", description="A third party to add (optional).")

    @field_validator("target", mode="before")
    @classmethod
    def _target(cls, value: Any) -> str:
        return target(value, "target", required=False)

    def parsed(self) -> Target | None:
        return parse_target(self.target) if self.target.strip() else None


class ConferenceInviteForm(Form):
    target: str = Field(
        min_length=1,
        description="Whom to add to the room you are in: a colleague's extension, a queue or "
        "an external number.",
        examples=["102", "sales", "+74951234567"],
    )

    @field_validator("target", mode="before")
    @classmethod
    def _target(cls, value: Any) -> str:
        return target(value, "target", required=True)

    def parsed(self) -> Target:
        return parse_target(self.target)


class ClickToCallForm(Form):
    number: str = Field(min_length=1, examples=["+74951234567", "101"])
    customer_id: OptionalId = None

    @field_validator("number", mode="before")
    @classmethod
    def _number(cls, value: Any) -> str:
        raw = target(value, "number", required=True)
        if parse_target(raw).kind not in ("external", "extension"):
            raise refuse(_("Call a phone number or an extension"))
        return raw

    @field_validator("customer_id", mode="before")
    @classmethod
    def _customer(cls, value: Any) -> int | None:
        return optional_id(value, "customer_id")

    def parsed(self) -> Target:
        return parse_target(self.number)


class RecordingForm(Form):
    reason: Literal["manual", "card_payment"] = "manual"

    @field_validator("reason", mode="before")
    @classmethod
    def _reason(cls, value: Any) -> Any:
        value = value or "manual"
        if value not in RECORDING_PAUSE_REASONS:
            raise refuse(_("Unknown reason for pausing the recording"))
        return value


# --- wrap-up ---------------------------------------------------------------------------------


class WrapupDraftForm(Form):
    """What the operator typed so far; a draft may lack the disposition."""

    draft: ClassVar[bool] = True

    disposition: str = Field(default="", max_length=MAX_DISPOSITION)
    notes: str = Field(default="", max_length=MAX_NOTES)
    customer_id: OptionalId = Field(default=None, description="An existing customer's id.")

    @field_validator("disposition", mode="before")
    @classmethod
    def _disposition(cls, value: Any, info: ValidationInfo) -> str:
        disposition = text(value, _("Disposition"), MAX_DISPOSITION)
        if not disposition and not cls.draft:
            raise refuse(_("Choose a disposition"))
        allowed = _context(info, "dispositions")
        if disposition and allowed and disposition not in allowed:
            raise refuse(_("Unknown disposition: %(value)s", value=disposition))
        return disposition

    @field_validator("notes", mode="before")
    @classmethod
    def _notes(cls, value: Any) -> str:
        return text(value, _("Notes"), MAX_NOTES)

    @field_validator("customer_id", mode="before")
    @classmethod
    def _customer(cls, value: Any) -> int | None:
        return optional_id(value, "customer_id")


class WrapupForm(WrapupDraftForm):
    """A wrap-up to save (saving again corrects it)."""

    draft: ClassVar[bool] = False
    disposition: str = Field(min_length=1, max_length=MAX_DISPOSITION)


# --- the caller ------------------------------------------------------------------------------


class CallRef(Form):
    """The call a form names (to identify its caller, or to reach its customer)."""

    server: str = Field(default="", max_length=40)
    call_id: str = Field(default="", max_length=64)

    @field_validator("server", "call_id", mode="before")
    @classmethod
    def _call(cls, value: Any, info: ValidationInfo) -> str:
        value = str(value or "")
        if len(value) > (40 if info.field_name == "server" else 64):
            raise refuse(_("No such call"))
        return value


class IdentifyForm(Form):
    customer_id: Annotated[
        int, WithJsonSchema({"type": "string", "pattern": ID_PATTERN}, mode="validation")
    ]

    @field_validator("customer_id", mode="before")
    @classmethod
    def _customer(cls, value: Any) -> int:
        found = optional_id(value, "customer_id")
        if found is None:
            raise refuse(_("No such customer"))
        return found


class CustomerForm(CallRef):
    """A new customer from the pop's "Unknown caller" form (and the call to identify)."""

    name: str = Field(min_length=1, max_length=200)
    company: str = Field(default="", max_length=200)
    phone: str = Field(
        default="",
        max_length=64,
        description="Any written form; refused when it is no storable number.",
    )

    @field_validator("name", mode="before")
    @classmethod
    def _name(cls, value: Any) -> str:
        name = text(value, _("Name"), 200)
        if not name:
            raise refuse(_("Name is required"))
        return name

    @field_validator("company", mode="before")
    @classmethod
    def _company(cls, value: Any) -> str:
        return text(value, _("Company"), 200)

    @field_validator("phone", mode="before")
    @classmethod
    def _phone(cls, value: Any) -> str:
        return text(value, _("Phone"), 64)


def _contact_labels() -> dict[str, str]:
    return {
        "name": _("Name"),
        "company": _("Company"),
        "email": _("Email"),
        "address": _("Address"),
        "language": _("Language"),
    }


class ContactForm(CallRef):
    """Contact fields to correct: only those given change."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    company: str | None = Field(default=None, max_length=200)
    email: str | None = Field(default=None, max_length=200)
    address: str | None = Field(default=None, max_length=400)
    language: str | None = Field(default=None, max_length=16)

    @field_validator("name", "company", "email", "address", "language", mode="before")
    @classmethod
    def _contact(cls, value: Any, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        name = str(info.field_name)
        checked = text(value, _contact_labels()[name], CONTACT_FIELDS[name])
        if name == "name" and not checked:
            raise refuse(_("Name is required"))
        return checked

    @model_validator(mode="after")
    def _values(self) -> ContactForm:
        values = self.values()
        if values.get("email") and ("@" not in values["email"] or " " in values["email"]):
            raise refuse(_("Not an email address: %(value)s", value=values["email"]))
        if not values:
            raise refuse(_("Nothing to change"))
        return self

    def values(self) -> dict[str, str]:
        """The contact fields given, checked."""
        return {n: v for n in CONTACT_FIELDS if (v := getattr(self, n)) is not None}


# --- a command's outcome --------------------------------------------------------------------


class CommandQuery(BaseModel):
    """Where a poll for a command's outcome reads on (the ``result_url``'s query)."""

    key: str = Field(default="", description="The command's key (first 64 characters used).")
    call_id: str = ""
    done: list[str] = Field(
        default_factory=list, description="Actions that mean the command was carried out."
    )
    after: str = Field(
        default="",
        description="Read on from this stream id: the `cursor` the previous poll answered "
        "(each poll reads only what is new, a few hundred entries at most).",
        json_schema_extra={"examples": ["1700000000000-9"]},
    )

    @field_validator("key", mode="before")
    @classmethod
    def _key(cls, value: Any) -> str:
        return str(value or "")[:64]

    @field_validator("after", mode="before")
    @classmethod
    def _after(cls, value: Any) -> str:
        return stream_id(value)


def stream_id(value: Any) -> str:
    """A bus stream id (``<ms>-<seq>``), checked."""
    raw = str(value or "")
    try:
        parse_id(raw)
    except InvalidStreamId as exc:
        raise refuse(str(exc)) from None
    return raw


# --- answers ---------------------------------------------------------------------------------


class SentCommand(BaseModel):
    status: Literal["sent"]
    command: str
    id: str = Field(description="the command's bus stream id")
    key: str
    result_url: str = Field(description="GET it for the outcome")


class StateRequested(SentCommand):
    requested: Literal["available", "paused", "offline"]
    reason: str


class OperatorStateOut(BaseModel):
    state: Literal["offline", "available", "ringing", "on_call", "wrapup", "paused"]
    reason: str
    since: float
    until: float
    queues: list[str]
    current_call: str = ""
    at: float = 0.0


class CommandOutcome(BaseModel):
    status: Literal["pending", "done", "failed"]
    action: str = ""
    reason: str = ""
    cursor: str = ""


class RecordingAction(BaseModel):
    action: Literal["recording.pause", "recording.resume"]
    reason: Literal["manual", "card_payment"]
    id: str = Field(description="bus message id")


class WrapupSaved(BaseModel):
    saved: bool
    key: str
    id: str = Field(description="bus message id")


class DraftKept(BaseModel):
    kept: bool


class NoteSaved(BaseModel):
    saved: bool


class PendingWrapupOut(BaseModel):
    server: str
    call_id: str
    customer_id: int | None
    customer_name: str
    caller_number: str
    disposition: str
    notes: str
    started_at: float = Field(description="epoch seconds")


class PendingWrapups(BaseModel):
    items: list[PendingWrapupOut]
    dispositions: list[str]


class MyCall(BaseModel):
    server: str
    call_id: str
    direction: str = ""
    number: str = ""
    customer_id: int | None = None
    customer: str = ""
    started_at: float
    talk_seconds: int = 0
    outcome: str = ""
    disposition: str = ""


class MyCalls(BaseModel):
    items: list[MyCall]


class TransferPerson(BaseModel):
    name: str
    extension: str
    state: str
    reason: str = ""


class TransferQueue(BaseModel):
    name: str
    waiting: int
    available: int


class TransferTargets(BaseModel):
    operators: list[TransferPerson]
    queues: list[TransferQueue]


class ContactChanged(BaseModel):
    customer_id: int
    changed: list[str]


class CustomerIdOut(BaseModel):
    customer_id: int
