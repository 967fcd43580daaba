"""Forms and JSON bodies of the older ``/api/`` routes as pydantic models, and their OpenAPI
operations written from the same models ("thin handlers", as the admin API does with
:mod:`contact_center.admin.api`).

A handler reads its body with :func:`read_form` (a form, or a JSON object whose scalar values
are read as text) into a :class:`Form`; a refusal answers 400 with the reason in the user's
language. :func:`documented` declares the route's operation (its form, its answer model, the
errors it may answer); :func:`openapi_paths` writes them into the document
(:mod:`contact_center.web.openapi`), so the document and the checks cannot disagree.

Fields missing from the body read as ``""`` — as the hand-written checks always read them —
so each field's own check words the refusal (``%(field)s is required``); a check raises
:func:`refuse` with a sentence for the user, which the 400 carries as it is.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ConfigDict, ValidationError, model_validator
from pydantic_core import PydanticCustomError

from contact_center.i18n import gettext as _
from contact_center.web.auth import UNSAFE_METHODS

F = TypeVar("F", bound="Form")
M = TypeVar("M", bound=BaseModel)
H = TypeVar("H", bound=Callable[..., Any])
REFUSED = "refused"


class Form(BaseModel):
    """A form's fields as text (a JSON body's numbers and booleans as their text)."""

    model_config = ConfigDict(extra="ignore")  # the CSRF field, the page's own fields

    @model_validator(mode="before")
    @classmethod
    def _missing_reads_blank(cls, data: Any) -> Any:
        if isinstance(data, dict):
            blank = {n: "" for n, f in cls.model_fields.items() if f.is_required()}
            return {**blank, **data}
        return data


def refuse(message: str) -> PydanticCustomError:
    """A field's refusal, worded for the user (translated): the 400 says it as it is."""
    return PydanticCustomError(REFUSED, "{reason}", {"reason": message})


def errors_text(exc: ValidationError) -> str:
    """One sentence per problem: a check's own words, else ``field: reason``."""
    lines = []
    for err in exc.errors(include_url=False, include_input=False):
        if err.get("type") == REFUSED:
            lines.append(str(err.get("msg", "")))
            continue
        where = ".".join(str(p) for p in err.get("loc", ())) or "body"
        lines.append(f"{where}: {err.get('msg', 'invalid')}")
    return "; ".join(lines[:10])


async def form_fields(request: web.Request) -> dict[str, str]:
    """Form or JSON body as plain strings (anything else is ignored)."""
    if request.content_type == "application/json":
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise web.HTTPBadRequest(text=_("Expected a JSON object")) from None
        if not isinstance(body, dict):
            raise web.HTTPBadRequest(text=_("Expected a JSON object"))
        return {str(k): str(v) for k, v in body.items() if isinstance(v, str | int | float)}
    form = await request.post()
    return {k: v for k, v in form.items() if isinstance(v, str)}


def parse_form(model: type[F], fields: dict[str, str], **context: Any) -> F:
    """``fields`` checked into ``model`` (``context``: what its checks compare with, e.g.
    the admin's dispositions), or 400 with the reasons."""
    try:
        return model.model_validate(fields, context=context)
    except ValidationError as exc:
        raise web.HTTPBadRequest(text=errors_text(exc)) from None


async def read_form(request: web.Request, model: type[F], **context: Any) -> F:
    """The request's form (or JSON object) checked into ``model``, or 400 with the reasons."""
    return parse_form(model, await form_fields(request), **context)


def read_query(request: web.Request, model: type[M], **context: Any) -> M:
    """The query string checked into ``model`` (a list field takes every value of its
    parameter), or 400 with the reasons."""
    data: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        values = request.query.getall(name, [])
        if not values:
            continue
        is_list = getattr(info.annotation, "__origin__", None) is list
        data[name] = list(values) if is_list else values[-1]
    try:
        return model.model_validate(data, context=context)
    except ValidationError as exc:
        raise web.HTTPBadRequest(text=errors_text(exc)) from None


