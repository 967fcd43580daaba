"""The admin API's requests and answers as pydantic models: the handlers validate with them
and :mod:`contact_center.admin.openapi` writes the OpenAPI document from them, so the two
cannot disagree ("thin handlers")."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from contact_center.i18n import LOCALES
from contact_center.web.tokens import MAX_DAYS, SCOPES

RoleName = Literal["operator", "supervisor", "qa", "admin"]
ChoiceKind = Literal["pause_reason", "disposition"]
Scope = Literal[SCOPES]  # type: ignore[valid-type]
Login = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,79}$")]
Interface = Annotated[
    str, StringConstraints(pattern=r"^((PJSIP|SIP|IAX2|Local)/[A-Za-z0-9_.@-]{1,64})?$")
]
Name = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,79}$")]
# One line of printable text (no control characters: PostgreSQL refuses NUL in text).
Text = Annotated[str, StringConstraints(pattern=r"^[^\x00-\x1f\x7f]*$", max_length=200)]
Label = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=1, max_length=80, pattern=r"^[^\x00-\x1f\x7f]+$"
    ),
]
Level = Annotated[int, Field(ge=1, le=5)]
Penalty = Annotated[int, Field(ge=0, le=100)]
Password = Annotated[str, StringConstraints(min_length=8, max_length=1024)]
# The language of the user's pages and screen pops; "" follows the browser.
Language = Literal[("", *LOCALES)]  # type: ignore[valid-type]
ServerId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.-]{0,40}$")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class UserCreate(Strict):
    login: Login
    role: RoleName
    password: Password
    display_name: Text = ""
    interface: Interface = ""
    queues: dict[Name, Penalty] = Field(default_factory=dict, max_length=50)
    skills: dict[Name, Level] = Field(default_factory=dict, max_length=50)
    server_id: ServerId = ""
    language: Language = ""


class UserUpdate(Strict):
    role: RoleName | None = None
    display_name: Text | None = None
    interface: Interface | None = None
    queues: dict[Name, Penalty] | None = Field(default=None, max_length=50)
    skills: dict[Name, Level] | None = Field(default=None, max_length=50)
    server_id: ServerId | None = None
    active: bool | None = None
    language: Language | None = None


class UserOut(BaseModel):
    id: int
    login: str
    display_name: str
    role: RoleName
    interface: str
    queues: dict[str, int]
    skills: dict[str, int]
    server_id: str
    active: bool
    language: str = Field(description='pages and screen pops; "" follows the browser')


class UserList(BaseModel):
    items: list[UserOut]


class PasswordSet(Strict):
    password: Password


class SessionsEnded(BaseModel):
    sessions_ended: int


class QueueUpdate(Strict):
    server: ServerId | None = None
    title: Text | None = None
    service_level_seconds: Annotated[int, Field(ge=1, le=3600)] | None = None
    wrapup_seconds: Annotated[int, Field(ge=0, le=3600)] | None = None
    required_skills: list[Name] | None = Field(default=None, max_length=20)


class QueueOut(BaseModel):
    name: str
    server: str
    title: str
    service_level_seconds: int
    wrapup_seconds: int
    required_skills: list[str]
    skills_from: Literal["admin", "routing.yaml", ""]


class QueueList(BaseModel):
    items: list[QueueOut]


class ChoiceCreate(Strict):
    name: Label


class ChoiceOut(BaseModel):
    id: int
    name: str
    position: int
    active: bool


class ChoiceList(BaseModel):
    kind: ChoiceKind
    items: list[ChoiceOut]


class ChoiceNames(BaseModel):
    kind: ChoiceKind
    names: list[str]


class TokenCreate(Strict):
    name: Label
    scopes: list[Scope] = Field(min_length=1, max_length=len(SCOPES))
    days: Annotated[int, Field(ge=1, le=MAX_DAYS)] = 90
    user_id: Annotated[int, Field(ge=1, le=2**62)] | None = None


class TokenOut(BaseModel):
    id: int
    name: str
    prefix: str
    user_login: str
    scopes: list[str]
    created_by: str
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None
    state: Literal["active", "expired", "revoked"]


class TokenList(BaseModel):
    items: list[TokenOut]


class TokenMade(BaseModel):
    token: str = Field(description="The bearer token; shown this once, only its hash is kept")
    item: TokenOut


class AuditOut(BaseModel):
    id: int
    at: datetime
    who: str
    action: str
    target: str
    before: Any = None
    after: Any = None


class AuditList(BaseModel):
    items: list[AuditOut]
    next_before: int | None = Field(description="pass as before= for the next older page")


def errors_text(exc: ValidationError) -> str:
    """One line per problem: ``field: reason``."""
    lines = []
    for err in exc.errors(include_url=False, include_input=False):
        where = ".".join(str(p) for p in err.get("loc", ())) or "body"
        lines.append(f"{where}: {err.get('msg', 'invalid')}")
    return "; ".join(lines[:10])


class TariffUpload(Strict):
    file_name: Annotated[
        str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}\.(ya?ml|csv|YA?ML|CSV)$")
    ]
    content: Annotated[str, StringConstraints(max_length=2 * 1024 * 1024)]
    check_only: bool = False


class TariffPlanOut(BaseModel):
    name: str
    direction: str
    currency: str
    rates: int
    imported_at: datetime | None = None


class TariffList(BaseModel):
    items: list[TariffPlanOut]


class TariffResult(BaseModel):
    saved: bool
    plans: list[TariffPlanOut]
    errors: list[str] = Field(description="file:line: reason, one per problem; nothing is saved")


class IvrNode(BaseModel):
    id: str
    type: str
    line: int
    goes_to: list[str]


class IvrMenu(BaseModel):
    name: str
    title: str
    file: str
    languages: list[str]
    start: str | None
    nodes: list[IvrNode]


class IvrCheck(BaseModel):
    directory: str
    menus: list[IvrMenu]
    problems: list[str] = Field(description="what `contact-center ivr check` prints")
