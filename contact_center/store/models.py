"""The one schema. Every table of the service lives here; Alembic migrations follow it.

Conventions: integer surrogate keys; times as timezone-aware UTC ``DateTime``; money as
``Numeric(18, 6)`` with a currency code; JSON columns for free-form data (custom fields,
details). Calls are keyed by (server, linkedid) as Asterisk identifies them.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# SQLite only autoincrements INTEGER PRIMARY KEY; BigInteger elsewhere.
BigId = BigInteger().with_variant(Integer(), "sqlite")
Money = Numeric(18, 6)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {dict[str, Any]: JSON, datetime: DateTime(timezone=True)}


# --- customers ------------------------------------------------------------------------------


class Customer(Base):
    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    company: Mapped[str] = mapped_column(String(200), default="")
    segment: Mapped[str] = mapped_column(String(40), default="", index=True)  # e.g. VIP
    language: Mapped[str] = mapped_column(String(16), default="")
    email: Mapped[str] = mapped_column(String(200), default="")
    address: Mapped[str] = mapped_column(String(400), default="")
    notes: Mapped[str] = mapped_column(Text, default="")
    # Who the customer is: the id in the company's own system (the CRM, billing), else the
    # account number. Never the phone number: one number may serve several customers.
    external_id: Mapped[str | None] = mapped_column(String(80), unique=True, nullable=True)
    account_number: Mapped[str | None] = mapped_column(String(40), unique=True, nullable=True)
    pin_hash: Mapped[str | None] = mapped_column(String(200), nullable=True)
    balance: Mapped[Decimal | None] = mapped_column(Money, nullable=True)
    currency: Mapped[str] = mapped_column(String(3), default="")
    custom: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    tariff_plan: Mapped[str] = mapped_column(String(80), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    phones: Mapped[list[CustomerPhone]] = relationship(
        back_populates="customer", cascade="all, delete-orphan", lazy="selectin"
    )


class CustomerPhone(Base):
    __tablename__ = "customer_phones"
    __table_args__ = (UniqueConstraint("customer_id", "e164"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # No index of its own: the unique (customer_id, e164) index serves customer_id lookups,
    # and one b-tree less per row speeds up bulk imports.
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    # Not unique alone: several customers may share one number (a family, an office line);
    # the pop then offers the choice.
    e164: Mapped[str] = mapped_column(String(32), index=True)
    # The digits reversed (customers.phones.phone_suffix), so "last N digits" is an indexed
    # prefix range for the lookup fallback, whatever N is configured.
    suffix: Mapped[str] = mapped_column(String(16), index=True)
    raw: Mapped[str] = mapped_column(String(64), default="")
    # The number's type: mobile | work | home | fax | other, or "" when not given.
    label: Mapped[str] = mapped_column(String(40), default="")

    customer: Mapped[Customer] = relationship(back_populates="phones")


class Order(Base):
    """Orders for IVR self-service (order status) and the pop's open items."""

    __tablename__ = "orders"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    number: Mapped[str] = mapped_column(String(40), unique=True)
    status: Mapped[str] = mapped_column(String(40))
    amount: Mapped[Decimal] = mapped_column(Money, default=Decimal(0))
    currency: Mapped[str] = mapped_column(String(3), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Payment(Base):
    __tablename__ = "payments"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    amount: Mapped[Decimal] = mapped_column(Money)
    currency: Mapped[str] = mapped_column(String(3), default="")
    paid_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # The payment's id in the billing system: an import given it updates instead of adding.
    external_id: Mapped[str | None] = mapped_column(String(80), unique=True, nullable=True)


class Case(Base):
    """An open item (complaint, request) shown on the pop and used by routing."""

    __tablename__ = "cases"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(40), default="request")  # complaint | request
    title: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20), default="open", index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


