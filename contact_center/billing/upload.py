"""Tariff files uploaded through the admin page or API, checked exactly as
``contact-center tariffs import`` checks them (``file:line: reason``, every file before any is
saved: all or nothing)."""

from __future__ import annotations

import re
import tempfile
from collections.abc import Sequence
from pathlib import Path

from contact_center.billing.errors import TariffError
from contact_center.billing.tariffs import TariffPlan, load_plans

FILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}\.(ya?ml|csv)$", re.IGNORECASE)
MAX_BYTES = 2 * 1024 * 1024


def plans_from_upload(name: str, data: bytes) -> list[TariffPlan]:
    """The plans of one uploaded file; errors name the uploaded file and its line."""
    shown = Path(name.replace("\\", "/")).name
    if not FILE_NAME.fullmatch(shown):
        raise TariffError(
            shown or "(no name)",
            None,
            "expected a .yaml, .yml or .csv file name (letters, digits, . _ -)",
        )
    if len(data) > MAX_BYTES:
        raise TariffError(shown, None, f"larger than {MAX_BYTES // 1024 // 1024} MiB")
    with tempfile.TemporaryDirectory(prefix="cc-tariffs-") as folder:
        path = Path(folder) / shown
        path.write_bytes(data)
        try:
            return load_plans(path)
        except TariffError as exc:
            reason = exc.reason.replace(f"{folder}/", "")
            raise TariffError(shown, exc.line, reason) from None


def check_uploads(files: Sequence[tuple[str, bytes]]) -> tuple[list[TariffPlan], list[TariffError]]:
    """Every file checked (so one upload names every mistake): the plans and the errors."""
    plans: list[TariffPlan] = []
    errors: list[TariffError] = []
    for name, data in files:
        try:
            plans.extend(plans_from_upload(name, data))
        except TariffError as exc:
            errors.append(exc)
    return plans, errors