async def read_json(
    request: web.Request, model: type[M], *, max_body: int, not_object: str = ""
) -> M:
    """A JSON object body (at most ``max_body`` bytes: else 413) checked into ``model``, or
    400 with the reasons (``not_object``: what to say when the body is JSON but no object)."""
    if request.content_length is not None and request.content_length > max_body:
        raise web.HTTPRequestEntityTooLarge(max_size=max_body, actual_size=request.content_length)
    raw = await request.read()
    if len(raw) > max_body:
        raise web.HTTPRequestEntityTooLarge(max_size=max_body, actual_size=len(raw))
    try:
        body = json.loads(raw or b"{}")
    except (ValueError, UnicodeDecodeError):
        raise web.HTTPBadRequest(text=_("expected a JSON object")) from None
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text=not_object or _("expected a JSON object"))
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        raise web.HTTPBadRequest(text=errors_text(exc)) from None


# --- the OpenAPI part ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Operation:
    method: str
    path: str
    operation_id: str
    tag: str
    summary: str
    description: str = ""
    form: type[Form] | None = None
    form_required: bool = True
    answer: type[BaseModel] | None = None
    answer_description: str = ""
    response: str = ""  # a shared answer: #/components/responses/<response>
    status: int = 200
    errors: tuple[int, ...] = ()
    parameters: tuple[dict[str, Any], ...] = ()
    body: type[BaseModel] | None = None  # a JSON object (read_json)
    query: type[BaseModel] | None = None  # its fields are the query parameters (read_query)
    also_content: dict[str, Any] | None = None  # the answer in other media types too
    extra_responses: dict[int, dict[str, Any]] | None = None  # answers written out
    answer_schema: dict[str, Any] | None = None  # the answer's schema written out


OPERATIONS: dict[tuple[str, str], Operation] = {}
ERROR_RESPONSES = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    409: "Conflict",
    413: "TooLarge",
    503: "BusUnavailable",
}
REF = "#/components/schemas/{model}"
SERVER = {"$ref": "#/components/parameters/Server"}
CALL_ID = {"$ref": "#/components/parameters/CallId"}


def documented(
    method: str,
    path: str,
    *,
    operation_id: str,
    tag: str,
    summary: str,
    description: str = "",
    form: type[Form] | None = None,
    form_required: bool = True,
    answer: type[BaseModel] | None = None,
    answer_description: str = "",
    response: str = "",
    status: int = 200,
    errors: tuple[int, ...] = (),
    parameters: tuple[dict[str, Any], ...] = (),
    body: type[BaseModel] | None = None,
    query: type[BaseModel] | None = None,
    also_content: dict[str, Any] | None = None,
    extra_responses: dict[int, dict[str, Any]] | None = None,
    answer_schema: dict[str, Any] | None = None,
) -> Callable[[H], H]:
    """Declare the handler's OpenAPI operation (the handler itself is unchanged)."""

    def register(fn: H) -> H:
        key = (method.upper(), path)
        if key in OPERATIONS and OPERATIONS[key].operation_id != operation_id:
            raise ValueError(f"{method} {path} is documented twice")
        OPERATIONS[key] = Operation(
            method.upper(),
            path,
            operation_id,
            tag,
            summary,
            description,
            form,
            form_required,
            answer,
            answer_description,
            response,
            status,
            errors,
            parameters,
            body,
            query,
            also_content,
            extra_responses,
            answer_schema,
        )
        return fn

    return register


def _never_null(prop: dict[str, Any]) -> dict[str, Any]:
    """A form field or query parameter is text, never null: an optional one is left out."""
    options = prop.get("anyOf")
    if options:
        kept = [o for o in options if o.get("type") != "null"]
        if len(kept) == 1:
            prop = {**{k: v for k, v in prop.items() if k != "anyOf"}, **kept[0]}
    if "default" in prop and prop["default"] is None:
        prop = {k: v for k, v in prop.items() if k != "default"}
    return prop