# --- users, queues ----------------------------------------------------------------------------


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    login: Mapped[str] = mapped_column(String(80), unique=True)
    display_name: Mapped[str] = mapped_column(String(200), default="")
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))  # operator | supervisor | qa | admin
    interface: Mapped[str] = mapped_column(String(80), default="", index=True)  # PJSIP/101
    extension: Mapped[str] = mapped_column(String(20), default="")
    skills: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # {"ru": 1, "billing": 3}
    queues: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # {"support": penalty}
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # The language of the user's pages ("en", "ru"); "" follows the browser's Accept-Language.
    language: Mapped[str] = mapped_column(String(8), default="")
    # The Asterisk server of the user's phone (its connector carries out their commands);
    # empty: the deployment's only server, ``[general] server_id``.
    server_id: Mapped[str] = mapped_column(String(40), default="", server_default="")


class WebSession(Base):
    """A signed-in browser (web engineer): the cookie holds a random token, we keep its hash."""

    __tablename__ = "web_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 of the cookie token
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    remote: Mapped[str] = mapped_column(String(80), default="")


class Queue(Base):
    __tablename__ = "queues"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    server: Mapped[str] = mapped_column(String(40), default="pbx1")
    name: Mapped[str] = mapped_column(String(80), unique=True)
    title: Mapped[str] = mapped_column(String(200), default="")
    service_level_seconds: Mapped[int] = mapped_column(Integer, default=20)
    wrapup_seconds: Mapped[int] = mapped_column(Integer, default=0)
    record: Mapped[bool] = mapped_column(Boolean, default=True)
    supervisors: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # {"logins": [...]}
    # Skills an operator needs here, set by an admin; overrides routing.yaml's when not empty.
    skills: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # {"required": [...]}


class OperatorSession(Base):
    """Operator state as last known (survives a restart; reconciled with QueueStatus)."""

    __tablename__ = "operator_sessions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), unique=True)
    state: Mapped[str] = mapped_column(String(20))  # offline | available | paused | wrapup | busy
    reason: Mapped[str] = mapped_column(String(80), default="")
    since: Mapped[datetime] = mapped_column(DateTime(timezone=True))


# --- calls and history ------------------------------------------------------------------------


