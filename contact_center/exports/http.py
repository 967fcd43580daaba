"""Export endpoints (supervisors and admins).

* ``GET /exports`` — a page linking every export (with the history export of
  ``contact_center.history``).
* ``GET /api/exports/customers.csv|.json|.xlsx?segment=``
* ``GET /api/exports/charges.csv|.json|.xlsx?group_by=&since=&until=&timezone=``
  — the charges report of ``contact_center.billing.reports`` (group_by customer, operator,
  queue or day); ``since``/``until`` are ISO dates or times (default: the last 30 days),
  grouped days cut in ``timezone``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp_jinja2
from aiohttp import web
from markupsafe import Markup

from contact_center.billing.reports import GROUPS, ChargesReport, charges_report
from contact_center.exports.customers import CUSTOMER_COLUMNS, count_customers, customer_rows
from contact_center.exports.schemas import ChargesQuery, CustomersExportQuery
from contact_center.exports.streaming import stream_csv, stream_json, stream_xlsx
from contact_center.i18n import LazyTexts, lazy_gettext
from contact_center.i18n import gettext as _
from contact_center.web.auth import Role, require_role
from contact_center.web.forms import documented, read_query
from contact_center.web.keys import SESSIONS_KEY, SETTINGS_KEY, add_template_dir

HERE = Path(__file__).parent
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
FORMAT = {"$ref": "#/components/parameters/Format"}
CHARGE_COLUMNS = ("group", "key", "label", "currency", "calls", "billed_seconds", "amount")
# What each grouping of the charges report is called on the page.
GROUP_LABELS: LazyTexts[str] = LazyTexts(
    {
        "customer": lazy_gettext("by customer"),
        "operator": lazy_gettext("by operator"),
        "queue": lazy_gettext("by queue"),
        "day": lazy_gettext("by day"),
    }
)


@require_role(Role.SUPERVISOR)
@aiohttp_jinja2.template("exports.html")
async def exports_page(request: web.Request) -> dict[str, Any]:
    return {
        "title": _("Exports"),
        "groups": [(group, GROUP_LABELS.get(group, group)) for group in GROUPS],
        "header_code": Markup("<code>X-Total-Rows</code>"),
        "quote_code": Markup("<code>'</code>"),
    }


def _format(request: web.Request) -> str:
    return request.match_info["fmt"]


@documented(
    "GET",
    "/api/exports/customers.{fmt}",
    operation_id="customersExport",
    tag="exports",
    summary="Every customer as CSV, a JSON array or an XLSX workbook, streamed (supervisor)",
    parameters=(FORMAT,),
    query=CustomersExportQuery,
    extra_responses={
        200: {
            "description": "The customers.",
            "headers": {"X-Total-Rows": {"$ref": "#/components/headers/TotalRows"}},
            "content": {
                "text/csv": {"schema": {"type": "string"}},
                "application/json": {"schema": {"type": "array", "items": {"type": "object"}}},
                XLSX: {"schema": {"type": "string", "contentEncoding": "binary"}},
            },
        }
    },
    errors=(404,),
)
@require_role(Role.SUPERVISOR)
async def customers_export(request: web.Request) -> web.StreamResponse:
    sessions = request.app[SESSIONS_KEY]
    segment = read_query(request, CustomersExportQuery).segment or None
    total = await count_customers(sessions, segment=segment)
    rows = customer_rows(sessions, segment=segment)
    if _format(request) == "json":
        return await stream_json(request, filename="customers.json", rows=rows, total=total)
    if _format(request) == "xlsx":
        return await stream_xlsx(
            request, filename="customers.xlsx", columns=CUSTOMER_COLUMNS, rows=rows, total=total
        )
    return await stream_csv(
        request, filename="customers.csv", columns=CUSTOMER_COLUMNS, rows=rows, total=total
    )


async def _report_rows(report: ChargesReport) -> AsyncIterator[dict[str, Any]]:
    for row in report.rows:
        yield {"group": report.group_by, "key": row.key, "label": row.label,
               "currency": row.currency, "calls": row.calls,
               "billed_seconds": row.billed_seconds, "amount": str(row.amount)}  # fmt: skip


@documented(
    "GET",
    "/api/exports/charges.{fmt}",
    operation_id="chargesExport",
    tag="exports",
    summary="The charges report grouped by customer, operator, queue or day (supervisor)",
    parameters=(FORMAT,),
    query=ChargesQuery,
    extra_responses={
        200: {
            "description": "The report rows.",
            "headers": {"X-Total-Rows": {"$ref": "#/components/headers/TotalRows"}},
            "content": {
                "text/csv": {"schema": {"type": "string"}},
                "application/json": {
                    "schema": {"type": "array", "items": {"$ref": "#/components/schemas/ChargeRow"}}
                },
                XLSX: {"schema": {"type": "string", "contentEncoding": "binary"}},
            },
        }
    },
    errors=(404,),
)
@require_role(Role.SUPERVISOR)
async def charges_export(request: web.Request) -> web.StreamResponse:
    query = read_query(request, ChargesQuery, timezone=request.app[SETTINGS_KEY].general.timezone)
    since, until = query.period(datetime.now(UTC))
    report = await charges_report(
        request.app[SESSIONS_KEY],
        group_by=query.grouping(),
        since=since,
        until=until,
        timezone=query.timezone,
    )
    rows, total = _report_rows(report), len(report.rows)
    if _format(request) == "json":
        return await stream_json(request, filename="charges.json", rows=rows, total=total)
    if _format(request) == "xlsx":
        return await stream_xlsx(
            request, filename="charges.xlsx", columns=CHARGE_COLUMNS, rows=rows, total=total
        )
    return await stream_csv(
        request, filename="charges.csv", columns=CHARGE_COLUMNS, rows=rows, total=total
    )


def setup(app: web.Application) -> None:
    add_template_dir(app, HERE / "templates")
    app.router.add_get("/exports", exports_page, name="exports")
    app.router.add_get(r"/api/exports/customers.{fmt:csv|json|xlsx}", customers_export)
    app.router.add_get(r"/api/exports/charges.{fmt:csv|json|xlsx}", charges_export)