def _as_form(schema: dict[str, Any]) -> dict[str, Any]:
    for name, prop in list(schema.get("properties", {}).items()):
        schema["properties"][name] = _never_null(prop)
    return schema


def schema_ref(model: type[BaseModel], mode: str, components: dict[str, Any]) -> dict[str, Any]:
    """``model``'s JSON schema into ``components`` (with the models it uses); its $ref."""
    schema = model.model_json_schema(ref_template=REF, mode=mode)  # type: ignore[arg-type]
    if issubclass(model, Form):
        schema = _as_form(schema)
    for name, sub in schema.pop("$defs", {}).items():
        components.setdefault(name, sub)
    components.setdefault(model.__name__, schema)
    return {"$ref": REF.format(model=model.__name__)}


def query_parameters(model: type[BaseModel]) -> list[dict[str, Any]]:
    """``model``'s fields as query parameters (a list: the parameter repeated)."""
    schema = model.model_json_schema(mode="validation")
    required = set(schema.get("required", ()))
    out = []
    for name, prop in schema.get("properties", {}).items():
        # an empty default is the parameter left out
        prop = {
            k: v for k, v in _never_null(prop).items() if k != "title" and (k, v) != ("default", "")
        }
        param: dict[str, Any] = {"name": name, "in": "query", "required": name in required}
        if "description" in prop:
            param["description"] = prop.pop("description")
        if prop.get("type") == "array":
            param["style"], param["explode"] = "form", True
        param["schema"] = prop
        out.append(param)
    return out


def openapi_paths(components: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The declared operations by path; their schemas are added to ``components``."""
    paths: dict[str, dict[str, Any]] = {}
    for op in OPERATIONS.values():
        out: dict[str, Any] = {"tags": [op.tag], "operationId": op.operation_id}
        out["summary"] = op.summary
        if op.description:
            out["description"] = op.description
        unsafe = op.method in UNSAFE_METHODS
        out["security"] = [
            {"sessionCookie": [], "csrfHeader": []} if unsafe else {"sessionCookie": []},
            {"bearerToken": []},
        ]
        parameters = [dict(p) for p in op.parameters]
        if op.query is not None:
            parameters += query_parameters(op.query)
        if parameters:
            out["parameters"] = parameters
        if op.form is not None:
            out["requestBody"] = {
                "required": op.form_required,
                "content": {
                    "application/x-www-form-urlencoded": {
                        "schema": schema_ref(op.form, "validation", components)
                    }
                },
            }
        if op.body is not None:
            out["requestBody"] = {
                "required": True,
                "content": {
                    "application/json": {"schema": schema_ref(op.body, "validation", components)}
                },
            }
        responses: dict[str, Any] = {}
        if op.response:
            responses[str(op.status)] = {"$ref": f"#/components/responses/{op.response}"}
        elif op.answer is not None or op.answer_schema is not None:
            schema = (
                schema_ref(op.answer, "serialization", components)
                if op.answer is not None
                else op.answer_schema
            )
            responses[str(op.status)] = {
                "description": op.answer_description or op.summary,
                "content": {"application/json": {"schema": schema}},
            }
        else:
            responses[str(op.status)] = {"description": op.answer_description or op.summary}
        if op.also_content:
            responses[str(op.status)].setdefault("content", {}).update(op.also_content)
        codes = set(op.errors) | {401, 403}
        if op.form is not None or op.body is not None or op.query is not None:
            codes.add(400)
        for code in sorted(codes):
            responses[str(code)] = {"$ref": f"#/components/responses/{ERROR_RESPONSES[code]}"}
        for code, answer in (op.extra_responses or {}).items():
            responses[str(code)] = answer
        out["responses"] = responses
        paths.setdefault(op.path, {})[op.method.lower()] = out
    return paths