class Call(Base):
    __tablename__ = "calls"
    __table_args__ = (UniqueConstraint("server", "linkedid"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    server: Mapped[str] = mapped_column(String(40))
    linkedid: Mapped[str] = mapped_column(String(64))
    customer_id: Mapped[int | None] = mapped_column(
        ForeignKey("customers.id", ondelete="SET NULL"), index=True, nullable=True
    )
    direction: Mapped[str] = mapped_column(String(10), default="inbound")
    caller_number: Mapped[str] = mapped_column(String(64), default="")
    caller_number_raw: Mapped[str] = mapped_column(String(128), default="")
    caller_name: Mapped[str] = mapped_column(String(400), default="")
    did: Mapped[str] = mapped_column(String(64), default="")
    queue: Mapped[str] = mapped_column(String(80), default="", index=True)
    operator_interface: Mapped[str] = mapped_column(String(80), default="", index=True)
    operator_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True, index=True
    )
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    answered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    wait_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    talk_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    outcome: Mapped[str] = mapped_column(String(20), default="")
    hangup_cause: Mapped[int | None] = mapped_column(Integer, nullable=True)
    ivr_path: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    disposition: Mapped[str] = mapped_column(String(80), default="")


class CallLeg(Base):
    __tablename__ = "call_legs"
    __table_args__ = (UniqueConstraint("server", "uniqueid"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"), index=True)
    server: Mapped[str] = mapped_column(String(40))
    uniqueid: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20), default="")  # caller | operator | other
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    hangup_cause: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # An operator leg's own part (OperatorLeft): when that operator started talking to the
    # customer, for how long, what brought them (queue | direct | transfer | outbound) and
    # through which queue — a transferred call credits each operator with their own talk.
    answered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    talk_seconds: Mapped[float | None] = mapped_column(Float, nullable=True)
    via: Mapped[str] = mapped_column(String(20), default="")
    queue: Mapped[str] = mapped_column(String(80), default="")


class InteractionEvent(Base):
    """The customer's interaction history: one row per fact, written once (idempotency key)."""

    __tablename__ = "interaction_events"
    __table_args__ = (Index("ix_interaction_customer_at", "customer_id", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    customer_id: Mapped[int | None] = mapped_column(
        ForeignKey("customers.id", ondelete="SET NULL"), nullable=True
    )
    server: Mapped[str] = mapped_column(String(40), default="")
    call_linkedid: Mapped[str] = mapped_column(String(64), default="", index=True)
    kind: Mapped[str] = mapped_column(String(60))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    actor: Mapped[str] = mapped_column(String(120), default="")  # operator login / caller
    summary: Mapped[str] = mapped_column(String(400), default="")
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class Callback(Base):
    __tablename__ = "callbacks"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    customer_id: Mapped[int | None] = mapped_column(
        ForeignKey("customers.id", ondelete="SET NULL"), nullable=True, index=True
    )
    number: Mapped[str] = mapped_column(String(64))
    queue: Mapped[str] = mapped_column(String(80), default="")
    note: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(20), default="pending", index=True)
    requested_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    call_linkedid: Mapped[str] = mapped_column(String(64), default="")  # the requesting call
    # added by callbacks: who asked, who calls back, the attempt under way and what happened
    requested_by: Mapped[str] = mapped_column(String(80), default="")  # ivr | queue | a login
    assigned_login: Mapped[str] = mapped_column(String(80), default="", index=True)
    operator_login: Mapped[str] = mapped_column(String(80), default="")  # of the last attempt
    attempt_linkedid: Mapped[str] = mapped_column(String(64), default="", index=True)
    last_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    last_outcome: Mapped[str] = mapped_column(String(40), default="")
    log: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # {"attempts": [...]}


class AuditLog(Base):
    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    user_login: Mapped[str] = mapped_column(String(80), index=True)
    action: Mapped[str] = mapped_column(String(60))
    target: Mapped[str] = mapped_column(String(200), default="")
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


# --- recordings and QA -------------------------------------------------------------------------


class Recording(Base):
    __tablename__ = "recordings"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    server: Mapped[str] = mapped_column(String(40))
    call_linkedid: Mapped[str] = mapped_column(String(64), index=True)
    customer_id: Mapped[int | None] = mapped_column(
        ForeignKey("customers.id", ondelete="SET NULL"), nullable=True, index=True
    )
    operator_interface: Mapped[str] = mapped_column(String(80), default="", index=True)
    queue: Mapped[str] = mapped_column(String(80), default="", index=True)
    file_name: Mapped[str] = mapped_column(String(200), unique=True)  # as Asterisk named it
    compact_name: Mapped[str] = mapped_column(String(200), default="")
    status: Mapped[str] = mapped_column(String(20), default="recording", index=True)
    failure: Mapped[str] = mapped_column(String(400), default="")
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    stopped_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    duration_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    loudness_dbfs: Mapped[float | None] = mapped_column(Float, nullable=True)
    silence_share: Mapped[float | None] = mapped_column(Float, nullable=True)
    longest_silence_seconds: Mapped[float | None] = mapped_column(Float, nullable=True)
    clipping_share: Mapped[float | None] = mapped_column(Float, nullable=True)
    peaks: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    pauses: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # {"gaps": [[s, e, why]]}
    outcome: Mapped[str] = mapped_column(String(20), default="")


class QaForm(Base):
    __tablename__ = "qa_forms"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    definition: Mapped[dict[str, Any]] = mapped_column(JSON)  # sections, questions, weights
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class QaReview(Base):
    __tablename__ = "qa_reviews"
    __table_args__ = (UniqueConstraint("recording_id", "form_id", "reviewer_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    recording_id: Mapped[int] = mapped_column(
        ForeignKey("recordings.id", ondelete="CASCADE"), index=True
    )
    form_id: Mapped[int] = mapped_column(ForeignKey("qa_forms.id"), index=True)
    reviewer_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    operator_interface: Mapped[str] = mapped_column(String(80), default="", index=True)
    answers: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    comments: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # [{"at": s, "text"}]
    score: Mapped[float] = mapped_column(Float)
    auto_failed: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


# --- tariffication ---------------------------------------------------------------------------


class TariffPlan(Base):
    __tablename__ = "tariff_plans"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    direction: Mapped[str] = mapped_column(String(10), default="outbound")
    currency: Mapped[str] = mapped_column(String(3))
    definition: Mapped[dict[str, Any]] = mapped_column(JSON)  # bands, holidays, rounding
    imported_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class TariffRate(Base):
    __tablename__ = "tariff_rates"
    __table_args__ = (UniqueConstraint("plan_id", "prefix", "band"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("tariff_plans.id", ondelete="CASCADE"))
    prefix: Mapped[str] = mapped_column(String(32))
    band: Mapped[str] = mapped_column(String(40), default="")
    description: Mapped[str] = mapped_column(String(200), default="")
    connection_fee: Mapped[Decimal] = mapped_column(Money, default=Decimal(0))
    per_minute: Mapped[Decimal] = mapped_column(Money)
    first_increment: Mapped[int] = mapped_column(Integer, default=60)
    next_increment: Mapped[int] = mapped_column(Integer, default=60)
    grace_seconds: Mapped[int] = mapped_column(Integer, default=0)
    free_seconds: Mapped[int] = mapped_column(Integer, default=0)
    minimum_charge: Mapped[Decimal] = mapped_column(Money, default=Decimal(0))


class Charge(Base):
    __tablename__ = "charges"
    __table_args__ = (UniqueConstraint("server", "call_linkedid"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    server: Mapped[str] = mapped_column(String(40))
    call_linkedid: Mapped[str] = mapped_column(String(64))
    customer_id: Mapped[int | None] = mapped_column(
        ForeignKey("customers.id", ondelete="SET NULL"), nullable=True, index=True
    )
    plan: Mapped[str] = mapped_column(String(80))
    prefix: Mapped[str] = mapped_column(String(32), default="")
    number: Mapped[str] = mapped_column(String(64), default="")
    billed_seconds: Mapped[int] = mapped_column(Integer)
    amount: Mapped[Decimal] = mapped_column(Money)
    currency: Mapped[str] = mapped_column(String(3))
    breakdown: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    rated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    call_started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


# --- integration ---------------------------------------------------------------------------


class Webhook(Base):
    __tablename__ = "webhooks"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    url: Mapped[str] = mapped_column(String(400))
    event_types: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # {"kinds": [...]}
    secret: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # added by integrations: a label for admins and when the subscription was made
    description: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class WebhookDelivery(Base):
    __tablename__ = "webhook_deliveries"
    __table_args__ = (UniqueConstraint("webhook_id", "event_key"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    webhook_id: Mapped[int] = mapped_column(ForeignKey("webhooks.id", ondelete="CASCADE"))
    event_key: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(20), default="pending", index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str] = mapped_column(String(400), default="")
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    # added by integrations: what was sent, when, and the receiver's last answer
    event_kind: Mapped[str] = mapped_column(String(60), default="")
    created_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    last_status: Mapped[int] = mapped_column(Integer, default=0)


class SyncOffset(Base):
    """High-water marks for durable files read after an AMI gap (Master.csv, queue_log)."""

    __tablename__ = "sync_offsets"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    offset: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


# --- administration: API tokens, editable lists -------------------------------------------------


class ApiToken(Base):
    """A machine client's bearer token: only its SHA-256 is kept (the token has 256 random
    bits, so a fast hash is enough and the lookup is one indexed read)."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(80))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16), default="")  # shown to tell tokens apart
    scopes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # {"scopes": [...]}
    created_by: Mapped[str] = mapped_column(String(80), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class AdminChoice(Base):
    """The lists people pick from (pause reasons, dispositions), editable by an admin."""

    __tablename__ = "admin_choices"
    __table_args__ = (UniqueConstraint("kind", "name"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))  # pause_reason | disposition
    name: Mapped[str] = mapped_column(String(80))
    position: Mapped[int] = mapped_column(Integer, default=0)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


# --- outbound campaigns (contact_center/campaigns) ------------------------------------------


class Campaign(Base):
    """An outbound campaign: whom to call (its contacts), how (mode, pacing), when."""

    __tablename__ = "campaigns"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    status: Mapped[str] = mapped_column(String(20), default="paused", index=True)
    mode: Mapped[str] = mapped_column(String(20), default="progressive")
    script: Mapped[str] = mapped_column(Text, default="")  # what the operator reads
    queues: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # {"names": [...]}
    operators: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # {"logins": [...]}
    window_start: Mapped[str] = mapped_column(String(5), default="09:00")  # customer's time
    window_end: Mapped[str] = mapped_column(String(5), default="20:00")
    window_days: Mapped[str] = mapped_column(String(7), default="12345")  # ISO weekdays
    default_tz: Mapped[str] = mapped_column(String(64), default="")
    max_attempts: Mapped[int] = mapped_column(Integer, default=3)
    retry_no_answer_minutes: Mapped[int] = mapped_column(Integer, default=60)
    retry_busy_minutes: Mapped[int] = mapped_column(Integer, default=15)
    retry_machine_minutes: Mapped[int] = mapped_column(Integer, default=240)
    abandon_cap: Mapped[float] = mapped_column(Float, default=0.03)
    dial_timeout: Mapped[int] = mapped_column(Integer, default=25)  # seconds of ringing
    ends_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    source: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # search or CSV
    finished_reason: Mapped[str] = mapped_column(String(80), default="")
    live: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # the dialer's floor
    created_by: Mapped[str] = mapped_column(String(80), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class CampaignContact(Base):
    """One number of a campaign's list and where it stands."""

    __tablename__ = "campaign_contacts"
    __table_args__ = (
        UniqueConstraint("campaign_id", "number"),
        Index("ix_campaign_contacts_due", "campaign_id", "status", "next_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    customer_id: Mapped[int | None] = mapped_column(
        ForeignKey("customers.id", ondelete="SET NULL"), nullable=True
    )
    name: Mapped[str] = mapped_column(String(200), default="")
    number: Mapped[str] = mapped_column(String(32))  # E.164
    tz: Mapped[str] = mapped_column(String(64), default="")  # explicit, else from the number
    status: Mapped[str] = mapped_column(String(20), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    last_outcome: Mapped[str] = mapped_column(String(40), default="")
    disposition: Mapped[str] = mapped_column(String(60), default="")
    operator_login: Mapped[str] = mapped_column(String(80), default="")
    attempt_linkedid: Mapped[str] = mapped_column(String(64), default="", index=True)
    last_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class CampaignAttempt(Base):
    """One dial of a campaign and how it ended (the figures and reports count these)."""

    __tablename__ = "campaign_attempts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(
        ForeignKey("campaigns.id", ondelete="CASCADE"), index=True
    )
    contact_id: Mapped[int] = mapped_column(ForeignKey("campaign_contacts.id", ondelete="CASCADE"))
    call_linkedid: Mapped[str] = mapped_column(String(64), default="", index=True)
    operator_login: Mapped[str] = mapped_column(String(80), default="")
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    outcome: Mapped[str] = mapped_column(String(40), default="")  # "" while under way
    talk_seconds: Mapped[float] = mapped_column(Float, default=0.0)


class DoNotCall(Base):
    """Numbers never dialled by a campaign, checked at dial time."""

    __tablename__ = "do_not_call"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    number: Mapped[str] = mapped_column(String(32), unique=True)  # E.164
    reason: Mapped[str] = mapped_column(String(200), default="")
    added_by: Mapped[str] = mapped_column(String(80), default="")
    added_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Wrapup(Base):
    """An operator's after-call work on one call, kept until saved: a draft (``saved_at``
    NULL) survives a reload and a restart; saving sets the call's disposition."""

    __tablename__ = "wrapups"
    __table_args__ = (UniqueConstraint("server", "linkedid", "login"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    server: Mapped[str] = mapped_column(String(40))
    linkedid: Mapped[str] = mapped_column(String(64))
    login: Mapped[str] = mapped_column(String(80), index=True)
    customer_id: Mapped[int | None] = mapped_column(
        ForeignKey("customers.id", ondelete="SET NULL"), nullable=True
    )
    disposition: Mapped[str] = mapped_column(String(80), default="")
    notes: Mapped[str] = mapped_column(Text, default="")
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    saved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
