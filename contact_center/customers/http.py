"""``/customers``: find a customer by name, phone number or account number.

Operators, supervisors and QA search; each result shows the customer as the screen pop
does (name first, VIP, company, numbers, account), links to the customer's history and,
for operators, offers click-to-call on each number (the operator's phone rings first).

* ``GET /customers?q=`` — the page
* ``GET /api/customers?q=&limit=`` — the same results as JSON

The REST API for other systems (a CRM, billing) keeps customers and the IVR's data in step,
by our id or by the customer's external id (never by a phone number, see ``services.py``):

* ``GET|PATCH|DELETE /api/customers/{id}`` — read (with orders and payments), change, remove
* ``PUT /api/customers/by-external-id/{external_id}`` — create or update
* ``PUT /api/customers/{id}/pin`` — set (stored hashed) or clear the IVR PIN
* ``POST /api/customers/{id}/payments`` — record a payment
* ``PUT /api/orders/{number}`` — create or update an order
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TypeVar

import aiohttp_jinja2
from aiohttp import web
from pydantic import BaseModel
from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from contact_center.customers import services
from contact_center.customers.phones import normalize_number, phone_suffix
from contact_center.customers.schemas import (
    CustomerInput,
    CustomerRecord,
    FoundCustomers,
    OrderInput,
    OrderRecord,
    PageQuery,
    PaymentCreated,
    PaymentInput,
    PinInput,
    SearchQuery,
)
from contact_center.history.access import customer_visible, load_principal
from contact_center.i18n import gettext as _
from contact_center.store.models import Customer, CustomerPhone
from contact_center.web.auth import Role, current_user, require_role
from contact_center.web.forms import REF, documented, read_query
from contact_center.web.keys import SESSIONS_KEY, SETTINGS_KEY, add_template_dir

SEARCHERS = (Role.OPERATOR, Role.SUPERVISOR, Role.QA)
WRITERS = (Role.SUPERVISOR,)  # and admins, who pass every check
MAX_BODY = 256 * 1024
MAX_QUERY = 100
DEFAULT_LIMIT = 25
MAX_LIMIT = 100
MIN_SUFFIX_DIGITS = 4  # "the last digits" searches need at least this many
M = TypeVar("M", bound=BaseModel)
CUSTOMER_ID = {"$ref": "#/components/parameters/CustomerId"}
EXTERNAL_ID = {
    "name": "external_id",
    "in": "path",
    "required": True,
    "description": "The customer's id in the company's own system (1 to 80 characters).",
    "schema": {"type": "string", "minLength": 1, "maxLength": 80},
}
ORDER_NUMBER = {
    "name": "number",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "minLength": 1, "maxLength": services.MAX_ORDER_NUMBER},
}


@dataclass(frozen=True, slots=True)
class Found:
    id: int
    name: str
    company: str
    vip: bool
    account_number: str
    phones: list[dict[str, str]]


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def search_customers(
    db: AsyncSession, query: str, *, region: str = "RU", limit: int = DEFAULT_LIMIT
) -> list[Found]:
    """Customers whose name or company contains ``query``, whose account number is
    ``query``, or who have the phone number ``query`` (any written form, or its last digits).
    Exact matches (number, account) come first, then by name."""
    text = query.strip()[:MAX_QUERY]
    if not text:
        return []
    conditions: list[Any] = []
    number = normalize_number(text, region=region, with_display=False)
    digits = number.digits
    phone_ids = select(CustomerPhone.customer_id)
    if number.e164:
        conditions.append(Customer.id.in_(phone_ids.where(CustomerPhone.e164 == number.e164)))
    if digits and len(digits) >= MIN_SUFFIX_DIGITS and len(digits) == len(text.lstrip("+")):
        # only digits typed: also the numbers that end with them
        low = phone_suffix("+" + digits)
        high = low[:-1] + chr(ord(low[-1]) + 1)
        conditions.append(
            Customer.id.in_(
                phone_ids.where(CustomerPhone.suffix >= low, CustomerPhone.suffix < high)
            )
        )
    conditions.append(Customer.account_number == text)
    conditions.append(Customer.external_id == text)
    # SQLite's lower() and LIKE fold ASCII only, and PostgreSQL's depend on the collation:
    # match the typed text, its lower case and its capitalised form (Петров, петров…), and
    # let lower() fold what it can.
    for variant in dict.fromkeys((text, text.lower(), text.capitalize(), text.title())):
        pattern = f"%{_escape_like(variant)}%"
        conditions.append(Customer.name.like(pattern, escape="\\"))
        conditions.append(Customer.company.like(pattern, escape="\\"))
    folded = f"%{_escape_like(text.lower())}%"
    conditions.append(func.lower(Customer.name).like(folded, escape="\\"))
    rows = (
        await db.scalars(
            select(Customer)
            .where(or_(*conditions))
            .order_by(func.lower(Customer.name), Customer.id)
            .limit(limit)
        )
    ).all()
    found = [
        Found(
            id=c.id,
            name=c.name,
            company=c.company,
            vip=c.segment.upper() == "VIP",
            account_number=c.account_number or "",
            phones=[{"number": p.e164, "label": p.label} for p in c.phones],
        )
        for c in rows
    ]
    exact = {c.id for c in rows if text in (c.account_number, c.external_id)} | {
        c.id for c in rows if number.e164 and any(p.e164 == number.e164 for p in c.phones)
    }
    found.sort(key=lambda f: f.id not in exact)  # stable: name order otherwise
    return found


async def _search(request: web.Request, limit: int | None = None) -> tuple[str, list[Found]]:
    """The page's search (``limit`` given) or the API's (``limit`` from the query)."""
    if limit is None:
        asked = read_query(request, SearchQuery)
        query, limit = asked.q, asked.limit
    else:
        query = read_query(request, PageQuery).q
    region = request.app[SETTINGS_KEY].general.default_region
    async with request.app[SESSIONS_KEY]() as db:
        return query, await search_customers(db, query, region=region, limit=limit)


@require_role(*SEARCHERS)
@aiohttp_jinja2.template("customers.html")
async def customers_page(request: web.Request) -> dict[str, Any]:
    query, found = await _search(request, DEFAULT_LIMIT)
    user = current_user(request)
    return {
        "title": _("Customers"),
        "q": query,
        "found": found,
        "can_call": user.role in (Role.OPERATOR, Role.SUPERVISOR) and bool(user.interface),
        "limit": DEFAULT_LIMIT,
    }


@documented(
    "GET",
    "/api/customers",
    operation_id="searchCustomers",
    tag="customers",
    summary="Customers by name or company (any case), phone number (any written form, or its "
    "last digits) or account number; exact matches first (operator, supervisor, qa)",
    query=SearchQuery,
    answer=FoundCustomers,
    answer_description="The customers found.",
)
@require_role(*SEARCHERS)
async def customers_api(request: web.Request) -> web.Response:
    _, found = await _search(request)
    return web.json_response({"items": [asdict(f) for f in found]})


# --- the REST API ---------------------------------------------------------------------------


async def _body(request: web.Request, model: type[M]) -> M:
    """The JSON body (at most 256 KiB: else 413) checked into ``model``, or 400 with the first
    refusal (the numbers read in the call center's region)."""
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise web.HTTPRequestEntityTooLarge(max_size=MAX_BODY, actual_size=request.content_length)
    raw = await request.read()
    if len(raw) > MAX_BODY:
        raise web.HTTPRequestEntityTooLarge(max_size=MAX_BODY, actual_size=len(raw))
    try:
        data = json.loads(raw or b"{}")
    except (ValueError, UnicodeDecodeError):
        raise web.HTTPBadRequest(text=_("expected a JSON body")) from None
    try:
        return services.checked(model, data, **_region(request))
    except services.CustomerError as exc:
        raise _refused(exc) from None


def _created(model: type[BaseModel]) -> dict[str, Any]:
    return {
        "description": "Created.",
        "content": {"application/json": {"schema": {"$ref": REF.format(model=model.__name__)}}},
    }


def _path_id(request: web.Request, name: str = "customer_id") -> int:
    raw = request.match_info[name]
    if not raw.isascii() or not raw.isdigit() or not 0 < int(raw) <= services.MAX_ID:
        raise web.HTTPNotFound(text=_("no customer %(id)s", id=raw[:40]))
    return int(raw)


def _refused(exc: services.CustomerError) -> web.HTTPException:
    kinds: dict[int, type[web.HTTPException]] = {
        404: web.HTTPNotFound,
        409: web.HTTPConflict,
    }
    return kinds.get(exc.status, web.HTTPBadRequest)(text=str(exc))


def _region(request: web.Request) -> dict[str, str]:
    general = request.app[SETTINGS_KEY].general
    return {"region": general.default_region, "area_code": general.default_area_code}


async def _customer_answer(db: AsyncSession, customer: Customer, status: int = 200) -> web.Response:
    body = services.customer_to_dict(customer)
    body.update(await services.ivr_data(db, customer.id))
    return web.json_response(body, status=status)


async def _scoped_id(request: web.Request) -> int:
    """The customer of the URL if the user may see them: an admin any; others a customer of
    a call in their scope (an operator: their own calls; supervisors and QA: their queues).
    404 otherwise, before the request body is even read (no existence leak)."""
    customer_id = _path_id(request)
    user = current_user(request)
    if user.role == Role.ADMIN:
        return customer_id
    async with request.app[SESSIONS_KEY]() as db:
        principal = await load_principal(
            db, user_id=user.id, login=user.login, role=user.role, interface=user.interface
        )
        if not await customer_visible(db, principal, customer_id):
            raise web.HTTPNotFound(text=_("no such customer"))
    return customer_id


@documented(
    "GET",
    "/api/customers/{customer_id}",
    operation_id="getCustomer",
    tag="customers",
    summary="One customer with their numbers, IVR data, orders and latest payments "
    "(operator, supervisor, qa)",
    parameters=(CUSTOMER_ID,),
    answer=CustomerRecord,
    answer_description="The customer.",
    errors=(404,),
)
@require_role(*SEARCHERS)
async def get_customer(request: web.Request) -> web.Response:
    customer_id = await _scoped_id(request)
    async with request.app[SESSIONS_KEY]() as db:
        try:
            customer = await services.get_customer(db, customer_id)
        except services.CustomerError as exc:
            raise _refused(exc) from None
        return await _customer_answer(db, customer)


@documented(
    "PATCH",
    "/api/customers/{customer_id}",
    operation_id="updateCustomer",
    tag="customers",
    summary="Change the fields given (supervisor); phones, when given, are the whole list",
    parameters=(CUSTOMER_ID,),
    body=CustomerInput,
    answer=CustomerRecord,
    answer_description="The customer as changed.",
    errors=(404, 409, 413),
)
@require_role(*WRITERS)
async def patch_customer(request: web.Request) -> web.Response:
    customer_id = await _scoped_id(request)
    data = await _body(request, CustomerInput)
    async with request.app[SESSIONS_KEY].begin() as db:
        try:
            customer = await services.get_customer(db, customer_id)
            await services.update_customer(db, customer, data, **_region(request))
        except services.CustomerError as exc:
            raise _refused(exc) from None
        return await _customer_answer(db, customer)


@documented(
    "DELETE",
    "/api/customers/{customer_id}",
    operation_id="deleteCustomer",
    tag="customers",
    summary="Remove a customer with their numbers, orders and payments (admin); calls keep "
    "their history",
    parameters=(CUSTOMER_ID,),
    status=204,
    answer_description="Removed.",
    errors=(404,),
)
@require_role(Role.ADMIN)
async def delete_customer(request: web.Request) -> web.Response:
    customer_id = await _scoped_id(request)
    async with request.app[SESSIONS_KEY].begin() as db:
        try:
            await services.delete_customer(db, customer_id)
        except services.CustomerError as exc:
            raise _refused(exc) from None
    return web.Response(status=204)


@documented(
    "PUT",
    "/api/customers/by-external-id/{external_id}",
    operation_id="upsertCustomerByExternalId",
    tag="customers",
    summary="Create or update the customer with this external id (supervisor); phones, when "
    "given, are the whole list",
    parameters=(EXTERNAL_ID,),
    body=CustomerInput,
    answer=CustomerRecord,
    answer_description="Updated.",
    extra_responses={201: _created(CustomerRecord)},
    errors=(409, 413),
)
@require_role(*WRITERS)
async def put_customer_by_external_id(request: web.Request) -> web.Response:
    data = await _body(request, CustomerInput)
    async with request.app[SESSIONS_KEY].begin() as db:
        try:
            customer, created = await services.upsert_by_external_id(
                db, request.match_info["external_id"], data, **_region(request)
            )
        except services.CustomerError as exc:
            raise _refused(exc) from None
        return await _customer_answer(db, customer, 201 if created else 200)


@documented(
    "PUT",
    "/api/customers/{customer_id}/pin",
    operation_id="setCustomerPin",
    tag="customers",
    summary="Set the PIN the IVR checks (stored as an argon2 hash only), or clear it with null "
    "(supervisor)",
    parameters=(CUSTOMER_ID,),
    body=PinInput,
    status=204,
    answer_description="Stored.",
    errors=(404, 413),
)
@require_role(*WRITERS)
async def put_pin(request: web.Request) -> web.Response:
    customer_id = await _scoped_id(request)
    pin = await _body(request, PinInput)
    async with request.app[SESSIONS_KEY].begin() as db:
        try:
            customer = await services.get_customer(db, customer_id)
            await services.set_pin(db, customer, pin)
        except services.CustomerError as exc:
            raise _refused(exc) from None
    return web.Response(status=204)


@documented(
    "POST",
    "/api/customers/{customer_id}/payments",
    operation_id="addCustomerPayment",
    tag="customers",
    summary="Record a payment the IVR can tell (supervisor)",
    parameters=(CUSTOMER_ID,),
    body=PaymentInput,
    status=201,
    answer=PaymentCreated,
    answer_description="Recorded.",
    errors=(404, 413),
)
@require_role(*WRITERS)
async def post_payment(request: web.Request) -> web.Response:
    customer_id = await _scoped_id(request)
    data = await _body(request, PaymentInput)
    async with request.app[SESSIONS_KEY].begin() as db:
        try:
            customer = await services.get_customer(db, customer_id)
            payment = await services.add_payment(db, customer, data)
        except services.CustomerError as exc:
            raise _refused(exc) from None
        return web.json_response({"payment_id": payment.id}, status=201)


@documented(
    "PUT",
    "/api/orders/{number}",
    operation_id="upsertOrder",
    tag="customers",
    summary="Create or update an order the IVR can tell the status of (supervisor)",
    parameters=(ORDER_NUMBER,),
    body=OrderInput,
    answer=OrderRecord,
    answer_description="Updated.",
    extra_responses={201: _created(OrderRecord)},
    errors=(404, 409, 413),
)
@require_role(*WRITERS)
async def put_order(request: web.Request) -> web.Response:
    data = await _body(request, OrderInput)
    async with request.app[SESSIONS_KEY].begin() as db:
        try:
            order, created = await services.upsert_order(db, request.match_info["number"], data)
        except services.CustomerError as exc:
            raise _refused(exc) from None
        return web.json_response(services.order_to_dict(order), status=201 if created else 200)


def setup(app: web.Application) -> None:
    add_template_dir(app, Path(__file__).parent / "templates")
    app.router.add_get("/customers", customers_page, name="customers")
    app.router.add_get("/api/customers", customers_api, name="customers_api")
    app.router.add_put(
        "/api/customers/by-external-id/{external_id}",
        put_customer_by_external_id,
        name="customer_upsert",
    )
    app.router.add_get("/api/customers/{customer_id}", get_customer, name="customer_get")
    app.router.add_patch("/api/customers/{customer_id}", patch_customer, name="customer_patch")
    app.router.add_delete("/api/customers/{customer_id}", delete_customer, name="customer_delete")
    app.router.add_put("/api/customers/{customer_id}/pin", put_pin, name="customer_pin")
    app.router.add_post(
        "/api/customers/{customer_id}/payments", post_payment, name="customer_payment"
    )
    app.router.add_put("/api/orders/{number}", put_order, name="order_put")
