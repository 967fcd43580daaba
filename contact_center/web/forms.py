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
        )
        return fn

    return register


def _as_form(schema: dict[str, Any]) -> dict[str, Any]:
    """A form's fields are text, never null: an optional field is one left out."""
    for name, prop in list(schema.get("properties", {}).items()):
        options = prop.get("anyOf")
        if options:
            kept = [o for o in options if o.get("type") != "null"]
            if len(kept) == 1:
                prop = {**{k: v for k, v in prop.items() if k != "anyOf"}, **kept[0]}
        if "default" in prop and prop["default"] is None:
            prop = {k: v for k, v in prop.items() if k != "default"}
        schema["properties"][name] = prop
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
        if op.parameters:
            out["parameters"] = [dict(p) for p in op.parameters]
        if op.form is not None:
            out["requestBody"] = {
                "required": op.form_required,
                "content": {
                    "application/x-www-form-urlencoded": {
                        "schema": schema_ref(op.form, "validation", components)
                    }
                },
            }
        responses: dict[str, Any] = {}
        if op.response:
            responses[str(op.status)] = {"$ref": f"#/components/responses/{op.response}"}
        elif op.answer is not None:
            responses[str(op.status)] = {
                "description": op.answer_description or op.summary,
                "content": {
                    "application/json": {
                        "schema": schema_ref(op.answer, "serialization", components)
                    }
                },
            }
        else:
            responses[str(op.status)] = {"description": op.answer_description or op.summary}
        codes = set(op.errors) | {401, 403}
        if op.form is not None:
            codes.add(400)
        for code in sorted(codes):
            responses[str(code)] = {"$ref": f"#/components/responses/{ERROR_RESPONSES[code]}"}
        out["responses"] = responses
        paths.setdefault(op.path, {})[op.method.lower()] = out
    return paths
