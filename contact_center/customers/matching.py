"""How the rows of a customer import find the stored customers they update.

By identity — the external id, else the account number — and, only when asked, by a phone
number the customer already has. Conflicts (another customer's account, a number several
customers share when merging by phone) refuse the row, never the chunk. One indexed query
per chunk and column, with the chunk's values as ONE bound parameter (``select_in``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import Table, text
from sqlalchemy.ext.asyncio import AsyncConnection

from contact_center.customers.rows import ACCOUNT, FIELD_NAMES, ParsedChunk
from contact_center.store.models import Customer, CustomerPhone

# SQLite (≥ 3.32) and asyncpg allow 32766 bound parameters per statement.
IN_BATCH = 5_000
_CUSTOMERS = cast(Table, Customer.__table__)
_PHONES = cast(Table, CustomerPhone.__table__)


@dataclass(slots=True)
class ImportPlan:
    """How the rows of one import find the customers they update.

    ``identity``: the column that says who a customer is (external_id, account_number) or
    "" when the file has none (then only ``merge_by_phone`` matches anyone). On a dry run,
    it remembers the customers it would have inserted, by placeholder ids below zero.
    """

    identity: str
    merge_by_phone: bool
    dry_run: bool
    _next_placeholder: int = -1
    _keys: dict[str, int] = field(default_factory=dict)
    _accounts: dict[str, int] = field(default_factory=dict)
    _phones: dict[str, list[int]] = field(default_factory=dict)

    async def attach(
        self, conn: AsyncConnection, parsed: ParsedChunk
    ) -> tuple[list[int | None], dict[int, str], set[tuple[int, str]]]:
        """Per customer of the chunk: the stored customer it updates, or None (a new one).
        Also the customers refused (index → reason), and the stored (customer_id, e164)
        pairs among the chunk's phones."""
        stored: set[tuple[int, str]] = set()
        owners_of_phone: dict[str, list[int]] = {}
        for batch in batches(sorted(set(parsed.phone_e164))):
            result = await select_in(conn, _PHONES, ("e164", "customer_id"), "e164", batch)
            for e164, customer_id in result:
                owners_of_phone.setdefault(e164, []).append(customer_id)
                stored.add((customer_id, e164))
        owner_of_key = await _stored_owners(conn, parsed, self.identity)
        owner_of_account = (
            owner_of_key
            if self.identity == "account_number"
            else await _stored_owners(conn, parsed, "account_number")
        )
        if self.dry_run:
            for e164 in set(parsed.phone_e164) & self._phones.keys():
                owners_of_phone.setdefault(e164, []).extend(self._phones[e164])
            if self.identity == "external_id":
                owner_of_key.update(self._keys)
            owner_of_account.update(self._accounts)
        owners, conflicts = self._resolve(parsed, owner_of_key, owner_of_account, owners_of_phone)
        return owners, conflicts, stored

    def _resolve(
        self,
        parsed: ParsedChunk,
        owner_of_key: dict[str, int],
        owner_of_account: dict[str, int],
        owners_of_phone: dict[str, list[int]],
    ) -> tuple[list[int | None], dict[int, str]]:
        key_at = FIELD_NAMES.index(self.identity) if self.identity else -1
        owners: list[int | None] = [None] * len(parsed.rows)
        conflicts: dict[int, str] = {}
        if key_at >= 0 and owner_of_key:
            for index, fields in enumerate(parsed.fields):
                owners[index] = owner_of_key.get(fields[key_at])
        if self.merge_by_phone and owners_of_phone:
            self._attach_by_phone(parsed, owners_of_phone, owners, conflicts, key_at)
        if owner_of_account:
            for index, fields in enumerate(parsed.fields):
                account_owner = owner_of_account.get(fields[ACCOUNT])
                if account_owner is None or index in conflicts:
                    continue
                if owners[index] is None and self.identity != "external_id":
                    owners[index] = account_owner
                elif owners[index] != account_owner:
                    # The account is unique: this customer cannot take another's.
                    what = "" if self.identity == "external_id" else " than the phone"
                    conflicts[index] = (
                        f"account_number {fields[ACCOUNT]!r} belongs to another customer{what}"
                    )
        return owners, conflicts

    def _attach_by_phone(
        self,
        parsed: ParsedChunk,
        owners_of_phone: dict[str, list[int]],
        owners: list[int | None],
        conflicts: dict[int, str],
        key_at: int,
    ) -> None:
        # A customer's phones are adjacent and in file order: its first stored one decides.
        decided: set[int] = set()
        for index, e164 in zip(parsed.phone_owner, parsed.phone_e164, strict=True):
            ids = owners_of_phone.get(e164)
            if not ids or index in decided:
                continue
            decided.add(index)
            if len(set(ids)) > 1:
                conflicts[index] = (
                    f"phone {e164} belongs to {len(set(ids))} customers: "
                    "merging by phone cannot tell which one"
                )
                continue
            key_owner = owners[index]
            if key_owner is None:
                owners[index] = ids[0]
            elif key_owner != ids[0]:
                key = parsed.fields[index][key_at]
                conflicts[index] = (
                    f"{self.identity} {key!r} belongs to another customer than the phone"
                )

    def remember(
        self,
        parsed: ParsedChunk,
        new: list[int],
        owners: list[int | None],
        conflicts: dict[int, str],
        stored: set[tuple[int, str]],
    ) -> int:
        """On a dry run: give the new customers placeholder ids, as if inserted, so later
        chunks find them; the number of phones that would have been added."""
        for index in new:
            owners[index] = self._next_placeholder
            self._next_placeholder -= 1
        key_at = FIELD_NAMES.index(self.identity) if self.identity else -1
        for index, customer_id in enumerate(owners):
            if customer_id is None or index in conflicts:
                continue
            fields = parsed.fields[index]
            if key_at >= 0 and fields[key_at]:
                self._keys.setdefault(fields[key_at], customer_id)
            if fields[ACCOUNT]:
                self._accounts.setdefault(fields[ACCOUNT], customer_id)
        added = 0
        for index, e164 in zip(parsed.phone_owner, parsed.phone_e164, strict=True):
            customer_id = owners[index]
            if customer_id is None or index in conflicts or (customer_id, e164) in stored:
                continue
            ids = self._phones.setdefault(e164, [])
            if customer_id not in ids:
                ids.append(customer_id)
                added += 1
        return added


