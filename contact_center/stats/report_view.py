"""How report rows read on the page: intervals in the call center's time zone as people
write them, durations as m:ss (as on the wallboard), operators by name.

The CSV and JSON keep the raw figures (ISO times, seconds); only the page is formatted.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from babel.dates import format_date

from contact_center.i18n import current_locale
from contact_center.stats.reports import INTERVALS


def mmss(seconds: float | None) -> str:
    """12.4 → "0:12", 146.9 → "2:27", 3725 → "1:02:05"; None → "—"."""
    if seconds is None:
        return "—"
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def percent(value: float | None) -> str:
    return "—" if value is None else f"{value:.0f} %"


def interval_label(start_iso: str, interval: str) -> str:
    """ "6 Dec 2026, 21:00–22:00" for an hour, "6 Dec 2026" for a day."""
    start = datetime.fromisoformat(start_iso)
    # the month's name in the reader's language (babel), the numbers as everywhere
    day = format_date(start, "d MMM y", locale=current_locale())
    if interval == "day":
        return day
    end = start + INTERVALS.get(interval, timedelta(hours=1))
    return f"{day}, {start:%H:%M}–{end:%H:%M}"


@dataclass(frozen=True, slots=True)
class ReportLine:
    interval: str
    queue: str
    operator: str  # the person's name ("" in queue reports)
    operator_detail: str  # the interface, shown small beside the name
    offered: int
    answered: int
    answered_in_sl: int
    abandoned: int
    short_abandoned: int
    left: int
    service_level: str
    abandon_rate: str
    asa: str
    aht: str
    talk: str = "—"  # the talk of the row (an operator's own part of transferred calls)


def report_lines(
    rows: Sequence[Mapping[str, Any]], interval: str, names: Mapping[str, str]
) -> list[ReportLine]:
    lines = []
    for row in rows:
        interface = str(row.get("operator") or "")
        name = names.get(interface, "")
        lines.append(
            ReportLine(
                interval=interval_label(str(row["interval_start"]), interval),
                queue=str(row["queue"]),
                operator=name or interface,
                operator_detail=interface if name else "",
                offered=int(row["offered"]),
                answered=int(row["answered"]),
                answered_in_sl=int(row["answered_in_sl"]),
                abandoned=int(row["abandoned"]),
                short_abandoned=int(row["short_abandoned"]),
                left=int(row["left"]),
                service_level=percent(row["service_level_pct"]),
                abandon_rate=percent(row["abandon_rate_pct"]),
                asa=mmss(row["asa_seconds"]),
                aht=mmss(row["aht_seconds"]),
                talk=mmss(row.get("talk_seconds")),
            )
        )
    return lines
