"""A small route table for JSON endpoints whose requests and answers are pydantic models.

``@endpoint("POST", "/api/admin/users", body=UserCreate, answer=UserOut, status=201)`` makes
one aiohttp handler (role check, JSON body validated into the model → 400 with
``field: reason``, the answer serialised from its model) and one OpenAPI operation
(:func:`openapi_paths`) from the same declaration.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ValidationError

from contact_center.admin.schemas import errors_text
from contact_center.admin.services import AdminError, Conflict, NotFound
from contact_center.web.auth import UNSAFE_METHODS, require_role

MAX_ID = 2**62
Handler = Callable[..., Awaitable[BaseModel | None]]


@dataclass(frozen=True, slots=True)
class Endpoint:
    method: str
    path: str
    handler: Handler
    summary: str
    roles: tuple[str, ...]
    body: type[BaseModel] | None = None
    answer: type[BaseModel] | None = None
    status: int = 200
    errors: tuple[int, ...] = ()
    query: dict[str, dict[str, Any]] = field(default_factory=dict)
    path_params: dict[str, dict[str, Any]] = field(default_factory=dict)
    tag: str = "admin"


ENDPOINTS: list[Endpoint] = []
_PARAM = re.compile(r"\{(\w+)\}")


def int_param(request: web.Request, name: str) -> int:
    raw = request.match_info[name]
    if not raw.isascii() or not raw.isdigit() or not 0 < int(raw) < MAX_ID:
        raise web.HTTPNotFound(text=f"no such {name.removesuffix('_id')}")
    return int(raw)


def endpoint(
    method: str,
    path: str,
    *,
    summary: str,
    roles: tuple[str, ...] = ("admin",),
    body: type[BaseModel] | None = None,
    answer: type[BaseModel] | None = None,
    status: int = 200,
    errors: tuple[int, ...] = (),
    query: dict[str, dict[str, Any]] | None = None,
    path_params: dict[str, dict[str, Any]] | None = None,
    tag: str = "admin",
) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        params = dict(path_params or {})
        for name in _PARAM.findall(path):
            params.setdefault(name, {"type": "integer", "minimum": 1})
        ENDPOINTS.append(
            Endpoint(
                method,
                path,
                fn,
                summary,
                roles,
                body,
                answer,
                status,
                errors,
                dict(query or {}),
                params,
                tag,
            )
        )
        return fn

    return register


def _make_handler(ep: Endpoint) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handle(request: web.Request) -> web.StreamResponse:
        args: list[Any] = [request]
        if ep.body is not None:
            try:
                raw = await request.json() if request.can_read_body else None
            except (json.JSONDecodeError, UnicodeDecodeError):
                raise web.HTTPBadRequest(text="the body is not JSON") from None
            if not isinstance(raw, dict):
                raise web.HTTPBadRequest(text="the body must be a JSON object")
            try:
                args.append(ep.body.model_validate(raw))
            except ValidationError as exc:
                raise web.HTTPBadRequest(text=errors_text(exc)) from None
        try:
            answer = await ep.handler(*args)
        except NotFound as exc:
            raise web.HTTPNotFound(text=str(exc)) from None
        except Conflict as exc:
            raise web.HTTPConflict(text=str(exc)) from None
        except AdminError as exc:
            raise web.HTTPBadRequest(text=str(exc)) from None
        if answer is None:
            return web.Response(status=ep.status)
        return web.Response(
            status=ep.status, body=answer.model_dump_json(), content_type="application/json"
        )

    handle.__name__ = ep.handler.__name__
    return require_role(*ep.roles)(handle)


def add_routes(app: web.Application) -> None:
    for ep in ENDPOINTS:
        app.router.add_route(ep.method, ep.path, _make_handler(ep))


# --- the OpenAPI part ------------------------------------------------------------------------

REF = "#/components/schemas/{model}"
_ERRORS = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    409: "Conflict",
}


def _schema(model: type[BaseModel], mode: str, components: dict[str, Any]) -> dict[str, Any]:
    schema = model.model_json_schema(ref_template=REF, mode=mode)  # type: ignore[arg-type]
    for name, sub in schema.pop("$defs", {}).items():
        components.setdefault(name, sub)
    name = model.__name__
    components.setdefault(name, schema)
    return {"$ref": REF.format(model=name)}


def openapi_paths(components: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The generated operations by path; their schemas are added to ``components``."""
    paths: dict[str, dict[str, Any]] = {}
    for ep in ENDPOINTS:
        op: dict[str, Any] = {
            "tags": [ep.tag],
            "operationId": ep.handler.__name__,
            "summary": ep.summary,
        }
        unsafe = ep.method in UNSAFE_METHODS
        op["security"] = [
            {"sessionCookie": [], "csrfHeader": []} if unsafe else {"sessionCookie": []},
            {"bearerToken": []},
        ]
        params = [
            {"name": n, "in": "path", "required": True, "schema": s}
            for n, s in ep.path_params.items()
        ] + [
            {"name": n, "in": "query", "required": False, "schema": s} for n, s in ep.query.items()
        ]
        if params:
            op["parameters"] = params
        if ep.body is not None:
            op["requestBody"] = {
                "required": True,
                "content": {
                    "application/json": {"schema": _schema(ep.body, "validation", components)}
                },
            }
        responses: dict[str, Any] = {}
        if ep.answer is not None:
            responses[str(ep.status)] = {
                "description": ep.summary,
                "content": {
                    "application/json": {"schema": _schema(ep.answer, "serialization", components)}
                },
            }
        else:
            responses[str(ep.status)] = {"description": ep.summary}
        codes = set(ep.errors) | {401, 403}
        if ep.body is not None or ep.query:
            codes.add(400)
        if ep.path_params:
            codes.add(404)
        for code in sorted(codes):
            responses[str(code)] = {"$ref": f"#/components/responses/{_ERRORS[code]}"}
        op["responses"] = responses
        paths.setdefault(ep.path, {})[ep.method.lower()] = op
    return paths