async def _stored_owners(conn: AsyncConnection, parsed: ParsedChunk, column: str) -> dict[str, int]:
    """The stored customers' ids by ``column`` (external_id, account_number) among the
    chunk's values of it."""
    if not column:
        return {}
    at = FIELD_NAMES.index(column)
    values = sorted({fields[at] for fields in parsed.fields} - {""})
    found: dict[str, int] = {}
    for batch in batches(values):
        result = await select_in(conn, _CUSTOMERS, (column, "id"), column, batch)
        found.update({value: i for value, i in result if value is not None})
    return found


async def select_in(
    conn: AsyncConnection, table: Table, columns: Sequence[str], key: str, values: Sequence[str]
) -> Any:
    """``SELECT columns FROM table WHERE key IN values`` with the list as ONE parameter.

    An IN list of thousands of placeholders costs more to render than to run; a JSON array
    (SQLite's json_each) or an array (PostgreSQL's ANY) is one bound value. Both use the
    index on ``key``.
    """
    selected = ", ".join(columns)
    if conn.dialect.name == "postgresql":
        sql = f"SELECT {selected} FROM {table.name} WHERE {key} = ANY(:values) ORDER BY 2"
        return await conn.execute(text(sql), {"values": list(values)})
    sql = (
        f"SELECT {selected} FROM {table.name} "
        f"WHERE {key} IN (SELECT value FROM json_each(:values)) ORDER BY 2"
    )
    return await conn.execute(text(sql), {"values": json.dumps(list(values))})


def batches(items: Sequence[Any], size: int = IN_BATCH) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
