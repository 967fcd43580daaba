"""What a CRM says about a caller, in our terms, and how its answer maps onto them."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

# Card fields a CRM answer may fill (the target side of a field mapping).
CONTACT_FIELDS = (
    "external_id",
    "name",
    "company",
    "email",
    "account_number",
    "segment",
    "language",
    "address",
    "notes",
    "link",
)
MAX_TEXT = 400  # a CRM is another system: its values are clipped like any outside input


class CrmError(Exception):
    """The CRM could not answer (down, slow, refused us, answered nonsense)."""


class FieldMappingError(ValueError):
    """A field mapping that cannot work; the message says which part and why."""


@dataclass(frozen=True, slots=True)
class CrmContact:
    """One contact as the CRM knows it."""

    external_id: str
    name: str
    company: str = ""
    email: str = ""
    account_number: str = ""
    segment: str = ""
    language: str = ""
    address: str = ""
    notes: str = ""
    link: str = ""  # the contact's page in the CRM
    extra: dict[str, str] = field(default_factory=dict, hash=False)  # custom.NAME fields

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {name: getattr(self, name) for name in CONTACT_FIELDS}
        out["extra"] = dict(self.extra)
        return out


@dataclass(frozen=True, slots=True)
class CrmResult:
    """The CRM's part of a pop: ``status`` ok | unavailable | off, its contacts, and why
    it is unavailable (for the log and the card's tooltip)."""

    status: str
    contacts: tuple[CrmContact, ...] = ()
    reason: str = ""
    # Past the budget, the request still running (its answer may come before the ring).
    late: asyncio.Future[tuple[CrmContact, ...]] | None = field(
        default=None, compare=False, repr=False
    )

    @property
    def unavailable(self) -> bool:
        return self.status == "unavailable"

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "reason": self.reason,
            "contacts": [c.to_dict() for c in self.contacts],
        }


CRM_OFF = CrmResult("off")


def parse_field_mapping(text: str) -> dict[str, str]:
    """``"name=full_name, company=org.name, custom.tier=level"`` → {target: dotted path}."""
    mapping: dict[str, str] = {}
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        target, sep, path = (part.strip() for part in item.partition("="))
        if not sep or not target or not path:
            raise FieldMappingError(f"{item!r}: expected FIELD=PATH")
        if target not in CONTACT_FIELDS and not (
            target.startswith("custom.") and len(target) > len("custom.")
        ):
            known = ", ".join([*CONTACT_FIELDS, "custom.NAME"])
            raise FieldMappingError(f"{item!r}: unknown field {target!r} (use {known})")
        mapping[target] = path
    return mapping


def dig(data: Any, path: str) -> Any:
    """The value at a dotted ``path`` (``org.name``, ``phones.0``), or None."""
    for part in path.split(".") if path else ():
        if isinstance(data, Mapping):
            data = data.get(part)
        elif isinstance(data, list) and part.isdigit() and int(part) < len(data):
            data = data[int(part)]
        else:
            return None
    return data


def _text(value: Any) -> str:
    if value is None or value is False or isinstance(value, dict | list):
        return ""  # Odoo says False for "empty"; nested objects need a deeper path
    return str(value).strip()[:MAX_TEXT]


def contact_from(
    record: Mapping[str, Any], mapping: Mapping[str, str], link: str = ""
) -> CrmContact:
    """A contact from one record of the CRM's answer, through ``mapping`` (target → path).
    ``link``: a template with ``{id}`` (the external id) for the contact's page."""
    values = {target: _text(dig(record, path)) for target, path in mapping.items()}
    external_id = values.get("external_id", "")
    if link and external_id and not values.get("link"):
        values["link"] = link.replace("{id}", quote(external_id, safe=""))
    if not values.get("link", "").startswith(("https://", "http://")):
        values.pop("link", None)  # a javascript: link from another system is not a link
    extra = {k.removeprefix("custom."): v for k, v in values.items() if k.startswith("custom.")}
    known = {k: v for k, v in values.items() if k in CONTACT_FIELDS and k != "external_id"}
    return CrmContact(external_id=external_id, **known, extra=extra)  # type: ignore[arg-type]
